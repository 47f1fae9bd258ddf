//! The event backbone, one library for every service and for `opsctl`.
//!
//! * [`outbox`]: append events inside the caller's own transaction, so the
//!   state change and the event commit or roll back together.
//! * [`relay`]: the outbox poller. Claims unsent rows with
//!   `FOR UPDATE SKIP LOCKED`, wakes on `LISTEN/NOTIFY` and on a timer,
//!   publishes with an idempotent producer (`acks=all`), marks rows sent only
//!   after the broker acknowledged them, keeps per-key order, backs off while
//!   the broker is down and never drops a row.
//! * [`consumer`]: runs a handler per message with `(group, event id)`
//!   recorded in the same transaction as its side effects; bounded retries,
//!   then the `DLQ` topic with headers saying why.
//! * [`replay`]: the backlog report and re-sending, for `opsctl outbox`.
//! * [`dead_letters`]: the dead-letter topic read back and re-sent, for
//!   `opsctl dlq`.

pub mod consumer;
pub mod dead_letters;
pub mod outbox;
pub mod relay;
pub mod replay;

use sqlx::migrate::Migrator;

pub use outbox::{append, OutboxError};

/// The outbox and processed-events tables, for every service schema.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A service's migrations followed by the messaging tables, as one migrator
/// over the service's schema (the messaging versions start at 1000000001, so
/// they never collide with a service's own).
pub fn with_messaging(service: &Migrator) -> Migrator {
    let mut migrations: Vec<_> = service
        .migrations
        .iter()
        .chain(MIGRATOR.migrations.iter())
        .cloned()
        .collect();
    migrations.sort_by_key(|m| m.version);
    Migrator {
        migrations: migrations.into(),
        ..Migrator::DEFAULT
    }
}

/// The `LISTEN` channel of a schema's outbox.
pub fn notify_channel(schema: &str) -> String {
    format!("outbox_{schema}")
}

/// The outbox relay of a service schema, as a background task that runs
/// until `shutdown`.
pub fn relay_task(
    pool: sqlx::PgPool,
    schema: &str,
    kafka: ticketing_config::KafkaSettings,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static, relay::RelayError> {
    let relay = relay::Relay::new(pool, schema, kafka, relay::RelayOptions::default())?;
    Ok(async move { relay.run(shutdown).await })
}

/// An idempotent consumer as a background task that runs until `shutdown`.
pub fn consumer_task<H: consumer::Handler>(
    pool: sqlx::PgPool,
    kafka: ticketing_config::KafkaSettings,
    handler: H,
    options: consumer::ConsumerOptions,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static, consumer::ConsumerError> {
    let consumer = consumer::Consumer::new(pool, kafka, handler, options)?;
    Ok(async move { consumer.run(shutdown).await })
}
