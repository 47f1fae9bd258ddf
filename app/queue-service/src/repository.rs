//! The admission log's queries, for this service and for opsctl.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Admissions issued for `performance`, and those still valid at `now`.
pub async fn admissions(
    db: &PgPool,
    performance: Uuid,
    now: DateTime<Utc>,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE expires_at > $2) \
         FROM admissions WHERE performance_id = $1",
    )
    .bind(performance)
    .bind(now)
    .fetch_one(db)
    .await
}

/// The users admitted to `performance`, in the order they were admitted
/// (rounds by time; within a round the order of the log's rows).
pub async fn admitted_in_order(db: &PgPool, performance: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM admissions WHERE performance_id = $1 ORDER BY issued_at, token_id",
    )
    .bind(performance)
    .fetch_all(db)
    .await
}
