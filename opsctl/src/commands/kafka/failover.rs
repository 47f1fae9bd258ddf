//! `opsctl kafka failover-drill`: the 10x plan's high-availability claim
//! (three brokers, replication factor 2: automatic failover within 5
//! minutes, no acknowledged event lost) as a drill. With bookings flowing, it
//! stops the broker that leads the topic's first partition, measures how
//! long until another broker leads and serves it and until the services'
//! outboxes drain, brings the broker back, and counts the events written
//! during the drill that never reached the topic (lost: must be 0) or
//! reached it twice (duplicated: the consumers absorb those).
//!
//! Locally the broker is stopped by the cluster profile's node command
//! (`stack.kafka_cluster.stop_node_command`); in AWS by SSM Run Command on
//! the broker instances, where only the instance holding the leader's
//! address acts. At most one broker is ever stopped, and never in `prod`
//! without `--yes`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use ticketing_catalog::{aws, topics, ServiceName};
use ticketing_config::Profile;
use ticketing_kafka::{BrokerInfo, PartitionLeader};

use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::ops;
use crate::output;

const COMMAND: &str = "kafka failover-drill";

#[derive(Args, Debug)]
pub struct FailoverArgs {
    /// The catalog topic whose first partition's leader is stopped.
    #[arg(long, default_value = topics::PAYMENT_EVENTS)]
    pub topic: String,
    /// Seconds to wait for a new leader, for the outboxes to drain and for
    /// the stopped broker to rejoin.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

/// How a broker is stopped and started again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "via", rename_all = "kebab-case")]
pub enum NodeAction {
    /// A shell command on this machine (the local cluster profile).
    Local { stop: String, start: String },
    /// SSM Run Command on the broker instances; only the one holding
    /// `address` acts.
    Ssm {
        address: String,
        stop: String,
        start: String,
    },
}

/// What the drill will do, computed from what the cluster reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillPlan {
    pub topic: String,
    pub partition: i32,
    pub leader: i32,
    pub leader_address: String,
    pub replicas: Vec<i32>,
    pub in_sync: Vec<i32>,
    pub action: NodeAction,
}

/// Why no drill can run on what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("topic `{0}` has no partitions")]
    NoPartition(String),
    #[error("partition {partition} of `{topic}` has no leader now; the cluster is already failing over (see `opsctl kafka health`)")]
    NoLeader { topic: String, partition: i32 },
    #[error("`{topic}` has {replicas} replica(s): stopping its leader would stop it, not fail it over (the drill needs the 10x plan's replication factor {wanted}, e.g. the local `infra/local/stack.sh start kafka-cluster`)")]
    TooFewReplicas {
        topic: String,
        replicas: usize,
        wanted: i32,
    },
    #[error("only broker(s) {in_sync:?} of `{topic}`'s replicas {replicas:?} are in sync: stopping the leader now could lose acknowledged events; wait until every replica is in sync")]
    NotInSync {
        topic: String,
        replicas: Vec<i32>,
        in_sync: Vec<i32>,
    },
    #[error("broker {0} leads, but the cluster's metadata does not list its address")]
    UnknownBroker(i32),
}

/// Where the commands come from: the local cluster profile's templates
/// (`{node}` = broker id), or SSM in AWS.
#[derive(Debug, Clone)]
pub enum Executor {
    Local {
        stop_template: String,
        start_template: String,
    },
    Ssm,
}

