//! The PortOne webhook is public: what a forged notice can and cannot do.
//! (Its own test binary: the payment counters are per process, and
//! `booking.rs` asserts on them.)

use portone_sandbox::TEST_CARD;
use serde_json::json;
use ticketing_e2e::Stack;

/// Anyone can post to the webhook. A notice that names a victim's paid
/// `imp_uid` with the attacker's own pending order must not cancel the
/// victim's payment: the payment is judged by PortOne's record alone (which
/// says it pays the victim's order), so the victim's booking is confirmed
/// and the attacker's order is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_notice_naming_another_order_never_cancels_the_victims_payment() {
    let stack = Stack::start(|_| {}).await;
    let (performance, seats) = stack.performance(1, 4, 1_000).await;

    // The victim pays; the real webhook is lost on the way.
    let victim = stack.user("forge-victim").await;
    let qr = stack.admitted(&victim, performance).await;
    let (victim_reservation, qp) =
        Stack::held(&stack.hold(&victim, &qr, performance, &seats[..1]).await);
    let victim_merchant = stack.prepare(&victim, &qp).await;
    let paid = stack
        .client
        .checkout(&ticketing_e2e::client::Checkout {
            merchant_uid: &victim_merchant,
            amount: 1_000,
            card: TEST_CARD,
            notice_url: Some("http://127.0.0.1:9/lost"),
            ignore_prepare: false,
        })
        .await
        .expect("checkout");
    assert_eq!(paid["payment"]["status"], "paid");
    let victim_imp = paid["payment"]["imp_uid"]
        .as_str()
        .expect("imp_uid")
        .to_owned();

    // The attacker has a pending order of their own.
    let attacker = stack.user("forge-attacker").await;
    let qr = stack.admitted(&attacker, performance).await;
    let (attacker_reservation, qp) =
        Stack::held(&stack.hold(&attacker, &qr, performance, &seats[1..2]).await);
    let attacker_merchant = stack.prepare(&attacker, &qp).await;

    let forged = stack
        .call(
            "POST",
            "/webhooks/portone",
            None,
            &[],
            Some(
                json!({"imp_uid": victim_imp, "merchant_uid": attacker_merchant, "status": "paid"}),
            ),
        )
        .await;
    assert_eq!(forged.status, 200, "{}", forged.body);
    // The answer names no order: anyone may post a notice, and an imp_uid
    // must not tell them whose order it paid (issue 30).
    assert!(
        forged.body.get("merchant_uid").is_none()
            && !forged.body.to_string().contains(victim_merchant.as_str()),
        "{}",
        forged.body
    );

    let at_portone = stack.sandbox.sandbox.payment(&victim_imp).expect("payment");
    assert_eq!(
        at_portone.status,
        ticketing_portone::PaymentStatus::Paid,
        "the victim's payment stands"
    );
    stack
        .reservation_becomes(&victim, &victim_reservation, "CONFIRMED")
        .await;
    let untouched = stack.reservation(&attacker, &attacker_reservation).await;
    assert_eq!(untouched.body["status"], "PENDING", "{}", untouched.body);
    stack.stop().await;
}

/// Issue 30: every notice costs a PortOne look-up with our keys, so the
/// webhook is limited per source (a bucket apart from the API's), except
/// PortOne's own networks (`booking.webhook_sources`), which no flood from
/// elsewhere can hold back; and a burst of notices for one payment costs
/// two look-ups, not one each (`payment-service/src/lookups.rs`), with
/// PortOne as far away as it is (a look-up takes 200 ms here).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notices_are_limited_per_source_never_from_portone_and_a_burst_shares_lookups() {
    let stack = Stack::start(|s| {
        // As behind the ALB: the header below plays its part.
        s.booking.trusted_proxies = 1;
        s.booking.webhook_rate_limit_per_second = 3;
        s.booking.webhook_sources = vec!["198.51.100.0/24".parse().expect("a CIDR")];
    })
    .await;
    let paid = stack.pay_unheard("flood_not_ours", 1_000, TEST_CARD).await;
    let imp_uid = paid["payment"]["imp_uid"]
        .as_str()
        .expect("imp_uid")
        .to_owned();
    let notice = json!({"imp_uid": imp_uid, "merchant_uid": "flood_not_ours", "status": "paid"});
    let post = |source: &'static str| {
        let (stack, notice) = (&stack, notice.clone());
        async move {
            stack
                .call(
                    "POST",
                    "/webhooks/portone",
                    None,
                    &[("x-forwarded-for", source)],
                    Some(notice),
                )
                .await
        }
    };

    // A flood from one address: refused once over its limit, as a problem.
    let mut flood = Vec::new();
    for _ in 0..12 {
        flood.push(post("203.0.113.9").await);
    }
    let refused: Vec<_> = flood.iter().filter(|a| a.status == 429).collect();
    assert!(
        !refused.is_empty(),
        "12 notices at 3/s: {:?}",
        flood.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(refused
        .iter()
        .all(|a| a.content_type == "application/problem+json" && a.body["retry_after"] == 1));
    // Meanwhile PortOne's notices all get through, and the API's clients
    // are not counted with the webhook's.
    for _ in 0..12 {
        let from_portone = post("198.51.100.7").await;
        assert_ne!(from_portone.status, 429, "{}", from_portone.body);
    }
    let browsing = stack
        .call(
            "GET",
            "/api/events",
            None,
            &[("x-forwarded-for", "203.0.113.9")],
            None,
        )
        .await;
    assert_eq!(browsing.status, 200, "{}", browsing.body);

    // A burst of 30 notices for one payment, PortOne 200 ms away.
    stack
        .sandbox
        .sandbox
        .set_lookup_latency(std::time::Duration::from_millis(200));
    let before = stack.sandbox.sandbox.lookups(&imp_uid);
    let burst = futures::future::join_all((0..30).map(|_| post("198.51.100.8"))).await;
    let statuses: Vec<u16> = burst.iter().map(|a| a.status).collect();
    assert!(
        statuses
            .iter()
            .all(|s| *s == statuses[0] && *s != 429 && *s < 500),
        "every notice of the burst is answered alike: {statuses:?}"
    );
    let lookups = stack.sandbox.sandbox.lookups(&imp_uid) - before;
    assert!(
        (1..=3).contains(&lookups),
        "30 notices at once cost {lookups} look-ups of PortOne"
    );
    stack.stop().await;
}
