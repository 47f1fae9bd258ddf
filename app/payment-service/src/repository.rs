//! The `payments` table: every query on it.

use sqlx::{PgConnection, PgPool};
use ticketing_money::Money;
use uuid::Uuid;

use crate::domain::{OrderStatus, CURRENCY};

/// Records the order for `reservation` (or touches the one already there)
/// and returns its status.
pub(crate) async fn open_order(
    db: &PgPool,
    merchant_uid: &str,
    reservation: Uuid,
    amount: Money,
    user: Uuid,
) -> Result<Option<OrderStatus>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO payments (merchant_uid, reservation_id, amount, status, user_id, currency) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (merchant_uid) DO UPDATE SET updated_at = now() RETURNING status",
    )
    .bind(merchant_uid)
    .bind(reservation)
    .bind(amount)
    .bind(OrderStatus::Ready)
    .bind(user)
    .bind(CURRENCY)
    .fetch_optional(db)
    .await
}

/// An order as a webhook finds it.
#[derive(sqlx::FromRow)]
pub(crate) struct Order {
    pub reservation_id: Uuid,
    pub amount: Money,
    pub currency: String,
    pub status: OrderStatus,
    pub imp_uid: Option<String>,
}

/// Locks order `merchant_uid` for the rest of `tx` and reads it.
pub(crate) async fn lock_order(
    tx: &mut PgConnection,
    merchant_uid: &str,
) -> Result<Option<Order>, sqlx::Error> {
    sqlx::query_as(
        "SELECT reservation_id, amount, currency, status, imp_uid FROM payments \
         WHERE merchant_uid = $1 FOR UPDATE",
    )
    .bind(merchant_uid)
    .fetch_optional(&mut *tx)
    .await
}

/// Locks order `merchant_uid` for the rest of `tx` and reads its status.
pub(crate) async fn lock_status(
    tx: &mut PgConnection,
    merchant_uid: &str,
) -> Result<Option<OrderStatus>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM payments WHERE merchant_uid = $1 FOR UPDATE")
        .bind(merchant_uid)
        .fetch_optional(&mut *tx)
        .await
}

/// What PortOne said about an order's payment.
pub(crate) struct Settlement<'a> {
    pub merchant_uid: &'a str,
    pub imp_uid: &'a str,
    pub status: OrderStatus,
    pub pg_provider: &'a str,
    /// The failure's code and reason, for a refused payment.
    pub failure: Option<(&'a str, &'a str)>,
}

/// Records how an order was settled.
pub(crate) async fn settle(
    tx: &mut PgConnection,
    settled: &Settlement<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = $2, imp_uid = $3, pg_provider = $4, failure_code = $5, \
         failure_reason = $6, updated_at = now() WHERE merchant_uid = $1",
    )
    .bind(settled.merchant_uid)
    .bind(settled.status)
    .bind(settled.imp_uid)
    .bind(settled.pg_provider)
    .bind(settled.failure.map(|f| f.0))
    .bind(settled.failure.map(|f| f.1))
    .execute(tx)
    .await
    .map(|_| ())
}

/// Marks order `merchant_uid` refunded in full.
pub(crate) async fn mark_refunded(
    tx: &mut PgConnection,
    merchant_uid: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = $2, refunded = amount, updated_at = now() \
         WHERE merchant_uid = $1",
    )
    .bind(merchant_uid)
    .bind(OrderStatus::Refunded)
    .execute(tx)
    .await
    .map(|_| ())
}

/// Orders still READY `after_seconds` after they were prepared and not
/// looked up in the last `after_seconds`: the oldest `limit`, each with its
/// age in seconds.
pub(crate) async fn unsettled(
    db: &PgPool,
    after_seconds: i64,
    limit: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT merchant_uid, EXTRACT(EPOCH FROM now() - created_at)::bigint FROM payments \
         WHERE status = $1 \
         AND created_at < now() - make_interval(secs => $2) \
         AND (checked_at IS NULL OR checked_at < now() - make_interval(secs => $2)) \
         ORDER BY created_at LIMIT $3",
    )
    .bind(OrderStatus::Ready)
    .bind(after_seconds as f64)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// An order as on-call sees it (`opsctl trace`).
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct OrderRecord {
    pub merchant_uid: String,
    pub reservation_id: Uuid,
    pub imp_uid: Option<String>,
    pub amount: Money,
    pub refunded: Money,
    pub status: OrderStatus,
    pub failure_reason: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every order of `reservation`, oldest first.
pub async fn orders_of(db: &PgPool, reservation: Uuid) -> Result<Vec<OrderRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT merchant_uid, reservation_id, imp_uid, amount, refunded, status, failure_reason, \
         created_at, updated_at, checked_at FROM payments WHERE reservation_id = $1 \
         ORDER BY created_at",
    )
    .bind(reservation)
    .fetch_all(db)
    .await
}

