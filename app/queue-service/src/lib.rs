//! queue-service: the waiting room.
//!
//! One Redis sorted set per performance (`queue:<performance>`), scored by
//! arrival: a per-queue counter Redis increments in the script that adds
//! the user (`queue-seq:<performance>`), so the order is exactly the order
//! entries reached Redis, first come, first served (a clock in
//! milliseconds would tie, and ties sort by user id). Entry is guarded
//! by reCAPTCHA. An admission loop lets `booking.queue_admit_per_interval`
//! users in per `booking.queue_admit_interval_ms` and gives each a
//! reservation token `qr_...`, signed, expiring, bound to the user and the
//! performance, verifiable without a database lookup. A user leaves the
//! queue and gets the token in one Redis script, so several instances never
//! admit the same user twice and a reader always sees them waiting or
//! admitted, never neither.

pub mod controls;
mod domain;
pub mod repository;

pub use domain::{holding, waiting_at, Pace, QueueStatus};

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::Deserialize;
use sqlx::PgPool;
use ticketing_catalog::ServiceName;
use ticketing_config::BookingSettings;
use ticketing_http::{ApiError, AuthUser, Authenticator, Json, ServiceApp};
use ticketing_redis::Redis;
use ticketing_runtime::recaptcha::Recaptcha;
use ticketing_runtime::{RuntimeError, ServiceContext};
use ticketing_tokens::{Keyring, ReservationClaims};
use tokio_util::sync::CancellationToken;
use url::Url;
use uuid::Uuid;

use crate::controls::{Controls, Scope};

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, FromRef)]
struct AppState {
    room: WaitingRoom,
    auth: Authenticator,
    recaptcha: Arc<Recaptcha>,
    http: reqwest::Client,
    event_service: Arc<Url>,
    /// Performances event-service said exist, for a while: a crowd
    /// entering one waiting room asks once, not once per person. Shared
    /// behind an `Arc`: the state is cloned for every request, and a
    /// cache's clone is several reference counts and channel ends.
    known: Arc<moka::sync::Cache<Uuid, ()>>,
}

/// How long a performance event-service confirmed is taken as existing
/// without asking again (a cancelled one may take new entries this long).
const KNOWN_PERFORMANCE_TTL: Duration = Duration::from_secs(30);

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let room = WaitingRoom {
        redis: ctx.redis.clone(),
        db: ctx.db()?.clone(),
        keys: ctx.queue_keys(),
        settings: Arc::new(ctx.settings.booking.clone()),
    };
    let state = AppState {
        room: room.clone(),
        auth: ctx.authenticator(),
        recaptcha: Arc::new(ctx.recaptcha()),
        http: ctx.http.clone(),
        event_service: Arc::new(ctx.settings.services.event_service.url.clone()),
        known: Arc::new(
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(KNOWN_PERFORMANCE_TTL)
                .build(),
        ),
    };
    let shutdown = ctx.shutdown.clone();
    Ok(ServiceApp::new(
        ServiceName::QueueService,
        Router::new()
            .route("/api/queue/{performance_id}/enter", post(enter))
            .route("/api/queue/{performance_id}/status", get(status))
            .with_state(state),
        vec![ctx.postgres_probe()?, ctx.redis_probe()],
    )
    .with_openapi(include_str!("../openapi.json"))
    .with_task("admission-loop", async move {
        room.admission_loop(shutdown).await
    }))
}

/// The waiting rooms in Redis and the admission log in PostgreSQL.
#[derive(Clone)]
struct WaitingRoom {
    redis: Redis,
    db: PgPool,
    keys: Keyring,
    settings: Arc<BookingSettings>,
}

fn redis_down(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(
        "queue_unavailable",
        format!("the waiting room is unavailable right now ({e}); try again shortly"),
    )
}

impl WaitingRoom {
    fn queue_key(&self, performance: Uuid) -> String {
        controls::keys::queue(&self.redis, performance)
    }

    fn admitted_key(&self, performance: Uuid, user: Uuid) -> String {
        self.redis
            .key(&ticketing_catalog::queue::admitted_key(performance, user))
    }

    fn arrivals_key(&self, performance: Uuid) -> String {
        controls::keys::arrivals(&self.redis, performance)
    }

    fn sequence_key(&self, performance: Uuid) -> String {
        controls::keys::sequence(&self.redis, performance)
    }

