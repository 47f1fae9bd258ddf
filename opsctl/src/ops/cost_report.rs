//! Actual spend against the model, and the free-tier-end checklist: the
//! pure parts of `opsctl cost report|timeline`.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, Months, NaiveDate};
use serde::Serialize;

use crate::error::OpsError;
use crate::ops::cost::round2;

/// The model row a Cost Explorer service name belongs to.
pub fn model_item(service: &str) -> &'static str {
    match service {
        "Amazon Relational Database Service" => "RDS PostgreSQL",
        "Amazon ElastiCache" => "ElastiCache Redis",
        "Amazon Elastic Compute Cloud - Compute" | "EC2 - Other" => "EC2 Kafka",
        "Amazon Elastic Container Service" => "ECS Fargate",
        "Amazon Elastic Load Balancing" => "Application Load Balancer",
        "AmazonCloudWatch" => "CloudWatch Logs",
        "Amazon Route 53" => "Route 53",
        _ => "Other (S3, data transfer)",
    }
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ReportRow {
    pub item: String,
    pub actual: f64,
    pub model: f64,
    pub delta: f64,
    pub over: bool,
    /// The Cost Explorer services summed into this row.
    pub services: Vec<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Report {
    pub month: String,
    pub estimated: bool,
    pub rows: Vec<ReportRow>,
    pub actual_total: f64,
    pub model_total: f64,
}

/// `2027-01` -> (2027-01-01, 2027-02-01).
pub fn month_range(month: &str) -> Result<(NaiveDate, NaiveDate), OpsError> {
    let start = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").map_err(|_| {
        OpsError::usage(
            format!("--month `{month}` is not a month"),
            "write it as YYYY-MM, for example --month 2027-01",
        )
    })?;
    let end = start + Months::new(1);
    Ok((start, end))
}

/// The days a report covers: a whole month, or this month so far, and the
/// share of a month's model that compares with them.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub label: String,
    pub start: NaiveDate,
    /// Exclusive (Cost Explorer's `End`).
    pub end: NaiveDate,
    /// 1 for a whole month; days so far over the month's days for this one.
    pub model_share: f64,
}

/// The period of `--month` (`None`: this month to date) on `today`: pure.
pub fn period(month: Option<&str>, today: NaiveDate) -> Result<Period, OpsError> {
    let this = format!("{:04}-{:02}", today.year(), today.month());
    let label = month.unwrap_or(&this).to_owned();
    let (start, end) = month_range(&label)?;
    if start > today {
        return Err(OpsError::usage(
            format!("--month {label} has not begun"),
            "name this month or an earlier one",
        ));
    }
    if label != this {
        return Ok(Period {
            label,
            start,
            end,
            model_share: 1.0,
        });
    }
    let days = (end - start).num_days() as f64;
    let so_far = today.day() as f64;
    Ok(Period {
        label: format!("{label} (to {today})"),
        start,
        end: today + Duration::days(1),
        model_share: so_far / days,
    })
}

/// Compares spend by service with the model: pure.
pub fn compare(
    spend: &[(String, f64)],
    model_rows: &[(String, f64)],
    over_percent: f64,
) -> Vec<ReportRow> {
    let mut by_item: BTreeMap<&str, (f64, Vec<String>)> = BTreeMap::new();
    for (service, amount) in spend {
        let e = by_item.entry(model_item(service)).or_default();
        e.0 += amount;
        e.1.push(service.clone());
    }
    let mut rows: Vec<ReportRow> = model_rows
        .iter()
        .map(|(item, modelled)| {
            let (actual, services) = by_item.remove(item.as_str()).unwrap_or_default();
            row(item, actual, *modelled, services, over_percent)
        })
        .collect();
    for (item, (actual, services)) in by_item {
        rows.push(row(item, actual, 0.0, services, over_percent));
    }
    rows
}

