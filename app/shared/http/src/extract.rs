use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ApiError;

/// JSON in and out. As an extractor, every rejection becomes a problem
/// document naming what was wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Read first, so that the text can be checked before it is
        // deserialised into anything that reaches the database.
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, crate::MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!(
                        "the body is larger than the {} bytes this endpoint accepts",
                        crate::MAX_BODY_BYTES
                    ),
                )
            })?;
        if holds_nul(&bytes) {
            return Err(ApiError::unprocessable(
                "nul_in_text",
                "a text field holds the NUL character (\\u0000), which no text here may contain; remove it",
            ));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// Whether a JSON text holds the escape `\u0000` (the only way JSON can
/// carry a NUL character; PostgreSQL refuses it in `text`, so a request
/// with one would otherwise end in a 500). An escaped backslash before
/// `u0000` (`\\u0000`, the six characters) is not one.
fn holds_nul(json: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, b) in json.iter().enumerate() {
        if *b == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && json[i..].starts_with(b"u0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// A query string. A rejection (an unknown parameter, a wrong type) is a
/// problem document naming what was wrong, like every other error (axum's
/// own answers with plain text).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "the query string does not have the expected parameters or types: {}",
                    rejection.body_text()
                ),
            )),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match &rejection {
        JsonRejection::JsonDataError(_) => ApiError::unprocessable(
            "invalid_body",
            format!(
                "the JSON body does not have the expected fields or types: {}",
                rejection.body_text()
            ),
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {}", rejection.body_text()),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with the header Content-Type: application/json",
        ),
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is larger than the {} bytes this endpoint accepts",
                crate::MAX_BODY_BYTES
            ),
        ),
        _ => ApiError::new(
            rejection.status(),
            "unreadable_body",
            format!(
                "the request body could not be read: {}",
                rejection.body_text()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::holds_nul;

    #[test]
    fn a_nul_escape_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(holds_nul(br#"{"email": "a\u0000@b.kr"}"#));
        assert!(
            holds_nul(br#"{"name": "\\\u0000"}"#),
            "an escaped backslash, then NUL"
        );
        assert!(
            !holds_nul(br#"{"name": "\\u0000"}"#),
            "a backslash and the text u0000"
        );
        assert!(!holds_nul(br#"{"email": "a@b.kr", "n": "\u0041"}"#));
    }
}