/// The pure decision: which broker to stop and how, or why not.
pub fn plan(
    topic: &str,
    brokers: &[BrokerInfo],
    partitions: &[PartitionLeader],
    executor: &Executor,
) -> Result<DrillPlan, Refusal> {
    let first = partitions
        .iter()
        .min_by_key(|p| p.partition)
        .ok_or_else(|| Refusal::NoPartition(topic.to_owned()))?;
    if first.leader < 0 {
        return Err(Refusal::NoLeader {
            topic: topic.to_owned(),
            partition: first.partition,
        });
    }
    if first.replicas.len() < 2 {
        return Err(Refusal::TooFewReplicas {
            topic: topic.to_owned(),
            replicas: first.replicas.len(),
            wanted: topics::SCALE_10X_REPLICATION_FACTOR,
        });
    }
    let mut replicas = first.replicas.clone();
    let mut in_sync = first.in_sync.clone();
    replicas.sort_unstable();
    in_sync.sort_unstable();
    if in_sync != replicas {
        return Err(Refusal::NotInSync {
            topic: topic.to_owned(),
            replicas,
            in_sync,
        });
    }
    let broker = brokers
        .iter()
        .find(|b| b.id == first.leader)
        .ok_or(Refusal::UnknownBroker(first.leader))?;
    let node = first.leader.to_string();
    let action = match executor {
        Executor::Local {
            stop_template,
            start_template,
        } => NodeAction::Local {
            stop: stop_template.replace("{node}", &node),
            start: start_template.replace("{node}", &node),
        },
        Executor::Ssm => NodeAction::Ssm {
            address: broker.host.clone(),
            stop: only_on(&broker.host, aws::KAFKA_STOP_COMMAND),
            start: only_on(&broker.host, aws::KAFKA_START_COMMAND),
        },
    };
    Ok(DrillPlan {
        topic: topic.to_owned(),
        partition: first.partition,
        leader: first.leader,
        leader_address: format!("{}:{}", broker.host, broker.port),
        replicas,
        in_sync,
        action,
    })
}

/// A shell line that runs `command` only on the host that has `address`
/// (every broker receives it; one acts).
fn only_on(address: &str, command: &str) -> String {
    let quoted = address.replace('\'', "");
    format!("if hostname -I | tr ' ' '\\n' | grep -qxF '{quoted}'; then {command}; fi")
}

/// The counts at the end: events of the drill's window against the topic.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub events_written: usize,
    pub events_lost: usize,
    pub events_duplicated: usize,
}

/// Pure: outbox entries written during the drill against the event ids
/// found in the topics since it began (each id as often as it was found).
pub fn tally(written: &[ticketing_messaging::outbox::OutboxEntry], found: &[uuid::Uuid]) -> Tally {
    let mut seen: HashMap<uuid::Uuid, usize> = HashMap::new();
    for id in found {
        *seen.entry(*id).or_default() += 1;
    }
    let mut tally = Tally {
        events_written: written.len(),
        ..Tally::default()
    };
    for entry in written {
        match seen.get(&entry.event_id) {
            None | Some(0) => tally.events_lost += 1,
            Some(n) => tally.events_duplicated += n - 1,
        }
    }
    tally
}

#[derive(Debug, Serialize)]
struct Report {
    plan: DrillPlan,
    new_leader: i32,
    /// From the stop until another broker leads the partition and answers
    /// for it: the measured RTO of the broker failure.
    rto_seconds: f64,
    /// From the stop until every outbox row written so far was published.
    outbox_drained_seconds: f64,
    /// From the start command until the stopped broker is back in sync.
    rejoined_seconds: f64,
    #[serde(flatten)]
    tally: Tally,
    rto_target_seconds: u64,
    rpo_target_events: u64,
    met: bool,
}

fn executor(ctx: &Context) -> Result<Executor, CliError> {
    match (ctx.profile, &ctx.settings.stack) {
        (Profile::Local, Some(stack)) => Ok(Executor::Local {
            stop_template: stack.kafka_cluster.stop_node_command.clone(),
            start_template: stack.kafka_cluster.start_node_command.clone(),
        }),
        (Profile::Local, None) => Err(CliError::usage(
            "the local profile has no [stack] settings, so no command stops a local broker",
            "set stack.kafka_cluster in config/local.toml",
        )),
        _ => Ok(Executor::Ssm),
    }
}

