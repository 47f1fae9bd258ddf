//! The `reservations` and `reservation_seats` tables: every query on them.
//! The service owns its schema, so its queries live here; operators' tools
//! (`opsctl reservations reconcile`, the Kafka DR runbook) call the public
//! ones rather than writing their own SQL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use ticketing_events::ReservationCreated;
use ticketing_messaging::OutboxError;
use ticketing_money::Money;
use uuid::Uuid;

use crate::domain::ReservationStatus;

/// A reservation still waiting for its payment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingReservation {
    pub id: Uuid,
    pub amount: Money,
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
         WHERE status = $3 AND created_at < now() - make_interval(secs => $1) \
         ORDER BY created_at LIMIT $2",
    )
    .bind(older_than.as_secs_f64())
    .bind(limit.max(1))
    .bind(ReservationStatus::Pending)
    .fetch_all(pool)
    .await
}

/// A reservation as its owner sees it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Reservation {
    pub id: Uuid,
    pub performance_id: Uuid,
    pub status: ReservationStatus,
    pub amount: Money,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub cancel_reason: Option<String>,
    pub seat_ids: Vec<Uuid>,
}

const SELECT_RESERVATION: &str = "\
SELECT r.id, r.performance_id, r.status, r.amount, r.created_at, r.expires_at, r.cancel_reason,
       coalesce(array_agg(s.seat_id ORDER BY s.seat_id) FILTER (WHERE s.seat_id IS NOT NULL), '{}') AS seat_ids
FROM reservations r LEFT JOIN reservation_seats s ON s.reservation_id = r.id";

