//! api-gateway: the single entry point.
//!
//! Routes each path prefix to the service that owns it, over HTTP, as it
//! would on ECS, after [`guard`]: a per-client rate limit, an access token
//! on every non-public route, and a valid `qr_` token on seat holds. CORS
//! lets the separately hosted front end (`booking.cors_origins`) call it.

pub mod guard;
mod proxy;
mod rate_limit;
mod seat_maps;

use axum::extract::FromRef;
use axum::routing::{any, get};
use axum::Router;
use ticketing_catalog::ServiceName;
use ticketing_http::ServiceApp;
use ticketing_runtime::{RuntimeError, ServiceContext};

pub use proxy::{route_for, ROUTES};
pub use seat_maps::MAX_AGE as SEAT_MAP_MAX_AGE;

/// What the gateway's routes share: the upstream services and the seat-map
/// micro-cache in front of one of them.
#[derive(Clone, FromRef)]
struct Gateway {
    upstreams: proxy::Upstreams,
    seat_maps: seat_maps::SeatMaps,
}

/// Builds the gateway from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let upstreams = proxy::Upstreams::new(
        &ctx.settings.services,
        ctx.http.clone(),
        ctx.co_located.clone(),
    );
    let probes = ServiceName::ALL
        .into_iter()
        .filter(|s| *s != ServiceName::ApiGateway)
        .map(|s| {
            let mut url = ctx.settings.services.endpoint(s).url.clone();
            url.set_path(ticketing_catalog::http::LIVENESS_PATH);
            ticketing_health::http_ready(s.as_str(), ctx.http.clone(), url)
        })
        .collect();
    let guard = std::sync::Arc::new(guard::Guard {
        auth: ctx.authenticator(),
        queue_keys: ctx.queue_keys(),
        redis: ctx.redis.clone(),
        per_second: ctx.settings.booking.rate_limit_per_second,
        webhook_per_second: ctx.settings.booking.webhook_rate_limit_per_second,
        webhook_sources: ctx.settings.booking.webhook_sources.clone(),
        trusted_proxies: ctx.settings.booking.trusted_proxies,
        leases: Default::default(),
    });
    let state = Gateway {
        upstreams,
        seat_maps: seat_maps::SeatMaps::default(),
    };
    let routes = Router::new()
        // Before the catch-all: a path with a parameter wins over a wildcard.
        .route("/api/events/{id}/seats", get(seat_maps::serve))
        .route("/api/{*rest}", any(proxy::forward))
        .route("/webhooks/{*rest}", any(proxy::forward))
        .layer(axum::middleware::from_fn_with_state(
            state.seat_maps.clone(),
            seat_maps::follow_holds,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(guard, guard::screen))
        .layer(cors(&ctx.settings.booking.cors_origins));
    Ok(ServiceApp::new(ServiceName::ApiGateway, routes, probes)
        .with_openapi(include_str!("../openapi.json")))
}

/// CORS for the front end's origins; none configured, none allowed.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(guard::QUEUE_TOKEN_HEADER),
            HeaderName::from_static(ticketing_http::REQUEST_ID_HEADER),
        ])
        .expose_headers([HeaderName::from_static(ticketing_http::REQUEST_ID_HEADER)])
        .max_age(std::time::Duration::from_secs(600))
}
