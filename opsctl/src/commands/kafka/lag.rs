//! `opsctl kafka lag`: how far behind each consumer group is, and whether
//! it drains.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::LagArgs;
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
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
