//! One batch's way through the relay, in three steps: claimed (its rows
//! locked by a transaction of its own), sent (every row enqueued on the
//! producer), settled (the acknowledgements awaited, what the broker
//! acknowledged marked sent, the transaction committed).
//!
//! [`Relay::burst`] overlaps two batches: the next one is claimed and sent
//! while the previous one's acknowledgements arrive and its rows are
//! marked, so the database is not idle while the broker works, nor the
//! broker while the database does. Order within a key still holds: a claim
//! leaves out every row whose key has an older unsent row outside its own
//! batch, and the previous batch's rows are unsent until it commits.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use chrono::Utc;
use futures::future::join_all;
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use sqlx::{Postgres, Transaction};
use tokio::time::{Duration, Instant};

use super::{PassReport, Publish, Relay, RelayError, Row, CLAIM};

/// A batch whose rows its transaction holds locked.
pub(super) struct Claimed {
    tx: Transaction<'static, Postgres>,
    /// The rows to publish, in id order (deferred ones left out).
    rows: Vec<Row>,
    report: PassReport,
}

/// A claimed batch on its way to the broker.
pub(super) struct InFlight {
    claimed: Claimed,
    acks: Acks,
}

enum Acks {
    /// One delivery per row; `None` where the row could not be enqueued.
    Broker(Vec<Option<DeliveryFuture>>),
    /// The PostgreSQL-bound baseline: nothing was sent.
    Nowhere,
}

impl Claimed {
    /// Gives the rows back untouched (they are claimed again later).
    async fn release(self) -> Result<(), RelayError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl Relay {
    /// Locks the oldest unsent rows (up to `limit`, ids up to `max_id`) and
    /// leaves out those whose key has an older unsent row elsewhere.
    pub(super) async fn claim(&self, limit: i64, max_id: i64) -> Result<Claimed, RelayError> {
        let mut tx = self.pool.begin().await?;
        let claimed: Vec<Row> = sqlx::query_as(CLAIM)
            .bind(limit.max(1))
            .bind(max_id)
            .fetch_all(&mut *tx)
            .await?;
        let mut report = PassReport {
            claimed: claimed.len(),
            ..PassReport::default()
        };
        // A blocked row blocks the later rows of its key in this batch too.
        let mut blocked_keys: HashSet<String> = HashSet::new();
        let mut rows = Vec::with_capacity(claimed.len());
        for row in claimed {
            if row.blocked || blocked_keys.contains(&row.partition_key) {
                blocked_keys.insert(row.partition_key.clone());
                report.deferred += 1;
            } else {
                rows.push(row);
            }
        }
        Ok(Claimed { tx, rows, report })
    }

    /// Enqueues every row of the batch at once; does not wait for the broker.
    pub(super) async fn send(&self, claimed: Claimed, publish: Publish) -> InFlight {
        let acks = match publish {
            Publish::Broker => Acks::Broker(self.enqueue(&claimed.rows).await),
            Publish::Nowhere => Acks::Nowhere,
        };
        InFlight { claimed, acks }
    }

    /// Waits for the batch's acknowledgements, marks what the broker
    /// acknowledged sent (and counts an attempt on the rest), and commits.
    pub(super) async fn settle(&self, in_flight: InFlight) -> Result<PassReport, RelayError> {
        let InFlight { claimed, acks } = in_flight;
        let Claimed {
            mut tx,
            rows,
            mut report,
        } = claimed;
        let outcomes = match acks {
            Acks::Broker(pending) => acknowledged(pending).await,
            Acks::Nowhere => vec![Ok(()); rows.len()],
        };
        if self.crash_after_publish.swap(false, Ordering::SeqCst) {
            // A killed relay's connection closes and PostgreSQL rolls its
            // transaction back: nothing is marked sent and the row locks go.
            // Rolled back here explicitly: a dropped transaction is only
            // rolled back when its pooled connection is next used, and until
            // then its locks would make the next pass skip the rows (seen
            // as a flaky "second pass published 0" under load).
            tx.rollback().await?;
            return Err(RelayError::InjectedCrash);
        }
        let (sent, failed, last_error) = self.sorted(&rows, outcomes);
        if !sent.is_empty() {
            sqlx::query(
                "UPDATE outbox SET sent_at = clock_timestamp(), attempts = attempts + 1 WHERE id = ANY($1)",
            )
            .bind(&sent)
            .execute(&mut *tx)
            .await?;
        }
        if !failed.is_empty() {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)",
            )
            .bind(&failed)
            .bind(last_error.as_deref().unwrap_or("not acknowledged"))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        report.published = sent.len();
        report.failed = failed.len();
        self.count(&report, last_error.as_deref());
        Ok(report)
    }

