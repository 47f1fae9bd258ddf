//! The waiting room's controls through queue-service's own functions
//! (`queue_service::controls`): the rooms' status, and a pure plan for a
//! pause, a resume or a rate that the admission loop picks up within one
//! interval.

use chrono::{DateTime, Utc};
use queue_service::controls::{self, Controls, RoomStatus, Scope};
use serde::Serialize;
use sqlx::PgPool;
use ticketing_catalog::ServiceName;
use ticketing_config::BookingSettings;
use ticketing_redis::Redis;
use uuid::Uuid;

use crate::environment::Environment;
use crate::error::OpsError;

/// What the queue commands work with: the waiting rooms' Redis, the
/// admission log, and the configured rate.
pub struct Rooms {
    redis: Redis,
    /// Where the Redis is, for errors (never its URL: it may hold a password).
    host: String,
    db: PgPool,
    settings: BookingSettings,
}

fn redis_error(ctx_host: &str) -> impl Fn(ticketing_redis::RedisError) -> OpsError + '_ {
    move |e| {
        OpsError::Failed(anyhow::anyhow!(
            "the waiting rooms' Redis at {ctx_host} did not answer: {e}; check redis.url and that the cache is up (opsctl status)"
        ))
    }
}

impl Rooms {
    pub fn connect(ctx: &Environment) -> Result<Rooms, OpsError> {
        let redis = Redis::new(&ctx.settings.redis).map_err(|e| {
            OpsError::usage(
                format!("the Redis settings are not usable: {e}"),
                "check redis.url in the environment's config",
            )
        })?;
        Ok(Rooms {
            redis,
            host: ctx.settings.redis.url.host_str().unwrap_or("?").to_owned(),
            db: crate::ops::db::pool(ctx, ServiceName::QueueService)?,
            settings: ctx.settings.booking.clone(),
        })
    }

    fn host(&self) -> String {
        self.host.clone()
    }

    /// The rooms to show: `performance`, or every open room and every
    /// performance with a control of its own.
    pub async fn statuses(
        &self,
        performance: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Vec<RoomStatus>, OpsError> {
        let host = self.host();
        let performances = match performance {
            Some(p) => vec![p],
            None => {
                let mut all = controls::active(&self.redis)
                    .await
                    .map_err(redis_error(&host))?;
                all.extend(
                    controls::controlled(&self.redis)
                        .await
                        .map_err(redis_error(&host))?,
                );
                all.sort();
                all.dedup();
                all
            }
        };
        let mut rooms = Vec::with_capacity(performances.len());
        for p in performances {
            let room = controls::room_status(&self.redis, &self.db, &self.settings, p, now)
                .await
                .map_err(|e| {
                    OpsError::Failed(anyhow::anyhow!(
                        "reading the waiting room of {p} failed: {e}; check the cache and the database (opsctl status)"
                    ))
                })?;
            rooms.push(room);
        }
        Ok(rooms)
    }

    /// The controls `scope` has now.
    pub async fn observe(&self, scope: Scope) -> Result<Controls, OpsError> {
        let host = self.host();
        controls::read(&self.redis, scope)
            .await
            .map_err(redis_error(&host))
    }

    /// Sets `plan.after`.
    pub async fn apply(&self, plan: &ControlPlan) -> Result<(), OpsError> {
        let host = self.host();
        if plan.before.paused != plan.after.paused {
            controls::set_paused(&self.redis, plan.scope, plan.after.paused)
                .await
                .map_err(redis_error(&host))?;
        }
        if plan.before.per_second != plan.after.per_second {
            controls::set_rate(&self.redis, plan.scope, plan.after.per_second)
                .await
                .map_err(redis_error(&host))?;
        }
        Ok(())
    }

    /// The rate admission runs at without a control, per second.
    pub fn configured_per_second(&self) -> f64 {
        configured_per_second(&self.settings)
    }
}

pub fn configured_per_second(settings: &BookingSettings) -> f64 {
    f64::from(settings.queue_admit_per_interval) * 1000.0
        / settings.queue_admit_interval_ms.max(1) as f64
}

/// What an on-call engineer asks of a waiting room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    /// Admissions per second; `None` goes back to the configured rate.
    SetRate(Option<u32>),
}

