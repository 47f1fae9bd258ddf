//! The one shape of an operation that changes the world: observed first
//! (reads only, into the value that implements this), a plan that counts
//! and renders its own changes (pure), then the changes applied one by one.
//! The driver (`crate::driver::drive`) owns everything around it: printing
//! the plan, the dry run, the confirmation, the change lock, the audit
//! entries and the result.

use serde::Serialize;

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
