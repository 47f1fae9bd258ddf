//! `opsctl kafka dr`: the Kafka disaster-recovery runbook in order --
//! detect, restart, health, verify segments, replay the outbox, wait for the
//! consumers to drain, reconcile pending reservations -- with a step log,
//! stop-on-failure naming the next step, `--resume-from`, and a closing
//! report: the measured recovery time, events replayed, and events lost
//! (outbox rows written before the run that are still unpublished at its
//! end; it must be 0).
//!
//! ```text
//! opsctl kafka dr                                   # the plan
//! opsctl kafka dr --execute                         # run it
//! opsctl kafka dr --execute --resume-from replay    # after fixing a failed step
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde::Serialize;
use ticketing_catalog::topics;
use ticketing_messaging::relay::{Relay, RelayOptions};
use ticketing_messaging::replay::{self, ReplayOptions, Selection};

use crate::change::{Change, ExecuteArgs};
use crate::commands::{kafka, notice, outbox, reservations};
use crate::context::Context;
use crate::error::CliError;
use crate::output;
use crate::runbook::{Runbook, StepLog};

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
    const ALL: [Step; 9] = [
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
    fn tells_customers(self) -> bool {
        matches!(self, Step::Notify | Step::EndNotice)
    }

    fn name(self) -> &'static str {
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

    fn plan(self) -> &'static str {
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

#[derive(Args, Debug)]
pub struct DrArgs {
    /// Start at this step (after fixing the one that failed).
    #[arg(long, value_enum)]
    pub resume_from: Option<Step>,
    /// Restart even when the broker answers.
    #[arg(long)]
    pub force_restart: bool,
    /// Segment files to verify (where the broker's disk is reachable).
    #[arg(long, num_args = 1..)]
    pub segments: Vec<std::path::PathBuf>,
    /// Re-send every event written since this time even if marked sent (the
    /// broker lost its disk); RFC 3339.
    #[arg(long)]
    pub replay_since: Option<String>,
    /// Seconds to wait for the restart and the broker.
    #[arg(long, default_value_t = 300)]
    pub restart_timeout: u64,
    /// Seconds to wait for the consumers to drain.
    #[arg(long, default_value_t = 600)]
    pub drain_timeout: u64,
    /// Tell customers: post the booking-delay notice first, end it last.
    #[arg(long)]
    pub notify_customers: bool,
    /// Reconcile reservations PENDING for longer than this (30s, 5m, ...).
    #[arg(long, default_value = "1m", value_parser = reservations::parse_age)]
    pub reconcile_older_than: Duration,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Serialize)]
struct DrReport {
    recovery_seconds: f64,
    events_replayed: u64,
    events_lost: i64,
    reservations_reconciled: usize,
    steps: Vec<StepLog>,
}

/// What the steps count as they go.
#[derive(Default)]
struct Counts {
    events_replayed: u64,
    reservations_reconciled: usize,
}

/// Per publishing service, the highest outbox id when the run began.
pub(crate) type Marks = Vec<(ticketing_catalog::ServiceName, sqlx::PgPool, i64)>;

pub(crate) async fn marks(ctx: &Context) -> Result<Marks, CliError> {
    let mut out = Vec::new();
    for service in outbox::services(None)? {
        let pool = outbox::pool(ctx, service)?;
        let max = ticketing_messaging::outbox::high_mark(&pool)
            .await
            .map_err(|e| {
                CliError::Failed(anyhow::anyhow!(
                    "reading the outbox of {service}: {e}; is PostgreSQL up?"
                ))
            })?;
        out.push((service, pool, max));
    }
    Ok(out)
}

pub(crate) async fn lost(marks: &Marks) -> Result<i64, CliError> {
    let mut lost = 0;
    for (service, pool, max) in marks {
        let n = ticketing_messaging::outbox::unsent_up_to(pool, *max)
            .await
            .map_err(|e| {
                CliError::Failed(anyhow::anyhow!("reading the outbox of {service}: {e}"))
            })?;
        lost += n;
    }
    Ok(lost)
}

