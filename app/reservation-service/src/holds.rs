//! Open holds moved by on-call: when an outage of ours (Kafka being
//! recovered, payments rolled back) keeps customers from paying, their
//! holds are extended by its length (`opsctl kafka dr --guard-sales`,
//! `opsctl portone rollback --guard-sales`) so nobody loses seats to our
//! downtime. The waiting room's mark of each hold moves with it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use ticketing_redis::Redis;
use uuid::Uuid;

use crate::admissions::Admissions;
use crate::domain::ReservationStatus;

/// A reservation still PENDING whose hold has not ended.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OpenHold {
    pub id: Uuid,
    pub user_id: Uuid,
    pub performance_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// Every hold open at `now`.
pub async fn open(db: &PgPool, now: DateTime<Utc>) -> Result<Vec<OpenHold>, sqlx::Error> {
    let sql = format!(
        "SELECT id, user_id, performance_id, expires_at FROM reservations \
         WHERE status = '{}' AND expires_at > $1 ORDER BY expires_at",
        ReservationStatus::Pending
    );
    sqlx::query_as(&sql).bind(now).fetch_all(db).await
}

/// Moves `hold`'s end to `until` while it is still PENDING (a hold paid,
/// cancelled or swept meanwhile is left alone: `Ok(false)`), and the
/// waiting room's mark with it.
pub async fn move_end(
    db: &PgPool,
    redis: &Redis,
    hold: &OpenHold,
    until: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "UPDATE reservations SET expires_at = $2, updated_at = now() WHERE id = $1 AND status = '{}'",
        ReservationStatus::Pending
    );
    let moved = sqlx::query(&sql)
        .bind(hold.id)
        .bind(until)
        .execute(db)
        .await?
        .rows_affected()
        == 1;
    if moved {
        Admissions::new(redis.clone())
            .used(hold.performance_id, hold.user_id, hold.id, until)
            .await;
    }
    Ok(moved)
}
