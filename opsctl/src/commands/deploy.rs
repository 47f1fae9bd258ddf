//! `opsctl deploy [SERVICE...] --image REF`: the deploy pipeline's
//! command. Pushes the image to the environment's ECR repository (once),
//! then for each service in the catalog's order (the payment service last)
//! registers the next revision of its task definition with only the image
//! changed (by digest), updates the service with the circuit breaker on,
//! waits until it is stable and tags the revision `ticketing:rollout=
//! COMPLETED`, or `FAILED` when the circuit breaker rolled it back or the
//! wait timed out. The first service that does not deploy stops the rest.
//!
//! Output: a progress line per service for people; with `--output json`,
//! one document on stdout (the `plan` of a dry run, or the `result`, which
//! holds the plan) and the progress as JSON lines on stderr (`plan`,
//! `pushed`, `registered`, `waiting`, `finished`) for CI's log. Exit 0 when every service is
//! stable, 1 when a rollout failed (tagged FAILED), 3 when the push or an
//! AWS call failed.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use ticketing_catalog::ecs as names;
use ticketing_catalog::ServiceName;

use crate::aws::aws_env;
use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::ops::deploy::{found, order, roll_out, short, steps, Event, Outcome, Plan, State};
use crate::ops::ecs::layout;
use crate::ops::image;
use crate::ops::ops_task::{refresh_ops_task, OpsTaskRevision};
use crate::output::{self, OutputFormat};

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The services to deploy (default: all six). They always go in the
    /// catalog's order, the payment service last.
    pub services: Vec<ServiceName>,
    /// The image to deploy, as skopeo reads it: a bare name is in the local
    /// image store buildah builds into (`ticketing:latest`); or give a
    /// transport (`oci-archive:PATH`, `docker://REF`, ...).
    #[arg(long)]
    pub image: String,
    /// The tag to push under (the task definitions name the digest, not
    /// the tag). Default: the image's revision label, else `deploy-<UTC time>`.
    #[arg(long, value_parser = parse_tag)]
    pub tag: Option<String>,
    /// How long to wait for each service to become stable, in seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Only push the image and print its reference by digest: the first
    /// deploy of an environment, before the compute layer exists, gives it
    /// as `infra deploy compute --param ImageUri=...`.
    #[arg(long, conflicts_with = "services")]
    pub push_only: bool,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

/// A tag as OCI registries accept it: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn parse_tag(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(['.', '-'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("a tag is 1-128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`".into())
    }
}

/// The last line: the plan, the image by digest and each service's outcome.
#[derive(Serialize, Debug)]
struct Report<'a> {
    plan: &'a Plan,
    executed: bool,
    image: Option<String>,
    outcomes: Vec<Outcome>,
    /// The ops task's new revision, once every service is on the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    ops_task: Option<OpsTaskRevision>,
}

/// `value` as one JSON object with its `event` kind.
fn json_event(kind: &str, value: &impl Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(value).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        map.entry("event").or_insert_with(|| kind.into());
    }
    v
}

/// A progress line: JSON on stderr as the deploy goes (CI's log shows it
/// as it comes); stdout keeps the one document of the run.
fn json_progress(kind: &str, value: &impl Serialize) {
    eprintln!("{}", json_event(kind, value));
}

/// The run's one document on stdout: the plan of a dry run, or the result.
fn json_document(kind: &str, value: &impl Serialize) {
    println!("{}", json_event(kind, value));
}

