//! SSM Run Command on an environment's Kafka broker instances (by tag).

use std::time::{Duration, Instant};

use aws_sdk_ssm::types::{CommandStatus, Target};
use ticketing_catalog::aws;

use super::{failed, sdk_config};
use crate::environment::Environment;
use crate::error::OpsError;

/// Runs the restart command on the broker instance(s) through SSM and waits
/// for every invocation to finish; returns the instance ids.
pub async fn restart_broker(ctx: &Environment, deadline: Instant) -> Result<Vec<String>, OpsError> {
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
    ctx: &Environment,
    shell: &str,
    comment: &str,
    deadline: Instant,
) -> Result<Vec<String>, OpsError> {
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(ctx).await?);
    let env = ctx.profile.as_str();
    run_on_brokers_with(&ssm, env, shell, comment, deadline, Duration::from_secs(1))
        .await
        .map(|ran| ran.instances)
}

/// [`run_on_brokers`], then each broker's standard output
/// (GetCommandInvocation: its first 24,000 characters) by instance id.
pub async fn run_on_brokers_for_output(
    ctx: &Environment,
    shell: &str,
    comment: &str,
    deadline: Instant,
) -> Result<Vec<(String, String)>, OpsError> {
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
            .map_err(crate::aws::call("SSM GetCommandInvocation failed"))?;
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

/// Sends `shell` to `env`'s broker instances (by tag), one at a time and
/// stopping at the first failure: the command's id and the instances SSM
/// named at once (none yet for a tag target it still resolves).
async fn send_to_brokers(
    ssm: &aws_sdk_ssm::Client,
    env: &str,
    shell: &str,
    comment: &str,
) -> Result<(String, Vec<String>), OpsError> {
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
        .map_err(crate::aws::call("SSM SendCommand failed"))?;
    let command = sent
        .command()
        .ok_or_else(|| failed("SSM SendCommand", "no command in the answer"))?;
    let command_id = command
        .command_id()
        .ok_or_else(|| failed("SSM SendCommand", "no command id in the answer"))?
        .to_owned();
    Ok((command_id, command.instance_ids().to_vec()))
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
) -> Result<Ran, OpsError> {
    let (_, value) = aws::broker_target(env);
    let (command_id, sent_to) = send_to_brokers(ssm, env, shell, comment).await?;
    loop {
        // ListCommands carries the overall status and counts (moto server
        // implements it; it lacks ListCommandInvocations).
        let listed = ssm
            .list_commands()
            .command_id(&command_id)
            .send()
            .await
            .map_err(crate::aws::call("SSM ListCommands failed"))?;
        let Some(state) = listed.commands().first() else {
            return Err(failed(
                "SSM ListCommands",
                format!("command {command_id} is unknown"),
            ));
        };
        let resolving = matches!(
            state.status(),
            None | Some(CommandStatus::Pending | CommandStatus::InProgress)
        );
        if state.target_count() == 0 && (!resolving || Instant::now() >= deadline) {
            return Err(OpsError::Failed(anyhow::anyhow!(
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
                return Err(OpsError::Failed(anyhow::anyhow!(
                    "SSM command {command_id} (\"{comment}\") {} on {} of {} instance(s); see its output in the SSM console",
                    s.as_str(),
                    state.error_count(),
                    state.target_count()
                )));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(OpsError::Failed(anyhow::anyhow!(
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
