//! `opsctl kafka lag`: how far behind each consumer group is, in messages
//! and seconds, whether it drains, and a verdict per group (OK, WARN,
//! STALL, STOP: `ops::consumer_lag`) with its evidence; exit 1 on STALL or
//! STOP.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::LagArgs;
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::consumer_lag::{assess, Assessment, GroupVerdict, PartitionVerdict};
use crate::ops::kafka::{groups, sample};
use crate::output;
use crate::output::OutputFormat;

pub async fn lag(ctx: &Context, args: LagArgs) -> Result<ExitCode, OpsError> {
    if args.interval == 0 {
        return Err(OpsError::usage(
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
        let Assessment {
            partitions: rows,
            groups: verdicts,
        } = assess(ctx, &first, &second, dt, args.warn_after).await?;
        let total: i64 = rows.iter().map(|r| r.lag).sum();
        let mut doc = serde_json::json!({"groups": verdicts, "partitions": rows});
        let json_rounds = args.until_drained && ctx.output == OutputFormat::Json;
        if json_rounds {
            // Each round is progress, on stderr; stdout gets the last one,
            // with whether it drained, as the run's one document.
            eprintln!("{doc}");
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
        let drained = total == 0;
        let timed_out = started.elapsed() >= Duration::from_secs(args.timeout);
        if json_rounds && (drained || timed_out) {
            doc["drained"] = drained.into();
            println!("{doc}");
        }
        if drained {
            eprintln!("drained: every group is at the log end");
            return Ok(ExitCode::SUCCESS);
        }
        if timed_out {
            eprintln!(
                "not drained after {} s: {total} message(s) still to process",
                args.timeout
            );
            return Ok(ExitCode::from(EXIT_PROBLEM));
        }
    }
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

fn render(rows: &[PartitionVerdict]) -> String {
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
