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

pub mod consumer;
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
