//! Kafka plumbing shared by services and `opsctl`: client configuration from
//! settings, metadata (the broker probe), topic administration, and the
//! log segment verifier ([`segments`]: the platform binary runs it on a
//! broker host, `opsctl` on local files).

/// The log segment verifier (its own crate: no Kafka client in it).
pub use ticketing_kafka_segments as segments;

pub mod quorum;

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};
use ticketing_config::KafkaSettings;
use ticketing_health::Probe;

pub use rdkafka;

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("Kafka client could not be created for {bootstrap}: {source}")]
    Client {
        bootstrap: String,
        #[source]
        source: RdKafkaError,
    },
    #[error("Kafka broker at {bootstrap} did not answer a metadata request within {timeout:?}: {source}")]
    Metadata {
        bootstrap: String,
        timeout: Duration,
        #[source]
        source: RdKafkaError,
    },
    #[error("creating topic `{topic}` failed: {code}")]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("topic `{0}` does not exist on the broker; check the name (and the topic prefix)")]
    UnknownTopic(String),
    #[error("Kafka admin request failed: {0}")]
    Admin(#[source] RdKafkaError),
    #[error("a blocking Kafka call did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Base client configuration: bootstrap servers, client id and timeouts.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("client.id", &settings.client_id)
        .set(
            "socket.timeout.ms",
            settings.request_timeout_ms.max(10).to_string(),
        )
        // Keep librdkafka quiet about a broker that is down: the probe and
        // the relay report that themselves.
        .set("log_level", "3");
    config
}

/// A plain consumer for blocking admin-style calls (see [`blocking`]).
fn base_consumer(config: &ClientConfig, bootstrap: &str) -> Result<BaseConsumer, KafkaError> {
    config.create().map_err(|source| KafkaError::Client {
        bootstrap: bootstrap.to_owned(),
        source,
    })
}

/// Runs `call` on a fresh plain consumer built from `config`, in a blocking
/// task, with the bootstrap list (for errors) and the request timeout.
async fn blocking<T: Send + 'static>(
    settings: &KafkaSettings,
    config: ClientConfig,
    call: impl FnOnce(&BaseConsumer, &str, Duration) -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    let bootstrap = settings.bootstrap_servers.clone();
    let timeout = settings.request_timeout();
    tokio::task::spawn_blocking(move || {
        let consumer = base_consumer(&config, &bootstrap)?;
        call(&consumer, &bootstrap, timeout)
    })
    .await?
}

/// Whether a group-coordinator answer is worth asking again: the
/// coordinator is moving or still loading the group's offsets (a broker that
/// just started, or a leader change of `__consumer_offsets`).
fn coordinator_busy(e: &RdKafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::CoordinatorNotAvailable
        )
    )
}

/// Runs a group-coordinator request, asking again while the coordinator is
/// busy, for up to `timeout` in all.
fn with_coordinator<T>(
    timeout: Duration,
    mut call: impl FnMut() -> Result<T, RdKafkaError>,
) -> Result<T, KafkaError> {
    let deadline = Instant::now() + timeout.max(Duration::from_secs(10));
    loop {
        match call() {
            Err(e) if coordinator_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other.map_err(KafkaError::Admin),
        }
    }
}

/// The brokers a metadata answer lists.
fn brokers_of(metadata: &rdkafka::metadata::Metadata) -> Vec<BrokerInfo> {
    metadata
        .brokers()
        .iter()
        .map(|b| BrokerInfo {
            id: b.id(),
            host: b.host().to_owned(),
            port: b.port(),
        })
        .collect()
}

/// The topic named `topic` in `metadata`, when the broker has it without an
/// error and with partitions.
fn topic_of<'m>(
    metadata: &'m rdkafka::metadata::Metadata,
    topic: &str,
) -> Result<&'m rdkafka::metadata::MetadataTopic, KafkaError> {
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .ok_or_else(|| KafkaError::UnknownTopic(topic.to_owned()))
}

/// Metadata of every topic. Always all: asking the local broker (tansu 0.6)
/// for one missing topic by name answers with a topic that has no name,
/// which crashes librdkafka's metadata cache.
fn all_metadata(
    consumer: &BaseConsumer,
    bootstrap: &str,
    timeout: Duration,
) -> Result<rdkafka::metadata::Metadata, KafkaError> {
    consumer
        .fetch_metadata(None, timeout)
        .map_err(|source| KafkaError::Metadata {
            bootstrap: bootstrap.to_owned(),
            timeout,
            source,
        })
}

