//! `deploy` as a [`Procedure`]: push the image once, then one runbook step
//! a service in the plan's order (the payment service last), the first
//! that does not deploy stopping the rest (reported as not started); once
//! every service runs the image, the ops task follows.
//!
//! Exit: 0 when every service is stable; 1 when a rollout failed (tagged
//! FAILED, the apply recorded as failed); 3 when the push or an AWS call
//! failed.

use std::time::Duration;

use serde::Serialize;

use super::{roll_out, short, Deployment, Event, Outcome, Plan, State};
use crate::error::OpsError;
use crate::ops::image;
use crate::ops::operation::{Procedure, Stopped};
use crate::ops::ops_task::{refresh_ops_task, OpsTaskRevision};
use crate::runbook::Runbook;

/// A planned deploy.
pub struct Deploy {
    pub d: Deployment,
    timeout: Duration,
    push_only: bool,
}

/// The run's one document: the plan, the image by digest and each
/// service's outcome.
#[derive(Serialize, Debug)]
pub struct Report {
    event: &'static str,
    plan: Plan,
    executed: bool,
    image: Option<String>,
    outcomes: Vec<Outcome>,
    /// The ops task's new revision, once every service is on the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    ops_task: Option<OpsTaskRevision>,
    #[serde(skip)]
    push_only: bool,
}

/// `value` as one JSON object with its `event` kind.
pub fn json_event(kind: &str, value: &impl Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(value).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        map.entry("event").or_insert_with(|| kind.into());
    }
    v
}

impl Deploy {
    pub fn new(d: Deployment, timeout: Duration, push_only: bool) -> Deploy {
        Deploy {
            d,
            timeout,
            push_only,
        }
    }

    fn report(&self, image: Option<String>, outcomes: Vec<Outcome>) -> Report {
        Report {
            event: "result",
            plan: self.d.plan.clone(),
            executed: true,
            image,
            outcomes,
            ops_task: None,
            push_only: self.push_only,
        }
    }

    /// Pushes the image to the environment's repository: its reference by
    /// digest (recorded as the `pushed` event).
    async fn push(&self, book: &Runbook<'_>) -> Result<String, Stopped<Report>> {
        let d = &self.d;
        let pushed = match image::registry(&d.ecr, &d.repository_uri, d.registry_url.as_ref()).await
        {
            Ok(registry) => image::push(&d.plan.source.reference, &registry, &d.repository, &d.tag)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let pushed = pushed.map_err(|e| {
            let error = OpsError::Failed(anyhow::anyhow!(
                "the image was not pushed: {e}; nothing was deployed"
            ));
            Stopped::by(error, serde_json::json!({"push": e}))
        })?;
        let event = Event::Pushed {
            image: pushed.clone(),
        };
        book.applying()
            .progress(serde_json::to_value(&event).unwrap_or_default())
            .map_err(|e| Stopped::by(e, serde_json::json!({"image": pushed})))?;
        book.tell(
            Some(&format!("[deploy] pushed {pushed}")),
            &json_event("pushed", &event),
        );
        Ok(pushed)
    }

    /// One step a service, in the plan's order; after the first that does
    /// not deploy, the rest are reported as not started.
    async fn roll_out_all(&self, book: &mut Runbook<'_>, pushed: &str) -> Vec<Outcome> {
        let applying = book.applying();
        let json = book.is_json();
        let teller = book.teller();
        let mut outcomes: Vec<Outcome> = Vec::new();
        for step in &self.d.plan.services {
            if outcomes
                .iter()
                .any(|o| matches!(o.state, State::Failed | State::Error))
            {
                outcomes.push(Outcome::not_started(step.service));
                continue;
            }
            let mut outcome = None;
            let slot = &mut outcome;
            let name = step.service.to_string();
            let _ = book
                .step_with(&name, |bar| async move {
                    let mut on_event = |event: Event| match json {
                        false => bar.set_message(progress_line(&event)),
                        true => teller.tell(None, &json_event("", &event)),
                    };
                    let o = roll_out(
                        &self.d.ecs,
                        &self.d.logs,
                        &self.d.plan.cluster,
                        step,
                        pushed,
                        self.timeout,
                        &mut on_event,
                    )
                    .await;
                    let finished = Event::Finished { outcome: o.clone() };
                    applying
                        .progress(serde_json::to_value(&finished).unwrap_or_default())
                        .map_err(|e| e.to_string())?;
                    teller.tell(None, &json_event("finished", &finished));
                    let (deployed, detail) = (
                        matches!(o.state, State::Completed | State::Unchanged),
                        o.detail.clone(),
                    );
                    *slot = Some(o);
                    match deployed {
                        true => Ok(detail),
                        false => Err(detail),
                    }
                })
                .await;
            outcomes.push(outcome.unwrap_or_else(|| Outcome {
                state: State::Error,
                detail: "its rollout was not recorded in the audit trail".into(),
                ..Outcome::not_started(step.service)
            }));
        }
        outcomes
    }

    /// Every service on the image: the ops task follows (a step).
    async fn follow_with_ops_task(
        &self,
        book: &mut Runbook<'_>,
        pushed: &str,
        outcomes: &[Outcome],
    ) -> Result<Option<OpsTaskRevision>, Stopped<Report>> {
        let all_deployed = outcomes
            .iter()
            .all(|o| matches!(o.state, State::Completed | State::Unchanged));
        if !all_deployed {
            return Ok(None);
        }
        let mut revision = None;
        let followed = book
            .step("ops task", async {
                let r = refresh_ops_task(&self.d.ecs, self.d.env, pushed).await?;
                let detail = r.detail.clone();
                revision = Some(r);
                Ok::<_, String>(detail)
            })
            .await;
        match (followed, revision) {
            (Ok(()), Some(r)) => Ok(Some(r)),
            (result, _) => {
                let e = result.err().map(|e| e.to_string()).unwrap_or_default();
                let detail =
                    serde_json::json!({"image": pushed, "outcomes": outcomes, "ops_task": e});
                let error = OpsError::Failed(anyhow::anyhow!("every service runs the image, but the ops task could not follow: {e}; run the same deploy again (the services already run it; only the ops task is registered)"));
                Err(Stopped::by(error, detail))
            }
        }
    }
}

/// What a rollout event says on the step's spinner.
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

impl Procedure for Deploy {
    type Report = Report;

