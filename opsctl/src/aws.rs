//! AWS clients for the chosen environment: its region, and the moto server's
//! endpoint on the local stack (`aws.endpoint_url`, or `AWS_ENDPOINT_URL`).

use std::time::{Duration, Instant};

use aws_sdk_ssm::types::{CommandStatus, Target};
use ticketing_catalog::aws;

use crate::context::Context;
use crate::error::CliError;

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
/// what to check.
pub fn failed(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Failed(anyhow::anyhow!(
        "{what}: {e}; check the AWS credentials and region"
    ))
}

/// The environment's AWS endpoint (`aws.endpoint_url`: moto server
/// locally), if it names one.
pub fn endpoint(ctx: &Context) -> Option<String> {
    ctx.settings
        .aws
        .endpoint_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
}

/// The SDK's configuration loader for `region`, at `endpoint` when one is
/// given, with `credentials` instead of the default chain when given
/// ([`Context::credentials`]): every AWS client opsctl makes starts here.
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

pub async fn sdk_config(ctx: &Context) -> Result<aws_config::SdkConfig, CliError> {
    sdk_config_in(ctx, &ctx.region).await
}

/// The SDK configuration for `region`, with credentials checked up front so
/// that a missing one is a clear usage error before anything is attempted.
pub async fn sdk_config_in(ctx: &Context, region: &str) -> Result<aws_config::SdkConfig, CliError> {
    use aws_credential_types::provider::ProvideCredentials;
    let config = config_loader(endpoint(ctx).as_deref(), region, ctx.credentials.as_ref())
        .load()
        .await;
    let provider = config.credentials_provider().ok_or_else(|| {
        CliError::usage(
            "no AWS credentials provider is configured",
            "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; nothing was changed",
        )
    })?;
    if let Err(e) = provider.provide_credentials().await {
        return Err(CliError::usage(
            format!("no AWS credentials found: {e}"),
            "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or log in with `aws sso login`); nothing was changed",
        ));
    }
    Ok(config)
}

/// The AWS environment (`dev` or `prod`) the chosen profile acts on; the
/// local profile has no ECS cluster or ECR repository.
pub fn aws_env(ctx: &Context) -> Result<&'static str, CliError> {
    match ctx.profile {
        ticketing_config::Profile::Dev => Ok("dev"),
        ticketing_config::Profile::Prod => Ok("prod"),
        _ => Err(CliError::usage(
            "the local stack has no ECS cluster or ECR repository",
            "pass --env prod (or --env dev to rehearse)",
        )),
    }
}

fn aws_error(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Failed(anyhow::anyhow!(
        "{what}: {e}; check the AWS credentials and region (--region) for this environment"
    ))
}

/// Runs the restart command on the broker instance(s) through SSM and waits
/// for every invocation to finish; returns the instance ids.
pub async fn restart_broker(ctx: &Context, deadline: Instant) -> Result<Vec<String>, CliError> {
    run_on_brokers(
        ctx,
        aws::KAFKA_RESTART_COMMAND,
        "opsctl kafka restart",
        deadline,
    )
    .await
}

/// Runs a shell command on this environment's broker instance(s) (tag
/// `KafkaBrokerOf=<env>`: `aws::broker_target`) through SSM Run Command and
/// waits for every invocation to finish; returns the instance ids.
pub async fn run_on_brokers(
    ctx: &Context,
    shell: &str,
    comment: &str,
    deadline: Instant,
) -> Result<Vec<String>, CliError> {
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(ctx).await?);
    let env = ctx.profile.as_str();
    run_on_brokers_with(&ssm, env, shell, comment, deadline, Duration::from_secs(1))
        .await
        .map(|ran| ran.instances)
}

