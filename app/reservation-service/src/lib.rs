//! reservation-service: seat holds, reservations and their life cycle.
//!
//! * `POST /api/reservations` (with a `qr_` token in `X-Queue-Token`): holds
//!   one or more seats all-or-nothing. A Redis lock per seat (ADR-004) sheds
//!   contention fast; the partial unique index on active seat rows makes a
//!   double booking impossible even when Redis is wrong or down. Creates a
//!   `PENDING` reservation with an expiry and answers with a `qp_` payment
//!   token.
//! * `GET /api/reservations` (history, `reservations.search.tps`) and
//!   `GET /api/reservations/{id}`.
//! * Saga: `PaymentSucceeded` confirms, `PaymentFailed` cancels, a payment for
//!   a reservation that is no longer pending asks for a refund
//!   (`RefundRequested`); an expiry sweep cancels holds past their time. Every
//!   state change and its event commit in one transaction (outbox).

pub mod repository;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use ticketing_catalog::ServiceName;
use ticketing_config::BookingSettings;
use ticketing_events::{
    Envelope, Event, PaymentFailed, PaymentSucceeded, RefundRequested, ReservationCancelled,
    ReservationConfirmed, ReservationCreated, ReservationExpired,
};
use ticketing_http::{ApiError, AuthUser, Authenticator, Json, ServiceApp};
use ticketing_messaging::consumer::{Handler, HandlerError};
use ticketing_redis::Redis;
use ticketing_runtime::{RuntimeError, ServiceContext};
use ticketing_telemetry::RateGauge;
use ticketing_tokens::{Keyring, PaymentClaims, ReservationClaims};
use tokio_util::sync::CancellationToken;
use url::Url;
use uuid::Uuid;

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The header carrying the `qr_` reservation token.
pub const QUEUE_TOKEN_HEADER: &str = "x-queue-token";

#[derive(Clone, FromRef)]
struct AppState {
    db: PgPool,
    locks: SeatLocks,
    auth: Authenticator,
    keys: Keyring,
    settings: Arc<BookingSettings>,
    http: reqwest::Client,
    event_service: Arc<Url>,
    searches: RateGauge,
}

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let db = ctx.db()?.clone();
    let locks = SeatLocks {
        redis: ctx.redis.clone(),
    };
    let state = AppState {
        db: db.clone(),
        locks: locks.clone(),
        auth: ctx.authenticator(),
        keys: ctx.queue_keys(),
        settings: Arc::new(ctx.settings.booking.clone()),
        http: ctx.http.clone(),
        event_service: Arc::new(ctx.settings.services.event_service.url.clone()),
        searches: RateGauge::start("reservations.search.tps", ctx.shutdown.clone()),
    };
    let consumer = ctx.event_consumer(PaymentOutcomes {
        db: db.clone(),
        locks: locks.clone(),
    })?;
    let sweep = Duration::from_millis(ctx.settings.booking.expiry_sweep_interval_ms);
    let shutdown = ctx.shutdown.clone();
    Ok(ServiceApp::new(
        ServiceName::ReservationService,
        Router::new()
            .route("/api/reservations", get(history).post(hold))
            .route("/api/reservations/{id}", get(one))
            .with_state(state),
        vec![ctx.postgres_probe()?, ctx.redis_probe(), ctx.kafka_probe()],
    )
    .with_openapi(include_str!("../openapi.json"))
    .with_task("outbox-relay", ctx.outbox_relay()?)
    .with_task("payment-events", consumer)
    .with_task("expiry-sweep", async move {
        expiry_loop(db, locks, sweep, shutdown).await
    }))
}

fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> ApiError {
    move |e| ApiError::internal(anyhow::Error::new(e).context(what))
}

/// Redis markers per seat: taken with `SET NX` before a hold is written, kept
/// while the hold lasts, dropped when it ends. Only an accelerator: when Redis
/// is down every request goes to the database, which decides.
#[derive(Clone)]
struct SeatLocks {
    redis: Redis,
}

impl SeatLocks {
    fn key(&self, performance: Uuid, seat: Uuid) -> String {
        self.redis.key(&format!("lock:seat:{performance}:{seat}"))
    }

