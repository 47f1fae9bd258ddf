//! The booking flow end to end, through the gateway, with the real services,
//! the real local stack and a PortOne sandbox: happy path, failure paths,
//! forged tokens, and bad input.

use portone_sandbox::{DECLINED_CARD, TEST_CARD};
use serde_json::json;
use ticketing_catalog::ServiceName;
use ticketing_e2e::Stack;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paid_reservation_is_confirmed_and_its_seats_show_sold() {
    let stack = Stack::start(|_| {}).await;
    let token = stack.user("happy").await;
    let (performance, seats) = stack.performance(2, 5, 55_000).await;
    stack
        .seats_become(performance, &seats[..2], "AVAILABLE")
        .await;

    let qr = stack.admitted(&token, performance).await;
    assert!(qr.starts_with("qr_"));
    let held = stack.hold(&token, &qr, performance, &seats[..2]).await;
    assert_eq!(held.status, 201, "{}", held.body);
    assert_eq!(held.body["status"], "PENDING");
    assert_eq!(held.body["amount"], 110_000);
    let reservation = held.body["reservation_id"].as_str().expect("id").to_owned();
    let qp = held.body["payment_token"].as_str().expect("qp").to_owned();
    assert!(qp.starts_with("qp_"));
    stack.seats_become(performance, &seats[..2], "HELD").await;

    let prepared = stack
        .call(
            "POST",
            "/api/payments/prepare",
            Some(&token),
            &[],
            Some(json!({"payment_token": qp})),
        )
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let merchant = prepared.body["merchant_uid"]
        .as_str()
        .expect("merchant")
        .to_owned();
    let outcome = stack.checkout(&merchant, 110_000, TEST_CARD, false).await;
    assert_eq!(outcome["payment"]["status"], "paid");
    assert_eq!(outcome["webhook"]["status"], 200, "{outcome}");

    let confirmed = stack
        .reservation_becomes(&token, &reservation, "CONFIRMED")
        .await;
    assert_eq!(confirmed["amount"], 110_000);
    stack.seats_become(performance, &seats[..2], "SOLD").await;
    stack
        .seats_become(performance, &seats[2..4], "AVAILABLE")
        .await;

    // A repeated webhook changes nothing.
    let imp_uid = outcome["payment"]["imp_uid"].as_str().expect("imp_uid");
    let again = stack
        .call(
            "POST",
            "/webhooks/portone",
            None,
            &[],
            Some(json!({"imp_uid": imp_uid, "merchant_uid": merchant, "status": "paid"})),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["outcome"], "already_processed");
    assert_eq!(
        stack
            .payment_counter(
                ServiceName::PaymentService,
                "payment_success",
                "environment=\"local\""
            )
            .await,
        1.0
    );
    let history = stack
        .call("GET", "/api/reservations", Some(&token), &[], None)
        .await;
    assert_eq!(history.status, 200);
    assert_eq!(history.body.as_array().map(Vec::len), Some(1));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declined_or_tampered_payment_cancels_the_reservation_and_frees_the_seats() {
    let stack = Stack::start(|_| {}).await;
    let token = stack.user("unlucky").await;
    let (performance, seats) = stack.performance(1, 4, 1).await;
    let qr = stack.admitted(&token, performance).await;

    // Declined card.
    let held = stack.hold(&token, &qr, performance, &seats[..1]).await;
    let (reservation, qp) = Stack::held(&held);
    let merchant = stack.prepare(&token, &qp).await;
    let outcome = stack.checkout(&merchant, 1, DECLINED_CARD, false).await;
    assert_eq!(outcome["payment"]["status"], "failed");
    let cancelled = stack
        .reservation_becomes(&token, &reservation, "CANCELLED")
        .await;
    assert!(cancelled["cancel_reason"]
        .as_str()
        .unwrap_or_default()
        .contains("card declined"));
    stack
        .seats_become(performance, &seats[..1], "AVAILABLE")
        .await;

    // Tampered amount: the checkout skipped the prepare check and paid 1 won
    // for a 2-won order. PortOne is told to cancel it; nothing is confirmed.
    // (A new order needs a new admission: the first one was used.)
    let qr = stack.admitted(&token, performance).await;
    let held = stack.hold(&token, &qr, performance, &seats[1..3]).await;
    let (reservation, qp) = Stack::held(&held);
    let merchant = stack.prepare(&token, &qp).await;
    let outcome = stack.checkout(&merchant, 1, TEST_CARD, true).await;
    assert_eq!(outcome["payment"]["status"], "paid");
    stack
        .reservation_becomes(&token, &reservation, "CANCELLED")
        .await;
    let imp_uid = outcome["payment"]["imp_uid"].as_str().expect("imp_uid");
    let at_portone = stack.sandbox.sandbox.payment(imp_uid).expect("payment");
    assert_eq!(
        at_portone.status,
        ticketing_portone::PaymentStatus::Cancelled
    );
    assert_eq!(
        stack
            .payment_counter(
                ServiceName::PaymentService,
                "payment_failure",
                "error_code=\"amount_mismatch\""
            )
            .await,
        1.0
    );
    assert_eq!(
        stack
            .payment_counter(
                ServiceName::PaymentService,
                "payment_failure",
                "error_code=\"pg_failed\""
            )
            .await,
        1.0
    );
    stack
        .seats_become(performance, &seats[1..3], "AVAILABLE")
        .await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_hold_frees_its_seats_and_a_late_payment_is_refunded() {
    let stack = Stack::start(|s| s.booking.hold_ttl_seconds = 1).await;
    let token = stack.user("late").await;
    let (performance, seats) = stack.performance(1, 2, 3_000).await;
    let qr = stack.admitted(&token, performance).await;
    let held = stack.hold(&token, &qr, performance, &seats[..1]).await;
    let (reservation, qp) = Stack::held(&held);
    let merchant = stack.prepare(&token, &qp).await;

    let expired = stack
        .reservation_becomes(&token, &reservation, "CANCELLED")
        .await;
    assert_eq!(expired["cancel_reason"], "expired");
    stack
        .seats_become(performance, &seats[..1], "AVAILABLE")
        .await;

    let outcome = stack.checkout(&merchant, 3_000, TEST_CARD, false).await;
    assert_eq!(outcome["payment"]["status"], "paid");
    let imp_uid = outcome["payment"]["imp_uid"]
        .as_str()
        .expect("imp_uid")
        .to_owned();
    let mut refunded = false;
    for _ in 0..300 {
        let p = stack.sandbox.sandbox.payment(&imp_uid).expect("payment");
        if p.status == ticketing_portone::PaymentStatus::Cancelled {
            refunded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refunded, "the late payment was refunded at PortOne");
    // The reservation stays cancelled and says why the money came back.
    let mut still = serde_json::Value::Null;
    for _ in 0..200 {
        still = stack
            .call(
                "GET",
                &format!("/api/reservations/{reservation}"),
                Some(&token),
                &[],
                None,
            )
            .await
            .body;
        if still["cancel_reason"]
            .as_str()
            .is_some_and(|r| r.contains("payment refunded"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(still["status"], "CANCELLED");
    let reason = still["cancel_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("expired; payment refunded:"), "{reason}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_expired_and_foreign_tokens_and_bad_input_are_refused_clearly() {
    let stack = Stack::start(|_| {}).await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let (performance, seats) = stack.performance(1, 3, 1_000).await;
    let (other_performance, _) = stack.performance(1, 1, 1_000).await;
    let alice_qr = stack.admitted(&alice, performance).await;
    let alice_other_qr = stack.admitted(&alice, other_performance).await;

    let problems = [
        // No access token at all.
        stack
            .call(
                "POST",
                "/api/reservations",
                None,
                &[("x-queue-token", &alice_qr)],
                Some(json!({"performance_id": performance, "seat_ids": [seats[0]]})),
            )
            .await,
        // A forged access token.
        stack
            .call(
                "GET",
                "/api/reservations",
                Some("eyJhbGciOiJIUzI1NiJ9.e30.AAAA"),
                &[],
                None,
            )
            .await,
        // No reservation token.
        stack
            .call(
                "POST",
                "/api/reservations",
                Some(&alice),
                &[],
                Some(json!({"performance_id": performance, "seat_ids": [seats[0]]})),
            )
            .await,
        // A forged reservation token.
        stack
            .hold(
                &alice,
                "qr_eyJmYWtlIjp0cnVlfQ.AAAA",
                performance,
                &seats[..1],
            )
            .await,
        // Alice's token used by Bob.
        stack.hold(&bob, &alice_qr, performance, &seats[..1]).await,
        // Alice's token for another performance.
        stack
            .hold(&alice, &alice_other_qr, performance, &seats[..1])
            .await,
    ];
    let expected = [401, 401, 403, 403, 403, 403];
    for (answer, status) in problems.iter().zip(expected) {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(answer.content_type, "application/problem+json");
        assert!(answer.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()));
    }

    // Malformed and wrong-shaped bodies, unknown ids, a forged webhook.
    let raw = stack
        .http
        .post(format!("{}/api/users/login", stack.gateway))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answer");
    assert_eq!(raw.status().as_u16(), 400);
    let unknown_seat = stack
        .hold(&alice, &alice_qr, performance, &[Uuid::now_v7()])
        .await;
    assert_eq!(unknown_seat.status, 422, "{}", unknown_seat.body);
    let too_many = stack
        .hold(&alice, &alice_qr, performance, &[seats[0], seats[0]])
        .await;
    assert_eq!(too_many.status, 422, "{}", too_many.body);
    let no_such = stack
        .call(
            "GET",
            &format!("/api/events/{}/seats", Uuid::now_v7()),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(no_such.status, 404);
    let not_a_uuid = stack
        .call("GET", "/api/events/abc/seats", None, &[], None)
        .await;
    assert_eq!(not_a_uuid.status, 400);
    let forged = stack
        .call(
            "POST",
            "/webhooks/portone",
            None,
            &[],
            Some(json!({"imp_uid": "imp_999999999999", "merchant_uid": "res_x", "status": "paid"})),
        )
        .await;
    assert_eq!(forged.status, 404, "{}", forged.body);
    let bad_payment_token = stack
        .call(
            "POST",
            "/api/payments/prepare",
            Some(&alice),
            &[],
            Some(json!({"payment_token": "qp_forged.AAAA"})),
        )
        .await;
    assert_eq!(bad_payment_token.status, 403);
    let second_account = stack
        .call(
            "POST",
            "/api/users/login",
            None,
            &[],
            Some(json!({"email": "alice@example.com"})),
        )
        .await;
    assert_eq!(
        second_account.status, 422,
        "missing field: {}",
        second_account.body
    );

    // Nothing was half-written: no reservation exists for Alice.
    let history = stack
        .call("GET", "/api/reservations", Some(&alice), &[], None)
        .await;
    assert_eq!(history.body.as_array().map(Vec::len), Some(0));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_account_per_person_and_sign_up_needs_a_passing_recaptcha() {
    let stack = Stack::start(|_| {}).await;
    let _first = stack.user("kim").await;
    let certify = || async {
        let v: serde_json::Value = stack
            .http
            .post(
                stack
                    .sandbox
                    .url
                    .join("/sandbox/certifications")
                    .expect("url"),
            )
            .json(&json!({"person": "kim"}))
            .send()
            .await
            .expect("certify")
            .json()
            .await
            .expect("json");
        v["response"]["imp_uid"]
            .as_str()
            .expect("imp_uid")
            .to_owned()
    };
    let again = stack
        .call("POST", "/api/users/signup", None, &[], Some(json!({"email": "kim2@example.com", "password": "another long password", "certification_imp_uid": certify().await, "recaptcha_token": "test-pass"})))
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    // The same answer as for a taken e-mail: which one is not told.
    assert_eq!(again.body["code"], "account_exists");
    let bot = stack
        .call("POST", "/api/users/signup", None, &[], Some(json!({"email": "bot@example.com", "password": "another long password", "certification_imp_uid": certify().await, "recaptcha_token": "i-am-a-bot"})))
        .await;
    assert_eq!(bot.status, 403, "{}", bot.body);
    assert_eq!(bot.body["code"], "recaptcha_failed");
    let unknown = stack
        .call("POST", "/api/users/signup", None, &[], Some(json!({"email": "ghost@example.com", "password": "another long password", "certification_imp_uid": "imp_000000999999", "recaptcha_token": "test-pass"})))
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_limits_each_client_and_answers_cors_preflights_for_the_front_end() {
    let stack = Stack::start(|s| {
        s.booking.rate_limit_per_second = 5;
        s.booking.cors_origins = vec!["https://tickets.example.com".to_owned()];
        // As behind the ALB: the right-most X-Forwarded-For entry is the
        // client (the header below plays the ALB's part).
        s.booking.trusted_proxies = 1;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let a = stack
            .call(
                "GET",
                "/api/events",
                None,
                &[("x-forwarded-for", "203.0.113.7")],
                None,
            )
            .await;
        statuses.push((a.status, a.content_type));
    }
    let limited: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    assert!(
        !limited.is_empty(),
        "20 requests in a burst at 5/s: {statuses:?}"
    );
    assert!(limited
        .iter()
        .all(|(_, ct)| ct == "application/problem+json"));
    // Another client is not affected.
    let other = stack
        .call(
            "GET",
            "/api/events",
            None,
            &[("x-forwarded-for", "198.51.100.9")],
            None,
        )
        .await;
    assert_eq!(other.status, 200);
    // A client that claims other addresses to the left of the ALB's entry
    // is still the ALB's entry: a burst of them is limited like any other.
    let mut spoofed = Vec::new();
    for n in 0..20 {
        let claim = format!("192.0.2.{n}, 203.0.113.8");
        let a = stack
            .call(
                "GET",
                "/api/events",
                None,
                &[("x-forwarded-for", &claim)],
                None,
            )
            .await;
        spoofed.push(a.status);
    }
    assert!(spoofed.contains(&429), "{spoofed:?}");

    let preflight = stack
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/reservations", stack.gateway),
        )
        .header("origin", "https://tickets.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,x-queue-token",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://tickets.example.com")
    );
    let foreign = stack
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/reservations", stack.gateway),
        )
        .header("origin", "https://evil.example.net")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    stack.stop().await;
}

/// Issue 30: guessing passwords is slowed per account, and alike for an
/// e-mail with no account (the answers tell nothing about which exist):
/// five wrong passwords answer 401, the sixth try 429 `too_many_attempts`
/// with the count and `Retry-After`; after the wait the right password logs in
/// and clears the count. A NUL character in a text field is refused with a
/// 422 naming it (PostgreSQL refuses it in `text`: it was a 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_back_off_per_account_alike_for_unknown_emails_and_nul_text_is_refused() {
    let stack = Stack::start(|_| {}).await;
    let _token = stack.user("lee").await;
    let login = |email: &'static str, password: &'static str| {
        let stack = &stack;
        async move {
            stack
                .call(
                    "POST",
                    "/api/users/login",
                    None,
                    &[],
                    Some(json!({"email": email, "password": password})),
                )
                .await
        }
    };
    for email in ["lee@example.com", "nobody@example.com"] {
        for _ in 0..5 {
            let wrong = login(email, "not the password").await;
            assert_eq!(wrong.status, 401, "{email}: {}", wrong.body);
            assert_eq!(wrong.body["code"], "bad_credentials");
        }
        let locked = login(email, "not the password").await;
        assert_eq!(locked.status, 429, "{email}: {}", locked.body);
        assert_eq!(locked.body["code"], "too_many_attempts");
        assert_eq!(locked.body["attempts"], 5, "{}", locked.body);
        assert_eq!(locked.body["retry_after"], 1, "{}", locked.body);
    }
    // Locked, the right password waits too; after the wait it logs in.
    let early = login("lee@example.com", "correct horse battery").await;
    assert_eq!(early.status, 429, "{}", early.body);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let right = login("lee@example.com", "correct horse battery").await;
    assert_eq!(right.status, 200, "{}", right.body);
    let cleared = login("lee@example.com", "not the password").await;
    assert_eq!(
        cleared.status, 401,
        "a success clears the count: {}",
        cleared.body
    );

    let nul = stack
        .call(
            "POST",
            "/api/users/login",
            None,
            &[],
            Some(json!({"email": "a\u{0}b@example.com", "password": "whatever it is"})),
        )
        .await;
    assert_eq!(nul.status, 422, "{}", nul.body);
    assert_eq!(nul.body["code"], "nul_in_text");
    stack.stop().await;
}
