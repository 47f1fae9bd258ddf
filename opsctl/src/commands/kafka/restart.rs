//! `opsctl kafka restart`: restart the broker (SSM in AWS, the configured
//! command locally) and wait until it answers.

use std::process::ExitCode;

use super::RestartArgs;
use crate::change::Change;
use crate::context::Context;
use crate::error::OpsError;
use crate::ops::kafka::{restart_now, restart_plan, RestartPlan};
use crate::output;

pub async fn restart(ctx: &Context, args: RestartArgs) -> Result<ExitCode, OpsError> {
    let plan = restart_plan(ctx)?;
    match &plan {
        RestartPlan::Ssm { region, document, target_tag, command } => eprintln!(
            "plan: run `{command}` with SSM {document} on the instances tagged {target_tag} in {region}, then wait up to {} s for {}",
            args.timeout, ctx.settings.kafka.bootstrap_servers
        ),
        RestartPlan::Local { command } => eprintln!(
            "plan: run `{command}`, then wait up to {} s for {}",
            args.timeout, ctx.settings.kafka.bootstrap_servers
        ),
    }
    let Some(applying) = Change::new(ctx, "kafka restart", &args.execute).begin(
        "restarting the Kafka broker",
        &plan,
        1,
    )?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let limit = std::time::Duration::from_secs(args.timeout);
    let waiting = output::spinner(
        &format!(
            "restarting the broker and waiting for {}",
            ctx.settings.kafka.bootstrap_servers
        ),
        Some(limit),
    );
    let restarted = restart_now(ctx, plan, limit).await;
    waiting.finish_and_clear();
    let report = match restarted {
        Ok(report) => report,
        Err(e) => {
            return Err(applying.failed(serde_json::json!({"error": e.to_string()}), e));
        }
    };
    applying.done(serde_json::to_value(&report).unwrap_or_default())?;
    output::emit(ctx.output, &report, || {
        format!(
            "restart command finished in {:.1} s{}; the broker answered {:.1} s after it\n",
            report.command_seconds,
            if report.instances.is_empty() {
                String::new()
            } else {
                format!(" on {}", report.instances.join(", "))
            },
            report.broker_answered_after_seconds
        )
    });
    Ok(ExitCode::SUCCESS)
}