    /// One pass, nothing overlapped: claim, send, settle.
    pub(super) async fn pass(
        &self,
        limit: i64,
        max_id: i64,
        publish: Publish,
    ) -> Result<PassReport, RelayError> {
        let claimed = self.claim(limit, max_id).await?;
        if claimed.report.claimed == 0 {
            claimed.tx.commit().await?;
            return Ok(claimed.report);
        }
        let in_flight = self.send(claimed, publish).await;
        self.settle(in_flight).await
    }

    /// Passes back to back while full batches wait, each next batch claimed
    /// and sent while the previous one settles. Ends after a batch that was
    /// not full, a batch the broker did not wholly acknowledge, at
    /// `deadline`, or when the pool is short ([`may_claim_ahead`]: the
    /// caller's next burst starts at once, one batch at a time until the
    /// pool has room); every batch it claimed is settled or released by
    /// then. Returns the sum of its passes.
    pub(super) async fn burst(
        &self,
        publish: Publish,
        deadline: Instant,
    ) -> Result<PassReport, RelayError> {
        let limit = self.options.batch_size.max(1);
        let first = self.claim(limit, i64::MAX).await?;
        if first.report.claimed == 0 {
            first.tx.commit().await?;
            return Ok(first.report);
        }
        let mut total = PassReport::default();
        let mut full = first.report.claimed as i64 >= limit;
        let mut sending = self.send(first, publish).await;
        loop {
            if !full || Instant::now() >= deadline || !self.may_claim_ahead() {
                total.add(self.settle(sending).await?);
                return Ok(total);
            }
            let claiming = async {
                let next = self.claim(limit, i64::MAX).await?;
                if next.report.claimed == 0 {
                    next.tx.commit().await?;
                    return Ok(None);
                }
                Ok::<_, RelayError>(Some(self.send(next, publish).await))
            };
            let (next, settled) = tokio::join!(claiming, self.settle(sending));
            let (next, settled) = match (next, settled) {
                (Ok(next), Ok(settled)) => (next, settled),
                (Ok(next), Err(e)) => {
                    // As a relay killed here: the next batch may have been
                    // published; unmarked, it is published again later.
                    // The settle's error is the one to report; a release
                    // that fails too leaves the transaction to sqlx, which
                    // rolls it back when its connection is next used.
                    if let Some(next) = next {
                        if let Err(release) = next.claimed.release().await {
                            tracing::warn!(schema = %self.schema, error = %release, "the next batch was not released");
                        }
                    }
                    return Err(e);
                }
                (Err(e), _) => return Err(e),
            };
            total.add(settled);
            let Some(next) = next else {
                return Ok(total);
            };
            full = next.claimed.report.claimed as i64 >= limit;
            if settled.failed > 0 {
                // The broker is failing: what was sent meanwhile is settled
                // by its own acknowledgements, then the caller backs off.
                total.add(self.settle(next).await?);
                return Ok(total);
            }
            sending = next;
        }
    }

    /// Whether the pool can lend this loop a second connection now
    /// ([`may_claim_ahead`] of what it can still lend).
    fn may_claim_ahead(&self) -> bool {
        let max = self.pool.options().get_max_connections();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        let in_use = self.pool.size().saturating_sub(idle);
        may_claim_ahead(max.saturating_sub(in_use), max)
    }

    /// Records a settled batch in the metrics, and warns of what the broker
    /// did not acknowledge.
    fn count(&self, report: &PassReport, last_error: Option<&str>) {
        metrics::counter!("outbox.published.total", "schema" => self.schema.clone())
            .increment(report.published as u64);
        if report.failed > 0 {
            metrics::counter!("outbox.publish.errors.total", "schema" => self.schema.clone())
                .increment(report.failed as u64);
            tracing::warn!(
                schema = %self.schema,
                failed = report.failed,
                error = last_error.unwrap_or(""),
                "broker did not acknowledge some events; they stay in the outbox"
            );
        }
    }

