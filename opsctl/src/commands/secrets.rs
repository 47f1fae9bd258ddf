//! `opsctl secrets plan|apply`: the secrets every task reads before it can
//! start -- `ticketing/<env>/app` (signing keys, reCAPTCHA) and
//! `ticketing/<env>/portone` (the PortOne keys) -- exist and hold every key
//! the task definitions name. `apply --execute` creates a missing one: the
//! signing keys are random (Secrets Manager's GetRandomPassword), the keys
//! others issue come from opsctl's own environment (`RECAPTCHA_SECRET`,
//! `PORTONE_IMP_CODE`, `PORTONE_API_KEY`, `PORTONE_API_SECRET`, and
//! `PORTONE_MODE`, `test` or `production`: PortOne's keys do not say). An
//! existing secret is never rewritten. No value is ever printed or audited.

use std::process::ExitCode;

use clap::Subcommand;

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::secrets::{self, Action, SecretPlan};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum SecretsCommand {
    /// Whether each secret the tasks read exists and is complete; exit 1
    /// when one is missing or incomplete.
    Plan,
    /// Create the missing secrets (with --execute); never rewrites one.
    Apply(ExecuteArgs),
}

pub async fn exec(ctx: &Context, command: SecretsCommand) -> Result<ExitCode, OpsError> {
    let observed = secrets::observe(ctx).await?;
    let plans = &observed.plans;
    let blocked = plans.iter().filter(|p| p.action == Action::Blocked).count();
    let to_create: Vec<&SecretPlan> = plans
        .iter()
        .filter(|p| p.action == Action::Create)
        .collect();
    let execute = match command {
        SecretsCommand::Plan => {
            output::emit(ctx.output, plans, || secrets::render(plans));
            return Ok(if blocked + to_create.len() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_PROBLEM)
            });
        }
        SecretsCommand::Apply(execute) => execute,
    };
    let blocked_exit = || {
        if blocked > 0 {
            eprintln!("{blocked} secret(s) BLOCKED: see the notes above; the tasks will not start until they are complete");
            ExitCode::from(EXIT_PROBLEM)
        } else {
            ExitCode::SUCCESS
        }
    };
    let code = driver::drive(ctx, &observed, &execute).await?;
    Ok(if blocked > 0 { blocked_exit() } else { code })
}