pub async fn exec(ctx: &Context, args: FailoverArgs) -> Result<ExitCode, CliError> {
    if ctx.profile == Profile::Prod && args.execute.execute && !args.execute.yes {
        return Err(CliError::usage(
            "a failover drill in prod stops a production broker; it never runs on a typed confirmation alone",
            "schedule it, then run it with --execute --yes",
        ));
    }
    let physical = ctx.settings.kafka.topic(&args.topic);
    let (brokers, partitions) = ticketing_kafka::partition_leaders(&ctx.settings.kafka, &physical)
        .await
        .map_err(|e| {
            CliError::usage(
                format!("the cluster's metadata for `{physical}` could not be read: {e}"),
                "check `opsctl kafka health` and kafka.bootstrap_servers (all of the cluster's brokers)",
            )
        })?;
    let plan = plan(&physical, &brokers, &partitions, &executor(ctx)?)
        .map_err(|r| CliError::usage(r.to_string(), "nothing was stopped"))?;
    let how = match &plan.action {
        NodeAction::Local { stop, .. } => format!("`{stop}`"),
        NodeAction::Ssm { address, .. } => format!(
            "SSM {} on the instances tagged {}={} (only {address} acts)",
            aws::RUN_SHELL_DOCUMENT,
            aws::KAFKA_BROKER_TAG_KEY,
            aws::KAFKA_BROKER_TAG_VALUE
        ),
    };
    eprintln!(
        "plan: stop broker {} ({}), leader of {}/{} (replicas {:?}, all in sync), by {how}; \
         measure the time to a new serving leader and to a drained outbox; start it again and wait \
         until it is back in sync; count the events of the drill lost or duplicated \
         (targets: RTO {} s, {} event(s) lost)",
        plan.leader,
        plan.leader_address,
        plan.topic,
        plan.partition,
        plan.replicas,
        topics::SCALE_10X_FAILOVER_RTO_SECONDS,
        topics::SCALE_10X_FAILOVER_RPO_EVENTS
    );
    let Some(applying) =
        Change::new(ctx, COMMAND, &args.execute).begin("stopping a Kafka broker", &plan, 1)?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let result = run(ctx, &plan, Duration::from_secs(args.timeout)).await;
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            // Whatever failed, the broker must not stay down.
            let restarted = node(ctx, &plan.action, false, Duration::from_secs(args.timeout)).await;
            let detail = serde_json::json!({
                "error": e.to_string(),
                "broker_started_again": restarted.is_ok(),
            });
            return Err(applying.failed(
                detail,
                format!(
                    "the drill failed: {e}; broker {} was {}",
                    plan.leader,
                    match restarted {
                        Ok(()) => "started again".to_owned(),
                        Err(e) => format!("NOT started again ({e}): start it by hand"),
                    }
                ),
            ));
        }
    };
    applying.done(serde_json::to_value(&report).unwrap_or_default())?;
    output::emit(ctx.output, &report, || render(&report));
    Ok(if report.met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

fn render(r: &Report) -> String {
    let rows = vec![
        vec![
            "RTO (new leader serving)".to_owned(),
            format!("{:.1} s", r.rto_seconds),
            format!("{} s", r.rto_target_seconds),
        ],
        vec![
            "outbox drained".to_owned(),
            format!("{:.1} s", r.outbox_drained_seconds),
            String::new(),
        ],
        vec![
            "RPO (events lost)".to_owned(),
            format!("{} of {}", r.tally.events_lost, r.tally.events_written),
            r.rpo_target_events.to_string(),
        ],
        vec![
            "events duplicated".to_owned(),
            r.tally.events_duplicated.to_string(),
            "absorbed by the consumers".to_owned(),
        ],
        vec![
            "stopped broker back in sync".to_owned(),
            format!("{:.1} s", r.rejoined_seconds),
            String::new(),
        ],
    ];
    format!(
        "broker {} stopped; broker {} took over {}/{}\n{}{}\n",
        r.plan.leader,
        r.new_leader,
        r.plan.topic,
        r.plan.partition,
        output::table(&["MEASURE", "MEASURED", "TARGET"], &rows),
        if r.met {
            "the design's targets are met"
        } else {
            "the design's targets are NOT met"
        }
    )
}

/// Stops (`stop = true`) or starts the planned broker.
async fn node(
    ctx: &Context,
    action: &NodeAction,
    stop: bool,
    timeout: Duration,
) -> Result<(), CliError> {
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

async fn run(ctx: &Context, plan: &DrillPlan, timeout: Duration) -> Result<Report, CliError> {
    let began = chrono::Utc::now() - chrono::Duration::seconds(1);
    let start_marks = ops::outbox::marks(ctx).await?;
    let stopped = Instant::now();
    node(ctx, &plan.action, true, timeout).await?;
    eprintln!("[drill] broker {} stopped", plan.leader);

    // A new leader that answers for the partition.
    let deadline = stopped + timeout;
    let new_leader = loop {
        if let Ok((_, partitions)) =
            ticketing_kafka::partition_leaders(&ctx.settings.kafka, &plan.topic).await
        {
            if let Some(p) = partitions.iter().find(|p| p.partition == plan.partition) {
                if p.leader >= 0
                    && p.leader != plan.leader
                    && ticketing_kafka::watermarks(&ctx.settings.kafka, &plan.topic, plan.partition)
                        .await
                        .is_ok()
                {
                    break p.leader;
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failed(anyhow::anyhow!(
                "no other broker took over {}/{} within {} s",
                plan.topic,
                plan.partition,
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rto = stopped.elapsed().as_secs_f64();
    eprintln!("[drill] broker {new_leader} leads and serves after {rto:.1} s");

    // Everything written so far published.
    let drain_marks = ops::outbox::marks(ctx).await?;
    loop {
        if ops::outbox::lost(&drain_marks).await? == 0 {
            break;
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failed(anyhow::anyhow!(
                "the outboxes did not drain within {} s of the stop; see `opsctl outbox status`",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = stopped.elapsed().as_secs_f64();
    eprintln!("[drill] outboxes drained after {drained:.1} s");

    // The broker back, and in sync again.
    let starting = Instant::now();
    node(ctx, &plan.action, false, timeout).await?;
    let back = starting + timeout;
    loop {
        if let Ok((_, partitions)) =
            ticketing_kafka::partition_leaders(&ctx.settings.kafka, &plan.topic).await
        {
            if partitions
                .iter()
                .filter(|p| p.partition == plan.partition)
                .any(|p| p.in_sync.contains(&plan.leader))
            {
                break;
            }
        }
        if Instant::now() >= back {
            return Err(CliError::Failed(anyhow::anyhow!(
                "broker {} was started but is not back in sync after {} s",
                plan.leader,
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rejoined = starting.elapsed().as_secs_f64();
    eprintln!(
        "[drill] broker {} back in sync after {rejoined:.1} s",
        plan.leader
    );

    // What was written during the drill, against what the topics hold.
    let end_marks = ops::outbox::marks(ctx).await?;
    let mut written = Vec::new();
    for ((service, pool, from), (_, _, until)) in start_marks.iter().zip(&end_marks) {
        written.extend(
            ticketing_messaging::outbox::entries_between(pool, *from, *until)
                .await
                .map_err(|e| {
                    CliError::Failed(anyhow::anyhow!("reading the outbox of {service}: {e}"))
                })?,
        );
    }
    let found = published_ids(ctx, began).await?;
    let tally = tally(&written, &found);
    let met = tally.events_lost as u64 <= topics::SCALE_10X_FAILOVER_RPO_EVENTS
        && rto <= topics::SCALE_10X_FAILOVER_RTO_SECONDS as f64;
    Ok(Report {
        plan: plan.clone(),
        new_leader,
        rto_seconds: rto,
        outbox_drained_seconds: drained,
        rejoined_seconds: rejoined,
        tally,
        rto_target_seconds: topics::SCALE_10X_FAILOVER_RTO_SECONDS,
        rpo_target_events: topics::SCALE_10X_FAILOVER_RPO_EVENTS,
        met,
    })
}

/// Event ids of every message the publishing services' topics received
/// since `since`.
async fn published_ids(
    ctx: &Context,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<uuid::Uuid>, CliError> {
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
        .map_err(|e| CliError::Failed(anyhow::anyhow!("reading the topics back: {e}")))?;
    // Each payload is an event envelope (JSON); its `event_id` is what the
    // outbox row carries.
    Ok(payloads
        .iter()
        .filter_map(|p| serde_json::from_slice::<serde_json::Value>(p).ok())
        .filter_map(|v| v["event_id"].as_str()?.parse().ok())
        .collect())
}

/// The topics a service's outbox publishes to.
fn published_topics(service: ServiceName) -> &'static [&'static str] {
    match service {
        ServiceName::PaymentService => &[topics::PAYMENT_EVENTS],
        ServiceName::ReservationService | ServiceName::EventService => {
            &[topics::RESERVATION_EVENTS]
        }
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticketing_messaging::outbox::OutboxEntry;

    fn brokers() -> Vec<BrokerInfo> {
        (1..=3)
            .map(|id| BrokerInfo {
                id,
                host: format!("10.0.1.{id}"),
                port: 9092,
            })
            .collect()
    }

    fn partition(leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionLeader {
        PartitionLeader {
            topic: "payment.events".into(),
            partition: 0,
            leader,
            replicas: replicas.to_vec(),
            in_sync: isr.to_vec(),
        }
    }

    fn local() -> Executor {
        Executor::Local {
            stop_template: "stop {node}".into(),
            start_template: "start {node}".into(),
        }
    }

    #[test]
    fn the_leader_of_the_first_partition_is_stopped_by_its_node_command() {
        let p = plan(
            "payment.events",
            &brokers(),
            &[partition(2, &[2, 3], &[3, 2])],
            &local(),
        )
        .expect("plan");
        assert_eq!(p.leader, 2);
        assert_eq!(p.leader_address, "10.0.1.2:9092");
        assert_eq!(
            p.action,
            NodeAction::Local {
                stop: "stop 2".into(),
                start: "start 2".into()
            }
        );
    }

    #[test]
    fn in_aws_only_the_leaders_host_acts() {
        let p = plan(
            "payment.events",
            &brokers(),
            &[partition(3, &[1, 3], &[1, 3])],
            &Executor::Ssm,
        )
        .expect("plan");
        let NodeAction::Ssm {
            address,
            stop,
            start,
        } = p.action
        else {
            panic!("ssm expected");
        };
        assert_eq!(address, "10.0.1.3");
        assert!(stop.contains("grep -qxF '10.0.1.3'"), "{stop}");
        assert!(stop.ends_with(&format!("then {}; fi", aws::KAFKA_STOP_COMMAND)));
        assert!(start.contains(aws::KAFKA_START_COMMAND));
    }

    #[test]
    fn a_single_replica_a_lagging_replica_or_no_leader_is_refused() {
        let b = brokers();
        assert!(matches!(
            plan("t", &b, &[partition(1, &[1], &[1])], &local()),
            Err(Refusal::TooFewReplicas { replicas: 1, .. })
        ));
        assert!(matches!(
            plan("t", &b, &[partition(1, &[1, 2], &[1])], &local()),
            Err(Refusal::NotInSync { .. })
        ));
        assert!(matches!(
            plan("t", &b, &[partition(-1, &[1, 2], &[])], &local()),
            Err(Refusal::NoLeader { .. })
        ));
        assert!(matches!(
            plan("t", &b, &[], &local()),
            Err(Refusal::NoPartition(_))
        ));
        assert!(matches!(
            plan("t", &b, &[partition(7, &[7, 2], &[7, 2])], &local()),
            Err(Refusal::UnknownBroker(7))
        ));
    }

    #[test]
    fn the_tally_counts_missing_and_repeated_events() {
        let ids: Vec<uuid::Uuid> = (0..4).map(|_| uuid::Uuid::new_v4()).collect();
        let written: Vec<OutboxEntry> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| OutboxEntry {
                id: i as i64,
                event_id: *id,
                sent: true,
            })
            .collect();
        // ids[1] twice, ids[2] three times, ids[3] never; one unrelated id.
        let found = vec![
            ids[0],
            ids[1],
            ids[1],
            ids[2],
            ids[2],
            ids[2],
            uuid::Uuid::new_v4(),
        ];
        assert_eq!(
            tally(&written, &found),
            Tally {
                events_written: 4,
                events_lost: 1,
                events_duplicated: 3,
            }
        );
    }
}
