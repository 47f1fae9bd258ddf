//! event-service: performances, venues, seat maps and prices.
//!
//! Owns the `event_service` schema. Seat-map reads are served from Redis
//! (partial CQRS, per the design) and the cache entry of a performance is
//! dropped whenever one of its seats changes state; seat states follow the
//! reservation events (held, sold, released). Metrics: `events.cache.hit`,
//! `events.cache.miss` and `events.read.tps`. It also holds the notices to
//! customers ([`notices`]).

use axum::extract::FromRef;
use sqlx::PgPool;
use ticketing_catalog::ServiceName;
use ticketing_http::{Authenticator, ServiceApp};
use ticketing_runtime::{RuntimeError, ServiceContext};
use ticketing_telemetry::RateGauge;

mod cache;
mod domain;
pub mod notices;
mod repository;
mod routes;
mod seat_states;

use crate::cache::SeatMapCache;
use crate::seat_states::SeatStates;

pub use domain::{SeatStatus, MAX_SEATS};
pub use repository::{Seat, SeatMap};

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, FromRef)]
pub(crate) struct AppState {
    pub(crate) db: PgPool,
    pub(crate) cache: SeatMapCache,
    pub(crate) auth: Authenticator,
    pub(crate) reads: RateGauge,
}

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let cache = SeatMapCache::new(
        ctx.redis.clone(),
        ctx.settings.booking.seat_map_cache_ttl_seconds,
    );
    let state = AppState {
        db: ctx.db()?.clone(),
        cache: cache.clone(),
        auth: ctx.authenticator(),
        reads: RateGauge::start("events.read.tps", ctx.shutdown.clone()),
    };
    let consumer = ctx.event_consumer(SeatStates { cache })?;
    Ok(ServiceApp::new(
        ServiceName::EventService,
        routes::router(state).merge(notices::routes(notices::NoticeState {
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
