//! event-service: performances, venues, seat maps and prices.
//!
//! Owns the `event_service` schema. Seat-map reads are served from Redis
//! (partial CQRS, per the design) and the cache entry of a performance is
//! dropped whenever one of its seats changes state; seat states follow the
//! reservation events (held, sold, released). Metrics: `events.cache.hit`,
//! `events.cache.miss` and `events.read.tps`. It also holds the notices to
//! customers ([`notices`]).

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use ticketing_catalog::ServiceName;
use ticketing_events::{
    Envelope, Event, ReservationCancelled, ReservationConfirmed, ReservationCreated,
    ReservationExpired, SeatsReleased,
};
use ticketing_http::{ApiError, AuthUser, Authenticator, Json, ServiceApp};
use ticketing_messaging::consumer::{Handler, HandlerError};
use ticketing_redis::Redis;
use ticketing_runtime::{RuntimeError, ServiceContext};
use ticketing_telemetry::RateGauge;
use uuid::Uuid;

pub mod notices;

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Largest seat map one performance may have.
const MAX_SEATS: i64 = 20_000;

#[derive(Clone, FromRef)]
struct AppState {
    db: PgPool,
    cache: SeatMapCache,
    auth: Authenticator,
    reads: RateGauge,
}

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let cache = SeatMapCache {
        redis: ctx.redis.clone(),
        ttl_seconds: ctx.settings.booking.seat_map_cache_ttl_seconds,
    };
    let state = AppState {
        db: ctx.db()?.clone(),
        cache: cache.clone(),
        auth: ctx.authenticator(),
        reads: RateGauge::start("events.read.tps", ctx.shutdown.clone()),
    };
    let consumer = ctx.event_consumer(SeatStates { cache })?;
    Ok(ServiceApp::new(
        ServiceName::EventService,
        Router::new()
            .route(
                "/api/events",
                get(list_performances).post(create_performance),
            )
            .route("/api/events/{id}", get(get_performance))
            .route("/api/events/{id}/seats", get(seat_map))
            .with_state(state)
            .merge(notices::routes(notices::NoticeState {
                db: ctx.db()?.clone(),
                redis: ctx.redis.clone(),
                auth: ctx.authenticator(),
            })),
        vec![ctx.postgres_probe()?, ctx.redis_probe(), ctx.kafka_probe()],
    )
    .with_openapi(include_str!("../openapi.json"))
    .with_task("outbox-relay", ctx.outbox_relay()?)
    .with_task("reservation-events", consumer))
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Performance {
    id: Uuid,
    title: String,
    venue: String,
    starts_at: DateTime<Utc>,
}

fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> ApiError {
    move |e| ApiError::internal(anyhow::Error::new(e).context(what))
}

/// `GET /api/events`: performances, soonest first.
async fn list_performances(
    State(state): State<AppState>,
) -> Result<Json<Vec<Performance>>, ApiError> {
    state.reads.hit();
    let rows = sqlx::query_as::<_, Performance>(
        "SELECT id, title, venue, starts_at FROM performances ORDER BY starts_at, id LIMIT 200",
    )
    .fetch_all(&state.db)
    .await
    .map_err(db_error("listing performances"))?;
    Ok(Json(rows))
}

/// `GET /api/events/{id}`.
async fn get_performance(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Performance>, ApiError> {
    state.reads.hit();
    let id = parse_id(&id)?;
    sqlx::query_as::<_, Performance>(
        "SELECT id, title, venue, starts_at FROM performances WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await
    .map_err(db_error("reading a performance"))?
    .map(Json)
    .ok_or_else(|| no_such_performance(id))
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("`{raw}` is not a performance id (a UUID)"),
        )
    })
}

