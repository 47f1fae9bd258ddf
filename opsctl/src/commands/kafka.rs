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

use clap::Args;
use serde::Serialize;
use ticketing_catalog::{topics, ServiceName};
use ticketing_kafka::PartitionLag;

use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::output;
use crate::output::OutputFormat;

#[derive(Args, Debug)]
pub struct RestartArgs {
    /// Seconds to wait for the restart command and then for the broker.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Segment files (`00000000000000000000.log`, ...).
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    Datetime,
    Offset,
}

#[derive(Args, Debug)]
pub struct ResetArgs {
    /// The consumer group (a service name).
    #[arg(long)]
    pub group: String,
    /// Where to move to.
    #[arg(long, value_enum, required_unless_present = "from_file")]
    pub to: Option<ResetTo>,
    /// With `--to datetime`: RFC 3339, e.g. 2026-11-24T01:00:00Z.
    #[arg(long, required_if_eq("to", "datetime"))]
    pub datetime: Option<String>,
    /// With `--to offset`: the offset for every partition.
    #[arg(long, required_if_eq("to", "offset"))]
    pub offset: Option<i64>,
    /// Restore the offsets a previous `--execute` saved.
    #[arg(long, conflicts_with = "to")]
    pub from_file: Option<std::path::PathBuf>,
    /// Where `--execute` saves the previous offsets (default:
    /// ./opsctl-offsets-<group>-<time>.json).
    #[arg(long)]
    pub save_to: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub execute: ExecuteArgs,
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
    zookeeper: Option<ZooKeeperHealth>,
    healthy: bool,
}

#[derive(Serialize)]
struct ZooKeeperHealth {
    address: String,
    /// `ruok` answered `imok`.
    ok: bool,
    mode: Option<String>,
    version: Option<String>,
    latency_ms: f64,
    error: Option<String>,
}

/// One ZooKeeper four-letter word over a fresh connection.
async fn four_letter_word(address: &str, word: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(address),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.write_all(word.as_bytes()).await?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(3), stream.read_to_string(&mut answer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
    Ok(answer)
}

async fn zookeeper_health(address: &str) -> ZooKeeperHealth {
    let started = Instant::now();
    let ruok = four_letter_word(address, "ruok").await;
    let stat = four_letter_word(address, "stat").await;
    let line = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
    };
    let (ok, error) = match &ruok {
        Ok(a) if a.trim() == "imok" => (true, None),
        Ok(a) => (false, Some(format!("ruok answered `{}`", a.trim()))),
        Err(e) => (false, Some(format!("ruok: {e}"))),
    };
    let stat = stat.unwrap_or_default();
    ZooKeeperHealth {
        address: address.to_owned(),
        ok,
        mode: line(&stat, "Mode:"),
        version: line(&stat, "Zookeeper version:"),
        latency_ms: started.elapsed().as_secs_f64() * 1e3,
        error,
    }
}

#[derive(Serialize)]
struct TopicHealth {
    topic: String,
    present: bool,
    partitions: usize,
    error: Option<String>,
}

