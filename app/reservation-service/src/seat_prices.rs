//! The event service's seat map, read for the prices of the seats a hold
//! asks for (`GET /api/events/{performance}/seats`).

use serde::Deserialize;
use ticketing_http::ApiError;
use ticketing_money::Money;
use url::Url;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
struct MapSeat {
    id: Uuid,
    price: Money,
}

#[derive(Debug, Deserialize)]
struct SeatMap {
    seats: Vec<MapSeat>,
}

/// Prices of `seats` of `performance`, in the order asked; unknown seats are
/// an error naming them.
pub(crate) async fn prices(
    http: &reqwest::Client,
    event_service: &Url,
    performance: Uuid,
    seats: &[Uuid],
) -> Result<Vec<(Uuid, Money)>, ApiError> {
    let url = event_service
        .join(&format!("/api/events/{performance}/seats"))
        .map_err(|e| ApiError::internal(e.into()))?;
    let unavailable = |e: String| {
        ApiError::unavailable(
            "event_service_unavailable",
            format!("seat prices could not be read ({e}); try again shortly"),
        )
    };
    let answer = http
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