/// [`run_on_brokers`], then each broker's standard output
/// (GetCommandInvocation: its first 24,000 characters) by instance id.
pub async fn run_on_brokers_for_output(
    ctx: &Context,
    shell: &str,
    comment: &str,
    deadline: Instant,
) -> Result<Vec<(String, String)>, CliError> {
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(ctx).await?);
    let env = ctx.profile.as_str();
    let ran =
        run_on_brokers_with(&ssm, env, shell, comment, deadline, Duration::from_secs(1)).await?;
    let mut out = Vec::new();
    for instance in ran.instances {
        let invocation = ssm
            .get_command_invocation()
            .command_id(&ran.command_id)
            .instance_id(&instance)
            .send()
            .await
            .map_err(|e| aws_error("SSM GetCommandInvocation failed", crate::aws::sdk_error(&e)))?;
        out.push((
            instance,
            invocation
                .standard_output_content()
                .unwrap_or_default()
                .to_owned(),
        ));
    }
    Ok(out)
}

/// A command that ran: its id and the instances it ran on.
pub(crate) struct Ran {
    pub command_id: String,
    pub instances: Vec<String>,
}

/// [`run_on_brokers`] with a given client, polling every `poll`.
///
/// One broker at a time, stopping at the first failure (SSM rate controls,
/// `MaxConcurrency` 1 and `MaxErrors` 0: "Run commands at scale", Using rate
/// controls, in the AWS Systems Manager User Guide): a command that waits
/// for its broker to answer (as `KAFKA_RESTART_COMMAND` does) then restarts
/// the brokers one after another, each healthy before the next.
///
/// For tag targets, SSM resolves the instances after it accepts the
/// command: "Pending: the command hasn't been sent to any managed nodes"
/// (Systems Manager User Guide, "Understanding command statuses"), so
/// `TargetCount` can still be 0 while the command is `Pending` or
/// `InProgress`; only a finished command with no target means nobody
/// received it.
pub(crate) async fn run_on_brokers_with(
    ssm: &aws_sdk_ssm::Client,
    env: &str,
    shell: &str,
    comment: &str,
    deadline: Instant,
    poll: Duration,
) -> Result<Ran, CliError> {
    let (key, value) = aws::broker_target(env);
    let target = Target::builder().key(&key).values(&value).build();
    let sent = ssm
        .send_command()
        .document_name(aws::RUN_SHELL_DOCUMENT)
        .targets(target)
        .parameters("commands", vec![shell.to_owned()])
        .comment(comment)
        .max_concurrency("1")
        .max_errors("0")
        .send()
        .await
        .map_err(|e| aws_error("SSM SendCommand failed", crate::aws::sdk_error(&e)))?;
    let command = sent
        .command()
        .ok_or_else(|| aws_error("SSM SendCommand", "no command in the answer"))?;
    let command_id = command
        .command_id()
        .ok_or_else(|| aws_error("SSM SendCommand", "no command id in the answer"))?
        .to_owned();
    let sent_to: Vec<String> = command.instance_ids().to_vec();
    loop {
        // ListCommands carries the overall status and counts (moto server
        // implements it; it lacks ListCommandInvocations).
        let listed = ssm
            .list_commands()
            .command_id(&command_id)
            .send()
            .await
            .map_err(|e| aws_error("SSM ListCommands failed", crate::aws::sdk_error(&e)))?;
        let Some(state) = listed.commands().first() else {
            return Err(aws_error(
                "SSM ListCommands",
                format!("command {command_id} is unknown"),
            ));
        };
        let resolving = matches!(
            state.status(),
            None | Some(CommandStatus::Pending | CommandStatus::InProgress)
        );
        if state.target_count() == 0 && (!resolving || Instant::now() >= deadline) {
            return Err(CliError::Failed(anyhow::anyhow!(
                "no instance tagged {}={value} received SSM command {command_id} (\"{comment}\"); is {env}'s broker instance running, tagged by the kafka stack and managed by SSM?",
                aws::KAFKA_BROKER_OF_TAG_KEY
            )));
        }
        match state.status() {
            Some(CommandStatus::Success) => {
                let instances = invoked_instances(ssm, &command_id).await.unwrap_or(sent_to);
                return Ok(Ran {
                    command_id,
                    instances,
                });
            }
            Some(
                s @ (CommandStatus::Failed | CommandStatus::Cancelled | CommandStatus::TimedOut),
            ) => {
                return Err(CliError::Failed(anyhow::anyhow!(
                    "SSM command {command_id} (\"{comment}\") {} on {} of {} instance(s); see its output in the SSM console",
                    s.as_str(),
                    state.error_count(),
                    state.target_count()
                )));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failed(anyhow::anyhow!(
                "SSM command {command_id} (\"{comment}\") did not finish in time ({} of {} done)",
                state.completed_count(),
                state.target_count()
            )));
        }
        tokio::time::sleep(poll).await;
    }
}

