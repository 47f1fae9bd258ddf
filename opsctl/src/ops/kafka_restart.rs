//! `kafka restart`: restart the broker (SSM Run Command on the broker
//! instances in AWS, the configured command locally) and wait until it
//! answers; a [`Procedure`] of one action, and a step of the DR runbook.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::operation::{Procedure, Stopped};
use crate::runbook::Runbook;

/// Where and how the broker is restarted.
#[derive(Serialize, Clone)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum RestartPlan {
    Ssm {
        region: String,
        document: &'static str,
        target_tag: String,
        command: &'static str,
    },
    Local {
        command: String,
    },
}

#[derive(Serialize)]
pub struct RestartReport {
    pub plan: RestartPlan,
    pub command_seconds: f64,
    pub broker_answered_after_seconds: f64,
    pub instances: Vec<String>,
}

pub fn restart_plan(ctx: &Environment) -> Result<RestartPlan, OpsError> {
    use ticketing_catalog::aws;
    Ok(match (&ctx.settings.stack, ctx.profile) {
        (Some(stack), ticketing_config::Profile::Local) => RestartPlan::Local {
            command: stack.kafka_restart_command.clone(),
        },
        _ => RestartPlan::Ssm {
            region: ctx.region.clone(),
            document: aws::RUN_SHELL_DOCUMENT,
            target_tag: format!("{}={}", aws::KAFKA_BROKER_OF_TAG_KEY, ctx.profile.as_str()),
            command: aws::KAFKA_RESTART_COMMAND,
        },
    })
}

/// Restarts and waits for the broker; the caller's change records it (the
/// DR runbook calls it as a step).
pub async fn restart_now(
    ctx: &Environment,
    plan: RestartPlan,
    timeout: std::time::Duration,
) -> Result<RestartReport, OpsError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let outcome = match &plan {
        RestartPlan::Local { command } => super::kafka::run_local(command, timeout)
            .await
            .map(|()| Vec::new()),
        RestartPlan::Ssm { .. } => crate::aws::restart_broker(ctx, deadline).await,
    };
    let instances = outcome?;
    let command_seconds = started.elapsed().as_secs_f64();
    let waited = Instant::now();
    loop {
        match ticketing_kafka::cluster_info(&ctx.settings.kafka).await {
            Ok(_) => break,
            Err(e) if Instant::now() >= deadline => {
                return Err(OpsError::Failed(anyhow::anyhow!(
                    "the restart command ran but the broker did not answer within {} s: {e}; check the broker's log",
                    timeout.as_secs()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let report = RestartReport {
        plan,
        command_seconds,
        broker_answered_after_seconds: waited.elapsed().as_secs_f64(),
        instances,
    };
    Ok(report)
}

/// A planned restart.
pub struct Restart<'a> {
    env: &'a Environment,
    plan: RestartPlan,
    timeout: Duration,
}

impl<'a> Restart<'a> {
    pub fn plan(env: &'a Environment, timeout: Duration) -> Result<Restart<'a>, OpsError> {
        Ok(Restart {
            env,
            plan: restart_plan(env)?,
            timeout,
        })
    }
}

impl Procedure for Restart<'_> {
    type Report = RestartReport;

    fn command(&self) -> &'static str {
        "kafka restart"
    }

    fn doing(&self) -> String {
        "restarting the Kafka broker".into()
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::to_value(&self.plan).unwrap_or_default()
    }

    fn changes(&self) -> usize {
        1
    }

    fn render(&self) -> String {
        let then = format!(
            "then wait up to {} s for {}",
            self.timeout.as_secs(),
            self.env.settings.kafka.bootstrap_servers
        );
        match &self.plan {
            RestartPlan::Ssm { region, document, target_tag, command } => format!(
                "plan: run `{command}` with SSM {document} on the instances tagged {target_tag} in {region}, {then}\n"
            ),
            RestartPlan::Local { command } => format!("plan: run `{command}`, {then}\n"),
        }
    }

    fn label(&self) -> &'static str {
        "restart"
    }

    fn resume(&self, _step: &str) -> String {
        "check the broker's log, then run the restart again".into()
    }

    /// One action, no steps: the restart is recorded by its end.
    async fn run(&self, book: &mut Runbook<'_>) -> Result<RestartReport, Stopped<RestartReport>> {
        let waiting = book.spinner(
            &format!(
                "restarting the broker and waiting for {}",
                self.env.settings.kafka.bootstrap_servers
            ),
            Some(self.timeout),
        );
        let restarted = restart_now(self.env, self.plan.clone(), self.timeout).await;
        waiting.finish_and_clear();
        restarted.map_err(|e| {
            let detail = serde_json::json!({"error": e.to_string()});
            Stopped::by(e, detail)
        })
    }

    fn render_report(report: &RestartReport) -> String {
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
    }
}
