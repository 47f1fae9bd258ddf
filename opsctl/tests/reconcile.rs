//! `opsctl reservations reconcile` against the whole platform in-process and
//! a PortOne sandbox: a payment whose webhook was lost is re-announced and
//! the reservation ends CONFIRMED through the normal path; an unpaid one is
//! only reported.

use std::time::Duration;

use chrono::Utc;
use portone_sandbox::{SandboxConfig, TEST_CARD};
use secrecy::ExposeSecret;
use serde_json::json;
use ticketing_catalog::ServiceName;
use ticketing_testkit::TestEnv;
use ticketing_tokens::{Keyring, ReservationClaims};
use uuid::Uuid;

async fn status_of(env: &TestEnv, id: &str) -> String {
    let pool = env.pool(Some("reservation_service"));
    let status: String = sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("status");
    pool.close().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paid_reservation_whose_webhook_was_lost_is_confirmed_by_reconciliation() {
    let env = TestEnv::new().await;
    env.create_topics().await;
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
    let mut settings = env.settings.clone();
    settings.portone.base_url = sandbox.url.clone();
    let platform = ticketing::start(settings.clone(), env.secrets.clone(), &ServiceName::ALL)
        .await
        .expect("platform");
    let gateway = format!(
        "http://{}",
        platform.addr(ServiceName::ApiGateway).expect("gw")
    );
    let http = reqwest::Client::new();
    let auth = ticketing_http::Authenticator::new(
        Keyring::new(&env.secrets.jwt_signing_key, &[]),
        settings.booking.jwt_issuer.clone(),
        600,
    );
    let queue_keys = Keyring::new(&env.secrets.queue_token_signing_key, &[]);
    let organiser = auth.issue(Uuid::now_v7()).0;
    let created: serde_json::Value = http
        .post(format!("{gateway}/api/events"))
        .bearer_auth(&organiser)
        .json(
            &json!({"title": "Reconcile", "venue": "Hall", "starts_at": "2027-01-01T19:00:00Z",
            "sections": [{"name": "A", "rows": 1, "seats_per_row": 3, "price": 7000}]}),
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
    let seat = |i: usize| map["seats"][i]["id"].as_str().expect("seat").to_owned();

    let hold = |i: usize| {
        let user = Uuid::now_v7();
        let access = auth.issue(user).0;
        let qr = ticketing_tokens::issue(
            &queue_keys,
            &ReservationClaims::new(user, performance, Utc::now(), chrono::Duration::minutes(10)),
        );
        let http = http.clone();
        let gateway = gateway.clone();
        let seat = seat(i);
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
            (access, held)
        }
    };
    let (paid_user, paid) = hold(0).await;
    let (_, unpaid) = hold(1).await;
    let prepared: serde_json::Value = http
        .post(format!("{gateway}/api/payments/prepare"))
        .bearer_auth(&paid_user)
        .json(&json!({"payment_token": paid["payment_token"]}))
        .send()
        .await
        .expect("prepare")
        .json()
        .await
        .expect("json");
    // The customer pays, but the webhook goes nowhere.
    let outcome: serde_json::Value = http
        .post(sandbox.url.join("/sandbox/checkout").expect("url"))
        .json(&json!({"merchant_uid": prepared["merchant_uid"], "amount": 7000, "card_number": TEST_CARD,
            "notice_url": "http://127.0.0.1:9/webhooks/portone"}))
        .send()
        .await
        .expect("checkout")
        .json()
        .await
        .expect("json");
    assert_eq!(outcome["payment"]["status"], "paid");
    assert!(
        outcome["webhook"]["status"].is_null(),
        "the webhook was lost"
    );
    let paid_id = paid["reservation_id"].as_str().expect("id").to_owned();
    let unpaid_id = unpaid["reservation_id"].as_str().expect("id").to_owned();
    assert_eq!(status_of(&env, &paid_id).await, "PENDING");

    let audit = std::env::temp_dir().join(format!("reconcile-{}.jsonl", env.id));
    let run = |args: Vec<&'static str>| {
        let env_vars = [
            (
                "TICKETING__DATABASE__NAME",
                env.settings.database.name.clone(),
            ),
            (
                "TICKETING__KAFKA__TOPIC_PREFIX",
                env.settings.kafka.topic_prefix.clone(),
            ),
            ("TICKETING__PORTONE__BASE_URL", sandbox.url.to_string()),
            ("TICKETING__SERVICES__API_GATEWAY__URL", gateway.clone()),
            ("OPSCTL_AUDIT_LOG", audit.display().to_string()),
        ];
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_opsctl"))
                .args(args)
                .envs(env_vars)
                .output()
                .await
                .expect("opsctl");
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (code, stdout, stderr) = run(vec![
        "--output",
        "json",
        "reservations",
        "reconcile",
        "--older-than",
        "0s",
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("json");
    let line = |id: &str| {
        lines
            .iter()
            .find(|l| l["reservation_id"] == id)
            .cloned()
            .expect("line")
    };
    assert_eq!(line(&paid_id)["portone"], "paid");
    assert_eq!(line(&paid_id)["action"], "announce");
    assert_eq!(line(&unpaid_id)["portone"], "none");
    assert_eq!(line(&unpaid_id)["action"], "report");
    assert_eq!(
        status_of(&env, &paid_id).await,
        "PENDING",
        "a plan changes nothing"
    );

    let (code, stdout, stderr) = run(vec![
        "--output",
        "json",
        "reservations",
        "reconcile",
        "--older-than",
        "0s",
        "--execute",
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    let done: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(done["summary"]["announced"], 1, "{done}");
    assert_eq!(done["summary"]["unpaid"], 1, "{done}");
    let mut confirmed = false;
    for _ in 0..100 {
        if status_of(&env, &paid_id).await == "CONFIRMED" {
            confirmed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        confirmed,
        "the re-announced payment confirmed the reservation"
    );
    assert_eq!(status_of(&env, &unpaid_id).await, "PENDING");

    let (code, _, stderr) = run(vec!["reservations", "reconcile", "--older-than", "soon"]).await;
    assert_eq!(code, 2, "{stderr}");
    let _ = std::fs::remove_file(&audit);
    let _ = platform.stop().await;
    sandbox.stop().await;
    env.cleanup().await;
}
