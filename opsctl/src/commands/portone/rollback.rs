//! `opsctl portone rollback` and `opsctl portone switch-back`: the design's
//! emergency procedure for production-mode payment failures (above 50 %).
//!
//! Rollback finds the last known-good revision of `payment-service-<env>`
//! (not just revision - 1: revisions whose rollout failed are skipped),
//! updates `payment-service` on `ticketing-<env>` to it with a forced new
//! deployment, optionally switches `ticketing/<env>/portone` to the test
//! keys kept in `ticketing/<env>/portone-test` (the live keys are saved to
//! `ticketing/<env>/portone-live` first), waits until the service is stable
//! (a circuit-breaker rollback counts as failure) and reports each step with
//! its duration. Switch-back puts the live keys back and restarts the tasks.
//!
//! A revision is known-good when its `ticketing:rollout` tag says
//! `COMPLETED` (the deploy pipeline tags it once the service is stable;
//! rollback tags the revision it restores). It is bad when the tag says
//! `FAILED` or a deployment of it is in state `FAILED`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{DeploymentRolloutState, SortOrder, Tag};
use clap::Args;
use serde::Serialize;
use ticketing_catalog::portone as names;

use super::{key_mode, PortOneSecret};
use crate::change::{Applying, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, OutputFormat};
use crate::runbook::{Runbook, StepLog};

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// Roll back to this revision instead of the last known-good one (it
    /// must not be one whose rollout failed).
    #[arg(long)]
    pub to_revision: Option<i32>,
    /// Also switch the secret to the test-mode keys and restart the tasks.
    #[arg(long)]
    pub test_keys: bool,
    /// Tell customers first: post the payment-paused notice (`portone
    /// switch-back --notify-customers` ends it).
    #[arg(long)]
    pub notify_customers: bool,
    /// How long to wait for the service to become stable, in seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Args, Debug)]
pub struct SwitchBackArgs {
    /// End the payment-paused notice to customers once stable.
    #[arg(long)]
    pub notify_customers: bool,
    /// How long to wait for the service to become stable, in seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

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
        r.rollout.as_deref() == Some("FAILED") || failed_deployments.contains(&r.revision)
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
        } else if r.rollout.as_deref() == Some("COMPLETED") {
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

/// Whether a described service has settled on `target`: `Ok(true)` stable,
/// `Ok(false)` still moving, `Err` when the rollout failed (a circuit
/// breaker rolling back counts as failure).
pub fn settled(service: &aws_sdk_ecs::types::Service, target: &str) -> Result<bool, String> {
    let deployments = service.deployments();
    if let Some(failed) = deployments
        .iter()
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
    Ok(service.task_definition() == Some(target)
        && deployments.len() == 1
        && primary.is_some_and(|p| p.rollout_state() != Some(&DeploymentRolloutState::InProgress))
        && service.running_count() == service.desired_count())
}

/// A step of the run, with its duration.
#[derive(Serialize, Debug, Clone)]
pub struct Report {
    pub env: String,
    pub service: String,
    pub cluster: String,
    pub from: String,
    pub to: String,
    pub skipped: Vec<(i32, String)>,
    pub test_keys: bool,
    pub executed: bool,
    pub steps: Vec<StepLog>,
}

fn failed(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Failed(anyhow::anyhow!(
        "{what}: {e}; check the AWS credentials and region"
    ))
}

fn aws_env(ctx: &Context) -> Result<&'static str, CliError> {
    match ctx.profile {
        ticketing_config::Profile::Dev => Ok("dev"),
        ticketing_config::Profile::Prod => Ok("prod"),
        _ => Err(CliError::usage(
            "the local stack has no ECS service to roll back",
            "pass --env prod (or --env dev to rehearse)",
        )),
    }
}

