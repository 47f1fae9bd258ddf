//! Why a rollout failed, in ECS's words: the stopped tasks of the revision
//! that did not become stable, with the reason ECS gives for each (the
//! task's `stoppedReason` and every container's exit code and reason).
//! "Amazon ECS stopped task errors" (ECS Developer Guide): stopped tasks are
//! listed for at least an hour after they stop, so this is read at once.

use serde::Serialize;

use crate::error::OpsError;

/// A stopped task of the revision being rolled out.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct StoppedTask {
    pub task: String,
    pub reason: String,
    /// The last lines its app container logged (awslogs), oldest first;
    /// or one line saying why they could not be read.
    pub last_lines: Vec<String>,
}

/// Log lines shown per stopped task.
pub const LAST_LINES: i32 = 10;

/// At most this many are shown: a crash loop stops a task a minute.
pub const SHOWN: usize = 5;

/// The reason of one described task: pure.
pub fn reason_of(task: &aws_sdk_ecs::types::Task) -> String {
    let mut parts = vec![task
        .stopped_reason()
        .unwrap_or("no reason given")
        .to_owned()];
    for c in task.containers() {
        let mut said = Vec::new();
        if let Some(code) = c.exit_code() {
            said.push(format!("exit code {code}"));
        }
        if let Some(r) = c.reason() {
            said.push(r.to_owned());
        }
        if !said.is_empty() {
            parts.push(format!(
                "{}: {}",
                c.name().unwrap_or("container"),
                said.join(", ")
            ));
        }
    }
    parts.join("; ")
}

/// The newest stopped tasks of `service` that ran `task_definition`.
pub async fn stopped_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<Vec<StoppedTask>, OpsError> {
    let listed = ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .map_err(crate::aws::call("ECS ListTasks"))?;
    let arns = listed.task_arns();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    // DescribeTasks takes at most 100 tasks.
    let described = ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns.iter().take(100).cloned().collect()))
        .send()
        .await
        .map_err(crate::aws::call("ECS DescribeTasks"))?;
    let mut tasks: Vec<&aws_sdk_ecs::types::Task> = described
        .tasks()
        .iter()
        .filter(|t| t.task_definition_arn() == Some(task_definition))
        .collect();
    tasks.sort_by_key(|t| std::cmp::Reverse(t.stopped_at().map(|s| s.secs())));
    Ok(tasks
        .into_iter()
        .take(SHOWN)
        .map(|t| StoppedTask {
            task: t
                .task_arn()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or_default()
                .to_owned(),
            reason: reason_of(t),
            last_lines: Vec::new(),
        })
        .collect())
}

/// Where the awslogs driver writes `container`'s log in the task
/// definition `td`: its group and, for task `task_id`, its stream
/// (`<prefix>/<container>/<task id>`: ECS Developer Guide, "Send Amazon ECS
/// logs to CloudWatch", awslogs-stream-prefix). `None` without awslogs.
pub fn log_stream_of(
    td: &aws_sdk_ecs::types::TaskDefinition,
    container: &str,
    task_id: &str,
) -> Option<(String, String)> {
    let def = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(container))?;
    let config = def.log_configuration()?;
    if config.log_driver().as_str() != "awslogs" {
        return None;
    }
    let options = config.options()?;
    let group = options.get("awslogs-group")?;
    let prefix = options.get("awslogs-stream-prefix")?;
    Some((group.clone(), format!("{prefix}/{container}/{task_id}")))
}

/// Fills each task's `last_lines` from its app container's log.
pub async fn add_last_lines(
    logs: &aws_sdk_cloudwatchlogs::Client,
    td: &aws_sdk_ecs::types::TaskDefinition,
    container: &str,
    tasks: &mut [StoppedTask],
) {
    for task in tasks {
        let Some((group, stream)) = log_stream_of(td, container, &task.task) else {
            task.last_lines = vec![format!("(no awslogs configuration for {container})")];
            continue;
        };
        let read = logs
            .get_log_events()
            .log_group_name(&group)
            .log_stream_name(&stream)
            .start_from_head(false)
            .limit(LAST_LINES)
            .send()
            .await;
        task.last_lines = match read {
            // startFromHead=false takes the page from the stream's end
            // ("the latest log events are returned first": CloudWatch Logs
            // API Reference, GetLogEvents); sorted by time here whatever
            // order the page comes in, oldest line first.
            Ok(out) => {
                let mut events = out.events().to_vec();
                events.sort_by_key(|e| e.timestamp());
                events
                    .iter()
                    .filter_map(|e| e.message().map(|m| m.trim_end().to_owned()))
                    .collect()
            }
            Err(e) => vec![format!(
                "(its log {group} {stream} could not be read: {})",
                crate::aws::sdk_error(&e)
            )],
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Container, Task};

    #[test]
    fn the_reason_names_the_task_and_every_container_that_said_why() {
        let task = Task::builder()
            .stopped_reason("Essential container in task exited")
            .containers(
                Container::builder()
                    .name("payment-service")
                    .exit_code(2)
                    .reason("CannotPullContainerError")
                    .build(),
            )
            .containers(Container::builder().name("cloudwatch-agent").build())
            .build();
        assert_eq!(
            reason_of(&task),
            "Essential container in task exited; payment-service: exit code 2, CannotPullContainerError"
        );
        assert_eq!(reason_of(&Task::builder().build()), "no reason given");
    }
}
