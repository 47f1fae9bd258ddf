//! The failover drill itself: stop the leader, time the new leader and the
//! drained outboxes, start the broker again, count the drill's events.

use std::time::{Duration, Instant};

use serde::Serialize;
use ticketing_catalog::{topics, ServiceName};
use ticketing_config::Profile;

use super::plan::{DrillPlan, Executor, NodeAction, Tally};
use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops;

#[derive(Debug, Serialize)]
pub struct Report {
    pub plan: DrillPlan,
    pub new_leader: i32,
    /// From the stop until another broker leads the partition and answers
    /// for it: the measured RTO of the broker failure.
    pub rto_seconds: f64,
    /// From the stop until every outbox row written so far was published.
    pub outbox_drained_seconds: f64,
    /// From the start command until the stopped broker is back in sync.
    pub rejoined_seconds: f64,
    /// Probe events the drill wrote itself while the broker was down
    /// (counted in the tally with the platform's own events).
    pub probes_sent: u64,
    #[serde(flatten)]
    pub tally: Tally,
    pub rto_target_seconds: u64,
    pub rpo_target_events: u64,
    pub met: bool,
}

pub fn executor(ctx: &Environment) -> Result<Executor, OpsError> {
    match (ctx.profile, &ctx.settings.stack) {
        (Profile::Local, Some(stack)) => Ok(Executor::Local {
            stop_template: stack.kafka_cluster.stop_node_command.clone(),
            start_template: stack.kafka_cluster.start_node_command.clone(),
        }),
        (Profile::Local, None) => Err(OpsError::usage(
            "the local profile has no [stack] settings, so no command stops a local broker",
            "set stack.kafka_cluster in config/local.toml",
        )),
        _ => Ok(Executor::Ssm),
    }
}

/// Stops (`stop = true`) or starts the planned broker.
pub async fn node(
    ctx: &Environment,
    action: &NodeAction,
    stop: bool,
    timeout: Duration,
) -> Result<(), OpsError> {
    match action {
        NodeAction::Local { stop: s, start } => {
            ops::kafka::run_local(if stop { s } else { start }, timeout).await
        }
        NodeAction::Ssm { stop: s, start, .. } => crate::aws::run_on_brokers(
            ctx,
            if stop { s } else { start },
            if stop {
                "opsctl kafka failover-drill: stop the leader"
            } else {
                "opsctl kafka failover-drill: start it again"
            },
            Instant::now() + timeout,
        )
        .await
        .map(|_| ()),
    }
}

