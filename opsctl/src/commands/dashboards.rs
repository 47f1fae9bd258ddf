//! `opsctl dashboards plan|apply`: the CloudWatch dashboards in
//! `dashboards/*.json`, named `ticketing-<env>-<file>`, pushed with
//! PutDashboard. A dashboard that references a `Custom/Ticketing` metric the
//! code does not emit (`ticketing_catalog::metrics`) is refused, by name,
//! before anything is sent. `{{region}}` in a file becomes the region.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;

use crate::change::{self, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::ops::dashboards::{referenced_metrics, unpublished};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum DashboardsCommand {
    /// Compare each dashboard file with the deployed one; exit 1 on drift.
    Plan(PlanArgs),
    /// Put the dashboards that differ (with --execute).
    Apply(ApplyArgs),
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The folder of dashboard JSON files.
    #[arg(long, default_value = "dashboards")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

/// A dashboard file, checked and rendered for a region.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub name: String,
    pub file: PathBuf,
    pub body: Value,
}

/// Reads and checks every `*.json` in `dir`.
pub fn load(dir: &Path, env: &str, region: &str) -> Result<Vec<Dashboard>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CliError::usage(
            format!("cannot read the dashboards folder {}: {e}", dir.display()),
            "run from the repository root or pass --dir",
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CliError::usage(
            format!("no dashboard JSON in {}", dir.display()),
            "pass --dir pointing at the repository's dashboards/ folder",
        ));
    }
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| {
            CliError::usage(
                format!("cannot read {}: {e}", file.display()),
                "check the file",
            )
        })?;
        let body: Value =
            serde_json::from_str(&text.replace("{{region}}", region).replace("{{env}}", env))
                .map_err(|e| {
                    CliError::usage(
                        format!("{} is not valid JSON: {e}", file.display()),
                        "fix the file; nothing was changed",
                    )
                })?;
        if !body["widgets"].is_array() {
            return Err(CliError::usage(
                format!("{} has no `widgets` array", file.display()),
                "a CloudWatch dashboard body is {\"widgets\": [...]}",
            ));
        }
        let unknown: Vec<String> = referenced_metrics(&body)
            .into_iter()
            .filter_map(|(name, keys)| unpublished(&name, &keys))
            .collect();
        if !unknown.is_empty() {
            return Err(CliError::usage(
                format!(
                    "{} references metric(s) the services do not publish that way: {}; nothing was changed",
                    file.display(),
                    unknown.join(", ")
                ),
                "use a name from ticketing_catalog::metrics (dotted, as the code emits it) with one of its dimension sets (ticketing_catalog::metrics::dimension_sets)",
            ));
        }
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("dashboard")
            .to_owned();
        out.push(Dashboard {
            name: format!("ticketing-{env}-{stem}"),
            file,
            body,
        });
    }
    Ok(out)
}

#[derive(Serialize, Debug, Clone)]
pub struct Item {
    pub dashboard: String,
    pub file: String,
    pub widgets: usize,
    /// `create`, `update` or `ok`.
    pub action: &'static str,
}

async fn plan(
    ctx: &Context,
    args: &PlanArgs,
) -> Result<(aws_sdk_cloudwatch::Client, Vec<Dashboard>, Vec<Item>), CliError> {
    let env = ctx.profile.as_str();
    let boards = load(&crate::args::in_repository(&args.dir)?, env, &ctx.region)?;
    let cw = aws_sdk_cloudwatch::Client::new(&crate::aws::sdk_config(ctx).await?);
    let mut items = Vec::new();
    for b in &boards {
        let deployed = cw.get_dashboard().dashboard_name(&b.name).send().await;
        let action = match deployed {
            Ok(d) => {
                let now: Option<Value> = d
                    .dashboard_body()
                    .and_then(|t| serde_json::from_str(t).ok());
                if now.as_ref() == Some(&b.body) {
                    "ok"
                } else {
                    "update"
                }
            }
            // AWS answers DashboardNotFound (moto: ResourceNotFound).
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_dashboard_not_found_error() || s.meta().code() == Some("ResourceNotFound")
                }) =>
            {
                "create"
            }
            Err(e) => {
                return Err(CliError::Failed(anyhow::anyhow!(
                    "CloudWatch GetDashboard {} failed: {}; check the AWS credentials and region",
                    b.name,
                    crate::aws::sdk_error(&e)
                )))
            }
        };
        items.push(Item {
            dashboard: b.name.clone(),
            file: b.file.display().to_string(),
            widgets: b.body["widgets"].as_array().map_or(0, Vec::len),
            action,
        });
    }
    Ok((cw, boards, items))
}