/// Every (topic, partition) of `topics`; a topic the broker does not have
/// (or reports with an error or no partitions) is `UnknownTopic`.
fn partitions_of(
    consumer: &BaseConsumer,
    bootstrap: &str,
    timeout: Duration,
    topics: &[String],
) -> Result<Vec<(String, i32)>, KafkaError> {
    let metadata = all_metadata(consumer, bootstrap, timeout)?;
    let mut out = Vec::new();
    for topic in topics {
        let found = topic_of(&metadata, topic)?;
        out.extend(found.partitions().iter().map(|p| (topic.clone(), p.id())));
    }
    Ok(out)
}

/// What a metadata request saw.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub brokers: Vec<BrokerInfo>,
    pub topics: Vec<TopicInfo>,
    pub latency: Duration,
}

#[derive(Debug, Clone)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: usize,
    pub error: Option<String>,
}

/// Fetches cluster metadata (all topics), bounded by the request timeout.
pub async fn cluster_info(settings: &KafkaSettings) -> Result<ClusterInfo, KafkaError> {
    let config = client_config(settings);
    blocking(settings, config, move |consumer, bootstrap, timeout| {
        let started = Instant::now();
        let metadata = all_metadata(consumer, bootstrap, timeout)?;
        let latency = started.elapsed();
        Ok(ClusterInfo {
            brokers: brokers_of(&metadata),
            topics: metadata
                .topics()
                .iter()
                .map(|t| TopicInfo {
                    name: t.name().to_owned(),
                    partitions: t.partitions().len(),
                    error: t
                        .error()
                        .map(|e| format!("{:?}", RDKafkaErrorCode::from(e))),
                })
                .collect(),
            latency,
        })
    })
    .await
}

/// A readiness probe: a metadata request answered by the broker.
pub fn probe(name: impl Into<String>, settings: KafkaSettings) -> Probe {
    Probe::new(name, move || {
        let settings = settings.clone();
        async move {
            let info = cluster_info(&settings).await.map_err(|e| e.to_string())?;
            Ok(Some(format!(
                "{} broker(s), {} topic(s)",
                info.brokers.len(),
                info.topics.len()
            )))
        }
    })
}

/// Creates the catalog's topics (with the settings' prefix) where missing.
/// Topics that already exist are left alone; returns the ones created.
pub async fn ensure_topics(
    settings: &KafkaSettings,
    logical_names: &[&str],
    partitions: i32,
    replication: i32,
) -> Result<Vec<String>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(settings)
            .create()
            .map_err(|source| KafkaError::Client {
                bootstrap: settings.bootstrap_servers.clone(),
                source,
            })?;
    let names: Vec<String> = logical_names.iter().map(|n| settings.topic(n)).collect();
    let new_topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(replication)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(settings.request_timeout()));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(KafkaError::Admin)?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(topic) => created.push(topic),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(KafkaError::CreateTopic { topic, code }),
        }
    }
    Ok(created)
}

/// Deletes topics by physical name (tests clean up with it). Missing topics
/// are not an error.
pub async fn delete_topics(settings: &KafkaSettings, names: &[String]) -> Result<(), KafkaError> {
    if names.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> =
        client_config(settings)
            .create()
            .map_err(|source| KafkaError::Client {
                bootstrap: settings.bootstrap_servers.clone(),
                source,
            })?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(settings.request_timeout()));
    let results = admin
        .delete_topics(&refs, &options)
        .await
        .map_err(KafkaError::Admin)?;
    for result in results {
        if let Err((topic, code)) = result {
            if code != RDKafkaErrorCode::UnknownTopicOrPartition {
                tracing::warn!(%topic, ?code, "topic deletion failed");
            }
        }
    }
    Ok(())
}

/// One partition of a consumer group's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The group's committed offset; `None` when it has committed nothing.
    pub committed: Option<i64>,
    /// The partition's log start (oldest offset still stored).
    pub log_start: i64,
    /// The partition's log end (next offset to be written).
    pub log_end: i64,
    /// Messages the group has still to process: log end minus the committed
    /// offset (or minus the log start when nothing is committed).
    pub lag: i64,
}

