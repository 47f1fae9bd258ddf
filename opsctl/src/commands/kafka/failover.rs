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
use ticketing_catalog::topics;
use ticketing_config::Profile;

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::OpsError;
use crate::ops::failover::runbook::Drill;

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
    let drill = Drill::observe(ctx, &physical, Duration::from_secs(args.timeout)).await?;
    driver::run(ctx, &drill, &args.execute).await
}
