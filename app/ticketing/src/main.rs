//! `ticketing`: runs the platform's services.
//!
//! ```text
//! ticketing serve                      # all six in one process (local default)
//! ticketing serve payment-service      # one service, as in an ECS task
//! ticketing migrate                    # apply every schema's migrations and exit
//! ticketing demo                       # a demo booking through the gateway (local)
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
    /// Book two seats through the running platform's gateway and the PortOne
    /// sandbox, and show the reservation CONFIRMED (local profile).
    Demo,
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
        Command::Demo => {
            anyhow::ensure!(
                profile == Profile::Local,
                "the demo pays at the PortOne sandbox; it runs with TICKETING_PROFILE=local only"
            );
            let stack = settings
                .stack
                .as_ref()
                .context("the local profile has no [stack] section")?;
            let sandbox =
                url::Url::parse(&format!("http://127.0.0.1:{}", stack.portone_sandbox_port))?;
            let demo =
                ticketing::demo::Demo::new(settings.services.api_gateway.url.clone(), sandbox)?;
            let booked = demo.run(|step| println!("  - {step}")).await?;
            println!(
                "reservation {} is {} ({} KRW, seats {})",
                booked.reservation_id,
                booked.status,
                booked.amount,
                booked.seats.join(", ")
            );
            anyhow::ensure!(
                booked.status == "CONFIRMED",
                "the demo reservation ended {} instead of CONFIRMED",
                booked.status
            );
            Ok(())
        }
        Command::Serve { services } => {
            let services = if services.is_empty() {
                ServiceName::ALL.to_vec()
            } else {
                services
            };
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
