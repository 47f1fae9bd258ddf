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
