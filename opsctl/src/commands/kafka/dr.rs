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
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::Args;

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::OpsError;
use crate::ops::dr::runbook::DrRun;
use crate::ops::dr::{DrOptions, Step};

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
    let options = DrOptions {
        force_restart: args.force_restart,
        segments: args.segments.clone(),
        restart_timeout: Duration::from_secs(args.restart_timeout),
        drain_timeout: Duration::from_secs(args.drain_timeout),
        reconcile_older_than: args.reconcile_older_than,
        replay_since: replay_since(args.replay_since.as_deref())?,
    };
    let run = DrRun::plan(
        ctx,
        options,
        args.notify_customers,
        args.resume_from,
        args.guard_sales,
        |step| format!("fix it, then run `{}`", resume_command(ctx, &args, step)),
    )?;
    driver::run(ctx, &run, &args.execute).await
}
