//! user-service: accounts, login and identity verification.
//!
//! * `POST /api/users/signup`: reCAPTCHA, then PortOne's certification lookup
//!   (the person behind the account); CI and DI are kept only as keyed hashes
//!   and a second account for the same person is refused. Passwords are
//!   hashed with argon2.
//! * `POST /api/users/login`: an access token (JWT, HS256, with a key id so
//!   the signing key can be rotated).
//! * `GET /api/users/me`: the caller's account.

use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx::PgPool;
use ticketing_catalog::ServiceName;
use ticketing_http::{ApiError, AuthUser, Authenticator, Json, ServiceApp};
use ticketing_portone::{PortOne, PortOneError};
use ticketing_runtime::recaptcha::Recaptcha;
use ticketing_runtime::{RuntimeError, ServiceContext};
use uuid::Uuid;

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, FromRef)]
struct AppState {
    db: PgPool,
    auth: Authenticator,
    recaptcha: Arc<Recaptcha>,
    portone: Arc<PortOne>,
    identity_key: Arc<SecretString>,
}

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let state = AppState {
        db: ctx.db()?.clone(),
        auth: ctx.authenticator(),
        recaptcha: Arc::new(ctx.recaptcha()),
        portone: Arc::new(ctx.portone()?),
        identity_key: Arc::new(ctx.secrets.identity_hash_key.clone()),
    };
    Ok(ServiceApp::new(
        ServiceName::UserService,
        Router::new()
            .route("/api/users/signup", post(signup))
            .route("/api/users/login", post(login))
            .route("/api/users/me", get(me))
            .with_state(state),
        vec![ctx.postgres_probe()?, ctx.redis_probe()],
    )
    .with_openapi(include_str!("../openapi.json")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupRequest {
    email: String,
    password: String,
    /// The `imp_uid` of the PortOne identity verification the user completed.
    certification_imp_uid: String,
    recaptcha_token: String,
}

#[derive(Debug, Serialize)]
struct Account {
    id: Uuid,
    email: String,
    name: Option<String>,
    created_at: DateTime<Utc>,
}

fn validate_credentials(email: &str, password: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let valid_email = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !valid_email {
        return Err(ApiError::unprocessable(
            "invalid_email",
            "`email` must be an address like name@example.com",
        ));
    }
    let length = password.chars().count();
    if !(10..=128).contains(&length) {
        return Err(ApiError::unprocessable(
            "weak_password",
            "`password` must be 10 to 128 characters long",
        ));
    }
    Ok(email)
}

/// HMAC-SHA256 of an identity value under `IDENTITY_HASH_KEY`, hex.
fn identity_hash(key: &SecretString, value: &str) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(value.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn client_ip(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
}

async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await
    .map_err(|e| ApiError::internal(e.into()))?
    .map_err(ApiError::internal)
}

/// `POST /api/users/signup`.
async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<SignupRequest>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    let email = validate_credentials(&request.email, &request.password)?;
    state
        .recaptcha
        .verify(&request.recaptcha_token, client_ip(&headers).as_deref())
        .await?;
    let certification = state
        .portone
        .certification(request.certification_imp_uid.trim())
        .await
        .map_err(|e| match e {
            PortOneError::NotFound { .. } => ApiError::unprocessable(
                "unknown_certification",
                "PortOne has no identity verification with that `certification_imp_uid`; verify your identity again",
            ),
            other => ApiError::bad_gateway(
                "portone_unavailable",
                format!("identity verification could not be checked: {other}; try again shortly"),
            ),
        })?;
    if !certification.certified {
        return Err(ApiError::unprocessable(
            "not_certified",
            "the identity verification was not completed; finish it and sign up again",
        ));
    }
    let ci_hash = identity_hash(&state.identity_key, &certification.unique_key);
    let di_hash = certification
        .unique_in_site
        .as_deref()
        .map(|di| identity_hash(&state.identity_key, di));
    let password_hash = hash_password(request.password).await?;
    let id = Uuid::now_v7();
    let inserted = sqlx::query_as::<_, (DateTime<Utc>,)>(
        "INSERT INTO users (id, email, password_hash, name, identity_hash, di_hash) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at",
    )
    .bind(id)
    .bind(&email)
    .bind(&password_hash)
    .bind(&certification.name)
    .bind(&ci_hash)
    .bind(&di_hash)
    .fetch_one(&state.db)
    .await;
    let (created_at,) = inserted.map_err(|e| match unique_violation(&e) {
        Some(c) if c.contains("email") => ApiError::conflict(
            "email_taken",
            "an account with this email already exists; log in instead",
        ),
        Some(c) if c.contains("identity") => ApiError::conflict(
            "person_has_account",
            "this person already has an account (one account per person); log in with it",
        ),
        _ => ApiError::internal(anyhow::Error::new(e).context("creating the account")),
    })?;
    tracing::info!(user_id = %id, "account created");
    Ok((
        StatusCode::CREATED,
        Json(Account {
            id,
            email,
            name: certification.name,
            created_at,
        }),
    ))
}

/// The constraint a unique violation names, if `e` is one.
fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Debug, Serialize)]
struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

/// `POST /api/users/login`.
async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> Result<Json<TokenAnswer>, ApiError> {
    let refused = || ApiError::unauthorized("bad_credentials", "wrong email or password");
    let email = request.email.trim().to_lowercase();
    let row: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&state.db)
            .await
            .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("looking up a user")))?;
    let Some((id, stored)) = row else {
        return Err(refused());
    };
    let password = request.password;
    let matches = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(|e| ApiError::internal(e.into()))?;
    if !matches {
        return Err(refused());
    }
    let (access_token, expires_in) = state.auth.issue(id);
    Ok(Json(TokenAnswer {
        access_token,
        token_type: "Bearer",
        expires_in,
    }))
}

/// `GET /api/users/me`.
async fn me(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Account>, ApiError> {
    let account = sqlx::query_as::<_, (Uuid, String, Option<String>, DateTime<Utc>)>(
        "SELECT id, email, name, created_at FROM users WHERE id = $1",
    )
    .bind(user)
    .fetch_optional(&state.db)
    .await
    .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("reading an account")))?
    .ok_or_else(|| {
        ApiError::not_found("no_such_user", "the account of this token no longer exists")
    })?;
    Ok(Json(Account {
        id: account.0,
        email: account.1,
        name: account.2,
        created_at: account.3,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_checked_before_anything_is_written() {
        assert_eq!(
            validate_credentials(" Kim@Example.COM ", "long enough pw").ok(),
            Some("kim@example.com".to_owned())
        );
        assert!(validate_credentials("no-at-sign", "long enough pw").is_err());
        assert!(validate_credentials("a@b", "long enough pw").is_err());
        assert!(validate_credentials("kim@example.com", "short").is_err());
    }

    #[test]
    fn identity_hashes_are_keyed() {
        let a = SecretString::from("key-a".to_owned());
        let b = SecretString::from("key-b".to_owned());
        assert_eq!(identity_hash(&a, "ci"), identity_hash(&a, "ci"));
        assert_ne!(identity_hash(&a, "ci"), identity_hash(&b, "ci"));
        assert_eq!(identity_hash(&a, "ci").len(), 64);
    }
}
