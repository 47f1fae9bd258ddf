//! A refund made outside the platform (PortOne's console or API) after the
//! reservation was confirmed: PortOne's webhook for the cancelled payment
//! compensates: the order is refunded, `PaymentRefunded` is announced, the
//! reservation ends CANCELLED and its seats are free. A partial refund
//! takes the rest back too: every payment ends in a ticket or a full refund.

use ticketing_e2e::Stack;
use ticketing_portone::PaymentStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_or_partial_refund_at_portone_cancels_the_confirmed_reservation() {
    let stack = Stack::start(|_| {}).await;
    let (performance, seats) = stack.minted_performance(2, 2_000).await;

    for (seat, partial) in [(&seats[0], false), (&seats[1], true)] {
        let customer = stack.customer(performance);
        let held = stack.hold_as(&customer, performance, seat).await;
        let reservation = held["reservation_id"].as_str().expect("id").to_owned();
        let merchant = stack.prepare_as(&customer, &held).await;
        let paid = stack.pay(&merchant, 2_000, None).await;
        let imp_uid = paid["payment"]["imp_uid"]
            .as_str()
            .expect("imp_uid")
            .to_owned();
        stack
            .reservation_becomes(&customer.access, &reservation, "CONFIRMED")
            .await;

        // Staff refund it (all of it, or 500 of 2,000) at PortOne.
        stack
            .refund_at_portone(&imp_uid, partial.then_some(500))
            .await;

        let cancelled = stack
            .reservation_becomes(&customer.access, &reservation, "CANCELLED")
            .await;
        assert!(
            cancelled["cancel_reason"]
                .as_str()
                .is_some_and(|r| r.contains("refunded")),
            "{cancelled}"
        );
        let seat_id: uuid::Uuid = serde_json::from_value(seat.clone()).expect("seat id");
        stack
            .seats_become(performance, &[seat_id], "AVAILABLE")
            .await;
        let at_portone = stack.sandbox.sandbox.payment(&imp_uid).expect("payment");
        assert_eq!(
            at_portone.status,
            PaymentStatus::Cancelled,
            "{at_portone:?}"
        );
        assert_eq!(
            at_portone.cancel_amount, at_portone.amount,
            "refunded in full"
        );
    }
    stack.stop().await;
}
