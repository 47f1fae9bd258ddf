//! The platform killed -9 while its relays drain a backlog of paid bookings:
//! customers paid while the broker was down, the broker came back, and the
//! `ticketing serve` process died mid-drain. Restarted, with the broker left
//! alone, every booking must end CONFIRMED within a minute (consumers rejoin
//! their groups, relays publish what is left, duplicates are absorbed).
//!
//! The platform runs as the real `ticketing serve` process against a private
//! Apache Kafka broker (stopping the shared one would disturb other tests).

use std::path::Path;
use std::time::{Duration, Instant};

use ticketing_e2e::Stack;
use ticketing_testkit::PrivateBroker;

const BOOKINGS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_bookings_confirm_after_a_kill_9_mid_drain() {
    let mut broker = PrivateBroker::start_new();
    let bootstrap = broker.bootstrap();
    let mut stack = Stack::start_process(Path::new(env!("CARGO_BIN_EXE_ticketing")), |s| {
        s.kafka.bootstrap_servers = bootstrap;
        // Thirty customers from one address: not what the rate limit is for.
        s.booking.rate_limit_per_second = 100_000;
    })
    .await;
    let (performance, seats) = stack
        .performance(1, u32::try_from(BOOKINGS).expect("small"), 1000)
        .await;

    // Holds and prepared payments while everything is up.
    let mut orders = Vec::new();
    for (i, seat) in seats.iter().enumerate() {
        let customer = stack.user(&format!("crash-customer-{i}")).await;
        let qr = stack.admitted(&customer, performance).await;
        let (reservation, qp) =
            Stack::held(&stack.hold(&customer, &qr, performance, &[*seat]).await);
        let merchant_uid = stack.prepare(&customer, &qp).await;
        orders.push((customer, reservation, merchant_uid));
    }

    // The broker goes down; every customer pays. The payments are recorded
    // and their events wait in the payment service's outbox.
    broker.stop();
    for (_, _, merchant_uid) in &orders {
        let outcome = stack
            .checkout(merchant_uid, 1000, portone_sandbox::TEST_CARD, false)
            .await;
        assert_eq!(outcome["payment"]["status"], "paid", "{outcome}");
        assert_eq!(
            outcome["webhook"]["status"], 200,
            "the payment is verified: {outcome}"
        );
    }
    for (customer, reservation, _) in &orders {
        let r = stack.reservation(customer, reservation).await;
        assert_eq!(
            r.body["status"], "PENDING",
            "no broker, no confirmation: {}",
            r.body
        );
    }

    // The broker returns and the relays start draining; the platform is
    // killed -9 right then, with the backlog (or most of it) still in the
    // outboxes and its consumers just rejoining their groups.
    broker.start();
    stack
        .process
        .as_mut()
        .expect("a platform process")
        .kill9()
        .await;
    let pool = stack.env.pool(Some("reservation_service"));
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reservations WHERE status = 'PENDING'")
            .fetch_one(&pool)
            .await
            .expect("count");
    pool.close().await;
    assert!(pending > 0, "the kill came before the drain finished");
    eprintln!("killed -9 with {pending} of {BOOKINGS} paid bookings still PENDING");

    // Restarted, broker untouched: everything CONFIRMED within a minute.
    let restarted = Instant::now();
    stack.process.as_mut().expect("process").start();
    stack.wait_ready().await;
    let mut pending: Vec<&(String, String, String)> = orders.iter().collect();
    while !pending.is_empty() {
        assert!(
            restarted.elapsed() < Duration::from_secs(60),
            "{} of {BOOKINGS} bookings not CONFIRMED a minute after the restart; platform log:\n{}",
            pending.len(),
            stack
                .process
                .as_ref()
                .map(ticketing_e2e::ServeProcess::log_tail)
                .unwrap_or_default()
        );
        let mut still = Vec::new();
        for order in pending {
            let (customer, reservation, _) = order;
            let r = stack.reservation(customer, reservation).await;
            assert_ne!(
                r.body["status"], "CANCELLED",
                "a paid booking was cancelled: {}",
                r.body
            );
            if r.body["status"] != "CONFIRMED" {
                still.push(order);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    eprintln!(
        "all {BOOKINGS} bookings CONFIRMED {:.1} s after the restart",
        restarted.elapsed().as_secs_f64()
    );
    // And the seat map agrees: every seat SOLD.
    stack.seats_become(performance, &seats, "SOLD").await;
    stack.stop().await;
}
