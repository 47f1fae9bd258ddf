//! `opsctl trace` against the whole platform in this process, its own
//! Kafka broker and a PortOne sandbox: a confirmed booking is followed from
//! the hold through its order, the saga's events (with their place in
//! Kafka and the groups that processed them) to PortOne's payment, by any
//! of its ids; a payment whose webhook was lost, one whose PaymentSucceeded
//! waits in the outbox while the broker is down, and one whose event
//! reservation-service dead-lettered are each found stuck, with where and
//! the command to run.

use crate::common;

use serde_json::Value;
use ticketing_catalog::topics;
use ticketing_e2e::Stack;
use ticketing_testkit::{PrivateBroker, TestEnv};

async fn trace(booking: &Stack, id: &str, json: bool) -> common::Run {
    let s = &booking.env.settings;
    let sandbox = booking.sandbox.url.to_string();
    let vars = [
        ("TICKETING__DATABASE__NAME", s.database.name.as_str()),
        (
            "TICKETING__KAFKA__TOPIC_PREFIX",
            s.kafka.topic_prefix.as_str(),
        ),
        (
            "TICKETING__KAFKA__BOOTSTRAP_SERVERS",
            booking.settings.kafka.bootstrap_servers.as_str(),
        ),
        ("TICKETING__KAFKA__REQUEST_TIMEOUT_MS", "2000"),
        ("TICKETING__PORTONE__BASE_URL", sandbox.as_str()),
    ];
    let mut args = vec!["trace", id];
    if json {
        args.extend(["--output", "json"]);
    }
    common::opsctl(&args, &vars).await
}

