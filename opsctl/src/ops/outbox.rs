//! The services' outboxes as opsctl reaches them: which services publish,
//! a pool on each one's schema, and the high-water marks a runbook takes to
//! count the events it lost.

use ticketing_catalog::ServiceName;

use crate::context::Context;
use crate::error::CliError;
pub use crate::ops::db::pool;

/// The publishing services chosen by `--service`.
pub fn services(only: Option<ServiceName>) -> Result<Vec<ServiceName>, CliError> {
    let all: Vec<ServiceName> = ServiceName::ALL
        .into_iter()
        .filter(|s| s.publishes_events())
        .collect();
    match only {
        None => Ok(all),
        Some(s) if all.contains(&s) => Ok(vec![s]),
        Some(s) => Err(CliError::usage(
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

pub async fn marks(ctx: &Context) -> Result<Marks, CliError> {
    let mut out = Vec::new();
    for service in services(None)? {
        let pool = pool(ctx, service)?;
        let max = ticketing_messaging::outbox::high_mark(&pool)
            .await
            .map_err(|e| {
                CliError::Failed(anyhow::anyhow!(
                    "reading the outbox of {service}: {e}; is PostgreSQL up?"
                ))
            })?;
        out.push((service, pool, max));
    }
    Ok(out)
}

pub async fn lost(marks: &Marks) -> Result<i64, CliError> {
    let mut lost = 0;
    for (service, pool, max) in marks {
        let n = ticketing_messaging::outbox::unsent_up_to(pool, *max)
            .await
            .map_err(|e| {
                CliError::Failed(anyhow::anyhow!("reading the outbox of {service}: {e}"))
            })?;
        lost += n;
    }
    Ok(lost)
}
