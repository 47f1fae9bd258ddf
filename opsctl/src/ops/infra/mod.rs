//! The CloudFormation layers of infra/templates: their stacks, change sets
//! (what a deploy would change), and waiting for a stack to settle.
//! `Layer` parses from its name (the CLI lists `Layer::NAMES`).

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::StackStatus;
use serde::Serialize;

use crate::aws::failed;
use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::profile::SizeProfile;

mod change_set;
pub mod deploying;
pub mod drift;
mod layer;
mod params;
pub mod render;
pub mod replacement;

pub use layer::Layer;

use change_set::ChangeSetRequest;
use params::pass_kafka_bootstrap;
pub use params::{
    declared_parameters, given_parameters, parameter_sources, ParamSource,
    KAFKA_BOOTSTRAP_PARAMETER,
};

#[derive(Serialize, Debug, Clone)]
pub struct Change {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    pub replacement: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct StackPlan {
    pub stack: String,
    pub layer: Layer,
    pub exists: bool,
    pub changes: Vec<Change>,
    /// Parameters not given that keep the stack's previous value.
    pub kept: Vec<String>,
    /// Services that run a revision the stack did not make (compute only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<drift::Drift>,
    #[serde(skip)]
    pub change_set: Option<String>,
    /// No stack existed before this change set made one (to hold it).
    #[serde(skip)]
    pub made_the_stack: bool,
    /// What the plan assumed (a value another stack will give).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

pub fn stack_name(env: &str, layer: Layer) -> String {
    format!("ticketing-{env}-{}", layer.name())
}

/// The stack `name` as DescribeStacks gives it, or `None` when there is no
/// such stack (DescribeStacks answers "does not exist"); other errors are
/// errors.
pub async fn describe_stack(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Result<Option<aws_sdk_cloudformation::types::Stack>, OpsError> {
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e) => {
            let text = crate::aws::sdk_error(&e).to_string();
            if text.contains("does not exist") {
                Ok(None)
            } else {
                Err(failed("CloudFormation DescribeStacks failed", text))
            }
        }
    }
}

/// A stack's status and the parameter keys it has, or `None` when there is
/// no such stack.
pub async fn stack_state(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Result<Option<(StackStatus, Vec<String>)>, OpsError> {
    Ok(describe_stack(cfn, name).await?.and_then(|s| {
        let keys = s
            .parameters()
            .iter()
            .filter_map(|p| p.parameter_key().map(str::to_owned))
            .collect();
        s.stack_status().cloned().map(|status| (status, keys))
    }))
}

/// What a change set is made from: the templates, the size profile and the
/// parameters given.
pub struct StackRequest {
    pub dir: std::path::PathBuf,
    /// Sent as `SizeProfile` only when given.
    pub profile: Option<SizeProfile>,
    pub params: Vec<(String, String)>,
    pub timeout: Duration,
    /// A deploy (values another stack must give are required) rather than
    /// a plan (they may be missing: the plan says what it assumed).
    pub deploying: bool,
}

/// Creates a change set for one layer and waits until it is ready.
pub async fn change_set(
    ctx: &Environment,
    cfn: &aws_sdk_cloudformation::Client,
    args: &StackRequest,
    layer: Layer,
) -> Result<StackPlan, OpsError> {
    let env = ctx.profile.as_str();
    let path = args.dir.join(format!("{}.yaml", layer.name()));
    let body = std::fs::read_to_string(&path).map_err(|e| {
        OpsError::usage(
            format!("cannot read {}: {e}", path.display()),
            "pass --dir with the folder of the templates (infra/templates in the repository)",
        )
    })?;
    let declared = declared_parameters(&body);
    let mut given = given_parameters(env, &declared, args.profile, &args.params);
    let mut notes = pass_kafka_bootstrap(cfn, env, &declared, &mut given, args.deploying).await?;
    let name = stack_name(env, layer);
    let state = stack_state(cfn, &name).await?;
    if let Some((StackStatus::RollbackComplete, _)) = &state {
        return Err(OpsError::usage(
            format!(
                "{name} is in ROLLBACK_COMPLETE: its creation failed and was rolled back, and CloudFormation cannot update such a stack"
            ),
            format!(
                "read why in its events (aws cloudformation describe-stack-events --stack-name {name}), then delete it (aws cloudformation delete-stack --stack-name {name}) and deploy again"
            ),
        ));
    }
    let exists = matches!(&state, Some((s, _)) if *s != StackStatus::ReviewInProgress);
    let made_the_stack = state.is_none();
    let stack_has = state
        .as_ref()
        .filter(|_| exists)
        .map(|(_, keys)| keys.as_slice());
    let sources = params::sources_in(env, &declared, stack_has, &given);
    params::require_kafka_artifact(env, &sources)?;
    if exists {
        notes.extend(params::predicted_replacements(&body, &given));
    }
    let kept: Vec<String> = sources
        .iter()
        .filter(|(_, s)| *s == ParamSource::Previous)
        .map(|(k, _)| k.clone())
        .collect();
    let set_name = format!("opsctl-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
    let request = ChangeSetRequest {
        stack: &name,
        name: &set_name,
        layer,
        exists,
        made_the_stack,
        body: &body,
        params: change_set::parameters(sources),
    };
    let made = change_set::make(cfn, request, args.timeout).await?;
    Ok(StackPlan {
        change_set: made.is_some().then_some(set_name),
        changes: made.unwrap_or_default(),
        stack: name,
        layer,
        exists,
        kept,
        drift: vec![],
        made_the_stack,
        notes,
    })
}

/// The environment's CloudFormation stacks, as `infra plan` and `infra
/// deploy` reach them.
pub struct Stacks {
    sdk: aws_config::SdkConfig,
    cfn: aws_sdk_cloudformation::Client,
}

impl Stacks {
    pub async fn connect(ctx: &Environment) -> Result<Stacks, OpsError> {
        let sdk = crate::aws::sdk_config(ctx).await?;
        Ok(Stacks {
            cfn: aws_sdk_cloudformation::Client::new(&sdk),
            sdk,
        })
    }

    /// A layer's change set, with the compute stack's drift from what
    /// `deploy` and `portone rollback` moved the services to (once the
    /// stack exists).
    pub async fn planned(
        &self,
        ctx: &Environment,
        request: &StackRequest,
        layer: Layer,
    ) -> Result<StackPlan, OpsError> {
        let mut plan = change_set(ctx, &self.cfn, request, layer).await?;
        if plan.layer == Layer::Compute && plan.exists {
            let env = ctx.profile.as_str();
            plan.drift = drift::compute_drift(&self.sdk, env, &plan.stack, &plan.changes).await?;
        }
        Ok(plan)
    }

    /// Removes what a plan created ([`discard`]).
    pub async fn discard(&self, plan: &StackPlan) {
        discard(&self.cfn, plan).await;
    }

    /// Executes a plan's change set ([`execute`]).
    pub async fn execute(
        &self,
        stack: &str,
        change_set: &str,
        timeout: Duration,
    ) -> Result<StackStatus, String> {
        execute(&self.cfn, stack, change_set, timeout).await
    }
}

/// Executes a computed change set and waits until its stack settles: the
/// stack's final status, or why it did not get there.
pub async fn execute(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    change_set: &str,
    timeout: Duration,
) -> Result<StackStatus, String> {
    cfn.execute_change_set()
        .stack_name(stack)
        .change_set_name(change_set)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error(&e).to_string())?;
    wait_stack(cfn, stack, timeout).await
}

/// Removes what a plan created: the change set, and the empty stack it
/// made to hold it (never a stack someone else's change set is waiting in).
pub async fn discard(cfn: &aws_sdk_cloudformation::Client, plan: &StackPlan) {
    if let Some(set) = &plan.change_set {
        let _ = cfn
            .delete_change_set()
            .stack_name(&plan.stack)
            .change_set_name(set)
            .send()
            .await;
    }
    if plan.made_the_stack {
        let _ = cfn.delete_stack().stack_name(&plan.stack).send().await;
    }
}

pub async fn wait_stack(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
    timeout: Duration,
) -> Result<StackStatus, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let out = cfn
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error(&e).to_string())?;
        let stack = out.stacks().first().ok_or("the stack disappeared")?;
        let status = stack.stack_status().cloned().ok_or("no status")?;
        let text = status.as_str();
        if text.ends_with("_COMPLETE") && !text.contains("ROLLBACK") {
            return Ok(status);
        }
        if text.ends_with("_FAILED") || text.contains("ROLLBACK") && text.ends_with("_COMPLETE") {
            return Err(format!(
                "{name} ended {text}: {}",
                stack
                    .stack_status_reason()
                    .unwrap_or("see the stack's events")
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!("{name} still {text} after {}s", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}
