//! `opsctl logs retention plan|apply` against moto server's CloudWatch Logs,
//! in a region of this test's own (moto keeps state per region).

use crate::common;

const REGION: &str = "eu-west-3";

fn moto_url() -> String {
    ticketing_config::load(ticketing_config::Profile::Local)
        .expect("local settings")
        .aws
        .endpoint_url
        .expect("moto endpoint")
        .to_string()
        .trim_end_matches('/')
        .to_owned()
}

async fn client() -> aws_sdk_cloudwatchlogs::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(moto_url())
        .credentials_provider(aws_sdk_cloudwatchlogs::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_cloudwatchlogs::Client::new(&config)
}

async fn opsctl(args: &[&str], audit: &std::path::Path) -> (i32, String, String) {
    let audit = audit.display().to_string();
    let args = [&["--region", REGION], args].concat();
    let r = common::opsctl(&args, &[("OPSCTL_AUDIT_LOG", audit.as_str())]).await;
    (r.code, r.stdout, r.stderr)
}

#[tokio::test]
async fn retention_classes_are_planned_applied_once_and_exclusions_left_alone() {
    let logs = client().await;
    let groups = [
        ("/ecs/ticketing/local/api-gateway", None),
        ("/ecs/ticketing/local/payment-service", Some(30)),
        ("/ecs/ticketing/local/event-service", Some(7)),
        ("/ecs/ticketing/local/legacy-batch", None),
        ("/aws/lambda/someone-else", None),
    ];
    for (name, days) in groups {
        let _ = logs.delete_log_group().log_group_name(name).send().await;
        logs.create_log_group()
            .log_group_name(name)
            .send()
            .await
            .expect("create");
        if let Some(days) = days {
            logs.put_retention_policy()
                .log_group_name(name)
                .retention_in_days(days)
                .send()
                .await
                .expect("retention");
        }
    }
    let audit = std::env::temp_dir().join(format!("logs-{}.jsonl", uuid::Uuid::new_v4().simple()));
    let exclude = ["--exclude", "/ecs/ticketing/local/legacy-*"];

    let (code, stdout, stderr) = opsctl(
        &[
            "--output",
            "json",
            "logs",
            "retention",
            "plan",
            exclude[0],
            exclude[1],
        ],
        &audit,
    )
    .await;
    assert_eq!(code, 1, "drift is a finding: {stderr}");
    let plan: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("json");
    let row = |g: &str| plan.iter().find(|r| r["group"] == g).cloned().expect("row");
    assert_eq!(row("/ecs/ticketing/local/api-gateway")["change"], true);
    assert_eq!(
        row("/ecs/ticketing/local/api-gateway")["current_days"],
        serde_json::Value::Null
    );
    assert_eq!(row("/ecs/ticketing/local/api-gateway")["wanted_days"], 7);
    assert_eq!(
        row("/ecs/ticketing/local/payment-service")["wanted_days"],
        90
    );
    assert_eq!(row("/ecs/ticketing/local/event-service")["change"], false);
    assert_eq!(row("/ecs/ticketing/local/legacy-batch")["excluded"], true);
    assert!(plan
        .iter()
        .all(|r| r["group"] != "/aws/lambda/someone-else"));

    let (code, _, stderr) = opsctl(
        &["logs", "retention", "apply", exclude[0], exclude[1]],
        &audit,
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("dry run"), "{stderr}");
    assert_eq!(
        common::retention(&logs, "/ecs/ticketing/local/api-gateway").await,
        None
    );

    let (code, _, stderr) = opsctl(
        &[
            "logs",
            "retention",
            "apply",
            exclude[0],
            exclude[1],
            "--execute",
        ],
        &audit,
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        common::retention(&logs, "/ecs/ticketing/local/api-gateway").await,
        Some(7)
    );
    assert_eq!(
        common::retention(&logs, "/ecs/ticketing/local/payment-service").await,
        Some(90)
    );
    assert_eq!(
        common::retention(&logs, "/ecs/ticketing/local/legacy-batch").await,
        None
    );
    assert_eq!(
        common::retention(&logs, "/aws/lambda/someone-else").await,
        None
    );

    let (code, _, stderr) = opsctl(
        &["logs", "retention", "plan", exclude[0], exclude[1]],
        &audit,
    )
    .await;
    assert_eq!(code, 0, "nothing left to change: {stderr}");
    let phases = common::audit_phases(&audit);
    assert_eq!(
        phases
            .iter()
            .filter(|p| *p != "planned")
            .collect::<Vec<_>>(),
        ["started", "done"]
    );
    let _ = std::fs::remove_file(&audit);
}
