//! The README's demo booking, as `ticketing demo` runs it. (Its own test
//! binary: its payment moves the per-process payment counters that
//! `booking.rs` asserts on.)

use ticketing_e2e::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_booking_of_the_readme_ends_confirmed() {
    let stack = Stack::start(|_| {}).await;
    let gateway = url::Url::parse(&stack.gateway).expect("url");
    let demo =
        ticketing_e2e::demo::Demo::new(gateway, stack.sandbox.url.clone(), stack.organiser())
            .expect("demo");
    let mut steps = Vec::new();
    let booked = demo
        .run(|s| steps.push(s.to_owned()))
        .await
        .expect("demo booking");
    assert_eq!(booked.status, "CONFIRMED");
    assert_eq!(booked.seats.len(), 2);
    assert_eq!(booked.amount, 2);
    assert!(steps.len() >= 6, "{steps:?}");
    stack.stop().await;
}
