//! The Kafka DR drill on the local stack: bookings flow, the broker is
//! killed, payments keep succeeding (their events pile up in the outboxes),
//! then `opsctl kafka dr --execute` brings the broker back and drains
//! everything: 0 events lost, every paid reservation CONFIRMED, none twice,
//! and the report's numbers match what the test counted. With
//! `--notify-customers`, customers see the booking-delay notice while the
//! broker is down and none after.
//!
//! The broker is a private Kafka (the shared one serves parallel tests); the
//! runbook's local restart command is pointed at it.

use ticketing_catalog::{topics, ServiceName};
use ticketing_e2e::Stack;
use ticketing_testkit::{PrivateBroker, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_broker_is_recovered_by_the_runbook_with_nothing_lost() {
    let env = TestEnv::new().await;
    let mut broker = PrivateBroker::start_new();
    let mut settings = env.settings.clone();
    settings.kafka = broker.settings(&env.settings.kafka);
    ticketing_kafka::ensure_topics(&settings.kafka, &topics::ALL, 1, 1)
        .await
        .expect("topics");
    let booking = Stack::start_with(env, settings).await;
    let (performance, seats) = booking.minted_performance(10, 5000).await;
    // One full booking: hold, prepare, pay; the webhook reaches the gateway.
    let book = |i: usize| booking.book(performance, &seats[i]);
    let unsent = || async {
        booking
            .count(
                "payment_service",
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL",
            )
            .await
            + booking
                .count(
                    "reservation_service",
                    "SELECT count(*) FROM outbox WHERE sent_at IS NULL",
                )
                .await
    };

    let mut before = Vec::new();
    for i in 0..3 {
        before.push(book(i).await);
    }
    assert_eq!(
        booking.confirmed(&before).await,
        3,
        "bookings flow before the outage"
    );

    // A customer holding seats, not yet paid, when the broker dies: the
    // guard keeps the hold open through the outage.
    let holder = booking.customer(performance);
    let open = booking.hold_as(&holder, performance, &seats[9]).await;
    let open_id: uuid::Uuid = open["reservation_id"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .expect("reservation id");
    let hold_end = || async {
        let pool = booking.env.pool(Some("reservation_service"));
        let found = reservation_service::repository::by_id(&pool, open_id)
            .await
            .expect("read")
            .expect("the hold");
        pool.close().await;
        found.expires_at
    };
    let ends_before = hold_end().await;

    broker.stop();
    let mut during = Vec::new();
    for i in 3..7 {
        during.push(book(i).await);
    }
    let piled = unsent().await;
    assert!(
        piled >= 8,
        "holds and payments piled up in the outboxes: {piled}"
    );
    for id in &during {
        assert_eq!(
            booking.status_of(id).await,
            "PENDING",
            "nothing confirms while the broker is down"
        );
    }

    let audit = std::env::temp_dir().join(format!("dr-{}.jsonl", booking.env.id));
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_opsctl"))
        .args([
            "--output",
            "json",
            "kafka",
            "dr",
            "--execute",
            "--notify-customers",
            "--guard-sales",
            "--restart-timeout",
            "60",
            "--drain-timeout",
            "120",
            "--reconcile-older-than",
            "0s",
        ])
        .env(
            "TICKETING__DATABASE__NAME",
            &booking.env.settings.database.name,
        )
        .env(
            "TICKETING__KAFKA__BOOTSTRAP_SERVERS",
            &booking.settings.kafka.bootstrap_servers,
        )
        .env(
            "TICKETING__KAFKA__TOPIC_PREFIX",
            &booking.settings.kafka.topic_prefix,
        )
        .env(
            "TICKETING__STACK__KAFKA_RESTART_COMMAND",
            broker.restart_command(),
        )
        .env("TICKETING__PORTONE__BASE_URL", booking.sandbox.url.as_str())
        .env("TICKETING__SERVICES__API_GATEWAY__URL", &booking.gateway)
        .env(
            "TICKETING__REDIS__KEY_PREFIX",
            &booking.env.settings.redis.key_prefix,
        )
        .env("OPSCTL_AUDIT_LOG", &audit)
        .output();
    let redis = booking.env.redis();
    // While the runbook runs, watch what customers see: the booking-delay
    // notice must show while the broker is still down.
    let bootstrap = booking.settings.kafka.bootstrap_servers.clone();
    let done = std::sync::atomic::AtomicBool::new(false);
    let watch = async {
        let (mut seen_while_down, mut paused_while_down) = (false, false);
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let shown = booking.notices().await.1;
            let broker_down = std::net::TcpStream::connect(bootstrap.as_str()).is_err();
            if broker_down && shown.iter().any(|n| n["template"] == "booking-delay") {
                seen_while_down = true;
            }
            let all = queue_service::controls::read(&redis, queue_service::controls::Scope::All)
                .await
                .expect("controls");
            paused_while_down |= broker_down && all.paused;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        (seen_while_down, paused_while_down)
    };
    let (out, (seen_while_down, paused_while_down)) = tokio::join!(
        async {
            let out = run.await.expect("opsctl");
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            out
        },
        watch
    );
    assert!(
        seen_while_down,
        "customers saw the booking-delay notice while the broker was down"
    );
    assert!(
        booking.notices().await.1.is_empty(),
        "no notice once recovered"
    );
    assert!(
        paused_while_down,
        "admission was paused while the broker was down"
    );
    let all = queue_service::controls::read(&redis, queue_service::controls::Scope::All)
        .await
        .expect("controls");
    assert!(!all.paused, "admission resumed at the end");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");

    let all: Vec<String> = before.iter().chain(&during).cloned().collect();
    assert_eq!(
        booking.confirmed(&all).await,
        7,
        "every paid reservation is CONFIRMED: {report}"
    );
    let twice = booking
        .count(
            "reservation_service",
            "SELECT count(*) FROM (SELECT partition_key FROM outbox WHERE event_type = 'ReservationConfirmed' \
             GROUP BY partition_key HAVING count(*) > 1) d",
        )
        .await;
    assert_eq!(twice, 0, "no reservation confirmed twice");
    assert_eq!(unsent().await, 0);
    assert_eq!(report["events_lost"], 0, "{report}");
    let replayed = report["events_replayed"].as_i64().expect("replayed");
    assert!(
        replayed <= piled,
        "replayed {replayed} of the {piled} piled up (the services' relays send the rest)"
    );
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "detect",
            "notify",
            "restart",
            "health",
            "verify-segments",
            "replay",
            "drain",
            "reconcile",
            "end-notice"
        ]
    );
    assert!(
        report["steps"][2]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("restarted"),
        "{report}"
    );
    assert!(report["recovery_seconds"].as_f64().expect("seconds") > 0.0);
    // The open hold ends the outage's length later than it would have.
    let guard = &report["guard"];
    assert_eq!(guard["admission_resumed"], true, "{report}");
    // Open at the start: the unpaid hold and the four paid during the
    // outage. Those still PENDING at the end are extended too; the ones
    // already confirmed are not (how many depends on how far the services'
    // own relays got), the unpaid one always is.
    assert_eq!(guard["holds_open"], 1 + 4, "{report}");
    assert!(
        guard["holds_extended"]
            .as_i64()
            .is_some_and(|n| (1..=5).contains(&n)),
        "{report}"
    );
    let moved = (hold_end().await - ends_before).num_seconds();
    let outage = guard["extended_by_seconds"].as_i64().expect("seconds");
    assert!(outage >= 1, "the run took a while: {report}");
    assert_eq!(
        moved, outage,
        "the hold moved by the outage's length: {report}"
    );

    let _ = std::fs::remove_file(&audit);
    let env = booking.stop_keeping_env().await;
    drop(broker);
    env.cleanup().await;
}

