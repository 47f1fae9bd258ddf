//! The HTTP routes: holds, a user's history and one reservation.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticketing_http::{ApiError, AuthUser, Json, Query};
use ticketing_money::Money;
use ticketing_tokens::{Keyring, PaymentClaims, ReservationClaims};
use uuid::Uuid;

use crate::domain::{seats_to_hold, ReservationStatus};
use crate::repository::{self, HoldError, NewHold, Reservation};
use crate::{AppState, QUEUE_TOKEN_HEADER};

/// The service's routes over `state`.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/reservations", get(history).post(hold))
        .route("/api/reservations/{id}", get(one))
        .with_state(state)
}

fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> ApiError {
    move |e| ApiError::internal(anyhow::Error::new(e).context(what))
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
    status: ReservationStatus,
    amount: Money,
    expires_at: DateTime<Utc>,
    seat_ids: Vec<Uuid>,
    payment_token: String,
}

/// Verifies the `qr_` token: the caller's, for this performance, unexpired;
/// its admission id (`jti`), which one order may use.
fn check_queue_token(
    keys: &Keyring,
    headers: &HeaderMap,
    user: Uuid,
    performance: Uuid,
) -> Result<Uuid, ApiError> {
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
    Ok(claims.jti)
}

/// `POST /api/reservations`.
async fn hold(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    Json(request): Json<HoldRequest>,
) -> Result<(StatusCode, Json<HoldAnswer>), ApiError> {
    let performance = request.performance_id;
    let admission = check_queue_token(&state.keys, &headers, user, performance)?;
    let max = state.settings.max_seats_per_hold as usize;
    let seats = seats_to_hold(&request.seat_ids, max).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_seats",
            format!("`seat_ids` must list 1 to {max} different seats"),
        )
    })?;
    let priced = state.prices.prices(performance, &seats).await?;
    let amount = Money::sum(priced.iter().map(|(_, price)| *price)).map_err(|e| {
        ApiError::unprocessable(
            "invalid_prices",
            format!("these seats cannot be summed: {e}"),
        )
    })?;
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
    let hold = NewHold {
        reservation,
        admission,
        user,
        performance,
        max_seats_per_user: state.settings.max_seats_per_user,
        seats: &priced,
        amount,
        expires_at,
    };
    if let Err(e) = repository::write_hold(&state.db, &hold).await {
        state.locks.release(performance, &seats, reservation).await;
        return Err(match e {
            HoldError::SeatTaken => {
                metrics::counter!("reservations.hold.rejected", "reason" => "taken").increment(1);
                seats_taken()
            }
            HoldError::AdmissionUsed => {
                metrics::counter!("reservations.hold.rejected", "reason" => "admission_used")
                    .increment(1);
                ApiError::conflict(
                    "admission_used",
                    "this waiting-room admission was already used for an order; queue again for another",
                )
            }
            HoldError::SeatCap { held, cap } => {
                metrics::counter!("reservations.hold.rejected", "reason" => "seat_limit")
                    .increment(1);
                ApiError::conflict(
                    "seat_limit",
                    format!("you already hold or own {held} seat(s) of this performance; one customer may have at most {cap}"),
                )
            }
            HoldError::Db(e) => ApiError::internal(anyhow::Error::new(e).context("writing a hold")),
        });
    }
    metrics::counter!("reservations.hold.created").increment(1);
    state
        .admissions
        .used(performance, user, reservation, expires_at)
        .await;
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
            status: ReservationStatus::Pending,
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
    let status = query
        .status
        .as_deref()
        .map(str::parse::<ReservationStatus>)
        .transpose()
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_status",
                "`status` must be PENDING, CONFIRMED or CANCELLED",
            )
        })?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("`limit` must be 1 to 200 (got {limit})"),
        ));
    }
    let rows = repository::of_user(&state.db, user, status, limit)
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
    repository::one_of_user(&state.db, id, user)
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