    fn command(&self) -> &'static str {
        "deploy"
    }

    fn doing(&self) -> String {
        format!("deploying {} service(s)", self.d.plan.services.len())
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::to_value(&self.d.plan).unwrap_or_default()
    }

    /// The push is a change of its own.
    fn changes(&self) -> usize {
        self.d.plan.services.len() + 1
    }

    fn render(&self) -> String {
        render_plan(&self.d.plan)
    }

    fn plan_document(&self) -> Option<serde_json::Value> {
        Some(json_event("plan", &self.d.plan))
    }

    fn label(&self) -> &'static str {
        "deploy"
    }

    fn resume(&self, _step: &str) -> String {
        "the services after it were not touched".into()
    }

    async fn run(&self, book: &mut Runbook<'_>) -> Result<Report, Stopped<Report>> {
        let pushed = self.push(book).await?;
        if self.push_only {
            return Ok(self.report(Some(pushed), vec![]));
        }
        let outcomes = self.roll_out_all(book, &pushed).await;
        let ops_task = self.follow_with_ops_task(book, &pushed, &outcomes).await?;
        let report = Report {
            ops_task,
            ..self.report(Some(pushed), outcomes)
        };
        match report.outcomes.iter().find(|o| o.state == State::Error) {
            None => Ok(report),
            Some(e) => {
                let error = OpsError::Failed(anyhow::anyhow!(
                    "{} did not deploy: {}; the services after it were not touched",
                    e.service,
                    e.detail
                ));
                Err(Stopped::with_report(error, report))
            }
        }
    }

    fn render_report(report: &Report) -> String {
        match (report.push_only, &report.image) {
            (true, Some(image)) => format!("{image}\n"),
            _ => render_outcomes(&report.outcomes),
        }
    }

    /// A rollout that failed (tagged FAILED): the apply is recorded as
    /// failed, the command exits with the problem code.
    fn failed(report: &Report) -> bool {
        report.outcomes.iter().any(|o| o.state == State::Failed)
    }

    fn after(&self, report: &Report) -> Option<String> {
        let f = report.outcomes.iter().find(|o| o.state == State::Failed)?;
        let mut out = format!(
            "error: {} did not become stable ({}); the services after it were not touched. Roll back with `opsctl --env {} portone rollback` (payment) or redeploy the last good image",
            f.service, f.detail, self.d.env
        );
        if f.stopped_tasks.is_empty() {
            out.push_str("\n  no stopped task of its new revision is listed (tasks that never started: check the service's events)");
        }
        for t in &f.stopped_tasks {
            out.push_str(&format!("\n  stopped task {}: {}", t.task, t.reason));
            if !t.last_lines.is_empty() {
                out.push_str("\n    its last log lines:");
            }
            for line in &t.last_lines {
                out.push_str(&format!("\n    | {line}"));
            }
        }
        Some(out)
    }
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
    out.push_str(&crate::table::table(
        &["SERVICE", "RUNNING", "IMAGE NOW"],
        &rows,
    ));
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
    crate::table::table(&["SERVICE", "ROLLOUT", "TASK DEFINITION", "DETAIL"], &rows)
}