/// Reads a PortOne secret and checks it holds keys of `mode`.
async fn read_keys(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    mode: &str,
) -> Result<String, CliError> {
    let value = sm
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| {
            CliError::usage(
                format!(
                    "{name} cannot be read: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                ),
                format!("create {name} with the {mode}-mode keys as JSON {{imp_code, api_key, api_secret}}; nothing was changed"),
            )
        })?;
    let text = value.secret_string().unwrap_or_default().to_owned();
    let keys: PortOneSecret = serde_json::from_str(&text).map_err(|e| {
        CliError::usage(
            format!("{name} is not the expected JSON {{imp_code, api_key, api_secret}}: {e}"),
            "fix the secret's value; nothing was changed",
        )
    })?;
    if key_mode(&keys.api_key) != Some(mode) {
        return Err(CliError::usage(
            format!(
                "{name} does not hold {mode}-mode keys (its api_key starts {})",
                super::mask(&keys.api_key)
            ),
            "check which keys the secret holds; nothing was changed",
        ));
    }
    Ok(text)
}

async fn put_secret(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<(), String> {
    let put = sm
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await;
    match put {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            sm.create_secret()
                .name(name)
                .description(
                    "PortOne live keys, saved by opsctl portone rollback for the switch back",
                )
                .secret_string(value)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
        }
        Err(e) => Err(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()),
    }
}

async fn revisions(ecs: &aws_sdk_ecs::Client, family: &str) -> Result<Vec<Revision>, CliError> {
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
            .map_err(|e| {
                failed(
                    "ECS ListTaskDefinitions failed",
                    aws_sdk_ecs::error::DisplayErrorContext(e),
                )
            })?;
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
            .map_err(|e| {
                failed(
                    "ECS ListTagsForResource failed",
                    aws_sdk_ecs::error::DisplayErrorContext(e),
                )
            })?;
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

async fn describe(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
) -> Result<aws_sdk_ecs::types::Service, CliError> {
    let described = ecs
        .describe_services()
        .cluster(cluster)
        .services(names::SERVICE)
        .send()
        .await
        .map_err(|e| {
            failed(
                "ECS DescribeServices failed",
                aws_sdk_ecs::error::DisplayErrorContext(e),
            )
        })?;
    described.services().first().cloned().ok_or_else(|| {
        CliError::usage(
            format!(
                "there is no {} service on cluster {cluster}",
                names::SERVICE
            ),
            "check --env and --region",
        )
    })
}

async fn tag(ecs: &aws_sdk_ecs::Client, arn: &str, value: &str) -> Result<(), String> {
    ecs.tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key(names::ROLLOUT_TAG).value(value).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_sdk_ecs::error::DisplayErrorContext(e).to_string())
}

