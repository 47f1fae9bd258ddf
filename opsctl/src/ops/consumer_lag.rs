//! A verdict on each consumer group, after Burrow's evaluation rules
//! (github.com/linkedin/Burrow/wiki/Consumer-Lag-Evaluation-Rules) over a
//! window of two samples: not a threshold on messages but what the group
//! does. Per partition, at the end of the window:
//!
//! - no lag: OK;
//! - the committed offset did not move and the oldest unprocessed record
//!   is older than the window: STOP when the group has no members (nothing
//!   consumes), STALL when it has (consumers present, not getting on);
//! - it moved, but the lag grew: WARN (consuming slower than the writes);
//! - it moved, or the records arrived within the window, but the oldest
//!   unprocessed one is older than `warn_after`: WARN;
//! - else OK.
//!
//! The group's status is its worst partition's.

use chrono::{DateTime, Utc};
use serde::Serialize;
use ticketing_kafka::PartitionLag;

use crate::environment::Environment;
use crate::error::OpsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Ok,
    Warn,
    Stall,
    Stop,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Stall => "STALL",
            Status::Stop => "STOP",
        }
    }

    /// Whether on-call must act (the command exits 1).
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Stall | Status::Stop)
    }
}

/// One partition's two samples and the age of its oldest unprocessed record.
#[derive(Debug, Clone)]
pub struct Window<'a> {
    pub before: Option<&'a PartitionLag>,
    pub after: &'a PartitionLag,
    /// When the oldest record the group has not processed was written.
    pub oldest_unprocessed: Option<DateTime<Utc>>,
}

/// A partition's status and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Judged {
    pub status: Status,
    /// Seconds the oldest unprocessed record has waited (0 without lag).
    pub lag_seconds: Option<i64>,
    pub committed_moved: bool,
    pub evidence: String,
}

/// What the rules say of one partition, `members` being the group's.
pub fn judge(
    w: &Window<'_>,
    members: usize,
    now: DateTime<Utc>,
    window_seconds: f64,
    warn_after_seconds: i64,
) -> Judged {
    let after = w.after;
    let moved = w
        .before
        .is_some_and(|b| after.committed.unwrap_or(-1) > b.committed.unwrap_or(-1));
    let age_ms = if after.lag == 0 {
        Some(0)
    } else {
        w.oldest_unprocessed
            .map(|t| (now - t).num_milliseconds().max(0))
    };
    let lag_seconds = age_ms.map(|ms| ms / 1000);
    let grew = w.before.is_some_and(|b| after.lag > b.lag);
    // Unknown age (the record is gone): judged by the offsets alone.
    let waited = age_ms.is_none_or(|ms| ms as f64 > window_seconds * 1000.0);
    let (status, evidence) = if after.lag == 0 {
        (Status::Ok, "at the log end".to_owned())
    } else if !moved && waited {
        let at = after.committed.map_or("nothing committed".to_owned(), |c| {
            format!("committed offset stuck at {c}")
        });
        let age = lag_seconds.map_or("of unknown age".to_owned(), |s| format!("{s} s old"));
        if members == 0 {
            (
                Status::Stop,
                format!(
                    "no consumer in the group; {at}, {} behind, the oldest {age}",
                    after.lag
                ),
            )
        } else {
            (
                Status::Stall,
                format!(
                    "{members} member(s) but {at}; {} behind, the oldest {age}",
                    after.lag
                ),
            )
        }
    } else if moved && grew {
        let before = w.before.map_or(0, |b| b.lag);
        (
            Status::Warn,
            format!(
                "consuming, but falling behind: lag {before} -> {}",
                after.lag
            ),
        )
    } else if lag_seconds.is_some_and(|s| s > warn_after_seconds) {
        (
            Status::Warn,
            format!(
                "consuming, {} behind, the oldest unprocessed {} s old",
                after.lag,
                lag_seconds.unwrap_or_default()
            ),
        )
    } else {
        (Status::Ok, format!("consuming, {} behind", after.lag))
    };
    Judged {
        status,
        lag_seconds,
        committed_moved: moved,
        evidence,
    }
}

#[derive(Serialize, Clone)]
pub struct PartitionVerdict {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub committed: Option<i64>,
    pub log_end: i64,
    pub lag: i64,
    /// Messages per second the group works off, net of new ones.
    pub drain_per_second: Option<f64>,
    /// Seconds until this partition's lag is 0 at that rate.
    pub drain_estimate_seconds: Option<f64>,
    /// How long the oldest unprocessed record has waited.
    pub lag_seconds: Option<i64>,
    pub committed_moved: bool,
    pub status: Status,
    pub evidence: String,
}

/// One group's verdict: its worst partition's status, and the members
/// seen.
#[derive(Serialize, Clone)]
pub struct GroupVerdict {
    pub group: String,
    pub status: Status,
    pub members: usize,
    pub lag: i64,
    pub lag_seconds: Option<i64>,
    pub evidence: String,
}

/// A window's verdicts: each partition's, and each group's (its worst
/// partition's).
pub struct Assessment {
    pub partitions: Vec<PartitionVerdict>,
    pub groups: Vec<GroupVerdict>,
}

