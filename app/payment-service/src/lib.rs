//! payment-service: PortOne (V1) payments.
//!
//! * `POST /api/payments/prepare` (with the `qp_` payment token): records the
//!   order (`merchant_uid` = `res_<reservation id>`) and pre-registers its
//!   amount with PortOne, so a checkout for another amount fails there.
//! * `POST /webhooks/portone`: trusts nothing in the body. It re-reads the
//!   payment from PortOne (`GET /payments/{imp_uid}`) and compares amount,
//!   currency, status and `merchant_uid` with the order; a mismatch is
//!   cancelled at PortOne (with `checksum`) and recorded; repeated deliveries
//!   have one effect; a burst of notices for one payment shares look-ups
//!   (`lookups`). Outcomes go out as `PaymentSucceeded` /
//!   `PaymentFailed` through the outbox.
//! * `RefundRequested` (a payment that arrived after its reservation ended)
//!   is refunded and announced as `PaymentRefunded`.
//! * Orders still waiting for their webhook after
//!   `booking.payment_check_after_seconds` are looked up at PortOne and
//!   settled as the webhook would have (`sweep`).
//!
//! Counters `payment.success` (`pg_provider`, `environment`) and
//! `payment.failure` (`pg_provider`, `error_code`). Mode `test` or
//! `production` comes from `portone.mode`; production is announced loudly at
//! start.

mod domain;
mod lookups;
mod problems;
mod refunds;
pub mod repository;
mod routes;
mod settle;
mod sweep;

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;
use ticketing_catalog::ServiceName;
use ticketing_config::PortOneMode;
use ticketing_http::{Authenticator, ServiceApp};
use ticketing_portone::PortOne;
use ticketing_runtime::{RuntimeError, ServiceContext};
use ticketing_tokens::Keyring;

pub use crate::domain::{OrderStatus, CURRENCY};
pub use ticketing_portone::merchant_uid;

use crate::refunds::Refunds;

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, FromRef)]
pub(crate) struct AppState {
    pub(crate) db: PgPool,
    pub(crate) auth: Authenticator,
    pub(crate) keys: Keyring,
    pub(crate) portone: Arc<PortOne>,
    /// The webhook's look-ups of PortOne, collapsed per imp_uid.
    pub(crate) lookups: Arc<lookups::Lookups<String, ticketing_portone::Payment>>,
    pub(crate) imp_code: Arc<String>,
    pub(crate) environment: &'static str,
}

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let portone = Arc::new(ctx.portone()?);
    match ctx.settings.portone.mode {
        PortOneMode::Production => tracing::warn!(
            imp_code = %ctx.settings.portone.imp_code,
            "PortOne PRODUCTION MODE ENABLED - real payments are processed"
        ),
        PortOneMode::Test => tracing::info!(
            imp_code = %ctx.settings.portone.imp_code,
            base_url = %ctx.settings.portone.base_url,
            "PortOne test mode: no real money moves"
        ),
    }
    let environment = ctx.settings.profile.as_str();
    let state = AppState {
        db: ctx.db()?.clone(),
        auth: ctx.authenticator(),
        keys: ctx.queue_keys(),
        portone: portone.clone(),
        lookups: Arc::new(lookups::Lookups::new()),
        imp_code: Arc::new(ctx.settings.portone.imp_code.clone()),
        environment,
    };
    let refunds = ctx.event_consumer(Refunds { portone })?;
    let booking = &ctx.settings.booking;
    let sweep = sweep::sweep_loop(
        state.clone(),
        booking.payment_check_after_seconds,
        booking.hold_ttl_seconds,
        std::time::Duration::from_millis(booking.payment_sweep_interval_ms),
        sweep::LedgerWalk {
            every: std::time::Duration::from_millis(booking.payment_ledger_interval_ms),
            window_seconds: booking.payment_ledger_window_seconds,
        },
        ctx.shutdown.clone(),
    );
    Ok(ServiceApp::new(
        ServiceName::PaymentService,
        routes::router(state),
        vec![ctx.postgres_probe()?, ctx.kafka_probe()],
    )
    .with_openapi(include_str!("../openapi.json"))
    .with_task("outbox-relay", ctx.outbox_relay()?)
    .with_task("refunds", refunds)
    .with_task("lost-webhook-sweep", sweep))
}
