//! The seat-map micro-cache at the edge.
//!
//! When a performance opens, thousands of clients read its seat map at once.
//! The gateway answers repeated reads of `GET /api/events/{id}/seats` from a
//! per-performance cache instead of forwarding each one:
//!
//! - an entry lives at most [`MAX_AGE`] from the moment its upstream fetch
//!   began (the public seat map may be one second stale; the hold is the
//!   authority and answers `409 seats_taken` for a seat shown free);
//! - concurrent misses for one performance make one upstream fetch, which all
//!   of them share (moka's `or_try_insert_with` coalesces them);
//! - a successful hold through the gateway drops its performance's entry, so
//!   the holder's next read shows the seats as held;
//! - only `200` answers are cached: a 404 or an upstream failure is passed to
//!   everyone waiting on that fetch and asked for afresh by the next read;
//! - every cached answer carries a strong `ETag` (a digest of its body) and
//!   `Cache-Control: public, max-age=1`, so a client or CDN that sends
//!   `If-None-Match` gets `304 Not Modified` (RFC 9110 section 13.1.2) and a
//!   CDN may do the same caching in front of us.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use ticketing_catalog::ServiceName;
use ticketing_http::{ApiError, MAX_BODY_BYTES};
use uuid::Uuid;

use crate::proxy::{Answer, Upstreams};

/// How stale a cached seat map may be, counted from when its fetch began.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// Where holds are made; a successful one drops its performance's map.
const HOLDS_PATH: &str = "/api/reservations";

/// Performances whose maps are kept at once; the rest are evicted by use.
const CAPACITY: u64 = 10_000;

/// A seat map as the gateway keeps it: the upstream answer, its validator,
/// and when its fetch began.
#[derive(Clone)]
struct SeatMap {
    answer: Answer,
    etag: HeaderValue,
    asked: Instant,
}

/// Expires each map [`MAX_AGE`] after its fetch began, however long the fetch
/// took.
struct FromAsked;

impl moka::Expiry<Uuid, SeatMap> for FromAsked {
    fn expire_after_create(
        &self,
        _id: &Uuid,
        map: &SeatMap,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(MAX_AGE.saturating_sub(created_at.saturating_duration_since(map.asked)))
    }
}

/// The cache, shared by every request the gateway serves.
#[derive(Clone)]
pub(crate) struct SeatMaps {
    maps: moka::future::Cache<Uuid, SeatMap>,
}

impl Default for SeatMaps {
    fn default() -> SeatMaps {
        SeatMaps {
            maps: moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .expire_after(FromAsked)
                .build(),
        }
    }
}

impl SeatMaps {
    /// Drops `performance`'s map: its seats changed.
    pub(crate) async fn drop_map(&self, performance: Uuid) {
        self.maps.invalidate(&performance).await;
        metrics::counter!("gateway.seat_map.dropped").increment(1);
    }

    /// The map of `performance`, from the cache or one shared upstream fetch.
    async fn get(&self, upstreams: &Upstreams, performance: Uuid) -> Result<SeatMap, Answer> {
        let fetch = async {
            let asked = Instant::now();
            let path = format!("/api/events/{performance}/seats");
            let answer = upstreams
                .get(ServiceName::EventService, &path)
                .await
                .map_err(|problem| Answer::problem(&problem))?;
            if answer.status != StatusCode::OK {
                return Err(answer);
            }
            let etag = etag_of(&answer.body);
            Ok(SeatMap {
                answer,
                etag,
                asked,
            })
        };
        match self.maps.entry(performance).or_try_insert_with(fetch).await {
            Ok(entry) => {
                let cache = if entry.is_fresh() { "miss" } else { "hit" };
                metrics::counter!("gateway.seat_map.reads", "cache" => cache).increment(1);
                Ok(entry.into_value())
            }
            Err(shared) => {
                // Not kept, so not answered from the cache either.
                metrics::counter!("gateway.seat_map.reads", "cache" => "miss").increment(1);
                Err(Answer::clone(&shared))
            }
        }
    }
}

/// Drops a performance's map when a hold on it succeeds through the gateway
/// (`POST /api/reservations`), so the holder's next read shows the seats
/// held. Other requests pass untouched.
pub(crate) async fn follow_holds(
    State(maps): State<SeatMaps>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != Method::POST || req.uri().path() != HOLDS_PATH {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than the {MAX_BODY_BYTES} bytes the gateway accepts"),
        )
        .into_response();
    };
    #[derive(serde::Deserialize)]
    struct Hold {
        performance_id: Uuid,
    }
    let performance = serde_json::from_slice::<Hold>(&body)
        .ok()
        .map(|h| h.performance_id);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if let (Some(performance), true) = (performance, response.status().is_success()) {
        maps.drop_map(performance).await;
    }
    response
}

/// A strong validator: the first 16 bytes of the body's SHA-256, quoted.
fn etag_of(body: &Bytes) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 section
/// 8.8.3.2: a `W/` prefix is ignored) or is `*`.
fn not_modified(asked: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    asked
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `GET /api/events/{id}/seats`, through the cache. A query string or an id
/// that is not a UUID goes to the event service as any other request does.
pub(crate) async fn serve(
    State(upstreams): State<Upstreams>,
    State(maps): State<SeatMaps>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let performance = match Uuid::parse_str(&id) {
        Ok(id) if req.uri().query().is_none() => id,
        _ => return crate::proxy::forward(State(upstreams), req).await,
    };
    let map = match maps.get(&upstreams, performance).await {
        Ok(map) => map,
        Err(answer) => return answer.into_response(),
    };
    let mut response = if not_modified(req.headers(), &map.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        map.answer.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, map.etag);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=1"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_a_list_or_a_star() {
        let etag = etag_of(&Bytes::from_static(b"{\"seats\":[]}"));
        let tag = etag.to_str().unwrap_or_default().to_owned();
        let asking = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(not_modified(&asking(&tag), &etag));
        assert!(not_modified(&asking(&format!("W/{tag}")), &etag));
        assert!(not_modified(&asking(&format!("\"other\", {tag}")), &etag));
        assert!(not_modified(&asking("*"), &etag));
        assert!(!not_modified(&asking("\"other\""), &etag));
        assert!(!not_modified(&HeaderMap::new(), &etag));
    }

    #[test]
    fn the_etag_follows_the_body() {
        let a = etag_of(&Bytes::from_static(b"a"));
        assert_eq!(a, etag_of(&Bytes::from_static(b"a")));
        assert_ne!(a, etag_of(&Bytes::from_static(b"b")));
        assert_eq!(a.len(), 34, "16 bytes in hex, quoted");
    }

    #[test]
    fn an_entry_expires_a_second_after_its_fetch_began() {
        let asked = Instant::now();
        let map = SeatMap {
            answer: Answer::problem(&ApiError::not_found("x", "x")),
            etag: HeaderValue::from_static("\"x\""),
            asked,
        };
        let id = Uuid::nil();
        let left = |after| moka::Expiry::expire_after_create(&FromAsked, &id, &map, after);
        assert_eq!(left(asked), Some(MAX_AGE));
        assert_eq!(
            left(asked + Duration::from_millis(300)),
            Some(Duration::from_millis(700))
        );
        assert_eq!(left(asked + Duration::from_secs(2)), Some(Duration::ZERO));
    }
}
