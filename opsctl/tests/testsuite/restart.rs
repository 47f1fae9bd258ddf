//! `opsctl kafka restart`: through SSM Run Command against moto server (an
//! instance tagged as the broker, made with moto's EC2 API), and through the
//! local command; the broker it waits for is the local stack's. An action
//! on one environment never reaches another's brokers (issue 28).

use crate::common;

use common::opsctl;

#[tokio::test]
async fn in_aws_the_environments_own_broker_gets_the_restart_through_ssm_and_no_other() {
    let instance = common::broker_instance("us-east-1", "dev").await;
    let production = common::broker_instance("us-east-1", "prod").await;
    let dir = std::env::temp_dir().join(format!("restart-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let audit = dir.join("audit.jsonl");
    let moto = common::moto_url();
    let vars = [
        ("TICKETING__AWS__ENDPOINT_URL", moto.as_str()),
        ("TICKETING__KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:59092"),
        ("OPSCTL_AUDIT_LOG", audit.to_str().expect("path")),
    ];
    let started = chrono::Utc::now().to_rfc3339();
    let plan = opsctl(&["--env", "dev", "kafka", "restart"], &vars).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr.contains("sudo systemctl restart kafka"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("KafkaBrokerOf=dev"), "{}", plan.stderr);
    assert!(
        common::audit_phases(&audit) == ["planned"],
        "a plan is recorded as a plan only"
    );

    let done = opsctl(
        &[
            "--env",
            "dev",
            "--output",
            "json",
            "kafka",
            "restart",
            "--execute",
            "--timeout",
            "30",
        ],
        &vars,
    )
    .await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    let report: serde_json::Value = serde_json::from_str(&done.stdout).expect("json");
    assert!(
        report["instances"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i == instance.as_str())),
        "{report}"
    );
    assert!(
        report["instances"]
            .as_array()
            .is_some_and(|a| a.iter().all(|i| i != production.as_str())),
        "dev's restart reached prod's broker {production}: {report}"
    );
    assert_eq!(report["plan"]["via"], "ssm");
    assert_eq!(
        common::audit_phases(&audit),
        ["planned", "planned", "started", "done"]
    );

    // The team's trail (issue 28): the same entries in dev's CloudWatch Logs
    // group, with who ran them by AWS identity, read back by `opsctl audit`.
    let trail = opsctl(
        &[
            "--env",
            "dev",
            "--output",
            "json",
            "audit",
            "--since",
            "1h",
            "--command",
            "kafka restart",
        ],
        &vars,
    )
    .await;
    assert_eq!(trail.code, 0, "{}", trail.stderr);
    let trail: serde_json::Value = serde_json::from_str(&trail.stdout).expect("json");
    assert_eq!(trail["source"], ticketing_catalog::logs::audit_group("dev"));
    let entries = trail["entries"].as_array().expect("entries");
    let ours: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["at"].as_str().is_some_and(|at| at >= started.as_str()))
        .collect();
    let phases: Vec<&str> = ours.iter().filter_map(|e| e["phase"].as_str()).collect();
    assert_eq!(phases, ["planned", "planned", "started", "done"], "{trail}");
    assert!(
        ours.iter().all(|e| e["identity"]
            .as_str()
            .is_some_and(|arn| arn.starts_with("arn:aws:"))
            && e["env"] == "dev"),
        "{trail}"
    );

    // A region without a broker instance: nobody receives it.
    let nobody = opsctl(
        &[
            "--env",
            "dev",
            "--region",
            "ap-northeast-2",
            "kafka",
            "restart",
            "--execute",
            "--timeout",
            "3",
        ],
        &vars,
    )
    .await;
    assert_eq!(nobody.code, 3, "{}", nobody.stderr);
    assert!(
        nobody.stderr.contains("no instance tagged"),
        "{}",
        nobody.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn on_the_local_stack_the_configured_command_runs_and_its_failure_is_reported() {
    let dir = std::env::temp_dir().join(format!("restart-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let marker = dir.join("restarted");
    let audit = dir.join("audit.jsonl");
    let command = format!("touch {}", marker.display());
    let vars = [
        ("TICKETING__STACK__KAFKA_RESTART_COMMAND", command.as_str()),
        ("OPSCTL_AUDIT_LOG", audit.to_str().expect("path")),
    ];
    let plan = opsctl(&["kafka", "restart"], &vars).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!marker.exists(), "a plan runs nothing");
    let done = opsctl(&["kafka", "restart", "--execute", "--timeout", "20"], &vars).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(marker.exists());
    assert!(
        done.stdout.contains("the broker answered"),
        "{}",
        done.stdout
    );

    let failing = [
        (
            "TICKETING__STACK__KAFKA_RESTART_COMMAND",
            "echo cannot >&2; exit 3",
        ),
        ("OPSCTL_AUDIT_LOG", audit.to_str().expect("path")),
    ];
    let failed = opsctl(&["kafka", "restart", "--execute"], &failing).await;
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert!(failed.stderr.contains("cannot"), "{}", failed.stderr);
    assert_eq!(
        common::audit_phases(&audit),
        ["planned", "planned", "started", "done", "planned", "started", "failed"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