/// The reservation the payment `imp_uid` settled an order of.
pub async fn reservation_of_payment(
    db: &PgPool,
    imp_uid: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT reservation_id FROM payments WHERE imp_uid = $1")
        .bind(imp_uid)
        .fetch_optional(db)
        .await
}

/// An order still READY: prepared, no payment settled it yet.
#[derive(Debug, sqlx::FromRow)]
pub struct UnsettledOrder {
    pub merchant_uid: String,
    pub reservation_id: Uuid,
    pub amount: Money,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Orders still READY `older_than` after they were prepared, the oldest
/// `limit` (whatever their reservation's state: a webhook that never came
/// leaves the order READY after the hold has expired). For `opsctl
/// reservations reconcile`.
pub async fn ready_older_than(
    db: &PgPool,
    older_than: std::time::Duration,
    limit: i64,
) -> Result<Vec<UnsettledOrder>, sqlx::Error> {
    sqlx::query_as(
        "SELECT merchant_uid, reservation_id, amount, created_at FROM payments \
         WHERE status = $1 AND created_at < now() - make_interval(secs => $2) \
         ORDER BY created_at LIMIT $3",
    )
    .bind(OrderStatus::Ready)
    .bind(older_than.as_secs_f64())
    .bind(limit.max(1))
    .fetch_all(db)
    .await
}

/// Ends order `merchant_uid`, still READY, unpaid: its hold is over
/// (a payment that comes later finds it settled and is refunded).
pub(crate) async fn expire_unpaid(db: &PgPool, merchant_uid: &str) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = $2, failure_code = 'expired_unpaid', \
         failure_reason = 'the hold ended before anything was paid', updated_at = now() \
         WHERE merchant_uid = $1 AND status = $3",
    )
    .bind(merchant_uid)
    .bind(OrderStatus::Cancelled)
    .bind(OrderStatus::Ready)
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Records that the sweep looked order `merchant_uid` up.
pub(crate) async fn mark_checked(db: &PgPool, merchant_uid: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET checked_at = now() WHERE merchant_uid = $1")
        .bind(merchant_uid)
        .execute(db)
        .await
        .map(|_| ())
}

/// Pages of PortOne's ledger one walk reads at most (of
/// `ticketing_portone::PAGE_LIMIT` payments each).
pub const LEDGER_PAGES: u32 = 100;

/// The paid payments of `paid` (PortOne's ledger) that name a reservation
/// of ours and that no order accounts for: not the payment that settled
/// its order PAID (the order READY, FAILED, settled by another payment, or
/// never prepared). What the ledger walk settles, and what `opsctl
/// reservations reconcile --since` re-announces. One query for them all.
pub async fn unaccounted(
    db: &PgPool,
    paid: Vec<ticketing_portone::Payment>,
) -> Result<Vec<ticketing_portone::Payment>, sqlx::Error> {
    let ours: Vec<_> = paid
        .into_iter()
        .filter(|p| {
            p.status == ticketing_portone::PaymentStatus::Paid
                && ticketing_portone::reservation_of(&p.merchant_uid).is_some()
        })
        .collect();
    let merchants: Vec<String> = ours.iter().map(|p| p.merchant_uid.clone()).collect();
    let known = settled_by(db, &merchants).await?;
    Ok(ours
        .into_iter()
        .filter(|p| {
            !known.get(&p.merchant_uid).is_some_and(|(status, imp)| {
                *status == OrderStatus::Paid && imp.as_deref() == Some(p.imp_uid.as_str())
            })
        })
        .collect())
}

/// How each of `merchant_uids` was settled, for the orders that exist:
/// (status, the imp_uid that settled it).
async fn settled_by(
    db: &PgPool,
    merchant_uids: &[String],
) -> Result<std::collections::HashMap<String, (OrderStatus, Option<String>)>, sqlx::Error> {
    let rows: Vec<(String, OrderStatus, Option<String>)> = sqlx::query_as(
        "SELECT merchant_uid, status, imp_uid FROM payments WHERE merchant_uid = ANY($1)",
    )
    .bind(merchant_uids)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(merchant, status, imp)| (merchant, (status, imp)))
        .collect())
}