    /// Takes every seat's marker or none. `Ok(false)` when one is taken;
    /// `Err` when Redis cannot answer (the caller goes on without markers).
    async fn acquire(
        &self,
        performance: Uuid,
        seats: &[Uuid],
        owner: Uuid,
        ttl: Duration,
    ) -> Result<bool, ticketing_redis::RedisError> {
        let mut conn = self.redis.conn().await?;
        let mut taken = Vec::new();
        for seat in seats {
            let key = self.key(performance, *seat);
            let set: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(owner.to_string())
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query_async(&mut conn)
                .await
                .map_err(ticketing_redis::RedisError::from)?;
            if set.is_none() {
                self.release(performance, &taken, owner).await;
                return Ok(false);
            }
            taken.push(*seat);
        }
        Ok(true)
    }

    /// Drops the markers `owner` holds (never someone else's).
    async fn release(&self, performance: Uuid, seats: &[Uuid], owner: Uuid) {
        if seats.is_empty() {
            return;
        }
        let Ok(mut conn) = self.redis.conn().await else {
            return;
        };
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        for seat in seats {
            let dropped: Result<i64, _> = script
                .key(self.key(performance, *seat))
                .arg(owner.to_string())
                .invoke_async(&mut conn)
                .await;
            if let Err(e) = dropped {
                tracing::debug!(error = %e, "seat marker not dropped; it expires by itself");
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldRequest {
    performance_id: Uuid,
    seat_ids: Vec<Uuid>,
}

#[derive(Debug, Serialize)]
struct HoldAnswer {
    reservation_id: Uuid,
    status: &'static str,
    amount: i64,
    expires_at: DateTime<Utc>,
    seat_ids: Vec<Uuid>,
    payment_token: String,
}

#[derive(Debug, Deserialize)]
struct MapSeat {
    id: Uuid,
    price: i64,
}

#[derive(Debug, Deserialize)]
struct SeatMap {
    seats: Vec<MapSeat>,
}

/// Verifies the `qr_` token: the caller's, for this performance, unexpired.
fn check_queue_token(
    keys: &Keyring,
    headers: &HeaderMap,
    user: Uuid,
    performance: Uuid,
) -> Result<(), ApiError> {
    let token = headers
        .get(QUEUE_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let claims =
        ticketing_tokens::verify::<ReservationClaims>(keys, token, Utc::now()).map_err(|e| {
            ApiError::forbidden(
                "invalid_queue_token",
                format!("{e}; pass the waiting room first (header `X-Queue-Token`)"),
            )
        })?;
    if claims.sub != user {
        return Err(ApiError::forbidden(
            "foreign_queue_token",
            "this reservation token was issued to another user",
        ));
    }
    if claims.performance_id != performance {
        return Err(ApiError::forbidden(
            "foreign_queue_token",
            format!(
                "this reservation token is for performance {}, not {performance}",
                claims.performance_id
            ),
        ));
    }
    Ok(())
}

/// Prices of `seats` from the event service's seat map; unknown seats are an
/// error naming them.
async fn prices(
    state: &AppState,
    performance: Uuid,
    seats: &[Uuid],
) -> Result<Vec<(Uuid, i64)>, ApiError> {
    let url = state
        .event_service
        .join(&format!("/api/events/{performance}/seats"))
        .map_err(|e| ApiError::internal(e.into()))?;
    let unavailable = |e: String| {
        ApiError::unavailable(
            "event_service_unavailable",
            format!("seat prices could not be read ({e}); try again shortly"),
        )
    };
    let answer = state
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if answer.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(ApiError::not_found(
            "no_such_performance",
            format!("there is no performance {performance}"),
        ));
    }
    let map: SeatMap = answer
        .error_for_status()
        .map_err(|e| unavailable(e.to_string()))?
        .json()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let mut out = Vec::with_capacity(seats.len());
    let mut unknown = Vec::new();
    for seat in seats {
        match map.seats.iter().find(|s| s.id == *seat) {
            Some(s) => out.push((s.id, s.price)),
            None => unknown.push(seat.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::unprocessable(
            "unknown_seats",
            format!(
                "these seats are not part of performance {performance}: {}",
                unknown.join(", ")
            ),
        ));
    }
    Ok(out)
}

/// `POST /api/reservations`.
async fn hold(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    Json(request): Json<HoldRequest>,
) -> Result<(StatusCode, Json<HoldAnswer>), ApiError> {
    let performance = request.performance_id;
    check_queue_token(&state.keys, &headers, user, performance)?;
    let mut seats = request.seat_ids.clone();
    seats.sort();
    seats.dedup();
    let max = state.settings.max_seats_per_hold as usize;
    if seats.is_empty() || seats.len() > max || seats.len() != request.seat_ids.len() {
        return Err(ApiError::unprocessable(
            "invalid_seats",
            format!("`seat_ids` must list 1 to {max} different seats"),
        ));
    }
    let priced = prices(&state, performance, &seats).await?;
    let amount: i64 = priced.iter().map(|(_, p)| p).sum();
    let reservation = Uuid::now_v7();
    let hold_ttl = Duration::from_secs(state.settings.hold_ttl_seconds as u64);
    match state
        .locks
        .acquire(performance, &seats, reservation, hold_ttl)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            metrics::counter!("reservations.hold.rejected", "reason" => "locked").increment(1);
            return Err(seats_taken());
        }
        Err(e) => {
            tracing::warn!(error = %e, "Redis unavailable; holding seats on the database's word alone")
        }
    }
    let expires_at = Utc::now() + chrono::Duration::seconds(state.settings.hold_ttl_seconds);
    let written = write_hold(
        &state.db,
        reservation,
        user,
        performance,
        &priced,
        amount,
        expires_at,
    )
    .await;
    if let Err(e) = written {
        state.locks.release(performance, &seats, reservation).await;
        if is_unique_violation(&e) {
            metrics::counter!("reservations.hold.rejected", "reason" => "taken").increment(1);
            return Err(seats_taken());
        }
        return Err(ApiError::internal(
            anyhow::Error::new(e).context("writing a hold"),
        ));
    }
    metrics::counter!("reservations.hold.created").increment(1);
    let claims = PaymentClaims {
        sub: user,
        reservation_id: reservation,
        amount,
        iat: Utc::now().timestamp(),
        exp: expires_at.timestamp(),
    };
    Ok((
        StatusCode::CREATED,
        Json(HoldAnswer {
            reservation_id: reservation,
            status: "PENDING",
            amount,
            expires_at,
            seat_ids: seats,
            payment_token: ticketing_tokens::issue(&state.keys, &claims),
        }),
    ))
}

fn seats_taken() -> ApiError {
    ApiError::conflict(
        "seats_taken",
        "one or more of these seats were just taken by someone else; pick other seats",
    )
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

/// The reservation, its seats and `ReservationCreated`, in one transaction.
async fn write_hold(
    db: &PgPool,
    reservation: Uuid,
    user: Uuid,
    performance: Uuid,
    seats: &[(Uuid, i64)],
    amount: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO reservations (id, user_id, performance_id, status, expires_at, amount) \
         VALUES ($1, $2, $3, 'PENDING', $4, $5)",
    )
    .bind(reservation)
    .bind(user)
    .bind(performance)
    .bind(expires_at)
    .bind(amount)
    .execute(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = seats.iter().map(|(id, _)| *id).collect();
    let prices: Vec<i64> = seats.iter().map(|(_, p)| *p).collect();
    sqlx::query(
        "INSERT INTO reservation_seats (reservation_id, performance_id, seat_id, price) \
         SELECT $1, $2, seat, price FROM unnest($3::uuid[], $4::bigint[]) AS s(seat, price)",
    )
    .bind(reservation)
    .bind(performance)
    .bind(&ids)
    .bind(&prices)
    .execute(&mut *tx)
    .await?;
    let event = ReservationCreated {
        reservation_id: reservation,
        user_id: user,
        performance_id: performance,
        seat_ids: ids,
        amount,
        expires_at,
    };
    ticketing_messaging::append(&mut tx, &event)
        .await
        .map_err(|e| match e {
            ticketing_messaging::OutboxError::Db(db) => db,
            other => sqlx::Error::Protocol(other.to_string()),
        })?;
    tx.commit().await
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Reservation {
    id: Uuid,
    performance_id: Uuid,
    status: String,
    amount: i64,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    cancel_reason: Option<String>,
    seat_ids: Vec<Uuid>,
}

const SELECT_RESERVATION: &str = "\
SELECT r.id, r.performance_id, r.status, r.amount, r.created_at, r.expires_at, r.cancel_reason,
       coalesce(array_agg(s.seat_id ORDER BY s.seat_id) FILTER (WHERE s.seat_id IS NOT NULL), '{}') AS seat_ids
FROM reservations r LEFT JOIN reservation_seats s ON s.reservation_id = r.id";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    status: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/reservations`: the caller's reservations, newest first.
async fn history(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Vec<Reservation>>, ApiError> {
    state.searches.hit();
    if let Some(status) = &query.status {
        if !["PENDING", "CONFIRMED", "CANCELLED"].contains(&status.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_status",
                "`status` must be PENDING, CONFIRMED or CANCELLED",
            ));
        }
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let rows = sqlx::query_as::<_, Reservation>(&format!(
        "{SELECT_RESERVATION} WHERE r.user_id = $1 AND ($2::text IS NULL OR r.status = $2) \
         GROUP BY r.id ORDER BY r.created_at DESC LIMIT $3"
    ))
    .bind(user)
    .bind(&query.status)
    .bind(limit)
    .fetch_all(&state.db)
    .await
    .map_err(db_error("searching reservations"))?;
    Ok(Json(rows))
}

/// `GET /api/reservations/{id}`: one of the caller's reservations.
async fn one(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Reservation>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("`{id}` is not a reservation id (a UUID)"),
        )
    })?;
    sqlx::query_as::<_, Reservation>(&format!(
        "{SELECT_RESERVATION} WHERE r.id = $1 AND r.user_id = $2 GROUP BY r.id"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(&state.db)
    .await
    .map_err(db_error("reading a reservation"))?
    .map(Json)
    .ok_or_else(|| {
        ApiError::not_found(
            "no_such_reservation",
            format!("you have no reservation {id}"),
        )
    })
}

/// Ends a pending reservation: status, seats released, event; returns the
/// performance and seats released.
async fn end_hold(
    tx: &mut PgConnection,
    reservation: Uuid,
    reason: &str,
) -> Result<Option<(Uuid, Vec<Uuid>)>, sqlx::Error> {
    let ended: Option<(Uuid,)> = sqlx::query_as(
        "UPDATE reservations SET status = 'CANCELLED', cancel_reason = $2, updated_at = now() \
         WHERE id = $1 AND status = 'PENDING' RETURNING performance_id",
    )
    .bind(reservation)
    .bind(reason)
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

fn outbox_error(e: ticketing_messaging::OutboxError) -> HandlerError {
    HandlerError::Transient(format!("outbox: {e}"))
}

/// Applies payment outcomes to reservations.
struct PaymentOutcomes {
    db: PgPool,
    locks: SeatLocks,
}

impl Handler for PaymentOutcomes {
    fn supports(&self, event_type: &str) -> Option<u32> {
        [PaymentSucceeded::EVENT_TYPE, PaymentFailed::EVENT_TYPE]
            .contains(&event_type)
            .then_some(1)
    }

    async fn handle(&self, tx: &mut PgConnection, envelope: &Envelope) -> Result<(), HandlerError> {
        let db = |e: sqlx::Error| HandlerError::Transient(format!("database: {e}"));
        let bad = |e: ticketing_events::EventError| HandlerError::Permanent(e.to_string());
        match envelope.event_type.as_str() {
            PaymentSucceeded::EVENT_TYPE => {
                let paid: PaymentSucceeded = envelope.decode().map_err(bad)?;
                let row: Option<(String, Uuid, i64)> = sqlx::query_as(
                    "SELECT status, performance_id, amount FROM reservations WHERE id = $1 FOR UPDATE",
                )
                .bind(paid.reservation_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                let Some((status, performance, amount)) = row else {
                    return Err(HandlerError::Permanent(format!(
                        "payment for unknown reservation {}",
                        paid.reservation_id
                    )));
                };
                match status.as_str() {
                    "PENDING" if amount == paid.amount => {
                        sqlx::query(
                            "UPDATE reservations SET status = 'CONFIRMED', imp_uid = $2, updated_at = now() WHERE id = $1",
                        )
                        .bind(paid.reservation_id)
                        .bind(&paid.imp_uid)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                        let seats: Vec<Uuid> = sqlx::query_scalar(
                            "SELECT seat_id FROM reservation_seats WHERE reservation_id = $1 AND active ORDER BY seat_id",
                        )
                        .bind(paid.reservation_id)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db)?;
                        let event = ReservationConfirmed {
                            reservation_id: paid.reservation_id,
                            performance_id: performance,
                            seat_ids: seats,
                        };
                        append_in(tx, &event).await?;
                        metrics::counter!("reservations.confirmed").increment(1);
                    }
                    "CONFIRMED" => {
                        tracing::info!(reservation = %paid.reservation_id, "already confirmed");
                    }
                    _ => {
                        // Expired, cancelled, or paid a different amount: the
                        // money goes back.
                        let reason = if status == "PENDING" {
                            format!("paid {} but the reservation costs {amount}", paid.amount)
                        } else {
                            "payment arrived after the reservation was cancelled".to_owned()
                        };
                        let event = RefundRequested {
                            reservation_id: paid.reservation_id,
                            merchant_uid: paid.merchant_uid,
                            imp_uid: paid.imp_uid,
                            amount: paid.amount,
                            reason,
                        };
                        append_in(tx, &event).await?;
                    }
                }
            }
            PaymentFailed::EVENT_TYPE => {
                let failed: PaymentFailed = envelope.decode().map_err(bad)?;
                if let Some((performance, seats)) = end_hold(
                    tx,
                    failed.reservation_id,
                    &format!("payment failed: {}", failed.reason),
                )
                .await
                .map_err(db)?
                {
                    let event = ReservationCancelled {
                        reservation_id: failed.reservation_id,
                        performance_id: performance,
                        seat_ids: seats,
                        reason: format!("payment failed: {}", failed.error_code),
                    };
                    append_in(tx, &event).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn after_commit(&self, envelope: &Envelope) {
        // Seats of a cancelled hold are free again: drop their markers.
        let Ok(failed) = envelope.decode::<PaymentFailed>() else {
            return;
        };
        let seats: Result<Vec<(Uuid, Uuid)>, _> = sqlx::query_as(
            "SELECT performance_id, seat_id FROM reservation_seats WHERE reservation_id = $1",
        )
        .bind(failed.reservation_id)
        .fetch_all(&self.db)
        .await;
        if let Ok(seats) = seats {
            if let Some((performance, _)) = seats.first() {
                let ids: Vec<Uuid> = seats.iter().map(|(_, s)| *s).collect();
                self.locks
                    .release(*performance, &ids, failed.reservation_id)
                    .await;
            }
        }
    }
}

async fn append_in<E: Event>(tx: &mut PgConnection, event: &E) -> Result<(), HandlerError> {
    let envelope = Envelope::new(event).map_err(|e| HandlerError::Permanent(e.to_string()))?;
    ticketing_messaging::outbox::append_envelope(tx, E::TOPIC, &envelope)
        .await
        .map_err(outbox_error)
}

/// Cancels holds past their expiry, a batch per sweep.
async fn expiry_loop(db: PgPool, locks: SeatLocks, every: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
        match expire_batch(&db).await {
            Ok(expired) => {
                for (reservation, performance, seats) in expired {
                    locks.release(performance, &seats, reservation).await;
                    metrics::counter!("reservations.expired").increment(1);
                }
            }
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed; retrying"),
        }
    }
}

type Expired = (Uuid, Uuid, Vec<Uuid>);

async fn expire_batch(db: &PgPool) -> Result<Vec<Expired>, anyhow::Error> {
    let mut tx = db.begin().await?;
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM reservations WHERE status = 'PENDING' AND expires_at < now() \
         ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut expired = Vec::new();
    for reservation in due {
        if let Some((performance, seats)) = end_hold(&mut tx, reservation, "expired").await? {
            let event = ReservationExpired {
                reservation_id: reservation,
                performance_id: performance,
                seat_ids: seats.clone(),
            };
            ticketing_messaging::append(&mut tx, &event).await?;
            expired.push((reservation, performance, seats));
        }
    }
    tx.commit().await?;
    Ok(expired)
}
