//! `opsctl dashboards plan|apply`: the CloudWatch dashboards in
//! `dashboards/*.json`, named `ticketing-<env>-<file>`, pushed with
//! PutDashboard. A dashboard that references a `Custom/Ticketing` metric the
//! code does not emit (`ticketing_catalog::metrics`) is refused, by name,
//! before anything is sent. `{{region}}` in a file becomes the region.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::dashboards::{self, Planned};
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

async fn plan(ctx: &Context, args: &PlanArgs) -> Result<Planned, OpsError> {
    dashboards::plan(ctx, &crate::args::in_repository(&args.dir)?).await
}

pub async fn exec(ctx: &Context, command: DashboardsCommand) -> Result<ExitCode, OpsError> {
    match command {
        DashboardsCommand::Plan(args) => {
            let items = plan(ctx, &args).await?.items;
            output::emit(ctx.output, &items, || dashboards::render(&items));
            Ok(if items.iter().any(|i| i.action != "ok") {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        DashboardsCommand::Apply(args) => {
            let planned = plan(ctx, &args.plan).await?;
            driver::drive(ctx, &planned, &args.execute).await
        }
    }
}