#[tokio::test]
async fn a_failing_step_stops_the_runbook_and_names_where_to_resume() {
    let env = TestEnv::new().await;
    ticketing_platform::migrate_all(&env.settings, &env.secrets, &ServiceName::ALL)
        .await
        .expect("migrate");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let audit = std::env::temp_dir().join(format!("dr-fail-{}.jsonl", env.id));
    let run = |args: Vec<&'static str>| {
        let dead = dead.clone();
        let audit = audit.clone();
        let db = env.settings.database.name.clone();
        let prefix = env.settings.redis.key_prefix.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_opsctl"))
                .args(args)
                .env("TICKETING__DATABASE__NAME", db)
                .env("TICKETING__KAFKA__BOOTSTRAP_SERVERS", dead)
                .env("TICKETING__KAFKA__REQUEST_TIMEOUT_MS", "500")
                .env(
                    "TICKETING__STACK__KAFKA_RESTART_COMMAND",
                    "echo the broker host is gone >&2; exit 1",
                )
                .env("TICKETING__REDIS__KEY_PREFIX", prefix)
                .env("OPSCTL_AUDIT_LOG", audit)
                .output()
                .await
                .expect("opsctl")
        }
    };
    let plan = run(vec!["kafka", "dr"]).await;
    assert_eq!(plan.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&plan.stderr).contains("dry run"));

    let failed = run(vec![
        "kafka",
        "dr",
        "--execute",
        "--guard-sales",
        "--restart-timeout",
        "5",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(3), "{stderr}");
    // The guard came down with the failed step: admission resumed.
    assert!(
        stderr.contains("sales guarded for") && stderr.contains("admission resumed"),
        "{stderr}"
    );
    let all = queue_service::controls::read(&env.redis(), queue_service::controls::Scope::All)
        .await
        .expect("controls");
    assert!(!all.paused, "{stderr}");
    assert!(stderr.contains("step `restart` failed"), "{stderr}");
    assert!(stderr.contains("the broker host is gone"), "{stderr}");
    // The hint is the whole command: this environment, this run's flags,
    // the step to resume from. Pasted, it resumes there.
    let hint = stderr
        .split("then run `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no resume hint in {stderr}"));
    let words = shlex::split(hint).unwrap_or_else(|| panic!("`{hint}` is not a command line"));
    assert_eq!(
        words,
        [
            "opsctl",
            "--env",
            "local",
            "kafka",
            "dr",
            "--execute",
            "--guard-sales",
            "--restart-timeout",
            "5",
            "--resume-from",
            "restart"
        ],
        "{hint}"
    );
    let pasted = run(words[1..].iter().map(|w| &*w.clone().leak()).collect()).await;
    let stderr = String::from_utf8_lossy(&pasted.stderr);
    assert_eq!(pasted.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("[dr] detect"), "{stderr}");
    assert!(stderr.contains("step `restart` failed"), "{stderr}");

    // A customer-notice step is resumed only with the flag that runs it
    // (without it the run would plan nothing and leave the notice up).
    let notice = run(vec![
        "kafka",
        "dr",
        "--execute",
        "--resume-from",
        "end-notice",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&notice.stderr);
    assert_eq!(notice.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "opsctl --env local kafka dr --execute --notify-customers --resume-from end-notice"
        ),
        "{stderr}"
    );

    // Resuming later skips the steps before.
    let resumed = run(vec![
        "kafka",
        "dr",
        "--execute",
        "--resume-from",
        "health",
        "--restart-timeout",
        "2",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("[dr] detect"), "{stderr}");
    assert!(stderr.contains("--resume-from health"), "{stderr}");
    let _ = std::fs::remove_file(&audit);
    env.cleanup().await;
}
