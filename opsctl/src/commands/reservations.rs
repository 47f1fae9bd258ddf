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
use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::reconcile::{apply, plan, Line, Scope};
use crate::output;

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

fn render(lines: &[Line]) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            vec![
                l.reservation_id.to_string(),
                l.found.replace('_', " "),
                format!("{} s", l.age_seconds),
                l.amount.to_string(),
                l.portone.clone(),
                l.action.to_owned(),
                l.result.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    output::table(
        &[
            "RESERVATION",
            "FOUND AS",
            "AGE",
            "AMOUNT",
            "PORTONE",
            "ACTION",
            "RESULT",
        ],
        &rows,
    )
}

async fn reconcile(ctx: &Context, args: ReconcileArgs) -> Result<ExitCode, OpsError> {
    let scope = Scope {
        older_than: args.older_than,
        limit: args.limit,
        since: args.since,
    };
    let mut lines = plan(ctx, &scope).await?;
    let to_announce = lines.iter().filter(|l| l.action == "announce").count();
    eprintln!(
        "plan: {} reservation(s) PENDING for over {} s; {to_announce} known to PortOne will be re-announced to the payment service",
        lines.len(),
        args.older_than.as_secs()
    );
    let Some(applying) = Change::new(ctx, "reservations reconcile", &args.execute)
        .prints_its_own_result()
        .begin(
        "re-announcing payments",
        &serde_json::json!({"older_than_seconds": args.older_than.as_secs(), "since_seconds": args.since.map(|s| s.as_secs()), "pending": lines.len(), "to_announce": to_announce, "reservations": lines}),
        to_announce,
    )?
    else {
        output::emit(ctx.output, &lines, || render(&lines));
        return Ok(ExitCode::SUCCESS);
    };
    let summary = apply(ctx, &mut lines).await?;
    let detail = serde_json::to_value(&summary).unwrap_or_default();
    if summary.failed == 0 {
        applying.done(detail)?;
    } else {
        applying.ended_with_failures(detail)?;
    }
    output::emit(
        ctx.output,
        &serde_json::json!({"summary": summary, "reservations": lines}),
        || {
            format!(
                "{}re-announced {}, unpaid {}, failed {}\n",
                render(&lines),
                summary.announced,
                summary.unpaid,
                summary.failed
            )
        },
    );
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}
