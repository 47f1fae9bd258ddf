//! The failover drill's pure parts: which broker to stop and how (refused
//! unless the partition is fully replicated and in sync), and the tally of
//! the drill's events (lost, duplicated).

use std::collections::HashMap;

use serde::Serialize;
use ticketing_catalog::{aws, topics};
use ticketing_kafka::{BrokerInfo, PartitionLeader};

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
pub fn only_on(address: &str, command: &str) -> String {
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