/// The instances a command ran on; `None` where the API is missing (moto).
async fn invoked_instances(ssm: &aws_sdk_ssm::Client, command_id: &str) -> Option<Vec<String>> {
    let answer = ssm
        .list_command_invocations()
        .command_id(command_id)
        .send()
        .await
        .ok()?;
    Some(
        answer
            .command_invocations()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::operation::list_commands::ListCommandsOutput;
    use aws_sdk_ssm::operation::send_command::SendCommandOutput;
    use aws_sdk_ssm::types::Command;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn state(status: CommandStatus, targets: i32, completed: i32) -> ListCommandsOutput {
        ListCommandsOutput::builder()
            .commands(
                Command::builder()
                    .command_id("c-1")
                    .status(status)
                    .target_count(targets)
                    .completed_count(completed)
                    .build(),
            )
            .build()
    }

    /// A stand-in for SSM (moto answers a tag-targeted command with its
    /// targets already counted, so this case cannot be produced there):
    /// the command is sent one broker at a time, and a target count of 0
    /// while the command is pending is waited out.
    #[tokio::test]
    async fn a_pending_command_with_no_targets_yet_is_waited_for_and_runs_one_broker_at_a_time() {
        let send = mock!(aws_sdk_ssm::Client::send_command)
            .match_requests(|r| r.max_concurrency() == Some("1") && r.max_errors() == Some("0"))
            .then_output(|| {
                SendCommandOutput::builder()
                    .command(Command::builder().command_id("c-1").build())
                    .build()
            });
        let listed = mock!(aws_sdk_ssm::Client::list_commands)
            .sequence()
            .output(|| state(CommandStatus::Pending, 0, 0))
            .output(|| state(CommandStatus::InProgress, 3, 1))
            .output(|| state(CommandStatus::Success, 3, 3))
            .build();
        let invocations = mock!(aws_sdk_ssm::Client::list_command_invocations).then_error(|| {
            aws_sdk_ssm::operation::list_command_invocations::ListCommandInvocationsError::unhandled("not in the stand-in")
        });
        let ssm = mock_client!(
            aws_sdk_ssm,
            RuleMode::MatchAny,
            [&send, &listed, &invocations]
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let done = run_on_brokers_with(
            &ssm,
            "dev",
            "true",
            "test",
            deadline,
            Duration::from_millis(1),
        )
        .await;
        assert!(done.is_ok(), "{:?}", done.err().map(|e| e.to_string()));
        assert_eq!(done.map(|r| r.command_id).ok().as_deref(), Some("c-1"));
        assert_eq!(
            send.num_calls(),
            1,
            "sent with one broker at a time and no error allowed"
        );
        assert_eq!(listed.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_finished_command_that_reached_nobody_is_an_error() {
        let send = mock!(aws_sdk_ssm::Client::send_command).then_output(|| {
            SendCommandOutput::builder()
                .command(Command::builder().command_id("c-2").build())
                .build()
        });
        let listed = mock!(aws_sdk_ssm::Client::list_commands)
            .then_output(|| state(CommandStatus::Success, 0, 0));
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&send, &listed]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let Err(err) = run_on_brokers_with(
            &ssm,
            "dev",
            "true",
            "test",
            deadline,
            Duration::from_millis(1),
        )
        .await
        else {
            panic!("nobody received it");
        };
        assert!(err.to_string().contains("no instance tagged"), "{err}");
    }
}
