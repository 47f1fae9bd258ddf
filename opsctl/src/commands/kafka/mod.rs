//! `opsctl kafka ...`: the broker, its consumer groups, and the runbooks
//! around it. The arguments live here; each subcommand has its file.
//!
//! ```text
//! opsctl kafka health
//! opsctl kafka lag --group reservation-service --until-drained --timeout 600
//! opsctl kafka reset-offsets --group event-service --to earliest --execute
//! opsctl kafka restart --execute
//! opsctl kafka verify-segments ./copied/*.log
//! opsctl --env prod kafka verify-segments --on-broker /var/lib/kafka/payment.events-0/00000000000000000000.log
//! opsctl kafka dr --execute
//! opsctl kafka failover-drill --execute
//! ```

pub mod dr;
pub mod failover;
pub mod health;
pub mod lag;
pub mod reset;
pub mod restart;
pub mod verify;

use clap::Args;

use crate::change::ExecuteArgs;

#[derive(Args, Debug)]
pub struct RestartArgs {
    /// Seconds to wait for the restart command and then for the broker.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Segment files (`00000000000000000000.log`, ...): local files, or with
    /// --on-broker paths on the broker host (under /var/lib/kafka).
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
    /// Verify on the broker host(s) through SSM Run Command, with the
    /// deployed release's verifier (fetched once from the registry by
    /// digest), one broker at a time; read-only.
    #[arg(long)]
    pub on_broker: bool,
    /// With --on-broker: the release to verify with (HOST/REPO@sha256:...);
    /// default: the image api-gateway runs now.
    #[arg(long, requires = "on_broker")]
    pub image: Option<String>,
    /// With --on-broker: seconds to wait for every broker.
    #[arg(long, default_value_t = 600, requires = "on_broker")]
    pub timeout: u64,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    Datetime,
    Offset,
}

#[derive(Args, Debug)]
pub struct ResetArgs {
    /// The consumer group (a service name).
    #[arg(long)]
    pub group: String,
    /// Where to move to.
    #[arg(long, value_enum, required_unless_present_any = ["from_file", "from_audit"])]
    pub to: Option<ResetTo>,
    /// With `--to datetime`: RFC 3339, e.g. 2026-11-24T01:00:00Z.
    #[arg(long, required_if_eq("to", "datetime"))]
    pub datetime: Option<String>,
    /// With `--to offset`: the offset for every partition.
    #[arg(long, required_if_eq("to", "offset"))]
    pub offset: Option<i64>,
    /// Restore the offsets a previous `--execute` saved.
    #[arg(long, conflicts_with = "to")]
    pub from_file: Option<std::path::PathBuf>,
    /// Restore the offsets the group's last `--execute` recorded in the
    /// audit trail (in dev and prod the environment's CloudWatch Logs
    /// group: what works from the ops task, whose disk does not last).
    #[arg(long, conflicts_with_all = ["to", "from_file"])]
    pub from_audit: bool,
    /// Where `--execute` saves the previous offsets (default:
    /// ./opsctl-offsets-<group>-<time>.json).
    #[arg(long)]
    pub save_to: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Args, Debug)]
pub struct LagArgs {
    /// The consumer group (a service name; default: every service's group).
    #[arg(long)]
    pub group: Option<String>,
    /// Seconds between the two samples of the drain estimate.
    #[arg(long, default_value_t = 5)]
    pub interval: u64,
    /// Sample until every lag is 0 (exit 0) or `--timeout` passes (exit 1).
    #[arg(long)]
    pub until_drained: bool,
    /// Seconds `--until-drained` waits.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// A group still consuming whose oldest unprocessed record has waited
    /// longer than this many seconds is WARN.
    #[arg(long, default_value_t = 30)]
    pub warn_after: u64,
}
