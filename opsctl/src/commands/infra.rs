//! `opsctl infra plan|deploy [LAYER...]`: the CloudFormation stacks in
//! `infra/templates/`, one per layer, in dependency order (each exports what
//! the next imports), named `ticketing-<env>-<layer>`. Plan creates a change
//! set, prints its changes and deletes it again; deploy executes it (with
//! --execute, confirmed in prod) and waits for the stack to settle.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, StackStatus,
};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::args::SizeProfile;
use crate::aws::failed;
use crate::change::{self, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::output;

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

#[derive(Subcommand, Debug)]
pub enum InfraCommand {
    /// Show what a deploy would change (a change set, deleted afterwards);
    /// exit 1 when anything would change.
    Plan(PlanArgs),
    /// Execute the change sets and wait for each stack (with --execute).
    Deploy(DeployArgs),
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Layers (default: all, in order).
    #[arg(value_enum)]
    pub layers: Vec<Layer>,
    #[arg(long, value_enum, default_value = "mvp")]
    pub profile: SizeProfile,
    /// A template parameter, `Key=Value` (repeatable): ImageUri,
    /// CertificateArn, DomainName, UseSpot, ...
    #[arg(long = "param", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// The folder of templates.
    #[arg(long, default_value = "infra/templates")]
    pub dir: PathBuf,
    /// How long to wait for a stack, in seconds.
    #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not Key=Value")),
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
    change_set: Option<String>,
    /// No stack existed before this change set made one (to hold it).
    #[serde(skip)]
    made_the_stack: bool,
}

fn stack_name(env: &str, layer: Layer) -> String {
    format!("ticketing-{env}-{}", layer.name())
}

async fn stack_status(
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

/// Creates a change set for one layer and waits until it is ready.
async fn change_set(
    ctx: &Context,
    cfn: &aws_sdk_cloudformation::Client,
    args: &PlanArgs,
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
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
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
async fn discard(cfn: &aws_sdk_cloudformation::Client, plan: &StackPlan) {
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

fn render(plans: &[StackPlan]) -> String {
    let mut rows = Vec::new();
    for p in plans {
        if p.changes.is_empty() {
            rows.push(vec![
                p.stack.clone(),
                "no changes".into(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for c in &p.changes {
            rows.push(vec![
                p.stack.clone(),
                c.action.clone(),
                c.logical_id.clone(),
                c.resource_type.clone(),
                c.replacement.clone(),
            ]);
        }
    }
    output::table(
        &["STACK", "ACTION", "RESOURCE", "TYPE", "REPLACEMENT"],
        &rows,
    )
}

fn layers(args: &PlanArgs) -> Vec<Layer> {
    if args.layers.is_empty() {
        Layer::ORDER.to_vec()
    } else {
        Layer::ORDER
            .into_iter()
            .filter(|l| args.layers.contains(l))
            .collect()
    }
}

async fn wait_stack(
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

pub async fn exec(ctx: &Context, command: InfraCommand) -> Result<ExitCode, CliError> {
    if ctx.profile == ticketing_config::Profile::Local {
        return Err(CliError::usage(
            "the local stack is not on CloudFormation",
            "pass --env dev or --env prod",
        ));
    }
    let cfn = aws_sdk_cloudformation::Client::new(&crate::aws::sdk_config(ctx).await?);
    match command {
        InfraCommand::Plan(args) => {
            let mut plans = Vec::new();
            for layer in layers(&args) {
                let plan = change_set(ctx, &cfn, &args, layer).await?;
                discard(&cfn, &plan).await;
                plans.push(plan);
            }
            output::emit(ctx.output, &plans, || render(&plans));
            Ok(if plans.iter().any(|p| !p.changes.is_empty()) {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        InfraCommand::Deploy(args) => {
            let mut done = Vec::new();
            for layer in layers(&args.plan) {
                let plan = change_set(ctx, &cfn, &args.plan, layer).await?;
                eprint!("{}", render(std::slice::from_ref(&plan)));
                let applying = change::Change::new(ctx, "infra deploy", &args.execute).begin(
                    &format!("deploying {}", plan.stack),
                    &plan,
                    usize::from(plan.change_set.is_some()),
                )?;
                let (Some(applying), Some(set)) = (applying, plan.change_set.clone()) else {
                    discard(&cfn, &plan).await;
                    done.push(plan);
                    continue;
                };
                let run = async {
                    cfn.execute_change_set()
                        .stack_name(&plan.stack)
                        .change_set_name(&set)
                        .send()
                        .await
                        .map_err(|e| {
                            aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string()
                        })?;
                    wait_stack(&cfn, &plan.stack, Duration::from_secs(args.plan.timeout)).await
                }
                .await;
                match run {
                    Ok(status) => {
                        applying.done(
                            serde_json::json!({"stack": plan.stack, "status": status.as_str()}),
                        )?;
                        eprintln!("{}: {}", plan.stack, status.as_str());
                    }
                    Err(e) => {
                        let message = format!(
                            "deploying {} failed: {e}; the layers before it stand",
                            plan.stack
                        );
                        return Err(applying.failed(
                            serde_json::json!({"stack": plan.stack, "error": e}),
                            message,
                        ));
                    }
                }
                done.push(plan);
            }
            output::emit(ctx.output, &done, || render(&done));
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_parameters_are_read_from_the_template() {
        let t = "AWSTemplateFormatVersion: x\nParameters:\n  Environment:\n    Type: String\n  SizeProfile:\n    Type: String\nResources:\n  X:\n    Type: Y\n";
        assert_eq!(declared_parameters(t), vec!["Environment", "SizeProfile"]);
        assert!(parse_param("ImageUri=repo:1").is_ok());
        assert!(parse_param("=x").is_err());
        assert!(parse_param("novalue").is_err());
    }
}
