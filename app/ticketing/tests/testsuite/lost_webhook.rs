//! A payment whose webhook never arrives: the customer paid at PortOne and
//! the notice was lost on the way. The payment service's sweep looks the
//! order up by `merchant_uid` once it has waited
//! `booking.payment_check_after_seconds`, and settles it as the webhook
//! would have: the reservation is CONFIRMED before its hold ends, without
//! any notice.

use portone_sandbox::TEST_CARD;
use ticketing_e2e::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paid_order_whose_webhook_was_lost_is_confirmed_by_the_sweep() {
    let stack = Stack::start(|s| {
        s.booking.payment_check_after_seconds = 1;
        s.booking.payment_sweep_interval_ms = 300;
    })
    .await;
    let (performance, seats) = stack.minted_performance(1, 3_000).await;
    let customer = stack.customer(performance);
    let held = stack.hold_as(&customer, performance, &seats[0]).await;
    let reservation = held["reservation_id"].as_str().expect("id").to_owned();
    let merchant = stack.prepare_as(&customer, &held).await;
    let paid = stack
        .pay_unheard(merchant.as_str().expect("merchant_uid"), 3_000, TEST_CARD)
        .await;
    assert_eq!(paid["payment"]["status"], "paid", "{paid}");
    assert!(
        paid["webhook"]["status"].is_null(),
        "the webhook was lost: {paid}"
    );

    let confirmed = stack
        .reservation_becomes(&customer.access, &reservation, "CONFIRMED")
        .await;
    assert_eq!(confirmed["status"], "CONFIRMED");
    stack.stop().await;
}

/// Waits until `check` holds for the sandbox's record of every payment in
/// `imp_uids`, or fails with what it last saw.
async fn portone_becomes(
    stack: &Stack,
    imp_uids: &[&str],
    what: &str,
    check: impl Fn(&[ticketing_portone::Payment]) -> bool,
) -> Vec<ticketing_portone::Payment> {
    let mut seen = Vec::new();
    for _ in 0..300 {
        seen = imp_uids
            .iter()
            .filter_map(|i| stack.sandbox.sandbox.payment(i))
            .collect();
        if check(&seen) {
            return seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("PortOne never showed {what}: {seen:?}");
}

/// Pays `merchant` with the test card, the notice lost; its imp_uid.
async fn paid_unheard(stack: &Stack, merchant: &str, amount: i64) -> String {
    let paid = stack.pay_unheard(merchant, amount, TEST_CARD).await;
    assert_eq!(paid["payment"]["status"], "paid", "{paid}");
    paid["payment"]["imp_uid"]
        .as_str()
        .expect("imp_uid")
        .to_owned()
}

/// Issue 30, third and fourth cases, settled from PortOne's ledger: one
/// order paid twice with both notices lost (the sweep confirms one; the
/// walk of PortOne's list of paid payments refunds the other, and the
/// ticket stands), and a payment for one of our reservations made without
/// `/payments/prepare`, its notice lost too (no order holds it: refunded).
/// Before the ledger walk both stayed charged for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payments_no_order_accounts_for_are_settled_from_portone_s_ledger() {
    let stack = Stack::start(|s| {
        s.booking.payment_check_after_seconds = 1;
        s.booking.payment_sweep_interval_ms = 300;
        s.booking.payment_ledger_interval_ms = 500;
    })
    .await;
    let (performance, seats) = stack.minted_performance(2, 3_000).await;

    // Paid twice, both notices lost.
    let customer = stack.customer(performance);
    let held = stack.hold_as(&customer, performance, &seats[0]).await;
    let reservation = held["reservation_id"].as_str().expect("id").to_owned();
    let merchant = stack.prepare_as(&customer, &held).await;
    let merchant = merchant.as_str().expect("merchant_uid");
    let first = paid_unheard(&stack, merchant, 3_000).await;
    let second = paid_unheard(&stack, merchant, 3_000).await;
    let settled = portone_becomes(&stack, &[&first, &second], "one kept, one refunded", |p| {
        p.len() == 2
            && p.iter()
                .filter(|p| p.status == ticketing_portone::PaymentStatus::Paid)
                .count()
                == 1
            && p.iter().any(|p| {
                p.status == ticketing_portone::PaymentStatus::Cancelled
                    && p.cancel_amount == p.amount
            })
    })
    .await;
    let kept = settled
        .iter()
        .find(|p| p.status == ticketing_portone::PaymentStatus::Paid)
        .expect("the kept payment");
    let confirmed = stack
        .reservation_becomes(&customer.access, &reservation, "CONFIRMED")
        .await;
    assert_eq!(confirmed["status"], "CONFIRMED");
    // The refund of the other one never took the ticket: a walk later the
    // reservation is still CONFIRMED (the refund's event is consumed in the
    // reservation's order, before the next walk's, see second_payment.rs).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let still = stack
        .reservation_becomes(&customer.access, &reservation, "CONFIRMED")
        .await;
    assert_eq!(still["status"], "CONFIRMED", "kept {}", kept.imp_uid);

    // Paid without a prepared order (a client that skipped prepare).
    let other = stack.customer(performance);
    let held = stack.hold_as(&other, performance, &seats[1]).await;
    let reservation: uuid::Uuid = held["reservation_id"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .expect("id");
    let unprepared =
        paid_unheard(&stack, &ticketing_portone::merchant_uid(reservation), 3_000).await;
    portone_becomes(
        &stack,
        &[&unprepared],
        "the unprepared payment refunded",
        |p| {
            p.first().is_some_and(|p| {
                p.status == ticketing_portone::PaymentStatus::Cancelled
                    && p.cancel_amount == p.amount
            })
        },
    )
    .await;
    stack.stop().await;
}

/// Issue 30, fifth case: orders prepared and never paid stayed READY for
/// ever, crowding the sweep (it takes the oldest first). Once the hold is
/// over and PortOne has nothing paid, the order ends; a payment that comes
/// later finds it settled and is refunded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_never_paid_ends_with_its_hold_and_a_late_payment_is_refunded() {
    let stack = Stack::start(|s| {
        s.booking.hold_ttl_seconds = 2;
        s.booking.payment_check_after_seconds = 1;
        s.booking.payment_sweep_interval_ms = 300;
    })
    .await;
    let (performance, seats) = stack.minted_performance(1, 3_000).await;
    let customer = stack.customer(performance);
    let held = stack.hold_as(&customer, performance, &seats[0]).await;
    let merchant = stack.prepare_as(&customer, &held).await;
    let merchant = merchant.as_str().expect("merchant_uid").to_owned();
    let payments = stack
        .env
        .pool(ticketing_catalog::ServiceName::PaymentService.schema());
    let mut ready = true;
    for _ in 0..200 {
        let orders = payment_service::repository::ready_older_than(
            &payments,
            std::time::Duration::ZERO,
            1_000,
        )
        .await
        .expect("orders");
        ready = orders.iter().any(|o| o.merchant_uid == merchant);
        if !ready {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!ready, "the order is still READY after its hold ended");

    // Paid after all (a tab left open): refunded, nothing kept.
    let late = stack.checkout(&merchant, 3_000, TEST_CARD, false).await;
    assert_eq!(late["webhook"]["status"], 200, "{late}");
    let imp_uid = late["payment"]["imp_uid"].as_str().expect("imp_uid");
    let at_portone = stack.sandbox.sandbox.payment(imp_uid).expect("payment");
    assert_eq!(
        (at_portone.status, at_portone.cancel_amount),
        (
            ticketing_portone::PaymentStatus::Cancelled,
            at_portone.amount
        ),
        "{at_portone:?}"
    );
    stack.stop().await;
}
