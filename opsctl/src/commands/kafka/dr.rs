//! `opsctl kafka dr`: the Kafka disaster-recovery runbook in order --
//! detect, restart, health, verify segments, replay the outbox, wait for the
//! consumers to drain, reconcile pending reservations -- with a step log,
//! stop-on-failure naming the next step, `--resume-from`, and a closing
//! report: the measured recovery time, events replayed, and events lost
//! (outbox rows written before the run that are still unpublished at its
//! end; it must be 0).
//!
//! ```text
//! opsctl kafka dr                                   # the plan
//! opsctl kafka dr --execute                         # run it
//! opsctl kafka dr --execute --resume-from replay    # after fixing a failed step
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::builder::TypedValueParser;
use clap::Args;
use serde::Serialize;

use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::OpsError;
use crate::ops;
use crate::ops::dr::{run_step, Counts, DrOptions, Step};
use crate::ops::guard::{self, GuardReport};
use crate::output;
use crate::runbook::{Runbook, StepLog};

/// `--resume-from`: one of the steps' names.
fn resume_step() -> impl clap::builder::TypedValueParser<Value = Step> {
    clap::builder::PossibleValuesParser::new(Step::names())
        .map(|name| Step::from_name(&name).unwrap_or(Step::Detect))
}

#[derive(Args, Debug)]
pub struct DrArgs {
    /// Start at this step (after fixing the one that failed).
    #[arg(long, value_parser = resume_step())]
    pub resume_from: Option<Step>,
    /// Restart even when the broker answers.
    #[arg(long)]
    pub force_restart: bool,
    /// Segment files to verify (where the broker's disk is reachable).
    #[arg(long, num_args = 1..)]
    pub segments: Vec<std::path::PathBuf>,
    /// Re-send every event written since this time even if marked sent (the
    /// broker lost its disk); RFC 3339.
    #[arg(long)]
    pub replay_since: Option<String>,
    /// Seconds to wait for the restart and the broker.
    #[arg(long, default_value_t = DEFAULT_RESTART_TIMEOUT)]
    pub restart_timeout: u64,
    /// Seconds to wait for the consumers to drain.
    #[arg(long, default_value_t = DEFAULT_DRAIN_TIMEOUT)]
    pub drain_timeout: u64,
    /// Tell customers: post the booking-delay notice first, end it last.
    #[arg(long)]
    pub notify_customers: bool,
    /// Guard sales: pause the waiting rooms' admission and hold every open
    /// hold before the first step; at the end (also when a step fails)
    /// extend those holds by the outage's length and resume admission.
    #[arg(long)]
    pub guard_sales: bool,
    /// Reconcile reservations PENDING for longer than this (30s, 5m, ...).
    #[arg(long, default_value = "1m", value_parser = crate::args::parse_age)]
    pub reconcile_older_than: Duration,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Serialize)]
struct DrReport {
    recovery_seconds: f64,
    events_replayed: u64,
    events_lost: i64,
    reservations_reconciled: usize,
    steps: Vec<StepLog>,
    /// What `--guard-sales` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    guard: Option<GuardReport>,
}

/// The command that resumes this run at `step`: the same environment and
/// the same flags (a resumed run without `--notify-customers` would leave
/// the customer notice up; one without `--env` would act on `local`).
fn resume_command(ctx: &Context, args: &DrArgs, step: &str) -> String {
    let mut words: Vec<String> = vec!["kafka".into(), "dr".into(), "--execute".into()];
    let mut flag = |name: &str, value: Option<String>| {
        words.push(format!("--{name}"));
        words.extend(value);
    };
    if args.execute.yes {
        flag("yes", None);
    }
    if args.notify_customers {
        flag("notify-customers", None);
    }
    if args.guard_sales {
        flag("guard-sales", None);
    }
    if args.force_restart {
        flag("force-restart", None);
    }
    for segment in &args.segments {
        flag("segments", Some(segment.display().to_string()));
    }
    if let Some(since) = &args.replay_since {
        flag("replay-since", Some(since.clone()));
    }
    if args.restart_timeout != DEFAULT_RESTART_TIMEOUT {
        flag("restart-timeout", Some(args.restart_timeout.to_string()));
    }
    if args.drain_timeout != DEFAULT_DRAIN_TIMEOUT {
        flag("drain-timeout", Some(args.drain_timeout.to_string()));
    }
    if args.reconcile_older_than != DEFAULT_RECONCILE_OLDER_THAN {
        let seconds = args.reconcile_older_than.as_secs().max(1);
        flag("reconcile-older-than", Some(format!("{seconds}s")));
    }
    flag("resume-from", Some(step.to_owned()));
    ctx.command_line(&words)
}

const DEFAULT_RESTART_TIMEOUT: u64 = 300;
const DEFAULT_DRAIN_TIMEOUT: u64 = 600;
const DEFAULT_RECONCILE_OLDER_THAN: Duration = Duration::from_secs(60);

