//! The Kafka disaster-recovery runbook's steps and what each one does;
//! `opsctl kafka dr` runs them in order through the runbook engine
//! ([`runbook::DrRun`]).

pub mod runbook;

use std::time::{Duration, Instant};

use serde::Serialize;
use ticketing_catalog::topics;
use ticketing_messaging::replay::{ReplayOptions, Selection};

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Detect,
    Notify,
    Restart,
    Health,
    VerifySegments,
    Replay,
    Drain,
    Reconcile,
    EndNotice,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::Detect,
        Step::Notify,
        Step::Restart,
        Step::Health,
        Step::VerifySegments,
        Step::Replay,
        Step::Drain,
        Step::Reconcile,
        Step::EndNotice,
    ];

    /// The customer-notice steps run only with `--notify-customers`.
    pub fn tells_customers(self) -> bool {
        matches!(self, Step::Notify | Step::EndNotice)
    }

    /// The step named `name` (as `--resume-from` spells it).
    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The names of all steps, in order.
    pub fn names() -> [&'static str; 9] {
        Step::ALL.map(Step::name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Step::Detect => "detect",
            Step::Notify => "notify",
            Step::Restart => "restart",
            Step::Health => "health",
            Step::VerifySegments => "verify-segments",
            Step::Replay => "replay",
            Step::Drain => "drain",
            Step::Reconcile => "reconcile",
            Step::EndNotice => "end-notice",
        }
    }

    pub fn plan(self) -> &'static str {
        match self {
            Step::Detect => {
                "ask the broker for metadata; note whether it answers and has the topics"
            }
            Step::Notify => {
                "tell customers bookings are delayed (`opsctl notice post --template booking-delay`)"
            }
            Step::Restart => "restart the broker if it did not answer (`opsctl kafka restart`)",
            Step::Health => "wait for the broker; create any missing catalog topic",
            Step::VerifySegments => {
                "verify the segment files given with --segments (skipped without)"
            }
            Step::Replay => {
                "re-send the outbox backlog (or --replay-since a time, for a lost disk)"
            }
            Step::Drain => {
                "wait until every consumer group's lag is 0 (`opsctl kafka lag --until-drained`)"
            }
            Step::Reconcile => {
                "re-announce paid reservations still PENDING (`opsctl reservations reconcile`)"
            }
            Step::EndNotice => {
                "end the customer notice (`opsctl notice end --template booking-delay`)"
            }
        }
    }
}

/// What the steps count as they go.
#[derive(Default)]
pub struct Counts {
    pub events_replayed: u64,
    pub reservations_reconciled: usize,
}

