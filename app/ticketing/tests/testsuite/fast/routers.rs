//! Every service's router in this process (`tower::ServiceExt::oneshot`)
//! with no stack: `ticketing_platform::router` starts nothing, connections
//! are lazy, and every dependency is pointed at a closed port, so a request
//! that reached PostgreSQL, Redis or Kafka would fail here rather than pass
//! by luck. What each `openapi.json` promises that needs no database:
//! every operation it secures with a bearer token refuses a request without
//! one (401 problem+json); a public JSON operation refuses a malformed body
//! (400) and another media type (415); unknown paths and methods answer
//! problem+json; `/openapi.json` serves the document in the repository.

use std::path::Path;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use ticketing_catalog::ServiceName;
use ticketing_config::{Profile, Secrets, Settings};
use tower::ServiceExt;

/// Local settings with every dependency on a port nothing listens on.
fn settings() -> Settings {
    let mut settings = ticketing_config::load_from(Profile::Local, &[]).expect("local settings");
    settings.database.port = 1;
    settings.redis.url = url::Url::parse("redis://127.0.0.1:1").expect("url");
    settings.kafka.bootstrap_servers = "127.0.0.1:1".into();
    settings
}

fn router(service: ServiceName) -> axum::Router {
    let secrets = Secrets::from_vars(Profile::Local, &[]).expect("local secrets");
    ticketing_platform::router(service, settings(), secrets).expect("router")
}

fn document(service: ServiceName) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("app")
        .join(service.as_str())
        .join("openapi.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("openapi.json"))
        .expect("openapi.json is JSON")
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
}

async fn call(
    router: &axum::Router,
    method: Method,
    path: &str,
    body: Option<(&str, &str)>,
) -> Answer {
    let request = Request::builder().method(method).uri(path);
    let request = match body {
        Some((content_type, text)) => request
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(text.to_owned())),
        None => request.body(Body::empty()),
    }
    .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        body,
    }
}

/// A problem+json answer with `status` and a detail a person can act on.
fn assert_problem(answer: &Answer, status: StatusCode, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json", "{what}");
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{what}: {}",
        answer.body
    );
}

/// Each operation of the document: method, path with its parameters
/// filled, and the operation.
fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut out = Vec::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let filled = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    uuid::Uuid::now_v7().to_string()
                } else {
                    part.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (method, op) in item.as_object().expect("path item") {
            if let Ok(m) = method.to_uppercase().parse::<Method>() {
                out.push((m, filled.clone(), op.clone()));
            }
        }
    }
    out
}

/// The operation's own `security`, else the document's.
fn secured(doc: &Value, op: &Value) -> bool {
    let security = op.get("security").unwrap_or(&doc["security"]);
    security
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()))
}

fn takes_json(op: &Value) -> bool {
    op["requestBody"]["content"]
        .get("application/json")
        .is_some()
}

#[tokio::test]
async fn each_router_serves_its_health_and_its_own_openapi_document() {
    for service in ServiceName::ALL {
        let router = router(service);
        let health = call(&router, Method::GET, "/health", None).await;
        assert_eq!(health.status, StatusCode::OK, "{service} /health");
        let served = call(&router, Method::GET, "/openapi.json", None).await;
        assert_eq!(served.status, StatusCode::OK, "{service} /openapi.json");
        assert_eq!(
            served.body,
            document(service),
            "{service}'s served document"
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_problem_json() {
    for service in ServiceName::ALL {
        let router = router(service);
        let unknown = call(&router, Method::GET, "/no/such/path", None).await;
        assert_problem(&unknown, StatusCode::NOT_FOUND, service.as_str());
        let wrong = call(&router, Method::DELETE, "/health", None).await;
        assert_problem(&wrong, StatusCode::METHOD_NOT_ALLOWED, service.as_str());
    }
}

#[tokio::test]
async fn every_operation_the_documents_secure_refuses_a_request_without_a_token() {
    let mut checked = 0;
    for service in ServiceName::ALL {
        let doc = document(service);
        let router = router(service);
        for (method, path, op) in operations(&doc) {
            if !secured(&doc, &op) {
                continue;
            }
            let body = takes_json(&op).then_some(("application/json", "{}"));
            let answer = call(&router, method.clone(), &path, body).await;
            assert_problem(
                &answer,
                StatusCode::UNAUTHORIZED,
                &format!("{service} {method} {path}"),
            );
            checked += 1;
        }
    }
    // user, event (3), queue (2), reservation (3), payment: the documents
    // secure at least these.
    assert!(checked >= 10, "only {checked} secured operations found");
}

#[tokio::test]
async fn public_json_operations_refuse_a_malformed_body_and_another_media_type() {
    let mut checked = 0;
    for service in ServiceName::ALL {
        let doc = document(service);
        let router = router(service);
        for (method, path, op) in operations(&doc) {
            if secured(&doc, &op) || !takes_json(&op) {
                continue;
            }
            let what = format!("{service} {method} {path}");
            let malformed = call(
                &router,
                method.clone(),
                &path,
                Some(("application/json", "{\"email\": ")),
            )
            .await;
            assert_problem(&malformed, StatusCode::BAD_REQUEST, &what);
            let text = call(
                &router,
                method.clone(),
                &path,
                Some(("text/plain", "hello")),
            )
            .await;
            assert_problem(&text, StatusCode::UNSUPPORTED_MEDIA_TYPE, &what);
            checked += 1;
        }
    }
    // signup, login and the PortOne webhook.
    assert_eq!(checked, 3, "public JSON operations checked");
}
