//! Log retention: what the catalog keeps each of an environment's log
//! groups for, against what CloudWatch Logs keeps, and what changing it
//! saves.

use serde::Serialize;
use ticketing_catalog::logs;

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::operation::Operation;

#[derive(Serialize, Clone)]
pub struct GroupPlan {
    pub group: String,
    pub current_days: Option<i32>,
    pub wanted_days: i32,
    pub stored_bytes: i64,
    pub excluded: bool,
    pub change: bool,
    pub monthly_saving_usd: f64,
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

/// This environment's log groups and the retention the catalog gives
/// each, and what changing it would save.
pub struct RetentionPlan {
    client: aws_sdk_cloudwatchlogs::Client,
    pub groups: Vec<GroupPlan>,
}

/// Reads this environment's log groups; groups matching `exclude` are
/// left as they are.
pub async fn retention_plan(
    ctx: &Environment,
    exclude: &[String],
) -> Result<RetentionPlan, OpsError> {
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
                OpsError::Failed(anyhow::anyhow!(
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
            let excluded = exclude.iter().any(|p| matches(p, name));
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
    Ok(RetentionPlan { client, groups })
}

/// The groups for people: each one's retention now and wanted, and
/// the saving.
pub fn render(groups: &[GroupPlan]) -> String {
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
                crate::table::usd(g.monthly_saving_usd),
            ]
        })
        .collect();
    let saving: f64 = groups.iter().map(|g| g.monthly_saving_usd).sum();
    format!(
        "{}estimated saving ${}/month\n",
        crate::table::table(
            &["LOG GROUP", "NOW", "CLASS", "ACTION", "SAVING $/MONTH"],
            &rows
        ),
        crate::table::usd(saving)
    )
}

impl Operation for RetentionPlan {
    type Change = GroupPlan;
    fn command(&self) -> &'static str {
        "logs retention apply"
    }
    fn doing(&self) -> String {
        "changing log retention".to_owned()
    }

    fn changes(&self) -> Vec<&GroupPlan> {
        self.groups.iter().filter(|g| g.change).collect()
    }

    fn render(&self) -> String {
        render(&self.groups)
    }

    async fn apply(&self, group: &GroupPlan) -> Result<(), String> {
        set_retention(self, group).await
    }

    fn failure(group: &GroupPlan, error: &str) -> String {
        format!("setting the retention of {} failed: {error}", group.group)
    }

    fn summary(&self, done: usize) -> String {
        format!("set the retention of {done} log group(s)\n")
    }
}

/// Sets one group's retention to the catalog's.
pub async fn set_retention(plan: &RetentionPlan, group: &GroupPlan) -> Result<(), String> {
    plan.client
        .put_retention_policy()
        .log_group_name(&group.group)
        .retention_in_days(group.wanted_days)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| crate::aws::sdk_error(&e).to_string())
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
