//! The services' outboxes as opsctl reaches them: which services publish,
//! a pool on each one's schema, and the high-water marks a runbook takes to
//! count the events it lost.

use ticketing_catalog::ServiceName;
use ticketing_messaging::relay::{Relay, RelayOptions};
use ticketing_messaging::replay::{self, Progress, ReplayOptions, ReplayPlan, Selection};

use crate::environment::Environment;
use crate::error::OpsError;
pub use crate::ops::db::pool;

/// The publishing services chosen by `--service`.
pub fn services(only: Option<ServiceName>) -> Result<Vec<ServiceName>, OpsError> {
    let all: Vec<ServiceName> = ServiceName::ALL
        .into_iter()
        .filter(|s| s.publishes_events())
        .collect();
    match only {
        None => Ok(all),
        Some(s) if all.contains(&s) => Ok(vec![s]),
        Some(s) => Err(OpsError::usage(
            format!("{s} has no outbox"),
            format!(
                "choose one of: {}",
                all.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

pub type Marks = Vec<(ticketing_catalog::ServiceName, sqlx::PgPool, i64)>;

pub async fn marks(ctx: &Environment) -> Result<Marks, OpsError> {
    let mut out = Vec::new();
    for service in services(None)? {
        let pool = pool(ctx, service)?;
        let max = ticketing_messaging::outbox::high_mark(&pool)
            .await
            .map_err(|e| {
                OpsError::Failed(anyhow::anyhow!(
                    "reading the outbox of {service}: {e}; is PostgreSQL up?"
                ))
            })?;
        out.push((service, pool, max));
    }
    Ok(out)
}

pub async fn lost(marks: &Marks) -> Result<i64, OpsError> {
    let mut lost = 0;
    for (service, pool, max) in marks {
        let n = ticketing_messaging::outbox::unsent_up_to(pool, *max)
            .await
            .map_err(|e| {
                OpsError::Failed(anyhow::anyhow!("reading the outbox of {service}: {e}"))
            })?;
        lost += n;
    }
    Ok(lost)
}

/// Each chosen service's outbox, its pool and its replay plan.
pub type Plans = Vec<(ServiceName, sqlx::PgPool, ReplayPlan)>;

/// What a replay of `selection` would re-send from each chosen service.
pub async fn replay_plans(
    ctx: &Environment,
    only: Option<ServiceName>,
    selection: &Selection,
) -> Result<Plans, OpsError> {
    let mut plans = Vec::new();
    for service in services(only)? {
        let pool = pool(ctx, service)?;
        let plan = replay::plan(&pool, selection).await.map_err(|e| {
            OpsError::Failed(anyhow::anyhow!("planning the replay of {service}: {e}"))
        })?;
        plans.push((service, pool, plan));
    }
    Ok(plans)
}

/// A replay that stopped: the service it stopped at, how many events were
/// published before, and why.
#[derive(Debug)]
pub struct ReplayStopped {
    pub service: ServiceName,
    pub published_before: u64,
    pub error: String,
}

/// Re-sends each plan's events through a relay of its service's own
/// (`progress` hears each step): how many were published.
pub async fn replay_all(
    ctx: &Environment,
    plans: &Plans,
    options: &ReplayOptions,
    mut progress: impl FnMut(&Progress),
) -> Result<u64, ReplayStopped> {
    let mut published = 0;
    for (service, pool, plan) in plans {
        if plan.events == 0 {
            continue;
        }
        let stopped = |error: String| ReplayStopped {
            service: *service,
            published_before: published,
            error,
        };
        let schema = service.schema().unwrap_or_default();
        let kafka = ctx.settings.kafka.clone();
        let relay = Relay::new(pool.clone(), schema, kafka, RelayOptions::default())
            .map_err(|e| stopped(e.to_string()))?;
        let done = replay::replay(&relay, plan, options, &mut progress)
            .await
            .map_err(|e| stopped(e.to_string()))?;
        published += done.published;
    }
    Ok(published)
}
