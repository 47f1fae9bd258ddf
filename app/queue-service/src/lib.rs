//! queue-service: the waiting room and reservation tokens.
//!
//! The booking-flow endpoints arrive with the booking-flow work; this crate
//! already owns its schema (`queue_service`), its migrations and
//! the probes that decide its readiness.

use axum::Router;
use ticketing_catalog::ServiceName;
use ticketing_http::ServiceApp;
use ticketing_runtime::{RuntimeError, ServiceContext};

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    Ok(ServiceApp::new(
        ServiceName::QueueService,
        Router::new(),
        vec![ctx.postgres_probe()?, ctx.redis_probe()],
    ))
}
