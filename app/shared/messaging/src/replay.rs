//! Replay primitives for `opsctl outbox`: the backlog report, re-sending
//! unsent rows now, and re-sending a time range even if marked sent (after a
//! broker lost its disk; consumers are idempotent, so this is safe).
//!
//! Both re-send modes publish through the service's own [`Relay`] code path
//! (same producer settings, same topic names, same headers), paced by an
//! optional rate limit, and report progress after every chunk.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::relay::{Relay, RelayError, Row};

/// Unsent events of one type in one schema.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct BacklogRow {
    pub event_type: String,
    pub topic: String,
    pub unsent: i64,
    pub oldest_created_at: Option<DateTime<Utc>>,
    pub oldest_age_seconds: Option<f64>,
}

/// The backlog of one schema's outbox by event type, oldest first.
pub async fn backlog(pool: &PgPool) -> Result<Vec<BacklogRow>, sqlx::Error> {
    sqlx::query_as::<_, BacklogRow>(
        "SELECT event_type, topic, count(*) AS unsent, min(created_at) AS oldest_created_at, \
                EXTRACT(EPOCH FROM clock_timestamp() - min(created_at))::float8 AS oldest_age_seconds \
         FROM outbox WHERE sent_at IS NULL GROUP BY event_type, topic ORDER BY min(created_at)",
    )
    .fetch_all(pool)
    .await
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the time range is backwards: --since {since} is not before --until {until}")]
    BackwardsRange {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    #[error("the rate limit must be at least 1 event per second")]
    ZeroRate,
    #[error(transparent)]
    Relay(#[from] RelayError),
    #[error("outbox query failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error(
        "the broker acknowledged nothing for {stalled_for:?} ({published} of {total} re-sent; \
         last error: {last_error}); check `opsctl kafka health`, then run the replay again{resume}",
        resume = match resume_from {
            Some(t) => format!(" with --since {}", t.to_rfc3339()),
            None => String::new(),
        }
    )]
    Stalled {
        published: u64,
        total: u64,
        stalled_for: Duration,
        last_error: String,
        /// Where a range replay should restart (`None` for unsent rows: they
        /// are still unsent, a plain re-run picks them up).
        resume_from: Option<DateTime<Utc>>,
    },
}

/// Which rows to re-send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Selection {
    /// Rows not yet marked sent (as of the plan; newer ones are the running
    /// relay's business).
    Unsent,
    /// Every row created in `[since, until)`, sent or not.
    Range {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

impl Selection {
    /// A time range; refuses one that is empty or backwards.
    pub fn range(since: DateTime<Utc>, until: DateTime<Utc>) -> Result<Selection, ReplayError> {
        if since >= until {
            return Err(ReplayError::BackwardsRange { since, until });
        }
        Ok(Selection::Range { since, until })
    }
}

/// What a replay would re-send.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReplayPlan {
    pub selection: Selection,
    pub events: i64,
    /// Of those, how many are already marked sent (re-sent anyway in a range).
    pub already_sent: i64,
    pub by_type: Vec<TypeCount>,
    pub first_created_at: Option<DateTime<Utc>>,
    pub last_created_at: Option<DateTime<Utc>>,
    /// The highest row id covered: rows written after planning are left out.
    pub max_id: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct TypeCount {
    pub event_type: String,
    pub topic: String,
    pub events: i64,
}

/// The rows a selection covers: `$1` since, `$2` until (both optional), `$3`
/// unsent only.
const SELECTED: &str = "($1::timestamptz IS NULL OR created_at >= $1) \
    AND ($2::timestamptz IS NULL OR created_at < $2) AND (NOT $3 OR sent_at IS NULL)";

#[derive(sqlx::FromRow)]
struct Totals {
    events: i64,
    already_sent: i64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    max_id: Option<i64>,
}

/// The rows `selection` covers in one schema's outbox, without touching them.
pub async fn plan(pool: &PgPool, selection: &Selection) -> Result<ReplayPlan, ReplayError> {
    let (since, until, unsent_only) = bounds(selection);
    let totals: Totals = sqlx::query_as(&format!(
        "SELECT count(*) AS events, count(sent_at) AS already_sent, min(created_at) AS first, \
                max(created_at) AS last, max(id) AS max_id \
         FROM outbox WHERE {SELECTED}"
    ))
    .bind(since)
    .bind(until)
    .bind(unsent_only)
    .fetch_one(pool)
    .await?;
    let by_type = sqlx::query_as::<_, TypeCount>(&format!(
        "SELECT event_type, topic, count(*) AS events FROM outbox WHERE {SELECTED} \
         GROUP BY event_type, topic ORDER BY event_type, topic"
    ))
    .bind(since)
    .bind(until)
    .bind(unsent_only)
    .fetch_all(pool)
    .await?;
    Ok(ReplayPlan {
        selection: selection.clone(),
        events: totals.events,
        already_sent: totals.already_sent,
        by_type,
        first_created_at: totals.first,
        last_created_at: totals.last,
        max_id: totals.max_id.unwrap_or(0),
    })
}

/// `(since, until, unsent only)`; no time bounds for unsent rows.
fn bounds(selection: &Selection) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>, bool) {
    match selection {
        Selection::Unsent => (None, None, true),
        Selection::Range { since, until } => (Some(*since), Some(*until), false),
    }
}

