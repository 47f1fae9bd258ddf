//! The one shape of an operation that changes the world: observed first
//! (reads only, into the value that implements this), a plan that counts
//! and renders its own changes (pure), then the changes applied one by one.
//! The driver (`crate::driver::drive`) owns everything around it: printing
//! the plan, the dry run, the confirmation, the change lock, the audit
//! entries and the result.

use serde::Serialize;

use crate::runbook::Runbook;

/// An observed operation, ready to plan and apply.
#[allow(async_fn_in_trait)] // driven in place, never spawned
pub trait Operation {
    /// One change of the plan, as the audit log records it.
    type Change: Serialize;
    /// How the audit log names the command (`"logs retention apply"`).
    fn command(&self) -> &'static str;
    /// What a confirmation names (`"changing log retention"`).
    fn doing(&self) -> String;

    /// The changes the plan holds (none: nothing to do).
    fn changes(&self) -> Vec<&Self::Change>;

    /// The whole plan for people, changes and what stays as it is.
    fn render(&self) -> String;

    /// Applies one change: why it failed, if it did.
    async fn apply(&self, change: &Self::Change) -> Result<(), String>;

    /// What to say when `change` failed with `error` (the changes
    /// before it stand).
    fn failure(change: &Self::Change, error: &str) -> String;

    /// The last line for people once `done` changes are applied.
    fn summary(&self, done: usize) -> String;

    /// What the audit trail (a `progress` entry) and stderr say once
    /// `change` is applied; `None`: only the end is recorded.
    fn applied(_change: &Self::Change) -> Option<(serde_json::Value, String)> {
        None
    }
}

/// An observed procedure: ordered steps on the runbook engine
/// (`crate::runbook`), each timed, printed and recorded, the first failure
/// stopping the rest. The driver (`crate::driver::run`) owns the same
/// envelope as for an [`Operation`]; the procedure owns its steps.
#[allow(async_fn_in_trait)] // driven in place, never spawned
pub trait Procedure {
    /// What a run hands back: the command's result, and the `done` entry.
    type Report: Serialize;
    /// How the audit log names the command (`"kafka dr"`).
    fn command(&self) -> &'static str;
    /// What a confirmation names (`"running the Kafka DR runbook"`).
    fn doing(&self) -> String;
    /// The plan as the audit log records it.
    fn plan(&self) -> serde_json::Value;
    /// How many steps change the world (none: nothing to do).
    fn changes(&self) -> usize;
    /// The plan for people.
    fn render(&self) -> String;
    /// A plan that is the run's document of its own: with `--output json`
    /// it is the one document a dry run prints on stdout (and the first
    /// progress line on stderr of a run that applies); for people the
    /// rendered plan goes to stdout. `None`: the plan is rendered on
    /// stderr and the envelope prints the document of a run that changes
    /// nothing.
    fn plan_document(&self) -> Option<serde_json::Value> {
        None
    }
    /// What prefixes its steps' lines on stderr (`"dr"`).
    /// (A procedure of one action has no steps: the command names it.)
    fn label(&self) -> &'static str {
        self.command()
    }
    /// What to do after `step` failed (nothing more to say by default).
    fn resume(&self, _step: &str) -> String {
        String::new()
    }
    /// The step a resumed run starts at.
    fn resume_from(&self) -> Option<&str> {
        None
    }
    /// What must hold before an `--execute` run is confirmed or recorded
    /// (checked after the plan is printed).
    async fn ready(&self) -> Result<(), crate::error::OpsError> {
        Ok(())
    }
    /// Whether it takes the environment's change lock (all but `lock
    /// break`, which removes it).
    fn takes_lock(&self) -> bool {
        true
    }
    /// Whether the driver prints the report (and a run's that changes
    /// nothing): not when the command prints several runs' at its end.
    fn prints_report(&self) -> bool {
        true
    }
    /// Whether a run that changes nothing prints its own result
    /// ([`Procedure::unchanged`]) rather than the driver's document.
    fn prints_its_own_result(&self) -> bool {
        false
    }
    /// The report of a run that changes nothing (a dry run, or an empty
    /// plan), when it prints its own result.
    fn unchanged(&self, _dry_run: bool) -> Option<Self::Report> {
        None
    }
    /// Runs the steps through `book`.
    async fn run(&self, book: &mut Runbook<'_>) -> Result<Self::Report, Stopped<Self::Report>>;
    /// The report for people.
    fn render_report(report: &Self::Report) -> String;
    /// Whether the apply ended with failures the report holds (recorded as
    /// `failed`, the problem exit code) although the run went to its end.
    fn failed(_report: &Self::Report) -> bool {
        false
    }
    /// Whether the report meets its aim (otherwise the problem exit code).
    fn met(_report: &Self::Report) -> bool {
        true
    }
    /// Said on stderr after a run that met its aim.
    fn after(&self, _report: &Self::Report) -> Option<String> {
        None
    }
}

/// A procedure stopped by a failed step (boxed: it travels through every
/// step's `Result`).
pub struct Stopped<R>(Box<StoppedBy<R>>);

/// What a stopped procedure leaves: what the audit log records, the error
/// to stop with, and the report so far when the command prints one.
pub struct StoppedBy<R> {
    pub detail: serde_json::Value,
    pub error: crate::error::OpsError,
    pub report: Option<R>,
}

impl<R> Stopped<R> {
    /// Stopped by `error`, recorded as `detail`, nothing printed.
    pub fn by(error: crate::error::OpsError, detail: serde_json::Value) -> Stopped<R> {
        Stopped(Box::new(StoppedBy {
            detail,
            error,
            report: None,
        }))
    }

    /// Stopped by `error` with the report so far, printed and recorded.
    pub fn with_report(error: crate::error::OpsError, report: R) -> Stopped<R>
    where
        R: Serialize,
    {
        Stopped(Box::new(StoppedBy {
            detail: serde_json::to_value(&report).unwrap_or_default(),
            error,
            report: Some(report),
        }))
    }

    /// Its parts, for the driver.
    pub fn into_parts(self) -> StoppedBy<R> {
        *self.0
    }
}
