//! `opsctl kafka failover-drill`: the 10x plan's high-availability claim
//! (three brokers, replication factor 2: automatic failover within 5
//! minutes, no acknowledged event lost) as a drill. With bookings flowing, it
//! stops the broker that leads the topic's first partition, measures how
//! long until another broker leads and serves it and until the services'
//! outboxes drain, brings the broker back, and counts the events written
//! during the drill that never reached the topic (lost: must be 0) or
//! reached it twice (duplicated: the consumers absorb those).
//!
//! Locally the broker is stopped by the cluster profile's node command
//! (`stack.kafka_cluster.stop_node_command`); in AWS by SSM Run Command on
//! the broker instances, where only the instance holding the leader's
//! address acts. At most one broker is ever stopped, and never in `prod`
//! without `--yes`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ticketing_catalog::{aws, topics};
use ticketing_config::Profile;

use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::failover::drill::{executor, node, run, Report};
use crate::ops::failover::plan::{plan, DrillPlan, NodeAction};
use crate::output;

const COMMAND: &str = "kafka failover-drill";

#[derive(Args, Debug)]
pub struct FailoverArgs {
    /// The catalog topic whose first partition's leader is stopped.
    #[arg(long, default_value = topics::PAYMENT_EVENTS)]
    pub topic: String,
    /// Seconds to wait for a new leader, for the outboxes to drain and for
    /// the stopped broker to rejoin.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub async fn exec(ctx: &Context, args: FailoverArgs) -> Result<ExitCode, OpsError> {
    if ctx.profile == Profile::Prod && args.execute.execute && !args.execute.yes {
        return Err(OpsError::usage(
            "a failover drill in prod stops a production broker; it never runs on a typed confirmation alone",
            "schedule it, then run it with --execute --yes",
        ));
    }
    let physical = ctx.settings.kafka.topic(&args.topic);
    let (brokers, partitions) = ticketing_kafka::partition_leaders(&ctx.settings.kafka, &physical)
        .await
        .map_err(|e| {
            OpsError::usage(
                format!("the cluster's metadata for `{physical}` could not be read: {e}"),
                "check `opsctl kafka health` and kafka.bootstrap_servers (all of the cluster's brokers)",
            )
        })?;
    let plan = plan(&physical, &brokers, &partitions, &executor(ctx)?)
        .map_err(|r| OpsError::usage(r.to_string(), "nothing was stopped"))?;
    eprintln!("{}", describe(&plan, ctx.profile));
    let Some(applying) =
        Change::new(ctx, COMMAND, &args.execute).begin("stopping a Kafka broker", &plan, 1)?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let waiting = output::spinner(
        &format!("[drill] stopping broker {}", plan.leader),
        Some(Duration::from_secs(args.timeout)),
    );
    let result = run(ctx, &plan, Duration::from_secs(args.timeout), |m| {
        waiting.suspend(|| eprintln!("[drill] {m}"));
        waiting.set_message(format!("[drill] after: {m}"));
    })
    .await;
    waiting.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            // Whatever failed, the broker must not stay down.
            let restarted = node(ctx, &plan.action, false, Duration::from_secs(args.timeout)).await;
            let detail = serde_json::json!({
                "error": e.to_string(),
                "broker_started_again": restarted.is_ok(),
            });
            return Err(applying.failed(
                detail,
                format!(
                    "the drill failed: {e}; broker {} was {}",
                    plan.leader,
                    match restarted {
                        Ok(()) => "started again".to_owned(),
                        Err(e) => format!("NOT started again ({e}): start it by hand"),
                    }
                ),
            ));
        }
    };
    applying.done(serde_json::to_value(&report).unwrap_or_default())?;
    output::emit(ctx.output, &report, || render(&report));
    Ok(if report.met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

/// The plan as one line: which broker stops, how, and what is measured.
fn describe(plan: &DrillPlan, profile: Profile) -> String {
    let how = match &plan.action {
        NodeAction::Local { stop, .. } => format!("`{stop}`"),
        NodeAction::Ssm { address, .. } => format!(
            "SSM {} on the instances tagged {}={} (only {address} acts)",
            aws::RUN_SHELL_DOCUMENT,
            aws::KAFKA_BROKER_OF_TAG_KEY,
            profile.as_str()
        ),
    };
    format!(
        "plan: stop broker {} ({}), leader of {}/{} (replicas {:?}, all in sync), by {how}; \
         measure the time to a new serving leader and to a drained outbox; start it again and wait \
         until it is back in sync; count the events of the drill lost or duplicated \
         (targets: RTO {} s, {} event(s) lost)",
        plan.leader,
        plan.leader_address,
        plan.topic,
        plan.partition,
        plan.replicas,
        topics::SCALE_10X_FAILOVER_RTO_SECONDS,
        topics::SCALE_10X_FAILOVER_RPO_EVENTS
    )
}

fn render(r: &Report) -> String {
    let rows = vec![
        vec![
            "RTO (new leader serving)".to_owned(),
            format!("{:.1} s", r.rto_seconds),
            format!("{} s", r.rto_target_seconds),
        ],
        vec![
            "outbox drained".to_owned(),
            format!("{:.1} s", r.outbox_drained_seconds),
            String::new(),
        ],
        vec![
            "RPO (events lost)".to_owned(),
            format!("{} of {}", r.tally.events_lost, r.tally.events_written),
            r.rpo_target_events.to_string(),
        ],
        vec![
            "probe events (the drill's own)".to_owned(),
            r.probes_sent.to_string(),
            "written while the broker was down".to_owned(),
        ],
        vec![
            "events duplicated".to_owned(),
            r.tally.events_duplicated.to_string(),
            "absorbed by the consumers".to_owned(),
        ],
        vec![
            "stopped broker back in sync".to_owned(),
            format!("{:.1} s", r.rejoined_seconds),
            String::new(),
        ],
    ];
    format!(
        "broker {} stopped; broker {} took over {}/{}\n{}{}\n",
        r.plan.leader,
        r.new_leader,
        r.plan.topic,
        r.plan.partition,
        output::table(&["MEASURE", "MEASURED", "TARGET"], &rows),
        if r.met {
            "the design's targets are met"
        } else {
            "the design's targets are NOT met"
        }
    )
}
