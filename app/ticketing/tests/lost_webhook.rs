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
        .client
        .checkout(&ticketing_e2e::client::Checkout {
            merchant_uid: merchant.as_str().expect("merchant_uid"),
            amount: 3_000,
            card: TEST_CARD,
            // Nobody listens there: the notice is lost.
            notice_url: Some("http://127.0.0.1:9/lost"),
            ignore_prepare: false,
        })
        .await
        .expect("checkout");
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
