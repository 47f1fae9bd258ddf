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

use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use ticketing_catalog::ServiceName;
use ticketing_http::{ApiError, AuthUser, Authenticator, Json, ServiceApp};
use ticketing_portone::{PortOne, PortOneError};
use ticketing_runtime::recaptcha::Recaptcha;
use ticketing_runtime::{RuntimeError, ServiceContext};
use uuid::Uuid;

mod attempts;
mod domain;
pub mod repository;

use crate::repository::Account;

use crate::attempts::LoginAttempts;
use crate::domain::{
    decoy_hash, hash_password, identity_hash, password_matches, validate_credentials,
};

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, FromRef)]
struct AppState {
    db: PgPool,
    auth: Authenticator,
    recaptcha: Arc<Recaptcha>,
    portone: Arc<PortOne>,
    identity_key: Arc<SecretString>,
    attempts: LoginAttempts,
    trusted_proxies: usize,
}

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let state = AppState {
        db: ctx.db()?.clone(),
        auth: ctx.authenticator(),
        recaptcha: Arc::new(ctx.recaptcha()),
        portone: Arc::new(ctx.portone()?),
        identity_key: Arc::new(ctx.secrets.identity_hash_key.clone()),
        attempts: LoginAttempts {
            redis: ctx.redis.clone(),
            key: Arc::new(ctx.secrets.identity_hash_key.clone()),
        },
        trusted_proxies: ctx.settings.booking.trusted_proxies,
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

/// `POST /api/users/signup`.
async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<SignupRequest>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    let email = validate_credentials(&request.email, &request.password)?;
    state
        .recaptcha
        .verify(
            &request.recaptcha_token,
            // Behind the gateway, which forwards the header unchanged: the
            // ALB's entry is the client's.
            ticketing_http::client_address(&headers, None, state.trusted_proxies).as_deref(),
        )
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
    let inserted = repository::insert_user(
        &state.db,
        &repository::NewUser {
            id,
            email: &email,
            password_hash: &password_hash,
            name: certification.name.as_deref(),
            identity_hash: &ci_hash,
            di_hash: di_hash.as_deref(),
        },
    )
    .await;
    // One answer whether the e-mail or the person has the account: which
    // e-mails have accounts is not told to whoever asks.
    let created_at = inserted.map_err(|e| match repository::unique_violation(&e) {
        Some(c) if c.contains("email") || c.contains("identity") => ApiError::conflict(
            "account_exists",
            "an account already exists for this e-mail or for this person (one account per person); log in with it",
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
    if let Some(locked) = state.attempts.locked(&email).await {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!(
                "{} failed logins for this account in a row; try again in {} s",
                locked.failures, locked.seconds
            ),
        )
        .with("attempts", serde_json::json!(locked.failures))
        .retry_after(locked.seconds));
    }
    let row = repository::credentials(&state.db, &email)
        .await
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("looking up a user")))?;
    // An e-mail without an account is checked against a decoy hash: the
    // same answer, after the same work, as a wrong password.
    let (account, stored) = match row {
        Some((id, stored, role)) => (Some((id, role)), stored),
        None => (None, decoy_hash().await?),
    };
    let matches = password_matches(stored, request.password).await?;
    let Some((id, role)) = account.filter(|_| matches) else {
        state.attempts.failed(&email).await;
        return Err(refused());
    };
    state.attempts.succeeded(&email).await;
    let role = (role.as_deref() == Some(repository::ORGANISER))
        .then_some(ticketing_tokens::Role::Organiser);
    let (access_token, expires_in) = state.auth.issue_with(id, role);
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
    let account = repository::account(&state.db, user)
        .await
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("reading an account")))?
        .ok_or_else(|| {
            ApiError::not_found("no_such_user", "the account of this token no longer exists")
        })?;
    Ok(Json(account))
}
