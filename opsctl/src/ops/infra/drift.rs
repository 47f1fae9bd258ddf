//! Drift between the compute stack and what runs: `opsctl deploy` and
//! `opsctl portone rollback` move services to revisions the stack did not
//! make. A compute deploy that replaces a service's task definition moves
//! the service back to the stack's revision (its `ImageUri`); the plan says
//! so for each service instead of undoing a deploy or a rollback silently.

use serde::Serialize;
use ticketing_catalog::ecs::{self as names, EcsService};
use ticketing_catalog::ServiceName;

use super::Change;
use crate::error::OpsError;

/// One service that does not run the revision the stack names.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Drift {
    pub service: EcsService,
    /// The revision running now (`family:revision`).
    pub running: String,
    /// The revision the stack made.
    pub stack: String,
    /// Whether this change set replaces the task definition, and so moves
    /// the service back to the stack's.
    pub undone_by_this_change: bool,
}

fn family_of(arn: &str) -> Option<&str> {
    arn.rsplit('/').next()?.rsplit_once(':').map(|(f, _)| f)
}

fn short(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_owned()
}

/// Pure: `stack` holds (logical id, ARN) of the stack's task definitions,
/// `running` each service's running task definition ARN.
pub fn drift(
    env: &str,
    stack: &[(String, String)],
    running: &[(EcsService, String)],
    changes: &[Change],
) -> Vec<Drift> {
    let mut out = Vec::new();
    for (service, now) in running {
        let family = service.family(env);
        let Some((logical, made)) = stack
            .iter()
            .find(|(_, arn)| family_of(arn) == Some(family.as_str()))
        else {
            continue;
        };
        if made == now {
            continue;
        }
        out.push(Drift {
            service: *service,
            running: short(now),
            stack: short(made),
            undone_by_this_change: changes.iter().any(|c| &c.logical_id == logical),
        });
    }
    out
}

/// Reads the stack's task definitions and the services' running ones.
pub async fn compute_drift(
    sdk: &aws_config::SdkConfig,
    env: &str,
    stack_name: &str,
    changes: &[Change],
) -> Result<Vec<Drift>, OpsError> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let mut stack = Vec::new();
    let mut token = None;
    loop {
        let page = cfn
            .list_stack_resources()
            .stack_name(stack_name)
            .set_next_token(token)
            .send()
            .await
            .map_err(crate::aws::call("CloudFormation ListStackResources failed"))?;
        for r in page.stack_resource_summaries() {
            if r.resource_type() == Some("AWS::ECS::TaskDefinition") {
                if let (Some(l), Some(p)) = (r.logical_resource_id(), r.physical_resource_id()) {
                    stack.push((l.to_owned(), p.to_owned()));
                }
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let cluster = names::cluster(env);
    // Both layouts' services: whichever the stack runs.
    let all: Vec<EcsService> = ServiceName::ALL
        .into_iter()
        .map(EcsService::Own)
        .chain([EcsService::Combined])
        .collect();
    let names: Vec<&str> = all.iter().map(|s| s.name()).collect();
    let described = crate::ops::ecs::describe_all(&ecs, &cluster, &names).await?;
    let running: Vec<(EcsService, String)> = described
        .iter()
        .filter_map(|s| {
            let service = *all.iter().find(|e| Some(e.name()) == s.service_name())?;
            Some((service, s.task_definition()?.to_owned()))
        })
        .collect();
    Ok(drift(env, &stack, &running, changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(family_rev: &str) -> String {
        format!("arn:aws:ecs:ap-northeast-2:1:task-definition/{family_rev}")
    }

    #[test]
    fn a_deployed_or_rolled_back_service_is_drift_and_a_replacement_would_undo_it() {
        let stack = vec![
            (
                "PaymentServiceTaskDefinition".to_owned(),
                arn("payment-service-prod:2"),
            ),
            (
                "EventServiceTaskDefinition".to_owned(),
                arn("event-service-prod:5"),
            ),
        ];
        let running = vec![
            (
                EcsService::Own(ServiceName::PaymentService),
                arn("payment-service-prod:4"),
            ),
            (
                EcsService::Own(ServiceName::EventService),
                arn("event-service-prod:5"),
            ),
        ];
        let none = drift("prod", &stack, &running, &[]);
        assert_eq!(
            none,
            vec![Drift {
                service: EcsService::Own(ServiceName::PaymentService),
                running: "payment-service-prod:4".into(),
                stack: "payment-service-prod:2".into(),
                undone_by_this_change: false,
            }]
        );
        let replacing = [Change {
            action: "Modify".into(),
            logical_id: "PaymentServiceTaskDefinition".into(),
            resource_type: "AWS::ECS::TaskDefinition".into(),
            replacement: "True".into(),
        }];
        assert!(drift("prod", &stack, &running, &replacing)[0].undone_by_this_change);
    }
}