fn no_such_performance(id: Uuid) -> ApiError {
    ApiError::not_found(
        "no_such_performance",
        format!("there is no performance {id}"),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPerformance {
    title: String,
    venue: String,
    starts_at: DateTime<Utc>,
    sections: Vec<NewSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSection {
    name: String,
    rows: u32,
    seats_per_row: u32,
    price: i64,
}

#[derive(Debug, Serialize)]
struct Created {
    id: Uuid,
    seats: i64,
}

/// `POST /api/events`: a performance and its seats, all or nothing.
async fn create_performance(
    State(state): State<AppState>,
    AuthUser(_user): AuthUser,
    Json(new): Json<NewPerformance>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let invalid = |detail: String| ApiError::unprocessable("invalid_performance", detail);
    if new.title.trim().is_empty() || new.title.len() > 200 {
        return Err(invalid("`title` must be 1 to 200 characters".into()));
    }
    if new.venue.trim().is_empty() || new.venue.len() > 200 {
        return Err(invalid("`venue` must be 1 to 200 characters".into()));
    }
    if new.sections.is_empty() {
        return Err(invalid("`sections` must name at least one section".into()));
    }
    let mut total: i64 = 0;
    for s in &new.sections {
        if s.name.trim().is_empty() || s.name.len() > 50 {
            return Err(invalid(
                "each section `name` must be 1 to 50 characters".into(),
            ));
        }
        if s.rows == 0 || s.rows > 26 * 4 || s.seats_per_row == 0 || s.seats_per_row > 500 {
            return Err(invalid(format!(
                "section `{}`: rows must be 1-104 and seats_per_row 1-500",
                s.name
            )));
        }
        if s.price <= 0 {
            return Err(invalid(format!(
                "section `{}`: price must be positive",
                s.name
            )));
        }
        total += i64::from(s.rows) * i64::from(s.seats_per_row);
    }
    if total > MAX_SEATS {
        return Err(invalid(format!(
            "{total} seats is more than the {MAX_SEATS} one performance may have"
        )));
    }
    let id = Uuid::now_v7();
    let mut tx = state
        .db
        .begin()
        .await
        .map_err(db_error("starting a transaction"))?;
    sqlx::query("INSERT INTO performances (id, title, venue, starts_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(new.title.trim())
        .bind(new.venue.trim())
        .bind(new.starts_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error("creating a performance"))?;
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
            sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => invalid(format!(
                "section `{}` is named twice",
                s.name.trim()
            )),
            _ => ApiError::internal(anyhow::Error::new(e).context("creating seats")),
        })?;
    }
    tx.commit()
        .await
        .map_err(db_error("committing a performance"))?;
    Ok((StatusCode::CREATED, Json(Created { id, seats: total })))
}

/// One seat as the seat map shows it.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, PartialEq, Eq)]
pub struct Seat {
    pub id: Uuid,
    pub section: String,
    pub row_label: String,
    pub number: i32,
    pub price: i64,
    pub status: String,
}

/// The seat map of a performance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeatMap {
    pub performance_id: Uuid,
    pub seats: Vec<Seat>,
    pub available: usize,
}

/// Seat maps in Redis under `seatmap:<performance id>`.
#[derive(Clone)]
struct SeatMapCache {
    redis: Redis,
    ttl_seconds: u64,
}

impl SeatMapCache {
    fn key(&self, performance: Uuid) -> String {
        self.redis.key(&format!("seatmap:{performance}"))
    }

    /// The cached map; Redis trouble counts as a miss (the database answers).
    async fn get(&self, performance: Uuid) -> Option<SeatMap> {
        let mut conn = self.redis.conn().await.ok()?;
        let raw: Option<String> = conn.get(self.key(performance)).await.ok()?;
        raw.and_then(|r| serde_json::from_str(&r).ok())
    }

    async fn put(&self, map: &SeatMap) {
        let Ok(json) = serde_json::to_string(map) else {
            return;
        };
        if let Ok(mut conn) = self.redis.conn().await {
            let stored: Result<(), _> = conn
                .set_ex(self.key(map.performance_id), json, self.ttl_seconds)
                .await;
            if let Err(e) = stored {
                tracing::debug!(error = %e, "seat map not cached");
            }
        }
    }

    async fn invalidate(&self, performance: Uuid) {
        match self.redis.conn().await {
            Ok(mut conn) => {
                let dropped: Result<(), _> = conn.del(self.key(performance)).await;
                if let Err(e) = dropped {
                    tracing::warn!(%performance, error = %e, "seat map cache not invalidated; it expires by TTL");
                }
            }
            Err(e) => {
                tracing::warn!(%performance, error = %e, "seat map cache not invalidated; it expires by TTL")
            }
        }
    }
}

