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

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::OpsError;
use crate::ops::portone_rollback::runbook::{PaymentRunbook, RollbackOptions};
use crate::ops::portone_rollback::Request;

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

pub async fn rollback(ctx: &Context, args: RollbackArgs) -> Result<ExitCode, OpsError> {
    let options = RollbackOptions {
        request: Request {
            to_revision: args.to_revision,
            test_keys: args.test_keys,
            guard_sales: args.guard_sales,
        },
        notify_customers: args.notify_customers,
        timeout: Duration::from_secs(args.timeout),
        rate_window: args.rate_window,
    };
    let rollback = PaymentRunbook::rollback(ctx, options).await?;
    driver::run(ctx, &rollback, &args.execute).await
}
