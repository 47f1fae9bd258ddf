//! The dead-letter topic for on-call, through the messaging crate's
//! `dead_letters`: read the letters, plan a replay that says before
//! anything is sent how many of each consuming group has already processed
//! (they will skip them as duplicates) and how many it has not, and re-send
//! at a bounded rate, marking each letter replayed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;
use ticketing_catalog::ServiceName;
use ticketing_messaging::dead_letters::{self, DeadLetter, LetterId};
use uuid::Uuid;

use crate::environment::Environment;
use crate::error::OpsError;

fn kafka_error(ctx: &Environment, e: dead_letters::DeadLetterError) -> OpsError {
    match e {
        dead_letters::DeadLetterError::Kafka(e) => crate::ops::kafka::unreachable(ctx, e),
        other => OpsError::Failed(other.into()),
    }
}

/// Letters read per partition of the dead-letter topic.
pub const READ_LIMIT: usize = 10_000;

/// Every letter (at most `limit` per partition of the topic).
pub async fn letters(ctx: &Environment, limit: usize) -> Result<Vec<DeadLetter>, OpsError> {
    dead_letters::read(&ctx.settings.kafka, limit)
        .await
        .map_err(|e| kafka_error(ctx, e))
}

/// Which letters a command is about.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// Only letters these ids name (all when empty).
    pub ids: Vec<LetterId>,
    /// Only letters of this group (physical name).
    pub group: Option<String>,
    /// Letters replayed before too (left out otherwise, even when named:
    /// a second replay repeats nothing unless asked to).
    pub include_replayed: bool,
}

/// The letters `selection` picks; an id that names no letter is an error
/// that says so.
pub fn select(
    letters: Vec<DeadLetter>,
    selection: &Selection,
) -> Result<Vec<DeadLetter>, OpsError> {
    let known: BTreeSet<LetterId> = letters.iter().map(|l| l.id).collect();
    if let Some(missing) = selection.ids.iter().find(|id| !known.contains(id)) {
        return Err(OpsError::usage(
            format!("the dead-letter topic has no letter {missing}"),
            "list them with `opsctl dlq list --all`",
        ));
    }
    Ok(letters
        .into_iter()
        .filter(|l| selection.ids.is_empty() || selection.ids.contains(&l.id))
        .filter(|l| selection.group.as_ref().is_none_or(|g| &l.group == g))
        .filter(|l| selection.include_replayed || !l.replayed)
        .collect())
}

/// The physical name of a service's group, for `--group`.
pub fn group_name(ctx: &Environment, service: &str) -> Result<String, OpsError> {
    let groups = crate::ops::kafka::groups(ctx, Some(service))?;
    Ok(groups
        .into_iter()
        .next()
        .map(|(g, _)| g)
        .unwrap_or_default())
}

/// Of the letters' events, those each consuming group has processed.
pub async fn processed(
    ctx: &Environment,
    letters: &[DeadLetter],
) -> Result<BTreeMap<String, BTreeSet<Uuid>>, OpsError> {
    let ids: Vec<Uuid> = letters.iter().filter_map(|l| l.event_id).collect();
    let mut out = BTreeMap::new();
    for service in ServiceName::ALL {
        if service.consumes().is_empty() {
            continue;
        }
        let group = ctx.settings.kafka.topic(service.as_str());
        let pool = crate::ops::db::pool(ctx, service)?;
        let done = dead_letters::processed(&pool, &group, &ids)
            .await
            .map_err(|e| {
                OpsError::Failed(anyhow::anyhow!(
                    "reading {service}'s processed events failed: {e}; check the database settings and TICKETING_DATABASE_PASSWORD"
                ))
            })?;
        pool.close().await;
        out.insert(group, done);
    }
    Ok(out)
}

/// One letter in a replay plan: which groups will apply it, which skip it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedLetter {
    pub id: LetterId,
    pub source_topic: String,
    pub event_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub dead_lettered_by: String,
    /// Groups that processed the event already: they skip it.
    pub duplicate_for: Vec<String>,
    /// Groups that have not: they apply it.
    pub new_for: Vec<String>,
}

/// Per consuming group, what the replay brings it.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct GroupCount {
    pub group: String,
    pub already_processed: usize,
    pub not_processed: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReplayPlan {
    pub letters: Vec<PlannedLetter>,
    pub groups: Vec<GroupCount>,
    /// Letters that hold no event envelope: every consumer dead-letters
    /// them again.
    pub not_events: usize,
}

