//! Kafka operations shared by the commands: consumer-group lag samples,
//! the local broker command, and the pure offset-reset plan (the restart
//! is in `kafka_restart.rs`).

use serde::Serialize;
use ticketing_catalog::ServiceName;
use ticketing_kafka::PartitionLag;

use crate::environment::Environment;
use crate::error::OpsError;

pub fn unreachable(ctx: &Environment, e: ticketing_kafka::KafkaError) -> OpsError {
    OpsError::Failed(anyhow::anyhow!(
        "{e}; is the broker at {} up? (`opsctl kafka restart` brings it back)",
        ctx.settings.kafka.bootstrap_servers
    ))
}

/// The groups to look at and their topics (physical names).
pub fn groups(
    ctx: &Environment,
    only: Option<&str>,
) -> Result<Vec<(String, Vec<String>)>, OpsError> {
    let kafka = &ctx.settings.kafka;
    let consumers: Vec<ServiceName> = ServiceName::ALL
        .into_iter()
        .filter(|s| !s.consumes().is_empty())
        .collect();
    let chosen: Vec<ServiceName> = match only {
        None => consumers,
        Some(g) => match consumers.iter().find(|s| s.as_str() == g) {
            Some(s) => vec![*s],
            None => {
                return Err(OpsError::usage(
                    format!("unknown consumer group `{g}`"),
                    format!(
                        "the groups are: {}",
                        consumers
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
        },
    };
    Ok(chosen
        .into_iter()
        .map(|s| {
            (
                kafka.topic(s.as_str()),
                s.consumes().iter().map(|t| kafka.topic(t)).collect(),
            )
        })
        .collect())
}

pub async fn sample(
    ctx: &Environment,
    groups: &[(String, Vec<String>)],
) -> Result<Vec<(String, PartitionLag)>, OpsError> {
    let mut out = Vec::new();
    for (group, topics) in groups {
        let lag = ticketing_kafka::group_lag(&ctx.settings.kafka, group, topics)
            .await
            .map_err(|e| match e {
                ticketing_kafka::KafkaError::UnknownTopic(t) => OpsError::usage(
                    format!("topic `{t}` does not exist"),
                    "check `opsctl kafka health`; the topics are created by infra/local/stack.sh or the Kafka stack",
                ),
                other => unreachable(ctx, other),
            })?;
        out.extend(lag.into_iter().map(|p| (group.clone(), p)));
    }
    Ok(out)
}

/// Offsets a reset saved, to restore them.
#[derive(Serialize, serde::Deserialize)]
pub struct SavedOffsets {
    pub group: String,
    pub saved_at: String,
    pub offsets: Vec<SavedOffset>,
}

#[derive(Serialize, serde::Deserialize, Clone)]
pub struct SavedOffset {
    pub topic: String,
    pub partition: i32,
    /// `None`: the group had committed nothing there.
    pub offset: Option<i64>,
}

/// One partition of a reset plan.
#[derive(Serialize, Debug, PartialEq, Clone)]
pub struct ResetLine {
    pub topic: String,
    pub partition: i32,
    pub current: Option<i64>,
    pub new: i64,
}

/// Where a reset moves a group's offsets.
pub enum ResetTarget {
    Earliest,
    Latest,
    /// The same offset on every partition.
    Offset(i64),
    /// Offsets a previous reset saved.
    Saved(SavedOffsets),
    /// Offsets the broker resolved (for a point in time).
    Resolved(Vec<(String, i32, i64)>),
}

/// The pure plan of a reset: for each partition of `current` (the group's
/// committed offsets against the logs) or of the target, where it moves.
pub fn reset_plan(
    group: &str,
    current: &[PartitionLag],
    target: ResetTarget,
) -> Result<Vec<ResetLine>, OpsError> {
    let targets: Vec<(String, i32, i64)> = match target {
        ResetTarget::Saved(saved) => {
            if saved.group != group {
                return Err(OpsError::usage(
                    format!(
                        "the file holds offsets of group `{}`, not `{group}`",
                        saved.group
                    ),
                    "pick the file of this group",
                ));
            }
            saved
                .offsets
                .into_iter()
                .filter_map(|o| o.offset.map(|off| (o.topic, o.partition, off)))
                .collect()
        }
        ResetTarget::Earliest => current
            .iter()
            .map(|p| (p.topic.clone(), p.partition, p.log_start))
            .collect(),
        ResetTarget::Latest => current
            .iter()
            .map(|p| (p.topic.clone(), p.partition, p.log_end))
            .collect(),
        ResetTarget::Resolved(offsets) => offsets,
        ResetTarget::Offset(offset) => {
            if let Some(p) = current
                .iter()
                .find(|p| offset < p.log_start || offset > p.log_end)
            {
                return Err(OpsError::usage(
                    format!(
                        "offset {offset} is outside {} partition {} ({}..={})",
                        p.topic, p.partition, p.log_start, p.log_end
                    ),
                    "pick an offset inside every partition's range, or use --to earliest|latest|datetime",
                ));
            }
            current
                .iter()
                .map(|p| (p.topic.clone(), p.partition, offset))
                .collect()
        }
    };
    Ok(targets
        .into_iter()
        .map(|(topic, partition, new)| ResetLine {
            current: current
                .iter()
                .find(|p| p.topic == topic && p.partition == partition)
                .and_then(|p| p.committed),
            topic,
            partition,
            new,
        })
        .collect())
}

/// The committed offsets of `current`, to save before a reset.
pub fn saved_offsets(group: &str, current: &[PartitionLag]) -> SavedOffsets {
    SavedOffsets {
        group: group.to_owned(),
        saved_at: chrono::Utc::now().to_rfc3339(),
        offsets: current
            .iter()
            .map(|p| SavedOffset {
                topic: p.topic.clone(),
                partition: p.partition,
                offset: p.committed,
            })
            .collect(),
    }
}

/// Refuses to go on while `group` has active members (or they cannot be
/// listed).
pub async fn ensure_group_stopped(ctx: &Environment, group: &str) -> Result<(), OpsError> {
    let members = ticketing_kafka::group_members(&ctx.settings.kafka, group)
        .await
        .map_err(|e| {
            OpsError::usage(
                format!("the broker could not list the members of `{group}` ({e}), so it is unknown whether its consumers are stopped"),
                "check that the broker is reachable (opsctl kafka health), then run this again",
            )
        })?;
    if members > 0 {
        return Err(OpsError::usage(
            format!("group `{group}` has {members} active member(s); offsets of a running group cannot be moved"),
            "stop its consumers first (scale the service to 0 tasks), then run this again",
        ));
    }
    Ok(())
}

pub async fn run_local(command: &str, timeout: std::time::Duration) -> Result<(), OpsError> {
    let child = tokio::process::Command::new("sh")
        .args(["-c", command])
        .stdin(std::process::Stdio::null())
        .output();
    let out = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| {
            OpsError::Failed(anyhow::anyhow!(
                "`{command}` did not finish within {} s",
                timeout.as_secs()
            ))
        })?
        .map_err(|e| OpsError::Failed(anyhow::anyhow!("`{command}` could not run: {e}")))?;
    if !out.status.success() {
        return Err(OpsError::Failed(anyhow::anyhow!(
            "`{command}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The offsets an earlier `--execute` saved to `path`.
pub fn read_saved(path: &std::path::Path) -> Result<SavedOffsets, OpsError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        OpsError::usage(
            format!("{} cannot be read: {e}", path.display()),
            if crate::ops::ops_task::inside_vpc() {
                "this runs in the ops task, where files of your machine are not: restore with --from-audit"
            } else {
                "give the file a previous --execute saved, or restore with --from-audit"
            },
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        OpsError::usage(
            format!("{} is not a saved-offsets file: {e}", path.display()),
            "give the file a previous --execute saved",
        )
    })
}

/// Writes the offsets a reset moves away from, for `--from-file`.
pub fn write_saved(path: &std::path::Path, saved: &SavedOffsets) -> Result<(), String> {
    let json = serde_json::to_string_pretty(saved).map_err(|e| e.to_string())?;
    std::fs::write(path, json).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(partition: i32, committed: Option<i64>, start: i64, end: i64) -> PartitionLag {
        PartitionLag {
            topic: "t".into(),
            partition,
            committed,
            log_start: start,
            log_end: end,
            lag: end - committed.unwrap_or(start),
        }
    }

    #[test]
    fn a_reset_plan_moves_each_partition_and_refuses_what_cannot_be() {
        let current = [partition(0, Some(6), 0, 10), partition(1, None, 2, 4)];
        let earliest = reset_plan("g", &current, ResetTarget::Earliest).expect("plan");
        assert_eq!(
            earliest
                .iter()
                .map(|l| (l.current, l.new))
                .collect::<Vec<_>>(),
            [(Some(6), 0), (None, 2)]
        );
        let latest = reset_plan("g", &current, ResetTarget::Latest).expect("plan");
        assert_eq!(latest[0].new, 10);
        assert_eq!(
            reset_plan("g", &current, ResetTarget::Offset(3))
                .expect("plan")
                .iter()
                .map(|l| l.new)
                .collect::<Vec<_>>(),
            [3, 3]
        );
        let outside = reset_plan("g", &current, ResetTarget::Offset(9)).expect_err("outside");
        assert!(outside.to_string().contains("partition 1"), "{outside}");
        let saved = saved_offsets("g", &current);
        let restored = reset_plan("g", &current, ResetTarget::Saved(saved)).expect("plan");
        assert_eq!(
            restored
                .iter()
                .map(|l| (l.partition, l.new))
                .collect::<Vec<_>>(),
            [(0, 6)],
            "a partition with nothing committed is left alone"
        );
        let other = reset_plan(
            "h",
            &current,
            ResetTarget::Saved(saved_offsets("g", &current)),
        )
        .expect_err("another group's file");
        assert!(other.to_string().contains("group `g`"), "{other}");
    }
}