/// The committed offsets of `group` on `topics` (physical names) against each
/// partition's log end. Reads only: the group is not joined.
pub async fn group_lag(
    settings: &KafkaSettings,
    group: &str,
    topics: &[String],
) -> Result<Vec<PartitionLag>, KafkaError> {
    let mut config = client_config(settings);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    let topics = topics.to_vec();
    blocking(settings, config, move |consumer, bootstrap, timeout| {
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions_of(consumer, bootstrap, timeout, &topics)? {
            list.add_partition(&topic, partition);
        }
        let committed = with_coordinator(timeout, || {
            consumer.committed_offsets(list.clone(), timeout)
        })?;
        let mut out = Vec::new();
        for element in committed.elements() {
            let (low, high) = consumer
                .fetch_watermarks(element.topic(), element.partition(), timeout)
                .map_err(KafkaError::Admin)?;
            let committed = match element.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            };
            let lag = (high - committed.unwrap_or(low).max(low)).max(0);
            out.push(PartitionLag {
                topic: element.topic().to_owned(),
                partition: element.partition(),
                committed,
                log_start: low,
                log_end: high,
                lag,
            });
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    })
    .await
}

/// How many members a consumer group has right now (0 when it is empty or
/// unknown to the broker).
pub async fn group_members(settings: &KafkaSettings, group: &str) -> Result<usize, KafkaError> {
    let config = client_config(settings);
    let group = group.to_owned();
    blocking(settings, config, move |consumer, _, timeout| {
        let groups =
            with_coordinator(timeout, || consumer.fetch_group_list(Some(&group), timeout))?;
        Ok(groups
            .groups()
            .iter()
            .filter(|g| g.name() == group)
            .map(|g| g.members().len())
            .sum())
    })
    .await
}

/// Per partition of `topics`, the first offset at or after `at` (the log end
/// when nothing is that new).
pub async fn offsets_for_time(
    settings: &KafkaSettings,
    topics: &[String],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(String, i32, i64)>, KafkaError> {
    let config = client_config(settings);
    let topics = topics.to_vec();
    blocking(settings, config, move |consumer, bootstrap, timeout| {
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions_of(consumer, bootstrap, timeout, &topics)? {
            list.add_partition_offset(&topic, partition, Offset::Offset(at.timestamp_millis()))
                .map_err(KafkaError::Admin)?;
        }
        let found = consumer
            .offsets_for_times(list, timeout)
            .map_err(KafkaError::Admin)?;
        let mut out = Vec::new();
        for e in found.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) if o >= 0 => o,
                _ => {
                    consumer
                        .fetch_watermarks(e.topic(), e.partition(), timeout)
                        .map_err(KafkaError::Admin)?
                        .1
                }
            };
            out.push((e.topic().to_owned(), e.partition(), offset));
        }
        Ok(out)
    })
    .await
}

/// Commits `offsets` for `group` (which must have no active members).
pub async fn commit_offsets(
    settings: &KafkaSettings,
    group: &str,
    offsets: &[(String, i32, i64)],
) -> Result<(), KafkaError> {
    let mut config = client_config(settings);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    let offsets = offsets.to_vec();
    blocking(settings, config, move |consumer, _, timeout| {
        let mut list = TopicPartitionList::new();
        for (topic, partition, offset) in &offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(KafkaError::Admin)?;
        }
        with_coordinator(timeout, || {
            consumer.commit(&list, rdkafka::consumer::CommitMode::Sync)
        })
    })
    .await
}

/// Who serves one partition: its leader and replicas, as the cluster's
/// metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLeader {
    pub topic: String,
    pub partition: i32,
    /// Broker id of the leader; -1 while the partition has none.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub in_sync: Vec<i32>,
}

