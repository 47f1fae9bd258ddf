//! The CloudFormation layers of infra/templates: their stacks, change sets
//! (what a deploy would change), and waiting for a stack to settle.
//! `Layer` parses from its name (the CLI lists `Layer::NAMES`).

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, StackStatus,
};
use serde::Serialize;

use crate::args::SizeProfile;
use crate::aws::failed;
use crate::context::Context;
use crate::error::CliError;

pub mod drift;
mod layer;
mod params;
pub mod replacement;

pub use layer::Layer;

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
) -> Result<Option<aws_sdk_cloudformation::types::Stack>, CliError> {
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
) -> Result<Option<(StackStatus, Vec<String>)>, CliError> {
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
    ctx: &Context,
    cfn: &aws_sdk_cloudformation::Client,
    args: &StackRequest,
    layer: Layer,
) -> Result<StackPlan, CliError> {
    let env = ctx.profile.as_str();
    let path = args.dir.join(format!("{}.yaml", layer.name()));
    let body = std::fs::read_to_string(&path).map_err(|e| {
        CliError::usage(
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
        return Err(CliError::usage(
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
    let params: Vec<Parameter> = sources
        .into_iter()
        .filter_map(|(key, source)| match source {
            ParamSource::Given { value } => Some(
                Parameter::builder()
                    .parameter_key(key)
                    .parameter_value(value)
                    .build(),
            ),
            ParamSource::Previous => Some(
                Parameter::builder()
                    .parameter_key(key)
                    .use_previous_value(true)
                    .build(),
            ),
            ParamSource::Default => None,
        })
        .collect();
    // The stack already is what the templates say.
    let unchanged = || StackPlan {
        stack: name.clone(),
        layer,
        exists,
        changes: vec![],
        kept: kept.clone(),
        drift: vec![],
        change_set: None,
        made_the_stack,
        notes: notes.clone(),
    };
    let set_name = format!("opsctl-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
    let created = cfn
        .create_change_set()
        .stack_name(&name)
        .change_set_name(&set_name)
        .change_set_type(if exists {
            ChangeSetType::Update
        } else {
            ChangeSetType::Create
        })
        .template_body(&body)
        .set_parameters(Some(params))
        // The pipeline's roles have names (the workflows name them):
        // CAPABILITY_NAMED_IAM (CloudFormation API Reference,
        // CreateChangeSet, Capabilities).
        .capabilities(if layer == Layer::Pipeline {
            Capability::CapabilityNamedIam
        } else {
            Capability::CapabilityIam
        })
        .send()
        .await;
    if let Err(e) = &created {
        // AWS makes a change set without changes and fails it ("didn't
        // contain changes", handled below); moto refuses to make one with
        // UpdateStack's "No updates are to be performed.". Both mean the
        // stack already is what the templates say.
        let text = crate::aws::sdk_error(e);
        if text.contains("No updates are to be performed") {
            return Ok(unchanged());
        }
    }
    created.map_err(|e| {
            CliError::usage(
                format!(
                    "CloudFormation refused the {} change set: {}",
                    layer.name(),
                    crate::aws::sdk_error(&e)
                ),
                "a missing parameter is passed with --param Key=Value; layers deploy in order network, data, kafka, observability, compute",
            )
        })?;
    let deadline = Instant::now() + args.timeout;
    loop {
        let d = cfn
            .describe_change_set()
            .stack_name(&name)
            .change_set_name(&set_name)
            .send()
            .await
            .map_err(|e| {
                failed(
                    "CloudFormation DescribeChangeSet failed",
                    crate::aws::sdk_error(&e),
                )
            })?;
        match d.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                let changes = d
                    .changes()
                    .iter()
                    .filter_map(|c| c.resource_change())
                    .map(|r| Change {
                        action: r
                            .action()
                            .map(|a| a.as_str().to_owned())
                            .unwrap_or_default(),
                        logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                        resource_type: r.resource_type().unwrap_or_default().to_owned(),
                        replacement: r
                            .replacement()
                            .map(|a| a.as_str().to_owned())
                            .unwrap_or_default(),
                    })
                    .collect();
                return Ok(StackPlan {
                    stack: name,
                    layer,
                    exists,
                    changes,
                    kept,
                    drift: vec![],
                    change_set: Some(set_name),
                    made_the_stack,
                    notes,
                });
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = d.status_reason().unwrap_or_default().to_owned();
                let _ = cfn
                    .delete_change_set()
                    .stack_name(&name)
                    .change_set_name(&set_name)
                    .send()
                    .await;
                if reason.contains("didn't contain changes") || reason.contains("No updates") {
                    return Ok(unchanged());
                }
                if made_the_stack {
                    let _ = cfn.delete_stack().stack_name(&name).send().await;
                }
                return Err(CliError::Failed(anyhow::anyhow!(
                    "the {} change set failed: {reason}",
                    layer.name()
                )));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failed(anyhow::anyhow!(
                "the {} change set was not ready in time",
                layer.name()
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
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
