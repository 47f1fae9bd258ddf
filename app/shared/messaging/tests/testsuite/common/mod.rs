//! Helpers shared by the backbone and replay tests: a schema with the
//! messaging tables and an `effects` table, event writers, a recording
//! handler, and waits.
#![allow(dead_code)]

use std::time::Duration;

use rdkafka::consumer::{Consumer as _, StreamConsumer};
use sqlx::{PgConnection, PgPool};
use ticketing_catalog::topics;
use ticketing_config::KafkaSettings;
use ticketing_events::{Envelope, ReservationConfirmed};
use ticketing_messaging::consumer::{Consumer, ConsumerOptions, Handler, HandlerError};
use ticketing_messaging::relay::{Relay, RelayOptions};
use ticketing_testkit::TestEnv;
use uuid::Uuid;

pub const SCHEMA: &str = "reservation_service";
pub const POISON: &str = "00000000-0000-7000-8000-00000000dead";

pub async fn schema_pool(env: &TestEnv) -> PgPool {
    let pool = env.pool(Some(SCHEMA));
    let empty = sqlx::migrate::Migrator::DEFAULT;
    let migrator = ticketing_messaging::with_messaging(&empty);
    ticketing_db::migrate(
        &pool,
        &env.settings.database,
        SCHEMA,
        &migrator,
        Duration::from_secs(10),
    )
    .await
    .expect("migrate");
    sqlx::query(
        "CREATE TABLE effects (event_id UUID NOT NULL, aggregate TEXT NOT NULL, seq INT NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("effects table");
    pool
}

/// Appends `n` ReservationConfirmed events for `key` in separate transactions.
pub async fn write_events(pool: &PgPool, key: Uuid, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for seq in 0..n {
        let mut tx = pool.begin().await.expect("begin");
        let event = ReservationConfirmed {
            reservation_id: key,
            performance_id: Uuid::now_v7(),
            seat_ids: vec![Uuid::from_u128(seq as u128)],
        };
        let envelope = ticketing_messaging::append(&mut tx, &event)
            .await
            .expect("append");
        tx.commit().await.expect("commit");
        ids.push(envelope.event_id);
    }
    ids
}

/// Records each applied event; fails (transiently) for the poison aggregate.
pub struct Recorder;

impl Handler for Recorder {
    fn supports(&self, event_type: &str) -> Option<u32> {
        (event_type == "ReservationConfirmed").then_some(1)
    }

    async fn handle(&self, tx: &mut PgConnection, envelope: &Envelope) -> Result<(), HandlerError> {
        if envelope.aggregate_id == POISON {
            return Err(HandlerError::Transient("poison aggregate".into()));
        }
        let event: ReservationConfirmed = envelope
            .decode()
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let seq = event
            .seat_ids
            .first()
            .map(|s| s.as_u128() as i32)
            .unwrap_or(-1);
        sqlx::query("INSERT INTO effects (event_id, aggregate, seq) VALUES ($1, $2, $3)")
            .bind(envelope.event_id)
            .bind(&envelope.aggregate_id)
            .bind(seq)
            .execute(tx)
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        Ok(())
    }
}

pub fn fast_relay(pool: &PgPool, kafka: &KafkaSettings) -> Relay {
    let options = RelayOptions {
        poll_interval: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
        message_timeout: Duration::from_secs(2),
        ..RelayOptions::default()
    };
    Relay::new(pool.clone(), SCHEMA, kafka.clone(), options).expect("relay")
}

pub fn consumer(pool: &PgPool, kafka: &KafkaSettings, group: &str) -> Consumer<Recorder> {
    let mut options = ConsumerOptions::new(group, &[topics::RESERVATION_EVENTS]);
    options.max_attempts = 3;
    options.initial_backoff = Duration::from_millis(10);
    Consumer::new(pool.clone(), kafka.clone(), Recorder, options).expect("consumer")
}

pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .expect("count")
}

pub async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads up to `n` raw messages of `topic` from the beginning.
pub async fn read_topic(
    kafka: &KafkaSettings,
    topic: &str,
    n: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    let reader: StreamConsumer = ticketing_kafka::client_config(kafka)
        .set("group.id", format!("reader-{}", Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    reader.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while out.len() < n && tokio::time::Instant::now() < deadline {
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(2), reader.recv()).await {
            out.push(m.detach());
        }
    }
    out
}
