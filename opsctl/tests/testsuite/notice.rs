//! `opsctl notice post|end|list` against a running platform: the plan posts
//! nothing, `--execute` posts through the gateway with an operator token and
//! customers see the notice at the public `GET /api/notices` (cached for a
//! few seconds); a customer's own token is refused (403); `end` takes it
//! down again. Every change is in the audit log.

use crate::common;

use serde_json::json;
use ticketing_catalog::notices::{BOOKING_DELAY, CACHE_SECONDS};
use ticketing_e2e::Stack;
use ticketing_testkit::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_post_and_end_notices_customers_only_read_them() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let settings = env.settings.clone();
    let booking = Stack::start_with(env, settings).await;
    let audit = common::temp_audit_log("notice");
    let audit_path = audit.display().to_string();
    let vars = [
        (
            "TICKETING__SERVICES__API_GATEWAY__URL",
            booking.gateway.as_str(),
        ),
        ("OPSCTL_AUDIT_LOG", audit_path.as_str()),
    ];

    // The plan posts nothing and is recorded as a plan only.
    let plan = common::opsctl(&["notice", "post", "--template", "booking-delay"], &vars).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr.contains(BOOKING_DELAY.message_ko),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("dry run"), "{}", plan.stderr);
    assert!(booking.notices().await.1.is_empty());
    assert_eq!(common::audit_phases(&audit), ["planned"]);

    let posted = common::opsctl(
        &["notice", "post", "--template", "booking-delay", "--execute"],
        &vars,
    )
    .await;
    assert_eq!(posted.code, 0, "{}", posted.stderr);
    let (cache, shown) = booking.notices().await;
    assert_eq!(cache, format!("public, max-age={CACHE_SECONDS}"));
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["template"], "booking-delay");
    assert_eq!(shown[0]["message_ko"], BOOKING_DELAY.message_ko);
    assert_eq!(shown[0]["flows"], json!(["booking"]));

    let listed = common::opsctl(&["--output", "json", "notice", "list"], &vars).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).expect("json");
    assert_eq!(listed[0]["id"], shown[0]["id"]);

    // Customers read, never write.
    let (performance, _) = booking.minted_performance(1, 1000).await;
    let customer = booking.customer(performance);
    let refused = booking
        .http
        .post(format!("{}/api/notices", booking.gateway))
        .bearer_auth(&customer.access)
        .json(&json!({"severity": "critical", "message_ko": "가짜", "message_en": "fake", "flows": ["payment"]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()["content-type"]
            .to_str()
            .unwrap_or_default(),
        "application/problem+json"
    );
    let problem: serde_json::Value = refused.json().await.expect("problem");
    assert_eq!(problem["code"], "operators_only");
    let anonymous = booking
        .http
        .post(format!(
            "{}/api/notices/{}/end",
            booking.gateway,
            shown[0]["id"].as_str().unwrap_or_default()
        ))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(booking.notices().await.1.len(), 1, "still shown");

    // Ending, planned: recorded as a plan, the notice still shown.
    let end_plan = common::temp_audit_log("notice-end");
    let end_plan_path = end_plan.display().to_string();
    let mut dry_vars = vars;
    dry_vars[1] = ("OPSCTL_AUDIT_LOG", end_plan_path.as_str());
    let dry = common::opsctl(&["notice", "end", "--template", "booking-delay"], &dry_vars).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(common::audit_phases(&end_plan), ["planned"]);
    assert_eq!(booking.notices().await.1.len(), 1, "a dry run ends nothing");
    let _ = std::fs::remove_file(&end_plan);

    let ended = common::opsctl(
        &["notice", "end", "--template", "booking-delay", "--execute"],
        &vars,
    )
    .await;
    assert_eq!(ended.code, 0, "{}", ended.stderr);
    assert!(
        booking.notices().await.1.is_empty(),
        "ended notices are not shown"
    );
    // Nothing left to end: nothing to change.
    let again = common::opsctl(
        &["notice", "end", "--template", "booking-delay", "--execute"],
        &vars,
    )
    .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to change"),
        "{}",
        again.stderr
    );

    let phases: Vec<String> = std::fs::read_to_string(&audit)
        .expect("audit log")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| {
            format!(
                "{} {}",
                e["command"].as_str().unwrap_or(""),
                e["phase"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        phases,
        [
            "notice post planned",
            "notice post planned",
            "notice post started",
            "notice post done",
            "notice end planned",
            "notice end started",
            "notice end done",
            "notice end planned"
        ]
    );

    let unknown = common::opsctl(&["notice", "post", "--template", "nope"], &vars).await;
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("payment-paused"),
        "{}",
        unknown.stderr
    );

    let _ = std::fs::remove_file(&audit);
    let env = booking.stop_keeping_env().await;
    env.cleanup().await;
}

/// An invalid notice posted by an operator is refused with every problem
/// named; the cache never serves a notice longer than its lifetime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_notice_names_its_problems_and_a_notice_written_behind_the_cache_shows_within_its_lifetime(
) {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let settings = env.settings.clone();
    let booking = Stack::start_with(env, settings).await;
    let operator = ticketing_http::Authenticator::new(
        ticketing_tokens::Keyring::new(&booking.env.secrets.jwt_signing_key, &[]),
        booking.settings.booking.jwt_issuer.clone(),
        300,
    )
    .issue_with(uuid::Uuid::now_v7(), Some(ticketing_tokens::Role::Operator))
    .0;
    let bad = booking
        .http
        .post(format!("{}/api/notices", booking.gateway))
        .bearer_auth(&operator)
        .json(&json!({"severity": "panic", "message_ko": "", "message_en": "x", "flows": []}))
        .send()
        .await
        .expect("answer");
    assert_eq!(bad.status(), 422);
    let problem: serde_json::Value = bad.json().await.expect("problem");
    let detail = problem["detail"].as_str().unwrap_or_default();
    for field in ["severity", "message_ko", "flows"] {
        assert!(detail.contains(field), "{detail}");
    }

    // Cache an empty list, then write a notice behind the API's back (no
    // invalidation): it shows within the cache's lifetime.
    assert!(booking.notices().await.1.is_empty());
    let pool = booking.env.pool(Some("event_service"));
    sqlx::query(
        "INSERT INTO notices (id, severity, message_ko, message_en, flows, starts_at, created_by) \
         VALUES ($1, 'info', '안내', 'Note', ARRAY['booking'], now(), $1)",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(&pool)
    .await
    .expect("insert");
    pool.close().await;
    let written = std::time::Instant::now();
    loop {
        if booking.notices().await.1.len() == 1 {
            break;
        }
        assert!(
            written.elapsed().as_secs() <= CACHE_SECONDS + 1,
            "a notice was not shown within the cache's {CACHE_SECONDS} s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let env = booking.stop_keeping_env().await;
    env.cleanup().await;
}
