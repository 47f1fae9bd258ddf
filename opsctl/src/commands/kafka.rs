//! `opsctl kafka health|lag`: the broker, its topics, and how far behind each
//! consumer group is.
//!
//! ```text
//! opsctl kafka health
//! opsctl kafka lag                                  # every service's group
//! opsctl kafka lag --group reservation-service --until-drained --timeout 600
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde::Serialize;
use ticketing_catalog::{topics, ServiceName};
use ticketing_kafka::PartitionLag;

use crate::cli::OutputFormat;
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum KafkaCommand {
    /// Broker reachability and metadata, topics and partitions, with timing.
    /// Exits 1 when a topic of the catalog is missing.
    Health,
    /// Per group, topic and partition: committed offset, log end, lag, and a
    /// drain estimate from two samples.
    Lag(LagArgs),
}

#[derive(Args, Debug)]
pub struct LagArgs {
    /// The consumer group (a service name; default: every service's group).
    #[arg(long)]
    pub group: Option<String>,
    /// Seconds between the two samples of the drain estimate.
    #[arg(long, default_value_t = 5)]
    pub interval: u64,
    /// Sample until every lag is 0 (exit 0) or `--timeout` passes (exit 1).
    #[arg(long)]
    pub until_drained: bool,
    /// Seconds `--until-drained` waits.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

pub async fn exec(ctx: &Context, command: KafkaCommand) -> Result<ExitCode, CliError> {
    match command {
        KafkaCommand::Health => health(ctx).await,
        KafkaCommand::Lag(args) => lag(ctx, args).await,
    }
}

fn unreachable(ctx: &Context, e: ticketing_kafka::KafkaError) -> CliError {
    CliError::Failed(anyhow::anyhow!(
        "{e}; is the broker at {} up? (`opsctl kafka restart` brings it back)",
        ctx.settings.kafka.bootstrap_servers
    ))
}

#[derive(Serialize)]
struct Health {
    bootstrap: String,
    latency_ms: f64,
    brokers: Vec<String>,
    topics: Vec<TopicHealth>,
    healthy: bool,
}

#[derive(Serialize)]
struct TopicHealth {
    topic: String,
    present: bool,
    partitions: usize,
    error: Option<String>,
}

async fn health(ctx: &Context) -> Result<ExitCode, CliError> {
    let kafka = &ctx.settings.kafka;
    let info = ticketing_kafka::cluster_info(kafka)
        .await
        .map_err(|e| unreachable(ctx, e))?;
    let topics: Vec<TopicHealth> = topics::ALL
        .iter()
        .map(|logical| {
            let name = kafka.topic(logical);
            match info.topics.iter().find(|t| t.name == name) {
                Some(t) => TopicHealth {
                    topic: name,
                    present: t.error.is_none(),
                    partitions: t.partitions,
                    error: t.error.clone(),
                },
                None => TopicHealth {
                    topic: name,
                    present: false,
                    partitions: 0,
                    error: Some("missing".into()),
                },
            }
        })
        .collect();
    let report = Health {
        bootstrap: kafka.bootstrap_servers.clone(),
        latency_ms: info.latency.as_secs_f64() * 1e3,
        brokers: info
            .brokers
            .iter()
            .map(|b| format!("{}@{}:{}", b.id, b.host, b.port))
            .collect(),
        healthy: topics.iter().all(|t| t.present && t.partitions > 0),
        topics,
    };
    output::emit(ctx.output, &report, || {
        let mut out = format!(
            "broker(s) {} answered metadata in {:.1} ms\n",
            report.brokers.join(", "),
            report.latency_ms
        );
        let rows: Vec<Vec<String>> = report
            .topics
            .iter()
            .map(|t| {
                vec![
                    t.topic.clone(),
                    if t.present { "ok" } else { "MISSING" }.into(),
                    t.partitions.to_string(),
                    t.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&output::table(
            &["TOPIC", "STATE", "PARTITIONS", "ERROR"],
            &rows,
        ));
        out
    });
    Ok(if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

/// The groups to look at and their topics (physical names).
fn groups(ctx: &Context, only: Option<&str>) -> Result<Vec<(String, Vec<String>)>, CliError> {
    let kafka = &ctx.settings.kafka;
    let consumers: Vec<ServiceName> = ServiceName::ALL
        .into_iter()
        .filter(|s| !s.consumes().is_empty())
        .collect();
    let chosen: Vec<ServiceName> = match only {
        None => consumers,
        Some(g) => match consumers.iter().find(|s| s.as_str() == g) {
            Some(s) => vec![*s],
            None => {
                return Err(CliError::usage(
                    format!("unknown consumer group `{g}`"),
                    format!(
                        "the groups are: {}",
                        consumers
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
        },
    };
    Ok(chosen
        .into_iter()
        .map(|s| {
            (
                kafka.topic(s.as_str()),
                s.consumes().iter().map(|t| kafka.topic(t)).collect(),
            )
        })
        .collect())
}

#[derive(Serialize, Clone)]
struct GroupLag {
    group: String,
    topic: String,
    partition: i32,
    committed: Option<i64>,
    log_end: i64,
    lag: i64,
    /// Messages per second the group works off, net of new ones.
    drain_per_second: Option<f64>,
    /// Seconds until this partition's lag is 0 at that rate.
    drain_estimate_seconds: Option<f64>,
}

async fn sample(
    ctx: &Context,
    groups: &[(String, Vec<String>)],
) -> Result<Vec<(String, PartitionLag)>, CliError> {
    let mut out = Vec::new();
    for (group, topics) in groups {
        let lag = ticketing_kafka::group_lag(&ctx.settings.kafka, group, topics)
            .await
            .map_err(|e| match e {
                ticketing_kafka::KafkaError::UnknownTopic(t) => CliError::usage(
                    format!("topic `{t}` does not exist"),
                    "check `opsctl kafka health`; the topics are created by infra/local/stack.sh or the Kafka stack",
                ),
                other => unreachable(ctx, other),
            })?;
        out.extend(lag.into_iter().map(|p| (group.clone(), p)));
    }
    Ok(out)
}

async fn lag(ctx: &Context, args: LagArgs) -> Result<ExitCode, CliError> {
    if args.interval == 0 {
        return Err(CliError::usage(
            "--interval must be at least 1 second",
            "try --interval 5",
        ));
    }
    let groups = groups(ctx, args.group.as_deref())?;
    let started = Instant::now();
    loop {
        let first = sample(ctx, &groups).await?;
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(args.interval)).await;
        let second = sample(ctx, &groups).await?;
        let dt = t0.elapsed().as_secs_f64();
        let rows: Vec<GroupLag> = second
            .iter()
            .map(|(group, now)| {
                let before = first
                    .iter()
                    .find(|(g, p)| {
                        g == group && p.topic == now.topic && p.partition == now.partition
                    })
                    .map(|(_, p)| p);
                let drain = before.map(|b| (b.lag - now.lag) as f64 / dt);
                GroupLag {
                    group: group.clone(),
                    topic: now.topic.clone(),
                    partition: now.partition,
                    committed: now.committed,
                    log_end: now.log_end,
                    lag: now.lag,
                    drain_per_second: drain,
                    drain_estimate_seconds: match drain {
                        _ if now.lag == 0 => Some(0.0),
                        Some(rate) if rate > 0.0 => Some(now.lag as f64 / rate),
                        _ => None,
                    },
                }
            })
            .collect();
        let total: i64 = rows.iter().map(|r| r.lag).sum();
        if args.until_drained && ctx.output == OutputFormat::Json {
            println!("{}", serde_json::to_string(&rows).unwrap_or_default());
        } else {
            output::emit(ctx.output, &rows, || render(&rows));
        }
        if !args.until_drained {
            return Ok(ExitCode::SUCCESS);
        }
        if total == 0 {
            eprintln!("drained: every group is at the log end");
            return Ok(ExitCode::SUCCESS);
        }
        if started.elapsed() >= Duration::from_secs(args.timeout) {
            eprintln!(
                "not drained after {} s: {total} message(s) still to process",
                args.timeout
            );
            return Ok(ExitCode::from(EXIT_PROBLEM));
        }
    }
}

fn render(rows: &[GroupLag]) -> String {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.group.clone(),
                r.topic.clone(),
                r.partition.to_string(),
                r.committed.map_or("-".into(), |c| c.to_string()),
                r.log_end.to_string(),
                r.lag.to_string(),
                match r.drain_estimate_seconds {
                    Some(s) => format!("{s:.0} s"),
                    None => "not draining".into(),
                },
            ]
        })
        .collect();
    output::table(
        &[
            "GROUP",
            "TOPIC",
            "PARTITION",
            "COMMITTED",
            "LOG END",
            "LAG",
            "DRAINED IN",
        ],
        &table,
    )
}
