//! Replay and lag against real PostgreSQL and a real Apache Kafka broker:
//! a range re-sent to a broker that lost its disk, the unsent
//! backlog re-sent after an outage, and a consumer group's lag.

use crate::common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::*;
use rdkafka::Message;
use ticketing_catalog::topics;
use ticketing_events::Envelope;
use ticketing_messaging::replay::{self, ReplayError, ReplayOptions, Selection};
use ticketing_testkit::{PrivateBroker, TestEnv};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn total_lag(kafka: &ticketing_config::KafkaSettings, group: &str, topic: &str) -> i64 {
    ticketing_kafka::group_lag(kafka, group, &[topic.to_owned()])
        .await
        .expect("lag")
        .iter()
        .map(|p| p.lag)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_range_replayed_to_a_broker_that_lost_its_disk_restores_every_event_in_order() {
    let env = TestEnv::new().await;
    let pool = schema_pool(&env).await;
    let mut broker = PrivateBroker::start_new();
    let kafka = broker.settings(&env.settings.kafka);
    ticketing_kafka::ensure_topics(&kafka, &topics::ALL, 1, 1)
        .await
        .expect("topics");
    let topic = kafka.topic(topics::RESERVATION_EVENTS);

    let since = Utc::now() - chrono::Duration::seconds(1);
    let keys: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for key in &keys {
        write_events(&pool, *key, 10).await;
    }
    let relay = fast_relay(&pool, &kafka);
    assert_eq!(
        relay.drain(Duration::from_secs(30)).await.expect("drain"),
        30
    );
    // A consumer applies everything before the disk is lost.
    let shutdown = CancellationToken::new();
    let first = consumer(&pool, &kafka, "replay-test");
    let task = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { first.run(shutdown).await })
    };
    wait_until("30 effects", Duration::from_secs(30), async || {
        count(&pool, "SELECT count(*) FROM effects").await == 30
    })
    .await;
    shutdown.cancel();
    let _ = task.await;

    broker.wipe();
    ticketing_kafka::ensure_topics(&kafka, &topics::ALL, 1, 1)
        .await
        .expect("topics again");
    assert_eq!(total_lag(&kafka, "replay-test", &topic).await, 0);

    let selection = Selection::range(since, Utc::now()).expect("range");
    let plan = replay::plan(&pool, &selection).await.expect("plan");
    assert_eq!(plan.events, 30);
    assert_eq!(plan.already_sent, 30);
    assert_eq!(plan.by_type.len(), 1);
    assert_eq!(plan.by_type[0].event_type, "ReservationConfirmed");
    assert_eq!(plan.by_type[0].events, 30);

    let options = ReplayOptions {
        rate_per_second: Some(20),
        ..ReplayOptions::default()
    };
    let mut reports = Vec::new();
    let started = Instant::now();
    let done = replay::replay(&relay, &plan, &options, |p| reports.push(p.clone()))
        .await
        .expect("replay");
    // Correctness of the rate limit (a lower bound, never an upper one): 30
    // events at 20/s cannot all go out in under a second.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(done.published, 30);
    assert_eq!(done.total, 30);
    assert!(done.done);
    assert!(reports.len() >= 3, "a report per chunk: {reports:?}");
    assert!(reports.windows(2).all(|w| w[0].published <= w[1].published));

    // Every event is back, each key in its order.
    let raw = read_topic(&kafka, &topic, 30).await;
    assert_eq!(raw.len(), 30);
    let mut last: std::collections::HashMap<String, i32> = Default::default();
    for m in &raw {
        let envelope = Envelope::from_slice(m.payload().unwrap_or_default()).expect("envelope");
        let seq = envelope.payload["seat_ids"][0]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .map(|u| u.as_u128() as i32)
            .unwrap_or(-1);
        let previous = last
            .insert(envelope.aggregate_id.clone(), seq)
            .unwrap_or(-1);
        assert!(
            seq > previous,
            "{}: {seq} after {previous}",
            envelope.aggregate_id
        );
    }

    // The group starts over on the empty broker; its side effects do not.
    let again = consumer(&pool, &kafka, "replay-test");
    let shutdown = CancellationToken::new();
    let task = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { again.run(shutdown).await })
    };
    wait_until("the group caught up", Duration::from_secs(30), async || {
        total_lag(&kafka, "replay-test", &topic).await == 0
    })
    .await;
    shutdown.cancel();
    let _ = task.await;
    assert_eq!(count(&pool, "SELECT count(*) FROM effects").await, 30);

    drop(relay);
    drop(pool);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replaying_the_unsent_backlog_waits_out_the_outage_and_leaves_later_rows_alone() {
    let env = TestEnv::new().await;
    let pool = schema_pool(&env).await;
    let mut broker = PrivateBroker::start_new();
    let kafka = broker.settings(&env.settings.kafka);
    ticketing_kafka::ensure_topics(&kafka, &topics::ALL, 1, 1)
        .await
        .expect("topics");
    broker.stop();

    for _ in 0..5 {
        write_events(&pool, Uuid::now_v7(), 5).await;
    }
    let backlog = replay::backlog(&pool).await.expect("backlog");
    assert_eq!(backlog.len(), 1);
    assert_eq!(backlog[0].unsent, 25);
    assert!(backlog[0].oldest_age_seconds.unwrap_or(-1.0) >= 0.0);

    let plan = replay::plan(&pool, &Selection::Unsent).await.expect("plan");
    assert_eq!((plan.events, plan.already_sent), (25, 0));
    // Written after the plan: the running relays' business, not this replay's.
    write_events(&pool, Uuid::now_v7(), 5).await;

    let relay = fast_relay(&pool, &kafka);
    let impatient = ReplayOptions {
        stall_timeout: Duration::from_secs(2),
        ..ReplayOptions::default()
    };
    let stalled = replay::replay(&relay, &plan, &impatient, |_| {}).await;
    match stalled {
        Err(ReplayError::Stalled {
            published, total, ..
        }) => assert_eq!((published, total), (0, 25)),
        other => panic!("expected a stall, got {other:?}"),
    }
    assert_eq!(
        count(&pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL").await,
        30,
        "nothing marked sent while the broker was down"
    );

    broker.start();
    let mut last = None;
    let done = replay::replay(&relay, &plan, &ReplayOptions::default(), |p| {
        last = Some(p.clone())
    })
    .await
    .expect("replay");
    assert_eq!(done.published, 25);
    assert_eq!(last.map(|p| p.done), Some(true));
    assert_eq!(
        count(&pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL").await,
        5
    );
    let raw = read_topic(&kafka, &kafka.topic(topics::RESERVATION_EVENTS), 25).await;
    assert_eq!(raw.len(), 25);

    drop(relay);
    drop(pool);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_lag_counts_what_the_group_has_not_processed() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let pool = schema_pool(&env).await;
    let kafka = env.settings.kafka.clone();
    let topic = env.topic(topics::RESERVATION_EVENTS);

    let written = Utc::now() - chrono::Duration::seconds(1);
    write_events(&pool, Uuid::now_v7(), 12).await;
    let relay = fast_relay(&pool, &kafka);
    assert_eq!(
        relay.drain(Duration::from_secs(30)).await.expect("drain"),
        12
    );

    let group = consumer(&pool, &kafka, "lag-test");
    let before = group.lag().await.expect("lag");
    assert!(before.iter().all(|p| p.committed.is_none()));
    assert_eq!(before.iter().map(|p| p.lag).sum::<i64>(), 12);
    assert_eq!(before.iter().map(|p| p.log_end).sum::<i64>(), 12);
    // The lag in time (consumer.lag.seconds): the oldest record not
    // processed, written when the test wrote it.
    let behind = before
        .iter()
        .find(|p| p.lag > 0)
        .expect("a partition behind");
    let oldest = ticketing_kafka::oldest_unprocessed(&kafka, behind)
        .await
        .expect("read")
        .expect("a record waits");
    assert!(oldest >= written && oldest <= Utc::now(), "{oldest}");

    let shutdown = CancellationToken::new();
    let task = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            group.run(shutdown).await;
            group
        })
    };
    wait_until("lag 0", Duration::from_secs(30), async || {
        total_lag(&kafka, "lag-test", &topic).await == 0
    })
    .await;
    shutdown.cancel();
    let group = task.await.expect("consumer task");
    assert_eq!(count(&pool, "SELECT count(*) FROM effects").await, 12);
    let after = group.lag().await.expect("lag");
    assert_eq!(after.iter().filter_map(|p| p.committed).sum::<i64>(), 12);
    for p in &after {
        assert_eq!(
            ticketing_kafka::oldest_unprocessed(&kafka, p)
                .await
                .expect("read"),
            None
        );
    }

    let missing = ticketing_kafka::group_lag(&kafka, "lag-test", &[env.topic("no-such-topic")])
        .await
        .expect_err("unknown topic");
    assert!(missing.to_string().contains("does not exist"), "{missing}");

    drop(relay);
    drop(pool);
    env.cleanup().await;
}

#[tokio::test]
async fn a_backwards_range_and_a_zero_rate_are_refused() {
    let now = Utc::now();
    let backwards = Selection::range(now, now - chrono::Duration::hours(1)).expect_err("backwards");
    assert!(backwards.to_string().contains("backwards"), "{backwards}");
    assert!(
        Selection::range(now, now).is_err(),
        "an empty range is refused"
    );

    let env = TestEnv::new().await;
    let pool = schema_pool(&env).await;
    let relay = fast_relay(&pool, &env.settings.kafka);
    let plan = replay::plan(&pool, &Selection::Unsent).await.expect("plan");
    let zero = ReplayOptions {
        rate_per_second: Some(0),
        ..ReplayOptions::default()
    };
    let refused = replay::replay(&relay, &plan, &zero, |_| {})
        .await
        .expect_err("zero rate");
    assert!(matches!(refused, ReplayError::ZeroRate));
    drop(relay);
    drop(pool);
    env.cleanup().await;
}
