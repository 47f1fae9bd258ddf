//! A new revision of a task definition with only the image changed, and
//! moving a service to it with the circuit breaker on.

use aws_sdk_ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration, TaskDefinition};

/// The image of the container named `container` (the templates name each
/// service's one container after the service).
pub fn service_image<'a>(td: &'a TaskDefinition, container: &str) -> Option<&'a str> {
    td.container_definitions()
        .iter()
        .find(|c| c.name() == Some(container))
        .and_then(|c| c.image())
}

/// Registers the next revision of `td`'s family: every setting copied,
/// the image of `container` replaced by `image`. Returns the new ARN.
/// The rollout tag is not copied (the new revision has no rollout yet).
pub async fn register_with_image(
    ecs: &aws_sdk_ecs::Client,
    td: &TaskDefinition,
    container: &str,
    image: &str,
) -> Result<String, String> {
    let mut containers = td.container_definitions().to_vec();
    let Some(ours) = containers.iter_mut().find(|c| c.name() == Some(container)) else {
        return Err(format!(
            "the task definition has no container named {container}"
        ));
    };
    ours.image = Some(image.to_owned());
    let registered = ecs
        .register_task_definition()
        .set_family(td.family().map(str::to_owned))
        .set_task_role_arn(td.task_role_arn().map(str::to_owned))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_owned))
        .set_network_mode(td.network_mode().cloned())
        .set_container_definitions(Some(containers))
        .set_volumes(Some(td.volumes().to_vec()))
        .set_placement_constraints(Some(td.placement_constraints().to_vec()))
        .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
        .set_cpu(td.cpu().map(str::to_owned))
        .set_memory(td.memory().map(str::to_owned))
        .set_pid_mode(td.pid_mode().cloned())
        .set_ipc_mode(td.ipc_mode().cloned())
        .set_proxy_configuration(td.proxy_configuration().cloned())
        .set_ephemeral_storage(td.ephemeral_storage().cloned())
        .set_runtime_platform(td.runtime_platform().cloned())
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error(&e))?;
    registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .map(str::to_owned)
        .ok_or_else(|| "ECS registered the task definition but returned no ARN".to_owned())
}

/// Moves `service` to `task_definition`, keeping its deployment settings
/// and turning the circuit breaker on with rollback (a revision whose tasks
/// never become healthy is rolled back by ECS and reported FAILED). ECS
/// API Reference, "DeploymentCircuitBreaker".
pub async fn update_to(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &aws_sdk_ecs::types::Service,
    task_definition: &str,
) -> Result<(), String> {
    let mut config = service
        .deployment_configuration()
        .cloned()
        .unwrap_or_else(|| DeploymentConfiguration::builder().build());
    config.deployment_circuit_breaker = Some(
        DeploymentCircuitBreaker::builder()
            .enable(true)
            .rollback(true)
            .build(),
    );
    ecs.update_service()
        .cluster(cluster)
        .service(service.service_name().unwrap_or_default())
        .task_definition(task_definition)
        .deployment_configuration(config)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| crate::aws::sdk_error(&e))
}