/// How the steps run (from `kafka dr`'s flags).
pub struct DrOptions {
    pub force_restart: bool,
    pub segments: Vec<std::path::PathBuf>,
    pub restart_timeout: Duration,
    pub drain_timeout: Duration,
    pub reconcile_older_than: Duration,
    pub replay_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// Runs one step; `broker_up` carries what `detect` found to `restart`.
pub async fn run_step(
    ctx: &Environment,
    args: &DrOptions,
    step: Step,
    broker_up: &mut bool,
    counts: &mut Counts,
) -> Result<String, OpsError> {
    match step {
        Step::Detect => Ok(detect(ctx, broker_up).await),
        Step::Notify => {
            let notice =
                ops::notices::post_template(ctx, &ticketing_catalog::notices::BOOKING_DELAY)
                    .await?;
            Ok(format!("notice {} posted (booking-delay)", notice.id))
        }
        Step::EndNotice => {
            let ended =
                ops::notices::end_template(ctx, &ticketing_catalog::notices::BOOKING_DELAY).await?;
            Ok(format!("{} booking-delay notice(s) ended", ended.len()))
        }
        Step::Restart if *broker_up && !args.force_restart => {
            Ok("skipped: the broker answers".into())
        }
        Step::Restart => {
            let plan = ops::kafka_restart::restart_plan(ctx)?;
            let done = ops::kafka_restart::restart_now(ctx, plan, args.restart_timeout).await?;
            *broker_up = true;
            Ok(format!(
                "restarted; the broker answered {:.1} s after the command",
                done.broker_answered_after_seconds
            ))
        }
        Step::Health => health(ctx, args.restart_timeout).await,
        Step::VerifySegments if args.segments.is_empty() => {
            Ok("skipped: no --segments given".into())
        }
        Step::VerifySegments => verify_segments(&args.segments),
        Step::Replay => {
            let replayed = replay_outboxes(ctx, args.replay_since).await?;
            counts.events_replayed += replayed;
            Ok(format!("{replayed} event(s) re-sent"))
        }
        Step::Drain => drain(ctx, args.drain_timeout).await,
        Step::Reconcile => reconcile(ctx, args.reconcile_older_than, counts).await,
    }
}

async fn detect(ctx: &Environment, broker_up: &mut bool) -> String {
    match ticketing_kafka::cluster_info(&ctx.settings.kafka).await {
        Ok(info) => {
            *broker_up = true;
            format!("the broker answers ({} topic(s))", info.topics.len())
        }
        Err(e) => {
            *broker_up = false;
            format!("the broker does not answer: {e}")
        }
    }
}

/// Waits for the broker to answer, then creates any missing topic.
async fn health(ctx: &Environment, timeout: Duration) -> Result<String, OpsError> {
    let deadline = Instant::now() + timeout;
    loop {
        match ticketing_kafka::cluster_info(&ctx.settings.kafka).await {
            Ok(_) => break,
            Err(e) if Instant::now() >= deadline => {
                return Err(OpsError::Failed(anyhow::anyhow!(
                    "the broker does not answer: {e}"
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let created = ticketing_kafka::ensure_topics(
        &ctx.settings.kafka,
        &topics::ALL,
        topics::MVP_PARTITIONS,
        topics::MVP_REPLICATION_FACTOR,
    )
    .await
    .map_err(|e| OpsError::Failed(e.into()))?;
    Ok(if created.is_empty() {
        "the broker answers with every topic".into()
    } else {
        format!(
            "the broker answers; created missing topic(s) {}",
            created.join(", ")
        )
    })
}

fn verify_segments(paths: &[std::path::PathBuf]) -> Result<String, OpsError> {
    let mut bad = Vec::new();
    for path in paths {
        let file = std::fs::File::open(path).map_err(|e| {
            OpsError::usage(
                format!("{} cannot be read: {e}", path.display()),
                "give reachable segment files",
            )
        })?;
        let r = ticketing_kafka::segments::verify(std::io::BufReader::with_capacity(1 << 20, file))
            .map_err(|e| OpsError::Failed(e.into()))?;
        if !r.is_clean() {
            bad.push(format!(
                "{} ({} problem(s))",
                path.display(),
                r.problems.len()
            ));
        }
    }
    if bad.is_empty() {
        Ok(format!("{} segment file(s) clean", paths.len()))
    } else {
        Err(OpsError::Failed(anyhow::anyhow!(
            "corrupt segments: {}; run `opsctl kafka verify-segments` on them, restore or truncate, and replay with --replay-since",
            bad.join(", ")
        )))
    }
}

/// Re-sends every outbox's unsent events, or those since `since`: how
/// many were published.
async fn replay_outboxes(
    ctx: &Environment,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<u64, OpsError> {
    let selection = match since {
        Some(since) => Selection::range(since, chrono::Utc::now())
            .map_err(|e| OpsError::usage(e.to_string(), "give a --replay-since in the past"))?,
        None => Selection::Unsent,
    };
    let plans = ops::outbox::replay_plans(ctx, None, &selection).await?;
    ops::outbox::replay_all(ctx, &plans, &ReplayOptions::default(), |_| {})
        .await
        .map_err(|stop| {
            OpsError::Failed(anyhow::anyhow!(
                "{}: {} ({} event(s) re-sent before)",
                stop.service,
                stop.error,
                stop.published_before
            ))
        })
}

/// Waits until every consumer group is at the log end.
async fn drain(ctx: &Environment, timeout: Duration) -> Result<String, OpsError> {
    let groups = ops::kafka::groups(ctx, None)?;
    let deadline = Instant::now() + timeout;
    loop {
        let lag: i64 = ops::kafka::sample(ctx, &groups)
            .await?
            .iter()
            .map(|(_, p)| p.lag)
            .sum();
        if lag == 0 {
            return Ok("every consumer group is at the log end".into());
        }
        if Instant::now() >= deadline {
            return Err(OpsError::Failed(anyhow::anyhow!(
                "{lag} message(s) still unprocessed after {} s; see `opsctl kafka lag`",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Re-announces reservations left pending longer than `older_than`.
async fn reconcile(
    ctx: &Environment,
    older_than: Duration,
    counts: &mut Counts,
) -> Result<String, OpsError> {
    let scope = ops::reconcile::Scope {
        older_than,
        limit: 1000,
        since: None,
    };
    let mut lines = ops::reconcile::plan(ctx, &scope).await?;
    let summary = ops::reconcile::apply(ctx, &mut lines).await?;
    counts.reservations_reconciled += summary.announced;
    if summary.failed > 0 {
        return Err(OpsError::Failed(anyhow::anyhow!(
            "{} re-announcement(s) failed; see `opsctl reservations reconcile`",
            summary.failed
        )));
    }
    Ok(format!(
        "{} pending: {} re-announced, {} unpaid (left to expire)",
        summary.pending, summary.announced, summary.unpaid
    ))
}
