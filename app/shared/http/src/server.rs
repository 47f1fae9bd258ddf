use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use ticketing_catalog::ServiceName;
use ticketing_health::{check_all, Probe};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::ApiError;

/// Header carrying the request id, set when the client did not send one and
/// echoed in every answer.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long readiness waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A task a service runs beside its HTTP server (the outbox relay, event
/// consumers, the admission loop, ...). It must return once the service's
/// shutdown token is cancelled.
pub type BackgroundTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// One service as the skeleton sees it: its API routes, the probes that
/// decide whether it is ready, and its background tasks.
pub struct ServiceApp {
    pub name: ServiceName,
    pub routes: Router,
    pub probes: Vec<Probe>,
    pub background: Vec<(&'static str, BackgroundTask)>,
    /// The service's OpenAPI document, served at `/openapi.json`.
    pub openapi: Option<&'static str>,
}

impl ServiceApp {
    pub fn new(name: ServiceName, routes: Router, probes: Vec<Probe>) -> ServiceApp {
        ServiceApp {
            name,
            routes,
            probes,
            background: Vec::new(),
            openapi: None,
        }
    }

    /// Publishes `document` (OpenAPI JSON) at `/openapi.json`.
    pub fn with_openapi(mut self, document: &'static str) -> ServiceApp {
        self.openapi = Some(document);
        self
    }

    /// Adds a background task.
    pub fn with_task(
        mut self,
        name: &'static str,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> ServiceApp {
        self.background.push((name, Box::pin(task)));
        self
    }
}

#[derive(Clone)]
struct Meta {
    name: ServiceName,
    probes: std::sync::Arc<Vec<Probe>>,
}

#[derive(Clone, Copy, Default)]
struct MakeUuidV7;

impl MakeRequestId for MakeUuidV7 {
    fn make_request_id<B>(&mut self, _request: &http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// The full router of a service: its routes plus `/health` (the process is
/// alive), `/ready` (its dependencies answer), `/metrics` (Prometheus), a
/// problem+json fallback, request ids, tracing, HTTP metrics and a body limit.
///
/// The router does not run `app.background`: the launcher takes those tasks
/// out first and spawns them.
pub fn service_router(app: ServiceApp) -> Router {
    // Metrics recorded before a recorder exists are lost: make sure it does.
    let _ = ticketing_telemetry::metrics_handle();
    let meta = Meta {
        name: app.name,
        probes: std::sync::Arc::new(app.probes),
    };
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let service = app.name.as_str();
    let openapi = app.openapi;
    Router::new()
        .route(
            ticketing_catalog::http::OPENAPI_PATH,
            get(move || async move {
                match openapi {
                    Some(doc) => ([(header::CONTENT_TYPE, "application/json")], doc).into_response(),
                    None => ApiError::not_found("no_openapi", "this service publishes no OpenAPI document")
                        .into_response(),
                }
            }),
        )
        .route(ticketing_catalog::http::LIVENESS_PATH, get(health))
        .route(ticketing_catalog::http::READINESS_PATH, get(ready))
        .route(ticketing_catalog::http::METRICS_PATH, get(metrics_endpoint))
        .with_state(meta.clone())
        .merge(app.routes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(meta, record_http_metrics))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(move |req: &Request<Body>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("http", service, request_id = %id, method = %req.method(), uri = %req.uri())
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeUuidV7))
}

async fn health(State(meta): State<Meta>) -> Response {
    axum::Json(json!({ "service": meta.name.as_str(), "status": "alive" })).into_response()
}

async fn ready(State(meta): State<Meta>) -> Response {
    let results = check_all(&meta.probes, PROBE_TIMEOUT).await;
    let all_up = results.iter().all(|r| r.is_up());
    let checks = serde_json::to_value(&results).unwrap_or_else(|_| json!([]));
    if all_up {
        axum::Json(json!({
            "service": meta.name.as_str(),
            "status": "ready",
            "checks": checks,
        }))
        .into_response()
    } else {
        let down: Vec<&str> = results
            .iter()
            .filter(|r| !r.is_up())
            .map(|r| r.name.as_str())
            .collect();
        ApiError::unavailable(
            "not_ready",
            format!(
                "{} is not ready: {} down",
                meta.name.as_str(),
                down.join(", ")
            ),
        )
        .with("checks", checks)
        .into_response()
    }
}

/// The metrics, for whoever reaches the service directly (the local
/// Prometheus, the tests; on AWS nothing scrapes: the EMF agent publishes
/// them). A request that came through a proxy (the ALB adds
/// `X-Forwarded-For`, and a client cannot take it away) is answered as for
/// a path that does not exist: the metrics are not public.
async fn metrics_endpoint(req: Request) -> Response {
    if req.headers().contains_key("x-forwarded-for") {
        return not_found(req).await.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ticketing_telemetry::render_metrics(),
    )
        .into_response()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(
        "no_such_route",
        format!("there is no endpoint {} {}", req.method(), req.uri().path()),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

async fn record_http_metrics(State(meta): State<Meta>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let service = meta.name.as_str();
    metrics::counter!("http.requests.total", "service" => service, "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("http.request.duration.seconds", "service" => service, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Binds `host:port` (port 0 picks a free one; read it from `local_addr`).
pub async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((host, port)).await
}

/// Serves `router` until `shutdown` is cancelled, then finishes in-flight
/// requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // TCP_NODELAY on every accepted connection: with Nagle's algorithm on,
    // an answer written in two parts can wait for the peer's delayed ACK
    // (40 ms on Linux) before its second part leaves. Tried against the
    // holds' tail, which it did not measurably move
    // (benches/profiles/holds.md); kept because the services answer in
    // small writes.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on an accepted connection");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

/// Cancels `token` on SIGTERM (ECS stopping a task) or Ctrl-C.
pub async fn shutdown_signal(token: CancellationToken) {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "could not listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
        () = token.cancelled() => {}
    }
    token.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Json, PROBLEM_JSON};
    use axum::routing::post;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Seat {
        row: String,
        number: u32,
    }

    fn app(probes: Vec<Probe>) -> Router {
        service_router(ServiceApp::new(
            ServiceName::EventService,
            Router::new().route("/seats", post(|Json(_seat): Json<Seat>| async { "ok" })),
            probes,
        ))
    }

    async fn call(
        router: Router,
        req: Request,
    ) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let response = router.oneshot(req).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, headers, value)
    }

