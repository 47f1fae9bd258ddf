//! `opsctl lock status|break`: the environment's change lock.
//!
//! ```text
//! opsctl --env prod lock status            # who holds it, since when, until when
//! opsctl --env prod lock break --execute   # remove a lock its holder left behind
//! ```
//!
//! Every change in dev and prod holds the lock while it applies (see
//! `lock/`); a run that died frees it when its lease runs out. `break`
//! is for when that cannot wait: it is a change like any other (plan,
//! `--execute`, confirmation in prod, audited), and removes only the lock
//! it showed, not one taken again since.

use std::process::ExitCode;

use clap::Subcommand;

use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::lock::{Holder, LockTable};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum LockCommand {
    /// Who holds the environment's change lock, for which command, since
    /// when and until when; exit 1 when it is held.
    Status,
    /// Remove the lock (one its holder left behind): plan first,
    /// `--execute` removes it; audited.
    Break(ExecuteArgs),
}

pub async fn exec(ctx: &Context, command: LockCommand) -> Result<ExitCode, OpsError> {
    let table = LockTable::of(ctx).ok_or_else(|| {
        OpsError::usage(
            "the local stack has no change lock (one machine, one engineer)",
            "pass --env dev or --env prod",
        )
    })?;
    let holder = table.status().map_err(|e| {
        OpsError::usage(
            e.to_string(),
            "check the AWS credentials and region for this environment (dynamodb:GetItem)",
        )
    })?;
    match command {
        LockCommand::Status => {
            let report = serde_json::json!({
                "env": table.env(),
                "table": table.table(),
                "held": holder.is_some(),
                "holder": holder,
            });
            output::emit(ctx.output, &report, || describe(&table, holder.as_ref()));
            Ok(if holder.is_some() {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        LockCommand::Break(args) => {
            let plan = serde_json::json!({
                "env": table.env(),
                "action": "break",
                "holder": holder,
            });
            if ctx.output == output::OutputFormat::Table {
                eprintln!("{}", describe(&table, holder.as_ref()));
            }
            let changes = usize::from(holder.is_some());
            let begun = Change::new(ctx, "lock break", &args)
                .without_lock()
                .prints_its_own_result()
                .begin("breaking the change lock", &plan, changes)?;
            let (Some(applying), Some(seen)) = (begun, holder) else {
                output::emit(
                    ctx.output,
                    &serde_json::json!({"plan": plan, "changed": 0}),
                    String::new,
                );
                return Ok(ExitCode::SUCCESS);
            };
            match table.break_lock(&seen) {
                Ok(true) => {
                    let outcome = serde_json::json!({"changed": 1, "broke": seen});
                    applying.done(outcome.clone())?;
                    output::emit(ctx.output, &outcome, || {
                        format!("broke the {} change lock held by {seen}", table.env())
                    });
                    Ok(ExitCode::SUCCESS)
                }
                Ok(false) => {
                    applying.done(serde_json::json!({"changed": 0, "why": "the lock changed hands or was released since it was shown"}))?;
                    Err(OpsError::usage(
                        "the lock changed hands or was released since it was shown; nothing was removed",
                        format!("see who holds it now: `{}`", ctx.command_line(&["lock", "status"])),
                    ))
                }
                Err(e) => Err(applying.failed(serde_json::json!({"error": e.to_string()}), e)),
            }
        }
    }
}

fn describe(table: &LockTable, holder: Option<&Holder>) -> String {
    match holder {
        None => format!(
            "the {} change lock is free ({})",
            table.env(),
            table.table()
        ),
        Some(h) => format!(
            "the {} change lock is held by {h}; {} {}",
            table.env(),
            if h.stale {
                "its lease ran out at"
            } else {
                "its lease runs to"
            },
            h.expires.format("%Y-%m-%d %H:%M:%S UTC")
        ),
    }
}