/// `user`'s reservations (those in `status`, when given), newest first.
pub(crate) async fn of_user(
    db: &PgPool,
    user: Uuid,
    status: Option<ReservationStatus>,
    limit: i64,
) -> Result<Vec<Reservation>, sqlx::Error> {
    sqlx::query_as::<_, Reservation>(&format!(
        "{SELECT_RESERVATION} WHERE r.user_id = $1 AND ($2::text IS NULL OR r.status = $2) \
         GROUP BY r.id ORDER BY r.created_at DESC LIMIT $3"
    ))
    .bind(user)
    .bind(status)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Reservation `id`, when it is `user`'s.
pub(crate) async fn one_of_user(
    db: &PgPool,
    id: Uuid,
    user: Uuid,
) -> Result<Option<Reservation>, sqlx::Error> {
    sqlx::query_as::<_, Reservation>(&format!(
        "{SELECT_RESERVATION} WHERE r.id = $1 AND r.user_id = $2 GROUP BY r.id"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await
}

/// Reservation `id`, whoever owns it (for on-call's `opsctl trace`).
pub async fn by_id(db: &PgPool, id: Uuid) -> Result<Option<Reservation>, sqlx::Error> {
    sqlx::query_as::<_, Reservation>(&format!(
        "{SELECT_RESERVATION} WHERE r.id = $1 GROUP BY r.id"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A hold to write: who holds which priced seats until when.
pub(crate) struct NewHold<'a> {
    pub reservation: Uuid,
    /// The waiting-room admission it uses up (the `qr_` token's `jti`).
    pub admission: Uuid,
    pub user: Uuid,
    pub performance: Uuid,
    /// The most seats one user may hold or own for the performance.
    pub max_seats_per_user: u32,
    pub seats: &'a [(Uuid, Money)],
    pub amount: Money,
    pub expires_at: DateTime<Utc>,
}

/// Why a hold was not written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HoldError {
    #[error("this admission was used for an order already")]
    AdmissionUsed,
    #[error("the customer holds or owns {held} seats of this performance; at most {cap}")]
    SeatCap { held: i64, cap: u32 },
    #[error("a seat is held by someone else")]
    SeatTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The reservation, its seats and `ReservationCreated`, in one transaction,
/// after two checks in it: the admission has not produced an order before
/// (a unique index), and the user's PENDING and CONFIRMED seats of the
/// performance plus these stay within the cap (counted under a lock per
/// user and performance, so two holds at once cannot both pass). A seat
/// someone else holds fails the seats' unique index.
pub(crate) async fn write_hold(db: &PgPool, hold: &NewHold<'_>) -> Result<(), HoldError> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2::text, 0))")
        .bind(hold.user)
        .bind(hold.performance)
        .execute(&mut *tx)
        .await?;
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id \
         WHERE r.user_id = $1 AND r.performance_id = $2 AND r.status IN ($3, $4)",
    )
    .bind(hold.user)
    .bind(hold.performance)
    .bind(ReservationStatus::Pending)
    .bind(ReservationStatus::Confirmed)
    .fetch_one(&mut *tx)
    .await?;
    let wanted = i64::try_from(hold.seats.len()).unwrap_or(i64::MAX);
    if held.saturating_add(wanted) > i64::from(hold.max_seats_per_user) {
        return Err(HoldError::SeatCap {
            held,
            cap: hold.max_seats_per_user,
        });
    }
    let classify = |e: sqlx::Error| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("reservations_admission_once") => {
            HoldError::AdmissionUsed
        }
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => HoldError::SeatTaken,
        _ => HoldError::Db(e),
    };
    sqlx::query(
        "INSERT INTO reservations (id, user_id, performance_id, status, expires_at, amount, admission_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(hold.reservation)
    .bind(hold.user)
    .bind(hold.performance)
    .bind(ReservationStatus::Pending)
    .bind(hold.expires_at)
    .bind(hold.amount)
    .bind(hold.admission)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    let ids: Vec<Uuid> = hold.seats.iter().map(|(id, _)| *id).collect();
    let prices: Vec<i64> = hold.seats.iter().map(|(_, p)| p.as_won()).collect();
    sqlx::query(
        "INSERT INTO reservation_seats (reservation_id, performance_id, seat_id, price) \
         SELECT $1, $2, seat, price FROM unnest($3::uuid[], $4::bigint[]) AS s(seat, price)",
    )
    .bind(hold.reservation)
    .bind(hold.performance)
    .bind(&ids)
    .bind(&prices)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    let event = ReservationCreated {
        reservation_id: hold.reservation,
        user_id: hold.user,
        performance_id: hold.performance,
        seat_ids: ids,
        amount: hold.amount,
        expires_at: hold.expires_at,
    };
    ticketing_messaging::append(&mut tx, &event)
        .await
        .map_err(|e| match e {
            OutboxError::Db(db) => HoldError::Db(db),
            other => HoldError::Db(sqlx::Error::Protocol(other.to_string())),
        })?;
    tx.commit().await?;
    Ok(())
}

/// A reservation as a payment finds it, locked for the rest of `tx`.
pub(crate) struct Payable {
    pub status: ReservationStatus,
    pub performance: Uuid,
    pub amount: Money,
}

/// Locks `reservation` for the transaction and reads what a payment needs.
pub(crate) async fn lock_payable(
    tx: &mut PgConnection,
    reservation: Uuid,
) -> Result<Option<Payable>, sqlx::Error> {
    let row: Option<(ReservationStatus, Uuid, Money)> = sqlx::query_as(
        "SELECT status, performance_id, amount FROM reservations WHERE id = $1 FOR UPDATE",
    )
    .bind(reservation)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|(status, performance, amount)| Payable {
        status,
        performance,
        amount,
    }))
}

/// Who held `reservation`, for which performance, once the hold has ended
/// (confirmed or cancelled): (performance, user); `None` while it is open.
pub(crate) async fn ended_hold_owner(
    db: &PgPool,
    reservation: Uuid,
) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT performance_id, user_id FROM reservations WHERE id = $1 AND status <> $2",
    )
    .bind(reservation)
    .bind(ReservationStatus::Pending)
    .fetch_optional(db)
    .await
}

/// Confirms a paid reservation; returns the seats it keeps.
pub(crate) async fn confirm(
    tx: &mut PgConnection,
    reservation: Uuid,
    imp_uid: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query(
        "UPDATE reservations SET status = $3, imp_uid = $2, updated_at = now() WHERE id = $1",
    )
    .bind(reservation)
    .bind(imp_uid)
    .bind(ReservationStatus::Confirmed)
    .execute(&mut *tx)
    .await?;
    sqlx::query_scalar(
        "SELECT seat_id FROM reservation_seats WHERE reservation_id = $1 AND active ORDER BY seat_id",
    )
    .bind(reservation)
    .fetch_all(&mut *tx)
    .await
}

