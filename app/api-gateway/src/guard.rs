//! What the gateway checks before a request reaches a service: a per-client
//! rate limit (PortOne's webhook has its own per source, and PortOne's own
//! networks are never limited), an access token on every non-public route,
//! and a valid `qr_` reservation token (the caller's own) on seat holds.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use ticketing_http::{ApiError, Authenticator};
use ticketing_redis::Redis;
use ticketing_tokens::{Keyring, ReservationClaims};

use crate::rate_limit::{granted, Bucket, Leases};

/// The header carrying the `qr_` token (as the reservation service reads it).
pub const QUEUE_TOKEN_HEADER: &str = "x-queue-token";

#[derive(Clone)]
pub(crate) struct Guard {
    pub(crate) auth: Authenticator,
    pub(crate) queue_keys: Keyring,
    pub(crate) redis: Redis,
    pub(crate) per_second: u32,
    /// Notices per second one source may post to the webhook.
    pub(crate) webhook_per_second: u32,
    /// PortOne's networks: their notices are never limited.
    pub(crate) webhook_sources: Vec<ipnet::IpNet>,
    /// Proxies in front whose `X-Forwarded-For` entries are believed.
    pub(crate) trusted_proxies: usize,
    /// The rate limit's tokens this instance holds (`rate_limit.rs`).
    pub(crate) leases: Arc<Leases>,
}

/// Routes anyone may call without an access token.
pub fn is_public(method: &Method, path: &str) -> bool {
    match (method, path) {
        (&Method::POST, "/api/users/signup" | "/api/users/login") => true,
        (&Method::POST, WEBHOOK_PATH) => true,
        (&Method::GET, p) => {
            p == "/api/events" || p.starts_with("/api/events/") || p == "/api/notices"
        }
        (&Method::OPTIONS, _) => true,
        _ => false,
    }
}

/// Routes that need a reservation token as well.
pub fn needs_queue_token(method: &Method, path: &str) -> bool {
    method == Method::POST && path == "/api/reservations"
}

/// The client: the address the trusted proxies (the ALB) say sent the
/// request (`ticketing_http::client_address`), else the peer address.
fn client_of(request: &Request, trusted_proxies: usize) -> String {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    ticketing_http::client_address(request.headers(), peer, trusted_proxies)
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The webhook's path (PortOne posts its notices there).
pub const WEBHOOK_PATH: &str = "/webhooks/portone";

/// The bucket of a request for `path` from `client`, given PortOne's
/// networks.
fn bucket_of(path: &str, client: &str, portone: &[ipnet::IpNet]) -> Bucket {
    if path != WEBHOOK_PATH {
        return Bucket::Api;
    }
    let from_portone = client
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| portone.iter().any(|net| net.contains(&ip)));
    if from_portone {
        Bucket::PortOne
    } else {
        Bucket::Webhook
    }
}

impl Guard {
    /// Whether `client` is within its limit this second (`rate_limit.rs`:
    /// a window in Redis shared by every gateway instance, its tokens
    /// leased to this one in growing batches). When Redis is down the
    /// limit is not enforced: availability of the booking path wins over
    /// the limit.
    async fn within_limit(&self, bucket: Bucket, client: &str) -> bool {
        let (prefix, limit) = match bucket {
            Bucket::Api => ("rl", self.per_second),
            Bucket::Webhook => ("rl-webhook", self.webhook_per_second),
            Bucket::PortOne => return true,
        };
        let second = Utc::now().timestamp();
        let Err(ask) = self.leases.take(second, bucket, client) else {
            return true;
        };
        let key = self.redis.key(&format!("{prefix}:{client}:{second}"));
        let Ok(mut conn) = self.redis.conn().await else {
            return true;
        };
        let counted: Result<(i64,), _> = redis::pipe()
            .atomic()
            .incr(&key, ask.tokens)
            .expire(&key, 2)
            .ignore()
            .query_async(&mut conn)
            .await;
        match counted {
            Ok((after,)) => {
                let granted = granted(limit, after, ask.tokens);
                self.leases
                    .keep(second, bucket, client, ask, granted, limit);
                granted > 0
            }
            Err(e) => {
                tracing::debug!(error = %e, "rate limit not checked");
                true
            }
        }
    }
}

/// Whether `path` has a segment that walks the path tree (`.`, `..`, also
/// percent-encoded) or an encoded slash or backslash. The gateway forwards
/// exactly the path it authorised; such a path could be checked as one route
/// and land on another once normalised (`/api/events/%2e%2e/%2e%2e/metrics`
/// reaching a service's `/metrics`), so it is refused before any check.
pub fn walks_the_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') {
        return true;
    }
    lower
        .split('/')
        .map(|segment| segment.replace("%2e", "."))
        .any(|segment| segment == "." || segment == "..")
}

