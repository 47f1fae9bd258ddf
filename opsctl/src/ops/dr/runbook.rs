//! `kafka dr` as a [`Procedure`]: the steps in order on the runbook engine,
//! sales guarded around them when asked, and a closing report with the
//! measured recovery time and the events lost (outbox rows written before
//! the run that are still unpublished at its end; it must be 0).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{run_step, Counts, DrOptions, Step};
use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops;
use crate::ops::guard::{self, GuardReport};
use crate::ops::operation::{Procedure, Stopped};
use crate::runbook::{Runbook, StepLog};

/// The closing report of a run.
#[derive(Serialize)]
pub struct DrReport {
    pub recovery_seconds: f64,
    pub events_replayed: u64,
    pub events_lost: i64,
    pub reservations_reconciled: usize,
    pub steps: Vec<StepLog>,
    /// What `--guard-sales` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<GuardReport>,
}

/// A planned run of the DR runbook.
pub struct DrRun<'a> {
    env: &'a Environment,
    options: DrOptions,
    /// Every step this run knows (the notice steps only when it tells
    /// customers), and the one it starts at.
    steps: Vec<Step>,
    first: Step,
    guard_sales: bool,
    resume: Box<dyn Fn(&str) -> String + 'a>,
}

impl<'a> DrRun<'a> {
    /// The run from `first` on; `resume` names the command that resumes
    /// it at a step. Guarding sales needs the VPC (checked here).
    pub fn plan(
        env: &'a Environment,
        options: DrOptions,
        notify_customers: bool,
        first: Option<Step>,
        guard_sales: bool,
        resume: impl Fn(&str) -> String + 'a,
    ) -> Result<DrRun<'a>, OpsError> {
        if guard_sales {
            guard::check(env)?;
        }
        Ok(DrRun {
            env,
            options,
            steps: Step::ALL
                .into_iter()
                .filter(|s| notify_customers || !s.tells_customers())
                .collect(),
            first: first.unwrap_or(Step::Detect),
            guard_sales,
            resume: Box::new(resume),
        })
    }

    fn planned(&self) -> Vec<Step> {
        self.steps
            .iter()
            .copied()
            .filter(|s| *s >= self.first)
            .collect()
    }

    /// The steps from the resume point on, `counts` filled as they go.
    async fn steps(&self, book: &mut Runbook<'_>, counts: &mut Counts) -> Result<(), OpsError> {
        let planned = self.planned();
        // Resuming at `restart` is asking for it; otherwise a run without
        // `detect` assumes the broker answers (restart only with --force-restart).
        let mut broker_up = self.first != Step::Restart && !planned.contains(&Step::Detect);
        for step in &self.steps {
            let run = run_step(self.env, &self.options, *step, &mut broker_up, counts);
            book.step(step.name(), run).await?;
        }
        Ok(())
    }
}

impl Procedure for DrRun<'_> {
    type Report = DrReport;

    fn command(&self) -> &'static str {
        "kafka dr"
    }

    fn doing(&self) -> String {
        "running the Kafka DR runbook".into()
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::json!({"from": self.first, "steps": self.planned()})
    }

    fn changes(&self) -> usize {
        self.planned().len()
    }

    fn render(&self) -> String {
        let planned = self.planned();
        let mut out = format!("Kafka disaster recovery, {} step(s):\n", planned.len());
        if self.guard_sales {
            out.push_str("  first, sales are guarded: admission paused, open holds kept open (extended by the outage's length at the end)\n");
        }
        for (i, s) in planned.iter().enumerate() {
            out.push_str(&format!(
                "  {}. {:<16} {}\n",
                i + 1,
                s.name(),
                self.env.complete(s.plan())
            ));
        }
        out
    }

    fn label(&self) -> &'static str {
        "dr"
    }

    fn resume(&self, step: &str) -> String {
        (self.resume)(step)
    }

    fn resume_from(&self) -> Option<&str> {
        self.planned().first().map(|s| s.name())
    }

    async fn run(&self, book: &mut Runbook<'_>) -> Result<DrReport, Stopped<DrReport>> {
        let started = Instant::now();
        let budget = self.options.restart_timeout + self.options.drain_timeout;
        let guard = guard::begin_for(
            self.env,
            self.guard_sales,
            budget + Duration::from_secs(600),
            book.applying(),
        )
        .await
        .map_err(|e| Stopped::by(e, serde_json::json!({"step": "guard sales"})))?;
        let marks = match ops::outbox::marks(self.env).await {
            Ok(marks) => marks,
            Err(e) => {
                let guarded = guard::end(guard).await;
                let detail = serde_json::json!({"error": e.to_string(), "guard": guarded});
                return Err(Stopped::by(e, detail));
            }
        };
        let mut counts = Counts::default();
        if let Err(e) = self.steps(book, &mut counts).await {
            let guarded = guard::end(guard).await;
            if let Some(g) = &guarded {
                book.tell(Some(&g.summary()), &serde_json::json!({"guard": g}));
            }
            let failed = book.log().last().map(|s| s.step.clone());
            let detail =
                serde_json::json!({"step": failed, "error": e.to_string(), "guard": guarded});
            return Err(Stopped::by(e, detail));
        }
        let guard = guard::end(guard).await;
        let events_lost = settled_lost(&marks)
            .await
            .map_err(|e| Stopped::by(e, serde_json::json!({"step": "count the lost events"})))?;
        Ok(DrReport {
            guard,
            steps: book.log().to_vec(),
            events_replayed: counts.events_replayed,
            reservations_reconciled: counts.reservations_reconciled,
            events_lost,
            recovery_seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn render_report(report: &DrReport) -> String {
        let rows: Vec<Vec<String>> = report
            .steps
            .iter()
            .map(|s| {
                vec![
                    s.step.clone(),
                    if s.ok { "ok" } else { "failed" }.to_owned(),
                    format!("{:.1} s", s.seconds),
                    s.detail.clone(),
                ]
            })
            .collect();
        format!(
            "{}recovered in {:.1} s: {} event(s) replayed, {} lost, {} reservation(s) reconciled\n{}",
            crate::table::table(&["STEP", "OUTCOME", "TIME", "DETAIL"], &rows),
            report.recovery_seconds,
            report.events_replayed,
            report.events_lost,
            report.reservations_reconciled,
            report
                .guard
                .as_ref()
                .map(|g| g.summary() + "\n")
                .unwrap_or_default()
        )
    }

    fn met(report: &DrReport) -> bool {
        report.events_lost == 0
    }
}

/// The events written before the run still unpublished. The services'
/// relays may still be publishing rows they claimed before the replay
/// step (it skips rows a relay holds): they get a moment before anything
/// is called lost.
async fn settled_lost(marks: &ops::outbox::Marks) -> Result<i64, OpsError> {
    let settle = Instant::now() + Duration::from_secs(30);
    loop {
        let n = ops::outbox::lost(marks).await?;
        if n == 0 || Instant::now() >= settle {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
