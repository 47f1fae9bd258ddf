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
use ticketing_catalog::ecs::EcsService;
use ticketing_catalog::ServiceName;

use crate::change::{Applying, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::deploy::{
    observe, roll_out, short, valid_tag, Deployment, Event, Outcome, Plan, Request, State,
};
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
    valid_tag(s).ok_or_else(|| {
        "a tag is 1-128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`".into()
    })
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

pub async fn exec(ctx: &Context, args: DeployArgs) -> Result<ExitCode, OpsError> {
    let request = Request {
        services: &args.services,
        image: &args.image,
        tag: args.tag.clone(),
        timeout_seconds: args.timeout,
        push_only: args.push_only,
    };
    let d = observe(ctx, request).await?;
    let json = ctx.output == OutputFormat::Json;
    if json && args.execute.execute {
        json_progress("plan", &d.plan);
    } else if json {
        json_document("plan", &d.plan);
    } else {
        print!("{}", render_plan(&d.plan));
    }
    let Some(applying) = Change::new(ctx, "deploy", &args.execute)
        .prints_its_own_result()
        .begin(
            &format!("deploying {} service(s)", d.plan.services.len()),
            &d.plan,
            // The push is a change of its own.
            d.plan.services.len() + 1,
        )?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let pushed = push(&d, &applying, json).await?;
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
    let outcomes = roll_out_all(&d, &pushed, timeout, &applying, json).await?;
    let ops_task = follow_with_ops_task(&d, &pushed, &outcomes, &applying, json).await?;
    let report = Report {
        plan: &d.plan,
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
    finish(d.env, applying, &report)
}

/// Pushes the image to the environment's repository: its reference by
/// digest.
async fn push(d: &Deployment, applying: &Applying, json: bool) -> Result<String, OpsError> {
    let registry = image::registry(&d.ecr, &d.repository_uri, d.registry_url.as_ref()).await?;
    let pushed = match image::push(&d.plan.source.reference, &registry, &d.repository, &d.tag).await
    {
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
    Ok(pushed)
}

/// A spinner for one service's rollout (people only).
fn spinner(service: &EcsService) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_prefix(service.to_string());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix:<20} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// What a rollout event says on the spinner.
fn progress_line(event: &Event) -> String {
    match event {
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
    }
}

/// Rolls each service out in the plan's order; after the first that does
/// not deploy, the rest are not started.
async fn roll_out_all(
    d: &Deployment,
    pushed: &str,
    timeout: Duration,
    applying: &Applying,
    json: bool,
) -> Result<Vec<Outcome>, OpsError> {
    let mut outcomes: Vec<Outcome> = Vec::new();
    for step in &d.plan.services {
        if outcomes
            .iter()
            .any(|o| matches!(o.state, State::Failed | State::Error))
        {
            outcomes.push(Outcome::not_started(step.service));
            continue;
        }
        let bar = (!json).then(|| spinner(&step.service));
        let mut on_event = |event: Event| match &bar {
            Some(bar) => bar.set_message(progress_line(&event)),
            None => json_progress("", &event),
        };
        let cluster = &d.plan.cluster;
        let outcome = roll_out(
            &d.ecs,
            &d.logs,
            cluster,
            step,
            pushed,
            timeout,
            &mut on_event,
        )
        .await;
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
    Ok(outcomes)
}

/// Every service on the image: the ops task follows.
async fn follow_with_ops_task(
    d: &Deployment,
    pushed: &str,
    outcomes: &[Outcome],
    applying: &Applying,
    json: bool,
) -> Result<Option<OpsTaskRevision>, OpsError> {
    let all_deployed = outcomes
        .iter()
        .all(|o| matches!(o.state, State::Completed | State::Unchanged));
    if !all_deployed {
        return Ok(None);
    }
    match refresh_ops_task(&d.ecs, d.env, pushed).await {
        Ok(revision) => {
            if !json {
                eprintln!("[deploy] ops task: {}", revision.detail);
            }
            Ok(Some(revision))
        }
        Err(e) => {
            let detail = serde_json::json!({"image": pushed, "outcomes": outcomes, "ops_task": e});
            Err(applying.failed(
                detail,
                format!("every service runs the image, but the ops task could not follow: {e}; run the same deploy again (the services already run it; only the ops task is registered)"),
            ))
        }
    }
}

/// Ends the change: done, an error for a service that failed to deploy
/// (exit 3), or failures recorded with each stopped task's reason and last
/// log lines (exit 1).
fn finish(env: &str, applying: Applying, report: &Report) -> Result<ExitCode, OpsError> {
    let detail = serde_json::to_value(report).unwrap_or_default();
    if let Some(e) = report.outcomes.iter().find(|o| o.state == State::Error) {
        return Err(applying.failed(
            detail,
            format!(
                "{} did not deploy: {}; the services after it were not touched",
                e.service, e.detail
            ),
        ));
    }
    let Some(f) = report.outcomes.iter().find(|o| o.state == State::Failed) else {
        applying.done(detail)?;
        return Ok(ExitCode::SUCCESS);
    };
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
    Ok(ExitCode::from(EXIT_PROBLEM))
}
