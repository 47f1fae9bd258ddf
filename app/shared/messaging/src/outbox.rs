//! Appending events to the outbox inside the caller's transaction.

use sqlx::{PgConnection, Postgres, Transaction};
use ticketing_events::{Envelope, Event, EventError};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("writing to the outbox failed: {0}")]
    Db(#[from] sqlx::Error),
}

/// Appends `envelope` for `topic` (a catalog name) in the caller's
/// transaction. Nothing is published until that transaction commits.
pub async fn append_envelope(
    tx: &mut PgConnection,
    topic: &str,
    envelope: &Envelope,
) -> Result<(), OutboxError> {
    let json = serde_json::to_value(envelope).map_err(EventError::Encode)?;
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, partition_key, event_type, envelope) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(envelope.event_id)
    .bind(topic)
    .bind(&envelope.aggregate_id)
    .bind(&envelope.event_type)
    .bind(json)
    .execute(tx)
    .await?;
    Ok(())
}

/// Wraps a typed event and appends it to its topic in `tx`; returns the
/// envelope (its id is the event id consumers deduplicate on).
pub async fn append<E: Event>(
    tx: &mut Transaction<'_, Postgres>,
    event: &E,
) -> Result<Envelope, OutboxError> {
    let envelope = Envelope::new(event)?;
    append_envelope(tx, E::TOPIC, &envelope).await?;
    Ok(envelope)
}

/// One outbox row as operators count them: which event, and whether the
/// relay has had the broker's acknowledgement for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub event_id: uuid::Uuid,
    pub sent: bool,
}

/// The newest outbox row's id (0 when empty): a mark to count from.
pub async fn high_mark(pool: &sqlx::PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM outbox")
        .fetch_one(pool)
        .await
}

/// Rows appended after mark `after`, up to mark `until` (inclusive).
pub async fn entries_between(
    pool: &sqlx::PgPool,
    after: i64,
    until: i64,
) -> Result<Vec<OutboxEntry>, sqlx::Error> {
    let rows: Vec<(i64, uuid::Uuid, bool)> = sqlx::query_as(
        "SELECT id, event_id, sent_at IS NOT NULL FROM outbox WHERE id > $1 AND id <= $2 ORDER BY id",
    )
    .bind(after)
    .bind(until)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, event_id, sent)| OutboxEntry { id, event_id, sent })
        .collect())
}

/// How many rows up to mark `until` are still unpublished.
pub async fn unsent_up_to(pool: &sqlx::PgPool, until: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND id <= $1")
        .bind(until)
        .fetch_one(pool)
        .await
}

/// One outbox row as `opsctl trace` shows it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub event_id: uuid::Uuid,
    /// Logical topic (catalog name).
    pub topic: String,
    pub partition_key: String,
    pub event_type: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

const OUTBOX_ROW: &str = "SELECT event_id, topic, partition_key, event_type, created_at, sent_at, \
                          attempts, last_error FROM outbox";

/// The rows of aggregate `key` (their partition key), in relay order.
pub async fn rows_of(pool: &sqlx::PgPool, key: &str) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{OUTBOX_ROW} WHERE partition_key = $1 ORDER BY id"
    ))
    .bind(key)
    .fetch_all(pool)
    .await
}

/// The row of event `event_id`, if this schema's outbox wrote it.
pub async fn row_of_event(
    pool: &sqlx::PgPool,
    event_id: uuid::Uuid,
) -> Result<Option<OutboxRow>, sqlx::Error> {
    sqlx::query_as(&format!("{OUTBOX_ROW} WHERE event_id = $1"))
        .bind(event_id)
        .fetch_optional(pool)
        .await
}

/// The event type of a drill's probes (`opsctl kafka failover-drill`):
/// written to a topic through the outbox like any event, handled by no
/// consumer (they skip types they do not know), so the drill can count
/// what reaches the topic whatever the platform's traffic.
pub const PROBE_EVENT_TYPE: &str = "FailoverProbe";

/// Appends probe `n` of drill `drill` for `topic` (a catalog name) in its
/// own transaction; returns its event id.
pub async fn append_probe(
    pool: &sqlx::PgPool,
    topic: &str,
    drill: uuid::Uuid,
    n: u64,
) -> Result<uuid::Uuid, OutboxError> {
    let envelope = Envelope {
        event_id: uuid::Uuid::now_v7(),
        event_type: PROBE_EVENT_TYPE.to_owned(),
        schema_version: 1,
        aggregate_type: "failover-drill".to_owned(),
        aggregate_id: drill.to_string(),
        occurred_at: chrono::Utc::now(),
        correlation_id: Some(drill),
        causation_id: None,
        payload: serde_json::json!({ "probe": n }),
    };
    let mut tx = pool.begin().await?;
    append_envelope(&mut tx, topic, &envelope).await?;
    tx.commit().await?;
    Ok(envelope.event_id)
}
