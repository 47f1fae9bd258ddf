//! The waiting room's controls, for on-call (`opsctl queue`): pause a
//! performance's admission (or every performance's), change its admission
//! rate, and see how many wait and for how long. The controls live in
//! Redis beside the queues; the admission loop reads them every round, so
//! a change takes effect within one interval on every instance. Without
//! a control, `booking.queue_admit_per_interval` per
//! `booking.queue_admit_interval_ms` stays the rate.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::Serialize;
use sqlx::PgPool;
use ticketing_config::BookingSettings;
use ticketing_redis::{Redis, RedisError};
use uuid::Uuid;

use crate::domain::{waiting_at, QueueStatus};

/// What a control applies to: one performance, or every performance
/// (including those whose queue opens later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "performance")]
pub enum Scope {
    All,
    Performance(Uuid),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::All => f.write_str("every performance"),
            Scope::Performance(p) => write!(f, "performance {p}"),
        }
    }
}

/// One scope's controls as stored: both unset means the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Controls {
    pub paused: bool,
    /// Admissions per second, replacing the configured rate.
    pub per_second: Option<u32>,
}

const PAUSED: &str = "paused";
const PER_SECOND: &str = "per_second";

/// The Redis keys of the waiting room, under the service's prefix.
pub(crate) mod keys {
    use ticketing_redis::Redis;
    use uuid::Uuid;

    use super::Scope;

    pub fn queue(redis: &Redis, performance: Uuid) -> String {
        redis.key(&format!("queue:{performance}"))
    }

    /// Arrival time (Unix ms) of each member still waiting.
    pub fn arrivals(redis: &Redis, performance: Uuid) -> String {
        redis.key(&format!("queue-arrivals:{performance}"))
    }

    pub fn sequence(redis: &Redis, performance: Uuid) -> String {
        redis.key(&format!("queue-seq:{performance}"))
    }

    pub fn active(redis: &Redis) -> String {
        redis.key("queues")
    }

    pub fn control(redis: &Redis, scope: Scope) -> String {
        match scope {
            Scope::All => redis.key("queue-control:all"),
            Scope::Performance(p) => redis.key(&format!("queue-control:{p}")),
        }
    }
}

/// Reads one scope's controls.
pub async fn read(redis: &Redis, scope: Scope) -> Result<Controls, RedisError> {
    Ok(read_many(redis, &[scope])
        .await?
        .remove(&scope)
        .unwrap_or_default())
}

/// Pauses (or resumes) admission for `scope`.
pub async fn set_paused(redis: &Redis, scope: Scope, paused: bool) -> Result<(), RedisError> {
    let mut conn = redis.conn().await?;
    let key = keys::control(redis, scope);
    if paused {
        let _: () = conn.hset(key, PAUSED, "1").await?;
    } else {
        let _: () = conn.hdel(key, PAUSED).await?;
    }
    Ok(())
}

/// Sets `scope`'s admission rate, or drops it back to the configured one.
pub async fn set_rate(
    redis: &Redis,
    scope: Scope,
    per_second: Option<u32>,
) -> Result<(), RedisError> {
    let mut conn = redis.conn().await?;
    let key = keys::control(redis, scope);
    match per_second {
        Some(rate) => {
            let _: () = conn.hset(key, PER_SECOND, rate).await?;
        }
        None => {
            let _: () = conn.hdel(key, PER_SECOND).await?;
        }
    }
    Ok(())
}

