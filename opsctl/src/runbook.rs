//! The one runbook step engine every change runs on (the driver,
//! `driver.rs`, hands each [`crate::ops::operation::Procedure`] one): steps
//! run in order, each timed, printed, recorded in the audit log (a
//! `progress` entry) and in the report; the first failure stops the
//! runbook with an error that says how to go on. Steps before a resume
//! point are skipped, so a runbook resumes where it stopped. A procedure
//! of one action (a restart, a post) runs it without a step of its own:
//! its end is the record.

use std::fmt::Display;
use std::future::Future;
use std::time::Instant;

use serde::Serialize;

use crate::change::Applying;
use crate::error::OpsError;

/// One step as it ran.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct StepLog {
    pub step: String,
    pub ok: bool,
    pub seconds: f64,
    pub detail: String,
}

/// Tells how a procedure's work goes, on stderr (stdout keeps the run's
/// one document).
#[derive(Clone, Copy)]
pub struct Teller {
    json: bool,
}

impl Teller {
    /// `event` as a JSON line when machines read the progress (`--output
    /// json`), otherwise `line` (if any) for people.
    pub fn tell(self, line: Option<&str>, event: &serde_json::Value) {
        match (self.json, line) {
            (true, _) => eprintln!("{event}"),
            (false, Some(line)) => eprintln!("{line}"),
            (false, None) => {}
        }
    }
}

/// A runbook being applied inside a confirmed change.
pub struct Runbook<'a> {
    applying: &'a Applying,
    label: &'static str,
    resume: Box<dyn Fn(&str) -> String + 'a>,
    skip_until: Option<String>,
    log: Vec<StepLog>,
    json: bool,
}

impl<'a> Runbook<'a> {
    /// `label` prefixes its lines on stderr (`"dr"`); `resume` says what to
    /// do after the named step failed.
    pub fn new(
        applying: &'a Applying,
        label: &'static str,
        resume: impl Fn(&str) -> String + 'a,
    ) -> Runbook<'a> {
        Runbook {
            applying,
            label,
            resume: Box::new(resume),
            skip_until: None,
            log: Vec::new(),
            json: false,
        }
    }

    /// Whether progress is read by machines (`--output json`): steps that
    /// report as they go print JSON lines then.
    pub fn json(mut self, json: bool) -> Runbook<'a> {
        self.json = json;
        self
    }

    /// Whether progress is read by machines.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Tells how the work goes on stderr ([`Teller::tell`]).
    pub fn tell(&self, line: Option<&str>, event: &serde_json::Value) {
        self.teller().tell(line, event);
    }

    /// What tells how the work goes, for work inside a step.
    pub fn teller(&self) -> Teller {
        Teller { json: self.json }
    }

    /// Skips the steps before `step` (a resumed run).
    pub fn resume_from(mut self, step: Option<&str>) -> Runbook<'a> {
        self.skip_until = step.map(str::to_owned);
        self
    }

    /// Whether `step` runs in this run (false before the resume point).
    pub fn runs(&mut self, step: &str) -> bool {
        match &self.skip_until {
            Some(first) if first != step => false,
            Some(_) => {
                self.skip_until = None;
                true
            }
            None => true,
        }
    }

    /// Runs one step unless it comes before the resume point; its outcome
    /// is printed, audited and logged; a failure stops the runbook.
    pub async fn step<E: Display>(
        &mut self,
        name: &str,
        work: impl Future<Output = Result<String, E>>,
    ) -> Result<(), OpsError> {
        self.step_with(name, |_| work).await
    }

    /// [`Runbook::step`] for work that says how it goes on the step's
    /// spinner (`work` gets it).
    pub async fn step_with<E: Display, F: Future<Output = Result<String, E>>>(
        &mut self,
        name: &str,
        work: impl FnOnce(indicatif::ProgressBar) -> F,
    ) -> Result<(), OpsError> {
        if !self.runs(name) {
            return Ok(());
        }
        eprintln!("[{}] {name} ...", self.label);
        let started = Instant::now();
        let waiting = crate::output::spinner(&format!("[{}] {name}", self.label), None);
        let result = work(waiting.clone()).await;
        waiting.finish_and_clear();
        let seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
        let (ok, detail) = match &result {
            Ok(d) => (true, d.clone()),
            Err(e) => (false, e.to_string()),
        };
        eprintln!(
            "[{}] {name} {} ({seconds:.1} s): {detail}",
            self.label,
            if ok { "ok" } else { "FAILED" }
        );
        let log = StepLog {
            step: name.to_owned(),
            ok,
            seconds,
            detail,
        };
        self.applying
            .progress(serde_json::to_value(&log).unwrap_or_default())?;
        self.log.push(log);
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(OpsError::Failed(anyhow::anyhow!(
                "step `{name}` failed: {e}; {}",
                (self.resume)(name)
            ))),
        }
    }

    /// The change the runbook is applied in (for work around its steps
    /// that records entries of its own).
    pub fn applying(&self) -> &'a Applying {
        self.applying
    }

    /// A spinner on stderr for work that is not a step of its own (a
    /// one-action procedure's wait).
    pub fn spinner(
        &self,
        what: &str,
        limit: Option<std::time::Duration>,
    ) -> indicatif::ProgressBar {
        crate::output::spinner(what, limit)
    }

    /// A progress bar on stderr of `total` items (drawn only on a terminal).
    pub fn progress_bar(&self, label: &str, total: u64) -> indicatif::ProgressBar {
        crate::output::progress_bar(label, total)
    }

    /// The steps that ran, in order.
    pub fn log(&self) -> &[StepLog] {
        &self.log
    }

    /// Ends the runbook, handing back its log.
    pub fn into_log(self) -> Vec<StepLog> {
        self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_run_skips_the_steps_before_its_resume_point() {
        let applying = Applying::for_test();
        let mut book = Runbook::new(&applying, "t", |_| String::new()).resume_from(Some("b"));
        assert!(!book.runs("a"));
        assert!(book.runs("b"));
        assert!(book.runs("c"), "after the resume point everything runs");
        let mut fresh = Runbook::new(&applying, "t", |_| String::new());
        assert!(fresh.runs("a"));
    }
}
