//! The PortOne client against the sandbox over real HTTP: token reuse,
//! prepare, checkout and webhook, lookups, cancel with checksum, identity.

use std::sync::{Arc, Mutex};

use axum::routing::post;
use portone_sandbox::{SandboxConfig, DECLINED_CARD, TEST_CARD};
use secrecy::SecretString;
use ticketing_config::{PortOneMode, PortOneSettings};
use ticketing_money::Money;
use ticketing_portone::{CancelRequest, PaymentStatus, PortOne, PortOneError, WebhookNotice};

async fn sandbox() -> portone_sandbox::RunningSandbox {
    portone_sandbox::start("127.0.0.1", 0, SandboxConfig::new("key", "secret"))
        .await
        .expect("sandbox")
}

fn client(sandbox: &portone_sandbox::RunningSandbox, secret: &str) -> PortOne {
    let settings = PortOneSettings {
        base_url: sandbox.url.clone(),
        imp_code: "imp12345678".into(),
        mode: PortOneMode::Test,
    };
    PortOne::new(
        reqwest::Client::new(),
        &settings,
        SecretString::from("key".to_owned()),
        SecretString::from(secret.to_owned()),
    )
}

/// A merchant webhook endpoint that records what it receives.
async fn webhook_receiver() -> (url::Url, Arc<Mutex<Vec<WebhookNotice>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/webhooks/portone",
        post(move |axum::Json(n): axum::Json<WebhookNotice>| {
            let store = store.clone();
            async move {
                store.lock().expect("lock").push(n);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = url::Url::parse(&format!("http://{addr}/webhooks/portone")).expect("url");
    (url, seen)
}

async fn checkout(
    sandbox: &portone_sandbox::RunningSandbox,
    body: serde_json::Value,
) -> portone_sandbox::CheckoutOutcome {
    reqwest::Client::new()
        .post(sandbox.url.join("/sandbox/checkout").expect("url"))
        .json(&body)
        .send()
        .await
        .expect("checkout")
        .json()
        .await
        .expect("outcome")
}

#[tokio::test]
async fn an_access_token_is_reused_and_bad_credentials_are_refused() {
    let sandbox = sandbox().await;
    let portone = client(&sandbox, "secret");
    for _ in 0..3 {
        let missing = portone.payment("imp_000000000999").await;
        assert!(
            matches!(missing, Err(PortOneError::NotFound { .. })),
            "{missing:?}"
        );
    }
    assert_eq!(sandbox.sandbox.tokens_issued(), 1);

    let wrong = client(&sandbox, "not-the-secret");
    let refused = wrong
        .prepare("order-1", Money::won(1000))
        .await
        .expect_err("refused");
    match &refused {
        PortOneError::Api { status, .. } => assert_eq!(*status, 401),
        other => panic!("expected a 401, got {other:?}"),
    }
    assert!(refused.to_string().contains("/users/getToken"), "{refused}");
    sandbox.stop().await;
}

#[tokio::test]
async fn a_prepared_checkout_is_paid_notified_and_refunded_with_a_checksum() {
    let sandbox = sandbox().await;
    let portone = client(&sandbox, "secret");
    let (hook, seen) = webhook_receiver().await;

    portone
        .prepare("order-42", Money::won(1))
        .await
        .expect("1-won prepare");
    // What a V1 client's prepare_validate reads back.
    assert_eq!(
        portone.prepared("order-42").await.expect("prepared"),
        Money::won(1)
    );
    assert!(matches!(
        portone.prepared("order-never").await,
        Err(PortOneError::NotFound { .. })
    ));
    let outcome = checkout(
        &sandbox,
        serde_json::json!({"merchant_uid": "order-42", "amount": 1, "card_number": TEST_CARD, "notice_url": hook}),
    )
    .await;
    assert_eq!(outcome.payment.status, PaymentStatus::Paid);
    assert_eq!(outcome.webhook.and_then(|w| w.status), Some(200));
    let notices = seen.lock().expect("lock").clone();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].status, "paid");
    assert_eq!(notices[0].merchant_uid, "order-42");

    let payment = portone.payment(&notices[0].imp_uid).await.expect("lookup");
    assert_eq!(
        (payment.amount, payment.status),
        (Money::won(1), PaymentStatus::Paid)
    );
    assert_eq!(payment.currency, "KRW");

    let stale = CancelRequest {
        imp_uid: Some(payment.imp_uid.clone()),
        checksum: Some(Money::won(5)),
        reason: "test".into(),
        ..CancelRequest::default()
    };
    let refused = portone.cancel(&stale).await.expect_err("stale checksum");
    assert!(refused.to_string().contains("checksum"), "{refused}");
    let refund = CancelRequest {
        checksum: Some(Money::won(1)),
        ..stale
    };
    let cancelled = portone.cancel(&refund).await.expect("refund");
    assert_eq!(cancelled.status, PaymentStatus::Cancelled);
    assert_eq!(cancelled.cancel_amount, Money::won(1));
    assert!(
        portone.cancel(&refund).await.is_err(),
        "nothing left to refund"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn a_tampered_amount_or_a_declined_card_fails_the_payment() {
    let sandbox = sandbox().await;
    let portone = client(&sandbox, "secret");
    portone
        .prepare("order-7", Money::won(50_000))
        .await
        .expect("prepare");
    let tampered = checkout(
        &sandbox,
        serde_json::json!({"merchant_uid": "order-7", "amount": 100, "card_number": TEST_CARD}),
    )
    .await;
    assert_eq!(tampered.payment.status, PaymentStatus::Failed);
    assert!(tampered
        .payment
        .fail_reason
        .as_deref()
        .unwrap_or_default()
        .contains("prepared"));

    let declined = checkout(
        &sandbox,
        serde_json::json!({"merchant_uid": "order-7", "amount": 50000, "card_number": DECLINED_CARD}),
    )
    .await;
    assert_eq!(declined.payment.status, PaymentStatus::Failed);
    assert_eq!(
        declined.payment.fail_reason.as_deref(),
        Some("card declined")
    );

    // A different amount for an already prepared order is refused.
    assert!(portone.prepare("order-7", Money::won(1)).await.is_err());
    sandbox.stop().await;
}

#[tokio::test]
async fn the_same_person_always_gets_the_same_ci() {
    let sandbox = sandbox().await;
    let portone = client(&sandbox, "secret");
    let certify = |person: &str| {
        let url = sandbox.url.join("/sandbox/certifications").expect("url");
        let body = serde_json::json!({"person": person, "name": "Kim"});
        async move {
            let v: serde_json::Value = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("certify")
                .json()
                .await
                .expect("json");
            v["response"]["imp_uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let a1 = portone
        .certification(&certify("a").await)
        .await
        .expect("a1");
    let a2 = portone
        .certification(&certify("a").await)
        .await
        .expect("a2");
    let b = portone.certification(&certify("b").await).await.expect("b");
    assert_ne!(a1.imp_uid, a2.imp_uid);
    assert_eq!(a1.unique_key, a2.unique_key);
    assert_ne!(a1.unique_key, b.unique_key);
    assert!(a1.certified);
    assert!(matches!(
        portone.certification("../../etc").await,
        Err(PortOneError::NotFound { .. })
    ));
    sandbox.stop().await;
}

#[tokio::test]
async fn a_restarted_sandbox_never_hands_out_an_imp_uid_again() {
    // Merchants keep imp_uid in unique columns (the payment service does), so
    // the local stack's sandbox restarting must not reuse one.
    let body =
        serde_json::json!({"merchant_uid": "order-r", "amount": 10, "card_number": TEST_CARD});
    let first = sandbox().await;
    let a = checkout(&first, body.clone()).await.payment.imp_uid;
    first.stop().await;
    let second = sandbox().await;
    let b = checkout(&second, body).await.payment.imp_uid;
    second.stop().await;
    assert_ne!(a, b);
    assert!(a.starts_with("imp_") && a.len() == 16, "{a}");
}

/// PortOne's listing as the public iamport-rest-client-php reads it
/// (`Payment::listStatus`: `/payments/status/{all|ready|paid|cancelled|
/// failed}` with `page`, `limit`, `from`, `to`, `sorting`; the answer
/// `{total, previous, next, list}` with 0 for no page, `Response\Collection`)
/// and `find/{merchant_uid}/{payment_status}` (`Payment::withMerchantUid`
/// with a status): paging, the status and time filters, both orders.
#[tokio::test]
async fn payments_are_listed_by_status_and_time_page_by_page() {
    let sandbox = sandbox().await;
    let portone = client(&sandbox, "secret");
    let mut paid = Vec::new();
    for (i, card) in [TEST_CARD, DECLINED_CARD, TEST_CARD, TEST_CARD]
        .iter()
        .enumerate()
    {
        let outcome = checkout(
            &sandbox,
            serde_json::json!({"merchant_uid": format!("res_list_{i}"), "amount": 1_000, "card_number": card}),
        )
        .await;
        if outcome.payment.status == PaymentStatus::Paid {
            paid.push(outcome.payment.imp_uid.clone());
        }
    }
    let now = chrono::Utc::now().timestamp();
    // Paged as the PHP client pages it: two to a page, newest first.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(sandbox.url.join("/users/getToken").expect("url"))
        .json(&serde_json::json!({"imp_key": "key", "imp_secret": "secret"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = token["response"]["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let page = |n: u32| {
        let (http, token) = (&http, &token);
        let url = sandbox
            .url
            .join(&format!(
                "/payments/status/paid?page={n}&limit=2&sorting=-started"
            ))
            .expect("url");
        async move {
            let got: serde_json::Value = http
                .get(url)
                .header("Authorization", token.as_str())
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            got["response"].clone()
        }
    };
    let (one, two) = (page(1).await, page(2).await);
    assert_eq!(
        (
            one["total"].as_u64(),
            one["previous"].as_u64(),
            one["next"].as_u64()
        ),
        (Some(3), Some(0), Some(2)),
        "{one}"
    );
    assert_eq!(
        (two["previous"].as_u64(), two["next"].as_u64()),
        (Some(1), Some(0)),
        "{two}"
    );
    assert_eq!(one["list"].as_array().map(Vec::len), Some(2));
    assert_eq!(two["list"].as_array().map(Vec::len), Some(1));
    let bad = http
        .get(sandbox.url.join("/payments/status/refunded").expect("url"))
        .header("Authorization", token.as_str())
        .send()
        .await
        .expect("answer");
    assert_eq!(bad.status(), 400, "an unknown status is refused");
    let all = portone
        .payments_between(Some(PaymentStatus::Paid), now - 60, now + 1, 10)
        .await
        .expect("listing");
    let mut listed: Vec<String> = all.iter().map(|p| p.imp_uid.clone()).collect();
    listed.sort();
    paid.sort();
    assert_eq!(listed, paid, "every paid payment, once");
    let page = portone
        .payments_page(None, now - 60, now + 1, 1)
        .await
        .expect("page");
    assert_eq!((page.total, page.previous, page.next), (4, 0, 0));
    assert!(
        page.list
            .windows(2)
            .all(|w| w[0].started_at <= w[1].started_at),
        "sorting=started: oldest first"
    );
    // Nothing started before the window.
    let none = portone
        .payments_page(Some(PaymentStatus::Paid), now - 7_200, now - 3_600, 1)
        .await
        .expect("page");
    assert_eq!((none.total, none.list.len()), (0, 0));
    // The declined one, by order and status; a status it never had is none.
    let failed = portone
        .find_by_merchant_uid_in("res_list_1", PaymentStatus::Failed)
        .await
        .expect("find");
    assert!(failed.is_some_and(|p| p.status == PaymentStatus::Failed));
    assert_eq!(
        portone
            .find_by_merchant_uid_in("res_list_1", PaymentStatus::Paid)
            .await
            .expect("find"),
        None
    );
    sandbox.stop().await;
}
