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
