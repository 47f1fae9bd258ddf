//! `opsctl deploy`: the pure plan (which services, in which order, from
//! which revision) and the rollout of one service to a new image: register
//! the next revision with only the image changed, update the service with
//! the circuit breaker on, wait until it is stable, and tag the revision
//! `ticketing:rollout=COMPLETED` or `FAILED`.

mod observe;
pub mod runbook;
pub use observe::{observe, valid_tag, Deployment, Request};

use std::time::Duration;

use serde::Serialize;
use ticketing_catalog::ecs::{self as names, EcsService};
use ticketing_catalog::footprint::ComputeLayout;
use ticketing_catalog::ServiceName;

use crate::error::OpsError;
use crate::ops::ecs::{
    add_last_lines, describe, register_with_image, service_image, stopped_tasks, tag,
    task_definition, update_to, wait_stable, Poll, StoppedTask,
};
use crate::ops::image::Source;

/// What was found running for one ECS service.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Found {
    pub service: EcsService,
    /// The running task definition's ARN.
    pub task_definition: String,
    /// The image of the service's container in it.
    pub image: Option<String>,
}

/// One ECS service to move to the new image.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Step {
    pub service: EcsService,
    /// The platform's services it runs (all six in the combined layout).
    pub serves: Vec<ServiceName>,
    pub from: String,
    pub from_image: String,
}

/// The whole deploy, as printed and audited before anything changes.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Plan {
    pub env: String,
    pub cluster: String,
    pub source: Source,
    /// Where the image goes: `<registry>/<repository>:<tag>`.
    pub destination: String,
    pub timeout_seconds: u64,
    pub services: Vec<Step>,
}

/// The ECS services to deploy in the order they go, in `layout`:
/// split, `requested` (every service when empty) in the catalog's deploy
/// order, the payment service last, each once; combined, the one task
/// that runs them all, whichever are requested.
pub fn order(requested: &[ServiceName], layout: ComputeLayout) -> Vec<EcsService> {
    EcsService::of_layout(layout)
        .into_iter()
        .filter(|s| requested.is_empty() || s.serves().iter().any(|x| requested.contains(x)))
        .collect()
}

/// The steps, pure: one per service in `order`, from what was `found`. A
/// service whose task definition has no container named after it cannot
/// be deployed by image (the templates always name it so).
pub fn steps(order: &[EcsService], found: &[Found]) -> Result<Vec<Step>, String> {
    order
        .iter()
        .map(|service| {
            let f = found
                .iter()
                .find(|f| f.service == *service)
                .ok_or_else(|| format!("{service} was not found on the cluster"))?;
            let image = f.image.clone().ok_or_else(|| {
                format!(
                    "{service}'s task definition {} has no container named {service}",
                    short(&f.task_definition)
                )
            })?;
            Ok(Step {
                service: *service,
                serves: service.serves(),
                from: f.task_definition.clone(),
                from_image: image,
            })
        })
        .collect()
}

/// `family:revision` from a task definition ARN.
pub fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What a rollout reports as it goes (JSON lines for CI, a progress line
/// for people).
#[derive(Serialize, Debug, Clone)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Pushed {
        image: String,
    },
    Registered {
        service: EcsService,
        task_definition: String,
    },
    Waiting {
        service: EcsService,
        #[serde(flatten)]
        poll: Poll,
    },
    Finished {
        #[serde(flatten)]
        outcome: Outcome,
    },
}

/// How one service's rollout ended.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Stable on the new revision; tagged COMPLETED.
    Completed,
    /// The circuit breaker rolled it back or the wait timed out; tagged FAILED.
    Failed,
    /// It already ran this image; nothing registered.
    Unchanged,
    /// Registering or updating failed before any rollout began.
    Error,
    /// Not attempted: a service before it failed.
    NotStarted,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Outcome {
    pub service: EcsService,
    pub state: State,
    pub task_definition: Option<String>,
    pub detail: String,
    /// A failed rollout's stopped tasks and ECS's reason for each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stopped_tasks: Vec<StoppedTask>,
}

impl Outcome {
    pub fn not_started(service: EcsService) -> Outcome {
        Outcome {
            service,
            state: State::NotStarted,
            task_definition: None,
            detail: "not attempted: a service before it did not deploy".into(),
            stopped_tasks: Vec::new(),
        }
    }
}

