//! Whether a service has settled on a revision, and waiting until it has.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::DeploymentRolloutState;
use serde::Serialize;

/// Whether a described service has settled on `target`: `Ok(true)` stable,
/// `Ok(false)` still moving, `Err` when the rollout of `target` failed (a
/// circuit breaker rolling back counts as failure). Only the deployment of
/// `target` is judged: an older deployment that failed and is still listed
/// does not fail this one, but one still running tasks means not yet.
pub fn settled(service: &aws_sdk_ecs::types::Service, target: &str) -> Result<bool, String> {
    let deployments = service.deployments();
    let ours = |d: &&aws_sdk_ecs::types::Deployment| d.task_definition() == Some(target);
    if let Some(failed) = deployments
        .iter()
        .filter(ours)
        .find(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed))
    {
        return Err(format!(
            "the deployment failed: {}",
            failed.rollout_state_reason().unwrap_or("no reason given")
        ));
    }
    let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
    if let Some(p) = primary {
        if p.task_definition().is_some_and(|td| td != target)
            && service.task_definition() != Some(target)
        {
            return Err(format!(
                "the service went to {} instead of {target} (a circuit-breaker rollback?)",
                p.task_definition().unwrap_or_default()
            ));
        }
    }
    let others_drained = deployments
        .iter()
        .filter(|d| d.status() != Some("PRIMARY"))
        .all(|d| d.running_count() == 0);
    Ok(service.task_definition() == Some(target)
        && others_drained
        && primary.is_some_and(|p| p.rollout_state() != Some(&DeploymentRolloutState::InProgress))
        && service.running_count() == service.desired_count())
}

/// What one look at a service found while waiting for it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Poll {
    pub running: i32,
    pub desired: i32,
    pub pending: i32,
    /// The rollout state of the target's deployment, when ECS lists one.
    pub rollout: Option<String>,
    pub elapsed_seconds: u64,
}

fn poll_of(service: &aws_sdk_ecs::types::Service, target: &str, started: Instant) -> Poll {
    Poll {
        running: service.running_count(),
        desired: service.desired_count(),
        pending: service.pending_count(),
        rollout: service
            .deployments()
            .iter()
            .find(|d| d.task_definition() == Some(target))
            .and_then(|d| d.rollout_state())
            .map(|s| s.as_str().to_owned()),
        elapsed_seconds: started.elapsed().as_secs(),
    }
}

/// Polls `service` every few seconds until it has settled on `target`
/// (`Ok` with a summary), its rollout failed, or `timeout` passed (`Err`
/// with the reason). `on_poll` sees every look (progress for people, JSON
/// lines for CI).
pub async fn wait_stable(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service_name: &str,
    target: &str,
    timeout: Duration,
    mut on_poll: impl FnMut(&Poll),
) -> Result<String, String> {
    const EVERY: Duration = Duration::from_secs(5);
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        let service = super::describe(ecs, cluster, service_name)
            .await
            .map_err(|e| e.to_string())?;
        on_poll(&poll_of(&service, target, started));
        match settled(&service, target) {
            Ok(true) => {
                return Ok(format!(
                    "{} of {} task(s) running on {}",
                    service.running_count(),
                    service.desired_count(),
                    target.rsplit('/').next().unwrap_or(target)
                ))
            }
            Ok(false) => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(format!(
                "not stable after {}s ({} of {} running)",
                timeout.as_secs(),
                service.running_count(),
                service.desired_count()
            ));
        }
        tokio::time::sleep(EVERY.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::DeploymentRolloutState;

    #[test]
    fn a_circuit_breaker_rollback_is_a_failure_and_progress_is_not_stable() {
        use aws_sdk_ecs::types::{Deployment, Service};
        let target = "arn:td/payment-service-prod:10";
        let deployment = |td: &str, state: DeploymentRolloutState| {
            Deployment::builder()
                .status("PRIMARY")
                .task_definition(td)
                .rollout_state(state)
                .build()
        };
        let service = |td: &str, d: Vec<Deployment>, running: i32| {
            Service::builder()
                .task_definition(td)
                .set_deployments(Some(d))
                .desired_count(2)
                .running_count(running)
                .build()
        };
        let stable = service(
            target,
            vec![deployment(target, DeploymentRolloutState::Completed)],
            2,
        );
        assert_eq!(settled(&stable, target), Ok(true));
        let moving = service(
            target,
            vec![deployment(target, DeploymentRolloutState::InProgress)],
            1,
        );
        assert_eq!(settled(&moving, target), Ok(false));
        let failed = service(
            target,
            vec![deployment(target, DeploymentRolloutState::Failed)],
            0,
        );
        assert!(settled(&failed, target).is_err());
        let reverted = service(
            "arn:td/payment-service-prod:13",
            vec![deployment(
                "arn:td/payment-service-prod:13",
                DeploymentRolloutState::Completed,
            )],
            2,
        );
        assert!(settled(&reverted, target).is_err());

        // An older deployment that failed before and is still listed does
        // not fail this one; one still running tasks means not yet.
        let older = |running: i32| {
            Deployment::builder()
                .status("ACTIVE")
                .task_definition("arn:td/payment-service-prod:9")
                .rollout_state(DeploymentRolloutState::Failed)
                .running_count(running)
                .build()
        };
        let with_old_failure = service(
            target,
            vec![
                deployment(target, DeploymentRolloutState::Completed),
                older(0),
            ],
            2,
        );
        assert_eq!(settled(&with_old_failure, target), Ok(true));
        let draining = service(
            target,
            vec![
                deployment(target, DeploymentRolloutState::Completed),
                older(1),
            ],
            2,
        );
        assert_eq!(settled(&draining, target), Ok(false));
    }
}