/// The new leader of the drill's partition once it answers for it; `None`
/// at `deadline`.
pub(super) async fn serving_leader(
    ctx: &Environment,
    plan: &DrillPlan,
    deadline: Instant,
) -> Option<i32> {
    let kafka = &ctx.settings.kafka;
    loop {
        if let Ok((_, partitions)) = ticketing_kafka::partition_leaders(kafka, &plan.topic).await {
            if let Some(p) = partitions.iter().find(|p| p.partition == plan.partition) {
                if p.leader >= 0
                    && p.leader != plan.leader
                    && ticketing_kafka::watermarks(kafka, &plan.topic, plan.partition)
                        .await
                        .is_ok()
                {
                    return Some(p.leader);
                }
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until everything written so far is published.
pub(super) async fn drained(
    ctx: &Environment,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), OpsError> {
    let marks = ops::outbox::marks(ctx).await?;
    while ops::outbox::lost(&marks).await? != 0 {
        if Instant::now() >= deadline {
            return Err(OpsError::Failed(anyhow::anyhow!(
                "the outboxes did not drain within {} s of the stop; see `opsctl outbox status`",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Waits until the stopped broker is in sync for the partition again.
pub(super) async fn in_sync(
    ctx: &Environment,
    plan: &DrillPlan,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), OpsError> {
    loop {
        if let Ok((_, partitions)) =
            ticketing_kafka::partition_leaders(&ctx.settings.kafka, &plan.topic).await
        {
            if partitions
                .iter()
                .filter(|p| p.partition == plan.partition)
                .any(|p| p.in_sync.contains(&plan.leader))
            {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(OpsError::Failed(anyhow::anyhow!(
                "broker {} was started but is not back in sync after {} s",
                plan.leader,
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The outbox entries each service wrote between two marks.
pub(super) async fn written_between(
    from: &ops::outbox::Marks,
    until: &ops::outbox::Marks,
) -> Result<Vec<ticketing_messaging::outbox::OutboxEntry>, OpsError> {
    let mut written = Vec::new();
    for ((service, pool, from), (_, _, until)) in from.iter().zip(until) {
        written.extend(
            ticketing_messaging::outbox::entries_between(pool, *from, *until)
                .await
                .map_err(|e| {
                    OpsError::Failed(anyhow::anyhow!("reading the outbox of {service}: {e}"))
                })?,
        );
    }
    Ok(written)
}

/// Probes written at a steady rate from the stop until the new leader
/// serves (at least [`MIN_PROBES`]): the drill's own traffic, so a quiet
/// platform still gives it events to count.
pub(super) struct Probes {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Result<u64, String>>,
}

/// Probes a second, and the fewest a drill writes.
const PROBES_PER_SECOND: u64 = 20;
const MIN_PROBES: u64 = 20;

impl Probes {
    pub(super) fn start(ctx: &Environment, physical_topic: &str) -> Result<Probes, OpsError> {
        let logical = physical_topic
            .strip_prefix(ctx.settings.kafka.topic_prefix.as_str())
            .unwrap_or(physical_topic)
            .to_owned();
        let service = ServiceName::ALL
            .into_iter()
            .find(|s| published_topics(*s).contains(&logical.as_str()))
            .ok_or_else(|| {
                OpsError::usage(
                    format!(
                        "no service publishes to `{logical}`, so no probe can be written there"
                    ),
                    "drill a topic of the catalog (payment.events or reservation.events)",
                )
            })?;
        let pool = ops::db::pool(ctx, service)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let drill = uuid::Uuid::now_v7();
        let task = tokio::spawn(async move {
            let gap = Duration::from_millis(1000 / PROBES_PER_SECOND);
            let mut sent = 0;
            while sent < MIN_PROBES || !flag.load(std::sync::atomic::Ordering::SeqCst) {
                ticketing_messaging::outbox::append_probe(&pool, &logical, drill, sent)
                    .await
                    .map_err(|e| format!("probe {sent} could not be written: {e}"))?;
                sent += 1;
                tokio::time::sleep(gap).await;
            }
            pool.close().await;
            Ok(sent)
        });
        Ok(Probes { stop, task })
    }

    /// Stops writing; how many were written.
    pub(super) async fn finish(self) -> Result<u64, OpsError> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        match self.task.await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(OpsError::Failed(anyhow::anyhow!(
                "{e}; see `opsctl outbox status`"
            ))),
            Err(e) => Err(OpsError::Failed(anyhow::anyhow!(
                "the probe writer stopped: {e}"
            ))),
        }
    }
}

/// Event ids of every message the publishing services' topics received
/// since `since`.
pub async fn published_ids(
    ctx: &Environment,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<uuid::Uuid>, OpsError> {
    let mut names: Vec<String> = Vec::new();
    for service in ops::outbox::services(None)? {
        for topic in published_topics(service) {
            let physical = ctx.settings.kafka.topic(topic);
            if !names.contains(&physical) {
                names.push(physical);
            }
        }
    }
    let payloads = ticketing_kafka::payloads_since(&ctx.settings.kafka, &names, since)
        .await
        .map_err(|e| OpsError::Failed(anyhow::anyhow!("reading the topics back: {e}")))?;
    // Each payload is an event envelope (JSON); its `event_id` is what the
    // outbox row carries.
    Ok(payloads
        .iter()
        .filter_map(|p| serde_json::from_slice::<serde_json::Value>(p).ok())
        .filter_map(|v| v["event_id"].as_str()?.parse().ok())
        .collect())
}

/// The topics a service's outbox publishes to.
pub fn published_topics(service: ServiceName) -> &'static [&'static str] {
    match service {
        ServiceName::PaymentService => &[topics::PAYMENT_EVENTS],
        ServiceName::ReservationService | ServiceName::EventService => {
            &[topics::RESERVATION_EVENTS]
        }
        _ => &[],
    }
}
