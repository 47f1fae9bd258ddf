//! Probes: a named, timed check of one dependency. Service readiness
//! endpoints and `opsctl status` run the same probes, so the two never
//! disagree about what "up" means.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use url::Url;

/// The result of one probe run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Up,
    Down,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub name: String,
    pub status: Status,
    /// Wall time of the check, in milliseconds.
    pub latency_ms: f64,
    /// Why it is down (or what answered), for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ProbeResult {
    pub fn is_up(&self) -> bool {
        self.status == Status::Up
    }
}

type ProbeFuture = Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send>>;

/// A named check. The closure returns `Ok(detail)` when the dependency
/// answered and `Err(reason)` when it did not.
#[derive(Clone)]
pub struct Probe {
    name: String,
    run: Arc<dyn Fn() -> ProbeFuture + Send + Sync>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").field("name", &self.name).finish()
    }
}

impl Probe {
    pub fn new<F, Fut>(name: impl Into<String>, check: F) -> Probe
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<String>, String>> + Send + 'static,
    {
        Probe {
            name: name.into(),
            run: Arc::new(move || Box::pin(check())),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the check, bounded by `timeout`.
    pub async fn check(&self, timeout: Duration) -> ProbeResult {
        let started = Instant::now();
        let outcome = tokio::time::timeout(timeout, (self.run)()).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let (status, detail) = match outcome {
            Ok(Ok(detail)) => (Status::Up, detail),
            Ok(Err(reason)) => (Status::Down, Some(reason)),
            Err(_) => (
                Status::Down,
                Some(format!("no answer within {} ms", timeout.as_millis())),
            ),
        };
        ProbeResult {
            name: self.name.clone(),
            status,
            latency_ms: (latency_ms * 10.0).round() / 10.0,
            detail,
        }
    }
}

/// Runs all probes concurrently; results keep the probes' order.
pub async fn check_all(probes: &[Probe], timeout: Duration) -> Vec<ProbeResult> {
    futures::future::join_all(probes.iter().map(|p| p.check(timeout))).await
}

/// A probe of a service's readiness endpoint: up when it answers 2xx.
pub fn http_ready(name: impl Into<String>, client: reqwest::Client, url: Url) -> Probe {
    Probe::new(name, move || {
        let client = client.clone();
        let url = url.clone();
        async move {
            let response = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| format!("{url}: {}", describe_reqwest(&e)))?;
            let status = response.status();
            if status.is_success() {
                Ok(None)
            } else {
                let body = response.text().await.unwrap_or_default();
                let body: String = body.chars().take(300).collect();
                Err(format!("{url} answered {status}: {body}"))
            }
        }
    })
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused or unreachable".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn up_down_and_timeout_are_reported_with_latency() {
        let probes = vec![
            Probe::new("ok", || async { Ok(Some("fine".into())) }),
            Probe::new("broken", || async { Err("refused".into()) }),
            Probe::new("slow", || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(None)
            }),
        ];
        let results = check_all(&probes, Duration::from_millis(100)).await;
        assert_eq!(results[0].status, Status::Up);
        assert_eq!(results[0].detail.as_deref(), Some("fine"));
        assert_eq!(results[1].status, Status::Down);
        assert_eq!(results[1].detail.as_deref(), Some("refused"));
        assert_eq!(results[2].status, Status::Down);
        assert!(results[2]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("100 ms"));
        assert!(results[2].latency_ms >= 100.0);
    }

    #[tokio::test]
    async fn http_ready_probe_reads_the_status_code() {
        use axum::{http::StatusCode, routing::get, Router};
        let app = Router::new().route("/ready", get(|| async { "ok" })).route(
            "/down",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "db down") }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        let base = format!("http://{addr}");
        let up = http_ready(
            "svc",
            client.clone(),
            Url::parse(&format!("{base}/ready")).expect("url"),
        );
        let down = http_ready(
            "svc",
            client.clone(),
            Url::parse(&format!("{base}/down")).expect("url"),
        );
        // A port nothing listens on: bind, note the port, drop the listener.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let refused = http_ready(
            "svc",
            client,
            Url::parse(&format!("http://127.0.0.1:{closed}/ready")).expect("url"),
        );
        let t = Duration::from_secs(2);
        assert!(up.check(t).await.is_up());
        let d = down.check(t).await;
        assert!(!d.is_up());
        assert!(d.detail.unwrap_or_default().contains("db down"));
        let r = refused.check(t).await;
        assert!(!r.is_up());
        assert!(r.detail.unwrap_or_default().contains("refused"));
    }
}
