//! The design's five CQRS triggers (`ticketing_catalog::cqrs`), each read
//! from CloudWatch over a window -- the platform's TPS gauges and cache
//! counters, ALB latency, RDS replica lag -- and the pure verdict the
//! decision rules give. Nothing here needs the data plane: the check runs
//! from anywhere with the environment's AWS credentials.

use crate::ops::cloudwatch::{self, Stat};
use chrono::Utc;
use serde::Serialize;
use ticketing_catalog::cqrs::{self, Phase, Source, TRIGGERS};
use ticketing_catalog::metrics;

use crate::environment::Environment;
use crate::error::OpsError;

/// What to read: the window and the resources the rules name.
pub struct Scope {
    pub window_minutes: i64,
    pub load_balancer: Option<String>,
    pub replica: String,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Reading {
    pub key: &'static str,
    pub metric: &'static str,
    /// `None`: not read (no data in the window, or nothing to read it from).
    pub value: Option<f64>,
    pub threshold: f64,
    pub unit: &'static str,
    pub exceeded: bool,
    pub source: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct Verdict {
    pub environment: String,
    pub window_minutes: i64,
    pub readings: Vec<Reading>,
    pub exceeded: usize,
    /// The triggers that could not be read: the phase is then a lower
    /// bound, and the check does not pass.
    pub unread: Vec<&'static str>,
    pub phase: Phase,
    pub advice: &'static str,
}

impl Verdict {
    /// Whether the rules call for nothing, on all five readings.
    pub fn passes(&self) -> bool {
        self.phase == Phase::Current && self.unread.is_empty()
    }
}

/// Readings -> the rules' phase: pure.
pub fn verdict(environment: &str, window_minutes: i64, readings: Vec<Reading>) -> Verdict {
    let exceeded = readings.iter().filter(|r| r.exceeded).count();
    let tps = readings
        .iter()
        .find(|r| r.key == "event_reads_tps")
        .and_then(|r| r.value)
        .unwrap_or(0.0);
    let phase = cqrs::decide(exceeded, tps);
    Verdict {
        environment: environment.to_owned(),
        window_minutes,
        unread: readings
            .iter()
            .filter(|r| r.value.is_none())
            .map(|r| r.key)
            .collect(),
        readings,
        exceeded,
        phase,
        advice: phase.describe(),
    }
}

/// The miss rate in percent from the window's sums: `None` when neither
/// counter has data, 0 when both say nothing was looked up.
pub fn miss_rate(hits: Option<f64>, misses: Option<f64>) -> Option<f64> {
    if hits.is_none() && misses.is_none() {
        return None;
    }
    let (hits, misses) = (hits.unwrap_or(0.0), misses.unwrap_or(0.0));
    Some(if hits + misses > 0.0 {
        misses / (hits + misses) * 100.0
    } else {
        0.0
    })
}

/// One metric's values over the window at `period` seconds, by `stat`.
async fn values(
    cw: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    name: &str,
    stat: &str,
    dimensions: &[(&str, &str)],
    window_minutes: i64,
    period: i32,
) -> Result<Vec<f64>, OpsError> {
    let end = Utc::now().timestamp();
    let start = end - window_minutes * 60;
    let stat = Stat {
        id: "m",
        namespace,
        name,
        stat,
        dimensions,
        period,
    };
    let mut found = cloudwatch::values(cw, &[stat], start, end + 60).await?;
    Ok(found.pop().unwrap_or_default())
}

/// The peak of one-minute `stat` over the window.
async fn peak(
    cw: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    name: &str,
    stat: &str,
    dimensions: &[(&str, &str)],
    window_minutes: i64,
) -> Result<Option<f64>, OpsError> {
    let found = values(cw, namespace, name, stat, dimensions, window_minutes, 60).await?;
    Ok(found.into_iter().reduce(f64::max))
}

/// The sum over the window.
async fn total(
    cw: &aws_sdk_cloudwatch::Client,
    name: &str,
    dimensions: &[(&str, &str)],
    window_minutes: i64,
) -> Result<Option<f64>, OpsError> {
    let found = values(
        cw,
        metrics::NAMESPACE,
        name,
        "Sum",
        dimensions,
        window_minutes,
        60,
    )
    .await?;
    Ok((!found.is_empty()).then(|| found.iter().sum()))
}

/// Reads the five triggers.
pub async fn read(ctx: &Environment, scope: &Scope) -> Result<Vec<Reading>, OpsError> {
    let cw = aws_sdk_cloudwatch::Client::new(&crate::aws::sdk_config(ctx).await?);
    let env = ctx.metrics_environment();
    let this_env = [(metrics::ENVIRONMENT, env.as_str())];
    let window = scope.window_minutes;
    let mut readings = Vec::new();
    for t in TRIGGERS {
        let (value, source) = match t.source {
            Source::Custom(name) => (
                peak(&cw, metrics::NAMESPACE, name, "Average", &this_env, window).await?,
                format!(
                    "CloudWatch {}/{name} ({}={env})",
                    metrics::NAMESPACE,
                    metrics::ENVIRONMENT
                ),
            ),
            Source::CacheMissRate { hits, misses } => (
                miss_rate(
                    total(&cw, hits, &this_env, window).await?,
                    total(&cw, misses, &this_env, window).await?,
                ),
                format!(
                    "CloudWatch {misses} / ({hits} + {misses}), summed over the window ({}={env})",
                    metrics::ENVIRONMENT
                ),
            ),
            Source::AlbP95 => match &scope.load_balancer {
                Some(lb) => (
                    peak(
                        &cw,
                        "AWS/ApplicationELB",
                        "TargetResponseTime",
                        "p95",
                        &[("LoadBalancer", lb)],
                        window,
                    )
                    .await?,
                    format!("AWS/ApplicationELB TargetResponseTime p95 ({lb})"),
                ),
                None => (None, "not read: pass --load-balancer".to_owned()),
            },
            Source::RdsReplicaLag => (
                peak(
                    &cw,
                    "AWS/RDS",
                    "ReplicaLag",
                    "Maximum",
                    &[("DBInstanceIdentifier", &scope.replica)],
                    window,
                )
                .await?,
                format!("AWS/RDS ReplicaLag ({})", scope.replica),
            ),
        };
        let value = value.map(|v| v * t.scale);
        readings.push(Reading {
            key: t.key,
            metric: t.label,
            value: value.map(|v| (v * 100.0).round() / 100.0 + 0.0),
            threshold: t.threshold,
            unit: t.unit,
            exceeded: value.is_some_and(|v| v > t.threshold),
            source,
        });
    }
    Ok(readings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(key: &'static str, value: Option<f64>, threshold: f64) -> Reading {
        Reading {
            key,
            metric: key,
            value,
            threshold,
            unit: "",
            exceeded: value.is_some_and(|v| v > threshold),
            source: String::new(),
        }
    }

    #[test]
    fn the_verdict_counts_exceeded_thresholds_and_what_was_not_read() {
        let v = verdict(
            "dev",
            60,
            vec![
                r("event_reads_tps", Some(2500.0), 1000.0),
                r("cache_miss_rate", Some(1.0), 20.0),
            ],
        );
        assert_eq!((v.exceeded, v.phase), (1, Phase::FullCqrs));
        let quiet = verdict("dev", 60, vec![r("event_reads_tps", Some(100.0), 1000.0)]);
        assert!(quiet.passes());
        let blind = verdict(
            "dev",
            60,
            vec![
                r("event_reads_tps", Some(100.0), 1000.0),
                r("seat_query_p95", None, 500.0),
            ],
        );
        assert_eq!(blind.phase, Phase::Current);
        assert_eq!(blind.unread, ["seat_query_p95"]);
        assert!(!blind.passes(), "an unread trigger is not an ok one");
    }

    #[test]
    fn the_miss_rate_is_over_the_window_s_lookups() {
        assert_eq!(miss_rate(Some(1.0), Some(3.0)), Some(75.0));
        assert_eq!(miss_rate(Some(0.0), Some(0.0)), Some(0.0));
        assert_eq!(miss_rate(None, Some(2.0)), Some(100.0));
        assert_eq!(miss_rate(None, None), None);
    }
}