pub async fn health(ctx: &Context) -> Result<ExitCode, CliError> {
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
        healthy: false,
        topics,
        zookeeper: match &kafka.zookeeper {
            Some(address) => Some(zookeeper_health(address).await),
            None => None,
        },
    };
    let report = Health {
        healthy: report.topics.iter().all(|t| t.present && t.partitions > 0)
            && report.zookeeper.as_ref().is_none_or(|z| z.ok),
        ..report
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
pub(crate) fn groups(
    ctx: &Context,
    only: Option<&str>,
) -> Result<Vec<(String, Vec<String>)>, CliError> {
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

pub(crate) async fn sample(
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

pub async fn lag(ctx: &Context, args: LagArgs) -> Result<ExitCode, CliError> {
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

/// Offsets a reset saved, to restore them.
#[derive(Serialize, serde::Deserialize)]
struct SavedOffsets {
    group: String,
    saved_at: String,
    offsets: Vec<SavedOffset>,
}

#[derive(Serialize, serde::Deserialize, Clone)]
struct SavedOffset {
    topic: String,
    partition: i32,
    /// `None`: the group had committed nothing there.
    offset: Option<i64>,
}

#[derive(Serialize)]
struct ResetLine {
    topic: String,
    partition: i32,
    current: Option<i64>,
    new: i64,
}

pub async fn reset_offsets(ctx: &Context, args: ResetArgs) -> Result<ExitCode, CliError> {
    let (group, topics) = groups(ctx, Some(&args.group))?
        .into_iter()
        .next()
        .ok_or_else(|| CliError::usage("no group chosen", "name one with --group"))?;
    let current: Vec<PartitionLag> = sample(ctx, &[(group.clone(), topics.clone())])
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let targets: Vec<(String, i32, i64)> = match (&args.from_file, args.to) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(
                    format!("{} cannot be read: {e}", path.display()),
                    "give the file a previous --execute saved",
                )
            })?;
            let saved: SavedOffsets = serde_json::from_str(&text).map_err(|e| {
                CliError::usage(
                    format!("{} is not a saved-offsets file: {e}", path.display()),
                    "give the file a previous --execute saved",
                )
            })?;
            if saved.group != group {
                return Err(CliError::usage(
                    format!(
                        "{} holds offsets of group `{}`, not `{group}`",
                        path.display(),
                        saved.group
                    ),
                    "pick the file of this group",
                ));
            }
            saved
                .offsets
                .into_iter()
                .filter_map(|o| o.offset.map(|off| (o.topic, o.partition, off)))
                .collect()
        }
        (None, Some(ResetTo::Earliest)) => current
            .iter()
            .map(|p| (p.topic.clone(), p.partition, p.log_start))
            .collect(),
        (None, Some(ResetTo::Latest)) => current
            .iter()
            .map(|p| (p.topic.clone(), p.partition, p.log_end))
            .collect(),
        (None, Some(ResetTo::Datetime)) => {
            let raw = args.datetime.as_deref().unwrap_or_default();
            let at = chrono::DateTime::parse_from_rfc3339(raw)
                .map_err(|e| {
                    CliError::usage(
                        format!("--datetime `{raw}` is not a time: {e}"),
                        "use RFC 3339, e.g. 2026-11-24T01:00:00Z",
                    )
                })?
                .with_timezone(&chrono::Utc);
            ticketing_kafka::offsets_for_time(&ctx.settings.kafka, &topics, at)
                .await
                .map_err(|e| unreachable(ctx, e))?
        }
        (None, Some(ResetTo::Offset)) => {
            let offset = args.offset.unwrap_or_default();
            for p in &current {
                if offset < p.log_start || offset > p.log_end {
                    return Err(CliError::usage(
                        format!("offset {offset} is outside {} partition {} ({}..={})", p.topic, p.partition, p.log_start, p.log_end),
                        "pick an offset inside every partition's range, or use --to earliest|latest|datetime",
                    ));
                }
            }
            current
                .iter()
                .map(|p| (p.topic.clone(), p.partition, offset))
                .collect()
        }
        (None, None) => {
            return Err(CliError::usage(
                "nothing to reset to",
                "give --to or --from-file",
            ))
        }
    };
    let plan: Vec<ResetLine> = targets
        .iter()
        .map(|(topic, partition, new)| ResetLine {
            topic: topic.clone(),
            partition: *partition,
            current: current
                .iter()
                .find(|p| &p.topic == topic && p.partition == *partition)
                .and_then(|p| p.committed),
            new: *new,
        })
        .collect();
    output::emit(
        ctx.output,
        &serde_json::json!({"group": group, "plan": plan, "execute": args.execute.execute}),
        || {
            let rows: Vec<Vec<String>> = plan
                .iter()
                .map(|l| {
                    vec![
                        l.topic.clone(),
                        l.partition.to_string(),
                        l.current.map_or("-".into(), |c| c.to_string()),
                        l.new.to_string(),
                    ]
                })
                .collect();
            format!(
                "group {group}\n{}",
                output::table(&["TOPIC", "PARTITION", "CURRENT", "NEW"], &rows)
            )
        },
    );
    // Kafka moves the offsets of a group only while it has no members:
    // checked before anything is confirmed or recorded as started.
    if args.execute.execute {
        ensure_group_stopped(ctx, &group).await?;
    } else {
        eprintln!("the group's consumers must be stopped before --execute");
    }
    let Some(applying) = Change::new(ctx, "kafka reset-offsets", &args.execute).begin(
        "moving consumer offsets",
        &serde_json::json!({"group": group, "plan": plan}),
        plan.len(),
    )?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let saved = SavedOffsets {
        group: group.clone(),
        saved_at: chrono::Utc::now().to_rfc3339(),
        offsets: current
            .iter()
            .map(|p| SavedOffset {
                topic: p.topic.clone(),
                partition: p.partition,
                offset: p.committed,
            })
            .collect(),
    };
    let path = args.save_to.clone().unwrap_or_else(|| {
        std::path::PathBuf::from(format!(
            "opsctl-offsets-{group}-{}.json",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    });
    let json = serde_json::to_string_pretty(&saved).map_err(|e| CliError::Failed(e.into()))?;
    if let Err(e) = std::fs::write(&path, json) {
        return Err(applying.failed(
            serde_json::json!({"group": group, "error": e.to_string()}),
            format!(
                "the previous offsets cannot be saved to {}: {e}; pick a writable --save-to; nothing was moved",
                path.display()
            ),
        ));
    }
    applying.progress(serde_json::json!({"saved_to": path.display().to_string()}))?;
    if let Err(e) = ticketing_kafka::commit_offsets(&ctx.settings.kafka, &group, &targets).await {
        let detail = serde_json::json!({"group": group, "error": e.to_string()});
        let message = unreachable(ctx, e);
        return Err(applying.failed(detail, message));
    }
    applying.done(serde_json::json!({"group": group, "moved": plan.len()}))?;
    eprintln!(
        "offsets moved; the previous ones are in {} (restore with --from-file {})",
        path.display(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses to go on while `group` has active members (or they cannot be
/// listed).
async fn ensure_group_stopped(ctx: &Context, group: &str) -> Result<(), CliError> {
    let members = ticketing_kafka::group_members(&ctx.settings.kafka, group)
        .await
        .map_err(|e| {
            CliError::usage(
                format!("the broker could not list the members of `{group}` ({e}), so it is unknown whether its consumers are stopped"),
                "check that the broker is reachable (opsctl kafka health), then run this again",
            )
        })?;
    if members > 0 {
        return Err(CliError::usage(
            format!("group `{group}` has {members} active member(s); offsets of a running group cannot be moved"),
            "stop its consumers first (scale the service to 0 tasks), then run this again",
        ));
    }
    Ok(())
}

#[derive(Serialize)]
struct FileReport {
    path: String,
    #[serde(flatten)]
    report: crate::segments::Report,
}

pub async fn verify_segments(ctx: &Context, args: VerifyArgs) -> Result<ExitCode, CliError> {
    let paths = args.paths;
    let reports = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for path in paths {
            let file = std::fs::File::open(&path).map_err(|e| {
                CliError::usage(
                    format!("{} cannot be read: {e}", path.display()),
                    "give the paths of segment files (the broker's <topic>-<partition>/*.log)",
                )
            })?;
            let reader = std::io::BufReader::with_capacity(1 << 20, file);
            let report = crate::segments::verify(reader).map_err(|e| {
                CliError::Failed(anyhow::anyhow!("reading {} failed: {e}", path.display()))
            })?;
            out.push(FileReport {
                path: path.display().to_string(),
                report,
            });
        }
        Ok::<_, CliError>(out)
    })
    .await
    .map_err(|e| CliError::Failed(e.into()))??;
    let clean = reports.iter().all(|r| r.report.is_clean());
    output::emit(ctx.output, &reports, || {
        let rows: Vec<Vec<String>> = reports
            .iter()
            .map(|f| {
                let r = &f.report;
                vec![
                    f.path.clone(),
                    r.bytes.to_string(),
                    r.batches.to_string(),
                    r.records.to_string(),
                    match (r.first_offset, r.last_offset) {
                        (Some(a), Some(b)) => format!("{a}..{b}"),
                        _ => "-".into(),
                    },
                    if r.is_clean() {
                        "ok".into()
                    } else {
                        format!("CORRUPT ({})", r.problems.len())
                    },
                ]
            })
            .collect();
        let mut out = output::table(
            &["FILE", "BYTES", "BATCHES", "RECORDS", "OFFSETS", "STATE"],
            &rows,
        );
        for f in &reports {
            for p in &f.report.problems {
                out.push_str(&format!(
                    "{} @ byte {}: {:?}: {}\n",
                    f.path, p.position, p.kind, p.detail
                ));
            }
            if f.report.invalid_tail_bytes > 0 {
                out.push_str(&format!(
                    "{}: {} invalid byte(s) after the last whole batch (valid up to byte {})\n",
                    f.path, f.report.invalid_tail_bytes, f.report.valid_bytes
                ));
            }
        }
        out
    });
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

/// Where and how the broker is restarted.
#[derive(Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub(crate) enum RestartPlan {
    Ssm {
        region: String,
        document: &'static str,
        target_tag: String,
        command: &'static str,
    },
    Local {
        command: String,
    },
}

#[derive(Serialize)]
pub(crate) struct RestartReport {
    plan: RestartPlan,
    command_seconds: f64,
    pub(crate) broker_answered_after_seconds: f64,
    instances: Vec<String>,
}

pub(crate) fn restart_plan(ctx: &Context) -> Result<RestartPlan, CliError> {
    use ticketing_catalog::aws;
    Ok(match (&ctx.settings.stack, ctx.profile) {
        (Some(stack), ticketing_config::Profile::Local) => RestartPlan::Local {
            command: stack.kafka_restart_command.clone(),
        },
        _ => RestartPlan::Ssm {
            region: ctx.region.clone(),
            document: aws::RUN_SHELL_DOCUMENT,
            target_tag: format!(
                "{}={}",
                aws::KAFKA_BROKER_TAG_KEY,
                aws::KAFKA_BROKER_TAG_VALUE
            ),
            command: aws::KAFKA_RESTART_COMMAND,
        },
    })
}

pub async fn restart(ctx: &Context, args: RestartArgs) -> Result<ExitCode, CliError> {
    let plan = restart_plan(ctx)?;
    match &plan {
        RestartPlan::Ssm { region, document, target_tag, command } => eprintln!(
            "plan: run `{command}` with SSM {document} on the instances tagged {target_tag} in {region}, then wait up to {} s for {}",
            args.timeout, ctx.settings.kafka.bootstrap_servers
        ),
        RestartPlan::Local { command } => eprintln!(
            "plan: run `{command}`, then wait up to {} s for {}",
            args.timeout, ctx.settings.kafka.bootstrap_servers
        ),
    }
    let Some(applying) = Change::new(ctx, "kafka restart", &args.execute).begin(
        "restarting the Kafka broker",
        &plan,
        1,
    )?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let report = match restart_now(ctx, plan, std::time::Duration::from_secs(args.timeout)).await {
        Ok(report) => report,
        Err(e) => {
            return Err(applying.failed(serde_json::json!({"error": e.to_string()}), e));
        }
    };
    applying.done(serde_json::to_value(&report).unwrap_or_default())?;
    output::emit(ctx.output, &report, || {
        format!(
            "restart command finished in {:.1} s{}; the broker answered {:.1} s after it\n",
            report.command_seconds,
            if report.instances.is_empty() {
                String::new()
            } else {
                format!(" on {}", report.instances.join(", "))
            },
            report.broker_answered_after_seconds
        )
    });
    Ok(ExitCode::SUCCESS)
}

/// Restarts and waits for the broker; the caller's change records it (the
/// DR runbook calls it as a step).
pub(crate) async fn restart_now(
    ctx: &Context,
    plan: RestartPlan,
    timeout: std::time::Duration,
) -> Result<RestartReport, CliError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let outcome = match &plan {
        RestartPlan::Local { command } => run_local(command, timeout).await.map(|()| Vec::new()),
        RestartPlan::Ssm { .. } => crate::aws::restart_broker(ctx, deadline).await,
    };
    let instances = outcome?;
    let command_seconds = started.elapsed().as_secs_f64();
    let waited = Instant::now();
    loop {
        match ticketing_kafka::cluster_info(&ctx.settings.kafka).await {
            Ok(_) => break,
            Err(e) if Instant::now() >= deadline => {
                return Err(CliError::Failed(anyhow::anyhow!(
                    "the restart command ran but the broker did not answer within {} s: {e}; check the broker's log",
                    timeout.as_secs()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let report = RestartReport {
        plan,
        command_seconds,
        broker_answered_after_seconds: waited.elapsed().as_secs_f64(),
        instances,
    };
    Ok(report)
}

pub(crate) async fn run_local(command: &str, timeout: std::time::Duration) -> Result<(), CliError> {
    let child = tokio::process::Command::new("sh")
        .args(["-c", command])
        .stdin(std::process::Stdio::null())
        .output();
    let out = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| {
            CliError::Failed(anyhow::anyhow!(
                "`{command}` did not finish within {} s",
                timeout.as_secs()
            ))
        })?
        .map_err(|e| CliError::Failed(anyhow::anyhow!("`{command}` could not run: {e}")))?;
    if !out.status.success() {
        return Err(CliError::Failed(anyhow::anyhow!(
            "`{command}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