    fn active_key(&self) -> String {
        controls::keys::active(&self.redis)
    }

    /// The two control keys the standing scripts read last: the
    /// performance's and every performance's.
    fn control_keys(&self, performance: Uuid) -> [String; 2] {
        [
            controls::keys::control(&self.redis, Scope::Performance(performance)),
            controls::keys::control(&self.redis, Scope::All),
        ]
    }

    /// Joins (or stays in) the queue; returns where the user stands. One
    /// script joins and reads, so an admission running at the same moment
    /// cannot slip between the two.
    async fn enter(&self, performance: Uuid, user: Uuid) -> Result<QueueStatus, ApiError> {
        let mut conn = self.redis.conn().await.map_err(redis_down)?;
        let [own, all] = self.control_keys(performance);
        let read: Standing = enter_script()
            .key(self.queue_key(performance))
            .key(self.admitted_key(performance, user))
            .key(self.active_key())
            .key(self.sequence_key(performance))
            .key(self.arrivals_key(performance))
            .key(own)
            .key(all)
            .arg(user.to_string())
            .arg(performance.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(redis_down)?;
        self.standing(read)
            .ok_or_else(|| redis_down("the entry was not recorded"))
    }

    /// Where the user stands, or `None` when neither waiting nor admitted.
    /// Both keys are read in one script: the admission script moves a user
    /// from one to the other in one step, so this sees one or the other.
    async fn status(&self, performance: Uuid, user: Uuid) -> Result<Option<QueueStatus>, ApiError> {
        let mut conn = self.redis.conn().await.map_err(redis_down)?;
        let [own, all] = self.control_keys(performance);
        let read: Standing = standing_script()
            .key(self.queue_key(performance))
            .key(self.admitted_key(performance, user))
            .key(own)
            .key(all)
            .arg(user.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(redis_down)?;
        Ok(self.standing(read))
    }

    /// The status a standing script's answer describes: a token (empty
    /// when none), a queue rank (-1 when not waiting), and the admission
    /// rate controls (`queue set-rate`) that time the wait.
    fn standing(&self, (token, rank, own, all): Standing) -> Option<QueueStatus> {
        let token = token.as_str();
        if let Some(hold) = holding(token) {
            return Some(hold);
        }
        if !token.is_empty() {
            if let Ok(claims) =
                ticketing_tokens::verify::<ReservationClaims>(&self.keys, token, Utc::now())
            {
                return Some(QueueStatus::Admitted {
                    reservation_token: token.to_owned(),
                    expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
                });
            }
        }
        let rate = |raw: String| Controls {
            paused: false,
            per_second: raw.parse().ok(),
        };
        let (_, per_interval, _) = controls::effective(rate(own), rate(all), &self.settings);
        waiting_at(rank, domain::Pace::of(per_interval, &self.settings))
    }

    /// Admits the next users of every active queue, once per interval.
    async fn admission_loop(&self, shutdown: CancellationToken) {
        let mut tick =
            tokio::time::interval(Duration::from_millis(self.settings.queue_admit_interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.admit_round().await {
                tracing::warn!(error = %e, "admission round failed; retrying next interval");
            }
        }
    }

    /// One round: takes up to N users per active queue and issues their
    /// tokens. N, and whether to admit at all, come from the controls
    /// (`opsctl queue`), read once a round for every active queue.
    async fn admit_round(&self) -> anyhow::Result<usize> {
        let mut conn = self.redis.conn().await?;
        let active: Vec<String> = conn.smembers(self.active_key()).await?;
        let mut admitted = 0;
        let ttl = chrono::Duration::seconds(self.settings.reservation_token_ttl_seconds);
        let performances: Vec<(String, Uuid)> = active
            .into_iter()
            .filter_map(|raw| Uuid::parse_str(&raw).ok().map(|p| (raw, p)))
            .collect();
        let mut scopes = vec![Scope::All];
        scopes.extend(performances.iter().map(|(_, p)| Scope::Performance(*p)));
        let controls = controls::read_many(&self.redis, &scopes).await?;
        let all = controls.get(&Scope::All).copied().unwrap_or_default();
        for (raw, performance) in performances {
            let own = controls
                .get(&Scope::Performance(performance))
                .copied()
                .unwrap_or_default();
            let (paused, per_interval, _) = controls::effective(own, all, &self.settings);
            if paused || per_interval == 0 {
                // Waiting goes on; nobody is let in until resumed.
                continue;
            }
            let n = isize::try_from(per_interval).unwrap_or(isize::MAX);
            // The longest-waiting users, oldest first; each leaves the queue
            // only in the step that stores their token.
            let waiting: Vec<String> = conn.zrange(self.queue_key(performance), 0, n - 1).await?;
            if waiting.is_empty() {
                // Retire the queue only if it is still empty: a user who
                // entered since the read above must stay findable, or they
                // would wait forever (seen as a 10 s stall under load).
                let _: i64 = retire_script()
                    .key(self.queue_key(performance))
                    .key(self.active_key())
                    .key(self.sequence_key(performance))
                    .key(self.arrivals_key(performance))
                    .arg(&raw)
                    .invoke_async(&mut conn)
                    .await?;
                continue;
            }
            // One script takes the whole round out of the queue and stores
            // its tokens, one statement logs it: a round costs three round
            // trips, not two per user (at thousands a second, the per-user
            // ones were what held admissions back).
            let now = Utc::now();
            let mut round = Vec::with_capacity(waiting.len());
            for member in waiting {
                let Ok(user) = Uuid::parse_str(&member) else {
                    let _: () = conn.zrem(self.queue_key(performance), &member).await?;
                    continue;
                };
                let claims = ReservationClaims::new(user, performance, now, ttl);
                let token = ticketing_tokens::issue(&self.keys, &claims);
                round.push((member, claims, token));
            }
            if round.is_empty() {
                continue;
            }
            let script = admit_script();
            let mut invocation = script.prepare_invoke();
            invocation
                .key(self.queue_key(performance))
                .key(self.arrivals_key(performance))
                .arg(self.settings.reservation_token_ttl_seconds.max(1));
            for (member, claims, token) in &round {
                invocation
                    .key(self.admitted_key(performance, claims.sub))
                    .arg(member)
                    .arg(token);
            }
            // Users another instance admitted first are not in the answer.
            let taken: Vec<String> = invocation.invoke_async(&mut conn).await?;
            let taken: HashSet<String> = taken.into_iter().collect();
            let (tokens, users): (Vec<Uuid>, Vec<Uuid>) = round
                .iter()
                .filter(|(member, _, _)| taken.contains(member))
                .map(|(_, claims, _)| (claims.jti, claims.sub))
                .unzip();
            let logged = sqlx::query(
                "INSERT INTO admissions (token_id, user_id, performance_id, issued_at, expires_at) \
                 SELECT t, u, $3, $4, $5 FROM UNNEST($1::uuid[], $2::uuid[]) AS x(t, u)",
            )
            .bind(&tokens)
            .bind(&users)
            .bind(performance)
            .bind(now)
            .bind(now + ttl)
            .execute(&self.db)
            .await;
            if let Err(e) = logged {
                // The tokens stand; only the audit rows are missing.
                tracing::warn!(%performance, users = users.len(), error = %e, "admissions not logged");
            }
            admitted += users.len();
            metrics::counter!("queue.admitted.total").increment(users.len() as u64);
        }
        Ok(admitted)
    }
}

/// Takes a round of users out of the queue (KEYS[1]) and its arrival times
/// (KEYS[2]) and stores each one's token, expiring after ARGV[1] s, in one
/// step: user i (from 1) has its token key in KEYS[i + 2], its member in
/// ARGV[2i] and its token in ARGV[2i + 1]. Returns the members this call
/// took (not those no longer waiting: another instance admitted them).
fn admit_script() -> &'static redis::Script {
    static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            "local taken = {} \
         for i = 3, #KEYS do \
           local member = ARGV[2 * i - 4] \
           if redis.call('ZREM', KEYS[1], member) == 1 then \
             redis.call('SET', KEYS[i], ARGV[2 * i - 3], 'EX', ARGV[1]) \
             redis.call('HDEL', KEYS[2], member) \
             taken[#taken + 1] = member \
           end \
         end \
         return taken",
        )
    });
    &SCRIPT
}

