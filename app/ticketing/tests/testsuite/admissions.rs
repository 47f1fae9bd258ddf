//! One admission, one order, through the gateway: a waiting-room admission
//! (`qr_` token) is used up by the hold it produced; a second hold with it
//! is refused (409 `admission_used`), also after the first order ended;
//! while that hold is open, re-entering the queue shows the hold (no place,
//! no fresh admission), and once it ends the customer queues again; a
//! customer holds or owns at most `booking.max_seats_per_user` seats of a
//! performance across all their orders (409 `seat_limit`), checked in the
//! hold's transaction so two holds at once cannot both pass.

use portone_sandbox::TEST_CARD;
use ticketing_e2e::client::RECAPTCHA_PASS;
use ticketing_e2e::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admission_buys_one_order_and_a_customer_has_at_most_the_cap() {
    let stack = Stack::start(|s| {
        s.booking.max_seats_per_hold = 4;
        s.booking.max_seats_per_user = 4;
    })
    .await;
    let (performance, seats) = stack.performance(2, 5, 1_000).await;
    let token = stack.user("one-admission").await;

    // The first hold with an admission works; the same admission again does not.
    let qr = stack.admitted(&token, performance).await;
    let first = stack.hold(&token, &qr, performance, &seats[..2]).await;
    let (first_id, _) = Stack::held(&first);
    let again = stack.hold(&token, &qr, performance, &seats[2..3]).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.body["code"], "admission_used", "{}", again.body);
    // The refused hold held nothing: the seat is still free for others.
    let other = stack.customer(performance);
    let theirs = stack
        .hold_as(&other, performance, &seats[2].to_string().into())
        .await;
    assert!(theirs["reservation_id"].is_string(), "{theirs}");

    // While that order is held, the queue shows it: no place in the queue
    // and no fresh admission.
    let entered = stack
        .call(
            "POST",
            &format!("/api/queue/{performance}/enter"),
            Some(&token),
            &[],
            Some(serde_json::json!({"recaptcha_token": RECAPTCHA_PASS})),
        )
        .await;
    assert_eq!(entered.status, 200, "{}", entered.body);
    assert_eq!(entered.body["status"], "holding", "{}", entered.body);
    assert_eq!(entered.body["reservation_id"], first_id.as_str());
    assert!(entered.body["reservation_token"].is_null());

    // The order is paid (CONFIRMED: the hold has ended), and the customer
    // queues again for a second admission: 2 owned + 3 more would pass the
    // cap of 4.
    let (_, payment_token) = Stack::held(&first);
    let merchant = stack.prepare(&token, &payment_token).await;
    let paid = stack.checkout(&merchant, 2_000, TEST_CARD, false).await;
    assert_eq!(paid["payment"]["status"], "paid", "{paid}");
    stack
        .reservation_becomes(&token, &first_id, "CONFIRMED")
        .await;
    let qr = stack.admitted(&token, performance).await;
    let over = stack.hold(&token, &qr, performance, &seats[3..6]).await;
    assert_eq!(over.status, 409, "{}", over.body);
    assert_eq!(over.body["code"], "seat_limit", "{}", over.body);
    assert!(
        over.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("2 seat(s)") && d.contains("at most 4")),
        "{}",
        over.body
    );
    // The refused hold did not use the admission up: 2 more fit.
    let fits = stack.hold(&token, &qr, performance, &seats[3..5]).await;
    let (second_id, _) = Stack::held(&fits);
    assert_ne!(first_id, second_id);

    // While an admission is unused, re-entering the queue hands back the
    // same one, not a second.
    let waiting = stack.user("waits-twice").await;
    let once = stack.admitted(&waiting, performance).await;
    assert_eq!(stack.admitted(&waiting, performance).await, once);

    // Two holds at once by one customer with two admissions (minted: the
    // queue would not hand out two), 3 + 2 seats against a cap of 4:
    // exactly one passes.
    let twice = stack.customer(performance);
    let qr_b = stack.admission(twice.user, performance);
    let (a, b) = tokio::join!(
        stack.hold(&twice.access, &twice.queue, performance, &seats[5..8]),
        stack.hold(&twice.access, &qr_b, performance, &seats[8..10]),
    );
    let statuses = [a.status, b.status];
    assert!(
        statuses.contains(&201) && statuses.contains(&409),
        "one passes, one is refused: {} / {}",
        a.body,
        b.body
    );
    let refused = if a.status == 409 { &a } else { &b };
    assert_eq!(refused.body["code"], "seat_limit", "{}", refused.body);
    stack.stop().await;
}
