//! `opsctl portone rollback` and `switch-back` against moto server's ECS and
//! Secrets Manager, in a region of this test's own. moto cannot run tasks,
//! so "failing" is what the deploy history says: the running revision is
//! the failing live deployment, an older one is tagged FAILED, and the one
//! before it COMPLETED; the service has no tasks, so moto reports each
//! deployment stable at once (the stable/failed logic itself is unit-tested
//! on described services in `rollback.rs`).

use crate::common;

use ticketing_e2e::Stack;

const REGION: &str = "sa-east-1";
const LIVE: &str = r#"{"imp_code":"imp87654321","api_key":"live_api_key_prodprod","api_secret":"live_api_secret_prod","mode":"production"}"#;
const TEST: &str = r#"{"imp_code":"imp00000000","api_key":"test_api_key_emergency","api_secret":"test_api_secret_x","mode":"test"}"#;

async fn put_secret(sm: &aws_sdk_secretsmanager::Client, name: &str, value: Option<&str>) {
    let _ = sm
        .delete_secret()
        .secret_id(name)
        .force_delete_without_recovery(true)
        .send()
        .await;
    if let Some(value) = value {
        sm.create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("secret");
    }
}

async fn secret(sm: &aws_sdk_secretsmanager::Client, name: &str) -> String {
    sm.get_secret_value()
        .secret_id(name)
        .send()
        .await
        .expect("read secret")
        .secret_string()
        .unwrap_or_default()
        .to_owned()
}

async fn register(ecs: &aws_sdk_ecs::Client, rollout: Option<&str>) -> String {
    common::register_revision(
        ecs,
        "payment-service",
        "123456789012.dkr.ecr.sa-east-1.amazonaws.com/ticketing:1",
        &[],
        &[("TICKETING_PROFILE", "prod")],
        rollout,
    )
    .await
}

async fn opsctl(args: &[&str], audit: &std::path::Path) -> common::Run {
    opsctl_in(REGION, args, audit, &[]).await
}

async fn opsctl_in(
    region: &str,
    args: &[&str],
    audit: &std::path::Path,
    vars: &[(&str, &str)],
) -> common::Run {
    let audit = audit.display().to_string();
    let moto = common::moto_url();
    let mut all = vec![
        ("OPSCTL_AUDIT_LOG", audit.as_str()),
        ("AWS_REGION", region),
        ("AWS_ENDPOINT_URL", moto.as_str()),
    ];
    all.extend_from_slice(vars);
    common::opsctl(args, &all).await
}

/// moto in `region`: the prod cluster and payment service running a live
/// revision whose rollout is failing, one FAILED and one COMPLETED before
/// it, and the live and test keys; returns (good, bad, live) revisions.
async fn failing_live_deployment(
    ecs: &aws_sdk_ecs::Client,
    sm: &aws_sdk_secretsmanager::Client,
) -> (String, String, String) {
    ecs.create_cluster()
        .cluster_name("ticketing-prod")
        .send()
        .await
        .expect("cluster");
    let _ = ecs
        .delete_service()
        .cluster("ticketing-prod")
        .service("payment-service")
        .force(true)
        .send()
        .await;
    // Revisions an earlier run left in this moto server would be older
    // candidates: retire them.
    let old = ecs
        .list_task_definitions()
        .family_prefix("payment-service-prod")
        .send()
        .await
        .expect("list task definitions");
    for arn in old.task_definition_arns() {
        let _ = ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await;
    }
    let good = register(ecs, Some("COMPLETED")).await;
    let bad = register(ecs, Some("FAILED")).await;
    let live = register(ecs, None).await;
    ecs.create_service()
        .cluster("ticketing-prod")
        .service_name("payment-service")
        .task_definition(&live)
        .desired_count(0)
        .send()
        .await
        .expect("service");
    put_secret(sm, "ticketing/prod/portone", Some(LIVE)).await;
    put_secret(sm, "ticketing/prod/portone-test", Some(TEST)).await;
    put_secret(sm, "ticketing/prod/portone-live", None).await;
    (good, bad, live)
}