/// Drops performance ARGV[1] from the active queues (KEYS[2]), its
/// arrival counter (KEYS[3]) and arrival times (KEYS[4]) only if its queue
/// (KEYS[1]) is empty, in one step with the check.
fn retire_script() -> &'static redis::Script {
    static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            "if redis.call('ZCARD', KEYS[1]) == 0 then \
               redis.call('DEL', KEYS[3], KEYS[4]) \
               return redis.call('SREM', KEYS[2], ARGV[1]) \
             end return 0",
        )
    });
    &SCRIPT
}

/// What the standing scripts answer: the user's token (or ''), queue rank
/// (or -1), and the admission rate set for the performance and for every
/// performance (or '').
type Standing = (String, i64, String, String);

/// Reads a user's token (KEYS[2]) and queue rank (KEYS[1], ARGV[1]), and
/// the rate controls (the last two keys); shared by the two scripts below.
const READ_STANDING: &str = "local t = redis.call('GET', KEYS[2]) or '' \
     local r = redis.call('ZRANK', KEYS[1], ARGV[1]) or -1 \
     local own = redis.call('HGET', KEYS[#KEYS - 1], 'per_second') or '' \
     local all = redis.call('HGET', KEYS[#KEYS], 'per_second') or '' \
     return {t, r, own, all}";

