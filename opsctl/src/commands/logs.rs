//! `opsctl logs retention plan|apply`: every `/ecs/ticketing/<env>/*` log group
//! gets the retention of its class (7 days operational, 90 days payment; the
//! classes live in `ticketing_catalog::logs`), groups created without a
//! retention are caught, `--exclude` patterns are left alone, and the monthly
//! saving is estimated from the stored bytes.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;
use ticketing_catalog::logs;

use crate::change::{self, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum LogsCommand {
    /// Retention of the platform's log groups.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Show each group's retention against its class; exit 1 on drift.
    Plan(RetentionArgs),
    /// Set the retention of the groups that drifted (with --execute).
    Apply(ApplyArgs),
}

#[derive(Args, Debug)]
pub struct RetentionArgs {
    /// Leave groups matching this pattern alone (`*` matches anything);
    /// repeatable.
    #[arg(long)]
    pub exclude: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Serialize, Clone)]
struct GroupPlan {
    group: String,
    current_days: Option<i32>,
    wanted_days: i32,
    stored_bytes: i64,
    excluded: bool,
    change: bool,
    monthly_saving_usd: f64,
}

/// `*`-only glob.
pub fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The saving of cutting retention from `current` (None: never expires,
/// taken as a year) to `wanted` days on `stored_bytes` of archived logs.
pub fn monthly_saving(
    stored_bytes: i64,
    current: Option<i32>,
    wanted: i32,
    price_per_gb: f64,
) -> f64 {
    let current = f64::from(current.unwrap_or(365));
    let kept = (f64::from(wanted) / current).min(1.0);
    let gb = stored_bytes as f64 / 1e9;
    ((gb * price_per_gb * (1.0 - kept)) * 100.0).round() / 100.0
}

async fn plan(
    ctx: &Context,
    args: &RetentionArgs,
) -> Result<(aws_sdk_cloudwatchlogs::Client, Vec<GroupPlan>), CliError> {
    let client = aws_sdk_cloudwatchlogs::Client::new(&crate::aws::sdk_config(ctx).await?);
    let prices = crate::ops::cost::Prices::load()?;
    let price = prices.monthly("cloudwatch:logs_storage_gb")?;
    let mut groups = Vec::new();
    let mut token = None;
    // This environment's groups only.
    let prefix = logs::group_prefix(ctx.profile.as_str());
    loop {
        let page = client
            .describe_log_groups()
            .log_group_name_prefix(&prefix)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                CliError::Failed(anyhow::anyhow!(
                    "CloudWatch Logs DescribeLogGroups failed: {}; check the AWS credentials and --region",
                    crate::aws::sdk_error(&e)
                ))
            })?;
        for g in page.log_groups() {
            let Some(name) = g.log_group_name() else {
                continue;
            };
            let Some(wanted) = logs::retention_days(name) else {
                continue;
            };
            let excluded = args.exclude.iter().any(|p| matches(p, name));
            let current = g.retention_in_days();
            let stored = g.stored_bytes().unwrap_or(0);
            let change = !excluded && current != Some(wanted);
            groups.push(GroupPlan {
                group: name.to_owned(),
                current_days: current,
                wanted_days: wanted,
                stored_bytes: stored,
                excluded,
                change,
                monthly_saving_usd: if change {
                    monthly_saving(stored, current, wanted, price)
                } else {
                    0.0
                },
            });
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok((client, groups))
}

fn render(groups: &[GroupPlan]) -> String {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.group.clone(),
                g.current_days
                    .map_or("never expires".into(), |d| format!("{d} d")),
                format!("{} d", g.wanted_days),
                if g.excluded {
                    "excluded".into()
                } else if g.change {
                    "CHANGE".into()
                } else {
                    "ok".into()
                },
                output::usd(g.monthly_saving_usd),
            ]
        })
        .collect();
    let saving: f64 = groups.iter().map(|g| g.monthly_saving_usd).sum();
    format!(
        "{}estimated saving ${}/month\n",
        output::table(
            &["LOG GROUP", "NOW", "CLASS", "ACTION", "SAVING $/MONTH"],
            &rows
        ),
        output::usd(saving)
    )
}

pub async fn exec(ctx: &Context, command: LogsCommand) -> Result<ExitCode, CliError> {
    let LogsCommand::Retention { command } = command;
    match command {
        RetentionCommand::Plan(args) => {
            let (_, groups) = plan(ctx, &args).await?;
            output::emit(ctx.output, &groups, || render(&groups));
            Ok(if groups.iter().any(|g| g.change) {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        RetentionCommand::Apply(args) => {
            let (client, groups) = plan(ctx, &args.retention).await?;
            let changes: Vec<&GroupPlan> = groups.iter().filter(|g| g.change).collect();
            eprint!("{}", render(&groups));
            let Some(applying) = Change::new(ctx, "logs retention apply", &args.execute).begin(
                "changing log retention",
                &changes,
                changes.len(),
            )?
            else {
                return Ok(change::unchanged(ctx.output));
            };
            for g in &changes {
                if let Err(e) = client
                    .put_retention_policy()
                    .log_group_name(&g.group)
                    .retention_in_days(g.wanted_days)
                    .send()
                    .await
                {
                    let error = crate::aws::sdk_error(&e).to_string();
                    return Err(applying.failed(
                        serde_json::json!({"group": g.group, "error": error}),
                        format!("setting the retention of {} failed: {error}", g.group),
                    ));
                }
            }
            applying.finish(
                ctx.output,
                changes.len(),
                format!("set the retention of {} log group(s)\n", changes.len()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_savings() {
        assert!(matches(
            "/ecs/ticketing/legacy-*",
            "/ecs/ticketing/legacy-batch"
        ));
        assert!(!matches(
            "/ecs/ticketing/legacy-*",
            "/ecs/ticketing/api-gateway"
        ));
        assert!(matches("*gateway", "/ecs/ticketing/api-gateway"));
        assert!(matches(
            "/ecs/*/payment-*",
            "/ecs/ticketing/payment-service"
        ));
        // 10 GB kept 30 days, cut to 7: 23/30 of it no longer stored.
        let saving = monthly_saving(10_000_000_000, Some(30), 7, 0.03);
        assert!((saving - 0.23).abs() < 0.01, "{saving}");
        assert_eq!(monthly_saving(10_000_000_000, Some(7), 90, 0.03), 0.0);
    }
}