/// Rolls one service out to `image` (a reference by digest).
pub async fn roll_out(
    ecs: &aws_sdk_ecs::Client,
    logs: &aws_sdk_cloudwatchlogs::Client,
    cluster: &str,
    step: &Step,
    image: &str,
    timeout: Duration,
    on_event: &mut (impl FnMut(Event) + Send),
) -> Outcome {
    let service = step.service;
    let error = |detail: String, task_definition: Option<String>| Outcome {
        service,
        state: State::Error,
        task_definition,
        detail,
        stopped_tasks: Vec::new(),
    };
    if step.from_image == image {
        return Outcome {
            service,
            state: State::Unchanged,
            task_definition: Some(step.from.clone()),
            detail: format!("{} already runs this image", short(&step.from)),
            stopped_tasks: Vec::new(),
        };
    }
    let td = match task_definition(ecs, &step.from).await {
        Ok(td) => td,
        Err(e) => return error(e, None),
    };
    if service_image(&td, service.name()).is_none() {
        return error(format!("no container named {service}"), None);
    }
    let arn = match register_with_image(ecs, &td, service.name(), image).await {
        Ok(arn) => arn,
        Err(e) => return error(format!("RegisterTaskDefinition failed: {e}"), None),
    };
    on_event(Event::Registered {
        service,
        task_definition: arn.clone(),
    });
    let current = match describe(ecs, cluster, service.name()).await {
        Ok(s) => s,
        Err(e) => return error(e.to_string(), Some(arn)),
    };
    if let Err(e) = update_to(ecs, cluster, &current, &arn).await {
        return error(format!("UpdateService failed: {e}"), Some(arn));
    }
    let waited = wait_stable(ecs, cluster, service.name(), &arn, timeout, |poll| {
        on_event(Event::Waiting {
            service,
            poll: poll.clone(),
        })
    })
    .await;
    let (state, value, detail) = match waited {
        Ok(detail) => (State::Completed, names::ROLLOUT_COMPLETED, detail),
        Err(reason) => (State::Failed, names::ROLLOUT_FAILED, reason),
    };
    let mut detail = match tag(ecs, &arn, value).await {
        Ok(()) => format!("{detail}; {} tagged {value}", short(&arn)),
        Err(e) => format!("{detail}; tagging {} {value} failed: {e}", short(&arn)),
    };
    let stopped_tasks = match state {
        State::Failed => {
            why_failed(ecs, logs, cluster, service.name(), &arn, &td, &mut detail).await
        }
        _ => Vec::new(),
    };
    Outcome {
        service,
        state,
        task_definition: Some(arn),
        detail,
        stopped_tasks,
    }
}

/// Why a rollout failed, in ECS's words: the revision's stopped tasks, and
/// the last lines each one's app logged (`detail` says when they could not
/// be read).
async fn why_failed(
    ecs: &aws_sdk_ecs::Client,
    logs: &aws_sdk_cloudwatchlogs::Client,
    cluster: &str,
    service: &str,
    arn: &str,
    td: &aws_sdk_ecs::types::TaskDefinition,
    detail: &mut String,
) -> Vec<StoppedTask> {
    match stopped_tasks(ecs, cluster, service, arn).await {
        Ok(mut tasks) => {
            add_last_lines(logs, td, service, &mut tasks).await;
            tasks
        }
        Err(e) => {
            detail.push_str(&format!("; its stopped tasks could not be read: {e}"));
            Vec::new()
        }
    }
}

/// What is running now, per ECS service.
pub async fn found(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    services: &[EcsService],
) -> Result<Vec<Found>, OpsError> {
    let mut out = Vec::new();
    for service in services {
        let described = describe(ecs, cluster, service.name()).await?;
        let arn = described.task_definition().unwrap_or_default().to_owned();
        let td = ecs
            .describe_task_definition()
            .task_definition(&arn)
            .send()
            .await
            .map_err(crate::aws::call("ECS DescribeTaskDefinition failed"))?;
        let image = td
            .task_definition()
            .and_then(|td| service_image(td, service.name()))
            .map(str::to_owned);
        out.push(Found {
            service: *service,
            task_definition: arn,
            image,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payment_service_goes_last_and_each_service_once() {
        let all = order(&[], ComputeLayout::Split);
        assert_eq!(all.len(), 6);
        assert_eq!(
            all.last(),
            Some(&EcsService::Own(ServiceName::PaymentService))
        );
        let some = order(
            &[
                ServiceName::PaymentService,
                ServiceName::EventService,
                ServiceName::PaymentService,
            ],
            ComputeLayout::Split,
        );
        assert_eq!(
            some,
            vec![
                EcsService::Own(ServiceName::EventService),
                EcsService::Own(ServiceName::PaymentService)
            ]
        );
    }

    #[test]
    fn in_the_combined_layout_any_service_deploys_the_one_task() {
        for requested in [vec![], vec![ServiceName::EventService]] {
            assert_eq!(
                order(&requested, ComputeLayout::Combined),
                vec![EcsService::Combined]
            );
        }
    }

    #[test]
    fn a_missing_service_or_container_is_refused_before_anything_changes() {
        let event = EcsService::Own(ServiceName::EventService);
        let found = vec![Found {
            service: event,
            task_definition: "arn:aws:ecs:r:1:task-definition/event-service-prod:3".into(),
            image: Some("r/ticketing@sha256:aa".into()),
        }];
        let ok = steps(&[event], &found).expect("plan");
        assert_eq!(ok[0].from_image, "r/ticketing@sha256:aa");
        let err =
            steps(&[EcsService::Own(ServiceName::PaymentService)], &found).expect_err("missing");
        assert!(err.contains("payment-service was not found"), "{err}");
        let no_container = vec![Found {
            image: None,
            ..found[0].clone()
        }];
        let err = steps(&[event], &no_container).expect_err("container");
        assert!(err.contains("no container named event-service"), "{err}");
    }
}
