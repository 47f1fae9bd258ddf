//! The dead-letter topic read back, and letters re-sent to the topic they
//! came from (for `opsctl dlq`). A letter is what [`crate::consumer`] wrote
//! when it gave up on a message: the message's key, payload and headers,
//! plus `dlq.*` headers naming the source, the group, the error and the
//! attempts. Re-sending one writes it to its source topic without the
//! `dlq.*` headers (with `dlq.replayed.from` naming the letter), then a
//! marker to the dead-letter topic (`dlq.replay.of`), so the letter reads
//! as replayed from then on and a second replay skips it. Consumers never
//! read the dead-letter topic, so markers reach nobody else.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use sqlx::PgPool;
use ticketing_catalog::topics;
use ticketing_config::KafkaSettings;
use ticketing_events::Envelope;
use ticketing_kafka::{KafkaError, Record};
use uuid::Uuid;

pub const SOURCE_TOPIC: &str = "dlq.source.topic";
pub const SOURCE_PARTITION: &str = "dlq.source.partition";
pub const SOURCE_OFFSET: &str = "dlq.source.offset";
pub const GROUP: &str = "dlq.consumer.group";
pub const ERROR: &str = "dlq.error";
pub const ATTEMPTS: &str = "dlq.attempts";
/// On a re-sent message: the letter it came from (`<partition>:<offset>`).
pub const REPLAYED_FROM: &str = "dlq.replayed.from";
/// On a marker in the dead-letter topic: the letter it marks replayed.
pub const REPLAY_OF: &str = "dlq.replay.of";

/// A letter's place in the dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LetterId {
    pub partition: i32,
    pub offset: i64,
}

impl std::fmt::Display for LetterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.partition, self.offset)
    }
}

impl std::str::FromStr for LetterId {
    type Err = String;

    /// `<partition>:<offset>`, or an offset alone (partition 0).
    fn from_str(raw: &str) -> Result<LetterId, String> {
        let bad = || format!("`{raw}` is not a letter id: give OFFSET or PARTITION:OFFSET");
        let (partition, offset) = match raw.split_once(':') {
            Some((p, o)) => (p.parse().map_err(|_| bad())?, o.parse().map_err(|_| bad())?),
            None => (0, raw.parse().map_err(|_| bad())?),
        };
        if partition < 0 || offset < 0 {
            return Err(bad());
        }
        Ok(LetterId { partition, offset })
    }
}

/// One dead letter.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: LetterId,
    pub written_at: Option<DateTime<Utc>>,
    /// Where the message was (physical topic name).
    pub source_topic: String,
    pub source_partition: Option<i32>,
    pub source_offset: Option<i64>,
    /// The group that gave up on it (physical name).
    pub group: String,
    pub error: String,
    pub attempts: Option<u32>,
    /// The event in it, when the payload is an event envelope.
    pub event_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub aggregate_id: Option<String>,
    /// Whether a replay has re-sent it.
    pub replayed: bool,
    #[serde(skip)]
    pub key: Option<Vec<u8>>,
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// The message's own headers (without the `dlq.*` ones).
    #[serde(skip)]
    pub headers: Vec<(String, Vec<u8>)>,
}

