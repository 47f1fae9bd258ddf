use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use ticketing_catalog::ServiceName;
use ticketing_config::ServicesSettings;
use ticketing_http::{ApiError, MAX_BODY_BYTES};
use url::Url;

/// Path prefixes and the service that owns them. The first match wins.
pub const ROUTES: [(&str, ServiceName); 9] = [
    ("/api/auth", ServiceName::UserService),
    ("/api/users", ServiceName::UserService),
    ("/api/events", ServiceName::EventService),
    ("/api/venues", ServiceName::EventService),
    ("/api/notices", ServiceName::EventService),
    ("/api/queue", ServiceName::QueueService),
    ("/api/reservations", ServiceName::ReservationService),
    ("/api/payments", ServiceName::PaymentService),
    ("/webhooks/portone", ServiceName::PaymentService),
];

/// The service owning `path`, if any. A prefix matches whole segments only.
pub fn route_for(path: &str) -> Option<ServiceName> {
    ROUTES.iter().find_map(|(prefix, service)| {
        let rest = path.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(*service)
    })
}

#[derive(Clone)]
pub(crate) struct Upstreams {
    services: Arc<ServicesSettings>,
    client: reqwest::Client,
}

impl Upstreams {
    pub(crate) fn new(services: &ServicesSettings, client: reqwest::Client) -> Upstreams {
        Upstreams {
            services: Arc::new(services.clone()),
            client,
        }
    }

    fn url(&self, service: ServiceName, path_and_query: &str) -> Result<Url, ApiError> {
        self.services
            .endpoint(service)
            .url
            .join(path_and_query)
            .map_err(|e| {
                ApiError::bad_request("bad_path", format!("the path cannot be forwarded: {e}"))
            })
    }
}

/// Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !is_hop_by_hop(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

pub(crate) async fn forward(State(upstreams): State<Upstreams>, req: Request) -> Response {
    match forward_inner(upstreams, req).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn forward_inner(upstreams: Upstreams, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_owned();
    let service = route_for(&path).ok_or_else(|| {
        ApiError::not_found(
            "no_such_route",
            format!("there is no endpoint {} {path}", req.method()),
        )
    })?;
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or(path);
    let url = upstreams.url(service, &path_and_query)?;
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is larger than the {MAX_BODY_BYTES} bytes the gateway accepts"),
            )
        })?;
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let upstream = upstreams
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(%service, error = %e, "upstream call failed");
            ApiError::bad_gateway(
                "upstream_unavailable",
                format!("{service} is unavailable right now; try again shortly"),
            )
        })?;
    let status = upstream.status();
    let mut response_headers = HeaderMap::new();
    copy_headers(upstream.headers(), &mut response_headers);
    let bytes = upstream.bytes().await.map_err(|e| {
        tracing::warn!(%service, error = %e, "upstream body failed");
        ApiError::bad_gateway(
            "upstream_unavailable",
            format!("{service} stopped answering mid-response; try again"),
        )
    })?;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert_eq!(route_for("/api/events"), Some(ServiceName::EventService));
        assert_eq!(
            route_for("/api/events/42/seats"),
            Some(ServiceName::EventService)
        );
        assert_eq!(route_for("/api/eventsx"), None);
        assert_eq!(
            route_for("/webhooks/portone"),
            Some(ServiceName::PaymentService)
        );
        assert_eq!(
            route_for("/api/reservations/1"),
            Some(ServiceName::ReservationService)
        );
        assert_eq!(route_for("/"), None);
    }
}
