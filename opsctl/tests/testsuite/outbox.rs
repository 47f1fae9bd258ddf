//! `opsctl outbox status|replay` against the real local stack: a test
//! database with the services' schemas, events in reservation-service's
//! outbox, and the shared broker under this test's topic prefix.

use crate::common;

use common::Run;
use ticketing_catalog::topics;
use ticketing_testkit::TestEnv;

async fn opsctl(env: &TestEnv, audit: &std::path::Path, args: &[&str]) -> Run {
    let audit = audit.display().to_string();
    let vars = [
        (
            "TICKETING__DATABASE__NAME",
            env.settings.database.name.as_str(),
        ),
        (
            "TICKETING__KAFKA__TOPIC_PREFIX",
            env.settings.kafka.topic_prefix.as_str(),
        ),
        ("OPSCTL_AUDIT_LOG", audit.as_str()),
    ];
    common::opsctl(args, &vars).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_backlog_and_replay_plans_then_sends_it_with_an_audit_trail() {
    let (env, pool) = common::outbox_with_events(5).await;
    let dir = std::env::temp_dir().join(format!("opsctl-audit-{}", env.id));
    let audit = dir.join("audit.jsonl");

    let status = opsctl(&env, &audit, &["outbox", "status", "--output", "json"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let report: serde_json::Value = serde_json::from_str(&status.stdout).expect("json");
    let reservation = report
        .as_array()
        .and_then(|a| a.iter().find(|s| s["service"] == "reservation-service"))
        .expect("reservation-service row");
    assert_eq!(reservation["unsent"], 5);
    assert_eq!(
        reservation["by_type"][0]["event_type"],
        "ReservationConfirmed"
    );
    let old = opsctl(&env, &audit, &["outbox", "status", "--max-age", "0"]).await;
    assert_eq!(
        old.code, 1,
        "an event older than --max-age is a problem: {}",
        old.stdout
    );

    // The plan alone changes nothing and writes no audit entry.
    let plan = opsctl(&env, &audit, &["outbox", "replay"]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stderr.contains("dry run"), "{}", plan.stderr);
    assert!(
        plan.stdout.contains("ReservationConfirmed"),
        "{}",
        plan.stdout
    );
    assert_eq!(common::unsent(&pool).await, 5);
    assert_eq!(common::audit_phases(&audit), ["planned"]);

    let sent = opsctl(
        &env,
        &audit,
        &["outbox", "replay", "--execute", "--output", "json"],
    )
    .await;
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let last: serde_json::Value = serde_json::from_str(&sent.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", sent.stdout));
    assert_eq!(last["published"], 5, "{}", sent.stdout);
    assert!(
        last["plan"]["execute"].as_bool().unwrap_or_default(),
        "{last}"
    );
    assert!(
        sent.stderr.contains("\"progress\""),
        "JSON lines of progress on stderr: {}",
        sent.stderr
    );
    assert_eq!(common::unsent(&pool).await, 0);
    let on_broker = ticketing_kafka::group_lag(
        &env.settings.kafka,
        &format!("check-{}", env.id),
        &[env.topic(topics::RESERVATION_EVENTS)],
    )
    .await
    .expect("lag");
    assert_eq!(on_broker.iter().map(|p| p.log_end).sum::<i64>(), 5);
    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .expect("audit log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line"))
        .collect();
    let phases: Vec<&str> = entries.iter().filter_map(|e| e["phase"].as_str()).collect();
    assert_eq!(phases, ["planned", "planned", "started", "done"]);
    assert_eq!(entries[3]["detail"]["published"], 5);
    assert_eq!(entries[2]["env"], "local");

    let _ = std::fs::remove_dir_all(&dir);
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn bad_replay_arguments_are_refused_before_anything_happens() {
    let env = TestEnv::new().await;
    let audit = std::env::temp_dir().join(format!("opsctl-audit-{}.jsonl", env.id));
    for (args, needle) in [
        (
            vec![
                "outbox",
                "replay",
                "--since",
                "2026-11-24T02:00:00Z",
                "--until",
                "2026-11-24T01:00:00Z",
            ],
            "backwards",
        ),
        (
            vec![
                "outbox",
                "replay",
                "--since",
                "yesterday",
                "--until",
                "2026-11-24T01:00:00Z",
            ],
            "not a time",
        ),
        (
            vec!["outbox", "replay", "--service", "user-service"],
            "has no outbox",
        ),
        (vec!["outbox", "replay", "--rate", "0"], "--rate"),
        (
            vec!["outbox", "replay", "--since", "2026-11-24T02:00:00Z"],
            "--until",
        ),
    ] {
        let run = opsctl(&env, &audit, &args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    assert!(!audit.exists());
    env.cleanup().await;
}
