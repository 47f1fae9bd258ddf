//! Organisers and customers are different people, end to end through the
//! gateway of a platform in this process: a customer's `POST /api/events`
//! is refused (403 problem+json); `opsctl users grant-organiser` (the only
//! way to the role) makes the account an organiser at its next login; the
//! same request then creates the performance; revoking takes it back.

use crate::common;

use chrono::TimeZone;
use serde_json::Value;
use ticketing_e2e::{client::NewPerformance, Stack};

fn concert() -> NewPerformance {
    NewPerformance {
        title: "Self-made Concert".into(),
        venue: "Somewhere".into(),
        starts_at: chrono::Utc
            .with_ymd_and_hms(2027, 6, 1, 19, 0, 0)
            .single()
            .expect("date"),
        section: "A".into(),
        rows: 1,
        seats_per_row: 2,
        price: 10_000,
    }
}

/// POST /api/events with `token`: the status and the body.
async fn create(stack: &Stack, token: &str) -> (u16, Value, String) {
    let response = stack
        .http
        .post(format!("{}/api/events", stack.gateway))
        .bearer_auth(token)
        .json(&concert().body())
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, response.json().await.unwrap_or(Value::Null), kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_organisers_create_performances_and_only_an_operator_makes_one() {
    let stack = Stack::start(|_| {}).await;
    let customer = stack.user("would-be-organiser").await;
    let (status, body, kind) = create(&stack, &customer).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(kind, "application/problem+json");
    assert_eq!(body["code"], "organisers_only", "{body}");

    let audit = common::temp_audit_log("users");
    let audit_path = audit.display().to_string();
    let database = stack.env.settings.database.name.clone();
    let vars = [
        ("OPSCTL_AUDIT_LOG", audit_path.as_str()),
        ("TICKETING__DATABASE__NAME", database.as_str()),
    ];
    let email = "would-be-organiser@example.com";
    // Without --execute nothing changes.
    let dry = common::opsctl(&["users", "grant-organiser", email], &vars).await;
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert!(
        dry.stderr.contains("customer -> organiser"),
        "{}",
        dry.stderr
    );
    assert_eq!(common::audit_phases(&audit), ["planned"]);
    let relogin = stack
        .client
        .login(email, "correct horse battery")
        .await
        .expect("login");
    assert_eq!(create(&stack, &relogin).await.0, 403);

    let granted = common::opsctl(&["users", "grant-organiser", email, "--execute"], &vars).await;
    assert_eq!(granted.code, 0, "{}{}", granted.stdout, granted.stderr);
    // The old token carries no role; the next login does.
    assert_eq!(create(&stack, &customer).await.0, 403);
    let organiser = stack
        .client
        .login(email, "correct horse battery")
        .await
        .expect("login");
    let (status, body, _) = create(&stack, &organiser).await;
    assert_eq!(status, 201, "{body}");

    // Granting twice changes nothing; an unknown address is a usage error.
    let again = common::opsctl(&["users", "grant-organiser", email, "--execute"], &vars).await;
    assert_eq!(again.code, 0);
    assert!(
        again.stderr.contains("nothing to change"),
        "{}",
        again.stderr
    );
    let nobody = common::opsctl(
        &[
            "users",
            "grant-organiser",
            "nobody@example.com",
            "--execute",
        ],
        &vars,
    )
    .await;
    assert_eq!(nobody.code, 2, "{}", nobody.stderr);
    assert!(
        nobody.stderr.contains("no account has the address"),
        "{}",
        nobody.stderr
    );

    let revoked = common::opsctl(&["users", "revoke-organiser", email, "--execute"], &vars).await;
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    let customer_again = stack
        .client
        .login(email, "correct horse battery")
        .await
        .expect("login");
    assert_eq!(create(&stack, &customer_again).await.0, 403);
    assert_eq!(
        common::audit_phases(&audit),
        ["planned", "planned", "started", "done", "planned", "planned", "started", "done"]
    );
    stack.stop().await;
    let _ = std::fs::remove_file(&audit);
}