#[tokio::test]
async fn a_failing_live_deployment_is_rolled_back_to_the_last_good_revision_in_test_mode_and_switched_back(
) {
    let sdk = common::moto_sdk(REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let (good, bad, live) = failing_live_deployment(&ecs, &sm).await;
    let audit = common::temp_audit_log("rollback");

    // The plan: back to the COMPLETED revision, passing over the FAILED one.
    let plan = opsctl(
        &["--env", "prod", "portone", "rollback", "--test-keys"],
        &audit,
    )
    .await;
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    let good_rev = good.rsplit(':').next().expect("revision");
    let bad_rev = bad.rsplit(':').next().expect("revision");
    assert!(
        plan.stderr
            .contains(&format!("-> payment-service-prod:{good_rev}")),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr
            .contains(&format!("skipped revision {bad_rev}: its rollout failed")),
        "{}",
        plan.stderr
    );
    assert_eq!(
        common::running(&ecs, "payment-service").await,
        live,
        "a dry run changes nothing"
    );
    assert_eq!(secret(&sm, "ticketing/prod/portone").await, LIVE);
    assert_eq!(
        common::audit_phases(&audit),
        ["planned"],
        "a dry run records only its plan"
    );

    let run = opsctl(
        &[
            "--env",
            "prod",
            "--output",
            "json",
            "portone",
            "rollback",
            "--test-keys",
            "--execute",
            "--yes",
            "--timeout",
            "30",
        ],
        &audit,
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json report");
    assert_eq!(report["to"], good.as_str());
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["step"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        steps,
        vec![
            "mark the running revision failed",
            "save the live keys",
            "switch to the test keys",
            "update the service",
            "wait until stable",
            "record the revision as good"
        ]
    );
    assert!(report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .all(|s| s["ok"] == true && s["seconds"].is_number()));
    assert_eq!(common::running(&ecs, "payment-service").await, good);
    assert_eq!(secret(&sm, "ticketing/prod/portone").await, TEST);
    assert_eq!(
        secret(&sm, "ticketing/prod/portone-live").await,
        LIVE,
        "the live keys stay retrievable"
    );
    assert_eq!(
        common::rollout_tag(&ecs, &live).await.as_deref(),
        Some("FAILED")
    );
    assert_eq!(
        common::rollout_tag(&ecs, &good).await.as_deref(),
        Some("COMPLETED")
    );
    assert!(!run.stdout.contains("live_api_key") && !run.stderr.contains("live_api_secret"));
    assert!(
        run.stderr.contains("portone switch-back --execute"),
        "{}",
        run.stderr
    );

    let mode = opsctl(
        &["--output", "json", "portone", "mode", "--of", "prod"],
        &audit,
    )
    .await;
    let modes: serde_json::Value = serde_json::from_str(&mode.stdout).expect("json");
    assert_eq!(modes[0]["secret_mode"], "test");

    // Nothing older than the good revision is known good: refused, unchanged.
    let again = opsctl(
        &["--env", "prod", "portone", "rollback", "--execute", "--yes"],
        &audit,
    )
    .await;
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("no revision older than"),
        "{}",
        again.stderr
    );
    assert_eq!(common::running(&ecs, "payment-service").await, good);

    // The switch-back's dry run: recorded as a plan, nothing changed.
    let switch_plan = common::temp_audit_log("switch-back");
    let dry = opsctl(&["--env", "prod", "portone", "switch-back"], &switch_plan).await;
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert_eq!(common::audit_phases(&switch_plan), ["planned"]);
    assert_ne!(secret(&sm, "ticketing/prod/portone").await, LIVE);
    let _ = std::fs::remove_file(&switch_plan);

    let back = opsctl(
        &[
            "--env",
            "prod",
            "portone",
            "switch-back",
            "--execute",
            "--yes",
        ],
        &audit,
    )
    .await;
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_eq!(secret(&sm, "ticketing/prod/portone").await, LIVE);
    assert_eq!(common::running(&ecs, "payment-service").await, good);

    let log = std::fs::read_to_string(&audit).expect("audit");
    assert!(
        log.contains("\"command\":\"portone rollback\"")
            && log.contains("\"command\":\"portone switch-back\"")
    );
    assert!(
        !log.contains("live_api_secret_prod"),
        "no secret in the audit log"
    );

    // Test keys that are not the expected JSON: refused before any change.
    put_secret(&sm, "ticketing/prod/portone-test", Some("imp0:test_key")).await;
    let bad_keys = register(&ecs, Some("COMPLETED")).await;
    ecs.update_service()
        .cluster("ticketing-prod")
        .service("payment-service")
        .task_definition(&bad_keys)
        .send()
        .await
        .expect("update");
    let refused = opsctl(
        &[
            "--env",
            "prod",
            "portone",
            "rollback",
            "--test-keys",
            "--execute",
            "--yes",
        ],
        &audit,
    )
    .await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("not the expected JSON"),
        "{}",
        refused.stderr
    );
    assert_eq!(common::running(&ecs, "payment-service").await, bad_keys);
    assert_eq!(secret(&sm, "ticketing/prod/portone").await, LIVE);

    let local = opsctl(&["portone", "rollback"], &audit).await;
    assert_eq!(local.code, 2, "{}", local.stderr);
}