/// One scope's controls before and after.
#[derive(Debug, Clone, Serialize)]
pub struct ControlPlan {
    #[serde(flatten)]
    pub scope: Scope,
    pub before: Controls,
    pub after: Controls,
}

impl ControlPlan {
    /// How many controls change (0: nothing to do).
    pub fn changes(&self) -> usize {
        usize::from(self.before.paused != self.after.paused)
            + usize::from(self.before.per_second != self.after.per_second)
    }

    /// One line for people: what admission does after the change.
    pub fn describe(&self, configured_per_second: f64) -> String {
        let rate = |c: &Controls| match c.per_second {
            Some(r) => format!("{r}/s (set)"),
            None => format!("{configured_per_second}/s (configured)"),
        };
        let state = |c: &Controls| if c.paused { "paused" } else { "admitting" };
        format!(
            "{}: {} at {} -> {} at {}",
            self.scope,
            state(&self.before),
            rate(&self.before),
            state(&self.after),
            rate(&self.after)
        )
    }
}

/// The plan for `action` on `scope`, from its controls now.
pub fn plan(scope: Scope, before: Controls, action: Action) -> ControlPlan {
    let mut after = before;
    match action {
        Action::Pause => after.paused = true,
        Action::Resume => after.paused = false,
        Action::SetRate(rate) => after.per_second = rate,
    }
    ControlPlan {
        scope,
        before,
        after,
    }
}

/// A waiting-room change, with the rooms it is applied to.
pub struct RoomChange<'a> {
    pub rooms: &'a Rooms,
    pub plan: ControlPlan,
    /// `queue pause`, `queue resume` or `queue set-rate`.
    pub command: &'static str,
}

impl crate::ops::operation::Operation for RoomChange<'_> {
    type Change = ControlPlan;

    fn command(&self) -> &'static str {
        self.command
    }

    fn doing(&self) -> String {
        format!("changing the waiting room of {}", self.plan.scope)
    }

    fn changes(&self) -> Vec<&ControlPlan> {
        match self.plan.changes() {
            0 => Vec::new(),
            _ => vec![&self.plan],
        }
    }

    fn render(&self) -> String {
        let already = if self.plan.changes() == 0 {
            " (already)"
        } else {
            ""
        };
        let rate = self.rooms.configured_per_second();
        format!("plan: {}{already}\n", self.plan.describe(rate))
    }

    async fn apply(&self, plan: &ControlPlan) -> Result<(), String> {
        self.rooms.apply(plan).await.map_err(|e| e.to_string())
    }

    fn failure(plan: &ControlPlan, error: &str) -> String {
        format!(
            "changing the waiting room of {} failed: {error}",
            plan.scope
        )
    }

    fn summary(&self, _done: usize) -> String {
        let rate = self.rooms.configured_per_second();
        format!(
            "{}; the admission loop applies it within one interval\n",
            self.plan.describe(rate)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_counts_only_what_changes() {
        let scope = Scope::All;
        let open = Controls::default();
        assert_eq!(plan(scope, open, Action::Resume).changes(), 0);
        assert_eq!(plan(scope, open, Action::Pause).changes(), 1);
        let paused = plan(scope, open, Action::Pause).after;
        assert_eq!(plan(scope, paused, Action::Pause).changes(), 0);
        let slowed = plan(scope, paused, Action::SetRate(Some(10)));
        assert_eq!(slowed.changes(), 1);
        assert!(slowed.after.paused, "a rate keeps the pause");
        assert_eq!(
            plan(scope, slowed.after, Action::SetRate(None)).after,
            paused
        );
        assert_eq!(
            slowed.describe(50.0),
            "every performance: paused at 50/s (configured) -> paused at 10/s (set)"
        );
    }
}
