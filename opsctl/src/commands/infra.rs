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
use crate::change::{self, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::ops::infra::drift::compute_drift;
use crate::ops::infra::{change_set, discard, wait_stack, Layer, StackPlan, StackRequest};
use crate::output;

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
    #[arg(long, value_enum)]
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

fn request(args: &PlanArgs, deploying: bool) -> Result<StackRequest, CliError> {
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
    let mut out = output::table(
        &["STACK", "ACTION", "RESOURCE", "TYPE", "REPLACEMENT"],
        &rows,
    );
    for line in notes(plans) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// What a plan says beside its changes: services a change would move back,
/// parameters kept from the stack.
fn notes(plans: &[StackPlan]) -> Vec<String> {
    let mut out = Vec::new();
    for p in plans {
        for d in &p.drift {
            out.push(format!(
                "{}: {} runs {}, the stack made {}: {}",
                p.stack,
                d.service,
                d.running,
                d.stack,
                if d.undone_by_this_change {
                    "THIS CHANGE MOVES IT BACK to the stack's revision (give --param ImageUri=<the image it runs> to keep it)"
                } else {
                    "this change leaves it running (a later change to its task definition would move it back)"
                }
            ));
        }
    }
    for p in plans.iter().filter(|p| !p.kept.is_empty()) {
        out.push(format!(
            "{}: kept from the stack (not given): {}",
            p.stack,
            p.kept.join(", ")
        ));
    }
    for p in plans {
        out.extend(p.notes.iter().map(|n| format!("{}: {n}", p.stack)));
    }
    out
}

/// The plan as a pull-request comment: a table per stack, replacements in
/// bold (a replaced resource is a new one: new address, new data).
fn markdown(plans: &[StackPlan], env: &str) -> String {
    let mut out = format!("### Infrastructure (`opsctl --env {env} infra plan`)\n\n");
    for p in plans {
        let verb = if p.exists { "update" } else { "create" };
        if p.changes.is_empty() {
            out.push_str(&format!("**{}**: no changes\n\n", p.stack));
            continue;
        }
        let replaced = p.changes.iter().filter(|c| c.replacement == "True").count();
        out.push_str(&format!(
            "**{}** ({verb}): {} change(s){}\n\n",
            p.stack,
            p.changes.len(),
            if replaced > 0 {
                format!(", **{replaced} replacement(s)**")
            } else {
                String::new()
            }
        ));
        let rows: Vec<Vec<String>> = p
            .changes
            .iter()
            .map(|c| {
                vec![
                    c.action.clone(),
                    format!("`{}`", c.logical_id),
                    c.resource_type.clone(),
                    match c.replacement.as_str() {
                        "True" => "**replaced**".to_owned(),
                        "Conditional" => "maybe replaced".to_owned(),
                        "" | "False" => String::new(),
                        other => other.to_owned(),
                    },
                ]
            })
            .collect();
        out.push_str(&output::markdown_table(
            &["action", "resource", "type", "replacement"],
            &[],
            &rows,
        ));
        out.push('\n');
    }
    for line in notes(plans) {
        out.push_str(&format!("- {line}\n"));
    }
    out
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

pub async fn exec(ctx: &Context, command: InfraCommand) -> Result<ExitCode, CliError> {
    if ctx.profile == ticketing_config::Profile::Local {
        return Err(CliError::usage(
            "the local stack is not on CloudFormation",
            "pass --env dev or --env prod",
        ));
    }
    let sdk = crate::aws::sdk_config(ctx).await?;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    // The compute stack's drift from what `deploy` and `portone rollback`
    // moved the services to (only once the stack exists).
    let with_drift = |mut plan: StackPlan| {
        let sdk = &sdk;
        async move {
            if plan.layer == Layer::Compute && plan.exists {
                plan.drift =
                    compute_drift(sdk, ctx.profile.as_str(), &plan.stack, &plan.changes).await?;
            }
            Ok::<StackPlan, CliError>(plan)
        }
    };
    match command {
        InfraCommand::Plan(args) => {
            let mut plans = Vec::new();
            for layer in layers(&args) {
                let plan = with_drift(change_set(ctx, &cfn, &request(&args, false)?, layer).await?)
                    .await?;
                discard(&cfn, &plan).await;
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
        InfraCommand::Deploy(args) => {
            let mut done = Vec::new();
            for layer in layers(&args.plan) {
                let plan =
                    with_drift(change_set(ctx, &cfn, &request(&args.plan, true)?, layer).await?)
                        .await?;
                eprint!("{}", render(std::slice::from_ref(&plan)));
                let applying = change::Change::new(ctx, "infra deploy", &args.execute)
                    .prints_its_own_result()
                    .begin(
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
                        .map_err(|e| crate::aws::sdk_error(&e).to_string())?;
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
    use crate::ops::infra::declared_parameters;

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
