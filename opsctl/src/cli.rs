//! The command line, defined with clap derive.

use clap::{Args, Parser, Subcommand, ValueEnum};
use ticketing_config::Profile;

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

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Environment to act on.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "local",
        env = "OPSCTL_ENV"
    )]
    pub env: EnvArg,
    /// AWS region (defaults to AWS_REGION, then the environment's
    /// configured region).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Output format: `table` for people, `json` for CI.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "table",
        env = "OPSCTL_OUTPUT"
    )]
    pub output: OutputFormat,
    /// More logging on stderr.
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvArg {
    Local,
    Dev,
    Prod,
}

impl From<EnvArg> for Profile {
    fn from(env: EnvArg) -> Profile {
        match env {
            EnvArg::Local => Profile::Local,
            EnvArg::Dev => Profile::Dev,
            EnvArg::Prod => Profile::Prod,
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
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
        command: crate::commands::cost::CostCommand,
    },
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
        command: crate::commands::kafka::KafkaCommand,
    },
    /// Reserved Instances (RDS, ElastiCache) and the Fargate Savings Plan.
    Reserved {
        #[command(subcommand)]
        command: crate::commands::reserved::ReservedCommand,
    },
    /// Reservations: reconciling the ones stuck in PENDING with PortOne.
    Reservations {
        #[command(subcommand)]
        command: crate::commands::reservations::ReservationsCommand,
    },
    /// The transactional outbox: backlog, and re-sending events.
    Outbox {
        #[command(subcommand)]
        command: crate::commands::outbox::OutboxCommand,
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
    SwitchBack(crate::commands::portone::rollback::SwitchBackArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
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
