//! The CloudFormation layers of infra/templates: their stacks, change sets
//! (what a deploy would change), and waiting for a stack to settle.
//! `Layer` derives clap's `ValueEnum` so the CLI can name it.

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, StackStatus,
};
use clap::ValueEnum;
use serde::Serialize;

use crate::args::SizeProfile;
use crate::aws::failed;
use crate::context::Context;
use crate::error::CliError;

/// The layers, in the order they must be deployed.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Network,
    Data,
    Kafka,
    Observability,
    Compute,
}

impl Layer {
    pub const ORDER: [Layer; 5] = [
        Layer::Network,
        Layer::Data,
        Layer::Kafka,
        Layer::Observability,
        Layer::Compute,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layer::Network => "network",
            Layer::Data => "data",
            Layer::Kafka => "kafka",
            Layer::Observability => "observability",
            Layer::Compute => "compute",
        }
    }
}

/// The parameters a template declares (top-level `Parameters:` keys).
pub fn declared_parameters(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in template.lines() {
        if line.starts_with("Parameters:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with(' ') && !line.trim().is_empty() {
                break;
            }
            if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
                if !name.starts_with(' ') {
                    out.push(name.to_owned());
                }
            }
        }
    }
    out
}

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
    #[serde(skip)]
    pub change_set: Option<String>,
    /// No stack existed before this change set made one (to hold it).
    #[serde(skip)]
    pub made_the_stack: bool,
}

pub fn stack_name(env: &str, layer: Layer) -> String {
    format!("ticketing-{env}-{}", layer.name())
}

pub async fn stack_status(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Result<Option<StackStatus>, CliError> {
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out.stacks().first().and_then(|s| s.stack_status().cloned())),
        Err(e) => {
            let text = aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string();
            if text.contains("does not exist") {
                Ok(None)
            } else {
                Err(failed("CloudFormation DescribeStacks failed", text))
            }
        }
    }
}

/// What a change set is made from: the templates, the size profile and the
/// parameters given.
pub struct StackRequest {
    pub dir: std::path::PathBuf,
    pub profile: SizeProfile,
    pub params: Vec<(String, String)>,
    pub timeout: Duration,
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
            "run from the repository root or pass --dir infra/templates",
        )
    })?;
    let declared = declared_parameters(&body);
    let mut params = vec![Parameter::builder()
        .parameter_key("Environment")
        .parameter_value(env)
        .build()];
    if declared.iter().any(|p| p == "SizeProfile") {
        params.push(
            Parameter::builder()
                .parameter_key("SizeProfile")
                .parameter_value(args.profile.footprint().name)
                .build(),
        );
    }
    for (k, v) in &args.params {
        if declared.contains(k) {
            params.push(
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build(),
            );
        }
    }
    let name = stack_name(env, layer);
    let status = stack_status(cfn, &name).await?;
    let exists = matches!(&status, Some(s) if *s != StackStatus::ReviewInProgress);
    let made_the_stack = status.is_none();
    let set_name = format!("opsctl-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
    cfn.create_change_set()
        .stack_name(&name)
        .change_set_name(&set_name)
        .change_set_type(if exists {
            ChangeSetType::Update
        } else {
            ChangeSetType::Create
        })
        .template_body(&body)
        .set_parameters(Some(params))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .map_err(|e| {
            CliError::usage(
                format!(
                    "CloudFormation refused the {} change set: {}",
                    layer.name(),
                    aws_sdk_cloudformation::error::DisplayErrorContext(e)
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
                    aws_sdk_cloudformation::error::DisplayErrorContext(e),
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
                    change_set: Some(set_name),
                    made_the_stack,
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
                    return Ok(StackPlan {
                        stack: name,
                        layer,
                        exists,
                        changes: vec![],
                        change_set: None,
                        made_the_stack,
                    });
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
            .map_err(|e| aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string())?;
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
