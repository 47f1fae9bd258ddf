//! Every payment ends in a ticket or a refund: a customer whose card was
//! declined pays the same order again with a good card. The order was
//! settled by the declined attempt (the reservation is CANCELLED), so the
//! second payment must not stay with us: the payment service refunds it at
//! PortOne, and the reservation says why. Never PAID at PortOne and
//! CANCELLED here at once. The same after a cancel for a wrong amount.

#[path = "payments/invariant.rs"]
mod invariant;

use portone_sandbox::{DECLINED_CARD, TEST_CARD};
use ticketing_e2e::Stack;
use ticketing_portone::PaymentStatus;

/// Waits until the reservation's cancel reason mentions `words`; returns it.
async fn reason_mentions(stack: &Stack, token: &str, reservation: &str, words: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        let got = stack
            .call(
                "GET",
                &format!("/api/reservations/{reservation}"),
                Some(token),
                &[],
                None,
            )
            .await;
        last = got.body["cancel_reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if last.contains(words) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the reservation's reason never mentioned {words:?}: {last:?}");
}

/// One customer's order for one seat of a new performance at `price`:
/// (performance, seats, customer, reservation id, merchant_uid).
async fn one_order(
    stack: &Stack,
    price: i64,
) -> (
    uuid::Uuid,
    Vec<uuid::Uuid>,
    ticketing_e2e::Customer,
    String,
    String,
) {
    let (performance, seats) = stack.performance(1, 2, price).await;
    let customer = stack.customer(performance);
    let held = stack
        .hold_as(&customer, performance, &seats[0].to_string().into())
        .await;
    let reservation = held["reservation_id"].as_str().expect("id").to_owned();
    let merchant = stack.prepare_as(&customer, &held).await;
    let merchant = merchant.as_str().expect("merchant_uid").to_owned();
    (performance, seats, customer, reservation, merchant)
}

