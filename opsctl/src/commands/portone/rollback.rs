//! `opsctl portone rollback` and `opsctl portone switch-back`: the design's
//! emergency procedure for production-mode payment failures (above 50 %).
//!
//! Rollback finds the last known-good revision of `payment-service-<env>`
//! (not just revision - 1: revisions whose rollout failed are skipped),
//! updates `payment-service` on `ticketing-<env>` to it with a forced new
//! deployment, optionally switches `ticketing/<env>/portone` to the test
//! keys kept in `ticketing/<env>/portone-test` (the live keys are saved to
//! `ticketing/<env>/portone-live` first), waits until the service is stable
//! (a circuit-breaker rollback counts as failure) and reports each step with
//! its duration. Switch-back puts the live keys back and restarts the tasks.
//!
//! A revision is known-good when its `ticketing:rollout` tag says
//! `COMPLETED` (the deploy pipeline tags it once the service is stable;
//! rollback tags the revision it restores). It is bad when the tag says
//! `FAILED` or a deployment of it is in state `FAILED`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use ticketing_catalog::ecs as on_ecs;
use ticketing_catalog::portone as names;

use crate::change::{Applying, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::OpsError;
use crate::ops::ecs::{redeploy, tag, wait_stable};
use crate::ops::payments::FailureRate;
use crate::ops::portone::{put_secret, save_live_keys};
use crate::ops::portone_rollback::{observe, Request, Target};
use crate::output::{self, OutputFormat};
use crate::runbook::{Runbook, StepLog};

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// Roll back to this revision instead of the last known-good one (it
    /// must not be one whose rollout failed).
    #[arg(long)]
    pub to_revision: Option<i32>,
    /// Also switch the secret to the test-mode keys and restart the tasks.
    #[arg(long)]
    pub test_keys: bool,
    /// Tell customers first: post the payment-paused notice (`portone
    /// switch-back --notify-customers` ends it).
    #[arg(long)]
    pub notify_customers: bool,
    /// Guard sales: pause the waiting rooms' admission and keep every open
    /// hold open while payments are rolled back; at the end (also when a
    /// step fails) extend those holds by the outage's length and resume.
    #[arg(long)]
    pub guard_sales: bool,
    /// How long to wait for the service to become stable, in seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// The window, in minutes, of the payment failure rate the plan shows
    /// next to the runbook's trigger.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub rate_window: u32,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

/// A step of the run, with its duration.
#[derive(Serialize, Debug, Clone)]
pub struct Report {
    pub env: String,
    pub service: String,
    pub cluster: String,
    pub from: String,
    pub to: String,
    pub skipped: Vec<(i32, String)>,
    pub test_keys: bool,
    /// The measured payment failure rate and whether the runbook's trigger
    /// is met (None when CloudWatch could not be read).
    pub failure_rate: Option<FailureRate>,
    pub executed: bool,
    pub steps: Vec<StepLog>,
    /// What `--guard-sales` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<crate::ops::guard::GuardReport>,
}

impl Report {
    /// A run on `service` of `cluster` from task definition `from` to
    /// `to`, before anything is done.
    pub fn before(env: &str, service: &str, cluster: &str, from: &str, to: &str) -> Report {
        Report {
            env: env.into(),
            service: service.into(),
            cluster: cluster.into(),
            from: from.into(),
            to: to.into(),
            skipped: vec![],
            test_keys: false,
            failure_rate: None,
            executed: false,
            steps: vec![],
            guard: None,
        }
    }
}

/// One line on the failure rate and the runbook's trigger.
pub fn describe_rate(rate: &FailureRate) -> String {
    match rate.percent {
        Some(p) => format!(
            "payment failure rate over the last {} min in {}: {p:.1} % ({} failed, {} paid); the runbook's trigger (above {} %) is {}",
            rate.minutes,
            rate.env,
            rate.failures,
            rate.successes,
            rate.trigger_percent,
            if rate.trigger_met { "MET" } else { "not met" }
        ),
        None => format!(
            "no payments in {} over the last {} min: the runbook's trigger (above {} %) is not met",
            rate.env, rate.minutes, rate.trigger_percent
        ),
    }
}

pub(super) fn render(r: &Report) -> String {
    let mut out = format!(
        "{} on {} ({}): {} -> {}{}\n",
        r.service,
        r.cluster,
        r.env,
        r.from.rsplit('/').next().unwrap_or(&r.from),
        r.to.rsplit('/').next().unwrap_or(&r.to),
        if r.test_keys {
            ", switching to the test keys"
        } else {
            ""
        }
    );
    for (n, why) in &r.skipped {
        out.push_str(&format!("  skipped revision {n}: {why}\n"));
    }
    if let Some(rate) = &r.failure_rate {
        out.push_str(&format!("  {}\n", describe_rate(rate)));
    }
    for s in &r.steps {
        out.push_str(&format!(
            "  {:<28} {:>6.1}s  {}  {}\n",
            s.step,
            s.seconds,
            if s.ok { "ok" } else { "FAILED" },
            s.detail
        ));
    }
    if let Some(g) = &r.guard {
        out.push_str(&format!("  {}\n", g.summary()));
    }
    out
}

/// Prints the report of a run and ends its change with the outcome.
pub(super) fn finish(
    format: OutputFormat,
    applying: Applying,
    report: &Report,
    result: Result<(), OpsError>,
) -> Result<(), OpsError> {
    let detail = serde_json::to_value(report).unwrap_or_default();
    output::emit(format, report, || render(report));
    match result {
        Ok(()) => applying.done(detail),
        Err(e) => Err(applying.failed(detail, e)),
    }
}

/// What to do after a step of a rollback or switch-back failed.
pub(super) fn after_failure(_step: &str) -> String {
    "the steps before it stand (see the audit log)".to_owned()
}

/// Measured, not assumed: the rate the alarm computes, next to the
/// runbook's trigger. An emergency rollback does not wait on it.
async fn measured_rate(ctx: &Context, window: u32) -> Option<FailureRate> {
    match crate::ops::payments::failure_rate_of(ctx, window).await {
        Ok(rate) => Some(rate),
        Err(e) => {
            eprintln!("warning: the payment failure rate could not be read ({e}); the rollback does not depend on it");
            None
        }
    }
}

fn print_plan(report: &Report, args: &RollbackArgs) {
    eprint!("{}", render(report));
    if args.guard_sales {
        eprintln!("first, sales are guarded: admission paused, open holds kept open (extended by the outage's length at the end)");
    }
    if args.notify_customers {
        eprintln!(
            "first, customers are told: the {} notice (`opsctl notice post`)",
            ticketing_catalog::notices::PAYMENT_PAUSED.name
        );
    }
}

pub async fn rollback(ctx: &Context, args: RollbackArgs) -> Result<ExitCode, OpsError> {
    let request = Request {
        to_revision: args.to_revision,
        test_keys: args.test_keys,
        guard_sales: args.guard_sales,
    };
    let target = observe(ctx, &request).await?;
    let mut report = Report {
        skipped: target.choice.skipped.clone(),
        test_keys: args.test_keys,
        failure_rate: measured_rate(ctx, args.rate_window).await,
        ..Report::before(
            target.env,
            target.host.name(),
            &target.cluster,
            &target.from,
            &target.choice.target.arn,
        )
    };
    print_plan(&report, &args);
    let Some(applying) = Change::new(ctx, "portone rollback", &args.execute)
        .prints_its_own_result()
        .begin("rolling back the payment service", &report, 1)?
    else {
        output::emit(ctx.output, &report, String::new);
        return Ok(ExitCode::SUCCESS);
    };
    report.executed = true;
    let budget = Duration::from_secs(args.timeout + 600);
    let guard = crate::ops::guard::begin_for(ctx, args.guard_sales, budget, &applying).await?;
    let mut book = Runbook::new(&applying, "rollback", after_failure);
    let result = apply(ctx, &target, &args, &mut book).await;
    report.steps = book.into_log();
    report.guard = crate::ops::guard::end(guard).await;
    finish(ctx.output, applying, &report, result)?;
    if args.test_keys {
        eprintln!(
            "payments now run on PortOne's test keys; once fixed, switch back: opsctl --env {} portone switch-back --execute",
            target.env
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The rollback's steps, in order, stopping at the first that fails.
async fn apply(
    ctx: &Context,
    t: &Target,
    args: &RollbackArgs,
    book: &mut Runbook<'_>,
) -> Result<(), OpsError> {
    if args.notify_customers {
        book.step("tell customers", async {
            crate::ops::notices::post_template(ctx, &ticketing_catalog::notices::PAYMENT_PAUSED)
                .await
                .map(|n| format!("notice {} posted (payment-paused)", n.id))
                .map_err(|e| e.to_string())
        })
        .await?;
    }
    book.step("mark the running revision failed", async {
        tag(&t.ecs, &t.from, on_ecs::ROLLOUT_FAILED)
            .await
            .map(|()| {
                format!(
                    "{} tagged FAILED",
                    t.from.rsplit('/').next().unwrap_or(&t.from)
                )
            })
    })
    .await?;
    if let Some(test) = &t.test_keys {
        let main = names::secret_name(t.env);
        let live = names::live_keys_secret_name(t.env);
        book.step("save the live keys", save_live_keys(&t.sm, &main, &live))
            .await?;
        book.step("switch to the test keys", async {
            put_secret(&t.sm, &main, test)
                .await
                .map(|()| format!("{main} now holds the test keys"))
        })
        .await?;
    }
    let to = &t.choice.target;
    book.step("update the service", async {
        redeploy(&t.ecs, &t.cluster, t.host.name(), Some(&to.arn))
            .await
            .map(|()| format!("forced a new deployment of revision {}", to.revision))
    })
    .await?;
    let timeout = Duration::from_secs(args.timeout);
    book.step(
        "wait until stable",
        wait_stable(&t.ecs, &t.cluster, t.host.name(), &to.arn, timeout, |_| {}),
    )
    .await?;
    book.step("record the revision as good", async {
        tag(&t.ecs, &to.arn, on_ecs::ROLLOUT_COMPLETED)
            .await
            .map(|()| "tagged COMPLETED".to_owned())
    })
    .await
}
