//! The HTTP routes: performances and seat maps.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use ticketing_http::{ApiError, Json, Organiser};
use uuid::Uuid;

use crate::domain::NewPerformance;
use crate::repository::{self, CreateError, Performance};
use crate::AppState;

/// The service's performance routes over `state`.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/events",
            get(list_performances).post(create_performance),
        )
        .route("/api/events/{id}", get(get_performance))
        .route("/api/events/{id}/seats", get(seat_map))
        .with_state(state)
}

fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> ApiError {
    move |e| ApiError::internal(anyhow::Error::new(e).context(what))
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

/// `GET /api/events`: performances, soonest first.
async fn list_performances(
    State(state): State<AppState>,
) -> Result<Json<Vec<Performance>>, ApiError> {
    state.reads.hit();
    let rows = repository::list(&state.db)
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
    repository::one(&state.db, id)
        .await
        .map_err(db_error("reading a performance"))?
        .map(Json)
        .ok_or_else(|| no_such_performance(id))
}

#[derive(Debug, Serialize)]
struct Created {
    id: Uuid,
    seats: i64,
}

/// `POST /api/events`: a performance and its seats, all or nothing.
/// Organisers only (customers get 403).
async fn create_performance(
    State(state): State<AppState>,
    Organiser(_organiser): Organiser,
    Json(new): Json<NewPerformance>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let invalid = |detail: String| ApiError::unprocessable("invalid_performance", detail);
    let seats = new.validate().map_err(invalid)?;
    let id = Uuid::now_v7();
    repository::create(&state.db, id, &new)
        .await
        .map_err(|e| match e {
            CreateError::DuplicateSection(_) => invalid(e.to_string()),
            CreateError::Db(e) => {
                ApiError::internal(anyhow::Error::new(e).context("creating a performance"))
            }
        })?;
    Ok((StatusCode::CREATED, Json(Created { id, seats })))
}

/// `GET /api/events/{id}/seats`: from Redis when cached (served as the
/// bytes stored), else from the database (then cached).
async fn seat_map(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let json_body = |body: String| {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    };
    state.reads.hit();
    let id = parse_id(&id)?;
    if let Some(body) = state.cache.get_json(id).await {
        metrics::counter!("events.cache.hit").increment(1);
        return Ok(json_body(body));
    }
    metrics::counter!("events.cache.miss").increment(1);
    let map = repository::seat_map(&state.db, id)
        .await
        .map_err(db_error("reading a seat map"))?
        .ok_or_else(|| no_such_performance(id))?;
    Ok(match state.cache.put(&map).await {
        Some(body) => json_body(body),
        None => Json(map).into_response(),
    })
}
