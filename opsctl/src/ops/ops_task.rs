//! The ops task: opsctl inside the VPC. A data-plane command run with
//! `--env dev|prod` from outside (a laptop, CI) starts the environment's
//! ops task definition (`ticketing-ops-<env>`, infra/templates/compute.yaml)
//! with the same arguments: RunTask on Fargate in the services' subnets
//! with the ops security group (the network layer's exports), the command
//! as a container override. Its output comes back through the task's
//! awslogs stream (`ops/opsctl/<task id>`), and its exit code through
//! DescribeTasks once it has stopped.
//!
//! AWS: "RunTask" and "DescribeTasks" (Amazon ECS API Reference: the
//! container's `exitCode` and the task's `stoppedReason`); the stream name
//! `prefix-name/container-name/ecs-task-id` (Amazon ECS Developer Guide,
//! "Using the awslogs log driver"); "GetLogEvents" with `startFromHead` and
//! `nextForwardToken` (CloudWatch Logs API Reference).

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, TaskOverride,
};
use serde::Serialize;
use ticketing_catalog::{ecs as names, logs};

use crate::aws::{failed, sdk_error};
use crate::environment::Environment;
use crate::error::OpsError;

/// Set in the ops task (its task definition): opsctl is inside the VPC.
pub fn inside_vpc() -> bool {
    std::env::var(names::OPS_IN_VPC_VAR).is_ok_and(|v| v == "1")
}

/// Where the task runs: the network layer's exports.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub subnets: Vec<String>,
    pub security_group: String,
}

/// The names of the two exports [`Placement`] is read from.
pub fn placement_exports(env: &str) -> (String, String) {
    (
        format!("ticketing-{env}-public-subnets"),
        format!("ticketing-{env}-ops-sg"),
    )
}

/// How a stopped task ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    /// The opsctl container's exit code; none when it never ran (the image
    /// could not be pulled, a secret could not be read).
    pub exit_code: Option<i32>,
    pub reason: String,
}

/// A started ops task.
pub struct OpsTask {
    ecs: aws_sdk_ecs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    cluster: String,
    pub task_arn: String,
    pub task_id: String,
    pub log_group: String,
    pub log_stream: String,
    token: Option<String>,
}

async fn placement(sdk: &aws_config::SdkConfig, env: &str) -> Result<Placement, OpsError> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let (subnets_name, sg_name) = placement_exports(env);
    let mut subnets = None;
    let mut security_group = None;
    let mut pages = cfn.list_exports().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(crate::aws::call("reading the network layer's exports"))?;
        for export in page.exports() {
            let value = export.value().unwrap_or_default().to_owned();
            match export.name() {
                Some(n) if n == subnets_name => subnets = Some(value),
                Some(n) if n == sg_name => security_group = Some(value),
                _ => {}
            }
        }
    }
    let missing = |name: &str| {
        OpsError::usage(
            format!("the network layer of {env} exports no {name}, which the ops task needs"),
            format!("deploy the network layer first: opsctl --env {env} infra deploy --execute"),
        )
    };
    let subnets = subnets.ok_or_else(|| missing(&subnets_name))?;
    Ok(Placement {
        subnets: subnets.split(',').map(str::to_owned).collect(),
        security_group: security_group.ok_or_else(|| missing(&sg_name))?,
    })
}

/// Who starts the task: the caller's AWS identity (STS GetCallerIdentity,
/// which needs no permission) and the local user name.
pub async fn requester(ctx: &Environment) -> Result<String, OpsError> {
    let sdk = crate::aws::sdk_config(ctx).await?;
    let who = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(crate::aws::call("STS GetCallerIdentity"))?;
    Ok(format!(
        "{} ({})",
        who.arn().unwrap_or("unknown"),
        crate::audit::local_user()
    ))
}

/// Starts the environment's ops task running opsctl with `args` (the
/// arguments after `opsctl`) and `environment` (opsctl's own settings:
/// output format, lock wait).
pub async fn start(
    ctx: &Environment,
    env: &str,
    args: &[String],
    environment: &[(String, String)],
) -> Result<OpsTask, OpsError> {
    let sdk = crate::aws::sdk_config(ctx).await?;
    let placement = placement(&sdk, env).await?;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let cluster = names::cluster(env);
    let family = names::ops_family(env);
    let container = ContainerOverride::builder()
        .name(names::OPS_CONTAINER)
        .set_command(Some(args.to_vec()))
        .set_environment(Some(
            environment
                .iter()
                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                .collect(),
        ))
        .build();
    let network = AwsVpcConfiguration::builder()
        .set_subnets(Some(placement.subnets))
        .security_groups(placement.security_group)
        // Public subnets without a NAT gateway, as the services: the
        // image pull, the secrets and the log stream go out this way.
        .assign_public_ip(AssignPublicIp::Enabled)
        .build()
        .map_err(|e| OpsError::Failed(e.into()))?;
    let run = ecs
        .run_task()
        .cluster(&cluster)
        .task_definition(&family)
        .launch_type(LaunchType::Fargate)
        .count(1)
        .started_by("opsctl")
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(network)
                .build(),
        )
        .overrides(TaskOverride::builder().container_overrides(container).build())
        .send()
        .await
        .map_err(|e| {
            OpsError::Failed(anyhow::anyhow!(
                "starting the ops task ({family} in cluster {cluster}): {}; is the compute layer of {env} deployed? (opsctl --env {env} infra plan)",
                sdk_error(&e)
            ))
        })?;
    if let Some(f) = run.failures().first() {
        return Err(OpsError::Failed(anyhow::anyhow!(
            "ECS did not start the ops task ({family}): {} {}",
            f.reason().unwrap_or("no reason given"),
            f.detail().unwrap_or_default()
        )));
    }
    let task_arn = run
        .tasks()
        .first()
        .and_then(|t| t.task_arn())
        .ok_or_else(|| OpsError::Failed(anyhow::anyhow!("ECS started no ops task ({family})")))?
        .to_owned();
    let task_id = task_arn.rsplit('/').next().unwrap_or(&task_arn).to_owned();
    Ok(OpsTask {
        logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
        ecs,
        cluster,
        log_group: logs::ops_group(env),
        log_stream: format!(
            "{}/{}/{task_id}",
            names::OPS_STREAM_PREFIX,
            names::OPS_CONTAINER
        ),
        task_arn,
        task_id,
        token: None,
    })
}

