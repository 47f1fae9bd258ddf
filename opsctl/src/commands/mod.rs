//! One module per command group.

pub mod alarms;
pub mod cost;
pub mod cost_report;
pub mod cqrs;
pub mod dashboards;
pub mod dr;
pub mod failover;
pub mod infra;
pub mod kafka;
pub mod logs;
pub mod notice;
pub mod outbox;
pub mod portone;
pub mod reservations;
pub mod reserved;
pub mod status;

use std::process::ExitCode;

use crate::cli::{Cli, Command, CqrsCommand, PortoneCommand};
use crate::context::Context;
use crate::error::CliError;

pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let ctx = Context::load(&cli.global)?;
    match cli.command {
        Command::Status(args) => status::exec(&ctx, args).await,
        Command::Outbox { command } => outbox::exec(&ctx, command).await,
        Command::Kafka { command } => kafka::exec(&ctx, command).await,
        Command::Notice { command } => notice::exec(&ctx, command).await,
        Command::Alarms { command } => alarms::exec(&ctx, command).await,
        Command::Dashboards { command } => dashboards::exec(&ctx, command).await,
        Command::Cqrs { command } => match command {
            CqrsCommand::Check(args) => cqrs::check(&ctx, args).await,
        },
        Command::Cost { command } => cost::exec(&ctx, command).await,
        Command::Infra { command } => infra::exec(&ctx, command).await,
        Command::Logs { command } => logs::exec(&ctx, command).await,
        Command::Portone { command } => match command {
            PortoneCommand::Mode(args) => portone::mode(&ctx, args).await,
            PortoneCommand::Rollback(args) => portone::rollback::rollback(&ctx, args).await,
            PortoneCommand::SwitchBack(args) => portone::rollback::switch_back(&ctx, args).await,
        },
        Command::Reserved { command } => reserved::exec(&ctx, command).await,
        Command::Reservations { command } => reservations::exec(&ctx, command).await,
    }
}