/// A `--resume-from` step that tells customers needs `--notify-customers`.
fn check_resume(ctx: &Context, args: &DrArgs) -> Result<(), OpsError> {
    let Some(step) = args.resume_from.filter(|s| s.tells_customers()) else {
        return Ok(());
    };
    if args.notify_customers {
        return Ok(());
    }
    let with_notices = DrArgs {
        notify_customers: true,
        segments: args.segments.clone(),
        replay_since: args.replay_since.clone(),
        execute: args.execute.clone(),
        ..*args
    };
    Err(OpsError::usage(
        format!(
            "step `{}` is one of the customer-notice steps, which run only with --notify-customers",
            step.name()
        ),
        format!(
            "add --notify-customers: {}",
            resume_command(ctx, &with_notices, step.name())
        ),
    ))
}

fn replay_since(raw: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, OpsError> {
    raw.map(|raw| {
        chrono::DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| {
                OpsError::usage(
                    format!("--replay-since `{raw}` is not a time: {e}"),
                    "use RFC 3339, e.g. 2026-11-24T01:00:00Z",
                )
            })
    })
    .transpose()
}

pub async fn exec(ctx: &Context, args: DrArgs) -> Result<ExitCode, OpsError> {
    check_resume(ctx, &args)?;
    let first = args.resume_from.unwrap_or(Step::Detect);
    let steps: Vec<Step> = Step::ALL
        .into_iter()
        .filter(|s| args.notify_customers || !s.tells_customers())
        .collect();
    let planned: Vec<Step> = steps.iter().copied().filter(|s| *s >= first).collect();
    let options = DrOptions {
        force_restart: args.force_restart,
        segments: args.segments.clone(),
        restart_timeout: Duration::from_secs(args.restart_timeout),
        drain_timeout: Duration::from_secs(args.drain_timeout),
        reconcile_older_than: args.reconcile_older_than,
        replay_since: replay_since(args.replay_since.as_deref())?,
    };
    eprintln!("Kafka disaster recovery, {} step(s):", planned.len());
    if args.guard_sales {
        guard::check(ctx)?;
        eprintln!("  first, sales are guarded: admission paused, open holds kept open (extended by the outage's length at the end)");
    }
    for (i, s) in planned.iter().enumerate() {
        eprintln!("  {}. {:<16} {}", i + 1, s.name(), ctx.complete(s.plan()));
    }
    let Some(applying) = Change::new(ctx, "kafka dr", &args.execute).begin(
        "running the Kafka DR runbook",
        &serde_json::json!({"from": first, "steps": planned}),
        planned.len(),
    )?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let started = Instant::now();
    let budget = Duration::from_secs(args.restart_timeout + args.drain_timeout + 600);
    let guard = guard::begin_for(ctx, args.guard_sales, budget, &applying).await?;
    let marks = ops::outbox::marks(ctx).await?;
    // Resuming at `restart` is asking for it; otherwise a run without
    // `detect` assumes the broker answers (restart only with --force-restart).
    let mut broker_up = first != Step::Restart && !planned.contains(&Step::Detect);
    let mut book = Runbook::new(&applying, "dr", |step| {
        format!("fix it, then run `{}`", resume_command(ctx, &args, step))
    })
    .resume_from(planned.first().map(|s| s.name()));
    let mut counts = Counts::default();
    for step in steps {
        let run = run_step(ctx, &options, step, &mut broker_up, &mut counts);
        if let Err(e) = book.step(step.name(), run).await {
            drop(book);
            let guarded = guard::end(guard).await;
            if let Some(g) = &guarded {
                eprintln!("{}", g.summary());
            }
            return Err(applying.failed(
                serde_json::json!({"step": step, "error": e.to_string(), "guard": guarded}),
                e,
            ));
        }
    }
    let report = DrReport {
        guard: guard::end(guard).await,
        steps: book.into_log(),
        events_replayed: counts.events_replayed,
        reservations_reconciled: counts.reservations_reconciled,
        events_lost: settled_lost(&marks).await?,
        recovery_seconds: started.elapsed().as_secs_f64(),
    };
    applying.done(serde_json::to_value(&report).unwrap_or_default())?;
    output::emit(ctx.output, &report, || render(&report));
    Ok(if report.events_lost == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::error::EXIT_PROBLEM)
    })
}

/// The events written before the run still unpublished. The services'
/// relays may still be publishing rows they claimed before the replay
/// step (it skips rows a relay holds): they get a moment before anything
/// is called lost.
async fn settled_lost(marks: &ops::outbox::Marks) -> Result<i64, OpsError> {
    let settle = Instant::now() + Duration::from_secs(30);
    loop {
        let n = ops::outbox::lost(marks).await?;
        if n == 0 || Instant::now() >= settle {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn render(report: &DrReport) -> String {
    let rows: Vec<Vec<String>> = report
        .steps
        .iter()
        .map(|s| {
            vec![
                s.step.clone(),
                if s.ok { "ok" } else { "failed" }.to_owned(),
                format!("{:.1} s", s.seconds),
                s.detail.clone(),
            ]
        })
        .collect();
    format!(
        "{}recovered in {:.1} s: {} event(s) replayed, {} lost, {} reservation(s) reconciled\n{}",
        output::table(&["STEP", "OUTCOME", "TIME", "DETAIL"], &rows),
        report.recovery_seconds,
        report.events_replayed,
        report.events_lost,
        report.reservations_reconciled,
        report
            .guard
            .as_ref()
            .map(|g| g.summary() + "\n")
            .unwrap_or_default()
    )
}
