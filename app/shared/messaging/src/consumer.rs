//! Idempotent consumers with bounded retries and a dead-letter topic.
//!
//! For each message: parse the envelope (anything that is not one goes to
//! `DLQ` with the reason); skip event types the handler does not know (with a
//! log and a counter); send newer schema versions than it supports to `DLQ`;
//! otherwise, in one transaction, record `(group, event id)` in
//! `processed_events` and run the handler, so a redelivered event is seen as
//! done and its side effects happen once. A failing handler is retried with
//! back-off up to `max_attempts`, then the message goes to `DLQ` with headers
//! naming the source topic, partition, offset, group, error and attempts. The
//! offset is committed only after the transaction (or the DLQ write).

use std::future::Future;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use sqlx::{PgConnection, PgPool};
use ticketing_catalog::topics;
use ticketing_config::KafkaSettings;
use ticketing_events::Envelope;
use ticketing_kafka::{KafkaError, PartitionLag};
use tokio_util::sync::CancellationToken;

/// Why a handler failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying (a lock timeout, a dependency briefly down).
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (the event contradicts the state): straight to DLQ.
    #[error("{0}")]
    Permanent(String),
}

/// What a consumer does with events.
pub trait Handler: Send + Sync + 'static {
    /// The newest schema version of `event_type` this handler understands, or
    /// `None` when the type is not its business (the message is skipped).
    fn supports(&self, event_type: &str) -> Option<u32>;

    /// Applies the event inside `tx`; the runner commits it together with the
    /// processed-events row.
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        envelope: &'a Envelope,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;

    /// Runs after the transaction of a newly applied event committed (cache
    /// invalidation and the like: never before the change is visible).
    fn after_commit<'a>(&'a self, _envelope: &'a Envelope) -> impl Future<Output = ()> + Send + 'a {
        async {}
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub group: String,
    /// Catalog topic names; the settings' prefix is applied.
    pub topics: Vec<String>,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How often the group's lag is measured and published as a gauge.
    pub lag_interval: Duration,
}

impl ConsumerOptions {
    pub fn new(group: &str, topics: &[&str]) -> ConsumerOptions {
        ConsumerOptions {
            group: group.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            lag_interval: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("the Kafka consumer could not be created or subscribed: {0}")]
    Kafka(#[source] RdKafkaError),
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Applied,
    /// Already processed by this group: nothing done again.
    Duplicate,
    /// An event type this consumer does not handle.
    Skipped,
    DeadLettered {
        reason: String,
    },
}

pub struct Consumer<H: Handler> {
    pool: PgPool,
    kafka: KafkaSettings,
    handler: H,
    options: ConsumerOptions,
    consumer: StreamConsumer,
    dlq: FutureProducer,
}

impl<H: Handler> Consumer<H> {
    pub fn new(
        pool: PgPool,
        kafka: KafkaSettings,
        handler: H,
        options: ConsumerOptions,
    ) -> Result<Consumer<H>, ConsumerError> {
        let consumer: StreamConsumer = ticketing_kafka::client_config(&kafka)
            .set("group.id", &options.group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("enable.partition.eof", "false")
            .create()
            .map_err(ConsumerError::Kafka)?;
        let physical: Vec<String> = options.topics.iter().map(|t| kafka.topic(t)).collect();
        let refs: Vec<&str> = physical.iter().map(String::as_str).collect();
        consumer.subscribe(&refs).map_err(ConsumerError::Kafka)?;
        let dlq = crate::relay::idempotent_producer(&kafka, Duration::from_secs(10))
            .map_err(ConsumerError::Kafka)?;
        Ok(Consumer {
            pool,
            kafka,
            handler,
            options,
            consumer,
            dlq,
        })
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The group's committed offsets against the log end of each partition
    /// of its topics.
    pub async fn lag(&self) -> Result<Vec<PartitionLag>, KafkaError> {
        let physical: Vec<String> = self
            .options
            .topics
            .iter()
            .map(|t| self.kafka.topic(t))
            .collect();
        ticketing_kafka::group_lag(&self.kafka, &self.options.group, &physical).await
    }

    /// Consumes until `shutdown`, publishing the group's lag (`consumer.lag`
    /// per topic and partition) every `lag_interval`. Never stops on a bad
    /// message.
    pub async fn run(&self, shutdown: CancellationToken) {
        tokio::join!(self.consume(&shutdown), self.report_lag(&shutdown));
    }

    async fn report_lag(&self, shutdown: &CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.options.lag_interval) => {}
            }
            match self.lag().await {
                Ok(partitions) => {
                    let oldest = self.oldest_unprocessed_age(&partitions).await;
                    metrics::gauge!("consumer.lag.seconds", "group" => self.options.group.clone())
                        .set(oldest);
                    for p in partitions {
                        metrics::gauge!(
                            "consumer.lag",
                            "group" => self.options.group.clone(),
                            "topic" => p.topic,
                            "partition" => p.partition.to_string()
                        )
                        .set(p.lag as f64);
                    }
                }
                Err(e) => {
                    tracing::debug!(group = %self.options.group, error = %e, "lag not measured")
                }
            }
        }
    }

    /// Seconds the oldest record the group has not processed has waited,
    /// over `partitions` (its record timestamp; 0 when caught up or when
    /// it cannot be read).
    async fn oldest_unprocessed_age(&self, partitions: &[PartitionLag]) -> f64 {
        let now = chrono::Utc::now();
        let mut oldest = chrono::Duration::zero();
        for p in partitions {
            match ticketing_kafka::oldest_unprocessed(&self.kafka, p).await {
                Ok(Some(written)) => oldest = oldest.max(now - written),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(group = %self.options.group, error = %e, "the oldest unprocessed record was not read")
                }
            }
        }
        oldest.num_milliseconds().max(0) as f64 / 1000.0
    }

