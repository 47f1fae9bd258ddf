//! Reads of the `reservations` table that operators' tools need
//! (`opsctl reservations reconcile`, the Kafka DR runbook): the service owns
//! its schema, so its queries live here and tools call them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// A reservation still waiting for its payment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingReservation {
    pub id: Uuid,
    pub amount: i64,
    pub created_at: DateTime<Utc>,
}

/// Reservations `PENDING` for longer than `older_than`, oldest first, at
/// most `limit` (at least one).
pub async fn pending_older_than(
    pool: &PgPool,
    older_than: Duration,
    limit: i64,
) -> Result<Vec<PendingReservation>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, amount, created_at FROM reservations \
         WHERE status = 'PENDING' AND created_at < now() - make_interval(secs => $1) \
         ORDER BY created_at LIMIT $2",
    )
    .bind(older_than.as_secs_f64())
    .bind(limit.max(1))
    .fetch_all(pool)
    .await
}
