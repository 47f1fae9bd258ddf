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
use crate::change::{Applying, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::cost::Prices;
use crate::ops::reserved::aws::SavingsPlanReport;
pub use crate::ops::reserved::aws::{plan, Clients, Purchased};
pub use crate::ops::reserved::aws::{savings_plan, savings_plan_for};
use crate::ops::reserved::plan::{Line, Plan};
use crate::output;
use crate::runbook::Runbook;

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

fn render(plan: &Plan) -> String {
    let rows: Vec<Vec<String>> = plan
        .lines
        .iter()
        .map(|l| {
            vec![
                format!("{:?}", l.engine).to_lowercase(),
                l.class.clone(),
                format!("{}/{}", l.covered.min(l.needed), l.needed),
                if l.to_buy > 0 {
                    format!("BUY {} as {}", l.to_buy, l.reservation_id)
                } else {
                    "covered".into()
                },
                l.offering
                    .as_ref()
                    .map_or("-".into(), |o| format!("{} (${}/h)", o.id, o.hourly)),
                format!("{:.2}", l.on_demand_monthly),
                format!("{:.2}", l.after_monthly),
                l.problem.clone().unwrap_or_default(),
            ]
        })
        .collect();
    format!(
        "{}monthly: ${:.2} on demand -> ${:.2} with the reservations\n",
        output::table(
            &[
                "ENGINE",
                "CLASS",
                "COVERED",
                "ACTION",
                "OFFERING",
                "ON-DEMAND $/MO",
                "RESERVED $/MO",
                "PROBLEM"
            ],
            &rows
        ),
        plan.before_monthly,
        plan.after_monthly
    )
}

/// Buys each line, one runbook step a purchase: in order, the first
/// failure stops the rest (recorded on the change); a run repeated buys
/// only what is missing. The reservations bought.
async fn buy_all(
    clients: &Clients,
    buys: &[&Line],
    applying: &Applying,
) -> Result<Vec<String>, OpsError> {
    let mut book = Runbook::new(applying, "reserved", |_| {
        "run the command again: what was bought is covered; check the AWS credentials and region"
            .to_owned()
    });
    let mut bought = Vec::new();
    for line in buys.iter().copied() {
        let Some(offering) = &line.offering else {
            continue;
        };
        let mut new = false;
        let name = format!("buy {}", line.reservation_id);
        let step = book.step(&name, async {
            let (action, detail) = match clients
                .buy(line.engine, &offering.id, &line.reservation_id, line.to_buy)
                .await
            {
                Ok(()) => {
                    new = true;
                    ("bought", format!("{} x {} bought", line.to_buy, line.class))
                }
                // Our id already taken: the purchase was made before.
                Err(e) if e.contains("AlreadyExists") => {
                    ("already-bought", "bought by an earlier run".to_owned())
                }
                Err(e) => return Err(e),
            };
            applying
                .progress(serde_json::json!({"action": action, "id": line.reservation_id, "class": line.class, "count": line.to_buy, "offering": offering.id}))
                .map_err(|e| e.to_string())?;
            Ok(detail)
        });
        if let Err(e) = step.await {
            let detail = serde_json::json!({"id": line.reservation_id, "error": e.to_string(), "bought_before": bought});
            return Err(applying.failed(detail, e));
        }
        if new {
            bought.push(line.reservation_id.clone());
        }
    }
    Ok(bought)
}

/// Buys what `plan` is missing. Stops at the first failure; what was bought
/// before it is in the audit log and covered on the next run.
pub async fn purchase(
    ctx: &Context,
    clients: &Clients,
    args: &PurchaseArgs,
    now: DateTime<Utc>,
) -> Result<(Plan, Option<Purchased>), OpsError> {
    let plan = plan(clients, args.plan.profile, now).await?;
    eprint!("{}", render(&plan));
    // A class with no offering (ElastiCache T2 reservations can no longer
    // be bought, for one) is reported; the other purchases go on.
    for p in plan.lines.iter().filter_map(|l| l.problem.as_deref()) {
        eprintln!("warning: {p}; that line is not bought (the others are)");
    }
    let buys: Vec<&Line> = plan
        .lines
        .iter()
        .filter(|l| l.to_buy > 0 && l.offering.is_some())
        .collect();
    let covered: Vec<String> = plan
        .lines
        .iter()
        .filter(|l| l.to_buy == 0)
        .map(|l| l.class.clone())
        .collect();
    let Some(applying) = Change::new(ctx, "reserved purchase", &args.execute)
        .prints_its_own_result()
        .begin("buying reserved capacity", &buys, buys.len())?
    else {
        // Nothing to buy is an outcome (everything covered); a dry run is not.
        let outcome = buys.is_empty().then_some(Purchased {
            bought: vec![],
            already_covered: covered,
        });
        return Ok((plan, outcome));
    };
    let bought = buy_all(clients, &buys, &applying).await?;
    applying.done(serde_json::json!({"bought": bought}))?;
    Ok((
        plan,
        Some(Purchased {
            bought,
            already_covered: covered,
        }),
    ))
}

pub async fn exec(ctx: &Context, command: ReservedCommand) -> Result<ExitCode, OpsError> {
    match command {
        ReservedCommand::Plan(args) => {
            let clients = Clients::from_context(ctx).await?;
            let plan = plan(&clients, args.profile, Utc::now()).await?;
            output::emit(ctx.output, &plan, || render(&plan));
            Ok(if plan.lines.iter().any(|l| l.to_buy > 0) {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        ReservedCommand::Purchase(args) => {
            let clients = Clients::from_context(ctx).await?;
            let (_, outcome) = purchase(ctx, &clients, &args, Utc::now()).await?;
            if let Some(outcome) = outcome {
                output::emit(ctx.output, &outcome, || {
                    format!(
                        "bought: {}\nalready covered: {}\n",
                        if outcome.bought.is_empty() {
                            "nothing".into()
                        } else {
                            outcome.bought.join(", ")
                        },
                        outcome.already_covered.join(", ")
                    )
                });
            }
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
