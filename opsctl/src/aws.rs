//! AWS clients for the chosen environment: its region, and the moto server's
//! endpoint on the local stack (`aws.endpoint_url`, or `AWS_ENDPOINT_URL`).

use crate::environment::Environment;
use crate::error::OpsError;

/// One line for an AWS SDK error: the service's message and code when it
/// answered ("No export named ticketing-prod-vpc found. (ValidationError)"),
/// the chain of causes when it did not (a refused connection, a timeout).
/// Never the raw response, which `DisplayErrorContext` would print whole.
pub fn sdk_error<E>(e: &E) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{message} ({code})"),
        (Some(code), None) => code.to_owned(),
        _ => {
            let mut line = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                let text = cause.to_string();
                if !line.contains(&text) {
                    line.push_str(": ");
                    line.push_str(&text);
                }
                source = cause.source();
            }
            line
        }
    }
}

/// An AWS call that failed: what was being done, the SDK's error, and
/// what to check. Every AWS error opsctl reports goes through here (with
/// [`sdk_error`] for the SDK's own).
pub fn failed(what: &str, e: impl std::fmt::Display) -> OpsError {
    OpsError::Failed(anyhow::anyhow!(
        "{what}: {e}; check the AWS credentials and region (--region) for this environment"
    ))
}

/// The error of the AWS call `what` ("RDS DescribeReservedDBInstances
/// failed"), as [`failed`] words it: `.map_err(aws::call(what))`.
pub fn call<E>(what: &'static str) -> impl FnOnce(E) -> OpsError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error,
{
    move |e| failed(what, sdk_error(&e))
}

/// The environment's AWS endpoint (`aws.endpoint_url`: moto server
/// locally), if it names one.
pub fn endpoint(ctx: &Environment) -> Option<String> {
    ctx.settings
        .aws
        .endpoint_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
}

/// The SDK's configuration loader for `region`, at `endpoint` when one is
/// given, with `credentials` instead of the default chain when given
/// ([`Environment::credentials`]): every AWS client opsctl makes starts here.
pub fn config_loader(
    endpoint: Option<&str>,
    region: &str,
    credentials: Option<&aws_credential_types::Credentials>,
) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()));
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials.clone());
    }
    loader
}

pub async fn sdk_config(ctx: &Environment) -> Result<aws_config::SdkConfig, OpsError> {
    sdk_config_in(ctx, &ctx.region).await
}

/// The SDK configuration for `region`, with credentials checked up front so
/// that a missing one is a clear usage error before anything is attempted.
pub async fn sdk_config_in(
    ctx: &Environment,
    region: &str,
) -> Result<aws_config::SdkConfig, OpsError> {
    use aws_credential_types::provider::ProvideCredentials;
    let config = config_loader(endpoint(ctx).as_deref(), region, ctx.credentials.as_ref())
        .load()
        .await;
    let provider = config.credentials_provider().ok_or_else(|| {
        OpsError::usage(
            "no AWS credentials provider is configured",
            "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; nothing was changed",
        )
    })?;
    if let Err(e) = provider.provide_credentials().await {
        return Err(OpsError::usage(
            format!("no AWS credentials found: {e}"),
            "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or log in with `aws sso login`); nothing was changed",
        ));
    }
    Ok(config)
}

/// The AWS environment (`dev` or `prod`) the chosen profile acts on; the
/// local profile has no ECS cluster or ECR repository.
pub fn aws_env(ctx: &Environment) -> Result<&'static str, OpsError> {
    match ctx.profile {
        ticketing_config::Profile::Dev => Ok("dev"),
        ticketing_config::Profile::Prod => Ok("prod"),
        _ => Err(OpsError::usage(
            "the local stack has no ECS cluster or ECR repository",
            "pass --env prod (or --env dev to rehearse)",
        )),
    }
}

mod ssm;
pub use ssm::{restart_broker, run_on_brokers, run_on_brokers_for_output};
