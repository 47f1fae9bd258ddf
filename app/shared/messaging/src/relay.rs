//! The outbox relay ("outbox poller").
//!
//! Each pass, in one transaction: claim the oldest unsent rows with
//! `FOR UPDATE SKIP LOCKED` (so several relays share the work), leave out any
//! row whose key has an older unsent row that another relay holds (so a key's
//! events are never published out of order), publish the rest with an
//! idempotent producer and `acks=all`, and mark sent only what the broker
//! acknowledged. Within a key, a row is marked only when every older row of
//! that key in the pass was acknowledged too; the rest are re-sent later
//! (at-least-once; consumers are idempotent). A relay killed between
//! publishing and marking rolls back, and the rows are published again.
//!
//! While full batches wait, a loop overlaps its passes (`batch.rs`): the
//! next batch is claimed and sent while the previous one's acknowledgements
//! arrive and its rows are marked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::producer::{FutureProducer, Producer};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use ticketing_config::KafkaSettings;
use tokio_util::sync::CancellationToken;

mod batch;

/// Tunables of a relay.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Rows claimed per pass. 1,000: half the round trips per event of
    /// 500, to the database and to the broker (a produce request per pass),
    /// for a pass that still holds its locks for tens of milliseconds
    /// (`benches/profiles/relay.md`: 2026-12-07, 500 against 1,000).
    pub batch_size: i64,
    /// Longest sleep between passes when no notification arrives.
    pub poll_interval: Duration,
    /// Longest back-off while the broker is failing.
    pub max_backoff: Duration,
    /// How long the producer keeps trying one message before reporting failure.
    pub message_timeout: Duration,
    /// Sent rows older than this are pruned.
    pub retention: Duration,
    /// How often to prune.
    pub prune_every: Duration,
    /// Claim-publish-mark loops run side by side, each claiming its own
    /// batch with `SKIP LOCKED` as separate relays would: while one waits for
    /// the broker's acknowledgements, another talks to the database.
    pub concurrency: usize,
}