/// With `--notify-customers`, the rollback first posts the payment-paused
/// notice (customers see it at the platform's public `GET /api/notices`)
/// and `switch-back --notify-customers` ends it; without `--execute`
/// nothing is posted. The platform runs in this test with the access-token
/// key opsctl is given (a prod-strength key: prod refuses the local one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollback_tells_customers_and_switch_back_ends_the_notice() {
    const NOTIFY_REGION: &str = "ap-southeast-2";
    const KEY: &str = "rollback-test-access-token-key-0123456789abcdef";
    let sdk = common::moto_sdk(NOTIFY_REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let (good, _, _) = failing_live_deployment(&ecs, &sm).await;
    let mut env = ticketing_testkit::TestEnv::new().await;
    env.create_topics().await;
    env.secrets.jwt_signing_key = secrecy::SecretString::from(KEY.to_owned());
    let settings = env.settings.clone();
    let booking = Stack::start_with(env, settings).await;
    let audit = common::temp_audit_log("rollback-notify");
    let vars = [
        (
            "TICKETING__SERVICES__API_GATEWAY__URL",
            booking.gateway.as_str(),
        ),
        ("JWT_SIGNING_KEY", KEY),
    ];
    let run = |args: &'static [&'static str]| opsctl_in(NOTIFY_REGION, args, &audit, &vars);

    let plan = run(&["--env", "prod", "portone", "rollback", "--notify-customers"]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr.contains("customers are told"),
        "{}",
        plan.stderr
    );
    assert!(booking.notices().await.1.is_empty(), "a plan posts nothing");
    // Guarding sales needs the data plane: from outside the VPC it is
    // refused before anything changes, with the way to do it by hand.
    let unguarded = run(&[
        "--env",
        "prod",
        "portone",
        "rollback",
        "--guard-sales",
        "--execute",
        "--yes",
    ])
    .await;
    assert_eq!(unguarded.code, 2, "{}", unguarded.stderr);
    assert!(
        unguarded.stderr.contains("only the VPC reaches")
            && unguarded
                .stderr
                .contains("opsctl --env prod queue pause --all --execute"),
        "{}",
        unguarded.stderr
    );

    let rolled = run(&[
        "--env",
        "prod",
        "--output",
        "json",
        "portone",
        "rollback",
        "--test-keys",
        "--notify-customers",
        "--execute",
        "--yes",
        "--timeout",
        "30",
    ])
    .await;
    assert_eq!(rolled.code, 0, "{}{}", rolled.stdout, rolled.stderr);
    let report: serde_json::Value = serde_json::from_str(&rolled.stdout).expect("json report");
    assert_eq!(report["steps"][0]["step"], "tell customers", "{report}");
    assert_eq!(report["to"], good.as_str());
    let shown = booking.notices().await.1;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["template"], "payment-paused");
    assert_eq!(shown[0]["flows"], serde_json::json!(["payment"]));

    let back = run(&[
        "--env",
        "prod",
        "--output",
        "json",
        "portone",
        "switch-back",
        "--notify-customers",
        "--execute",
        "--yes",
    ])
    .await;
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    let report: serde_json::Value = serde_json::from_str(&back.stdout).expect("json report");
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(
        steps.last().map(|s| &s["step"]),
        Some(&serde_json::json!("end the customer notice"))
    );
    assert!(booking.notices().await.1.is_empty(), "the notice is gone");
    assert!(
        !rolled.stderr.contains(KEY) && !back.stderr.contains(KEY),
        "the key is never printed"
    );

    let _ = std::fs::remove_file(&audit);
    let env = booking.stop_keeping_env().await;
    env.cleanup().await;
}