fn render_plan(plan: &Plan) -> String {
    let mut out = format!(
        "deploy {} ({}{}) to {} on {} ({}), the payment service last:\n",
        plan.source.reference,
        plan.source.digest,
        plan.source
            .revision
            .as_deref()
            .map(|r| format!(", revision {r}"))
            .unwrap_or_default(),
        plan.destination,
        plan.cluster,
        plan.env
    );
    if plan.services.is_empty() {
        out = out.replace(
            ", the payment service last:",
            ": push only, no service is updated",
        );
        return out;
    }
    if plan.services.iter().any(|s| s.serves.len() > 1) {
        // The combined layout: one task runs the six.
        out = out.replace(
            ", the payment service last:",
            ", one task that runs all six services (combined layout):",
        );
    }
    let rows: Vec<Vec<String>> = plan
        .services
        .iter()
        .map(|s| {
            vec![
                s.service.to_string(),
                short(&s.from).to_owned(),
                s.from_image.clone(),
            ]
        })
        .collect();
    out.push_str(&output::table(&["SERVICE", "RUNNING", "IMAGE NOW"], &rows));
    out
}

fn render_outcomes(outcomes: &[Outcome]) -> String {
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                o.service.to_string(),
                serde_json::to_value(o.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                o.task_definition
                    .as_deref()
                    .map(short)
                    .unwrap_or("-")
                    .to_owned(),
                o.detail.clone(),
            ]
        })
        .collect();
    output::table(&["SERVICE", "ROLLOUT", "TASK DEFINITION", "DETAIL"], &rows)
}