/// Judges the two samples `first` and `second`, `dt` seconds apart:
/// reads each group's members and each partition's oldest unprocessed
/// record, then applies the rules.
pub async fn assess(
    ctx: &Environment,
    first: &[(String, PartitionLag)],
    second: &[(String, PartitionLag)],
    dt: f64,
    warn_after_seconds: u64,
) -> Result<Assessment, OpsError> {
    let now = chrono::Utc::now();
    let mut rows: Vec<PartitionVerdict> = Vec::with_capacity(second.len());
    let mut counts = std::collections::BTreeMap::new();
    for (group, after) in second {
        if !counts.contains_key(group) {
            counts.insert(group.clone(), members(ctx, group).await?);
        }
        let before = first
            .iter()
            .find(|(g, p)| g == group && p.topic == after.topic && p.partition == after.partition)
            .map(|(_, p)| p);
        let window = Window {
            before,
            after,
            oldest_unprocessed: written_at(ctx, after).await?,
        };
        let judged = judge(
            &window,
            counts.get(group).copied().unwrap_or(0),
            now,
            dt,
            i64::try_from(warn_after_seconds).unwrap_or(i64::MAX),
        );
        let drain = before.map(|b| (b.lag - after.lag) as f64 / dt);
        rows.push(PartitionVerdict {
            group: group.clone(),
            topic: after.topic.clone(),
            partition: after.partition,
            committed: after.committed,
            log_end: after.log_end,
            lag: after.lag,
            drain_per_second: drain,
            drain_estimate_seconds: match drain {
                _ if after.lag == 0 => Some(0.0),
                Some(rate) if rate > 0.0 => Some(after.lag as f64 / rate),
                _ => None,
            },
            lag_seconds: judged.lag_seconds,
            committed_moved: judged.committed_moved,
            status: judged.status,
            evidence: judged.evidence,
        });
    }
    let groups = verdicts(&rows, &counts);
    Ok(Assessment {
        partitions: rows,
        groups,
    })
}

/// Each group's worst partition, with its evidence.
fn verdicts(
    rows: &[PartitionVerdict],
    members: &std::collections::BTreeMap<String, usize>,
) -> Vec<GroupVerdict> {
    members
        .iter()
        .map(|(group, members)| {
            let mine = rows.iter().filter(|r| &r.group == group);
            let worst = mine
                .clone()
                .max_by_key(|r| (r.status, r.lag_seconds.unwrap_or(0), r.lag));
            GroupVerdict {
                group: group.clone(),
                status: worst.map_or(Status::Ok, |w| w.status),
                members: *members,
                lag: mine.clone().map(|r| r.lag).sum(),
                lag_seconds: mine.filter_map(|r| r.lag_seconds).max(),
                evidence: worst.map_or_else(
                    || "no partitions".to_owned(),
                    |w| format!("{}[{}]: {}", w.topic, w.partition, w.evidence),
                ),
            }
        })
        .collect()
}

/// When the oldest record the group at `p` has not processed was written.
pub async fn written_at(
    ctx: &Environment,
    p: &PartitionLag,
) -> Result<Option<DateTime<Utc>>, OpsError> {
    ticketing_kafka::oldest_unprocessed(&ctx.settings.kafka, p)
        .await
        .map_err(|e| crate::ops::kafka::unreachable(ctx, e))
}

/// Members of each group, by name.
pub async fn members(ctx: &Environment, group: &str) -> Result<usize, OpsError> {
    ticketing_kafka::group_members(&ctx.settings.kafka, group)
        .await
        .map_err(|e| crate::ops::kafka::unreachable(ctx, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(committed: Option<i64>, log_end: i64) -> PartitionLag {
        PartitionLag {
            topic: "t".into(),
            partition: 0,
            committed,
            log_start: 0,
            log_end,
            lag: log_end - committed.unwrap_or(0),
        }
    }

    fn status(before: &PartitionLag, after: &PartitionLag, members: usize, age: i64) -> Status {
        let now = Utc::now();
        let w = Window {
            before: Some(before),
            after,
            oldest_unprocessed: Some(now - chrono::Duration::seconds(age)),
        };
        judge(&w, members, now, 5.0, 30).status
    }

    #[test]
    fn the_rules_tell_a_stopped_consumer_from_a_stuck_and_a_slow_one() {
        // Caught up.
        assert_eq!(
            status(&at(Some(10), 10), &at(Some(10), 10), 0, 0),
            Status::Ok
        );
        // Nothing moves, nobody consumes: STOP; somebody there: STALL.
        assert_eq!(
            status(&at(Some(5), 10), &at(Some(5), 10), 0, 60),
            Status::Stop
        );
        assert_eq!(
            status(&at(Some(5), 10), &at(Some(5), 10), 2, 60),
            Status::Stall
        );
        // Records newer than the window: not judged stuck yet.
        assert_eq!(status(&at(Some(5), 10), &at(Some(5), 10), 0, 2), Status::Ok);
        // Moving but the lag grows: WARN.
        assert_eq!(
            status(&at(Some(5), 10), &at(Some(8), 20), 1, 3),
            Status::Warn
        );
        // Moving, lag shrinking, but far behind in time: WARN; close: OK.
        assert_eq!(
            status(&at(Some(5), 100), &at(Some(50), 90), 1, 45),
            Status::Warn
        );
        assert_eq!(
            status(&at(Some(5), 100), &at(Some(50), 90), 1, 3),
            Status::Ok
        );
        // Worst first.
        assert!(Status::Stop > Status::Stall && Status::Stall > Status::Warn);
        assert!(Status::Stop.is_failure() && !Status::Warn.is_failure());
    }
}
