//! api-gateway: the single entry point.
//!
//! Routes each path prefix to the service that owns it, over HTTP, as it
//! would on ECS. JWT checks, queue-token enforcement and rate limits arrive
//! with the booking-flow work.

mod proxy;

use axum::routing::any;
use axum::Router;
use ticketing_catalog::ServiceName;
use ticketing_http::ServiceApp;
use ticketing_runtime::{RuntimeError, ServiceContext};

pub use proxy::{route_for, ROUTES};

/// Builds the gateway from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let upstreams = proxy::Upstreams::new(&ctx.settings.services, ctx.http.clone());
    let probes = ServiceName::ALL
        .into_iter()
        .filter(|s| *s != ServiceName::ApiGateway)
        .map(|s| {
            let mut url = ctx.settings.services.endpoint(s).url.clone();
            url.set_path("/health");
            ticketing_health::http_ready(s.as_str(), ctx.http.clone(), url)
        })
        .collect();
    Ok(ServiceApp::new(
        ServiceName::ApiGateway,
        Router::new()
            .route("/api/{*rest}", any(proxy::forward))
            .route("/webhooks/{*rest}", any(proxy::forward))
            .with_state(upstreams),
        probes,
    ))
}
