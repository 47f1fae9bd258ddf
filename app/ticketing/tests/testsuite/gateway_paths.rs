//! The gateway forwards exactly the path it authorised: paths with dot
//! segments (plain or percent-encoded) or encoded slashes are refused before
//! any route check, so `/api/events/%2e%2e/%2e%2e/metrics` (once answered
//! with a service's Prometheus metrics) gets a 400 problem+json. Sent over a
//! raw socket: HTTP clients normalise such paths before sending them.

use ticketing_e2e::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn raw_get(gateway: &str, path: &str) -> (u16, String) {
    let addr = gateway.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.expect("send");
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.expect("read");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_that_walk_the_tree_are_refused_before_routing() {
    let stack = Stack::start(|_| {}).await;
    for path in [
        "/api/events/%2e%2e/%2e%2e/metrics",
        "/api/events/../../metrics",
        "/api/events/%2E%2E/%2e%2e/ready",
        "/api/events/x%2f..%2fmetrics",
    ] {
        let (status, answer) = raw_get(&stack.gateway, path).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(!answer.contains("# TYPE"), "metrics leaked for {path}");
    }
    let (ok, answer) = raw_get(&stack.gateway, "/api/events").await;
    assert_eq!(ok, 200, "{answer}");
    stack.stop().await;
}

/// The gateway's own metrics are not public (issue 30): a request that came
/// through a proxy (the ALB adds `X-Forwarded-For`) is answered 404 as for
/// a path that does not exist; one made directly (the local Prometheus, a
/// test) gets them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_served_to_requests_that_came_through_a_proxy() {
    let stack = Stack::start(|_| {}).await;
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", stack.gateway);
    let proxied = http
        .get(&url)
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("answer");
    assert_eq!(proxied.status(), 404);
    let body = proxied.text().await.expect("body");
    assert!(
        !body.contains("# TYPE") && body.contains("no_such_route"),
        "{body}"
    );
    let direct = http.get(&url).send().await.expect("answer");
    assert_eq!(direct.status(), 200);
    assert!(direct.text().await.expect("body").contains("# TYPE"));
    stack.stop().await;
}
