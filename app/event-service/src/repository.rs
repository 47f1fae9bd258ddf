//! The `performances` and `seats` tables: every query on them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use ticketing_money::Money;
use uuid::Uuid;

use crate::domain::{NewPerformance, SeatStatus};

/// A performance as listed.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Performance {
    pub id: Uuid,
    pub title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
}

/// One seat as the seat map shows it.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, PartialEq, Eq)]
pub struct Seat {
    pub id: Uuid,
    pub section: String,
    pub row_label: String,
    pub number: i32,
    pub price: Money,
    pub status: SeatStatus,
}

/// The seat map of a performance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeatMap {
    pub performance_id: Uuid,
    pub seats: Vec<Seat>,
    pub available: usize,
}

/// Performances, soonest first (at most 200).
pub(crate) async fn list(db: &PgPool) -> Result<Vec<Performance>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, title, venue, starts_at FROM performances ORDER BY starts_at, id LIMIT 200",
    )
    .fetch_all(db)
    .await
}

/// Performance `id`.
pub(crate) async fn one(db: &PgPool, id: Uuid) -> Result<Option<Performance>, sqlx::Error> {
    sqlx::query_as("SELECT id, title, venue, starts_at FROM performances WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Why a performance could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    #[error("section `{0}` is named twice")]
    DuplicateSection(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Writes a (validated) performance and all its seats in one transaction.
pub(crate) async fn create(db: &PgPool, id: Uuid, new: &NewPerformance) -> Result<(), CreateError> {
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO performances (id, title, venue, starts_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(new.title.trim())
        .bind(new.venue.trim())
        .bind(new.starts_at)
        .execute(&mut *tx)
        .await?;
    for s in &new.sections {
        sqlx::query(
            "INSERT INTO seats (id, performance_id, section, row_label, number, price) \
             SELECT gen_random_uuid(), $1, $2, r.label, n, $3 FROM ( \
                 SELECT chr(65 + ((i - 1) % 26)) || CASE WHEN i > 26 THEN ((i - 1) / 26)::text ELSE '' END AS label \
                 FROM generate_series(1, $4) AS i) r \
             CROSS JOIN generate_series(1, $5) AS n",
        )
        .bind(id)
        .bind(s.name.trim())
        .bind(s.price)
        .bind(s.rows as i32)
        .bind(s.seats_per_row as i32)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => {
                CreateError::DuplicateSection(s.name.trim().to_owned())
            }
            _ => CreateError::Db(e),
        })?;
    }
    tx.commit().await?;
    Ok(())
}

/// The seat map of `performance` from the database; `None` when there is
/// no such performance.
pub(crate) async fn seat_map(
    db: &PgPool,
    performance: Uuid,
) -> Result<Option<SeatMap>, sqlx::Error> {
    let seats = sqlx::query_as::<_, Seat>(
        "SELECT id, section, row_label, number, price, status FROM seats \
         WHERE performance_id = $1 ORDER BY section, length(row_label), row_label, number",
    )
    .bind(performance)
    .fetch_all(db)
    .await?;
    if seats.is_empty() {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM performances WHERE id = $1)")
                .bind(performance)
                .fetch_one(db)
                .await?;
        if !exists {
            return Ok(None);
        }
    }
    let available = seats
        .iter()
        .filter(|s| s.status == SeatStatus::Available)
        .count();
    Ok(Some(SeatMap {
        performance_id: performance,
        seats,
        available,
    }))
}

/// Sets `seats` to `status` for `reservation`. A release frees only seats
/// this reservation has; a hold or sale takes free seats (or its own) and
/// never another reservation's.
pub(crate) async fn set_seats(
    tx: &mut PgConnection,
    seats: &[Uuid],
    reservation: Uuid,
    status: SeatStatus,
) -> Result<u64, sqlx::Error> {
    // Held or sold: by this reservation unless a newer one has held the
    // seat since (its events came first). Released: only by the
    // reservation that holds it now (an older one's late release is
    // ignored). Within one reservation, SOLD is never taken back to HELD.
    let query = if status == SeatStatus::Available {
        "UPDATE seats SET status = $3, reservation_id = NULL, updated_at = now() \
         WHERE id = ANY($1) AND reservation_id = $2"
    } else {
        "UPDATE seats SET status = $3, reservation_id = $2, last_reservation_id = $2, \
         updated_at = now() \
         WHERE id = ANY($1) \
           AND (last_reservation_id IS NULL OR last_reservation_id < $2 \
                OR (last_reservation_id = $2 AND reservation_id = $2 \
                    AND NOT (status = 'SOLD' AND $3 = 'HELD')))"
    };
    sqlx::query(query)
        .bind(seats)
        .bind(reservation)
        .bind(status)
        .execute(tx)
        .await
        .map(|done| done.rows_affected())
}
