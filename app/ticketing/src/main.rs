//! `ticketing`: runs the platform's services.
//!
//! ```text
//! ticketing serve                      # all six in one process (local default)
//! ticketing serve payment-service      # one service, as in an ECS task
//! ticketing migrate                    # apply every schema's migrations and exit
//! ```
//! The profile comes from `TICKETING_PROFILE` (local, dev, prod).

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ticketing_catalog::ServiceName;
use ticketing_config::{Profile, Secrets};

#[derive(Parser, Debug)]
#[command(
    name = "ticketing",
    version,
    about = "Runs the ticketing platform's services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the named services (all six when none is named) until SIGTERM.
    Serve {
        /// Services to run: api-gateway, user-service, event-service,
        /// queue-service, reservation-service, payment-service.
        services: Vec<ServiceName>,
    },
    /// Apply the migrations of every service's schema, then exit.
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "ticketing stopped");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let profile = Profile::from_env()?;
    let settings = ticketing_config::load(profile)?;
    let secrets = Secrets::from_env(profile)?;
    ticketing_telemetry::init_logging(&settings.telemetry)?;
    let _ = ticketing_telemetry::metrics_handle();

    match cli.command {
        Command::Migrate => {
            ticketing::migrate_all(&settings, &secrets, &ServiceName::ALL)
                .await
                .context("migrating")?;
            tracing::info!("all schemas migrated");
            Ok(())
        }
        Command::Serve { services } => {
            let services = if services.is_empty() {
                ServiceName::ALL.to_vec()
            } else {
                services
            };
            if settings.portone.mode == ticketing_config::PortOneMode::Production
                && services.contains(&ServiceName::PaymentService)
            {
                tracing::warn!(
                    "PortOne PRODUCTION MODE ENABLED - real payments will be processed (imp_code {})",
                    settings.portone.imp_code
                );
            }
            let platform = ticketing::start(settings, secrets, &services)
                .await
                .context("starting the platform")?;
            for l in &platform.listening {
                println!("{:<20} http://{}", l.service.as_str(), l.addr);
            }
            tokio::spawn(ticketing_http::shutdown_signal(platform.shutdown_token()));
            platform.wait().await.context("serving")?;
            tracing::info!("all services stopped");
            Ok(())
        }
    }
}
