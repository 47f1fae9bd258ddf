//! `opsctl infra plan|deploy [LAYER...]`: the CloudFormation stacks in
//! `infra/templates/`, one per layer, in dependency order (each exports what
//! the next imports), named `ticketing-<env>-<layer>`. Plan creates a change
//! set, prints its changes and deletes it again; deploy executes it (with
//! --execute, confirmed in prod) and waits for the stack to settle.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::args::SizeProfile;
use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::infra::deploying::LayerDeploy;
use crate::ops::infra::render::{markdown, render};
use crate::ops::infra::{Layer, StackRequest, Stacks};
use crate::{driver, output};

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
    /// Layers (default: the platform's five, in order; `pipeline`, the CI
    /// pipeline's OIDC roles, only when named).
    #[arg(value_parser = crate::args::one_of::<Layer>(&Layer::NAMES))]
    pub layers: Vec<Layer>,
    /// The size profile. Only when given is `SizeProfile` sent: a stack
    /// keeps its own (a 10x stack updated without it stays 10x), a new one
    /// takes the template's default (mvp).
    #[arg(long, value_parser = crate::args::one_of::<SizeProfile>(SizeProfile::NAMES))]
    pub profile: Option<SizeProfile>,
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

fn request(args: &PlanArgs, deploying: bool) -> Result<StackRequest, OpsError> {
    Ok(StackRequest {
        dir: crate::args::in_repository(&args.dir)?,
        profile: args.profile,
        params: args.params.clone(),
        timeout: Duration::from_secs(args.timeout),
        deploying,
    })
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not Key=Value")),
    }
}

fn layers(args: &PlanArgs) -> Vec<Layer> {
    if args.layers.is_empty() {
        Layer::ORDER.to_vec()
    } else {
        Layer::ALL
            .into_iter()
            .filter(|l| args.layers.contains(l))
            .collect()
    }
}

pub async fn exec(ctx: &Context, command: InfraCommand) -> Result<ExitCode, OpsError> {
    if ctx.profile == ticketing_config::Profile::Local {
        return Err(OpsError::usage(
            "the local stack is not on CloudFormation",
            "pass --env dev or --env prod",
        ));
    }
    let stacks = Stacks::connect(ctx).await?;
    match command {
        InfraCommand::Plan(args) => plan(ctx, &stacks, &args).await,
        InfraCommand::Deploy(args) => deploy(ctx, &stacks, &args).await,
    }
}

async fn plan(ctx: &Context, stacks: &Stacks, args: &PlanArgs) -> Result<ExitCode, OpsError> {
    let mut plans = Vec::new();
    for layer in layers(args) {
        let plan = stacks.planned(ctx, &request(args, false)?, layer).await?;
        stacks.discard(&plan).await;
        plans.push(plan);
    }
    output::emit_or_markdown(
        ctx.output,
        &plans,
        || render(&plans),
        || markdown(&plans, ctx.profile.as_str()),
    );
    Ok(if plans.iter().any(|p| !p.changes.is_empty()) {
        ExitCode::from(EXIT_PROBLEM)
    } else {
        ExitCode::SUCCESS
    })
}

/// Each layer in order, each its own driven change (planned once the
/// layers before it stand), stopping at the first that fails: the layers
/// before it stand.
async fn deploy(ctx: &Context, stacks: &Stacks, args: &DeployArgs) -> Result<ExitCode, OpsError> {
    let mut done = Vec::new();
    for layer in layers(&args.plan) {
        let request = request(&args.plan, true)?;
        let deploying = LayerDeploy::observe(ctx, stacks, &request, layer).await?;
        if driver::applied(ctx, &deploying, &args.execute)
            .await?
            .is_none()
        {
            deploying.discard().await;
        }
        done.push(deploying.plan);
    }
    output::emit(ctx.output, &done, || render(&done));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::infra::{declared_parameters, StackPlan};

    #[test]
    fn the_markdown_plan_marks_replacements_and_says_what_is_kept() {
        let change = |id: &str, replacement: &str| crate::ops::infra::Change {
            action: "Modify".into(),
            logical_id: id.into(),
            resource_type: "AWS::EC2::Instance".into(),
            replacement: replacement.into(),
        };
        let plans = vec![
            StackPlan {
                stack: "ticketing-dev-kafka".into(),
                layer: Layer::Kafka,
                exists: true,
                changes: vec![change("KafkaBrokerA", "True"), change("BrokerSg", "False")],
                kept: vec!["UseSpot".into()],
                drift: vec![],
                change_set: None,
                made_the_stack: false,
                notes: vec![],
            },
            StackPlan {
                stack: "ticketing-dev-network".into(),
                layer: Layer::Network,
                exists: true,
                changes: vec![],
                kept: vec![],
                drift: vec![],
                change_set: None,
                made_the_stack: false,
                notes: vec![],
            },
        ];
        let md = markdown(&plans, "dev");
        assert!(
            md.starts_with("### Infrastructure (`opsctl --env dev infra plan`)"),
            "{md}"
        );
        assert!(
            md.contains("**ticketing-dev-kafka** (update): 2 change(s), **1 replacement(s)**"),
            "{md}"
        );
        assert!(
            md.contains("| Modify | `KafkaBrokerA` | AWS::EC2::Instance | **replaced** |"),
            "{md}"
        );
        assert!(
            md.contains("| Modify | `BrokerSg` | AWS::EC2::Instance |  |"),
            "{md}"
        );
        assert!(md.contains("**ticketing-dev-network**: no changes"), "{md}");
        assert!(
            md.contains("- ticketing-dev-kafka: kept from the stack (not given): UseSpot"),
            "{md}"
        );
    }

    #[test]
    fn a_stack_keeps_its_size_profile_unless_one_is_given() {
        use crate::ops::infra::{given_parameters, parameter_sources, ParamSource};
        let declared = vec!["Environment".to_owned(), "SizeProfile".to_owned()];
        let stack_has = ["Environment".to_owned(), "SizeProfile".to_owned()];
        // No --profile: a 10x stack stays 10x.
        let given = given_parameters("prod", &declared, None, &[]);
        assert!(!given.iter().any(|(k, _)| k == "SizeProfile"), "{given:?}");
        let sources = parameter_sources(&declared, Some(&stack_has), &given);
        assert!(
            sources.contains(&("SizeProfile".to_owned(), ParamSource::Previous)),
            "{sources:?}"
        );
        // A new stack takes the template's default.
        let sources = parameter_sources(&declared, None, &given);
        assert!(
            sources.contains(&("SizeProfile".to_owned(), ParamSource::Default)),
            "{sources:?}"
        );
        // --profile scale-10x is sent.
        let given = given_parameters("prod", &declared, Some(SizeProfile::Scale10x), &[]);
        assert!(given.contains(&("SizeProfile".to_owned(), "scale-10x".to_owned())));
        // A template without the parameter is never sent one.
        let given = given_parameters("prod", &declared[..1], Some(SizeProfile::Mvp), &[]);
        assert_eq!(given, vec![("Environment".to_owned(), "prod".to_owned())]);
    }

    #[test]
    fn declared_parameters_are_read_from_the_template() {
        let t = "AWSTemplateFormatVersion: x\nParameters:\n  Environment:\n    Type: String\n  SizeProfile:\n    Type: String\nResources:\n  X:\n    Type: Y\n";
        assert_eq!(declared_parameters(t), vec!["Environment", "SizeProfile"]);
        assert!(parse_param("ImageUri=repo:1").is_ok());
        assert!(parse_param("=x").is_err());
        assert!(parse_param("novalue").is_err());
    }
}
