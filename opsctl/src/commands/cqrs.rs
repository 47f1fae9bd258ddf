//! `opsctl cqrs check`: the design's five CQRS triggers
//! (`ticketing_catalog::cqrs`), each read live -- CloudWatch GetMetricData
//! for the platform's TPS gauges, ALB latency and RDS replica lag, Redis
//! `INFO stats` for the cache miss rate -- printed against its threshold,
//! with the phase the decision rules call for. The peak over `--window`
//! minutes is what counts. Exit 1 when the rules call for a change.

use std::process::ExitCode;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::Utc;
use clap::Args;
use serde::Serialize;
use ticketing_catalog::cqrs::{self, Phase, Source, TRIGGERS};
use ticketing_catalog::metrics;

use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::output;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Look back this many minutes (1 to 20160, CloudWatch's two weeks of
    /// one-minute data); the peak in the window counts.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=20_160))]
    pub window: i64,
    /// The ALB's metric dimension (`app/ticketing-prod/...`); without it the
    /// seat-query latency is not read.
    #[arg(long)]
    pub load_balancer: Option<String>,
    /// The read replica's DB instance id (default
    /// `ticketing-<env>-postgres-replica`).
    #[arg(long)]
    pub replica: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Reading {
    pub key: &'static str,
    pub metric: &'static str,
    pub value: Option<f64>,
    pub threshold: f64,
    pub unit: &'static str,
    pub exceeded: bool,
    pub source: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct Verdict {
    pub readings: Vec<Reading>,
    pub exceeded: usize,
    pub phase: Phase,
    pub advice: &'static str,
}

/// Readings -> the rules' phase: pure.
pub fn verdict(readings: Vec<Reading>) -> Verdict {
    let exceeded = readings.iter().filter(|r| r.exceeded).count();
    let tps = readings
        .iter()
        .find(|r| r.key == "event_reads_tps")
        .and_then(|r| r.value)
        .unwrap_or(0.0);
    let phase = cqrs::decide(exceeded, tps);
    Verdict {
        readings,
        exceeded,
        phase,
        advice: phase.describe(),
    }
}

/// The cache miss rate in percent from `INFO stats` text.
pub fn miss_rate(info: &str) -> Option<f64> {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let hits = field("keyspace_hits")?;
    let misses = field("keyspace_misses")?;
    (hits + misses > 0.0).then(|| misses / (hits + misses) * 100.0)
}

async fn peak(
    cw: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    name: &str,
    stat: &str,
    dimensions: &[(&str, &str)],
    window_minutes: i64,
) -> Result<Option<f64>, CliError> {
    let end = Utc::now();
    let start = end - chrono::Duration::minutes(window_minutes);
    let mut metric = Metric::builder().namespace(namespace).metric_name(name);
    for (k, v) in dimensions {
        metric = metric.dimensions(Dimension::builder().name(*k).value(*v).build());
    }
    let answer = cw
        .get_metric_data()
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("m")
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric.build())
                        .period(60)
                        .stat(stat)
                        .build(),
                )
                .return_data(true)
                .build(),
        )
        .start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
        .end_time(aws_smithy_types::DateTime::from_secs(end.timestamp() + 60))
        .send()
        .await
        .map_err(|e| {
            CliError::Failed(anyhow::anyhow!(
                "CloudWatch GetMetricData ({namespace} {name}) failed: {}; check the AWS credentials and region",
                crate::aws::sdk_error(&e)
            ))
        })?;
    Ok(answer
        .metric_data_results()
        .iter()
        .flat_map(|r| r.values().iter().copied())
        .reduce(f64::max))
}

async fn redis_miss_rate(ctx: &Context) -> Result<Option<f64>, CliError> {
    let redis = ticketing_redis::Redis::new(&ctx.settings.redis)
        .map_err(|e| CliError::Failed(anyhow::anyhow!("Redis: {e}")))?;
    let mut conn = redis.conn().await.map_err(|e| {
        CliError::Failed(anyhow::anyhow!(
            "Redis at {} cannot be reached: {e}; run this where the cache is reachable (a bastion in AWS)",
            ctx.settings.redis.url.host_str().unwrap_or("?")
        ))
    })?;
    let info: String = ticketing_redis::redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await
        .map_err(|e| CliError::Failed(anyhow::anyhow!("Redis INFO stats failed: {e}")))?;
    Ok(miss_rate(&info))
}