/// `GET /api/events/{id}/seats`: from Redis when cached, else from the
/// database (then cached).
async fn seat_map(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SeatMap>, ApiError> {
    state.reads.hit();
    let id = parse_id(&id)?;
    if let Some(map) = state.cache.get(id).await {
        metrics::counter!("events.cache.hit").increment(1);
        return Ok(Json(map));
    }
    metrics::counter!("events.cache.miss").increment(1);
    let seats = sqlx::query_as::<_, Seat>(
        "SELECT id, section, row_label, number, price, status FROM seats \
         WHERE performance_id = $1 ORDER BY section, length(row_label), row_label, number",
    )
    .bind(id)
    .fetch_all(&state.db)
    .await
    .map_err(db_error("reading a seat map"))?;
    if seats.is_empty() {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM performances WHERE id = $1)")
                .bind(id)
                .fetch_one(&state.db)
                .await
                .map_err(db_error("looking up a performance"))?;
        if !exists {
            return Err(no_such_performance(id));
        }
    }
    let available = seats.iter().filter(|s| s.status == "AVAILABLE").count();
    let map = SeatMap {
        performance_id: id,
        seats,
        available,
    };
    state.cache.put(&map).await;
    Ok(Json(map))
}

/// Keeps seat states in step with reservation events.
struct SeatStates {
    cache: SeatMapCache,
}

/// What a reservation event does to seats.
struct SeatChange {
    performance: Uuid,
    seats: Vec<Uuid>,
    reservation: Uuid,
    status: &'static str,
}

/// The performance and seats an event is about, and the state it sets.
fn seat_change(envelope: &Envelope) -> Result<Option<SeatChange>, HandlerError> {
    let bad = |e: ticketing_events::EventError| HandlerError::Permanent(e.to_string());
    let (performance, seats, reservation, status) = match envelope.event_type.as_str() {
        ReservationCreated::EVENT_TYPE => {
            let e: ReservationCreated = envelope.decode().map_err(bad)?;
            (e.performance_id, e.seat_ids, e.reservation_id, "HELD")
        }
        ReservationConfirmed::EVENT_TYPE => {
            let e: ReservationConfirmed = envelope.decode().map_err(bad)?;
            (e.performance_id, e.seat_ids, e.reservation_id, "SOLD")
        }
        ReservationCancelled::EVENT_TYPE => {
            let e: ReservationCancelled = envelope.decode().map_err(bad)?;
            (e.performance_id, e.seat_ids, e.reservation_id, "AVAILABLE")
        }
        ReservationExpired::EVENT_TYPE => {
            let e: ReservationExpired = envelope.decode().map_err(bad)?;
            (e.performance_id, e.seat_ids, e.reservation_id, "AVAILABLE")
        }
        SeatsReleased::EVENT_TYPE => {
            let e: SeatsReleased = envelope.decode().map_err(bad)?;
            (e.performance_id, e.seat_ids, e.reservation_id, "AVAILABLE")
        }
        _ => return Ok(None),
    };
    Ok(Some(SeatChange {
        performance,
        seats,
        reservation,
        status,
    }))
}

impl Handler for SeatStates {
    fn supports(&self, event_type: &str) -> Option<u32> {
        [
            ReservationCreated::EVENT_TYPE,
            ReservationConfirmed::EVENT_TYPE,
            ReservationCancelled::EVENT_TYPE,
            ReservationExpired::EVENT_TYPE,
            SeatsReleased::EVENT_TYPE,
        ]
        .contains(&event_type)
        .then_some(1)
    }

    async fn handle(&self, tx: &mut PgConnection, envelope: &Envelope) -> Result<(), HandlerError> {
        let Some(SeatChange {
            seats,
            reservation,
            status,
            ..
        }) = seat_change(envelope)?
        else {
            return Ok(());
        };
        // A release frees only seats this reservation has; a hold or sale
        // takes free seats (or its own) and never another reservation's.
        let query = if status == "AVAILABLE" {
            "UPDATE seats SET status = 'AVAILABLE', reservation_id = NULL, updated_at = now() \
             WHERE id = ANY($1) AND reservation_id = $2"
        } else {
            "UPDATE seats SET status = $3, reservation_id = $2, updated_at = now() \
             WHERE id = ANY($1) AND (reservation_id IS NULL OR reservation_id = $2)"
        };
        sqlx::query(query)
            .bind(&seats)
            .bind(reservation)
            .bind(status)
            .execute(tx)
            .await
            .map_err(|e| HandlerError::Transient(format!("updating seats: {e}")))?;
        Ok(())
    }

    async fn after_commit(&self, envelope: &Envelope) {
        if let Ok(Some(change)) = seat_change(envelope) {
            self.cache.invalidate(change.performance).await;
        }
    }
}
