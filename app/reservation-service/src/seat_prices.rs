//! The event service's seat map, read for the prices of the seats a hold
//! asks for (`GET /api/events/{performance}/seats`), and remembered: a
//! seat's price is fixed when its performance is created (event-service
//! has no way to change it), so a crowd holding seats of one performance
//! reads its prices once, not once per hold. Should prices ever change,
//! this cache must learn of it (its entries also expire after
//! [`PRICES_TTL`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

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

/// How long a performance's prices are remembered.
pub(crate) const PRICES_TTL: Duration = Duration::from_secs(600);

/// Seat prices by performance, read from event-service once per
/// [`PRICES_TTL`].
#[derive(Clone)]
pub(crate) struct SeatPrices {
    http: reqwest::Client,
    event_service: Arc<Url>,
    known: moka::future::Cache<Uuid, Arc<HashMap<Uuid, Money>>>,
}

/// Why a performance's prices could not be read (cloneable: every hold
/// waiting on the same read gets it).
#[derive(Debug, Clone, thiserror::Error)]
enum FetchFailure {
    #[error("no such performance")]
    NotFound,
    #[error("{0}")]
    Unavailable(String),
}

impl FetchFailure {
    fn into_api(self, performance: Uuid) -> ApiError {
        match self {
            FetchFailure::NotFound => ApiError::not_found(
                "no_such_performance",
                format!("there is no performance {performance}"),
            ),
            FetchFailure::Unavailable(e) => ApiError::unavailable(
                "event_service_unavailable",
                format!("seat prices could not be read ({e}); try again shortly"),
            ),
        }
    }
}

impl SeatPrices {
    pub(crate) fn new(http: reqwest::Client, event_service: Arc<Url>) -> SeatPrices {
        SeatPrices {
            http,
            event_service,
            known: moka::future::Cache::builder()
                .max_capacity(1_000)
                .time_to_live(PRICES_TTL)
                .build(),
        }
    }

    /// Prices of `seats` of `performance`, in the order asked; unknown
    /// seats are an error naming them (after asking event-service afresh:
    /// a remembered map is never the reason a seat is refused).
    pub(crate) async fn prices(
        &self,
        performance: Uuid,
        seats: &[Uuid],
    ) -> Result<Vec<(Uuid, Money)>, ApiError> {
        // Holds arriving together for a performance not yet known wait for
        // one read instead of each making their own.
        let load = || async {
            fetch(&self.http, &self.event_service, performance)
                .await
                .map(Arc::new)
        };
        let map = self
            .known
            .try_get_with(performance, load())
            .await
            .map_err(|e| (*e).clone().into_api(performance))?;
        if let Ok(found) = pick(&map, performance, seats) {
            return Ok(found);
        }
        // Not in the kept map: ask afresh before refusing.
        let map = load().await.map_err(|e| e.into_api(performance))?;
        self.known.insert(performance, map.clone()).await;
        pick(&map, performance, seats)
    }
}

/// The prices of `seats` from `map`, in order, or the unknown ones named.
fn pick(
    map: &HashMap<Uuid, Money>,
    performance: Uuid,
    seats: &[Uuid],
) -> Result<Vec<(Uuid, Money)>, ApiError> {
    let mut out = Vec::with_capacity(seats.len());
    let mut unknown = Vec::new();
    for seat in seats {
        match map.get(seat) {
            Some(price) => out.push((*seat, *price)),
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

/// Every seat's price of `performance`, from event-service.
async fn fetch(
    http: &reqwest::Client,
    event_service: &Url,
    performance: Uuid,
) -> Result<HashMap<Uuid, Money>, FetchFailure> {
    let url = event_service
        .join(&format!("/api/events/{performance}/seats"))
        .map_err(|e| FetchFailure::Unavailable(e.to_string()))?;
    let unavailable = |e: reqwest::Error| FetchFailure::Unavailable(e.to_string());
    let answer = http.get(url).send().await.map_err(unavailable)?;
    if answer.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(FetchFailure::NotFound);
    }
    let map: SeatMap = answer
        .error_for_status()
        .map_err(unavailable)?
        .json()
        .await
        .map_err(unavailable)?;
    Ok(map.seats.into_iter().map(|s| (s.id, s.price)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_come_in_the_order_asked_and_unknown_seats_are_named() {
        let (a, b, stranger) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let map = HashMap::from([(a, Money::won(1_000)), (b, Money::won(2_500))]);
        let performance = Uuid::now_v7();
        let got = pick(&map, performance, &[b, a]).expect("known seats");
        assert_eq!(got, vec![(b, Money::won(2_500)), (a, Money::won(1_000))]);
        let refused = pick(&map, performance, &[a, stranger]).expect_err("a stranger");
        assert!(
            refused.to_string().contains(&stranger.to_string()),
            "{refused}"
        );
    }
}
