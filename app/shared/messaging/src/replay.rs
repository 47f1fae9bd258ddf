//! Replay primitives for `opsctl outbox`: the backlog report, re-sending
//! unsent rows, and re-sending a time range even if marked sent (after a
//! broker lost its disk; consumers are idempotent, so this is safe).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// Unsent events of one type in one schema.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct BacklogRow {
    pub event_type: String,
    pub topic: String,
    pub unsent: i64,
    pub oldest_created_at: Option<DateTime<Utc>>,
    pub oldest_age_seconds: Option<f64>,
}

/// The backlog of one schema's outbox by event type, oldest first.
pub async fn backlog(pool: &PgPool) -> Result<Vec<BacklogRow>, sqlx::Error> {
    sqlx::query_as::<_, BacklogRow>(
        "SELECT event_type, topic, count(*) AS unsent, min(created_at) AS oldest_created_at, \
                EXTRACT(EPOCH FROM clock_timestamp() - min(created_at))::float8 AS oldest_age_seconds \
         FROM outbox WHERE sent_at IS NULL GROUP BY event_type, topic ORDER BY min(created_at)",
    )
    .fetch_all(pool)
    .await
}