pub fn row(
    item: &str,
    actual: f64,
    model: f64,
    services: Vec<String>,
    over_percent: f64,
) -> ReportRow {
    ReportRow {
        item: item.to_owned(),
        actual: round2(actual),
        model: round2(model),
        delta: round2(actual - model),
        over: actual > model * (1.0 + over_percent / 100.0) && actual - model >= 0.01,
        services,
    }
}

/// One dated action of the free-tier-end checklist.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Action {
    pub when: &'static str,
    pub date: NaiveDate,
    pub action: &'static str,
    pub owner: &'static str,
    pub required: bool,
    pub command: &'static str,
}

/// The account's spend from `start` to `end` (exclusive) by AWS service,
/// from Cost Explorer, and whether it marks the period as estimated.
pub async fn spend_by_service(
    ctx: &crate::environment::Environment,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<(Vec<(String, f64)>, bool), OpsError> {
    use aws_sdk_costexplorer::types::{
        DateInterval, Granularity, GroupDefinition, GroupDefinitionType,
    };
    let ce = crate::ops::reserved::aws::cost_explorer(ctx).await?;
    let interval = DateInterval::builder()
        .start(start.to_string())
        .end(end.to_string())
        .build()
        .map_err(|e| OpsError::Failed(e.into()))?;
    let answer = ce
        .get_cost_and_usage()
        .time_period(interval)
        .granularity(Granularity::Monthly)
        .metrics("UnblendedCost")
        .group_by(
            GroupDefinition::builder()
                .r#type(GroupDefinitionType::Dimension)
                .key("SERVICE")
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            OpsError::Failed(anyhow::anyhow!(
                "Cost Explorer GetCostAndUsage failed: {}; Cost Explorer must be enabled for the account (the D-180 step of the timeline)",
                crate::aws::sdk_error(&e)
            ))
        })?;
    let mut spend = Vec::new();
    let mut estimated = false;
    for period in answer.results_by_time() {
        estimated |= period.estimated();
        for g in period.groups() {
            let service = g.keys().first().cloned().unwrap_or_default();
            let amount = g
                .metrics()
                .and_then(|m| m.get("UnblendedCost"))
                .and_then(|v| v.amount())
                .and_then(|a| a.parse::<f64>().ok())
                .unwrap_or(0.0);
            spend.push((service, amount));
        }
    }
    Ok((spend, estimated))
}

/// The design's checklist: when (days from the free tier's last day),
/// what, who, whether it is required, and the command that does it.
const CHECKLIST: [(&str, i64, &str, &str, bool, &str); 11] = [
    (
        "D-180",
        -180,
        "Set up the billing alarms ($50 warning, $100 critical)",
        "DevOps",
        true,
        "opsctl --env prod alarms apply billing --execute",
    ),
    (
        "D-180",
        -180,
        "Turn on Cost Explorer and track spend monthly",
        "DevOps",
        true,
        "opsctl cost report",
    ),
    (
        "D-90",
        -90,
        "Decide on Reserved Instances and Savings Plans",
        "CTO",
        true,
        "opsctl reserved plan && opsctl reserved savings-plan",
    ),
    (
        "D-90",
        -90,
        "Test Spot for the Kafka broker (impact of an interruption)",
        "Developer A",
        false,
        "opsctl kafka dr",
    ),
    (
        "D-30",
        -30,
        "Buy the Reserved Instances (RDS, ElastiCache)",
        "DevOps",
        true,
        "opsctl --env prod reserved purchase --execute",
    ),
    (
        "D-30",
        -30,
        "Buy the Savings Plan (ECS Fargate), as recommended",
        "DevOps",
        true,
        "opsctl reserved savings-plan",
    ),
    (
        "D-30",
        -30,
        "Shorten CloudWatch Logs retention",
        "DevOps",
        false,
        "opsctl --env prod logs retention apply --execute",
    ),
    (
        "D-7",
        -7,
        "Move the Kafka broker to Spot",
        "DevOps",
        false,
        "opsctl --env prod infra deploy kafka --param UseSpot=true --execute",
    ),
    (
        "D-Day",
        0,
        "Watch the bill (Cost Explorer)",
        "DevOps",
        true,
        "opsctl cost report",
    ),
    (
        "D+7",
        7,
        "Check the actual bill against the estimate",
        "DevOps",
        true,
        "opsctl cost report --optimized",
    ),
    (
        "D+30",
        30,
        "Check the optimisations worked; look for more savings",
        "CTO",
        false,
        "opsctl cost report --optimized",
    ),
];