pub async fn check(ctx: &Context, args: CheckArgs) -> Result<ExitCode, CliError> {
    let cw = aws_sdk_cloudwatch::Client::new(&crate::aws::sdk_config(ctx).await?);
    let replica = args
        .replica
        .clone()
        .unwrap_or_else(|| ticketing_catalog::aws::rds_replica_id(ctx.profile.as_str()));
    let mut readings = Vec::new();
    for t in TRIGGERS {
        let (value, source) = match t.source {
            Source::Custom(name) => {
                // As the services publish it: this environment's (catalog
                // dimension_sets).
                let env = ctx.metrics_environment();
                let v = peak(
                    &cw,
                    metrics::NAMESPACE,
                    name,
                    "Average",
                    &[(metrics::ENVIRONMENT, &env)],
                    args.window,
                )
                .await?;
                (
                    v,
                    format!(
                        "CloudWatch {}/{name} ({}={env})",
                        metrics::NAMESPACE,
                        metrics::ENVIRONMENT
                    ),
                )
            }
            Source::RedisMissRate => (
                redis_miss_rate(ctx).await?,
                "Redis INFO stats keyspace_misses / (hits + misses)".to_owned(),
            ),
            Source::AlbP95 => match &args.load_balancer {
                Some(lb) => (
                    peak(
                        &cw,
                        "AWS/ApplicationELB",
                        "TargetResponseTime",
                        "p95",
                        &[("LoadBalancer", lb)],
                        args.window,
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
                    &[("DBInstanceIdentifier", &replica)],
                    args.window,
                )
                .await?,
                format!("AWS/RDS ReplicaLag ({replica})"),
            ),
        };
        let value = value.map(|v| v * t.scale);
        readings.push(Reading {
            key: t.key,
            metric: t.label,
            value: value.map(|v| (v * 100.0).round() / 100.0),
            threshold: t.threshold,
            unit: t.unit,
            exceeded: value.is_some_and(|v| v > t.threshold),
            source,
        });
    }
    let v = verdict(readings);
    output::emit(ctx.output, &v, || {
        let rows: Vec<Vec<String>> = v
            .readings
            .iter()
            .map(|r| {
                vec![
                    r.metric.to_owned(),
                    r.value
                        .map_or("no data".into(), |x| format!("{x} {}", r.unit)),
                    format!("> {} {}", r.threshold, r.unit),
                    if r.exceeded {
                        "EXCEEDED".into()
                    } else {
                        "ok".into()
                    },
                    r.source.clone(),
                ]
            })
            .collect();
        format!(
            "{}{} of 5 thresholds exceeded: {:?} -- {}\n",
            output::table(&["METRIC", "PEAK", "THRESHOLD", "STATE", "SOURCE"], &rows),
            v.exceeded,
            v.phase,
            v.advice
        )
    });
    Ok(if v.phase == Phase::Current {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_miss_rate_comes_from_info_stats() {
        let info = "# Stats\r\nkeyspace_hits:30\r\nkeyspace_misses:10\r\nexpired_keys:0\r\n";
        assert_eq!(miss_rate(info), Some(25.0));
        assert_eq!(miss_rate("keyspace_hits:0\r\nkeyspace_misses:0\r\n"), None);
        assert_eq!(miss_rate("nothing"), None);
    }

    #[test]
    fn the_verdict_counts_exceeded_thresholds() {
        let r = |key: &'static str, value: f64, threshold: f64| Reading {
            key,
            metric: key,
            value: Some(value),
            threshold,
            unit: "",
            exceeded: value > threshold,
            source: String::new(),
        };
        let v = verdict(vec![
            r("event_reads_tps", 2500.0, 1000.0),
            r("cache_miss_rate", 1.0, 20.0),
        ]);
        assert_eq!((v.exceeded, v.phase), (1, Phase::FullCqrs));
        let v = verdict(vec![r("event_reads_tps", 100.0, 1000.0)]);
        assert_eq!(v.phase, Phase::Current);
    }
}