pub async fn exec(ctx: &Context, args: DeployArgs) -> Result<ExitCode, CliError> {
    let env = aws_env(ctx)?;
    let sdk = crate::aws::sdk_config(ctx).await?;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let cluster = names::cluster(env);
    let repository = names::image_repository(env);
    let repository_uri = image::repository_uri(&ecr, &repository).await?;
    let registry_url = ctx.settings.aws.registry_url.as_ref();
    let reference = image::source_reference(&args.image);
    let (host, _) = image::registry_host(&repository_uri, registry_url);
    // A rollback by digest reads the environment's own repository: with its
    // login (a read; nothing changes).
    let login = if image::in_registry(&reference, &host) {
        Some(image::registry(&ecr, &repository_uri, registry_url).await?)
    } else {
        None
    };
    let source = image::inspect(&reference, login.as_ref()).await?;
    let tag = args
        .tag
        .clone()
        .or_else(|| source.revision.clone().and_then(|r| parse_tag(&r).ok()))
        .unwrap_or_else(|| format!("deploy-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let order = if args.push_only {
        vec![]
    } else {
        order(&args.services, layout(&ecs, &cluster).await?)
    };
    let found = found(&ecs, &cluster, &order).await?;
    let services = steps(&order, &found).map_err(|e| {
        CliError::usage(
            format!("{e}; nothing was changed"),
            "check --env and --region, and that the compute layer is deployed",
        )
    })?;
    let plan = Plan {
        env: env.into(),
        cluster: cluster.clone(),
        source,
        destination: format!("{host}/{repository}:{tag}"),
        timeout_seconds: args.timeout,
        services,
    };
    let json = ctx.output == OutputFormat::Json;
    if json && args.execute.execute {
        json_progress("plan", &plan);
    } else if json {
        json_document("plan", &plan);
    } else {
        print!("{}", render_plan(&plan));
    }
    let Some(applying) = Change::new(ctx, "deploy", &args.execute)
        .prints_its_own_result()
        .begin(
            &format!("deploying {} service(s)", plan.services.len()),
            &plan,
            // The push is a change of its own.
            plan.services.len() + 1,
        )?
    else {
        return Ok(ExitCode::SUCCESS);
    };

    let registry = image::registry(&ecr, &repository_uri, registry_url).await?;
    let pushed = match image::push(&plan.source.reference, &registry, &repository, &tag).await {
        Ok(reference) => reference,
        Err(e) => {
            let detail = serde_json::json!({"push": e});
            return Err(applying.failed(
                detail,
                format!("the image was not pushed: {e}; nothing was deployed"),
            ));
        }
    };
    let pushed_event = Event::Pushed {
        image: pushed.clone(),
    };
    applying.progress(serde_json::to_value(&pushed_event).unwrap_or_default())?;
    if json {
        json_progress("pushed", &pushed_event);
    } else {
        eprintln!("[deploy] pushed {pushed}");
    }

    if args.push_only {
        if json {
            json_document("result", &serde_json::json!({"image": pushed}));
        } else {
            println!("{pushed}");
        }
        applying.done(serde_json::json!({"image": pushed}))?;
        return Ok(ExitCode::SUCCESS);
    }
    let timeout = Duration::from_secs(args.timeout);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for step in &plan.services {
        if outcomes
            .iter()
            .any(|o| matches!(o.state, State::Failed | State::Error))
        {
            outcomes.push(Outcome::not_started(step.service));
            continue;
        }
        let bar = (!json).then(|| {
            let bar = indicatif::ProgressBar::new_spinner().with_prefix(step.service.to_string());
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix:<20} {msg} ({elapsed})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let mut on_event = |event: Event| {
            if json {
                json_progress("", &event);
            } else if let Some(bar) = &bar {
                bar.set_message(match &event {
                    Event::Registered {
                        task_definition, ..
                    } => format!("registered {}", short(task_definition)),
                    Event::Waiting { poll, .. } => format!(
                        "{} of {} running, {} pending, rollout {}",
                        poll.running,
                        poll.desired,
                        poll.pending,
                        poll.rollout.as_deref().unwrap_or("-")
                    ),
                    _ => String::new(),
                });
            }
        };
        let outcome = roll_out(&ecs, &logs, &cluster, step, &pushed, timeout, &mut on_event).await;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let finished = Event::Finished {
            outcome: outcome.clone(),
        };
        applying.progress(serde_json::to_value(&finished).unwrap_or_default())?;
        if json {
            json_progress("finished", &finished);
        } else {
            eprintln!("[deploy] {}: {}", outcome.service, outcome.detail);
        }
        outcomes.push(outcome);
    }

    // Every service on the image: the ops task follows.
    let all_deployed = outcomes
        .iter()
        .all(|o| matches!(o.state, State::Completed | State::Unchanged));
    let mut ops_task = None;
    if all_deployed {
        match refresh_ops_task(&ecs, env, &pushed).await {
            Ok(revision) => {
                if !json {
                    eprintln!("[deploy] ops task: {}", revision.detail);
                }
                ops_task = Some(revision);
            }
            Err(e) => {
                let detail =
                    serde_json::json!({"image": pushed, "outcomes": outcomes, "ops_task": e});
                return Err(applying.failed(
                    detail,
                    format!("every service runs the image, but the ops task could not follow: {e}; run the same deploy again (the services already run it; only the ops task is registered)"),
                ));
            }
        }
    }
    let report = Report {
        plan: &plan,
        executed: true,
        image: Some(pushed),
        outcomes,
        ops_task,
    };
    if json {
        json_document("result", &report);
    } else {
        print!("{}", render_outcomes(&report.outcomes));
    }
    let detail = serde_json::to_value(&report).unwrap_or_default();
    let failed_service = report.outcomes.iter().find(|o| o.state == State::Failed);
    if let Some(e) = report.outcomes.iter().find(|o| o.state == State::Error) {
        return Err(applying.failed(
            detail,
            format!(
                "{} did not deploy: {}; the services after it were not touched",
                e.service, e.detail
            ),
        ));
    }
    if let Some(f) = failed_service {
        applying.ended_with_failures(detail)?;
        eprintln!(
            "error: {} did not become stable ({}); the services after it were not touched. Roll back with `opsctl --env {env} portone rollback` (payment) or redeploy the last good image",
            f.service, f.detail
        );
        if f.stopped_tasks.is_empty() {
            eprintln!("  no stopped task of its new revision is listed (tasks that never started: check the service's events)");
        }
        for t in &f.stopped_tasks {
            eprintln!("  stopped task {}: {}", t.task, t.reason);
            if !t.last_lines.is_empty() {
                eprintln!("    its last log lines:");
            }
            for line in &t.last_lines {
                eprintln!("    | {line}");
            }
        }
        return Ok(ExitCode::from(EXIT_PROBLEM));
    }
    applying.done(detail)?;
    Ok(ExitCode::SUCCESS)
}
