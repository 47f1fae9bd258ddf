//! Access-token checks for handlers: [`AuthUser`] extracts the user of a
//! valid `Authorization: Bearer <jwt>` or answers 401 problem+json.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use chrono::{Duration, Utc};
use ticketing_tokens::{AccessClaims, Keyring, Role, TokenError};
use uuid::Uuid;

use crate::ApiError;

/// Issues and verifies access tokens.
#[derive(Clone, Debug)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    keys: Keyring,
    issuer: String,
    ttl: Duration,
}

impl Authenticator {
    pub fn new(keys: Keyring, issuer: impl Into<String>, ttl_seconds: i64) -> Authenticator {
        Authenticator {
            inner: Arc::new(Inner {
                keys,
                issuer: issuer.into(),
                ttl: Duration::seconds(ttl_seconds),
            }),
        }
    }

    /// A token for `user` and its lifetime in seconds.
    pub fn issue(&self, user: Uuid) -> (String, i64) {
        self.issue_with(user, None)
    }

    /// A token for `user` with `role` (an operator's, minted by opsctl).
    pub fn issue_with(&self, user: Uuid, role: Option<Role>) -> (String, i64) {
        let now = Utc::now();
        let claims = AccessClaims {
            sub: user,
            iss: self.inner.issuer.clone(),
            iat: now.timestamp(),
            exp: (now + self.inner.ttl).timestamp(),
            role,
        };
        (
            ticketing_tokens::issue_access(&self.inner.keys, &claims),
            self.inner.ttl.num_seconds(),
        )
    }

    /// Verifies an `Authorization` header value.
    pub fn verify_header(&self, header: Option<&str>) -> Result<AccessClaims, ApiError> {
        let Some(value) = header else {
            return Err(ApiError::unauthorized(
                "missing_token",
                "this endpoint needs `Authorization: Bearer <access token>`; log in first",
            ));
        };
        let token = value.strip_prefix("Bearer ").ok_or_else(|| {
            ApiError::unauthorized(
                "malformed_token",
                "the Authorization header must be `Bearer <access token>`",
            )
        })?;
        ticketing_tokens::verify_access(&self.inner.keys, token, &self.inner.issuer, Utc::now())
            .map_err(|e| token_error("invalid_token", e))
    }
}

/// A token problem as a 401 (expired, forged, malformed) with its reason.
pub fn token_error(code: &'static str, error: TokenError) -> ApiError {
    let code = match error {
        TokenError::Expired { .. } => "token_expired",
        _ => code,
    };
    ApiError::unauthorized(code, error.to_string())
}

/// The claims of the request's `Authorization` header, verified.
fn verified<S>(parts: &Parts, state: &S) -> Result<AccessClaims, ApiError>
where
    Authenticator: FromRef<S>,
{
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    Authenticator::from_ref(state).verify_header(header)
}

/// The user of a request whose verified token has one of `allowed`; 401
/// without a valid token, 403 `code` with `detail` for any other role.
fn with_role<S>(
    parts: &Parts,
    state: &S,
    allowed: &[Role],
    code: &'static str,
    detail: &'static str,
) -> Result<Uuid, ApiError>
where
    Authenticator: FromRef<S>,
{
    let claims = verified(parts, state)?;
    match claims.role {
        Some(role) if allowed.contains(&role) => Ok(claims.sub),
        _ => Err(ApiError::forbidden(code, detail)),
    }
}

/// An operator's request: a valid access token with the operator role.
/// Anyone else gets 401 (no or a bad token) or 403 (a customer's token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator(pub Uuid);

impl<S> FromRequestParts<S> for Operator
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Operator, ApiError> {
        with_role(
            parts,
            state,
            &[Role::Operator],
            "operators_only",
            "only the platform's operators may do this (with a token from opsctl); customers cannot",
        )
        .map(Operator)
    }
}

/// An organiser's request (or an operator's): creating performances.
/// Customers get 403 problem+json, no or a bad token 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Organiser(pub Uuid);

impl<S> FromRequestParts<S> for Organiser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Organiser, ApiError> {
        with_role(
            parts,
            state,
            &[Role::Organiser, Role::Operator],
            "organisers_only",
            "only organisers may create performances; an operator grants the role (opsctl users grant-organiser), then log in again",
        )
        .map(Organiser)
    }
}

/// The authenticated user of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser(pub Uuid);

impl<S> FromRequestParts<S> for AuthUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<AuthUser, ApiError> {
        verified(parts, state).map(|c| AuthUser(c.sub))
    }
}
