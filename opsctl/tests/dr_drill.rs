//! The Kafka DR drill on the local stack: bookings flow, the broker is
//! killed, payments keep succeeding (their events pile up in the outboxes),
//! then `opsctl kafka dr --execute` brings the broker back and drains
//! everything: 0 events lost, every paid reservation CONFIRMED, none twice,
//! and the report's numbers match what the test counted.
//!
//! The broker is a private tansu (the shared one serves parallel tests); the
//! runbook's local restart command is pointed at it.

use std::time::Duration;

use chrono::Utc;
use portone_sandbox::{SandboxConfig, TEST_CARD};
use secrecy::ExposeSecret;
use serde_json::json;
use ticketing_catalog::{topics, ServiceName};
use ticketing_testkit::{PrivateBroker, TestEnv};
use ticketing_tokens::{Keyring, ReservationClaims};
use uuid::Uuid;

async fn scalar(env: &TestEnv, schema: &str, sql: &str) -> i64 {
    let pool = env.pool(Some(schema));
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(&pool)
        .await
        .expect("query");
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_broker_is_recovered_by_the_runbook_with_nothing_lost() {
    let env = TestEnv::new().await;
    let mut broker = PrivateBroker::start_new();
    let mut settings = env.settings.clone();
    settings.kafka = broker.settings(&env.settings.kafka);
    ticketing_kafka::ensure_topics(&settings.kafka, &topics::ALL, 1, 1)
        .await
        .expect("topics");
    let sandbox = portone_sandbox::start(
        "127.0.0.1",
        0,
        SandboxConfig::new(
            env.secrets.portone_api_key.expose_secret(),
            env.secrets.portone_api_secret.expose_secret(),
        ),
    )
    .await
    .expect("sandbox");
    settings.portone.base_url = sandbox.url.clone();
    settings.booking.rate_limit_per_second = 100_000;
    let platform = ticketing::start(settings.clone(), env.secrets.clone(), &ServiceName::ALL)
        .await
        .expect("platform");
    let gateway = format!(
        "http://{}",
        platform.addr(ServiceName::ApiGateway).expect("gw")
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let auth = ticketing_http::Authenticator::new(
        Keyring::new(&env.secrets.jwt_signing_key, &[]),
        settings.booking.jwt_issuer.clone(),
        3600,
    );
    let queue_keys = Keyring::new(&env.secrets.queue_token_signing_key, &[]);
    let organiser = auth.issue(Uuid::now_v7()).0;
    let created: serde_json::Value = http
        .post(format!("{gateway}/api/events"))
        .bearer_auth(&organiser)
        .json(
            &json!({"title": "Drill", "venue": "Hall", "starts_at": "2027-01-01T19:00:00Z",
            "sections": [{"name": "A", "rows": 1, "seats_per_row": 10, "price": 5000}]}),
        )
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let performance: Uuid = serde_json::from_value(created["id"].clone()).expect("id");
    let map: serde_json::Value = http
        .get(format!("{gateway}/api/events/{performance}/seats"))
        .send()
        .await
        .expect("map")
        .json()
        .await
        .expect("json");

    // One full booking: hold, prepare, pay (the webhook reaches the gateway).
    let book = |i: usize| {
        let user = Uuid::now_v7();
        let access = auth.issue(user).0;
        let qr = ticketing_tokens::issue(
            &queue_keys,
            &ReservationClaims::new(user, performance, Utc::now(), chrono::Duration::minutes(30)),
        );
        let seat = map["seats"][i]["id"].clone();
        let http = http.clone();
        let gateway = gateway.clone();
        let checkout = sandbox.url.join("/sandbox/checkout").expect("url");
        async move {
            let held: serde_json::Value = http
                .post(format!("{gateway}/api/reservations"))
                .bearer_auth(&access)
                .header("x-queue-token", qr)
                .json(&json!({"performance_id": performance, "seat_ids": [seat]}))
                .send()
                .await
                .expect("hold")
                .json()
                .await
                .expect("json");
            let prepared: serde_json::Value = http
                .post(format!("{gateway}/api/payments/prepare"))
                .bearer_auth(&access)
                .json(&json!({"payment_token": held["payment_token"]}))
                .send()
                .await
                .expect("prepare")
                .json()
                .await
                .expect("json");
            let paid: serde_json::Value = http
                .post(checkout)
                .json(&json!({"merchant_uid": prepared["merchant_uid"], "amount": 5000, "card_number": TEST_CARD,
                    "notice_url": format!("{gateway}/webhooks/portone")}))
                .send()
                .await
                .expect("checkout")
                .json()
                .await
                .expect("json");
            assert_eq!(
                paid["webhook"]["status"], 200,
                "the payment is verified: {paid}"
            );
            held["reservation_id"].as_str().expect("id").to_owned()
        }
    };
    let confirmed = |ids: Vec<String>| {
        let env = &env;
        async move {
            let list = ids
                .iter()
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(",");
            scalar(
                env,
                "reservation_service",
                &format!("SELECT count(*) FROM reservations WHERE status = 'CONFIRMED' AND id::text IN ({list})"),
            )
            .await
        }
    };

    let mut before = Vec::new();
    for i in 0..3 {
        before.push(book(i).await);
    }
    for _ in 0..200 {
        if confirmed(before.clone()).await == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        confirmed(before.clone()).await,
        3,
        "bookings flow before the outage"
    );

    broker.stop();
    let mut during = Vec::new();
    for i in 3..7 {
        during.push(book(i).await);
    }
    let piled = scalar(
        &env,
        "payment_service",
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL",
    )
    .await
        + scalar(
            &env,
            "reservation_service",
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL",
        )
        .await;
    assert!(
        piled >= 8,
        "holds and payments piled up in the outboxes: {piled}"
    );
    assert_eq!(
        confirmed(during.clone()).await,
        0,
        "nothing confirms while the broker is down"
    );

    let audit = std::env::temp_dir().join(format!("dr-{}.jsonl", env.id));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_opsctl"))
        .args([
            "--output",
            "json",
            "kafka",
            "dr",
            "--execute",
            "--restart-timeout",
            "60",
            "--drain-timeout",
            "120",
            "--reconcile-older-than",
            "0s",
        ])
        .env("TICKETING__DATABASE__NAME", &env.settings.database.name)
        .env(
            "TICKETING__KAFKA__BOOTSTRAP_SERVERS",
            &settings.kafka.bootstrap_servers,
        )
        .env(
            "TICKETING__KAFKA__TOPIC_PREFIX",
            &settings.kafka.topic_prefix,
        )
        .env(
            "TICKETING__STACK__KAFKA_RESTART_COMMAND",
            broker.restart_command(),
        )
        .env("TICKETING__PORTONE__BASE_URL", sandbox.url.as_str())
        .env("TICKETING__SERVICES__API_GATEWAY__URL", &gateway)
        .env("OPSCTL_AUDIT_LOG", &audit)
        .output()
        .await
        .expect("opsctl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");

    let all: Vec<String> = before.iter().chain(&during).cloned().collect();
    for _ in 0..300 {
        if confirmed(all.clone()).await == 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        confirmed(all.clone()).await,
        7,
        "every paid reservation is CONFIRMED: {report}"
    );
    let twice = scalar(
        &env,
        "reservation_service",
        "SELECT count(*) FROM (SELECT partition_key FROM outbox WHERE event_type = 'ReservationConfirmed' \
         GROUP BY partition_key HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(twice, 0, "no reservation confirmed twice");
    let unsent = scalar(
        &env,
        "payment_service",
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL",
    )
    .await
        + scalar(
            &env,
            "reservation_service",
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL",
        )
        .await;
    assert_eq!(unsent, 0);
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
            "restart",
            "health",
            "verify-segments",
            "replay",
            "drain",
            "reconcile"
        ]
    );
    assert!(
        report["steps"][1]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("restarted"),
        "{report}"
    );
    assert!(report["recovery_seconds"].as_f64().expect("seconds") > 0.0);

    let _ = std::fs::remove_file(&audit);
    let _ = platform.stop().await;
    sandbox.stop().await;
    drop(broker);
    env.cleanup().await;
}

#[tokio::test]
async fn a_failing_step_stops_the_runbook_and_names_where_to_resume() {
    let env = TestEnv::new().await;
    ticketing::migrate_all(&env.settings, &env.secrets, &ServiceName::ALL)
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
                .env("OPSCTL_AUDIT_LOG", audit)
                .output()
                .await
                .expect("opsctl")
        }
    };
    let plan = run(vec!["kafka", "dr"]).await;
    assert_eq!(plan.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&plan.stderr).contains("dry run"));

    let failed = run(vec!["kafka", "dr", "--execute", "--restart-timeout", "5"]).await;
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("step `restart` failed"), "{stderr}");
    assert!(stderr.contains("--resume-from restart"), "{stderr}");
    assert!(stderr.contains("the broker host is gone"), "{stderr}");

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