/// Every performance with a control of its own (SCAN, never KEYS: it
/// does not block the server the waiting rooms run on).
pub async fn controlled(redis: &Redis) -> Result<Vec<Uuid>, RedisError> {
    let mut conn = redis.conn().await?;
    let prefix = redis.key("queue-control:");
    let mut found = Vec::new();
    {
        let mut keys: redis::AsyncIter<String> = conn.scan_match(format!("{prefix}*")).await?;
        while let Some(key) = keys.next_item().await {
            let key = key?;
            if let Some(p) = key
                .strip_prefix(&prefix)
                .and_then(|p| Uuid::parse_str(p).ok())
            {
                found.push(p);
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The performances whose waiting room is open (someone waits, or waited
/// since the loop last found it empty).
pub async fn active(redis: &Redis) -> Result<Vec<Uuid>, RedisError> {
    let mut conn = redis.conn().await?;
    let raw: Vec<String> = conn.smembers(keys::active(redis)).await?;
    let mut found: Vec<Uuid> = raw.iter().filter_map(|r| Uuid::parse_str(r).ok()).collect();
    found.sort();
    Ok(found)
}

/// What admission does for one performance this round: nothing when it or
/// every performance is paused; else its own rate, every performance's, or
/// the configured one, as users per interval (at least one).
pub fn effective(
    own: Controls,
    all: Controls,
    settings: &BookingSettings,
) -> (bool, u32, Option<u32>) {
    let paused = own.paused || all.paused;
    let per_second = own.per_second.or(all.per_second);
    let per_interval = match per_second {
        Some(rate) => {
            let per = u64::from(rate) * settings.queue_admit_interval_ms;
            u32::try_from(per.div_ceil(1000).max(1)).unwrap_or(u32::MAX)
        }
        None => settings.queue_admit_per_interval,
    };
    (paused, per_interval, per_second)
}

/// Many scopes' controls in one round trip, in `scopes`' order.
pub(crate) async fn read_many(
    redis: &Redis,
    scopes: &[Scope],
) -> Result<HashMap<Scope, Controls>, RedisError> {
    let mut conn = redis.conn().await?;
    let mut pipe = redis::pipe();
    for scope in scopes {
        pipe.cmd("HMGET")
            .arg(keys::control(redis, *scope))
            .arg(PAUSED)
            .arg(PER_SECOND);
    }
    let answers: Vec<(Option<String>, Option<u32>)> = pipe.query_async(&mut conn).await?;
    Ok(scopes
        .iter()
        .zip(answers)
        .map(|(scope, (paused, per_second))| {
            (
                *scope,
                Controls {
                    paused: paused.as_deref() == Some("1"),
                    per_second,
                },
            )
        })
        .collect())
}

/// One waiting room as on-call sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RoomStatus {
    pub performance: Uuid,
    pub waiting: u64,
    /// Admissions issued for this performance, and those still valid.
    pub admitted_total: i64,
    pub admitted_valid: i64,
    pub paused: bool,
    /// Paused by `queue pause --all` rather than for this performance.
    pub paused_by_all: bool,
    pub admit_per_second: f64,
    /// The rate is a control (`queue set-rate`), not the configured one.
    pub rate_overridden: bool,
    pub oldest_arrival: Option<DateTime<Utc>>,
    pub oldest_wait_seconds: Option<i64>,
    /// How long the last in line waits at this rate; `None` while paused.
    pub last_in_line_wait_seconds: Option<u64>,
}

/// The status of `performance`'s waiting room: Redis for the queue and the
/// controls, the admission log for the admissions.
pub async fn room_status(
    redis: &Redis,
    db: &PgPool,
    settings: &BookingSettings,
    performance: Uuid,
    now: DateTime<Utc>,
) -> Result<RoomStatus, ControlsError> {
    let controls = read_many(redis, &[Scope::Performance(performance), Scope::All]).await?;
    let own = controls
        .get(&Scope::Performance(performance))
        .copied()
        .unwrap_or_default();
    let all = controls.get(&Scope::All).copied().unwrap_or_default();
    let (paused, per_interval, per_second) = effective(own, all, settings);
    let mut conn = redis.conn().await.map_err(ControlsError::Redis)?;
    let waiting: u64 = conn
        .zcard(keys::queue(redis, performance))
        .await
        .map_err(RedisError::from)?;
    let first: Vec<String> = conn
        .zrange(keys::queue(redis, performance), 0, 0)
        .await
        .map_err(RedisError::from)?;
    let oldest_ms: Option<i64> = match first.first() {
        Some(member) => conn
            .hget(keys::arrivals(redis, performance), member)
            .await
            .map_err(RedisError::from)?,
        None => None,
    };
    let (admitted_total, admitted_valid) = crate::repository::admissions(db, performance, now)
        .await
        .map_err(ControlsError::Db)?;
    let oldest_arrival = oldest_ms.and_then(DateTime::from_timestamp_millis);
    let last_in_line_wait_seconds = if paused || waiting == 0 {
        None
    } else {
        let rank = i64::try_from(waiting - 1).unwrap_or(i64::MAX);
        match waiting_at(rank, crate::domain::Pace::of(per_interval, settings)) {
            Some(QueueStatus::Waiting {
                estimated_wait_seconds,
                ..
            }) => Some(estimated_wait_seconds),
            _ => None,
        }
    };
    Ok(RoomStatus {
        performance,
        waiting,
        admitted_total,
        admitted_valid,
        paused,
        paused_by_all: all.paused && !own.paused,
        admit_per_second: f64::from(per_interval) * 1000.0
            / settings.queue_admit_interval_ms.max(1) as f64,
        rate_overridden: per_second.is_some(),
        oldest_arrival,
        oldest_wait_seconds: oldest_arrival.map(|t| (now - t).num_seconds().max(0)),
        last_in_line_wait_seconds,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ControlsError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("the admission log could not be read: {0}")]
    Db(#[source] sqlx::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BookingSettings {
        BookingSettings {
            queue_admit_per_interval: 50,
            queue_admit_interval_ms: 200,
            ..BookingSettings::default()
        }
    }

    #[test]
    fn a_performance_control_beats_every_performances_and_both_beat_the_setting() {
        let s = settings();
        let none = Controls::default();
        assert_eq!(effective(none, none, &s), (false, 50, None));
        let all = Controls {
            paused: false,
            per_second: Some(100),
        };
        // 100 a second, a round every 200 ms: 20 a round.
        assert_eq!(effective(none, all, &s), (false, 20, Some(100)));
        let own = Controls {
            paused: false,
            per_second: Some(1),
        };
        // A rate below one a round still admits one a round.
        assert_eq!(effective(own, all, &s), (false, 1, Some(1)));
        let paused_all = Controls {
            paused: true,
            per_second: None,
        };
        assert!(effective(own, paused_all, &s).0, "pausing all pauses each");
    }
}
