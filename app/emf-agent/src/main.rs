//! `emf-agent [--port P]`: listens on 127.0.0.1 (default: the local
//! profile's `stack.emf_agent_port`) and forwards to the local profile's
//! AWS endpoint (moto) in its region. Started by `infra/local/stack.sh`.

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(about = "The local stand-in for the CloudWatch agent's EMF listener")]
struct Args {
    /// The port to listen on (default: stack.emf_agent_port).
    #[arg(long)]
    port: Option<u16>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = ticketing_config::load(ticketing_config::Profile::Local)?;
    ticketing_telemetry::init_logging(&settings.telemetry)?;
    let port = match args.port {
        Some(p) => p,
        None => {
            settings
                .stack
                .as_ref()
                .context("the local profile has no [stack] section")?
                .emf_agent_port
        }
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(settings.aws.region.clone()));
    if let Some(url) = &settings.aws.endpoint_url {
        loader = loader.endpoint_url(url.as_str().trim_end_matches('/'));
    }
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        // moto accepts any credentials; the local stack has none.
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            "local",
            "local",
            None,
            None,
            "emf-agent",
        ));
    }
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&loader.load().await);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    tracing::info!(port, region = %settings.aws.region, "EMF agent listening");
    emf_agent::serve(listener, cloudwatch, None).await;
    Ok(())
}