/// The design's checklist, relative to the free tier's last day: pure.
pub fn checklist(ends: NaiveDate) -> Vec<Action> {
    CHECKLIST
        .iter()
        .map(|&(when, days, action, owner, required, command)| Action {
            when,
            date: ends + Duration::days(days),
            action,
            owner,
            required,
            command,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_this_month_so_far_against_its_share_of_the_model() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        let now = period(None, day(2026, 12, 6)).expect("period");
        assert_eq!((now.start, now.end), (day(2026, 12, 1), day(2026, 12, 7)));
        assert!((now.model_share - 6.0 / 31.0).abs() < 1e-9);
        assert_eq!(now.label, "2026-12 (to 2026-12-06)");
        let past = period(Some("2026-11"), day(2026, 12, 6)).expect("period");
        assert_eq!(
            (past.start, past.end, past.model_share),
            (day(2026, 11, 1), day(2026, 12, 1), 1.0)
        );
        assert!(
            period(Some("2027-01"), day(2026, 12, 6)).is_err(),
            "not begun"
        );
    }

    #[test]
    fn spend_is_grouped_into_the_model_rows_and_overruns_flagged() {
        let spend = vec![
            ("Amazon Relational Database Service".to_owned(), 14.0),
            ("Amazon Elastic Compute Cloud - Compute".to_owned(), 8.0),
            ("EC2 - Other".to_owned(), 2.0),
            ("Amazon Elastic Container Service".to_owned(), 80.0),
            ("AWS Key Management Service".to_owned(), 1.0),
        ];
        let model = vec![
            ("RDS PostgreSQL".to_owned(), 14.71),
            ("EC2 Kafka".to_owned(), 10.47),
            ("ECS Fargate".to_owned(), 54.06),
            ("Other (S3, data transfer)".to_owned(), 1.18),
        ];
        let rows = compare(&spend, &model, 20.0);
        let get = |item: &str| rows.iter().find(|r| r.item == item).expect(item);
        assert_eq!(get("EC2 Kafka").actual, 10.0);
        assert!(!get("RDS PostgreSQL").over);
        assert!(get("ECS Fargate").over);
        assert_eq!(get("Other (S3, data transfer)").actual, 1.0);
    }

    #[test]
    fn the_checklist_is_dated_from_the_free_tier_end() {
        let ends = NaiveDate::from_ymd_opt(2027, 1, 12).expect("date");
        let list = checklist(ends);
        assert_eq!(
            list[0].date,
            NaiveDate::from_ymd_opt(2026, 7, 16).expect("date")
        );
        assert_eq!(
            list.iter().find(|a| a.when == "D+30").expect("D+30").date,
            NaiveDate::from_ymd_opt(2027, 2, 11).expect("date")
        );
        assert!(list.iter().all(|a| a.command.starts_with("opsctl ")));
        let whens: Vec<&str> = list.iter().map(|a| a.when).collect();
        for w in ["D-180", "D-90", "D-30", "D-7", "D-Day", "D+7", "D+30"] {
            assert!(whens.contains(&w), "{w}");
        }
    }

    #[test]
    fn months_are_checked() {
        assert!(month_range("2027-13").is_err());
        assert!(month_range("January").is_err());
        let (s, e) = month_range("2026-12").expect("ok");
        assert_eq!(
            (s.to_string(), e.to_string()),
            ("2026-12-01".into(), "2027-01-01".into())
        );
    }
}
