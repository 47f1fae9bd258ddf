//! `opsctl alarms plan|apply [billing|payment|kafka|all]`: the platform's
//! CloudWatch alarms and their SNS topics, as `ticketing_catalog::alarms`
//! defines them. Plan reads the live alarms and shows every difference
//! (a changed threshold, a missing action) as a field-by-field diff; apply
//! creates the topics it needs and puts only the alarms that differ, so a
//! second run changes nothing.
//!
//! Billing metrics exist only in us-east-1: billing alarms always go there,
//! and an explicit `--region` elsewhere is refused.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use ticketing_config::Profile;

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::alarms::apply::{render, AlarmsApply};
use crate::ops::alarms::plan::plan;
use crate::ops::alarms::spec::Group;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum AlarmsCommand {
    /// Show each alarm against its definition; exit 1 on drift.
    Plan(PlanArgs),
    /// Create the SNS topics and put the alarms that differ (with --execute).
    Apply(ApplyArgs),
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Which alarms.
    #[arg(default_value = "all", value_parser = crate::args::one_of::<Group>(&Group::NAMES))]
    pub group: Group,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

async fn apply(ctx: &Context, args: ApplyArgs) -> Result<ExitCode, OpsError> {
    let (plan, clients) = plan(ctx, args.plan.group).await?;
    // Billing alarms are the account's: applied as a prod change only.
    let billing_apply = ctx
        .command_line(&["alarms", "apply", "billing", "--execute"])
        .replace(&format!("--env {}", ctx.profile.as_str()), "--env prod");
    let plan = match (ctx.profile, args.plan.group) {
        (Profile::Prod, _) => plan,
        (_, Group::Billing) => {
            return Err(OpsError::usage(
                "the billing alarms are the AWS account's, not an environment's: they are applied as a prod change (its confirmation, its audit trail)",
                format!("run `{billing_apply}`"),
            ))
        }
        (_, _) => {
            eprintln!("the billing alarms are the account's and left out here; apply them with `{billing_apply}`");
            plan.without_billing()
        }
    };
    driver::drive(ctx, &AlarmsApply::new(plan, clients), &args.execute).await
}

pub async fn exec(ctx: &Context, command: AlarmsCommand) -> Result<ExitCode, OpsError> {
    match command {
        AlarmsCommand::Plan(args) => {
            let (plan, _) = plan(ctx, args.group).await?;
            output::emit(ctx.output, &plan, || render(&plan));
            let unheard: Vec<&str> = plan
                .topics
                .iter()
                .filter(|t| t.subscribers == 0)
                .map(|t| t.topic.as_str())
                .collect();
            if !unheard.is_empty() {
                eprintln!(
                    "no confirmed subscriber on: {}; deploy the observability layer with --param AlertEmail=... (or AlertHttpsEndpoint, AlertSmsNumber) and confirm the subscription",
                    unheard.join(", ")
                );
            }
            Ok(if plan.changes() || !unheard.is_empty() {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        AlarmsCommand::Apply(args) => apply(ctx, args).await,
    }
}
