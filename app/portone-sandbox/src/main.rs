//! `portone-sandbox`: the PortOne V1 stand-in of the local stack.
//!
//! Port, credentials and the default webhook target come from the same
//! settings the services read (`[stack] portone_sandbox_port`,
//! `PORTONE_API_KEY`/`PORTONE_API_SECRET`, the gateway's URL), so the payment
//! service and the sandbox agree without further wiring.

use anyhow::Context;
use clap::Parser;
use secrecy::ExposeSecret;
use ticketing_config::{Profile, Secrets};

#[derive(Debug, Parser)]
#[command(version, about = "PortOne V1 sandbox for the local stack and tests")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (default: `[stack] portone_sandbox_port` of the profile).
    #[arg(long)]
    port: Option<u16>,
    /// Where webhooks go when a checkout names no `notice_url`
    /// (default: the gateway's `/webhooks/portone`).
    #[arg(long)]
    webhook_url: Option<url::Url>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let profile = Profile::from_env()?;
    anyhow::ensure!(
        profile == Profile::Local,
        "the PortOne sandbox is for the local profile only (TICKETING_PROFILE={profile})"
    );
    let settings = ticketing_config::load(profile)?;
    ticketing_telemetry::init_logging(&settings.telemetry)?;
    let secrets = Secrets::from_env(profile)?;
    let webhook = match args.webhook_url {
        Some(url) => url,
        None => settings
            .services
            .api_gateway
            .url
            .join("/webhooks/portone")
            .context("the gateway URL cannot take a path")?,
    };
    let (key, secret) = secrets.portone_keys()?;
    let mut config =
        portone_sandbox::SandboxConfig::new(key.expose_secret(), secret.expose_secret());
    config.webhook_url = Some(webhook.clone());
    let port = match (args.port, &settings.stack) {
        (Some(port), _) => port,
        (None, Some(stack)) => stack.portone_sandbox_port,
        (None, None) => anyhow::bail!("no --port given and the profile has no [stack] section"),
    };
    let running = portone_sandbox::start(&args.host, port, config)
        .await
        .with_context(|| format!("cannot listen on {}:{port}", args.host))?;
    tracing::info!(url = %running.url, webhook = %webhook, "PortOne sandbox listening (test mode only)");
    // SIGTERM (how the stack script stops it) ends the process outright;
    // Ctrl-C stops the server gracefully.
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(())
}
