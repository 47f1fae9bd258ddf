//! `opsctl`: the runbooks of the ticketing platform as commands.
//!
//! Global flags choose the environment (`--env local|dev|prod`), the AWS
//! region and the output (`--output table` for people, `json` for CI). One
//! module per command group under `commands/`.
//!
//! Exit codes: 0 success, 1 the command ran and found a problem (for
//! `status`: something is down), 2 usage or configuration error, 3 the
//! command could not do its job (a dependency it needs is unreachable), 4
//! another run holds the environment's change lock (nothing was changed).

pub mod args;
pub mod audit;
pub mod aws;
pub mod change;
pub mod cli;
pub mod commands;
pub mod context;
pub mod driver;
pub mod environment;
pub mod error;
pub mod lock;
pub mod ops;
pub mod output;
pub mod runbook;
pub mod table;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;
pub use error::OpsError;

/// Runs opsctl with the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let global = cli.global.clone();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(error::EXIT_FAILED);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // Every command an error names is whole for this environment.
            let complete = |text: &str| context::complete_commands(text, &global);
            eprintln!("error: {}", complete(&e.to_string()));
            if let Some(hint) = e.hint() {
                eprintln!("hint: {}", complete(hint));
            }
            ExitCode::from(error::exit_code(&e))
        }
    }
}

fn init_logging(verbose: bool) {
    let level = if verbose { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPSCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
