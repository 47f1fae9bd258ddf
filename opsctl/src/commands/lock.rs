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

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::lock::LockTable;
use crate::ops::lock_break::{describe, read_holder, Break};
use crate::{driver, output};

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
    match command {
        LockCommand::Status => {
            let holder = read_holder(&table)?;
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
            let breaking = Break::observe(ctx, table)?;
            driver::run(ctx, &breaking, &args).await
        }
    }
}
