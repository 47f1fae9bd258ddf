//! `opsctl cost report` against moto server's Cost Explorer, whose
//! GetCostAndUsage answers come from a queue seeded through `/moto-api/`
//! (moto tracks no real cost); `opsctl cost timeline` through the binary.

use crate::common;

async fn seed(month_start: &str, month_end: &str, groups: &[(&str, &str)]) {
    let groups: Vec<serde_json::Value> = groups
        .iter()
        .map(|(service, amount)| {
            serde_json::json!({
                "Keys": [service],
                "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}
            })
        })
        .collect();
    let body = serde_json::json!({
        "results": [{
            "ResultsByTime": [{
                "TimePeriod": {"Start": month_start, "End": month_end},
                "Total": {},
                "Groups": groups,
                "Estimated": false
            }]
        }]
    });
    let status = reqwest::Client::new()
        .post(format!(
            "{}/moto-api/static/ce/cost-and-usage-results",
            common::moto_url()
        ))
        .json(&body)
        .send()
        .await
        .expect("moto")
        .status();
    assert!(status.is_success(), "{status}");
}

#[tokio::test]
async fn a_month_of_spend_is_compared_with_the_model_by_service() {
    // A month no other test asks for: moto keys its answers by request.
    seed(
        "2019-03-01",
        "2019-04-01",
        &[
            ("Amazon Relational Database Service", "14.60"),
            ("Amazon ElastiCache", "12.41"),
            ("Amazon Elastic Compute Cloud - Compute", "8.47"),
            ("EC2 - Other", "2.00"),
            ("Amazon Elastic Container Service", "91.20"),
            ("Amazon Elastic Load Balancing", "16.43"),
        ],
    )
    .await;
    let r = common::opsctl(
        &["--output", "json", "cost", "report", "--month", "2019-03"],
        &[],
    )
    .await;
    assert_eq!(
        r.code, 1,
        "Fargate is over its model: {}{}",
        r.stdout, r.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let row = |item: &str| {
        report["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["item"] == item)
            .cloned()
            .expect(item)
    };
    assert_eq!(row("EC2 Kafka")["actual"], 10.47);
    assert_eq!(row("EC2 Kafka")["over"], false);
    assert_eq!(row("ECS Fargate")["over"], true);
    assert_eq!(report["actual_total"], 145.11);

    let future = common::opsctl(&["cost", "report", "--month", "2999-01"], &[]).await;
    assert_eq!(future.code, 2, "{}", future.stderr);
    assert!(future.stderr.contains("has not begun"), "{}", future.stderr);
    let bad = common::opsctl(&["cost", "report", "--month", "March"], &[]).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("YYYY-MM"), "{}", bad.stderr);
}

#[tokio::test]
async fn the_free_tier_timeline_is_dated_with_a_command_for_every_step() {
    let r = common::opsctl(
        &[
            "--output",
            "json",
            "cost",
            "timeline",
            "--free-tier-ends",
            "2027-01-12",
        ],
        &[],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let actions: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(actions[0]["when"], "D-180");
    assert_eq!(actions[0]["date"], "2026-07-16");
    assert_eq!(actions.last().expect("D+30")["date"], "2027-02-11");
    let bad = common::opsctl(&["cost", "timeline", "--free-tier-ends", "12/01/2027"], &[]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("YYYY-MM-DD"), "{}", bad.stderr);
}
