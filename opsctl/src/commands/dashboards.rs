//! `opsctl dashboards plan|apply`: the CloudWatch dashboards in
//! `dashboards/*.json`, named `ticketing-<env>-<file>`, pushed with
//! PutDashboard. A dashboard that references a `Custom/Ticketing` metric the
//! code does not emit (`ticketing_catalog::metrics`) is refused, by name,
//! before anything is sent. `{{region}}` in a file becomes the region.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::change::{self, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::ops::dashboards::{self, Item, Planned};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum DashboardsCommand {
    /// Compare each dashboard file with the deployed one; exit 1 on drift.
    Plan(PlanArgs),
    /// Put the dashboards that differ (with --execute).
    Apply(ApplyArgs),
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The folder of dashboard JSON files.
    #[arg(long, default_value = "dashboards")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

async fn plan(ctx: &Context, args: &PlanArgs) -> Result<Planned, CliError> {
    dashboards::plan(ctx, &crate::args::in_repository(&args.dir)?).await
}

fn render(items: &[Item]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i.dashboard.clone(),
                i.file.clone(),
                i.widgets.to_string(),
                if i.action == "ok" {
                    "ok".into()
                } else {
                    i.action.to_uppercase()
                },
            ]
        })
        .collect();
    output::table(&["DASHBOARD", "FILE", "WIDGETS", "ACTION"], &rows)
}

pub async fn exec(ctx: &Context, command: DashboardsCommand) -> Result<ExitCode, CliError> {
    match command {
        DashboardsCommand::Plan(args) => {
            let items = plan(ctx, &args).await?.items;
            output::emit(ctx.output, &items, || render(&items));
            Ok(if items.iter().any(|i| i.action != "ok") {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        DashboardsCommand::Apply(args) => {
            let planned = plan(ctx, &args.plan).await?;
            eprint!("{}", render(&planned.items));
            let changes: Vec<&Item> = planned.items.iter().filter(|i| i.action != "ok").collect();
            let Some(applying) = Change::new(ctx, "dashboards apply", &args.execute).begin(
                "putting CloudWatch dashboards",
                &changes,
                changes.len(),
            )?
            else {
                return Ok(change::unchanged(ctx.output));
            };
            for item in &changes {
                if let Err(problem) = dashboards::put(&planned, item).await {
                    return Err(applying.failed(
                        serde_json::json!({"dashboard": item.dashboard, "error": problem}),
                        format!("putting dashboard {} failed: {problem}", item.dashboard),
                    ));
                }
            }
            applying.finish(
                ctx.output,
                changes.len(),
                format!("put {} dashboard(s)\n", changes.len()),
            )
        }
    }
}
