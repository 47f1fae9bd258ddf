//! `opsctl portone switch-back`: once the cause of a rollback is fixed,
//! the live keys saved in `ticketing/<env>/portone-live` go back into
//! `ticketing/<env>/portone`, the payment tasks restart, and the command
//! waits until the service is stable (optionally ending the customers'
//! payment-paused notice). The rollback itself is in `rollback.rs`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ticketing_catalog::portone as names;

use super::rollback::{after_failure, finish, Report};
use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::OpsError;
use crate::ops::ecs::{describe, redeploy, wait_stable};
use crate::ops::portone::{payment_service, put_secret, read_keys, PaymentService};
use crate::output;
use crate::runbook::Runbook;

#[derive(Args, Debug)]
pub struct SwitchBackArgs {
    /// End the payment-paused notice to customers once stable.
    #[arg(long)]
    pub notify_customers: bool,
    /// How long to wait for the service to become stable, in seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub async fn switch_back(ctx: &Context, args: SwitchBackArgs) -> Result<ExitCode, OpsError> {
    let PaymentService {
        env,
        ecs,
        sm,
        cluster,
        host,
    } = payment_service(ctx).await?;
    let main = names::secret_name(env);
    let live = names::live_keys_secret_name(env);
    let live_keys = read_keys(&sm, &live, "production").await?;
    let service = describe(&ecs, &cluster, host.name()).await?;
    let running = service.task_definition().unwrap_or_default().to_owned();
    let mut report = Report::before(env, host.name(), &cluster, &running, &running);
    eprintln!(
        "{main} <- the live keys saved in {live}; restart {} on {cluster}{}",
        host.name(),
        if args.notify_customers {
            "; then end the payment-paused notice to customers"
        } else {
            ""
        }
    );
    let Some(applying) = Change::new(ctx, "portone switch-back", &args.execute)
        .prints_its_own_result()
        .begin(
            "switching PortOne back to live keys",
            &serde_json::json!({"secret": main, "from": live}),
            1,
        )?
    else {
        output::emit(ctx.output, &report, String::new);
        return Ok(ExitCode::SUCCESS);
    };
    report.executed = true;
    let mut book = Runbook::new(&applying, "switch-back", after_failure);
    let result = async {
        book.step("put the live keys back", async {
            put_secret(&sm, &main, &live_keys)
                .await
                .map(|()| format!("{main} holds the live keys"))
        })
        .await?;
        book.step("restart the tasks", async {
            redeploy(&ecs, &cluster, host.name(), None)
                .await
                .map(|()| "forced a new deployment".to_owned())
        })
        .await?;
        book.step(
            "wait until stable",
            wait_stable(
                &ecs,
                &cluster,
                host.name(),
                &running,
                Duration::from_secs(args.timeout),
                |_| {},
            ),
        )
        .await?;
        if args.notify_customers {
            book.step("end the customer notice", async {
                crate::ops::notices::end_template(ctx, &ticketing_catalog::notices::PAYMENT_PAUSED)
                    .await
                    .map(|ended| format!("{} payment-paused notice(s) ended", ended.len()))
                    .map_err(|e| e.to_string())
            })
            .await?;
        }
        Ok(())
    }
    .await;
    report.steps = book.into_log();
    finish(ctx.output, applying, &report, result)?;
    Ok(ExitCode::SUCCESS)
}
