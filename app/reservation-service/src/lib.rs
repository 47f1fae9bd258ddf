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

mod admissions;
mod domain;
mod expiry;
pub mod holds;
mod locks;
pub mod repository;
mod routes;
mod saga;
mod seat_prices;

pub use domain::{ReservationStatus, UnknownStatus};

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use sqlx::PgPool;
use ticketing_catalog::ServiceName;
use ticketing_config::BookingSettings;
use ticketing_http::{Authenticator, ServiceApp};
use ticketing_runtime::{RuntimeError, ServiceContext};
use ticketing_telemetry::RateGauge;
use ticketing_tokens::Keyring;

use crate::admissions::Admissions;
use crate::expiry::expiry_loop;
use crate::locks::SeatLocks;
use crate::saga::PaymentOutcomes;

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The header carrying the `qr_` reservation token.
pub const QUEUE_TOKEN_HEADER: &str = "x-queue-token";

#[derive(Clone, FromRef)]
pub(crate) struct AppState {
    pub(crate) db: PgPool,
    pub(crate) locks: SeatLocks,
    pub(crate) admissions: Admissions,
    pub(crate) auth: Authenticator,
    pub(crate) keys: Keyring,
    pub(crate) settings: Arc<BookingSettings>,
    pub(crate) prices: seat_prices::SeatPrices,
    pub(crate) searches: RateGauge,
}

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let db = ctx.db()?.clone();
    let locks = SeatLocks::new(ctx.redis.clone());
    let admissions = Admissions::new(ctx.redis.clone());
    let state = AppState {
        db: db.clone(),
        locks: locks.clone(),
        admissions: admissions.clone(),
        auth: ctx.authenticator(),
        keys: ctx.queue_keys(),
        settings: Arc::new(ctx.settings.booking.clone()),
        prices: seat_prices::SeatPrices::new(
            ctx.http.clone(),
            Arc::new(ctx.settings.services.event_service.url.clone()),
        ),
        searches: RateGauge::start("reservations.search.tps", ctx.shutdown.clone()),
    };
    let consumer = ctx.event_consumer(PaymentOutcomes {
        db: db.clone(),
        locks: locks.clone(),
        admissions,
    })?;
    let sweep = Duration::from_millis(ctx.settings.booking.expiry_sweep_interval_ms);
    let shutdown = ctx.shutdown.clone();
    Ok(ServiceApp::new(
        ServiceName::ReservationService,
        routes::router(state),
        vec![ctx.postgres_probe()?, ctx.redis_probe(), ctx.kafka_probe()],
    )
    .with_openapi(include_str!("../openapi.json"))
    .with_task("outbox-relay", ctx.outbox_relay()?)
    .with_task("payment-events", consumer)
    .with_task("expiry-sweep", async move {
        expiry_loop(db, locks, sweep, shutdown).await
    }))
}
