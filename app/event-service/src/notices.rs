//! Notices to customers: `GET /api/notices` (public, cached for
//! `ticketing_catalog::notices::CACHE_SECONDS`) lists the active ones;
//! operators post (`POST /api/notices`) and end (`POST
//! /api/notices/{id}/end`) them, through `opsctl notice` and the runbooks.
//! Customers get 403.

use axum::extract::{FromRef, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use ticketing_catalog::notices::{CACHE_SECONDS, FLOWS, SEVERITIES};
use ticketing_http::{ApiError, Authenticator, Json, Operator};
use ticketing_redis::Redis;
use uuid::Uuid;

/// Longest message, in characters, per language.
const MAX_MESSAGE: usize = 500;

#[derive(Clone, FromRef)]
pub(crate) struct NoticeState {
    pub(crate) db: PgPool,
    pub(crate) redis: Redis,
    pub(crate) auth: Authenticator,
}

pub(crate) fn routes(state: NoticeState) -> Router {
    Router::new()
        .route("/api/notices", get(active).post(create))
        .route("/api/notices/{id}/end", post(end))
        .with_state(state)
}

/// A notice as customers and operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Notice {
    pub id: Uuid,
    pub template: Option<String>,
    pub severity: String,
    pub message_ko: String,
    pub message_en: String,
    pub flows: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Active {
    notices: Vec<Notice>,
}

/// What an operator posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewNotice {
    #[serde(default)]
    template: Option<String>,
    severity: String,
    message_ko: String,
    message_en: String,
    flows: Vec<String>,
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, template, severity, message_ko, message_en, flows, starts_at, ends_at, ended_at";

fn cache_key(redis: &Redis) -> String {
    redis.key("notices:active")
}

fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> ApiError {
    move |e| ApiError::internal(anyhow::Error::new(e).context(what))
}

/// `GET /api/notices`: the active notices, newest first, from cache when
/// it has them (Redis trouble counts as a miss).
async fn active(State(state): State<NoticeState>) -> Result<Response, ApiError> {
    let key = cache_key(&state.redis);
    let mut conn = state.redis.conn().await.ok();
    let cached: Option<String> = match conn.as_mut() {
        Some(c) => c.get(key.as_str()).await.ok().flatten(),
        None => None,
    };
    let body = match cached {
        Some(body) => body,
        None => {
            let notices = sqlx::query_as::<_, Notice>(&format!(
                "SELECT {COLUMNS} FROM notices WHERE ended_at IS NULL AND starts_at <= now() \
                 AND (ends_at IS NULL OR ends_at > now()) ORDER BY starts_at DESC, id LIMIT 50"
            ))
            .fetch_all(&state.db)
            .await
            .map_err(db_error("listing notices"))?;
            let body = serde_json::to_string(&Active { notices })
                .map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;
            if let Some(c) = conn.as_mut() {
                let stored: Result<(), _> =
                    c.set_ex(key.as_str(), body.as_str(), CACHE_SECONDS).await;
                if let Err(e) = stored {
                    tracing::debug!(error = %e, "notices not cached");
                }
            }
            body
        }
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={CACHE_SECONDS}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    Ok(response)
}

/// The checks on a new notice, as one message naming every problem.
fn validate(new: &NewNotice, now: DateTime<Utc>) -> Result<(), String> {
    let mut problems = Vec::new();
    if !SEVERITIES.contains(&new.severity.as_str()) {
        problems.push(format!(
            "`severity` must be one of {}",
            SEVERITIES.join(", ")
        ));
    }
    for (field, text) in [
        ("message_ko", &new.message_ko),
        ("message_en", &new.message_en),
    ] {
        let n = text.trim().chars().count();
        if n == 0 || n > MAX_MESSAGE {
            problems.push(format!("`{field}` must be 1 to {MAX_MESSAGE} characters"));
        }
    }
    if new.flows.is_empty() || new.flows.iter().any(|f| !FLOWS.contains(&f.as_str())) {
        problems.push(format!(
            "`flows` must name one or more of {}",
            FLOWS.join(", ")
        ));
    }
    if let Some(t) = &new.template {
        if t.is_empty() || t.chars().count() > 64 {
            problems.push("`template` must be 1 to 64 characters".to_owned());
        }
    }
    let starts = new.starts_at.unwrap_or(now);
    if new.ends_at.is_some_and(|end| end <= starts) {
        problems.push("`ends_at` must be after `starts_at`".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

async fn drop_cache(redis: &Redis) {
    match redis.conn().await {
        Ok(mut conn) => {
            let dropped: Result<(), _> = conn.del(cache_key(redis)).await;
            if let Err(e) = dropped {
                tracing::warn!(error = %e, "notice cache not dropped; it expires by TTL");
            }
        }
        Err(e) => tracing::warn!(error = %e, "notice cache not dropped; it expires by TTL"),
    }
}

/// `POST /api/notices` (operators).
async fn create(
    State(state): State<NoticeState>,
    Operator(operator): Operator,
    Json(new): Json<NewNotice>,
) -> Result<(StatusCode, Json<Notice>), ApiError> {
    let now = Utc::now();
    validate(&new, now).map_err(|detail| ApiError::unprocessable("invalid_notice", detail))?;
    let notice = sqlx::query_as::<_, Notice>(&format!(
        "INSERT INTO notices (id, template, severity, message_ko, message_en, flows, starts_at, ends_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&new.template)
    .bind(&new.severity)
    .bind(new.message_ko.trim())
    .bind(new.message_en.trim())
    .bind(&new.flows)
    .bind(new.starts_at.unwrap_or(now))
    .bind(new.ends_at)
    .bind(operator)
    .fetch_one(&state.db)
    .await
    .map_err(db_error("posting a notice"))?;
    drop_cache(&state.redis).await;
    tracing::info!(notice = %notice.id, template = ?notice.template, "notice posted");
    Ok((StatusCode::CREATED, Json(notice)))
}

/// `POST /api/notices/{id}/end` (operators): ends it now; ending an ended
/// notice again changes nothing.
async fn end(
    State(state): State<NoticeState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<Json<Notice>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| {
        ApiError::bad_request("invalid_id", format!("`{id}` is not a notice id (a UUID)"))
    })?;
    let notice = sqlx::query_as::<_, Notice>(&format!(
        "UPDATE notices SET ended_at = coalesce(ended_at, now()), ended_by = coalesce(ended_by, $2) \
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(operator)
    .fetch_optional(&state.db)
    .await
    .map_err(db_error("ending a notice"))?
    .ok_or_else(|| ApiError::not_found("no_such_notice", format!("there is no notice {id}")))?;
    drop_cache(&state.redis).await;
    tracing::info!(notice = %notice.id, "notice ended");
    Ok(Json(notice))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> NewNotice {
        NewNotice {
            template: Some("booking-delay".into()),
            severity: "warning".into(),
            message_ko: "지연".into(),
            message_en: "Delayed".into(),
            flows: vec!["booking".into()],
            starts_at: None,
            ends_at: None,
        }
    }

    #[test]
    fn a_well_formed_notice_passes() {
        assert_eq!(validate(&notice(), Utc::now()), Ok(()));
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let now = Utc::now();
        let bad = NewNotice {
            severity: "panic".into(),
            message_en: " ".into(),
            message_ko: "가".repeat(501),
            flows: vec!["checkout".into()],
            ends_at: Some(now - chrono::Duration::minutes(1)),
            ..notice()
        };
        let problems = validate(&bad, now).expect_err("invalid");
        for expected in ["severity", "message_ko", "message_en", "flows", "ends_at"] {
            assert!(problems.contains(expected), "{problems}");
        }
        let no_flows = NewNotice {
            flows: vec![],
            ..notice()
        };
        assert!(validate(&no_flows, now).is_err());
    }
}