pub async fn exec(ctx: &Context, args: DrArgs) -> Result<ExitCode, CliError> {
    let first = args.resume_from.unwrap_or(Step::Detect);
    let steps: Vec<Step> = Step::ALL
        .into_iter()
        .filter(|s| args.notify_customers || !s.tells_customers())
        .collect();
    let planned: Vec<Step> = steps.iter().copied().filter(|s| *s >= first).collect();
    let since = args
        .replay_since
        .as_deref()
        .map(|raw| {
            chrono::DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| {
                    CliError::usage(
                        format!("--replay-since `{raw}` is not a time: {e}"),
                        "use RFC 3339, e.g. 2026-11-24T01:00:00Z",
                    )
                })
        })
        .transpose()?;
    eprintln!("Kafka disaster recovery, {} step(s):", planned.len());
    for (i, s) in planned.iter().enumerate() {
        eprintln!("  {}. {:<16} {}", i + 1, s.name(), s.plan());
    }
    let Some(applying) = Change::new(ctx, "kafka dr", &args.execute).begin(
        "running the Kafka DR runbook",
        &serde_json::json!({"from": first, "steps": planned}),
        planned.len(),
    )?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let started = Instant::now();
    let marks = marks(ctx).await?;
    let mut report = DrReport {
        recovery_seconds: 0.0,
        events_replayed: 0,
        events_lost: 0,
        reservations_reconciled: 0,
        steps: Vec::new(),
    };
    let mut broker_up = !planned.contains(&Step::Detect);
    let mut book = Runbook::new(&applying, "dr", |step| {
        format!("fix it, then run `opsctl kafka dr --execute --resume-from {step}`")
    })
    .resume_from(planned.first().map(|s| s.name()));
    let mut counts = Counts::default();
    for step in steps {
        let outcome = book
            .step(
                step.name(),
                run_step(ctx, &args, step, since, &mut broker_up, &mut counts),
            )
            .await;
        if let Err(e) = outcome {
            drop(book);
            return Err(
                applying.failed(serde_json::json!({"step": step, "error": e.to_string()}), e)
            );
        }
    }
    report.steps = book.into_log();
    report.events_replayed = counts.events_replayed;
    report.reservations_reconciled = counts.reservations_reconciled;
    // The services' relays may still be publishing rows they claimed before
    // the replay step (it skips rows a relay holds): give them a moment
    // before calling anything lost.
    let settle = std::time::Instant::now() + std::time::Duration::from_secs(30);
    report.events_lost = loop {
        let n = lost(&marks).await?;
        if n == 0 || std::time::Instant::now() >= settle {
            break n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    report.recovery_seconds = started.elapsed().as_secs_f64();
    applying.done(serde_json::to_value(&report).unwrap_or_default())?;
    output::emit(ctx.output, &report, || {
        let rows: Vec<Vec<String>> = report
            .steps
            .iter()
            .map(|s| {
                vec![
                    s.step.clone(),
                    if s.ok { "ok" } else { "failed" }.to_owned(),
                    format!("{:.1} s", s.seconds),
                    s.detail.clone(),
                ]
            })
            .collect();
        format!(
            "{}recovered in {:.1} s: {} event(s) replayed, {} lost, {} reservation(s) reconciled\n",
            output::table(&["STEP", "OUTCOME", "TIME", "DETAIL"], &rows),
            report.recovery_seconds,
            report.events_replayed,
            report.events_lost,
            report.reservations_reconciled
        )
    });
    Ok(if report.events_lost == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::error::EXIT_PROBLEM)
    })
}

