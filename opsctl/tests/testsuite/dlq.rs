//! `opsctl dlq` against the real broker and PostgreSQL: the messaging
//! crate's own consumers (the runner every service uses) dead-letter a
//! poison message and an event whose handler fails; `list` and `show` read
//! them back; the replay's plan counts, per group, who processed the event
//! already; `--execute` re-sends it once, the group that had failed applies
//! it, the other skips it as a duplicate, and a second replay repeats
//! nothing.
//!
//! The handlers are the test's own (a service handler with a bug that is
//! then fixed): no real service fails on demand. Everything they run in,
//! the consumer runner, Kafka and the processed-events tables, is real.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use serde_json::Value;
use sqlx::PgConnection;
use ticketing_catalog::topics;
use ticketing_events::{Envelope, ReservationConfirmed};
use ticketing_messaging::consumer::{Consumer, ConsumerOptions, Handler, HandlerError};
use ticketing_testkit::TestEnv;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Applies ReservationConfirmed, failing for good while `broken`.
#[derive(Clone, Default)]
struct Flaky {
    broken: Arc<AtomicBool>,
    applied: Arc<AtomicUsize>,
}

impl Handler for Flaky {
    fn supports(&self, event_type: &str) -> Option<u32> {
        (event_type == "ReservationConfirmed").then_some(1)
    }

    async fn handle(&self, _tx: &mut PgConnection, _e: &Envelope) -> Result<(), HandlerError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(HandlerError::Permanent(
                "seat map out of step (the bug)".into(),
            ));
        }
        self.applied.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// The messaging tables in `service`'s schema.
async fn messaging_tables(env: &TestEnv, service: &str) -> sqlx::PgPool {
    let schema = service.replace('-', "_");
    let pool = env.pool(Some(&schema));
    let empty = sqlx::migrate::Migrator::DEFAULT;
    ticketing_db::migrate(
        &pool,
        &env.settings.database,
        &schema,
        &ticketing_messaging::with_messaging(&empty),
        Duration::from_secs(10),
    )
    .await
    .expect("migrate");
    pool
}

/// A consumer of reservation.events in `service`'s group running `handler`.
async fn consumer(env: &TestEnv, service: &str, handler: Flaky, stop: &CancellationToken) {
    let pool = messaging_tables(env, service).await;
    let group = env.settings.kafka.topic(service);
    let options = ConsumerOptions::new(&group, &[topics::RESERVATION_EVENTS]);
    let consumer =
        Consumer::new(pool, env.settings.kafka.clone(), handler, options).expect("consumer");
    let stop = stop.clone();
    tokio::spawn(async move { consumer.run(stop).await });
}

async fn dlq(env: &TestEnv, audit: &str, args: &[&str]) -> common::Run {
    let vars = [
        (
            "TICKETING__KAFKA__TOPIC_PREFIX",
            env.settings.kafka.topic_prefix.as_str(),
        ),
        (
            "TICKETING__DATABASE__NAME",
            env.settings.database.name.as_str(),
        ),
        ("OPSCTL_AUDIT_LOG", audit),
    ];
    let mut all = vec!["--output", "json", "dlq"];
    all.extend_from_slice(args);
    common::opsctl(&all, &vars).await
}

