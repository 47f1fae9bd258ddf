//! The command line, defined with clap derive, and its dispatch: the one
//! file that names every command. Nothing else imports it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::kafka::{self, dr, failover};
use crate::commands::{
    alarms, cost, cost_diff, cost_report, cqrs, dashboards, deploy, dlq, infra, logs, notice,
    outbox, portone, queue, reservations, reserved, secrets, status, trace, users,
};
use crate::context::{Context, GlobalArgs};
use crate::error::OpsError;

#[derive(Parser, Debug)]
#[command(
    name = "opsctl",
    version,
    about = "Operations toolkit for the ticketing platform",
    long_about = "Operations toolkit for the ticketing platform: every runbook step as a safe, \
                  tested command. Commands that change anything print a plan and change nothing \
                  without --execute."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// One screen of health: PostgreSQL, Redis, Kafka and every service's
    /// readiness, with latency. Exits 1 when anything is down.
    Status(crate::commands::status::StatusArgs),
    /// CloudWatch alarms (billing, payment failure rate, Kafka metrics
    /// missing) and their SNS topics.
    Alarms {
        #[command(subcommand)]
        command: crate::commands::alarms::AlarmsCommand,
    },
    /// The design's CQRS triggers: five metrics against their thresholds.
    Cqrs {
        #[command(subcommand)]
        command: CqrsCommand,
    },
    /// CloudWatch dashboards from dashboards/*.json.
    Dashboards {
        #[command(subcommand)]
        command: crate::commands::dashboards::DashboardsCommand,
    },
    /// Cost: the monthly model from unit prices.
    Cost {
        #[command(subcommand)]
        command: CostCommand,
    },
    /// Deploy an image: push it to ECR, a new task definition revision per
    /// service (image by digest), wait until stable, tag the rollout
    /// COMPLETED or FAILED. The payment service goes last.
    Deploy(crate::commands::deploy::DeployArgs),
    /// CloudFormation stacks of infra/templates: change sets, deploy.
    Infra {
        #[command(subcommand)]
        command: crate::commands::infra::InfraCommand,
    },
    /// CloudWatch log groups: retention by class.
    Logs {
        #[command(subcommand)]
        command: crate::commands::logs::LogsCommand,
    },
    /// PortOne: which mode each environment runs in; emergency rollback.
    Portone {
        #[command(subcommand)]
        command: PortoneCommand,
    },
    /// The Kafka broker and its consumer groups.
    Kafka {
        #[command(subcommand)]
        command: KafkaCommand,
    },
    /// Reserved Instances (RDS, ElastiCache) and the Fargate Savings Plan.
    Reserved {
        #[command(subcommand)]
        command: crate::commands::reserved::ReservedCommand,
    },
    /// The team's audit trail of changes (in dev and prod: CloudWatch
    /// Logs, with who ran each by AWS identity).
    Audit(crate::commands::audit::AuditArgs),
    /// The environment's change lock (one change at a time in dev and
    /// prod): who holds it; break one its holder left behind.
    Lock {
        #[command(subcommand)]
        command: crate::commands::lock::LockCommand,
    },
    /// Reservations: reconciling the ones stuck in PENDING with PortOne.
    Reservations {
        #[command(subcommand)]
        command: crate::commands::reservations::ReservationsCommand,
    },
    /// The secrets the tasks read at start (app keys, PortOne keys):
    /// present and complete; create the missing ones.
    Secrets {
        #[command(subcommand)]
        command: crate::commands::secrets::SecretsCommand,
    },
    /// Accounts' roles: who may create performances (organisers).
    Users {
        #[command(subcommand)]
        command: crate::commands::users::UsersCommand,
    },
    /// The transactional outbox: backlog, and re-sending events.
    Outbox {
        #[command(subcommand)]
        command: crate::commands::outbox::OutboxCommand,
    },
    /// One booking across every layer (reservation, orders, outbox, topics,
    /// consumer groups, dead letters, PortOne) with a verdict; exit 1 when
    /// it is stuck.
    Trace(crate::commands::trace::TraceArgs),
    /// The dead-letter topic: list, show and re-send what consumers gave up on.
    Dlq {
        #[command(subcommand)]
        command: crate::commands::dlq::DlqCommand,
    },
    /// The waiting rooms: who waits, pause and resume admission, its rate.
    Queue {
        #[command(subcommand)]
        command: crate::commands::queue::QueueCommand,
    },
    /// Notices to customers ("bookings delayed", "payments paused").
    Notice {
        #[command(subcommand)]
        command: crate::commands::notice::NoticeCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum CqrsCommand {
    /// Read the five trigger metrics and say which phase the rules call
    /// for; exit 1 when that is a change.
    Check(crate::commands::cqrs::CheckArgs),
}

#[derive(Subcommand, Debug)]
pub enum PortoneCommand {
    /// The mode each environment's secret and running task definition are
    /// in (keys masked); exit 1 when they disagree or cannot be read.
    Mode(crate::commands::portone::ModeArgs),
    /// Emergency: roll payment-service back to its last known-good task
    /// definition revision, optionally on the test keys, and wait until
    /// stable.
    Rollback(crate::commands::portone::rollback::RollbackArgs),
    /// Put the live keys saved by a rollback back and restart the tasks.
    SwitchBack(crate::commands::portone::switch_back::SwitchBackArgs),
}

#[derive(Subcommand, Debug)]
pub enum KafkaCommand {
    /// Broker reachability and metadata, topics and partitions, with timing;
    /// the KRaft controller quorum (leader, epoch, each voter's lag, whether
    /// a majority follows the leader); ZooKeeper's `ruok`/`stat` only when
    /// `kafka.zookeeper` is set. Exits 1 when a topic of the catalog is
    /// missing, the quorum has no majority, or ZooKeeper is not ok.
    Health,
    /// Per group, topic and partition: committed offset, log end, lag, and a
    /// drain estimate from two samples.
    Lag(kafka::LagArgs),
    /// Restart the broker: in AWS through SSM Run Command on the instance(s)
    /// tagged as the broker; on the local stack through the configured
    /// command. Then wait for it to answer. Plan first; `--execute` acts.
    Restart(kafka::RestartArgs),
    /// The whole Kafka disaster-recovery runbook in order, with a step log,
    /// resume, and a closing report (recovery time, events lost and replayed).
    Dr(dr::DrArgs),
    /// The 10x high-availability drill: stop the broker leading the topic's
    /// first partition (one broker only; in prod only with --yes), measure
    /// the time to a new serving leader and a drained outbox, start it again,
    /// and count the drill's events lost (must be 0) and duplicated.
    FailoverDrill(failover::FailoverArgs),
    /// Check Kafka log segment files (record batch v2): CRC-32C of every
    /// batch, increasing offsets, sane sizes, torn tails. Exits 1 on any
    /// corruption.
    VerifySegments(kafka::VerifyArgs),
    /// Move a consumer group's committed offsets (plan first; `--execute`
    /// saves the previous offsets to a file and the audit trail, then
    /// commits; `--from-file` or `--from-audit` restores them). Refused
    /// while the group has active members.
    ResetOffsets(kafka::ResetArgs),
}

#[derive(Subcommand, Debug)]
pub enum CostCommand {
    /// Monthly cost per item from unit prices, next to the design's figures.
    Model(cost::ModelArgs),
    /// Actual spend for a month from Cost Explorer, by service, against the
    /// model.
    Report(cost_report::ReportArgs),
    /// The free-tier-end checklist (D-180 ... D+30) as dated actions, each
    /// with the opsctl command that carries it out.
    Timeline(cost_report::TimelineArgs),
    /// The monthly cost at a base git revision and now, per row, with the
    /// delta and its cause (a template's size or a unit price); `--output
    /// markdown` for a pull request comment.
    Diff(cost_diff::DiffArgs),
}

impl Command {
    /// Whether the command talks to the database, the cache, the brokers or
    /// the services (which in dev and prod only the VPC reaches), rather
    /// than only to AWS APIs. `kafka reset-offsets` keeps its restore point
    /// in the audit trail as well as a file (`--from-audit` restores it), so
    /// it runs in the ops task too; so do `kafka dr` and `kafka
    /// failover-drill`, whose broker steps (SSM Run Command, limited to the
    /// environment's brokers by the task role) sit between data-plane ones.
    /// `kafka restart` and `verify-segments --on-broker` only call SSM and
    /// run where they are.
    fn reaches_data_plane(&self) -> bool {
        matches!(
            self,
            Command::Status(_)
                | Command::Outbox { .. }
                | Command::Reservations { .. }
                | Command::Users { .. }
                | Command::Notice { .. }
                | Command::Queue { .. }
                | Command::Dlq { .. }
                | Command::Trace(_)
                | Command::Kafka {
                    command: KafkaCommand::Health
                        | KafkaCommand::Lag(_)
                        | KafkaCommand::ResetOffsets(_)
                        | KafkaCommand::Dr(_)
                        | KafkaCommand::FailoverDrill(_)
                }
        )
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode, OpsError> {
    let ctx = Context::load(&cli.global)?;
    // From outside the VPC, dev's and prod's data plane is reached through
    // the environment's ops task (opsctl inside the VPC).
    if cli.command.reaches_data_plane() && !crate::ops::ops_task::inside_vpc() {
        if let Ok(env) = crate::aws::aws_env(&ctx) {
            return crate::commands::ops_task::exec(&ctx, env).await;
        }
    }
    match cli.command {
        Command::Status(args) => status::exec(&ctx, args).await,
        Command::Outbox { command } => outbox::exec(&ctx, command).await,
        Command::Kafka { command } => match command {
            KafkaCommand::Health => kafka::health::health(&ctx).await,
            KafkaCommand::Lag(args) => kafka::lag::lag(&ctx, args).await,
            KafkaCommand::ResetOffsets(args) => kafka::reset::reset_offsets(&ctx, args).await,
            KafkaCommand::VerifySegments(args) => kafka::verify::verify_segments(&ctx, args).await,
            KafkaCommand::Restart(args) => kafka::restart::restart(&ctx, args).await,
            KafkaCommand::Dr(args) => dr::exec(&ctx, args).await,
            KafkaCommand::FailoverDrill(args) => failover::exec(&ctx, args).await,
        },
        Command::Notice { command } => notice::exec(&ctx, command).await,
        Command::Queue { command } => queue::exec(&ctx, command).await,
        Command::Dlq { command } => dlq::exec(&ctx, command).await,
        Command::Trace(args) => trace::exec(&ctx, args).await,
        Command::Alarms { command } => alarms::exec(&ctx, command).await,
        Command::Dashboards { command } => dashboards::exec(&ctx, command).await,
        Command::Cqrs { command } => match command {
            CqrsCommand::Check(args) => cqrs::check(&ctx, args).await,
        },
        Command::Cost { command } => match command {
            CostCommand::Model(args) => cost::model_command(&ctx, args).await,
            CostCommand::Report(args) => cost_report::report(&ctx, args).await,
            CostCommand::Timeline(args) => cost_report::timeline(&ctx, args),
            CostCommand::Diff(args) => cost_diff::diff_command(&ctx, args),
        },
        Command::Deploy(args) => deploy::exec(&ctx, args).await,
        Command::Infra { command } => infra::exec(&ctx, command).await,
        Command::Logs { command } => logs::exec(&ctx, command).await,
        Command::Portone { command } => match command {
            PortoneCommand::Mode(args) => portone::mode(&ctx, args).await,
            PortoneCommand::Rollback(args) => portone::rollback::rollback(&ctx, args).await,
            PortoneCommand::SwitchBack(args) => portone::switch_back::switch_back(&ctx, args).await,
        },
        Command::Reserved { command } => reserved::exec(&ctx, command).await,
        Command::Reservations { command } => reservations::exec(&ctx, command).await,
        Command::Audit(args) => crate::commands::audit::exec(&ctx, args).await,
        Command::Lock { command } => crate::commands::lock::exec(&ctx, command).await,
        Command::Secrets { command } => secrets::exec(&ctx, command).await,
        Command::Users { command } => users::exec(&ctx, command).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::EnvArg;
    use crate::output::OutputFormat;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_parse_anywhere() {
        let cli = Cli::try_parse_from(["opsctl", "status", "--env", "prod", "--output", "json"])
            .expect("parses");
        assert_eq!(cli.global.env, EnvArg::Prod);
        assert_eq!(cli.global.output, OutputFormat::Json);
    }

    #[test]
    fn an_unknown_environment_is_refused_with_the_choices() {
        let err = Cli::try_parse_from(["opsctl", "--env", "staging", "status"])
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("staging") && err.contains("local"), "{err}");
    }
}