fn render(items: &[Item]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i.dashboard.clone(),
                i.file.clone(),
                i.widgets.to_string(),
                if i.action == "ok" {
                    "ok".into()
                } else {
                    i.action.to_uppercase()
                },
            ]
        })
        .collect();
    output::table(&["DASHBOARD", "FILE", "WIDGETS", "ACTION"], &rows)
}

pub async fn exec(ctx: &Context, command: DashboardsCommand) -> Result<ExitCode, CliError> {
    match command {
        DashboardsCommand::Plan(args) => {
            let (_, _, items) = plan(ctx, &args).await?;
            output::emit(ctx.output, &items, || render(&items));
            Ok(if items.iter().any(|i| i.action != "ok") {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        DashboardsCommand::Apply(args) => {
            let (cw, boards, items) = plan(ctx, &args.plan).await?;
            eprint!("{}", render(&items));
            let changes: Vec<&Item> = items.iter().filter(|i| i.action != "ok").collect();
            let Some(applying) = Change::new(ctx, "dashboards apply", &args.execute).begin(
                "putting CloudWatch dashboards",
                &changes,
                changes.len(),
            )?
            else {
                return Ok(change::unchanged(ctx.output));
            };
            for item in &changes {
                let Some(board) = boards.iter().find(|b| b.name == item.dashboard) else {
                    continue;
                };
                let put = cw
                    .put_dashboard()
                    .dashboard_name(&board.name)
                    .dashboard_body(board.body.to_string())
                    .send()
                    .await;
                let problem = match put {
                    Ok(out) if out.dashboard_validation_messages().is_empty() => None,
                    Ok(out) => Some(
                        out.dashboard_validation_messages()
                            .iter()
                            .map(|m| {
                                format!(
                                    "{}: {}",
                                    m.data_path().unwrap_or("-"),
                                    m.message().unwrap_or("-")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    Err(e) => Some(crate::aws::sdk_error(&e).to_string()),
                };
                if let Some(problem) = problem {
                    return Err(applying.failed(
                        serde_json::json!({"dashboard": board.name, "error": problem}),
                        format!("putting dashboard {} failed: {problem}", board.name),
                    ));
                }
            }
            applying.finish(
                ctx.output,
                changes.len(),
                format!("put {} dashboard(s)\n", changes.len()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's dashboards: valid, and every metric one the code
    /// emits (the list itself is held equal to the source by a catalog
    /// test).
    #[test]
    fn the_repository_s_dashboards_reference_only_emitted_metrics() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards");
        let boards = load(&dir, "prod", "ap-northeast-2").expect("dashboards load and check");
        let names: Vec<&str> = boards.iter().map(|b| b.name.as_str()).collect();
        for area in ["booking-flow", "payments", "kafka-outbox", "cost"] {
            assert!(
                names.contains(&format!("ticketing-prod-{area}").as_str()),
                "{names:?}"
            );
        }
        let all: Vec<String> = boards
            .iter()
            .flat_map(|b| referenced_metrics(&b.body))
            .map(|(name, _)| name)
            .collect();
        for m in [
            "payment.failure",
            "outbox.backlog",
            "consumer.lag",
            "consumer.dlq.total",
            "reservations.confirmed",
        ] {
            assert!(all.iter().any(|x| x == m), "{m} is on no dashboard");
        }
        assert!(!boards
            .iter()
            .any(|b| b.body.to_string().contains("{{region}}")
                || b.body.to_string().contains("{{env}}")));
    }
}
