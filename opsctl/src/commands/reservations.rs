//! `opsctl reservations reconcile`: reservations still `PENDING` past a
//! threshold, and orders the payment service still has `READY` (whatever
//! their reservation became: a lost webhook outlives the hold), are
//! checked with PortOne. A payment PortOne knows is re-announced
//! to the payment service's webhook through the gateway -- the same path
//! PortOne's own notification takes, so verification, events and the saga
//! do the rest (no state is poked directly). Unpaid ones are reported; the
//! expiry sweep cancels them at their expiry.
//!
//! ```text
//! opsctl reservations reconcile --older-than 15m            # plan
//! opsctl reservations reconcile --older-than 15m --execute  # re-announce
//! opsctl reservations reconcile --since 24h                 # and PortOne's ledger
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::args::parse_age;
use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::OpsError;
use crate::ops::reconcile::Scope;
use crate::ops::reconcile_run::Reconcile;

#[derive(Subcommand, Debug)]
pub enum ReservationsCommand {
    /// Check reservations still PENDING and orders still READY after
    /// `--older-than` with PortOne; re-announce the settled ones through
    /// the normal webhook path.
    Reconcile(ReconcileArgs),
}

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// Only reservations created longer ago than this (e.g. 30s, 15m, 2h).
    #[arg(long, default_value = "15m", value_parser = parse_age)]
    pub older_than: Duration,
    /// At most this many reservations per run.
    #[arg(long, default_value_t = 500)]
    pub limit: i64,
    /// Also walk PortOne's list of payments paid in this window (e.g. 24h,
    /// 7d) and re-announce each one no order accounts for (paid twice,
    /// paid after a declined attempt, paid without a prepared order).
    #[arg(long, value_parser = parse_age)]
    pub since: Option<Duration>,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub async fn exec(ctx: &Context, command: ReservationsCommand) -> Result<ExitCode, OpsError> {
    match command {
        ReservationsCommand::Reconcile(args) => reconcile(ctx, args).await,
    }
}

async fn reconcile(ctx: &Context, args: ReconcileArgs) -> Result<ExitCode, OpsError> {
    let scope = Scope {
        older_than: args.older_than,
        limit: args.limit,
        since: args.since,
    };
    let reconcile = Reconcile::observe(ctx, scope).await?;
    driver::run(ctx, &reconcile, &args.execute).await
}
