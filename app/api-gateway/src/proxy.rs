use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ticketing_catalog::ServiceName;
use ticketing_config::ServicesSettings;
use ticketing_http::{ApiError, CoLocated, MAX_BODY_BYTES};
use ticketing_runtime::UPSTREAM_TIMEOUT;
use tower::ServiceExt;
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
    /// Services this process serves: called through their routers.
    co_located: CoLocated,
}

impl Upstreams {
    pub(crate) fn new(
        services: &ServicesSettings,
        client: reqwest::Client,
        co_located: CoLocated,
    ) -> Upstreams {
        Upstreams {
            services: Arc::new(services.clone()),
            client,
            co_located,
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

    /// `method path_and_query` on `service`, its answer read whole.
    pub(crate) async fn send(
        &self,
        service: ServiceName,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, ApiError> {
        if let Some(router) = self.co_located.router(service) {
            let request = in_process_request(method, path_and_query, headers, body)?;
            return call_router(router.clone(), service, request).await;
        }
        let url = self.url(service, path_and_query)?;
        let upstream = self
            .client
            .request(method, url)
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
        let body = upstream.bytes().await.map_err(|e| {
            tracing::warn!(%service, error = %e, "upstream body failed");
            ApiError::bad_gateway(
                "upstream_unavailable",
                format!("{service} stopped answering mid-response; try again"),
            )
        })?;
        Ok(Answer {
            status,
            headers: response_headers,
            body,
        })
    }

    /// `GET path` on `service`, with no headers of the asker's.
    pub(crate) async fn get(&self, service: ServiceName, path: &str) -> Result<Answer, ApiError> {
        self.send(service, Method::GET, path, HeaderMap::new(), Bytes::new())
            .await
    }
}

/// The request an in-process call hands the service's router: what the
/// HTTP call would have sent.
fn in_process_request(
    method: Method,
    path_and_query: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Request, ApiError> {
    let uri: axum::http::Uri = path_and_query.parse().map_err(|e| {
        ApiError::bad_request("bad_path", format!("the path cannot be forwarded: {e}"))
    })?;
    let mut request = Request::new(Body::from(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// `request` answered by `service`'s router in this process, read whole
/// as an HTTP answer would be.
async fn call_router(
    router: axum::Router,
    service: ServiceName,
    request: Request,
) -> Result<Answer, ApiError> {
    let unavailable = |detail: &str| {
        tracing::warn!(%service, detail, "in-process upstream call failed");
        ApiError::bad_gateway(
            "upstream_unavailable",
            format!("{service} is unavailable right now; try again shortly"),
        )
    };
    let response = match tokio::time::timeout(UPSTREAM_TIMEOUT, router.oneshot(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => return Err(unavailable("timed out")),
    };
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|_| unavailable("the body could not be read"))?;
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    Ok(Answer {
        status: parts.status,
        headers,
        body,
    })
}

/// An upstream's answer, read whole: cheap to clone (the body is shared), so
/// one answer can serve many clients.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The gateway's own problem, as an answer that can be shared.
    pub(crate) fn problem(problem: &ApiError) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(ticketing_http::PROBLEM_JSON),
        );
        Answer {
            status: problem.status,
            headers,
            body: Bytes::from(problem.body().to_string()),
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
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
    match forward_inner(&upstreams, req).await {
        Ok(answer) => answer.into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn forward_inner(upstreams: &Upstreams, req: Request) -> Result<Answer, ApiError> {
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
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
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
    upstreams
        .send(service, parts.method, &path_and_query, headers, body)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real parts: a real axum router as the co-located service, and a real
    /// refused connection for the one that is not.
    #[tokio::test]
    async fn a_co_located_service_is_called_through_its_router_and_any_other_over_http() {
        let mut settings = ticketing_config::load_from(ticketing_config::Profile::Local, &[])
            .expect("the local settings");
        // A port nothing listens on: over HTTP, both calls would be refused.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        for service in [ServiceName::EventService, ServiceName::QueueService] {
            settings.services.endpoint_mut(service).url =
                Url::parse(&format!("http://{closed}")).expect("url");
        }
        let events = axum::Router::new().route(
            "/api/events/{id}",
            axum::routing::post(
                |axum::extract::Path(id): axum::extract::Path<String>,
                 axum::extract::RawQuery(query): axum::extract::RawQuery,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let seen = headers
                        .get(ticketing_http::REQUEST_ID_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    (
                        StatusCode::CREATED,
                        [("x-seen-request-id", seen)],
                        format!("{id} {} {}", query.unwrap_or_default(), body.len()),
                    )
                },
            ),
        );
        let co_located = CoLocated::default();
        co_located.set([(ServiceName::EventService, events)].into_iter().collect());
        let upstreams = Upstreams::new(&settings.services, reqwest::Client::new(), co_located);

        let mut headers = HeaderMap::new();
        headers.insert(
            ticketing_http::REQUEST_ID_HEADER,
            HeaderValue::from_static("req-1"),
        );
        let answer = upstreams
            .send(
                ServiceName::EventService,
                Method::POST,
                "/api/events/42?detail=full",
                headers,
                Bytes::from_static(b"{}"),
            )
            .await
            .expect("the co-located router answers; its port is closed");
        assert_eq!(answer.status, StatusCode::CREATED);
        assert_eq!(&answer.body[..], b"42 detail=full 2");
        assert_eq!(
            answer
                .headers
                .get("x-seen-request-id")
                .map(|v| v.as_bytes()),
            Some(&b"req-1"[..])
        );

        let refused = upstreams
            .get(ServiceName::QueueService, "/api/queue/x/status")
            .await
            .expect_err("not co-located: over HTTP, to a closed port");
        assert_eq!(refused.status, StatusCode::BAD_GATEWAY);
    }

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