/// Joins the queue (KEYS[1]) with the next arrival number (KEYS[4]),
/// noting when (KEYS[5], Unix ms by the server's clock), and marks it
/// active (KEYS[3], ARGV[2]) unless already admitted (KEYS[2]) or already
/// waiting, then reads the standing. Built (and its SHA1 taken) once, not
/// per request.
fn enter_script() -> &'static redis::Script {
    static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(&format!(
        "if redis.call('EXISTS', KEYS[2]) == 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then \
           redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[4]), ARGV[1]) \
           local now = redis.call('TIME') \
           redis.call('HSET', KEYS[5], ARGV[1], now[1] * 1000 + math.floor(now[2] / 1000)) \
           redis.call('SADD', KEYS[3], ARGV[2]) \
         end {READ_STANDING}"
        ))
    });
    &SCRIPT
}

/// Reads the standing only.
fn standing_script() -> &'static redis::Script {
    static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(READ_STANDING));
    &SCRIPT
}

fn parse_performance(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("`{raw}` is not a performance id (a UUID)"),
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnterRequest {
    recaptcha_token: String,
}

/// `POST /api/queue/{performance_id}/enter`.
async fn enter(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(performance): Path<String>,
    headers: HeaderMap,
    Json(request): Json<EnterRequest>,
) -> Result<(StatusCode, Json<QueueStatus>), ApiError> {
    let performance = parse_performance(&performance)?;
    let ip = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned());
    state
        .recaptcha
        .verify(&request.recaptcha_token, ip.as_deref())
        .await?;
    ensure_performance_exists(&state, performance).await?;
    let status = state.room.enter(performance, user).await?;
    let code = match status {
        QueueStatus::Admitted { .. } | QueueStatus::Holding { .. } => StatusCode::OK,
        QueueStatus::Waiting { .. } => StatusCode::ACCEPTED,
    };
    Ok((code, Json(status)))
}

async fn ensure_performance_exists(state: &AppState, performance: Uuid) -> Result<(), ApiError> {
    if state.known.contains_key(&performance) {
        return Ok(());
    }
    let url = state
        .event_service
        .join(&format!("/api/events/{performance}"))
        .map_err(|e| ApiError::internal(e.into()))?;
    let answer = state.http.get(url).send().await.map_err(|e| {
        ApiError::unavailable(
            "event_service_unavailable",
            format!("the performance could not be checked ({e}); try again shortly"),
        )
    })?;
    match answer.status() {
        s if s.is_success() => {
            // Only a performance that exists is remembered: one created a
            // moment after a miss is found at once.
            state.known.insert(performance, ());
            Ok(())
        }
        reqwest::StatusCode::NOT_FOUND => Err(ApiError::not_found(
            "no_such_performance",
            format!("there is no performance {performance}"),
        )),
        s => Err(ApiError::unavailable(
            "event_service_unavailable",
            format!("the performance could not be checked (HTTP {s}); try again shortly"),
        )),
    }
}

/// `GET /api/queue/{performance_id}/status`.
async fn status(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(performance): Path<String>,
) -> Result<Json<QueueStatus>, ApiError> {
    let performance = parse_performance(&performance)?;
    state
        .room
        .status(performance, user)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(
                "not_in_queue",
                "you are not in this waiting room (or your admission expired); enter it first",
            )
        })
}