fn doc(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_is_traced_across_every_layer_and_each_way_it_sticks_is_named() {
    let env = TestEnv::new().await;
    let mut broker = PrivateBroker::start_new();
    let mut settings = env.settings.clone();
    settings.kafka = broker.settings(&env.settings.kafka);
    ticketing_kafka::ensure_topics(&settings.kafka, &topics::ALL, 1, 1)
        .await
        .expect("topics");
    // Nothing settles the lost webhook behind the test's back.
    settings.booking.payment_check_after_seconds = 3_600;
    settings.booking.payment_ledger_interval_ms = 3_600_000;
    let booking = Stack::start_with(env, settings).await;
    let (performance, seats) = booking.minted_performance(4, 5_000).await;

    // Confirmed.
    let customer = booking.customer(performance);
    let held = booking.hold_as(&customer, performance, &seats[0]).await;
    let reservation = held["reservation_id"].as_str().expect("id").to_owned();
    let merchant = booking.prepare_as(&customer, &held).await;
    let paid = booking.pay(&merchant, 5_000, None).await;
    let imp_uid = paid["payment"]["imp_uid"]
        .as_str()
        .expect("imp_uid")
        .to_owned();
    booking
        .reservation_becomes(&customer.access, &reservation, "CONFIRMED")
        .await;
    let run = trace(&booking, &reservation, true).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let found = doc(&run);
    assert_eq!(found["verdict"]["ok"], true, "{found}");
    assert!(
        found["verdict"]["line"]
            .as_str()
            .is_some_and(|l| l.starts_with(&format!("confirmed: paid at PortOne ({imp_uid})"))),
        "{found}"
    );
    let events = found["events"].as_array().expect("events");
    let succeeded = events
        .iter()
        .find(|e| e["event_type"] == "PaymentSucceeded")
        .unwrap_or_else(|| panic!("PaymentSucceeded in {found}"));
    assert!(succeeded["sent_at"].is_string(), "{succeeded}");
    assert!(
        succeeded["offset"].as_i64().is_some(),
        "its place in Kafka: {succeeded}"
    );
    let group = booking.env.settings.kafka.topic("reservation-service");
    assert!(
        succeeded["processed"]
            .as_array()
            .is_some_and(|p| p.iter().any(|g| g[0] == group.as_str())),
        "{succeeded}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event_type"] == "ReservationConfirmed"),
        "{found}"
    );
    assert_eq!(found["portone"][0]["status"], "paid", "{found}");
    assert!(
        found["timeline"].as_array().is_some_and(|t| t.len() >= 6),
        "{found}"
    );
    // The same booking by its order and by its payment.
    for id in [merchant.as_str().expect("merchant_uid"), imp_uid.as_str()] {
        let again = doc(&trace(&booking, id, true).await);
        assert_eq!(again["reservation_id"], reservation.as_str(), "{id}");
    }
    let table = trace(&booking, &reservation, false).await;
    assert!(
        table.stdout.contains("verdict: confirmed"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("PaymentSucceeded processed"),
        "{}",
        table.stdout
    );

    // Paid, the webhook lost on the way: stuck, and what to run.
    let late = booking.customer(performance);
    let held = booking.hold_as(&late, performance, &seats[1]).await;
    let lost = held["reservation_id"].as_str().expect("id").to_owned();
    let merchant = booking.prepare_as(&late, &held).await;
    let unheard = booking
        .pay(
            &merchant,
            5_000,
            Some("http://127.0.0.1:9/webhooks/portone"),
        )
        .await;
    let lost_imp = unheard["payment"]["imp_uid"]
        .as_str()
        .expect("imp_uid")
        .to_owned();
    let run = trace(&booking, &lost, true).await;
    assert_eq!(run.code, 1, "stuck: {}{}", run.stdout, run.stderr);
    let found = doc(&run);
    let line = found["verdict"]["line"].as_str().unwrap_or_default();
    assert!(
        line.contains("webhook was lost")
            && line
                .contains("`opsctl --env local reservations reconcile --older-than 1m --execute`"),
        "{found}"
    );
    // No order records the payment: found through PortOne.
    let by_payment = doc(&trace(&booking, &lost_imp, true).await);
    assert_eq!(by_payment["reservation_id"], lost.as_str());

    // Paid while the broker is down: the event waits in the outbox. A
    // second one is written by a payment-service a version ahead (its
    // envelope says schema 99): reservation-service will dead-letter it.
    let (waiting, skewed) = (booking.customer(performance), booking.customer(performance));
    let held = booking.hold_as(&waiting, performance, &seats[2]).await;
    let stuck = held["reservation_id"].as_str().expect("id").to_owned();
    let stuck_order = booking.prepare_as(&waiting, &held).await;
    let held = booking.hold_as(&skewed, performance, &seats[3]).await;
    let dead = held["reservation_id"].as_str().expect("id").to_owned();
    let dead_order = booking.prepare_as(&skewed, &held).await;
    broker.stop();
    for order in [&stuck_order, &dead_order] {
        let paid = booking.pay(order, 5_000, None).await;
        assert_eq!(paid["webhook"]["status"], 200, "{paid}");
    }
    let unsent = |id: String| {
        let booking = &booking;
        async move {
            booking
                .count(
                    "payment_service",
                    &format!(
                        "SELECT count(*) FROM outbox WHERE event_type = 'PaymentSucceeded' \
                         AND sent_at IS NULL AND partition_key = '{id}'"
                    ),
                )
                .await
        }
    };
    assert_eq!(unsent(stuck.clone()).await, 1);
    let run = trace(&booking, &stuck, true).await;
    assert_eq!(run.code, 1, "stuck: {}{}", run.stdout, run.stderr);
    let found = doc(&run);
    let line = found["verdict"]["line"].as_str().unwrap_or_default();
    assert!(
        line.contains("PaymentSucceeded unsent for") && line.contains("outbox relay"),
        "{found}"
    );
    assert!(
        found["kafka_error"].is_string(),
        "the broker is down: {found}"
    );
    let pool = booking.env.pool(Some("payment_service"));
    sqlx::query(
        "UPDATE outbox SET envelope = jsonb_set(envelope, '{schema_version}', '99') \
         WHERE event_type = 'PaymentSucceeded' AND partition_key = $1",
    )
    .bind(&dead)
    .execute(&pool)
    .await
    .expect("a newer schema");
    pool.close().await;

    broker.start();
    booking
        .reservation_becomes(&waiting.access, &stuck, "CONFIRMED")
        .await;
    assert_eq!(trace(&booking, &stuck, false).await.code, 0);
    let group = booking.env.settings.kafka.topic("reservation-service");
    let mut found = Value::Null;
    for _ in 0..200 {
        found = doc(&trace(&booking, &dead, true).await);
        if found["verdict"]["line"]
            .as_str()
            .is_some_and(|l| l.contains("dead-lettered"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line = found["verdict"]["line"].as_str().unwrap_or_default();
    let letter = found["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["event_type"] == "PaymentSucceeded"))
        .map(|e| e["dead_letters"][0][1].clone())
        .expect("the letter");
    let letter = format!("{}:{}", letter["partition"], letter["offset"]);
    assert!(
        line.contains(&format!(
            "PaymentSucceeded dead-lettered by {group} (letter {letter})"
        )) && line.contains(&format!(
            "`opsctl --env local dlq replay {letter} --execute`"
        )),
        "{found}"
    );
    assert_eq!(found["verdict"]["ok"], false);

    let unknown = trace(&booking, "nonsense", false).await;
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    let missing = trace(&booking, &uuid::Uuid::now_v7().to_string(), false).await;
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    let env = booking.stop_keeping_env().await;
    drop(broker);
    env.cleanup().await;
}
