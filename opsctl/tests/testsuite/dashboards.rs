//! `opsctl dashboards plan|apply` against moto server's CloudWatch (spoken
//! over awsQuery: see the pin in Cargo.toml), in a region of this test's own.

use crate::common;

const REGION: &str = "ap-south-1";

async fn opsctl(args: &[&str], audit: &std::path::Path) -> common::Run {
    let audit = audit.display().to_string();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../dashboards");
    let args = [args, &["--dir", dir]].concat();
    common::opsctl(
        &args,
        &[("OPSCTL_AUDIT_LOG", audit.as_str()), ("AWS_REGION", REGION)],
    )
    .await
}

#[tokio::test]
async fn dashboards_are_put_once_and_a_dashboard_with_an_unknown_metric_is_refused() {
    let cw = aws_sdk_cloudwatch::Client::new(&common::moto_sdk(REGION).await);
    let names: Vec<String> = ["booking-flow", "payments", "kafka-outbox", "cost"]
        .iter()
        .map(|n| format!("ticketing-dev-{n}"))
        .collect();
    let _ = cw
        .delete_dashboards()
        .set_dashboard_names(Some(names.clone()))
        .send()
        .await;
    let audit = common::temp_audit_log("dashboards");

    let plan = opsctl(
        &["--env", "dev", "--output", "json", "dashboards", "plan"],
        &audit,
    )
    .await;
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    let items: Vec<serde_json::Value> = serde_json::from_str(&plan.stdout).expect("json");
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| i["action"] == "create"));

    let dry = opsctl(&["--env", "dev", "dashboards", "apply"], &audit).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        cw.get_dashboard()
            .dashboard_name(&names[1])
            .send()
            .await
            .is_err(),
        "a dry run puts nothing"
    );

    let applied = opsctl(
        &["--env", "dev", "dashboards", "apply", "--execute"],
        &audit,
    )
    .await;
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    let payments = cw
        .get_dashboard()
        .dashboard_name(&names[1])
        .send()
        .await
        .expect("payments dashboard");
    let body: serde_json::Value =
        serde_json::from_str(payments.dashboard_body().unwrap_or_default()).expect("body");
    assert!(body.to_string().contains("payment.failure"));
    assert!(body.to_string().contains(REGION), "the region is filled in");

    let clean = opsctl(&["--env", "dev", "dashboards", "plan"], &audit).await;
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    let again = opsctl(
        &["--env", "dev", "dashboards", "apply", "--execute"],
        &audit,
    )
    .await;
    assert!(
        again.stderr.contains("nothing to change"),
        "{}",
        again.stderr
    );

    // A dashboard naming a metric nobody emits.
    let bad_dir = std::env::temp_dir().join(format!("dash-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&bad_dir).expect("dir");
    std::fs::write(
        bad_dir.join("oops.json"),
        r#"{"widgets":[{"type":"metric","properties":{"metrics":[["Custom/Ticketing","payments.sucess"]]}}]}"#,
    )
    .expect("write");
    let bad = common::opsctl(
        &[
            "--env",
            "dev",
            "dashboards",
            "apply",
            "--execute",
            "--dir",
            &bad_dir.display().to_string(),
        ],
        &[("AWS_REGION", REGION)],
    )
    .await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("payments.sucess"), "{}", bad.stderr);
    assert!(cw
        .get_dashboard()
        .dashboard_name("ticketing-dev-oops")
        .send()
        .await
        .is_err());
    let _ = std::fs::remove_dir_all(&bad_dir);
}