async fn wait_stable(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    target: &str,
    timeout: Duration,
) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let service = describe(ecs, cluster).await.map_err(|e| e.to_string())?;
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
        if Instant::now() >= deadline {
            return Err(format!(
                "not stable after {}s ({} of {} running)",
                timeout.as_secs(),
                service.running_count(),
                service.desired_count()
            ));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

fn render(r: &Report) -> String {
    let mut out = format!(
        "{} on {} ({}): {} -> {}{}\n",
        r.service,
        r.cluster,
        r.env,
        r.from.rsplit('/').next().unwrap_or(&r.from),
        r.to.rsplit('/').next().unwrap_or(&r.to),
        if r.test_keys {
            ", switching to the test keys"
        } else {
            ""
        }
    );
    for (n, why) in &r.skipped {
        out.push_str(&format!("  skipped revision {n}: {why}\n"));
    }
    for s in &r.steps {
        out.push_str(&format!(
            "  {:<28} {:>6.1}s  {}  {}\n",
            s.step,
            s.seconds,
            if s.ok { "ok" } else { "FAILED" },
            s.detail
        ));
    }
    out
}

/// Prints the report of a run and ends its change with the outcome.
fn finish(
    format: OutputFormat,
    applying: Applying,
    report: &Report,
    result: Result<(), CliError>,
) -> Result<(), CliError> {
    let detail = serde_json::to_value(report).unwrap_or_default();
    output::emit(format, report, || render(report));
    match result {
        Ok(()) => applying.done(detail),
        Err(e) => Err(applying.failed(detail, e)),
    }
}

/// What to do after a step of a rollback or switch-back failed.
fn after_failure(_step: &str) -> String {
    "the steps before it stand (see the audit log)".to_owned()
}

pub async fn rollback(ctx: &Context, args: RollbackArgs) -> Result<ExitCode, CliError> {
    let env = aws_env(ctx)?;
    let sdk = crate::aws::sdk_config(ctx).await?;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let cluster = names::cluster(env);
    let family = names::task_family(env);
    let service = describe(&ecs, &cluster).await?;
    let from = service.task_definition().unwrap_or_default().to_owned();
    let current = from
        .rsplit(':')
        .next()
        .and_then(|r| r.parse::<i32>().ok())
        .ok_or_else(|| {
            failed(
                "reading the running task definition",
                format!("`{from}` has no revision"),
            )
        })?;
    let failed_deployments: Vec<i32> = service
        .deployments()
        .iter()
        .filter(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed))
        .filter_map(|d| d.task_definition()?.rsplit(':').next()?.parse().ok())
        .collect();
    let all = revisions(&ecs, &family).await?;
    let choice = choose(&all, current, &failed_deployments, args.to_revision).map_err(|e| {
        CliError::usage(
            format!("{family}: {e}; nothing was changed"),
            "name a revision with --to-revision N after checking it, or tag a good one ticketing:rollout=COMPLETED",
        )
    })?;
    // Check the keys before touching anything.
    let test_keys = if args.test_keys {
        Some(read_keys(&sm, &names::test_keys_secret_name(env), "test").await?)
    } else {
        None
    };
    let mut report = Report {
        env: env.into(),
        service: names::SERVICE.into(),
        cluster: cluster.clone(),
        from: from.clone(),
        to: choice.target.arn.clone(),
        skipped: choice.skipped.clone(),
        test_keys: args.test_keys,
        executed: false,
        steps: vec![],
    };
    eprint!("{}", render(&report));
    if args.notify_customers {
        eprintln!(
            "first, customers are told: the {} notice (`opsctl notice post`)",
            ticketing_catalog::notices::PAYMENT_PAUSED.name
        );
    }
    let Some(applying) = Change::new(ctx, "portone rollback", &args.execute).begin(
        "rolling back the payment service",
        &report,
        1,
    )?
    else {
        output::emit(ctx.output, &report, String::new);
        return Ok(ExitCode::SUCCESS);
    };
    report.executed = true;
    let mut book = Runbook::new(&applying, "rollback", after_failure);
    let result = async {
        if args.notify_customers {
            book.step("tell customers", async {
                crate::ops::notices::post_template(ctx, &ticketing_catalog::notices::PAYMENT_PAUSED)
                    .await
                    .map(|n| format!("notice {} posted (payment-paused)", n.id))
                    .map_err(|e| e.to_string())
            })
            .await?;
        }
        book.step("mark the running revision failed", async {
            tag(&ecs, &from, "FAILED")
                .await
                .map(|()| format!("{} tagged FAILED", from.rsplit('/').next().unwrap_or(&from)))
        })
        .await?;
        if let Some(test) = &test_keys {
            let main = names::secret_name(env);
            let live = names::live_keys_secret_name(env);
            book.step("save the live keys", async {
                let current = sm
                    .get_secret_value()
                    .secret_id(&main)
                    .send()
                    .await
                    .map_err(|e| {
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()
                    })?;
                let text = current.secret_string().unwrap_or_default().to_owned();
                let keys: PortOneSecret = serde_json::from_str(&text)
                    .map_err(|e| format!("{main} is not the expected JSON: {e}"))?;
                match key_mode(&keys.api_key) {
                    Some("production") => put_secret(&sm, &live, &text)
                        .await
                        .map(|()| format!("live keys kept in {live}")),
                    // Already on test keys (a second run): the saved live
                    // keys must not be overwritten.
                    _ => Ok(format!(
                        "{main} already holds test keys; {live} left as it is"
                    )),
                }
            })
            .await?;
            book.step("switch to the test keys", async {
                put_secret(&sm, &main, test)
                    .await
                    .map(|()| format!("{main} now holds the test keys"))
            })
            .await?;
        }
        book.step("update the service", async {
            ecs.update_service()
                .cluster(&cluster)
                .service(names::SERVICE)
                .task_definition(&choice.target.arn)
                .force_new_deployment(true)
                .send()
                .await
                .map(|_| {
                    format!(
                        "forced a new deployment of revision {}",
                        choice.target.revision
                    )
                })
                .map_err(|e| aws_sdk_ecs::error::DisplayErrorContext(e).to_string())
        })
        .await?;
        book.step(
            "wait until stable",
            wait_stable(
                &ecs,
                &cluster,
                &choice.target.arn,
                Duration::from_secs(args.timeout),
            ),
        )
        .await?;
        book.step("record the revision as good", async {
            tag(&ecs, &choice.target.arn, "COMPLETED")
                .await
                .map(|()| "tagged COMPLETED".to_owned())
        })
        .await
    }
    .await;
    report.steps = book.into_log();
    finish(ctx.output, applying, &report, result)?;
    if args.test_keys {
        eprintln!(
            "payments now run on PortOne's test keys; once fixed, switch back: opsctl --env {env} portone switch-back --execute"
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn switch_back(ctx: &Context, args: SwitchBackArgs) -> Result<ExitCode, CliError> {
    let env = aws_env(ctx)?;
    let sdk = crate::aws::sdk_config(ctx).await?;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let cluster = names::cluster(env);
    let main = names::secret_name(env);
    let live = names::live_keys_secret_name(env);
    let live_keys = read_keys(&sm, &live, "production").await?;
    let service = describe(&ecs, &cluster).await?;
    let running = service.task_definition().unwrap_or_default().to_owned();
    let mut report = Report {
        env: env.into(),
        service: names::SERVICE.into(),
        cluster: cluster.clone(),
        from: running.clone(),
        to: running.clone(),
        skipped: vec![],
        test_keys: false,
        executed: false,
        steps: vec![],
    };
    eprintln!(
        "{main} <- the live keys saved in {live}; restart {} on {cluster}{}",
        names::SERVICE,
        if args.notify_customers {
            "; then end the payment-paused notice to customers"
        } else {
            ""
        }
    );
    let Some(applying) = Change::new(ctx, "portone switch-back", &args.execute).begin(
        "switching PortOne back to live keys",
        &serde_json::json!({"secret": main, "from": live}),
        1,
    )?
    else {
        output::emit(ctx.output, &report, String::new);
        return Ok(ExitCode::SUCCESS);
    };
    report.executed = true;
    let mut book = Runbook::new(&applying, "switch-back", after_failure);
    let result = async {
        book.step("put the live keys back", async {
            put_secret(&sm, &main, &live_keys)
                .await
                .map(|()| format!("{main} holds the live keys"))
        })
        .await?;
        book.step("restart the tasks", async {
            ecs.update_service()
                .cluster(&cluster)
                .service(names::SERVICE)
                .force_new_deployment(true)
                .send()
                .await
                .map(|_| "forced a new deployment".to_owned())
                .map_err(|e| aws_sdk_ecs::error::DisplayErrorContext(e).to_string())
        })
        .await?;
        book.step(
            "wait until stable",
            wait_stable(&ecs, &cluster, &running, Duration::from_secs(args.timeout)),
        )
        .await?;
        if args.notify_customers {
            book.step("end the customer notice", async {
                crate::ops::notices::end_template(ctx, &ticketing_catalog::notices::PAYMENT_PAUSED)
                    .await
                    .map(|ended| format!("{} payment-paused notice(s) ended", ended.len()))
                    .map_err(|e| e.to_string())
            })
            .await?;
        }
        Ok(())
    }
    .await;
    report.steps = book.into_log();
    finish(ctx.output, applying, &report, result)?;
    Ok(ExitCode::SUCCESS)
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
    }
}
