//! `opsctl logs retention plan|apply`: every `/ecs/ticketing/<env>/*` log group
//! gets the retention of its class (7 days operational, 90 days payment; the
//! classes live in `ticketing_catalog::logs`), groups created without a
//! retention are caught, `--exclude` patterns are left alone, and the monthly
//! saving is estimated from the stored bytes.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::change::{self, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::ops::logs::{retention_plan, set_retention, GroupPlan};
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

fn render(groups: &[GroupPlan]) -> String {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.group.clone(),
                g.current_days
                    .map_or("never expires".into(), |d| format!("{d} d")),
                format!("{} d", g.wanted_days),
                if g.excluded {
                    "excluded".into()
                } else if g.change {
                    "CHANGE".into()
                } else {
                    "ok".into()
                },
                output::usd(g.monthly_saving_usd),
            ]
        })
        .collect();
    let saving: f64 = groups.iter().map(|g| g.monthly_saving_usd).sum();
    format!(
        "{}estimated saving ${}/month\n",
        output::table(
            &["LOG GROUP", "NOW", "CLASS", "ACTION", "SAVING $/MONTH"],
            &rows
        ),
        output::usd(saving)
    )
}

pub async fn exec(ctx: &Context, command: LogsCommand) -> Result<ExitCode, CliError> {
    let LogsCommand::Retention { command } = command;
    match command {
        RetentionCommand::Plan(args) => {
            let groups = retention_plan(ctx, &args.exclude).await?.groups;
            output::emit(ctx.output, &groups, || render(&groups));
            Ok(if groups.iter().any(|g| g.change) {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        RetentionCommand::Apply(args) => {
            let planned = retention_plan(ctx, &args.retention.exclude).await?;
            let changes: Vec<&GroupPlan> = planned.groups.iter().filter(|g| g.change).collect();
            eprint!("{}", render(&planned.groups));
            let Some(applying) = Change::new(ctx, "logs retention apply", &args.execute).begin(
                "changing log retention",
                &changes,
                changes.len(),
            )?
            else {
                return Ok(change::unchanged(ctx.output));
            };
            for g in &changes {
                if let Err(error) = set_retention(&planned, g).await {
                    return Err(applying.failed(
                        serde_json::json!({"group": g.group, "error": error}),
                        format!("setting the retention of {} failed: {error}", g.group),
                    ));
                }
            }
            applying.finish(
                ctx.output,
                changes.len(),
                format!("set the retention of {} log group(s)\n", changes.len()),
            )
        }
    }
}