    fn post_json(body: &str) -> Request {
        Request::post("/seats")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .expect("request")
    }

    #[tokio::test]
    async fn malformed_json_is_a_problem_document() {
        let (status, headers, body) = call(app(vec![]), post_json("{not json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(body["code"], "malformed_json");
        assert!(headers.contains_key(REQUEST_ID_HEADER));
    }

    #[tokio::test]
    async fn wrong_types_and_missing_fields_say_which_field() {
        let (status, _, body) = call(app(vec![]), post_json(r#"{"row":"A","number":"x"}"#)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["detail"].as_str().unwrap_or("").contains("number"),
            "{body}"
        );
        let (status, _, body) = call(app(vec![]), post_json(r#"{"row":"A"}"#)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["detail"].as_str().unwrap_or("").contains("number"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let big = format!(
            r#"{{"row":"{}","number":1}}"#,
            "A".repeat(MAX_BODY_BYTES + 1)
        );
        let (status, headers, body) = call(app(vec![]), post_json(&big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(body["code"], "body_too_large");
    }

    #[tokio::test]
    async fn wrong_content_type_and_unknown_routes_are_problems_too() {
        let req = Request::post("/seats")
            .body(Body::from(r#"{"row":"A","number":1}"#))
            .expect("request");
        let (status, _, body) = call(app(vec![]), req).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["code"], "unsupported_media_type");

        let req = Request::get("/nope").body(Body::empty()).expect("request");
        let (status, headers, body) = call(app(vec![]), req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert!(body["detail"].as_str().unwrap_or("").contains("/nope"));

        let req = Request::get("/seats").body(Body::empty()).expect("request");
        let (status, _, body) = call(app(vec![]), req).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["code"], "method_not_allowed");
    }

    #[tokio::test]
    async fn readiness_follows_the_probes() {
        let up = Probe::new("postgres", || async { Ok(None) });
        let down = Probe::new("redis", || async { Err("connection refused".to_owned()) });
        let req = || Request::get("/ready").body(Body::empty()).expect("request");

        let (status, _, body) = call(app(vec![up.clone()]), req()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ready");

        let (status, headers, body) = call(app(vec![up, down]), req()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert!(
            body["detail"].as_str().unwrap_or("").contains("redis"),
            "{body}"
        );
        assert_eq!(body["checks"][1]["status"], "down");
    }

    #[tokio::test]
    async fn a_client_request_id_is_echoed() {
        let req = Request::get("/health")
            .header(REQUEST_ID_HEADER, "abc-123")
            .body(Body::empty())
            .expect("request");
        let (status, headers, _) = call(app(vec![]), req).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[REQUEST_ID_HEADER], "abc-123");
    }

    #[tokio::test]
    async fn graceful_shutdown_stops_the_server() {
        let listener = bind("127.0.0.1", 0).await.expect("bind");
        let token = CancellationToken::new();
        let server = tokio::spawn(serve(listener, app(vec![]), token.clone()));
        token.cancel();
        let result = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("server stops within 5 s")
            .expect("task");
        assert!(result.is_ok());
    }
}
