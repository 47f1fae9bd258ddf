//! `opsctl portone switch-back`: once the cause of a rollback is fixed,
//! the live keys saved in `ticketing/<env>/portone-live` go back into
//! `ticketing/<env>/portone`, the payment tasks restart, and the command
//! waits until the service is stable (optionally ending the customers'
//! payment-paused notice). The rollback itself is in `rollback.rs`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::OpsError;
use crate::ops::portone_rollback::runbook::PaymentRunbook;

#[derive(Args, Debug)]
pub struct SwitchBackArgs {
    /// End the payment-paused notice to customers once stable.
    #[arg(long)]
    pub notify_customers: bool,
    /// How long to wait for the service to become stable, in seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub async fn switch_back(ctx: &Context, args: SwitchBackArgs) -> Result<ExitCode, OpsError> {
    let timeout = Duration::from_secs(args.timeout);
    let switch = PaymentRunbook::switch_back(ctx, args.notify_customers, timeout).await?;
    driver::run(ctx, &switch, &args.execute).await
}
