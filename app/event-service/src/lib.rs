//! event-service: performances, venues, seat maps and prices.
//!
//! Owns the `event_service` schema. Seat-map reads (served from Redis) arrive
//! with the booking-flow work; the performance list is here already.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use ticketing_catalog::ServiceName;
use ticketing_http::{ApiError, Json, ServiceApp};
use ticketing_runtime::{RuntimeError, ServiceContext};
use uuid::Uuid;

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
struct AppState {
    db: PgPool,
}

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let state = AppState {
        db: ctx.db()?.clone(),
    };
    Ok(ServiceApp::new(
        ServiceName::EventService,
        Router::new()
            .route("/api/events", get(list_performances))
            .with_state(state),
        vec![ctx.postgres_probe()?, ctx.redis_probe(), ctx.kafka_probe()],
    ))
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Performance {
    id: Uuid,
    title: String,
    venue: String,
    starts_at: DateTime<Utc>,
}

/// `GET /api/events`: performances, soonest first.
async fn list_performances(
    State(state): State<AppState>,
) -> Result<Json<Vec<Performance>>, ApiError> {
    let rows = sqlx::query_as::<_, Performance>(
        "SELECT id, title, venue, starts_at FROM performances ORDER BY starts_at, id LIMIT 200",
    )
    .fetch_all(&state.db)
    .await
    .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("listing performances")))?;
    Ok(Json(rows))
}