    async fn consume(&self, shutdown: &CancellationToken) {
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => break,
                m = self.consumer.recv() => m,
            };
            match message {
                Ok(message) => {
                    let disposition = self.process(&message, shutdown).await;
                    let Some(disposition) = disposition else {
                        break;
                    };
                    metrics::counter!("consumer.messages.total", "group" => self.options.group.clone(), "disposition" => label(&disposition)).increment(1);
                    if let Err(e) = self.consumer.commit_message(&message, CommitMode::Async) {
                        tracing::warn!(error = %e, "offset commit failed; the message may be redelivered (harmless)");
                    }
                }
                Err(e) => {
                    tracing::warn!(group = %self.options.group, error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Decides and applies one message. `None` only when shut down mid-way
    /// (then the offset is not committed and the message comes again).
    pub async fn process(
        &self,
        message: &BorrowedMessage<'_>,
        shutdown: &CancellationToken,
    ) -> Option<Disposition> {
        let payload = message.payload().unwrap_or_default();
        let envelope = match Envelope::from_slice(payload) {
            Ok(e) => e,
            Err(e) => return self.dead_letter(message, &e.to_string(), 1, shutdown).await,
        };
        let Some(supported) = self.handler.supports(&envelope.event_type) else {
            tracing::debug!(event_type = %envelope.event_type, group = %self.options.group, "event type not handled here; skipped");
            return Some(Disposition::Skipped);
        };
        if envelope.schema_version > supported {
            let reason = format!(
                "{} schema version {} is newer than the {} this consumer understands",
                envelope.event_type, envelope.schema_version, supported
            );
            return self.dead_letter(message, &reason, 1, shutdown).await;
        }
        let mut backoff = self.options.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.apply(&envelope).await;
            match result {
                Ok(disposition) => return Some(disposition),
                Err(HandlerError::Permanent(reason)) => {
                    return self.dead_letter(message, &reason, attempt, shutdown).await
                }
                Err(HandlerError::Transient(reason)) if attempt >= self.options.max_attempts => {
                    return self.dead_letter(message, &reason, attempt, shutdown).await
                }
                Err(HandlerError::Transient(reason)) => {
                    tracing::warn!(group = %self.options.group, event_id = %envelope.event_id, attempt, %reason, "handler failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return None,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
            }
        }
    }

    async fn apply(&self, envelope: &Envelope) -> Result<Disposition, HandlerError> {
        let transient = |e: sqlx::Error| HandlerError::Transient(format!("database: {e}"));
        let mut tx = self.pool.begin().await.map_err(transient)?;
        let inserted = sqlx::query(
            "INSERT INTO processed_events (consumer_group, event_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.options.group)
        .bind(envelope.event_id)
        .execute(&mut *tx)
        .await
        .map_err(transient)?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await.map_err(transient)?;
            return Ok(Disposition::Duplicate);
        }
        self.handler.handle(&mut tx, envelope).await?;
        tx.commit().await.map_err(transient)?;
        self.handler.after_commit(envelope).await;
        Ok(Disposition::Applied)
    }

    /// Writes the message to `DLQ`, retrying until the broker takes it (a
    /// dead letter is never dropped) or shutdown.
    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        reason: &str,
        attempts: u32,
        shutdown: &CancellationToken,
    ) -> Option<Disposition> {
        let topic = self.kafka.topic(topics::DLQ);
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let attempts_text = attempts.to_string();
        let mut headers = OwnedHeaders::new();
        if let Some(original) = message.headers() {
            for h in original.iter() {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        for (key, value) in [
            ("dlq.source.topic", message.topic()),
            ("dlq.source.partition", partition.as_str()),
            ("dlq.source.offset", offset.as_str()),
            ("dlq.consumer.group", self.options.group.as_str()),
            ("dlq.error", reason),
            ("dlq.attempts", attempts_text.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let payload = message.payload().unwrap_or_default();
        let key = message.key().unwrap_or_default();
        let mut backoff = self.options.initial_backoff;
        loop {
            let record = FutureRecord::to(&topic)
                .payload(payload)
                .key(key)
                .headers(headers.clone());
            match self.dlq.send(record, Duration::from_secs(5)).await {
                Ok(_) => {
                    tracing::warn!(group = %self.options.group, source = message.topic(), offset = message.offset(), %reason, "message sent to DLQ");
                    metrics::counter!("consumer.dlq.total", "group" => self.options.group.clone())
                        .increment(1);
                    return Some(Disposition::DeadLettered {
                        reason: reason.to_owned(),
                    });
                }
                Err((e, _)) => {
                    tracing::warn!(error = %e, "DLQ write failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return None,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
            }
        }
    }
}

fn label(disposition: &Disposition) -> &'static str {
    match disposition {
        Disposition::Applied => "applied",
        Disposition::Duplicate => "duplicate",
        Disposition::Skipped => "skipped",
        Disposition::DeadLettered { .. } => "dead_lettered",
    }
}
