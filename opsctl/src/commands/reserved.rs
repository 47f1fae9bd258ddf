//! `opsctl reserved plan|purchase|savings-plan`: Reserved Instances for the
//! database and the cache (1 year, No Upfront), and the Compute Savings Plan
//! recommendation for Fargate.
//!
//! What to reserve comes from the size profile's footprint
//! (`ticketing_catalog::footprint`); what is already reserved from the live
//! inventory. A reservation is never bought twice: active and
//! payment-pending reservations of the class count as coverage, and every
//! purchase carries a deterministic id (`ticketing-rds-ri-2027`), so a run
//! repeated after a partial failure finds what the first one bought.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use crate::args::SizeProfile;
use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::cost::Prices;
use crate::ops::reserved::aws::SavingsPlanReport;
pub use crate::ops::reserved::aws::{plan, Clients, Purchased};
pub use crate::ops::reserved::aws::{savings_plan, savings_plan_for};
use crate::ops::reserved::plan::Plan;
use crate::ops::reserved::purchase::{render_plan, Purchase};
use crate::{driver, output};

#[derive(Subcommand, Debug)]
pub enum ReservedCommand {
    /// Offerings, current inventory and the before/after monthly cost;
    /// exit 1 when something is not covered.
    Plan(PlanArgs),
    /// Buy what the plan says is missing (with --execute), never twice.
    Purchase(PurchaseArgs),
    /// Cost Explorer's Compute Savings Plan recommendation for Fargate
    /// (1 year, No Upfront) and its effect on the monthly bill.
    SavingsPlan(PlanArgs),
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[arg(long, value_parser = crate::args::one_of::<SizeProfile>(SizeProfile::NAMES), default_value = "mvp")]
    pub profile: SizeProfile,
}

#[derive(Args, Debug)]
pub struct PurchaseArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

/// Buys what the plan for `args`' profile is missing, one runbook step a
/// purchase (`ops::reserved::purchase`); prints the outcome. The plan, and
/// the outcome (none for a dry run).
pub async fn purchase(
    ctx: &Context,
    clients: &Clients,
    args: &PurchaseArgs,
    now: DateTime<Utc>,
) -> Result<(Plan, Option<Purchased>), OpsError> {
    let buying = Purchase::observe(clients, args.plan.profile, now).await?;
    let outcome = driver::applied(ctx, &buying, &args.execute).await?;
    Ok((buying.plan, outcome))
}

pub async fn exec(ctx: &Context, command: ReservedCommand) -> Result<ExitCode, OpsError> {
    match command {
        ReservedCommand::Plan(args) => {
            let clients = Clients::from_context(ctx).await?;
            let plan = plan(&clients, args.profile, Utc::now()).await?;
            output::emit(ctx.output, &plan, || render_plan(&plan));
            Ok(if plan.lines.iter().any(|l| l.to_buy > 0) {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        ReservedCommand::Purchase(args) => {
            let clients = Clients::from_context(ctx).await?;
            purchase(ctx, &clients, &args, Utc::now()).await?;
            Ok(ExitCode::SUCCESS)
        }
        ReservedCommand::SavingsPlan(args) => {
            let prices = Prices::load()?;
            let report = savings_plan_for(ctx, &prices, args.profile).await?;
            output::emit(ctx.output, &report, || render_savings(&report));
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn render_savings(r: &SavingsPlanReport) -> String {
    format!(
        "Compute Savings Plan ({}, {}): commit ${:.3}/hour\n\
         on-demand compute now     ${:.2}/month\n\
         estimated saving          ${:.2}/month ({:.1} %)\n\
         after the commitment      ${:.2}/month\n\
         the cost model assumes {:.0} % off Fargate's ${:.2}/month\n\
         buying a Savings Plan is done in the console or by the CI pipeline after review; opsctl only reads the recommendation\n",
        r.term,
        r.payment_option,
        r.hourly_commitment,
        r.current_on_demand_monthly,
        r.estimated_monthly_savings,
        r.estimated_savings_percent,
        r.monthly_after,
        r.model_discount_percent,
        r.model_fargate_monthly
    )
}
