//! `opsctl kafka lag`: how far behind each consumer group is, in messages
//! and seconds, whether it drains, and a verdict per group (OK, WARN,
//! STALL, STOP: `ops::consumer_lag`) with its evidence; exit 1 on STALL or
//! STOP.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::LagArgs;
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::ops::consumer_lag::{judge, members, written_at, Status, Window};
use crate::ops::kafka::{groups, sample};
use crate::output;
use crate::output::OutputFormat;

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
    /// How long the oldest unprocessed record has waited.
    lag_seconds: Option<i64>,
    committed_moved: bool,
    status: Status,
    evidence: String,
}

/// One group's verdict: its worst partition's status, and the members
/// seen.
#[derive(Serialize, Clone)]
struct GroupVerdict {
    group: String,
    status: Status,
    members: usize,
    lag: i64,
    lag_seconds: Option<i64>,
    evidence: String,
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
        let now = chrono::Utc::now();
        let mut rows: Vec<GroupLag> = Vec::with_capacity(second.len());
        let mut counts = std::collections::BTreeMap::new();
        for (group, after) in &second {
            if !counts.contains_key(group) {
                counts.insert(group.clone(), members(ctx, group).await?);
            }
            let before = first
                .iter()
                .find(|(g, p)| {
                    g == group && p.topic == after.topic && p.partition == after.partition
                })
                .map(|(_, p)| p);
            let window = Window {
                before,
                after,
                oldest_unprocessed: written_at(ctx, after).await?,
            };
            let judged = judge(
                &window,
                counts.get(group).copied().unwrap_or(0),
                now,
                dt,
                args.warn_after as i64,
            );
            let drain = before.map(|b| (b.lag - after.lag) as f64 / dt);
            rows.push(GroupLag {
                group: group.clone(),
                topic: after.topic.clone(),
                partition: after.partition,
                committed: after.committed,
                log_end: after.log_end,
                lag: after.lag,
                drain_per_second: drain,
                drain_estimate_seconds: match drain {
                    _ if after.lag == 0 => Some(0.0),
                    Some(rate) if rate > 0.0 => Some(after.lag as f64 / rate),
                    _ => None,
                },
                lag_seconds: judged.lag_seconds,
                committed_moved: judged.committed_moved,
                status: judged.status,
                evidence: judged.evidence,
            });
        }
        let verdicts = verdicts(&rows, &counts);
        let total: i64 = rows.iter().map(|r| r.lag).sum();
        let doc = serde_json::json!({"groups": verdicts, "partitions": rows});
        if args.until_drained && ctx.output == OutputFormat::Json {
            println!("{}", serde_json::to_string(&doc).unwrap_or_default());
        } else {
            output::emit(ctx.output, &doc, || {
                format!("{}\n{}", render_verdicts(&verdicts), render(&rows))
            });
        }
        if !args.until_drained {
            let failing = verdicts.iter().any(|v| v.status.is_failure());
            return Ok(if failing {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            });
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

/// Each group's worst partition, with its evidence.
fn verdicts(
    rows: &[GroupLag],
    members: &std::collections::BTreeMap<String, usize>,
) -> Vec<GroupVerdict> {
    members
        .iter()
        .map(|(group, members)| {
            let mine = rows.iter().filter(|r| &r.group == group);
            let worst = mine
                .clone()
                .max_by_key(|r| (r.status, r.lag_seconds.unwrap_or(0), r.lag));
            GroupVerdict {
                group: group.clone(),
                status: worst.map_or(Status::Ok, |w| w.status),
                members: *members,
                lag: mine.clone().map(|r| r.lag).sum(),
                lag_seconds: mine.filter_map(|r| r.lag_seconds).max(),
                evidence: worst.map_or_else(
                    || "no partitions".to_owned(),
                    |w| format!("{}[{}]: {}", w.topic, w.partition, w.evidence),
                ),
            }
        })
        .collect()
}

fn render_verdicts(verdicts: &[GroupVerdict]) -> String {
    let rows: Vec<Vec<String>> = verdicts
        .iter()
        .map(|v| {
            vec![
                v.group.clone(),
                v.status.as_str().to_owned(),
                v.members.to_string(),
                v.lag.to_string(),
                v.lag_seconds.map_or("-".into(), |s| format!("{s} s")),
                v.evidence.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "GROUP",
            "STATUS",
            "MEMBERS",
            "LAG",
            "LAG (TIME)",
            "EVIDENCE",
        ],
        &rows,
    )
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
                r.lag_seconds.map_or("-".into(), |s| format!("{s} s")),
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
            "LAG (TIME)",
            "DRAINED IN",
        ],
        &table,
    )
}