    /// The rows the broker acknowledged and those it did not, with the
    /// last error: a failed row fails the later rows of its key in this
    /// batch too (each key's events stay in order).
    fn sorted(
        &self,
        rows: &[Row],
        outcomes: Vec<Result<(), String>>,
    ) -> (Vec<i64>, Vec<i64>, Option<String>) {
        let mut sent = Vec::new();
        let mut failed = Vec::new();
        let mut failed_keys: HashSet<&str> = HashSet::new();
        let mut last_error = None;
        let now = Utc::now();
        // Looked up once a batch, not once a row (its key is built and
        // hashed on every lookup).
        let commit_to_publish = metrics::histogram!("outbox.commit_to_publish.seconds", "schema" => self.schema.clone());
        for (row, outcome) in rows.iter().zip(outcomes) {
            match outcome {
                Ok(()) if !failed_keys.contains(row.partition_key.as_str()) => {
                    sent.push(row.id);
                    let latency =
                        (now - row.created_at).num_microseconds().unwrap_or(0) as f64 / 1e6;
                    commit_to_publish.record(latency.max(0.0));
                }
                Ok(()) => failed.push(row.id),
                Err(e) => {
                    failed_keys.insert(row.partition_key.as_str());
                    failed.push(row.id);
                    last_error = Some(e);
                }
            }
        }
        (sent, failed, last_error)
    }

    /// Enqueues every row at once (never one round trip per message),
    /// waiting only while the producer's queue is full.
    async fn enqueue(&self, rows: &[Row]) -> Vec<Option<DeliveryFuture>> {
        let mut pending = Vec::with_capacity(rows.len());
        for row in rows {
            let topic = self.kafka.topic(&row.topic);
            let headers = OwnedHeaders::new().insert(Header {
                key: "event_type",
                value: Some(row.event_type.as_str()),
            });
            let mut record = FutureRecord::to(&topic)
                .key(row.partition_key.as_str())
                .payload(row.envelope.as_bytes())
                .headers(headers);
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(Some(delivery));
                        break;
                    }
                    Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => {
                        tracing::warn!(error = %e, "enqueue failed");
                        pending.push(None);
                        break;
                    }
                }
            }
        }
        pending
    }

    /// Enqueues every row at once, then waits for all acknowledgements.
    pub(crate) async fn publish(&self, rows: &[Row]) -> Vec<Result<(), String>> {
        acknowledged(self.enqueue(rows).await).await
    }
}

/// Whether a loop may take a second connection to claim ahead, with `free`
/// of the pool's `max` connections still to lend: only while more than
/// half the pool is free. The pool is the service's: while a backlog
/// drains (after a broker outage, with customers still booking), three
/// loops claiming ahead would hold six connections and LISTEN a seventh of
/// the default ten, and request handlers would queue for the other three.
/// Busy handlers count as in use, so the relay steps back when they need
/// the pool.
pub(super) fn may_claim_ahead(free: u32, max: u32) -> bool {
    free > max / 2
}

/// Each delivery's outcome, in the order the rows were enqueued.
async fn acknowledged(pending: Vec<Option<DeliveryFuture>>) -> Vec<Result<(), String>> {
    join_all(pending.into_iter().map(|p| async move {
        match p {
            None => Err("could not be enqueued".to_owned()),
            Some(delivery) => match delivery.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((e, _))) => Err(e.to_string()),
                Err(_) => Err("producer dropped the message".to_owned()),
            },
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::may_claim_ahead;

    #[test]
    fn a_loop_claims_ahead_only_while_more_than_half_the_pool_is_free() {
        // The default pool of ten: three loops and LISTEN leave six free.
        assert!(may_claim_ahead(6, 10));
        // One loop claiming ahead leaves five: the others wait their turn.
        assert!(!may_claim_ahead(5, 10));
        // Busy request handlers stop it altogether.
        assert!(!may_claim_ahead(2, 10));
        // A pool of one or two never lends a loop a second connection (the
        // loop's own claim is in use when it asks).
        assert!(!may_claim_ahead(0, 1));
        assert!(!may_claim_ahead(1, 2));
        assert!(!may_claim_ahead(0, 0));
    }
}
