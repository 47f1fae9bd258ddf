use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: a status, a stable machine-readable `code`, and a detail
/// for people. Internal errors keep their cause for the log and show the
/// client only a generic message.
#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {detail}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Boxed: the map is large when serde_json keeps insertion order, and
    /// errors travel by value through every handler.
    extensions: Box<Map<String, Value>>,
    #[source]
    source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            extensions: Box::default(),
            source: None,
        }
    }

    /// Adds a member to the problem document (for example `checks`).
    pub fn with(mut self, key: &str, value: Value) -> ApiError {
        self.extensions.insert(key.to_owned(), value);
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, detail)
    }

    /// When to try again, in seconds: the `Retry-After` header and the
    /// problem document's `retry_after` member.
    pub fn retry_after(self, seconds: u64) -> ApiError {
        self.with("retry_after", json!(seconds))
    }

    pub fn too_many_requests(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
    }

    pub fn bad_gateway(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, code, detail)
    }

    /// An unexpected failure: logged with its cause chain, shown as a plain 500.
    pub fn internal(source: anyhow::Error) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            detail: "an unexpected error occurred; it has been logged with this request's id"
                .to_owned(),
            extensions: Box::default(),
            source: Some(source),
        }
    }

    /// The problem document.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("https://docs.ticketing.example/problems/{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Value::Object(map) = &mut body {
            for (k, v) in self.extensions.iter() {
                map.insert(k.clone(), v.clone());
            }
        }
        body
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(source: anyhow::Error) -> ApiError {
        ApiError::internal(source)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            tracing::error!(error = ?source, code = self.code, "request failed");
        } else if self.status.is_server_error() {
            tracing::warn!(code = self.code, detail = %self.detail, "request failed");
        }
        let body = self.body().to_string();
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.extensions.get("retry_after").and_then(Value::as_u64) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_a_header_and_a_member() {
        let e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "wait")
            .retry_after(4);
        assert_eq!(e.body()["retry_after"], 4);
        let response = e.into_response();
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from(4u64))
        );
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static(PROBLEM_JSON))
        );
    }
}