impl DeadLetter {
    /// A letter from its record; `None` for a replay marker.
    pub fn from_record(record: Record) -> Option<DeadLetter> {
        let header = |name: &str| {
            record
                .headers
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        if header(REPLAY_OF).is_some() {
            return None;
        }
        let envelope = Envelope::from_slice(&record.payload).ok();
        Some(DeadLetter {
            id: LetterId {
                partition: record.partition,
                offset: record.offset,
            },
            written_at: record
                .timestamp_ms
                .and_then(DateTime::from_timestamp_millis),
            source_topic: header(SOURCE_TOPIC).unwrap_or_default(),
            source_partition: header(SOURCE_PARTITION).and_then(|p| p.parse().ok()),
            source_offset: header(SOURCE_OFFSET).and_then(|o| o.parse().ok()),
            group: header(GROUP).unwrap_or_default(),
            error: header(ERROR).unwrap_or_default(),
            attempts: header(ATTEMPTS).and_then(|a| a.parse().ok()),
            event_id: envelope.as_ref().map(|e| e.event_id),
            event_type: envelope.as_ref().map(|e| e.event_type.clone()),
            aggregate_id: envelope.as_ref().map(|e| e.aggregate_id.clone()),
            replayed: false,
            key: record.key,
            payload: record.payload,
            headers: record
                .headers
                .into_iter()
                .filter(|(k, _)| !k.starts_with("dlq."))
                .collect(),
        })
    }
}

/// The letters marked replayed by the markers among `records`.
fn replayed_ids(records: &[Record]) -> HashSet<LetterId> {
    records
        .iter()
        .filter_map(|r| {
            let (_, v) = r.headers.iter().find(|(k, _)| k == REPLAY_OF)?;
            String::from_utf8_lossy(v).parse().ok()
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error("writing to `{topic}` failed: {source}")]
    Send {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("letter {0} names no source topic; it cannot be re-sent")]
    NoSource(LetterId),
}

/// Every letter in the dead-letter topic (at most `limit` read per
/// partition), oldest first, with whether each was replayed.
pub async fn read(kafka: &KafkaSettings, limit: usize) -> Result<Vec<DeadLetter>, DeadLetterError> {
    let topic = kafka.topic(topics::DLQ);
    let (_, partitions) = ticketing_kafka::partition_leaders(kafka, &topic).await?;
    let mut records = Vec::new();
    for p in partitions {
        records.extend(
            ticketing_kafka::read_partition(kafka, &topic, p.partition, 0, None, limit).await?,
        );
    }
    let replayed = replayed_ids(&records);
    let mut letters: Vec<DeadLetter> = records
        .into_iter()
        .filter_map(DeadLetter::from_record)
        .map(|mut l| {
            l.replayed = replayed.contains(&l.id);
            l
        })
        .collect();
    letters.sort_by_key(|l| (l.written_at, l.id));
    Ok(letters)
}

/// Re-sends `letter` to its source topic, then marks it replayed.
pub async fn replay(
    kafka: &KafkaSettings,
    producer: &FutureProducer,
    letter: &DeadLetter,
) -> Result<(), DeadLetterError> {
    if letter.source_topic.is_empty() {
        return Err(DeadLetterError::NoSource(letter.id));
    }
    let from = letter.id.to_string();
    let mut headers = OwnedHeaders::new();
    for (k, v) in &letter.headers {
        headers = headers.insert(Header {
            key: k,
            value: Some(v.as_slice()),
        });
    }
    headers = headers.insert(Header {
        key: REPLAYED_FROM,
        value: Some(from.as_str()),
    });
    let key = letter.key.clone().unwrap_or_default();
    let record = FutureRecord::to(&letter.source_topic)
        .key(&key)
        .payload(&letter.payload)
        .headers(headers);
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(source, _)| DeadLetterError::Send {
            topic: letter.source_topic.clone(),
            source,
        })?;
    let dlq = kafka.topic(topics::DLQ);
    let marker = OwnedHeaders::new().insert(Header {
        key: REPLAY_OF,
        value: Some(from.as_str()),
    });
    producer
        .send(
            FutureRecord::<[u8], [u8]>::to(&dlq)
                .key(&key)
                .payload(&[])
                .headers(marker),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(source, _)| DeadLetterError::Send { topic: dlq, source })?;
    Ok(())
}

/// Of `event_ids`, those `group` has processed (its `processed_events`
/// rows in `pool`'s schema).
pub async fn processed(
    pool: &PgPool,
    group: &str,
    event_ids: &[Uuid],
) -> Result<BTreeSet<Uuid>, sqlx::Error> {
    Ok(processed_at(pool, group, event_ids)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// When `group` processed each of `event_ids` it has processed.
pub async fn processed_at(
    pool: &PgPool,
    group: &str,
    event_ids: &[Uuid],
) -> Result<Vec<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, processed_at FROM processed_events \
         WHERE consumer_group = $1 AND event_id = ANY($2)",
    )
    .bind(group)
    .bind(event_ids)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64, headers: &[(&str, &str)]) -> Record {
        Record {
            topic: "DLQ".into(),
            partition: 0,
            offset,
            timestamp_ms: Some(0),
            key: None,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            payload: b"not an envelope".to_vec(),
        }
    }

    #[test]
    fn a_letter_keeps_its_own_headers_and_markers_are_not_letters() {
        let letter = DeadLetter::from_record(record(
            3,
            &[
                ("trace", "t1"),
                (SOURCE_TOPIC, "p.events"),
                (ATTEMPTS, "5"),
                (GROUP, "g"),
            ],
        ))
        .expect("a letter");
        assert_eq!(letter.id.to_string(), "0:3");
        assert_eq!(letter.source_topic, "p.events");
        assert_eq!(letter.attempts, Some(5));
        assert_eq!(letter.headers, vec![("trace".to_owned(), b"t1".to_vec())]);
        assert!(letter.event_id.is_none(), "not an event envelope");
        let marker = record(4, &[(REPLAY_OF, "0:3")]);
        assert!(DeadLetter::from_record(marker.clone()).is_none());
        assert!(replayed_ids(&[marker]).contains(&letter.id));
    }

    #[test]
    fn letter_ids_read_as_offset_or_partition_and_offset() {
        assert_eq!(
            "7".parse(),
            Ok(LetterId {
                partition: 0,
                offset: 7
            })
        );
        assert_eq!(
            "2:7".parse(),
            Ok(LetterId {
                partition: 2,
                offset: 7
            })
        );
        assert!("x".parse::<LetterId>().is_err());
        assert!("-1".parse::<LetterId>().is_err());
    }
}