impl Default for RelayOptions {
    fn default() -> RelayOptions {
        RelayOptions {
            batch_size: 1_000,
            poll_interval: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            message_timeout: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            prune_every: Duration::from_secs(600),
            concurrency: 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox query failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the Kafka producer could not be created: {0}")]
    Producer(#[source] RdKafkaError),
    #[error("an outbox row could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("injected crash after publishing (test hook)")]
    InjectedCrash,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Rows locked by this pass.
    pub claimed: usize,
    /// Rows acknowledged by the broker and marked sent.
    pub published: usize,
    /// Rows the broker did not acknowledge (kept for the next pass).
    pub failed: usize,
    /// Rows left for later because an older row of their key is elsewhere.
    pub deferred: usize,
}

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    pub(crate) id: i64,
    pub(crate) topic: String,
    pub(crate) partition_key: String,
    pub(crate) event_type: String,
    /// The envelope as JSON text, published as is (no parse and re-encode).
    pub(crate) envelope: String,
    pub(crate) created_at: DateTime<Utc>,
    /// An older unsent row of the same key is held by another relay.
    pub(crate) blocked: bool,
}

impl PassReport {
    fn add(&mut self, other: PassReport) {
        self.claimed += other.claimed;
        self.published += other.published;
        self.failed += other.failed;
        self.deferred += other.deferred;
    }
}

/// Publishes one schema's outbox.
pub struct Relay {
    pool: PgPool,
    schema: String,
    kafka: KafkaSettings,
    producer: FutureProducer,
    options: RelayOptions,
    crash_after_publish: AtomicBool,
}

/// Kafka's idempotent producer (`enable.idempotence`, which implies
/// `acks=all`): a retry never duplicates or reorders within a partition.
pub fn idempotent_producer(
    kafka: &KafkaSettings,
    message_timeout: Duration,
) -> Result<FutureProducer, RdKafkaError> {
    ticketing_kafka::client_config(kafka)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set(
            "message.timeout.ms",
            message_timeout.as_millis().to_string(),
        )
        .create()
}

/// Where a pass sends the rows it claimed.
#[derive(Debug, Clone, Copy)]
enum Publish {
    Broker,
    /// Nowhere: the bench's PostgreSQL-bound baseline.
    Nowhere,
}

const CLAIM: &str = "\
WITH batch AS (
    SELECT id FROM outbox WHERE sent_at IS NULL AND id <= $2
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
)
SELECT o.id, o.topic, o.partition_key, o.event_type, o.envelope::text AS envelope, o.created_at,
       EXISTS (
           SELECT 1 FROM outbox e
           WHERE e.partition_key = o.partition_key AND e.sent_at IS NULL AND e.id < o.id
             AND e.id NOT IN (SELECT id FROM batch)
       ) AS blocked
FROM outbox o JOIN batch b ON o.id = b.id
ORDER BY o.id";

impl Relay {
    /// A relay over `pool`, whose `search_path` is the service schema `schema`.
    pub fn new(
        pool: PgPool,
        schema: &str,
        kafka: KafkaSettings,
        options: RelayOptions,
    ) -> Result<Relay, RelayError> {
        let producer =
            idempotent_producer(&kafka, options.message_timeout).map_err(RelayError::Producer)?;
        Ok(Relay {
            pool,
            schema: schema.to_owned(),
            kafka,
            producer,
            options,
            crash_after_publish: AtomicBool::new(false),
        })
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Test hook: the next pass publishes, then fails before marking rows
    /// sent, exactly as a relay killed at that moment would.
    #[doc(hidden)]
    pub fn crash_after_next_publish(&self) {
        self.crash_after_publish.store(true, Ordering::SeqCst);
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// One claim-publish-mark pass.
    pub async fn run_once(&self) -> Result<PassReport, RelayError> {
        self.run_bounded(self.options.batch_size, i64::MAX).await
    }

    /// One pass over at most `limit` unsent rows with ids up to `max_id`
    /// (replay uses it to pace itself and to stop at the backlog it planned).
    pub async fn run_bounded(&self, limit: i64, max_id: i64) -> Result<PassReport, RelayError> {
        self.pass(limit, max_id, Publish::Broker).await
    }

    /// Passes as [`Relay::drain`] makes them, with the broker left out:
    /// rows are claimed and marked sent exactly as a pass does, and nothing
    /// is published. The PostgreSQL-bound limit of the relay, the baseline
    /// its bench measures beside a raw producer. Never for a service's
    /// outbox: its rows would be marked sent without being sent.
    #[doc(hidden)]
    pub async fn drain_without_broker(&self, timeout: Duration) -> Result<usize, RelayError> {
        self.drain_with(timeout, Publish::Nowhere).await
    }

    /// Passes until the outbox has nothing publishable, or `timeout` passes.
    /// Returns the total published.
    pub async fn drain(&self, timeout: Duration) -> Result<usize, RelayError> {
        self.drain_with(timeout, Publish::Broker).await
    }

    async fn drain_with(&self, timeout: Duration, publish: Publish) -> Result<usize, RelayError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let loops =
            (0..self.options.concurrency.max(1)).map(|_| self.drain_loop(deadline, publish));
        let mut total = 0;
        for result in join_all(loops).await {
            total += result?;
        }
        Ok(total)
    }

    async fn drain_loop(
        &self,
        deadline: tokio::time::Instant,
        publish: Publish,
    ) -> Result<usize, RelayError> {
        let mut total = 0;
        loop {
            let report = self.burst(publish, deadline).await?;
            total += report.published;
            if report.claimed == 0 || tokio::time::Instant::now() >= deadline {
                return Ok(total);
            }
            if report.failed > 0 || report.deferred > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Unsent rows and the age of the oldest, also published as gauges.
    pub async fn backlog(&self) -> Result<(i64, f64), RelayError> {
        let (count, age): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), EXTRACT(EPOCH FROM clock_timestamp() - min(created_at))::float8 \
             FROM outbox WHERE sent_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        let age = age.unwrap_or(0.0);
        metrics::gauge!("outbox.backlog", "schema" => self.schema.clone()).set(count as f64);
        metrics::gauge!("outbox.oldest_unsent.age.seconds", "schema" => self.schema.clone())
            .set(age);
        Ok((count, age))
    }

    /// Deletes sent rows older than the retention; returns how many.
    pub async fn prune(&self) -> Result<u64, RelayError> {
        let retention = self.options.retention.as_secs_f64();
        let done = sqlx::query(
            "DELETE FROM outbox WHERE sent_at IS NOT NULL \
             AND sent_at < clock_timestamp() - make_interval(secs => $1)",
        )
        .bind(retention)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Runs until `shutdown`: passes on every notification and at least every
    /// `poll_interval`, backing off while the broker fails. Errors are logged,
    /// never fatal: the outbox keeps every event until it is published.
    pub async fn run(&self, shutdown: CancellationToken) {
        let loops = (0..self.options.concurrency.max(1)).map(|i| self.run_loop(i == 0, &shutdown));
        join_all(loops).await;
        // Give in-flight deliveries a moment before the producer is dropped.
        let _ = self.producer.flush(Duration::from_secs(2));
    }

    /// One publishing loop. The lead loop also listens for notifications,
    /// publishes the backlog gauges and prunes; the others poll.
    async fn run_loop(&self, lead: bool, shutdown: &CancellationToken) {
        let channel = crate::notify_channel(&self.schema);
        let mut listener = None;
        let mut backoff = Duration::from_millis(100);
        let mut last_prune = tokio::time::Instant::now();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if lead && listener.is_none() {
                listener = match PgListener::connect_with(&self.pool).await {
                    Ok(mut l) => match l.listen(&channel).await {
                        Ok(()) => Some(l),
                        Err(e) => {
                            tracing::warn!(error = %e, "LISTEN failed; polling only");
                            None
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "no LISTEN connection; polling only");
                        None
                    }
                };
            }
            let mut failing = false;
            // A burst ends within a second, so a shutdown is not kept
            // waiting behind a long backlog.
            let burst_ends = tokio::time::Instant::now() + Duration::from_secs(1);
            let wait = match self.burst(Publish::Broker, burst_ends).await {
                Ok(report) if report.failed > 0 => {
                    failing = true;
                    backoff = (backoff * 2).min(self.options.max_backoff);
                    Some(backoff)
                }
                Ok(report) if report.claimed as i64 >= self.options.batch_size => {
                    backoff = Duration::from_millis(100);
                    None
                }
                Ok(report) => {
                    backoff = Duration::from_millis(100);
                    Some(if report.deferred > 0 {
                        Duration::from_millis(20)
                    } else {
                        self.options.poll_interval
                    })
                }
                Err(e) => {
                    failing = true;
                    tracing::warn!(schema = %self.schema, error = %e, "relay pass failed");
                    backoff = (backoff * 2).min(self.options.max_backoff);
                    Some(backoff)
                }
            };
            if lead {
                let _ = self.backlog().await;
            }
            if lead && last_prune.elapsed() >= self.options.prune_every {
                last_prune = tokio::time::Instant::now();
                match self.prune().await {
                    Ok(n) if n > 0 => {
                        tracing::info!(schema = %self.schema, pruned = n, "pruned sent outbox rows")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning the outbox failed"),
                }
            }
            let Some(wait) = wait else { continue };
            // While the broker fails, new events must not cut the back-off short.
            match listener.as_mut().filter(|_| !failing) {
                Some(l) => {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(wait) => {}
                        received = l.recv() => {
                            if let Err(e) = received {
                                tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                                listener = None;
                            }
                        }
                    }
                }
                None => {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}
