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
use ticketing_messaging::replay::{self, BacklogRow, ReplayOptions, ReplayPlan, Selection};

use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::outbox::{pool, replay_all, replay_plans, services, Plans, ReplayStopped};
use crate::output;
use crate::output::OutputFormat;

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

#[derive(Serialize)]
struct PlanReport<'a> {
    execute: bool,
    plans: Vec<(&'static str, &'a ReplayPlan)>,
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
    let plans = replay_plans(ctx, args.service, &selection).await?;
    let report = PlanReport {
        execute: args.execute.execute,
        plans: plans.iter().map(|(s, _, p)| (s.as_str(), p)).collect(),
    };
    let total: i64 = plans.iter().map(|(_, _, p)| p.events).sum();
    let json = ctx.output == OutputFormat::Json;
    let plan_document = serde_json::json!({"plan": report});
    if json && args.execute.execute {
        // Progress, on stderr: stdout keeps the run's one document.
        eprintln!("{plan_document}");
    } else if json {
        println!("{plan_document}");
    } else {
        print_plan(&plans, &selection, total);
    }
    let Some(applying) = Change::new(ctx, "outbox replay", &args.execute)
        .prints_its_own_result()
        .begin(
            "re-sending outbox events",
            &serde_json::json!({"selection": selection, "events": total, "rate": args.rate}),
            usize::try_from(total).unwrap_or_default(),
        )?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let options = ReplayOptions {
        rate_per_second: args.rate,
        stall_timeout: Duration::from_secs(args.stall_timeout.max(1)),
        ..ReplayOptions::default()
    };
    let published = match replay_with_progress(ctx, &plans, &options, json).await {
        Ok(published) => published,
        Err(stop) => {
            let (service, e) = (stop.service, &stop.error);
            let detail = serde_json::json!({"service": service.as_str(), "error": e, "published_before": stop.published_before});
            return Err(applying.failed(detail, format!("{service}: {e}")));
        }
    };
    let detail = serde_json::json!({"selection": selection, "published": published});
    applying.done(detail)?;
    // One document on stdout (the plan and what was sent); the progress
    // went to stderr as JSON lines.
    match ctx.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"plan": plan_document["plan"], "published": published})
        ),
        OutputFormat::Table | OutputFormat::Markdown => println!("re-sent {published} event(s)"),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plan(plans: &Plans, selection: &Selection, total: i64) {
    let rows: Vec<Vec<String>> = plans
        .iter()
        .flat_map(|(s, _, p)| {
            p.by_type.iter().map(move |t| {
                vec![
                    s.as_str().to_owned(),
                    t.event_type.clone(),
                    t.topic.clone(),
                    t.events.to_string(),
                ]
            })
        })
        .collect();
    eprintln!(
        "plan: re-send {total} event(s){}",
        match selection {
            Selection::Unsent => " not yet marked sent".to_owned(),
            Selection::Range { since, until } =>
                format!(" written from {since} to {until}, sent or not (consumers deduplicate)"),
        }
    );
    print!(
        "{}",
        output::table(&["SERVICE", "EVENT TYPE", "TOPIC", "EVENTS"], &rows)
    );
}

/// Re-sends the plans' events: a progress bar a service for people, the
/// progress as JSON lines on stderr for `--output json`.
async fn replay_with_progress(
    ctx: &Context,
    plans: &Plans,
    options: &ReplayOptions,
    json: bool,
) -> Result<u64, ReplayStopped> {
    // indicatif hides the bar when stderr is not a terminal (CI logs).
    let mut bar: Option<(String, indicatif::ProgressBar)> = None;
    let published = replay_all(ctx, plans, options, |p| {
        if json {
            let line = serde_json::json!({"progress": p});
            eprintln!("{line}");
            return;
        }
        if bar.as_ref().is_none_or(|(schema, _)| *schema != p.schema) {
            if let Some((_, done)) = bar.take() {
                done.finish();
            }
            bar = Some((p.schema.clone(), output::progress_bar(&p.schema, p.total)));
        }
        if let Some((_, b)) = &bar {
            b.set_position(p.published);
            b.set_message(format!("{:.0} events/s", p.events_per_second));
        }
    })
    .await;
    if let Some((_, done)) = bar {
        done.finish();
    }
    published
}