fn json(run: &common::Run) -> Value {
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_letter_is_listed_shown_and_replayed_once_with_its_duplicates_counted() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let stop = CancellationToken::new();
    let (events, payments) = (Flaky::default(), Flaky::default());
    events.broken.store(true, Ordering::SeqCst);
    consumer(&env, "event-service", events.clone(), &stop).await;
    consumer(&env, "payment-service", payments.clone(), &stop).await;
    // reservation-service reads payment.events only: its tables, no consumer.
    messaging_tables(&env, "reservation-service")
        .await
        .close()
        .await;

    let envelope = Envelope::new(&ReservationConfirmed {
        reservation_id: Uuid::now_v7(),
        performance_id: Uuid::now_v7(),
        seat_ids: vec![Uuid::now_v7()],
    })
    .expect("envelope");
    let topic = env.topic(topics::RESERVATION_EVENTS);
    let producer = ticketing_messaging::relay::idempotent_producer(
        &env.settings.kafka,
        Duration::from_secs(10),
    )
    .expect("producer");
    for payload in [envelope.to_vec().expect("bytes"), b"{not json".to_vec()] {
        producer
            .send(
                FutureRecord::to(&topic).key("k").payload(&payload),
                Duration::from_secs(5),
            )
            .await
            .expect("produce");
    }
    // The event fails in event-service; the poison message in both groups.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ticketing_messaging::dead_letters::read(&env.settings.kafka, 100)
        .await
        .map_or(0, |l| l.len())
        < 3
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "three letters in the DLQ"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(payments.applied.load(Ordering::SeqCst), 1);

    let audit_file = common::temp_audit_log("dlq");
    let audit = audit_file.display().to_string();
    let listed = json(&dlq(&env, &audit, &["list"]).await);
    let letters = listed["letters"].as_array().expect("letters");
    assert_eq!(letters.len(), 3, "{listed}");
    let failed = letters
        .iter()
        .find(|l| l["event_id"] == envelope.event_id.to_string())
        .expect("the event's letter");
    assert_eq!(failed["group"], env.settings.kafka.topic("event-service"));
    assert_eq!(failed["source_topic"], topic.as_str());
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("the bug")),
        "{failed}"
    );
    let poison: Vec<&Value> = letters.iter().filter(|l| l["event_id"].is_null()).collect();
    assert_eq!(poison.len(), 2, "one per group: {listed}");
    assert_eq!(
        listed["summary"].as_array().map(Vec::len),
        Some(3),
        "{listed}"
    );
    let id = format!("{}:{}", failed["id"]["partition"], failed["id"]["offset"]);
    let shown = json(&dlq(&env, &audit, &["show", &id]).await);
    assert_eq!(shown["payload"]["event_id"], envelope.event_id.to_string());
    assert!(
        shown["headers"]
            .as_object()
            .is_some_and(|h| h.keys().all(|k| !k.starts_with("dlq."))),
        "the message's own headers only: {shown}"
    );

    // The bug is fixed; the plan counts before anything is sent.
    events.broken.store(false, Ordering::SeqCst);
    let plan = dlq(&env, &audit, &["replay", &id]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr.contains(&format!(
            "{}: 0 already processed (skipped as duplicates), 1 not processed",
            env.settings.kafka.topic("event-service")
        )) && plan.stderr.contains(&format!(
            "{}: 1 already processed (skipped as duplicates), 0 not processed",
            env.settings.kafka.topic("payment-service")
        )),
        "{}",
        plan.stderr
    );
    assert_eq!(
        events.applied.load(Ordering::SeqCst),
        0,
        "a plan sends nothing"
    );
    assert_eq!(common::audit_phases(&audit_file), ["planned"]);

    let replayed = json(&dlq(&env, &audit, &["replay", &id, "--execute"]).await);
    assert_eq!(replayed["changed"], 1, "{replayed}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while events.applied.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "event-service applies the replayed event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(events.applied.load(Ordering::SeqCst), 1);
    assert_eq!(
        payments.applied.load(Ordering::SeqCst),
        1,
        "payment-service skipped it"
    );
    let resent = ticketing_kafka::read_partition(&env.settings.kafka, &topic, 0, 2, None, 10)
        .await
        .expect("read back");
    assert_eq!(resent.len(), 1, "one copy re-sent");
    assert!(
        resent[0]
            .headers
            .iter()
            .any(|(k, v)| k == "dlq.replayed.from" && v == id.as_bytes()),
        "{:?}",
        resent[0].headers
    );

    // Marked: hidden from the list, and a second replay sends nothing.
    let after = json(&dlq(&env, &audit, &["list"]).await);
    assert_eq!(
        after["letters"].as_array().map(Vec::len),
        Some(2),
        "{after}"
    );
    let everything = json(&dlq(&env, &audit, &["list", "--all"]).await);
    assert!(
        everything["letters"].as_array().is_some_and(|l| l
            .iter()
            .any(|l| l["replayed"] == true && l["event_id"] == envelope.event_id.to_string())),
        "{everything}"
    );
    let again = json(&dlq(&env, &audit, &["replay", &id, "--execute"]).await);
    assert_eq!(again["changed"], 0, "{again}");
    let phases = common::audit_phases(&audit_file);
    assert_eq!(
        phases.iter().filter(|p| *p == "done").count(),
        1,
        "{phases:?}"
    );
    assert!(phases.contains(&"progress".to_owned()), "{phases:?}");

    let unknown = dlq(&env, &audit, &["show", "0:999"]).await;
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("dlq list --all"),
        "{}",
        unknown.stderr
    );
    stop.cancel();
    env.cleanup().await;
}
