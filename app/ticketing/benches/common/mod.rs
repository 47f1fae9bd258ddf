//! Helpers the platform's benches share (a directory, so cargo does not
//! take it for a bench of its own).

use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};
use uuid::Uuid;

/// The allocator `ticketing serve` runs with (`src/main.rs`): these benches
/// run the platform in their own process, so they name it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A whole-number knob from the environment, or its default.
pub fn knob(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// The `p` percentile of sorted latencies, in milliseconds (NaN when none).
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// The sum of the samples named `name` (with any labels after it) in a
/// Prometheus text.
pub fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A summary's quantile of `http.request.duration.seconds` for `service`'s
/// `method route`, in ms, from a `/metrics` text (the exporter's rolling
/// window, which here holds only the phase just run for these routes).
pub fn server_ms(metrics: &str, service: &str, method: &str, route: &str, quantile: &str) -> f64 {
    let prefix = format!(
        "http_request_duration_seconds{{service=\"{service}\",method=\"{method}\",route=\"{route}\",quantile=\"{quantile}\"}}"
    );
    counter(metrics, &prefix) * 1e3
}

/// Creates a performance of `rows` rows of 20 seats through the gateway
/// (as `organiser`); returns its id and its seats' ids.
pub async fn create_performance(
    http: &reqwest::Client,
    gateway: &str,
    organiser: &str,
    rows: u64,
) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    let created: Value = http
        .post(format!("{gateway}/api/events"))
        .bearer_auth(organiser)
        .json(
            &json!({"title": "Bench", "venue": "Hall", "starts_at": "2027-06-01T19:00:00Z",
            "sections": [{"name": "A", "rows": rows, "seats_per_row": 20, "price": 1000}]}),
        )
        .send()
        .await?
        .json()
        .await?;
    let id: Uuid = serde_json::from_value(created["id"].clone())
        .with_context(|| format!("creating a performance: {created}"))?;
    let map: Value = http
        .get(format!("{gateway}/api/events/{id}/seats"))
        .send()
        .await?
        .json()
        .await?;
    let seats: Vec<Uuid> = map["seats"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| serde_json::from_value(s["id"].clone()).ok())
        .collect();
    anyhow::ensure!(!seats.is_empty(), "performance {id} has no seats: {map}");
    Ok((id, seats))
}