/// How to pace a replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Events per second at most; `None` for as fast as the broker takes them.
    pub rate_per_second: Option<u32>,
    /// Rows per round trip (capped at one second's worth under a rate limit).
    pub chunk: i64,
    /// Give up when the broker acknowledges nothing for this long.
    pub stall_timeout: Duration,
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions {
            rate_per_second: None,
            chunk: 500,
            stall_timeout: Duration::from_secs(60),
        }
    }
}

/// Where a replay stands, passed to the progress callback after each chunk.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Progress {
    pub schema: String,
    pub total: u64,
    pub published: u64,
    /// Publish attempts the broker did not acknowledge (retried).
    pub failed_attempts: u64,
    pub elapsed_seconds: f64,
    pub events_per_second: f64,
    pub done: bool,
}

/// Re-sends what `plan` covers through `relay`, pacing to the rate limit and
/// calling `progress` after every chunk. Unsent rows are claimed as the
/// running relays claim them (`SKIP LOCKED`, marked sent on acknowledgement);
/// a range is walked in id order and every acknowledged row is marked sent
/// (a sent row keeps its first `sent_at`).
pub async fn replay(
    relay: &Relay,
    plan: &ReplayPlan,
    options: &ReplayOptions,
    mut progress: impl FnMut(&Progress),
) -> Result<Progress, ReplayError> {
    if options.rate_per_second == Some(0) {
        return Err(ReplayError::ZeroRate);
    }
    let chunk = match options.rate_per_second {
        Some(rate) => options.chunk.min(i64::from(rate)).max(1),
        None => options.chunk.max(1),
    };
    let started = Instant::now();
    let mut state = Progress {
        schema: relay.schema().to_owned(),
        total: u64::try_from(plan.events).unwrap_or(0),
        published: 0,
        failed_attempts: 0,
        elapsed_seconds: 0.0,
        events_per_second: 0.0,
        done: false,
    };
    let mut cursor = 0_i64;
    let mut last_success = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        pace(options.rate_per_second, state.published, started).await;
        let step = match &plan.selection {
            Selection::Unsent => unsent_chunk(relay, chunk, plan.max_id).await?,
            Selection::Range { since, until } => {
                range_chunk(relay, *since, *until, cursor, chunk, plan.max_id).await?
            }
        };
        state.published += step.published;
        state.failed_attempts += step.failed;
        state.elapsed_seconds = started.elapsed().as_secs_f64();
        state.events_per_second = if state.elapsed_seconds > 0.0 {
            state.published as f64 / state.elapsed_seconds
        } else {
            0.0
        };
        if let Some(next) = step.next_cursor {
            cursor = next;
        }
        state.done = step.finished;
        progress(&state);
        if step.published > 0 {
            metrics::counter!("outbox.replayed.total", "schema" => state.schema.clone())
                .increment(step.published);
        }
        if step.finished {
            return Ok(state);
        }
        if step.failed == 0 && step.published > 0 {
            last_success = Instant::now();
            backoff = Duration::from_millis(100);
            continue;
        }
        if step.failed == 0 && step.published == 0 {
            // Only rows another relay holds are left: let it finish them.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if last_success.elapsed() < options.stall_timeout {
                continue;
            }
        }
        if last_success.elapsed() >= options.stall_timeout {
            return Err(ReplayError::Stalled {
                published: state.published,
                total: state.total,
                stalled_for: last_success.elapsed(),
                last_error: step
                    .last_error
                    .unwrap_or_else(|| "rows held by another relay".to_owned()),
                resume_from: step.resume_from,
            });
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Sleeps until `published` events fit the rate since `started`.
async fn pace(rate: Option<u32>, published: u64, started: Instant) {
    let Some(rate) = rate else { return };
    let due = Duration::from_secs_f64(published as f64 / f64::from(rate));
    let elapsed = started.elapsed();
    if due > elapsed {
        tokio::time::sleep(due - elapsed).await;
    }
}

struct Step {
    published: u64,
    failed: u64,
    finished: bool,
    next_cursor: Option<i64>,
    last_error: Option<String>,
    resume_from: Option<DateTime<Utc>>,
}

async fn unsent_chunk(relay: &Relay, chunk: i64, max_id: i64) -> Result<Step, ReplayError> {
    let report = relay.run_bounded(chunk, max_id).await?;
    Ok(Step {
        published: report.published as u64,
        failed: report.failed as u64,
        finished: report.claimed == 0,
        next_cursor: None,
        last_error: (report.failed > 0).then(|| "broker did not acknowledge".to_owned()),
        resume_from: None,
    })
}

async fn range_chunk(
    relay: &Relay,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    after_id: i64,
    chunk: i64,
    max_id: i64,
) -> Result<Step, ReplayError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, topic, partition_key, event_type, envelope::text AS envelope, created_at, false AS blocked \
         FROM outbox WHERE created_at >= $1 AND created_at < $2 AND id > $3 AND id <= $4 \
         ORDER BY id LIMIT $5",
    )
    .bind(since)
    .bind(until)
    .bind(after_id)
    .bind(max_id)
    .bind(chunk)
    .fetch_all(relay.pool())
    .await?;
    if rows.is_empty() {
        return Ok(Step {
            published: 0,
            failed: 0,
            finished: true,
            next_cursor: None,
            last_error: None,
            resume_from: None,
        });
    }
    let outcomes = relay.publish(&rows).await;
    // Advance only over the acknowledged prefix, so order holds on a retry.
    let mut acked = Vec::new();
    let mut first_failure = None;
    for (row, outcome) in rows.iter().zip(outcomes) {
        match outcome {
            Ok(()) if first_failure.is_none() => acked.push(row.id),
            Ok(()) => {}
            Err(e) => {
                if first_failure.is_none() {
                    first_failure = Some((row.created_at, e));
                }
            }
        }
    }
    if !acked.is_empty() {
        sqlx::query(
            "UPDATE outbox SET sent_at = coalesce(sent_at, clock_timestamp()), \
             attempts = attempts + 1 WHERE id = ANY($1)",
        )
        .bind(&acked)
        .execute(relay.pool())
        .await?;
    }
    let failed = rows.len() - acked.len();
    Ok(Step {
        published: acked.len() as u64,
        failed: failed as u64,
        finished: false,
        next_cursor: acked.last().copied(),
        resume_from: first_failure.as_ref().map(|(t, _)| *t),
        last_error: first_failure.map(|(_, e)| e),
    })
}