/// Ends a pending reservation: status, reason, seats released. Returns the
/// performance and the seats released, or `None` when it was not pending.
pub(crate) async fn end_hold(
    tx: &mut PgConnection,
    reservation: Uuid,
    reason: &str,
) -> Result<Option<(Uuid, Vec<Uuid>)>, sqlx::Error> {
    end_from(tx, reservation, reason, ReservationStatus::Pending, None).await
}

/// Cancels a confirmed reservation whose payment was refunded: status,
/// reason, seats released; `None` when it was not confirmed.
pub(crate) async fn end_confirmed(
    tx: &mut PgConnection,
    reservation: Uuid,
    paid_by: &str,
    reason: &str,
) -> Result<Option<(Uuid, Vec<Uuid>)>, sqlx::Error> {
    end_from(
        tx,
        reservation,
        reason,
        ReservationStatus::Confirmed,
        Some(paid_by),
    )
    .await
}

/// Adds `note` to a cancelled reservation's reason (a refund made after it
/// ended); once per note, however often it is delivered.
pub(crate) async fn note_on_cancelled(
    tx: &mut PgConnection,
    reservation: Uuid,
    note: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reservations SET cancel_reason = CASE WHEN cancel_reason IS NULL THEN $2 \
         ELSE cancel_reason || '; ' || $2 END, updated_at = now() \
         WHERE id = $1 AND status = $3 AND position($2 in coalesce(cancel_reason, '')) = 0",
    )
    .bind(reservation)
    .bind(note)
    .bind(ReservationStatus::Cancelled)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Cancels `reservation` if it is `from` (and, when `paid_by` is given,
/// was confirmed by that payment), freeing its seats.
async fn end_from(
    tx: &mut PgConnection,
    reservation: Uuid,
    reason: &str,
    from: ReservationStatus,
    paid_by: Option<&str>,
) -> Result<Option<(Uuid, Vec<Uuid>)>, sqlx::Error> {
    let ended: Option<(Uuid,)> = sqlx::query_as(
        "UPDATE reservations SET status = $3, cancel_reason = $2, updated_at = now() \
         WHERE id = $1 AND status = $4 AND ($5::text IS NULL OR imp_uid = $5) \
         RETURNING performance_id",
    )
    .bind(reservation)
    .bind(reason)
    .bind(ReservationStatus::Cancelled)
    .bind(from)
    .bind(paid_by)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((performance,)) = ended else {
        return Ok(None);
    };
    let seats: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE reservation_seats SET active = false WHERE reservation_id = $1 AND active \
         RETURNING seat_id",
    )
    .bind(reservation)
    .fetch_all(&mut *tx)
    .await?;
    Ok(Some((performance, seats)))
}

/// The performance and every seat `reservation` ever held.
pub(crate) async fn seats_of(
    db: &PgPool,
    reservation: Uuid,
) -> Result<Option<(Uuid, Vec<Uuid>)>, sqlx::Error> {
    let seats: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT performance_id, seat_id FROM reservation_seats WHERE reservation_id = $1",
    )
    .bind(reservation)
    .fetch_all(db)
    .await?;
    Ok(seats
        .first()
        .map(|(performance, _)| (*performance, seats.iter().map(|(_, s)| *s).collect())))
}

/// Pending reservations past their expiry, oldest first, at most `limit`,
/// locked for `tx` (rows another sweeper holds are skipped).
pub(crate) async fn lock_expired(
    tx: &mut PgConnection,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    // The status is written into the statement, not bound: only a literal
    // lets the planner use the partial index `reservations_pending_expiry`
    // (`WHERE status = 'PENDING'`) for a prepared statement's generic plan.
    let sql = format!(
        "SELECT id FROM reservations WHERE status = '{}' AND expires_at < now() \
         ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        ReservationStatus::Pending
    );
    sqlx::query_scalar(&sql)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
}
