//! One layer of `infra deploy` as a [`Procedure`] of one action: execute
//! its change set and wait for the stack to settle. Each layer is its own
//! change, planned once the layers before it stand (a layer's change set
//! imports what they export) and confirmed on its own.

use std::time::Duration;

use super::render::render;
use super::{Layer, StackPlan, StackRequest, Stacks};
use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::operation::{Procedure, Stopped};
use crate::runbook::Runbook;

/// One layer, planned.
pub struct LayerDeploy<'a> {
    stacks: &'a Stacks,
    pub plan: StackPlan,
    timeout: Duration,
}

impl<'a> LayerDeploy<'a> {
    /// Creates `layer`'s change set and reads what it changes.
    pub async fn observe(
        env: &Environment,
        stacks: &'a Stacks,
        request: &StackRequest,
        layer: Layer,
    ) -> Result<LayerDeploy<'a>, OpsError> {
        Ok(LayerDeploy {
            stacks,
            plan: stacks.planned(env, request, layer).await?,
            timeout: request.timeout,
        })
    }

    /// Deletes the change set of a layer that was not deployed.
    pub async fn discard(&self) {
        self.stacks.discard(&self.plan).await;
    }
}

impl Procedure for LayerDeploy<'_> {
    /// The stack's status once it settled.
    type Report = String;

    fn command(&self) -> &'static str {
        "infra deploy"
    }

    fn doing(&self) -> String {
        format!("deploying {}", self.plan.stack)
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::to_value(&self.plan).unwrap_or_default()
    }

    fn changes(&self) -> usize {
        usize::from(self.plan.change_set.is_some())
    }

    fn render(&self) -> String {
        render(std::slice::from_ref(&self.plan))
    }

    fn label(&self) -> &'static str {
        "infra"
    }

    fn resume(&self, _step: &str) -> String {
        "the layers before it stand; fix the cause, then deploy again".into()
    }

    /// `infra deploy` prints every layer's plan once, at its end.
    fn prints_report(&self) -> bool {
        false
    }

    fn prints_its_own_result(&self) -> bool {
        true
    }

    /// One action, no steps: the stack's end is the record.
    async fn run(&self, book: &mut Runbook<'_>) -> Result<String, Stopped<String>> {
        let stack = &self.plan.stack;
        let Some(set) = &self.plan.change_set else {
            return Ok("no change set".into());
        };
        let waiting = book.spinner(&format!("deploying {stack}"), Some(self.timeout));
        let executed = self.stacks.execute(stack, set, self.timeout).await;
        waiting.finish_and_clear();
        match executed {
            Ok(status) => {
                let status = status.as_str().to_owned();
                book.tell(
                    Some(&format!("{stack}: {status}")),
                    &serde_json::json!({"stack": stack, "status": status}),
                );
                Ok(status)
            }
            Err(e) => {
                let detail = serde_json::json!({"stack": stack, "error": e});
                let error = OpsError::Failed(anyhow::anyhow!(
                    "deploying {stack} failed: {e}; the layers before it stand"
                ));
                Err(Stopped::by(error, detail))
            }
        }
    }

    fn render_report(status: &String) -> String {
        format!("{status}\n")
    }
}