impl OpsTask {
    /// The task's output written since the last call, a line per event
    /// (none yet while the stream does not exist).
    pub async fn lines(&mut self) -> Result<Vec<String>, OpsError> {
        let mut out = Vec::new();
        loop {
            let answer = self
                .logs
                .get_log_events()
                .log_group_name(&self.log_group)
                .log_stream_name(&self.log_stream)
                .start_from_head(true)
                .set_next_token(self.token.clone())
                .send()
                .await;
            let page = match answer {
                Ok(page) => page,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Ok(out)
                }
                Err(e) => {
                    return Err(failed(
                        &format!("reading the ops task's log {}", self.log_stream),
                        sdk_error(&e),
                    ))
                }
            };
            let events = page.events();
            out.extend(events.iter().filter_map(|e| e.message().map(str::to_owned)));
            let next = page.next_forward_token().map(str::to_owned);
            let same = next.is_none() || next == self.token;
            self.token = next.or(self.token.take());
            if same || events.is_empty() {
                return Ok(out);
            }
        }
    }

    /// How the task ended, once it has stopped.
    pub async fn ended(&self) -> Result<Option<Ended>, OpsError> {
        let answer = self
            .ecs
            .describe_tasks()
            .cluster(&self.cluster)
            .tasks(&self.task_arn)
            .send()
            .await
            .map_err(crate::aws::call("reading the ops task's state"))?;
        let Some(task) = answer.tasks().first() else {
            return Ok(None);
        };
        if task.last_status() != Some("STOPPED") {
            return Ok(None);
        }
        let container = task
            .containers()
            .iter()
            .find(|c| c.name() == Some(names::OPS_CONTAINER));
        Ok(Some(Ended {
            exit_code: container.and_then(|c| c.exit_code()),
            reason: container
                .and_then(|c| c.reason())
                .or(task.stopped_reason())
                .unwrap_or_default()
                .to_owned(),
        }))
    }

    /// Stops the task (the operator interrupted the run).
    pub async fn stop(&self, reason: &str) -> Result<(), OpsError> {
        self.ecs
            .stop_task()
            .cluster(&self.cluster)
            .task(&self.task_arn)
            .reason(reason)
            .send()
            .await
            .map_err(crate::aws::call("stopping the ops task"))?;
        Ok(())
    }
}

/// What the ops task runs after a deploy.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct OpsTaskRevision {
    /// The revision `opsctl --env <env>` starts from now on (`None`: the
    /// environment has no ops task yet).
    pub task_definition: Option<String>,
    pub detail: String,
}

/// Gives the ops task the image just deployed: a new revision of
/// `ticketing-ops-<env>` whose opsctl container runs `image`, so the
/// data-plane commands run the same release as the services (RunTask
/// starts the family's latest revision).
pub async fn refresh_ops_task(
    ecs: &aws_sdk_ecs::Client,
    env: &str,
    image: &str,
) -> Result<OpsTaskRevision, String> {
    let family = names::ops_family(env);
    let td = match ecs
        .describe_task_definition()
        .task_definition(&family)
        .send()
        .await
    {
        Ok(out) => out.task_definition().cloned(),
        // ECS answers a family it has never seen with a ClientException.
        Err(e) if crate::aws::sdk_error(&e).contains("ClientException") => None,
        Err(e) => {
            return Err(format!(
                "DescribeTaskDefinition {family}: {}",
                crate::aws::sdk_error(&e)
            ))
        }
    };
    let Some(td) = td else {
        return Ok(OpsTaskRevision {
            task_definition: None,
            detail: format!("{family} is not registered (the compute layer predates the ops task); nothing to update"),
        });
    };
    if crate::ops::ecs::service_image(&td, names::OPS_CONTAINER) == Some(image) {
        return Ok(OpsTaskRevision {
            task_definition: td.task_definition_arn().map(str::to_owned),
            detail: format!("{family} already runs this image"),
        });
    }
    let arn = crate::ops::ecs::register_with_image(ecs, &td, names::OPS_CONTAINER, image).await?;
    Ok(OpsTaskRevision {
        detail: format!(
            "{} now runs the deployed image",
            crate::ops::deploy::short(&arn)
        ),
        task_definition: Some(arn),
    })
}