/// Leader, replicas and in-sync replicas of every partition of `topic`
/// (physical name), with the brokers the cluster lists.
pub async fn partition_leaders(
    settings: &KafkaSettings,
    topic: &str,
) -> Result<(Vec<BrokerInfo>, Vec<PartitionLeader>), KafkaError> {
    let config = client_config(settings);
    let topic = topic.to_owned();
    blocking(settings, config, move |consumer, bootstrap, timeout| {
        let metadata = all_metadata(consumer, bootstrap, timeout)?;
        let brokers = brokers_of(&metadata);
        let found = topic_of(&metadata, &topic)?;
        let partitions = found
            .partitions()
            .iter()
            .map(|p| PartitionLeader {
                topic: topic.clone(),
                partition: p.id(),
                leader: p.leader(),
                replicas: p.replicas().to_vec(),
                in_sync: p.isr().to_vec(),
            })
            .collect();
        Ok((brokers, partitions))
    })
    .await
}

/// The payloads of every message of `topics` (physical names) written at or
/// after `since`, up to each partition's end when the call starts.
pub async fn payloads_since(
    settings: &KafkaSettings,
    topics: &[String],
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Vec<u8>>, KafkaError> {
    let starts = offsets_for_time(settings, topics, since).await?;
    let mut out = Vec::new();
    for (topic, partition, start) in starts {
        let records = read_partition(settings, &topic, partition, start, None, usize::MAX).await?;
        out.extend(records.into_iter().map(|r| r.payload));
    }
    Ok(out)
}

/// One record as read back: where it is, when it was written (the
/// record's timestamp, Unix ms), its key, headers and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Vec<u8>,
}

impl Record {
    fn of(message: &rdkafka::message::BorrowedMessage<'_>) -> Record {
        use rdkafka::message::Headers;
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|header| {
                        (
                            header.key.to_owned(),
                            header.value.unwrap_or_default().to_vec(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Record {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis(),
            key: message.key().map(<[u8]>::to_vec),
            headers,
            payload: message.payload().unwrap_or_default().to_vec(),
        }
    }
}

/// The records of one partition from `from` up to (not including) `to`,
/// or the log end when it comes first; at most `limit` of them. Reads
/// without a group: nothing is committed.
pub async fn read_partition(
    settings: &KafkaSettings,
    topic: &str,
    partition: i32,
    from: i64,
    to: Option<i64>,
    limit: usize,
) -> Result<Vec<Record>, KafkaError> {
    let mut config = client_config(settings);
    config
        .set("group.id", "ticketing-read-back")
        .set("enable.auto.commit", "false");
    let topic = topic.to_owned();
    blocking(settings, config, move |consumer, _, timeout| {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, timeout)
            .map_err(KafkaError::Admin)?;
        let end = to.map_or(high, |to| to.min(high));
        let start = from.max(low);
        let mut out = Vec::new();
        if start >= end || limit == 0 {
            return Ok(out);
        }
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&topic, partition, Offset::Offset(start))
            .map_err(KafkaError::Admin)?;
        consumer.assign(&list).map_err(KafkaError::Admin)?;
        let deadline = Instant::now() + timeout * 10;
        let mut next = start;
        while next < end && out.len() < limit {
            if Instant::now() >= deadline {
                return Err(KafkaError::Admin(RdKafkaError::MessageConsumption(
                    RDKafkaErrorCode::RequestTimedOut,
                )));
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    next = message.offset() + 1;
                    if message.offset() < end {
                        out.push(Record::of(&message));
                    }
                }
                Some(Err(e)) => return Err(KafkaError::Admin(e)),
                None => {}
            }
        }
        Ok(out)
    })
    .await
}

/// When the oldest record a group at `position` has not processed was
/// written (its timestamp), or `None` when the group is caught up.
pub async fn oldest_unprocessed(
    settings: &KafkaSettings,
    position: &PartitionLag,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, KafkaError> {
    if position.lag == 0 {
        return Ok(None);
    }
    let from = position
        .committed
        .unwrap_or(position.log_start)
        .max(position.log_start);
    let records =
        read_partition(settings, &position.topic, position.partition, from, None, 1).await?;
    Ok(records
        .first()
        .and_then(|r| r.timestamp_ms)
        .and_then(chrono::DateTime::from_timestamp_millis))
}

/// Low and high watermarks of one partition, asked of its leader: an answer
/// means a leader serves the partition.
pub async fn watermarks(
    settings: &KafkaSettings,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), KafkaError> {
    let config = client_config(settings);
    let topic = topic.to_owned();
    blocking(settings, config, move |consumer, _, timeout| {
        consumer
            .fetch_watermarks(&topic, partition, timeout)
            .map_err(KafkaError::Admin)
    })
    .await
}
