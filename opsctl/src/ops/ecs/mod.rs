//! ECS task-definition revisions and services: the revisions of a family
//! with their rollout tags, the pure choice of the last known-good one,
//! tagging, registering a revision with a new image (`register`), and
//! waiting until a service is stable (`stable`).

mod register;
mod stable;
mod stopped;

pub use register::{register_with_image, service_image, update_to};
pub use stable::{settled, wait_stable, Poll};
pub use stopped::{add_last_lines, stopped_tasks, StoppedTask};

use aws_sdk_ecs::types::{SortOrder, Tag};
use serde::Serialize;
use ticketing_catalog::ecs::{self as names, EcsService};
use ticketing_catalog::footprint::ComputeLayout;
use ticketing_catalog::ServiceName;

use crate::error::OpsError;

/// One revision of the family and what is known about its rollouts.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Revision {
    pub revision: i32,
    pub arn: String,
    /// `COMPLETED`, `FAILED`, or none recorded.
    pub rollout: Option<String>,
}

/// Which revision to return to, and why the newer ones were passed over.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Choice {
    pub target: Revision,
    pub skipped: Vec<(i32, String)>,
}

/// Picks the target: pure. `current` is the revision running now;
/// `failed_deployments` are revisions with a `FAILED` deployment.
pub fn choose(
    revisions: &[Revision],
    current: i32,
    failed_deployments: &[i32],
    wanted: Option<i32>,
) -> Result<Choice, String> {
    let mut older: Vec<&Revision> = revisions.iter().filter(|r| r.revision < current).collect();
    older.sort_by_key(|r| std::cmp::Reverse(r.revision));
    let failed = |r: &Revision| {
        r.rollout.as_deref() == Some(names::ROLLOUT_FAILED)
            || failed_deployments.contains(&r.revision)
    };
    if let Some(n) = wanted {
        let Some(r) = revisions.iter().find(|r| r.revision == n) else {
            return Err(format!("revision {n} does not exist in the family"));
        };
        if n == current {
            return Err(format!("revision {n} is the one running now"));
        }
        if failed(r) {
            return Err(format!("revision {n} failed its rollout before"));
        }
        return Ok(Choice {
            target: r.clone(),
            skipped: vec![],
        });
    }
    let mut skipped = Vec::new();
    for r in older {
        if failed(r) {
            skipped.push((r.revision, "its rollout failed".to_owned()));
        } else if r.rollout.as_deref() == Some(names::ROLLOUT_COMPLETED) {
            return Ok(Choice {
                target: r.clone(),
                skipped,
            });
        } else {
            skipped.push((r.revision, "never recorded as stable".to_owned()));
        }
    }
    Err(format!(
        "no revision older than {current} is known to be good{}",
        if skipped.is_empty() {
            String::new()
        } else {
            format!(
                " (passed over: {})",
                skipped
                    .iter()
                    .map(|(n, why)| format!("{n}: {why}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ))
}

pub async fn revisions(ecs: &aws_sdk_ecs::Client, family: &str) -> Result<Vec<Revision>, OpsError> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = ecs
            .list_task_definitions()
            .family_prefix(family)
            .sort(SortOrder::Desc)
            .set_next_token(token)
            .send()
            .await
            .map_err(crate::aws::call("ECS ListTaskDefinitions failed"))?;
        arns.extend(page.task_definition_arns().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for arn in arns {
        // `...:task-definition/<family>:<revision>`, exactly this family.
        let Some((fam, rev)) = arn.rsplit('/').next().and_then(|s| s.rsplit_once(':')) else {
            continue;
        };
        let Ok(revision) = rev.parse::<i32>() else {
            continue;
        };
        if fam != family {
            continue;
        }
        let tags = ecs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(crate::aws::call("ECS ListTagsForResource failed"))?;
        let rollout = tags
            .tags()
            .iter()
            .find(|t| t.key() == Some(names::ROLLOUT_TAG))
            .and_then(|t| t.value().map(str::to_owned));
        out.push(Revision {
            revision,
            arn,
            rollout,
        });
    }
    Ok(out)
}

/// The revision number at the end of a task definition ARN.
pub fn revision_of(arn: &str) -> Option<i32> {
    arn.rsplit(':').next()?.parse().ok()
}

/// One service of a cluster, as ECS describes it.
pub async fn describe(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<aws_sdk_ecs::types::Service, OpsError> {
    let described = describe_all(ecs, cluster, &[service]).await?;
    described.into_iter().next().ok_or_else(|| {
        OpsError::usage(
            format!("there is no {service} service on cluster {cluster}"),
            "check --env and --region",
        )
    })
}

/// The services of a cluster that exist among `services` (ECS describes up
/// to 10 per call; the platform has 6).
pub async fn describe_all(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    services: &[&str],
) -> Result<Vec<aws_sdk_ecs::types::Service>, OpsError> {
    let described = ecs
        .describe_services()
        .cluster(cluster)
        .set_services(Some(services.iter().map(|s| (*s).to_owned()).collect()))
        .send()
        .await
        .map_err(crate::aws::call("ECS DescribeServices failed"))?;
    Ok(described.services().to_vec())
}

/// The layout the cluster runs: combined when its combined service is
/// there (ACTIVE), split otherwise.
pub async fn layout(ecs: &aws_sdk_ecs::Client, cluster: &str) -> Result<ComputeLayout, OpsError> {
    let found = describe_all(ecs, cluster, &[names::COMBINED_SERVICE]).await?;
    Ok(if found.iter().any(|s| s.status() == Some("ACTIVE")) {
        ComputeLayout::Combined
    } else {
        ComputeLayout::Split
    })
}

/// The ECS service that runs the payment service on `cluster` (PortOne's
/// rollback and switch-back restart it): its own, or the combined one.
pub async fn payment_host(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
) -> Result<EcsService, OpsError> {
    Ok(EcsService::of(
        ServiceName::PaymentService,
        layout(ecs, cluster).await?,
    ))
}

/// The task definition `arn` names.
pub async fn task_definition(
    ecs: &aws_sdk_ecs::Client,
    arn: &str,
) -> Result<aws_sdk_ecs::types::TaskDefinition, String> {
    let out = ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "DescribeTaskDefinition failed: {}",
                crate::aws::sdk_error(&e)
            )
        })?;
    out.task_definition()
        .cloned()
        .ok_or_else(|| format!("{arn} is not described"))
}

/// The image `service` runs now on `env`'s cluster (its container's in
/// the task definition its ECS service runs): the deployed release.
pub async fn deployed_image(
    ecs: &aws_sdk_ecs::Client,
    env: &str,
    service: ServiceName,
) -> Result<String, OpsError> {
    let name = service.as_str();
    let running = describe(ecs, &names::cluster(env), name).await?;
    let arn = running.task_definition().unwrap_or_default();
    let td = task_definition(ecs, arn)
        .await
        .map_err(|e| crate::aws::failed("reading the running task definition", e))?;
    service_image(&td, name).map(str::to_owned).ok_or_else(|| {
        OpsError::usage(
            format!("{arn} names no image for {name}"),
            "give the release with --image HOST/REPO@sha256:...",
        )
    })
}

/// Forces a new deployment of `service` (its tasks replaced), on
/// `task_definition` when one is given, else on the one it runs.
pub async fn redeploy(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: Option<&str>,
) -> Result<(), String> {
    ecs.update_service()
        .cluster(cluster)
        .service(service)
        .set_task_definition(task_definition.map(str::to_owned))
        .force_new_deployment(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| crate::aws::sdk_error(&e).to_string())
}

pub async fn tag(ecs: &aws_sdk_ecs::Client, arn: &str, value: &str) -> Result<(), String> {
    ecs.tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key(names::ROLLOUT_TAG).value(value).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| crate::aws::sdk_error(&e).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(n: i32, rollout: Option<&str>) -> Revision {
        Revision {
            revision: n,
            arn: format!("arn:aws:ecs:ap-northeast-2:1:task-definition/payment-service-prod:{n}"),
            rollout: rollout.map(str::to_owned),
        }
    }

    #[test]
    fn the_last_known_good_revision_is_chosen_not_just_the_previous_one() {
        let all = [
            rev(10, Some("COMPLETED")),
            rev(11, Some("FAILED")),
            rev(12, None),
            rev(13, None),
        ];
        let c = choose(&all, 13, &[], None).expect("a good one");
        assert_eq!(c.target.revision, 10);
        assert_eq!(c.skipped.len(), 2);
        // A failed deployment seen on the service counts as failed too.
        let all = [
            rev(10, Some("COMPLETED")),
            rev(11, Some("COMPLETED")),
            rev(12, None),
        ];
        assert_eq!(
            choose(&all, 12, &[11], None).expect("good").target.revision,
            10
        );
        // Nothing good: a clear refusal.
        let err = choose(&[rev(1, None), rev(2, None)], 2, &[], None).expect_err("none");
        assert!(err.contains("no revision older than 2"), "{err}");
        // An explicit revision is checked.
        assert!(choose(&all, 12, &[11], Some(11)).is_err());
        assert!(choose(&all, 12, &[], Some(99)).is_err());
        assert_eq!(
            choose(&all, 12, &[], Some(10)).expect("ok").target.revision,
            10
        );
    }
}