/// Pays `merchant` again with a good card: the webhook is answered and the
/// payment ends refunded in full at PortOne. Returns its imp_uid.
async fn paid_again_is_refunded(stack: &Stack, merchant: &str, amount: i64) -> String {
    let paid = stack.checkout(merchant, amount, TEST_CARD, false).await;
    assert_eq!(paid["payment"]["status"], "paid", "{paid}");
    assert_eq!(paid["webhook"]["status"], 200, "{paid}");
    let imp_uid = paid["payment"]["imp_uid"].as_str().expect("imp_uid");
    let at_portone = stack.sandbox.sandbox.payment(imp_uid).expect("payment");
    assert_eq!(
        at_portone.status,
        PaymentStatus::Cancelled,
        "{at_portone:?}"
    );
    assert_eq!(
        at_portone.cancel_amount, at_portone.amount,
        "refunded in full"
    );
    imp_uid.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_after_a_declined_one_on_the_same_order_is_refunded() {
    let stack = Stack::start(|_| {}).await;
    let (performance, seats, customer, reservation, merchant) = one_order(&stack, 1_000).await;
    let merchant = merchant.as_str();

    let declined = stack.checkout(merchant, 1_000, DECLINED_CARD, false).await;
    assert_eq!(declined["payment"]["status"], "failed", "{declined}");
    stack
        .reservation_becomes(&customer.access, &reservation, "CANCELLED")
        .await;

    // The same order, paid with a good card: the webhook is answered, and
    // the payment is refunded, not kept.
    let imp_uid = paid_again_is_refunded(&stack, merchant, 1_000).await;
    let imp_uid = imp_uid.as_str();
    // The reservation stays CANCELLED, the seat free, and it says why the
    // money came back.
    let still = stack
        .reservation_becomes(&customer.access, &reservation, "CANCELLED")
        .await;
    assert_eq!(still["status"], "CANCELLED");
    let reason = reason_mentions(&stack, &customer.access, &reservation, "second payment").await;
    assert!(
        reason.contains("card declined"),
        "the first reason stays: {reason}"
    );
    assert!(reason.contains("refunded in full"), "{reason}");
    stack
        .seats_become(performance, &seats[..1], "AVAILABLE")
        .await;

    // Its webhook delivered again changes nothing (PortOne says cancelled).
    let again = stack
        .call(
            "POST",
            "/webhooks/portone",
            None,
            &[],
            Some(
                serde_json::json!({"imp_uid": imp_uid, "merchant_uid": merchant, "status": "paid"}),
            ),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["outcome"], "already_processed", "{}", again.body);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_after_a_cancel_for_a_wrong_amount_is_refunded() {
    let stack = Stack::start(|_| {}).await;
    let (performance, seats, customer, reservation, merchant) = one_order(&stack, 2_000).await;
    let merchant = merchant.as_str();

    // 1 won for a 2,000 won order: cancelled at PortOne, the order settled.
    let tampered = stack.checkout(merchant, 1, TEST_CARD, true).await;
    assert_eq!(tampered["payment"]["status"], "paid", "{tampered}");
    stack
        .reservation_becomes(&customer.access, &reservation, "CANCELLED")
        .await;

    // The right amount afterwards: refunded too, and said so.
    paid_again_is_refunded(&stack, merchant, 2_000).await;
    reason_mentions(&stack, &customer.access, &reservation, "second payment").await;
    stack
        .seats_become(performance, &seats[..1], "AVAILABLE")
        .await;
    stack.stop().await;
}

/// Issue 30, first case: a customer pays a CONFIRMED order a second time
/// (two tabs, a double click). The second payment is refunded, and its
/// refund must not cancel the ticket the first one paid for: a refund ends a
/// confirmed reservation only when it refunds the payment that confirmed
/// it. Before the fix the second payment's `PaymentRefunded` cancelled the
/// reservation: charged once, no ticket, the seat back on sale.
///
/// Events of one reservation are consumed in order (one partition), so a
/// later refund of the first payment (at PortOne) shows where the earlier
/// one left the reservation: its cancel reason is that later refund's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_payment_on_a_confirmed_order_is_refunded_and_the_ticket_stands() {
    let stack = Stack::start(|_| {}).await;
    let (performance, seats, customer, reservation, merchant) = one_order(&stack, 3_000).await;
    let merchant = merchant.as_str();

    let first = stack.checkout(merchant, 3_000, TEST_CARD, false).await;
    assert_eq!(first["webhook"]["status"], 200, "{first}");
    let first_imp = first["payment"]["imp_uid"]
        .as_str()
        .expect("imp_uid")
        .to_owned();
    stack
        .reservation_becomes(&customer.access, &reservation, "CONFIRMED")
        .await;

    // The second tab pays too: refunded in full at PortOne.
    paid_again_is_refunded(&stack, merchant, 3_000).await;
    // The first payment is kept.
    let kept = stack.sandbox.sandbox.payment(&first_imp).expect("payment");
    assert_eq!(kept.status, PaymentStatus::Paid, "{kept:?}");

    // Staff refund the first payment afterwards: only now does the ticket go.
    stack.refund_at_portone(&first_imp, None).await;
    let cancelled = stack
        .reservation_becomes(&customer.access, &reservation, "CANCELLED")
        .await;
    let reason = cancelled["cancel_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("payment refunded: refunded at PortOne"),
        "the ticket ended with the refund of the payment that bought it, not the second one's: {reason}"
    );
    stack
        .seats_become(performance, &seats[..1], "AVAILABLE")
        .await;
    stack.stop().await;
}

/// Issue 30, second case: paid in one tab (its webhook lost on the way),
/// declined in another whose webhook arrives. The declined attempt is not
/// the order's last word while a payment for it went through: the order is
/// settled by the paid one and the reservation CONFIRMED. Before the fix
/// the order went FAILED, the reservation CANCELLED, and the paid payment
/// was kept with no ticket (the sweep only looks at orders still READY).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declined_attempt_after_a_paid_one_whose_webhook_was_lost_confirms() {
    let stack = Stack::start(|_| {}).await;
    let (performance, seats, customer, reservation, merchant) = one_order(&stack, 4_000).await;
    let merchant = merchant.as_str();

    let lost = stack.pay_unheard(merchant, 4_000, TEST_CARD).await;
    assert_eq!(lost["payment"]["status"], "paid", "{lost}");
    let paid_imp = lost["payment"]["imp_uid"]
        .as_str()
        .expect("imp_uid")
        .to_owned();

    let declined = stack.checkout(merchant, 4_000, DECLINED_CARD, false).await;
    assert_eq!(declined["payment"]["status"], "failed", "{declined}");
    assert_eq!(declined["webhook"]["status"], 200, "{declined}");
    stack
        .reservation_becomes(&customer.access, &reservation, "CONFIRMED")
        .await;
    stack.seats_become(performance, &seats[..1], "SOLD").await;
    let kept = stack.sandbox.sandbox.payment(&paid_imp).expect("payment");
    assert_eq!(
        kept.status,
        PaymentStatus::Paid,
        "the paid payment is the ticket's: {kept:?}"
    );
    stack.stop().await;
}
