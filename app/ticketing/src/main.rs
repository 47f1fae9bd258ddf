//! `ticketing`: runs the platform's services.
//!
//! ```text
//! ticketing serve                      # all six in one process (local default)
//! ticketing serve payment-service      # one service, as in an ECS task
//! ticketing migrate                    # apply every schema's migrations and exit
//! ticketing topics                     # create the catalog's Kafka topics and exit
//! ticketing demo                       # a demo booking through the gateway (local)
//! ticketing health [--path P --port N] # the container health check (exit 0 when 200)
//! ticketing verify-segments FILE...    # Kafka log segments' CRCs and offsets, as JSON
//! ```
//! The profile comes from `TICKETING_PROFILE` (local, dev, prod).

use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: under the ticket-open spike the
/// services spent a sixth of their CPU in glibc's allocator (`_int_malloc`,
/// `free`, `malloc_consolidate`; `benches/profiles/ticket-open.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ticketing_catalog::ServiceName;
use ticketing_config::{Profile, Secrets, Settings};

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
    /// Create the catalog's Kafka topics that the broker lacks, then exit.
    Topics {
        /// Replication factor of topics created now (1 for one broker, the
        /// 10x plan's 2 on a three-broker cluster).
        #[arg(long, default_value_t = ticketing_catalog::topics::MVP_REPLICATION_FACTOR,
              value_parser = clap::value_parser!(i32).range(1..=5))]
        replication_factor: i32,
    },
    /// Book two seats through the running platform's gateway and the PortOne
    /// sandbox, and show the reservation CONFIRMED (local profile).
    Demo,
    /// The container health check: GET http://127.0.0.1:PORT/PATH, exit 0
    /// on 200 (the image has no curl). Reads no settings and no secrets.
    Health {
        #[arg(long, default_value = ticketing_catalog::http::LIVENESS_PATH)]
        path: String,
        #[arg(long, default_value_t = ticketing_catalog::http::CONTAINER_PORT)]
        port: u16,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Verify Kafka log segment files (record batch v2: CRC-32C, offsets,
    /// torn tails) and print one JSON report per file; exit 0 when all are
    /// clean, 1 when one is corrupt, 2 when one cannot be read. Reads no
    /// settings and no secrets: `opsctl kafka verify-segments --on-broker`
    /// runs it on a broker host from the deployed release's image.
    VerifySegments {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

/// `ticketing verify-segments`: the JSON reports on stdout, the exit code
/// for the caller.
fn verify_segments(files: &[std::path::PathBuf]) -> ExitCode {
    let mut reports = Vec::new();
    for file in files {
        match ticketing_kafka::segments::verify_file(file) {
            Ok(report) => reports.push(report),
            Err(e) => {
                eprintln!("error: {} cannot be read: {e}", file.display());
                return ExitCode::from(2);
            }
        }
    }
    match serde_json::to_string(&reports) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("error: the reports cannot be written as JSON: {e}");
            return ExitCode::from(2);
        }
    }
    if reports.iter().all(|r| r.report.is_clean()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::VerifySegments { files } = &cli.command {
        return verify_segments(files);
    }
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

/// `ticketing health`: one GET on the loopback.
async fn health(path: &str, port: u16, timeout: u64) -> anyhow::Result<()> {
    anyhow::ensure!(path.starts_with('/'), "`--path {path}` must start with `/`");
    let url = format!("http://127.0.0.1:{port}{path}");
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(timeout.max(1)))
        .build()?;
    let answer = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} did not answer"))?;
    anyhow::ensure!(
        answer.status() == reqwest::StatusCode::OK,
        "{url} answered {}",
        answer.status()
    );
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Health {
        path,
        port,
        timeout,
    } = &cli.command
    {
        return health(path, *port, *timeout).await;
    }
    let profile = Profile::from_env()?;
    let settings = ticketing_config::load(profile)?;
    let secrets = Secrets::from_env(profile)?;
    ticketing_telemetry::init_logging(&settings.telemetry)?;
    ticketing_telemetry::init_metrics(&settings.telemetry, profile.as_str())?;

    match cli.command {
        Command::Topics { replication_factor } => topics(&settings, replication_factor).await,
        Command::Migrate => {
            ticketing_platform::migrate_all(&settings, &secrets, &ServiceName::ALL)
                .await
                .context("migrating")?;
            tracing::info!("all schemas migrated");
            Ok(())
        }
        Command::Demo => demo(profile, &settings, &secrets).await,
        // Answered above, before any settings or secrets are read: a
        // health check runs every few seconds and must not depend on them.
        Command::Health { .. } => Ok(()),
        // Answered in main, without a runtime.
        Command::VerifySegments { .. } => Ok(()),
        Command::Serve { services } => serve(settings, secrets, services).await,
    }
}

/// Creates the catalog's topics. A cluster that has just started may not
/// have every broker registered yet (too few brokers for the replication
/// factor): tried for up to 30 s.
async fn topics(settings: &Settings, replication_factor: i32) -> anyhow::Result<()> {
    use ticketing_catalog::topics;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let created = ticketing_kafka::ensure_topics(
            &settings.kafka,
            &topics::ALL,
            topics::MVP_PARTITIONS,
            replication_factor,
        )
        .await;
        match created {
            Ok(created) => {
                tracing::info!(?created, "catalog topics present");
                return Ok(());
            }
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "topics not created yet; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "creating the catalog topics on {}",
                        settings.kafka.bootstrap_servers
                    )
                })
            }
        }
    }
}

/// The README's demo booking, paid at the local PortOne sandbox.
async fn demo(profile: Profile, settings: &Settings, secrets: &Secrets) -> anyhow::Result<()> {
    anyhow::ensure!(
        profile == Profile::Local,
        "the demo pays at the PortOne sandbox; it runs with TICKETING_PROFILE=local only"
    );
    let stack = settings
        .stack
        .as_ref()
        .context("the local profile has no [stack] section")?;
    let sandbox = url::Url::parse(&format!("http://127.0.0.1:{}", stack.portone_sandbox_port))?;
    // The concert's organiser: a token minted with the local signing key
    // (on AWS the role is on an account, granted by an operator with
    // `opsctl users grant-organiser`).
    let organiser = ticketing_http::Authenticator::new(
        ticketing_tokens::Keyring::new(&secrets.jwt_signing_key, &[]),
        settings.booking.jwt_issuer.clone(),
        600,
    )
    .issue_with(
        uuid::Uuid::now_v7(),
        Some(ticketing_tokens::Role::Organiser),
    )
    .0;
    let demo = ticketing_e2e::demo::Demo::new(
        settings.services.api_gateway.url.clone(),
        sandbox,
        organiser,
    )?;
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

/// Serves `services` (all six when none are named) until a signal.
async fn serve(
    settings: Settings,
    secrets: Secrets,
    services: Vec<ServiceName>,
) -> anyhow::Result<()> {
    let services = if services.is_empty() {
        ServiceName::ALL.to_vec()
    } else {
        services
    };
    let platform = ticketing_platform::start(settings, secrets, &services)
        .await
        .context("starting the platform")?;
    for l in &platform.listening {
        println!("{:<20} http://{}", l.service.as_str(), l.addr);
    }
    tokio::spawn(ticketing_http::shutdown_signal(platform.shutdown_token()));
    platform.wait().await.context("serving")?;
    // The last interval's metrics, before the process ends.
    ticketing_telemetry::flush_metrics();
    tracing::info!("all services stopped");
    Ok(())
}