/// The pure replay plan: each letter goes back to its source topic, where
/// every group in `consumers` (group, topics) reads it; `processed` says
/// which of them already did.
pub fn plan(
    letters: &[DeadLetter],
    consumers: &[(String, Vec<String>)],
    processed: &BTreeMap<String, BTreeSet<Uuid>>,
) -> ReplayPlan {
    let mut counts: BTreeMap<&str, GroupCount> = BTreeMap::new();
    let mut planned = Vec::with_capacity(letters.len());
    for letter in letters {
        let readers = consumers
            .iter()
            .filter(|(_, topics)| topics.contains(&letter.source_topic))
            .map(|(g, _)| g.as_str());
        let (mut duplicate_for, mut new_for) = (Vec::new(), Vec::new());
        for group in readers {
            let count = counts.entry(group).or_insert_with(|| GroupCount {
                group: group.to_owned(),
                ..GroupCount::default()
            });
            let done = letter
                .event_id
                .is_some_and(|id| processed.get(group).is_some_and(|p| p.contains(&id)));
            if done {
                count.already_processed += 1;
                duplicate_for.push(group.to_owned());
            } else {
                count.not_processed += 1;
                new_for.push(group.to_owned());
            }
        }
        planned.push(PlannedLetter {
            id: letter.id,
            source_topic: letter.source_topic.clone(),
            event_id: letter.event_id,
            event_type: letter.event_type.clone(),
            dead_lettered_by: letter.group.clone(),
            duplicate_for,
            new_for,
        });
    }
    ReplayPlan {
        letters: planned,
        groups: counts.into_values().collect(),
        not_events: letters.iter().filter(|l| l.event_id.is_none()).count(),
    }
}

/// What a replay did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Replayed {
    pub sent: usize,
    pub failed: Vec<String>,
}

/// Re-sends `letters` at most `rate` a second; `each` is told of every
/// one sent (the audit's progress). Stops at the first failure: the
/// letters after it stay unreplayed, and running it again resumes there.
pub async fn apply(
    ctx: &Environment,
    letters: &[DeadLetter],
    rate: u32,
    mut each: impl FnMut(&DeadLetter) -> Result<(), OpsError>,
) -> Result<Replayed, OpsError> {
    let producer = ticketing_messaging::relay::idempotent_producer(
        &ctx.settings.kafka,
        Duration::from_secs(10),
    )
    .map_err(|e| {
        OpsError::Failed(anyhow::anyhow!(
            "the Kafka producer could not be created: {e}"
        ))
    })?;
    let gap = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut done = Replayed::default();
    for (i, letter) in letters.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        if let Err(e) = dead_letters::replay(&ctx.settings.kafka, &producer, letter).await {
            done.failed.push(format!("{}: {e}", letter.id));
            break;
        }
        done.sent += 1;
        each(letter)?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(offset: i64, event: Option<Uuid>, replayed: bool) -> DeadLetter {
        DeadLetter {
            id: LetterId {
                partition: 0,
                offset,
            },
            written_at: None,
            source_topic: "reservation.events".into(),
            source_partition: Some(0),
            source_offset: Some(offset),
            group: "event-service".into(),
            error: "boom".into(),
            attempts: Some(1),
            event_id: event,
            event_type: None,
            aggregate_id: None,
            replayed,
            key: None,
            payload: Vec::new(),
            headers: Vec::new(),
        }
    }

    #[test]
    fn the_plan_counts_duplicates_per_group_before_anything_is_sent() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let letters = [
            letter(0, Some(a), false),
            letter(1, Some(b), false),
            letter(2, None, false),
        ];
        let consumers = vec![
            (
                "event-service".to_owned(),
                vec!["reservation.events".to_owned()],
            ),
            (
                "payment-service".to_owned(),
                vec!["reservation.events".to_owned()],
            ),
            (
                "reservation-service".to_owned(),
                vec!["payment.events".to_owned()],
            ),
        ];
        let processed = BTreeMap::from([
            ("payment-service".to_owned(), BTreeSet::from([a, b])),
            ("event-service".to_owned(), BTreeSet::from([b])),
        ]);
        let plan = plan(&letters, &consumers, &processed);
        assert_eq!(
            plan.groups,
            vec![
                GroupCount {
                    group: "event-service".into(),
                    already_processed: 1,
                    not_processed: 2
                },
                GroupCount {
                    group: "payment-service".into(),
                    already_processed: 2,
                    not_processed: 1
                },
            ],
            "reservation-service does not read the topic"
        );
        assert_eq!(plan.not_events, 1);
        assert_eq!(plan.letters[0].new_for, ["event-service"]);
        assert_eq!(plan.letters[0].duplicate_for, ["payment-service"]);
    }

    #[test]
    fn replayed_letters_are_left_out_unless_asked_for() {
        let letters = vec![letter(0, None, true), letter(1, None, false)];
        let all = Selection::default();
        assert_eq!(select(letters.clone(), &all).expect("select").len(), 1);
        let named = Selection {
            ids: vec![LetterId {
                partition: 0,
                offset: 0,
            }],
            ..Selection::default()
        };
        assert_eq!(select(letters.clone(), &named).expect("select").len(), 0);
        let again = Selection {
            include_replayed: true,
            ..named
        };
        assert_eq!(select(letters.clone(), &again).expect("select").len(), 1);
        let missing = Selection {
            ids: vec![LetterId {
                partition: 0,
                offset: 9,
            }],
            ..Selection::default()
        };
        assert!(select(letters, &missing).is_err());
    }
}