async fn run_step(
    ctx: &Context,
    args: &DrArgs,
    step: Step,
    since: Option<chrono::DateTime<chrono::Utc>>,
    broker_up: &mut bool,
    counts: &mut Counts,
) -> Result<String, CliError> {
    let restart_timeout = Duration::from_secs(args.restart_timeout);
    match step {
        Step::Detect => Ok(
            match ticketing_kafka::cluster_info(&ctx.settings.kafka).await {
                Ok(info) => {
                    *broker_up = true;
                    format!("the broker answers ({} topic(s))", info.topics.len())
                }
                Err(e) => {
                    *broker_up = false;
                    format!("the broker does not answer: {e}")
                }
            },
        ),
        Step::Notify => {
            let notice =
                notice::post_template(ctx, &ticketing_catalog::notices::BOOKING_DELAY).await?;
            Ok(format!("notice {} posted (booking-delay)", notice.id))
        }
        Step::EndNotice => {
            let ended =
                notice::end_template(ctx, &ticketing_catalog::notices::BOOKING_DELAY).await?;
            Ok(format!("{} booking-delay notice(s) ended", ended.len()))
        }
        Step::Restart if *broker_up && !args.force_restart => {
            Ok("skipped: the broker answers".into())
        }
        Step::Restart => {
            let plan = kafka::restart_plan(ctx)?;
            let done = kafka::restart_now(ctx, plan, restart_timeout).await?;
            *broker_up = true;
            Ok(format!(
                "restarted; the broker answered {:.1} s after the command",
                done.broker_answered_after_seconds
            ))
        }
        Step::Health => {
            let deadline = Instant::now() + restart_timeout;
            loop {
                match ticketing_kafka::cluster_info(&ctx.settings.kafka).await {
                    Ok(_) => break,
                    Err(e) if Instant::now() >= deadline => {
                        return Err(CliError::Failed(anyhow::anyhow!(
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
            .map_err(|e| CliError::Failed(e.into()))?;
            Ok(if created.is_empty() {
                "the broker answers with every topic".into()
            } else {
                format!(
                    "the broker answers; created missing topic(s) {}",
                    created.join(", ")
                )
            })
        }
        Step::VerifySegments if args.segments.is_empty() => {
            Ok("skipped: no --segments given".into())
        }
        Step::VerifySegments => {
            let mut bad = Vec::new();
            for path in &args.segments {
                let file = std::fs::File::open(path).map_err(|e| {
                    CliError::usage(
                        format!("{} cannot be read: {e}", path.display()),
                        "give reachable segment files",
                    )
                })?;
                let r = crate::segments::verify(std::io::BufReader::with_capacity(1 << 20, file))
                    .map_err(|e| CliError::Failed(e.into()))?;
                if !r.is_clean() {
                    bad.push(format!(
                        "{} ({} problem(s))",
                        path.display(),
                        r.problems.len()
                    ));
                }
            }
            if bad.is_empty() {
                Ok(format!("{} segment file(s) clean", args.segments.len()))
            } else {
                Err(CliError::Failed(anyhow::anyhow!(
                    "corrupt segments: {}; run `opsctl kafka verify-segments` on them, restore or truncate, and replay with --replay-since",
                    bad.join(", ")
                )))
            }
        }
        Step::Replay => {
            let selection = match since {
                Some(since) => Selection::range(since, chrono::Utc::now()).map_err(|e| {
                    CliError::usage(e.to_string(), "give a --replay-since in the past")
                })?,
                None => Selection::Unsent,
            };
            let mut replayed = 0;
            for service in outbox::services(None)? {
                let pool = outbox::pool(ctx, service)?;
                let plan = replay::plan(&pool, &selection)
                    .await
                    .map_err(|e| CliError::Failed(e.into()))?;
                if plan.events == 0 {
                    continue;
                }
                let relay = Relay::new(
                    pool,
                    service.schema().unwrap_or_default(),
                    ctx.settings.kafka.clone(),
                    RelayOptions::default(),
                )
                .map_err(|e| CliError::Failed(e.into()))?;
                let done = replay::replay(&relay, &plan, &ReplayOptions::default(), |_| {})
                    .await
                    .map_err(|e| CliError::Failed(e.into()))?;
                replayed += done.published;
            }
            counts.events_replayed += replayed;
            Ok(format!("{replayed} event(s) re-sent"))
        }
        Step::Drain => {
            let groups = kafka::groups(ctx, None)?;
            let deadline = Instant::now() + Duration::from_secs(args.drain_timeout);
            loop {
                let lag: i64 = kafka::sample(ctx, &groups)
                    .await?
                    .iter()
                    .map(|(_, p)| p.lag)
                    .sum();
                if lag == 0 {
                    return Ok("every consumer group is at the log end".into());
                }
                if Instant::now() >= deadline {
                    return Err(CliError::Failed(anyhow::anyhow!(
                        "{lag} message(s) still unprocessed after {} s; see `opsctl kafka lag`",
                        args.drain_timeout
                    )));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Step::Reconcile => {
            let mut lines = reservations::plan(ctx, args.reconcile_older_than, 1000).await?;
            let summary = reservations::apply(ctx, &mut lines).await?;
            counts.reservations_reconciled += summary.announced;
            if summary.failed > 0 {
                return Err(CliError::Failed(anyhow::anyhow!(
                    "{} re-announcement(s) failed; see `opsctl reservations reconcile`",
                    summary.failed
                )));
            }
            Ok(format!(
                "{} pending: {} re-announced, {} unpaid (left to expire)",
                summary.pending, summary.announced, summary.unpaid
            ))
        }
    }
}