pub(crate) async fn screen(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    let asked = Asked {
        method: request.method().clone(),
        path: request.uri().path().to_owned(),
        client: client_of(&request, guard.trusted_proxies),
        authorization: header_value(
            request.headers(),
            axum::http::header::AUTHORIZATION.as_str(),
        ),
        queue_token: header_value(request.headers(), QUEUE_TOKEN_HEADER),
    };
    if walks_the_path(&asked.path) {
        return ApiError::bad_request(
            "bad_path",
            format!(
                "`{}` has `.` or `..` segments or an encoded slash; ask for the resource's own path",
                asked.path
            ),
        )
        .into_response();
    }
    match admit(&guard, &asked).await {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

fn header_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// What the checks look at, taken out of the request.
struct Asked {
    method: Method,
    path: String,
    client: String,
    authorization: Option<String>,
    queue_token: Option<String>,
}

async fn admit(guard: &Guard, asked: &Asked) -> Result<(), ApiError> {
    let path = asked.path.as_str();
    let method = &asked.method;
    let bucket = bucket_of(path, &asked.client, &guard.webhook_sources);
    if !guard.within_limit(bucket, &asked.client).await {
        metrics::counter!("gateway.rate_limited").increment(1);
        return Err(match bucket {
            Bucket::Webhook => ApiError::too_many_requests(format!(
                "more than {} notices per second from this source; PortOne's own networks \
                 (booking.webhook_sources) are not limited",
                guard.webhook_per_second
            )),
            _ => ApiError::too_many_requests(format!(
                "more than {} requests per second from this client; slow down and retry",
                guard.per_second
            )),
        }
        .retry_after(1));
    }
    // Public routes, and paths no service owns (the proxy answers those
    // with a 404 naming the path), need no token.
    if is_public(method, path) || crate::route_for(path).is_none() {
        return Ok(());
    }
    let claims = guard.auth.verify_header(asked.authorization.as_deref())?;
    if needs_queue_token(method, path) {
        let token = asked.queue_token.as_deref().unwrap_or_default();
        let queue =
            ticketing_tokens::verify::<ReservationClaims>(&guard.queue_keys, token, Utc::now())
                .map_err(|e| {
                    ApiError::forbidden(
                        "invalid_queue_token",
                        format!("{e}; pass the waiting room first (header `X-Queue-Token`)"),
                    )
                })?;
        if queue.sub != claims.sub {
            return Err(ApiError::forbidden(
                "foreign_queue_token",
                "this reservation token was issued to another user",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sign_up_login_browsing_and_the_webhook_are_public() {
        assert!(is_public(&Method::POST, "/api/users/login"));
        assert!(is_public(&Method::GET, "/api/events/abc/seats"));
        assert!(is_public(&Method::POST, "/webhooks/portone"));
        assert!(!is_public(&Method::POST, "/api/events"));
        assert!(is_public(&Method::GET, "/api/notices"));
        assert!(!is_public(&Method::POST, "/api/notices"));
        assert!(!is_public(&Method::POST, "/api/notices/abc/end"));
        assert!(!is_public(&Method::GET, "/api/users/me"));
        assert!(!is_public(&Method::POST, "/api/reservations"));
        assert!(!is_public(&Method::GET, "/api/eventsx"));
        assert!(needs_queue_token(&Method::POST, "/api/reservations"));
        assert!(!needs_queue_token(&Method::GET, "/api/reservations"));
    }

    #[test]
    fn webhook_notices_count_per_source_apart_and_portone_networks_are_never_limited() {
        let portone: Vec<ipnet::IpNet> = vec!["198.51.100.0/28".parse().expect("cidr")];
        assert_eq!(
            bucket_of(WEBHOOK_PATH, "198.51.100.7", &portone),
            Bucket::PortOne
        );
        assert_eq!(
            bucket_of(WEBHOOK_PATH, "198.51.100.16", &portone),
            Bucket::Webhook
        );
        assert_eq!(
            bucket_of(WEBHOOK_PATH, "unknown", &portone),
            Bucket::Webhook
        );
        assert_eq!(bucket_of(WEBHOOK_PATH, "203.0.113.9", &[]), Bucket::Webhook);
        // PortOne's address calling the API is a client like any other.
        assert_eq!(
            bucket_of("/api/events", "198.51.100.7", &portone),
            Bucket::Api
        );
    }

    #[test]
    fn paths_that_walk_the_tree_are_caught_in_every_spelling() {
        for bad in [
            "/api/events/../../metrics",
            "/api/events/%2e%2e/%2e%2e/metrics",
            "/api/events/%2E%2e/ready",
            "/api/events/./x",
            "/api/events/%2e/x",
            "/api/events/a%2fb",
            "/api/events/a%5Cb",
            "/api/events/..",
        ] {
            assert!(walks_the_path(bad), "{bad}");
        }
        for good in [
            "/api/events",
            "/api/events/abc/seats",
            "/api/events/a.b/..c",
            "/webhooks/portone",
        ] {
            assert!(!walks_the_path(good), "{good}");
        }
    }
}
