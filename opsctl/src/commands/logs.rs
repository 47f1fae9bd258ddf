//! `opsctl logs retention plan|apply`: every `/ecs/ticketing/<env>/*` log group
//! gets the retention of its class (7 days operational, 90 days payment; the
//! classes live in `ticketing_catalog::logs`), groups created without a
//! retention are caught, `--exclude` patterns are left alone, and the monthly
//! saving is estimated from the stored bytes.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::logs::{self, retention_plan};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum LogsCommand {
    /// Retention of the platform's log groups.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Show each group's retention against its class; exit 1 on drift.
    Plan(RetentionArgs),
    /// Set the retention of the groups that drifted (with --execute).
    Apply(ApplyArgs),
}

#[derive(Args, Debug)]
pub struct RetentionArgs {
    /// Leave groups matching this pattern alone (`*` matches anything);
    /// repeatable.
    #[arg(long)]
    pub exclude: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub async fn exec(ctx: &Context, command: LogsCommand) -> Result<ExitCode, OpsError> {
    let LogsCommand::Retention { command } = command;
    match command {
        RetentionCommand::Plan(args) => {
            let groups = retention_plan(ctx, &args.exclude).await?.groups;
            output::emit(ctx.output, &groups, || logs::render(&groups));
            Ok(if groups.iter().any(|g| g.change) {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        RetentionCommand::Apply(args) => {
            let planned = retention_plan(ctx, &args.retention.exclude).await?;
            driver::drive(ctx, &planned, &args.execute).await
        }
    }
}
