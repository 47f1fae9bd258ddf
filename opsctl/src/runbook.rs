//! The one runbook step engine, shared by `kafka dr`, `portone rollback`,
//! `portone switch-back` and `reserved purchase`: steps run in order, each timed, printed,
//! recorded in the audit log (a `progress` entry) and in the report; the
//! first failure stops the runbook with an error that says how to go on.
//! Steps before a resume point are skipped, so a runbook resumes where it
//! stopped.

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

/// A runbook being applied inside a confirmed change.
pub struct Runbook<'a> {
    applying: &'a Applying,
    label: &'static str,
    resume: Box<dyn Fn(&str) -> String + Send + Sync + 'a>,
    skip_until: Option<String>,
    log: Vec<StepLog>,
}

impl<'a> Runbook<'a> {
    /// `label` prefixes its lines on stderr (`"dr"`); `resume` says what to
    /// do after the named step failed.
    pub fn new(
        applying: &'a Applying,
        label: &'static str,
        resume: impl Fn(&str) -> String + Send + Sync + 'a,
    ) -> Runbook<'a> {
        Runbook {
            applying,
            label,
            resume: Box::new(resume),
            skip_until: None,
            log: Vec::new(),
        }
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
        if !self.runs(name) {
            return Ok(());
        }
        eprintln!("[{}] {name} ...", self.label);
        let started = Instant::now();
        let waiting = crate::output::spinner(&format!("[{}] {name}", self.label), None);
        let result = work.await;
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
