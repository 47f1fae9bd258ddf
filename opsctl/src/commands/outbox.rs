//! `opsctl outbox status|replay`: the outbox backlog of every publishing
//! service, and re-sending through the services' own relay code.
//!
//! ```text
//! opsctl outbox status
//! opsctl outbox replay                                   # plan: the unsent backlog
//! opsctl outbox replay --execute                         # re-send it
//! opsctl outbox replay --since 2026-11-24T01:00:00Z --until 2026-11-24T02:00:00Z --rate 200 --execute
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;
use ticketing_catalog::ServiceName;
use ticketing_messaging::replay::{self, BacklogRow, ReplayOptions, Selection};

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::outbox::{pool, services};
use crate::ops::outbox_replay::Replay;
use crate::{driver, output};

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// Unsent events per service, event type and age.
    Status(StatusArgs),
    /// Re-send unsent events now, or a time range even if marked sent (after a
    /// broker lost its disk). Prints the plan; `--execute` sends.
    Replay(ReplayArgs),
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Only this service (event-service, reservation-service, payment-service).
    #[arg(long)]
    pub service: Option<ServiceName>,
    /// Exit 1 when the oldest unsent event is older than this many seconds.
    #[arg(long)]
    pub max_age: Option<f64>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Only this service.
    #[arg(long)]
    pub service: Option<ServiceName>,
    /// Start of the time range (RFC 3339, e.g. 2026-11-24T01:00:00Z); with
    /// `--until`, re-sends every event written in the range, sent or not.
    #[arg(long, requires = "until")]
    pub since: Option<String>,
    /// End of the time range (exclusive).
    #[arg(long, requires = "since")]
    pub until: Option<String>,
    /// At most this many events per second.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Give up when the broker acknowledges nothing for this many seconds.
    #[arg(long, default_value_t = 60)]
    pub stall_timeout: u64,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub async fn exec(ctx: &Context, command: OutboxCommand) -> Result<ExitCode, OpsError> {
    match command {
        OutboxCommand::Status(args) => status(ctx, args).await,
        OutboxCommand::Replay(args) => replay_cmd(ctx, args).await,
    }
}

#[derive(Serialize)]
struct ServiceBacklog {
    service: &'static str,
    unsent: i64,
    oldest_age_seconds: Option<f64>,
    by_type: Vec<BacklogRow>,
}

async fn status(ctx: &Context, args: StatusArgs) -> Result<ExitCode, OpsError> {
    let mut report = Vec::new();
    for service in services(args.service)? {
        let rows = replay::backlog(&pool(ctx, service)?)
            .await
            .with_context(|| {
                format!("reading the outbox of {service}; is PostgreSQL up? (opsctl status)")
            })?;
        report.push(ServiceBacklog {
            service: service.as_str(),
            unsent: rows.iter().map(|r| r.unsent).sum(),
            oldest_age_seconds: rows
                .iter()
                .filter_map(|r| r.oldest_age_seconds)
                .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b)))),
            by_type: rows,
        });
    }
    output::emit(ctx.output, &report, || {
        let mut rows = Vec::new();
        for s in &report {
            if s.by_type.is_empty() {
                rows.push(vec![
                    s.service.to_owned(),
                    "-".into(),
                    "-".into(),
                    "0".into(),
                    "-".into(),
                ]);
            }
            for r in &s.by_type {
                rows.push(vec![
                    s.service.to_owned(),
                    r.event_type.clone(),
                    r.topic.clone(),
                    r.unsent.to_string(),
                    r.oldest_age_seconds
                        .map_or("-".into(), |a| format!("{a:.1} s")),
                ]);
            }
        }
        output::table(
            &["SERVICE", "EVENT TYPE", "TOPIC", "UNSENT", "OLDEST"],
            &rows,
        )
    });
    let too_old = args.max_age.is_some_and(|max| {
        report
            .iter()
            .any(|s| s.oldest_age_seconds.is_some_and(|age| age > max))
    });
    Ok(if too_old {
        ExitCode::from(EXIT_PROBLEM)
    } else {
        ExitCode::SUCCESS
    })
}

fn parse_time(flag: &str, raw: &str) -> Result<DateTime<Utc>, OpsError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            OpsError::usage(
                format!("{flag} `{raw}` is not a time: {e}"),
                "use RFC 3339 with a zone, e.g. 2026-11-24T01:00:00Z",
            )
        })
}

async fn replay_cmd(ctx: &Context, args: ReplayArgs) -> Result<ExitCode, OpsError> {
    let selection = match (&args.since, &args.until) {
        (Some(since), Some(until)) => {
            Selection::range(parse_time("--since", since)?, parse_time("--until", until)?)
                .map_err(|e| OpsError::usage(e.to_string(), "swap --since and --until"))?
        }
        _ => Selection::Unsent,
    };
    if args.rate == Some(0) {
        return Err(OpsError::usage(
            "--rate must be at least 1 event per second",
            "omit --rate for no limit",
        ));
    }
    let options = ReplayOptions {
        rate_per_second: args.rate,
        stall_timeout: Duration::from_secs(args.stall_timeout.max(1)),
        ..ReplayOptions::default()
    };
    let replay =
        Replay::observe(ctx, args.service, selection, options, args.execute.execute).await?;
    driver::run(ctx, &replay, &args.execute).await
}
