//! The one change envelope every command that changes the world goes
//! through: the command computes a plan from what it found and prints it,
//! then [`Change::begin`] records it (`planned`), stops on an empty plan or
//! a dry run (one message each), asks for the typed confirmation in `prod`
//! unless `--yes`, records `started` and hands back an [`Applying`]; the
//! command applies the plan through it and ends with `done` or `failed`
//! (an apply abandoned by an early return is recorded as `failed` too).
//!
//! In `dev` and `prod` a confirmed change first takes the environment's
//! change lock (`lock/`) and holds it until its last entry; a change
//! another run holds the lock for is refused, naming the holder.
//!
//! Each entry has one of the phases of [`Phase`] and goes to the audit
//! trail (`audit/`: a local file, and in dev and prod the environment's
//! CloudWatch Logs group with the caller's AWS identity).

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use serde::Serialize;
use ticketing_config::Profile;

pub use crate::audit::Phase;
use crate::audit::{CloudTrail, Trail};

use crate::context::Context;
use crate::error::OpsError;
use crate::lock::{HeldLock, LockError, LockTable};
use crate::output::{self, OutputFormat};

/// The flags of a mutating command.
#[derive(Args, Debug, Clone, Default)]
pub struct ExecuteArgs {
    /// Carry out the plan. Without it the command only prints what it would do.
    #[arg(long)]
    pub execute: bool,
    /// Skip the typed confirmation that `--env prod` asks for (for CI jobs
    /// that were approved elsewhere).
    #[arg(long)]
    pub yes: bool,
}

/// Decides whether to act: `Ok(false)` for a dry run, `Ok(true)` to go
/// ahead. In `prod` the operator types the environment name, unless `--yes`.
pub(crate) fn confirm(profile: Profile, what: &str, args: &ExecuteArgs) -> Result<bool, OpsError> {
    if !args.execute {
        return Ok(false);
    }
    if profile != Profile::Prod || args.yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(OpsError::usage(
            format!("{what} in prod needs a typed confirmation, and stdin is not a terminal"),
            "run it from a terminal, or add --yes if the change was approved elsewhere",
        ));
    }
    eprint!("{what} in PROD. Type `prod` to continue: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| OpsError::Failed(e.into()))?;
    if answer.trim() != "prod" {
        return Err(OpsError::usage(
            "not confirmed; nothing was changed",
            "type `prod` exactly to go ahead",
        ));
    }
    Ok(true)
}

/// A change a command is about to make: who makes it, where, and with
/// which flags.
pub struct Change<'a> {
    trail: Trail,
    lock: Option<LockTable>,
    lock_wait: std::time::Duration,
    command: &'static str,
    args: &'a ExecuteArgs,
    output: OutputFormat,
    /// The command prints its own document for a dry run.
    own_output: bool,
}

impl<'a> Change<'a> {
    /// `command` is how the audit log names it (`"kafka reset-offsets"`).
    pub fn new(ctx: &Context, command: &'static str, args: &'a ExecuteArgs) -> Change<'a> {
        Change {
            trail: Trail::of(ctx),
            lock: LockTable::of(ctx),
            lock_wait: ctx.lock_wait,
            command,
            args,
            output: ctx.output,
            own_output: false,
        }
    }

    /// A command that prints its own `--output json` document when nothing
    /// is changed (its plan has more to say than the envelope's).
    pub fn prints_its_own_result(mut self) -> Change<'a> {
        self.own_output = true;
        self
    }

    /// With `--output json`, the one document a run that changes nothing
    /// prints: where, what, whether it was a dry run, and the plan.
    fn unchanged_document(&self, plan: &serde_json::Value, dry_run: bool) {
        if self.output == OutputFormat::Json && !self.own_output {
            output::emit(
                self.output,
                &serde_json::json!({
                    "environment": self.trail.profile.as_str(),
                    "command": self.command,
                    "dry_run": dry_run,
                    "changed": 0,
                    "plan": plan,
                }),
                String::new,
            );
        }
    }

    /// A change that does not take the environment's change lock: only
    /// `lock break`, which removes it.
    pub fn without_lock(mut self) -> Change<'a> {
        self.lock = None;
        self
    }

    /// Records the plan (`planned`), then decides: `None` when it holds no
    /// change or this is a dry run (each said once on stderr), otherwise
    /// the confirmation `what` names (prod only), `started`, and the handle
    /// to apply through. The caller has printed the plan already.
    pub fn begin(
        self,
        what: &str,
        plan: &impl Serialize,
        changes: usize,
    ) -> Result<Option<Applying>, OpsError> {
        let plan = serde_json::to_value(plan).unwrap_or_default();
        self.trail.record(
            self.command,
            Phase::Planned,
            &serde_json::json!({"changes": changes, "execute": self.args.execute, "plan": plan}),
        )?;
        if changes == 0 {
            eprintln!("nothing to change");
            self.unchanged_document(&plan, !self.args.execute);
            return Ok(None);
        }
        if !self.args.execute {
            eprintln!("{DRY_RUN}");
            self.unchanged_document(&plan, true);
            return Ok(None);
        }
        // The lock comes before the confirmation, as Terraform's state lock
        // comes before its approval prompt: nobody confirms a change another
        // run would then refuse, and what they confirmed cannot change
        // under them while they type.
        let lock = match &self.lock {
            Some(table) => Some(take_lock(
                table,
                self.trail.cloud.as_ref(),
                self.command,
                self.lock_wait,
            )?),
            None => None,
        };
        if !confirm(self.trail.profile, what, self.args)? {
            eprintln!("{DRY_RUN}");
            return Ok(None);
        }
        self.trail.record(self.command, Phase::Started, &plan)?;
        Ok(Some(Applying {
            trail: self.trail,
            command: self.command,
            ended: false.into(),
            _lock: lock,
        }))
    }
}

/// Takes the environment's change lock for `command` in the caller's AWS
/// identity, or says who holds it and what to do.
fn take_lock(
    table: &LockTable,
    cloud: Option<&CloudTrail>,
    command: &str,
    wait: std::time::Duration,
) -> Result<HeldLock, OpsError> {
    let env = table.env().to_owned();
    let owner =
        match cloud.map(CloudTrail::identity) {
            Some(Ok(arn)) => arn,
            Some(Err(e)) => return Err(OpsError::usage(
                format!("the {env} change lock needs the caller's AWS identity: {e}"),
                "check the AWS credentials and region for this environment; nothing was changed",
            )),
            None => "unknown".to_owned(),
        };
    let user = crate::audit::local_user();
    table
        .acquire(&owner, &user, command, wait, |holder| {
            eprintln!(
                "waiting up to {} s for the {env} change lock, held by {holder}",
                wait.as_secs()
            );
        })
        .map_err(|e| match e {
            LockError::Held { ref holder, .. } => OpsError::Locked {
                message: format!("{e}; nothing was changed"),
                hint: if holder.stale {
                    format!(
                        "its lease ran out at {} (the run stopped without releasing it): `opsctl --env {env} lock break --execute`, then run this again",
                        holder.expires.format("%H:%M:%S UTC")
                    )
                } else {
                    format!(
                        "wait for it to finish (`opsctl --env {env} lock status`; `--lock-wait 10m` waits for it), or ask {}; a lock left by a run that died frees itself at {}",
                        holder.user,
                        holder.expires.format("%H:%M:%S UTC")
                    )
                },
            },
            other => OpsError::usage(
                format!("the {env} change lock cannot be taken: {other}"),
                format!(
                    "check the AWS credentials and region, and dynamodb:PutItem on {}; nothing was changed",
                    table.table()
                ),
            ),
        })
}

/// How a command ends when its change made none (an empty plan or a dry
/// run): [`Change::begin`] has printed the one JSON document already.
pub fn unchanged(_format: OutputFormat) -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}

/// What a dry run says, the same for every command.
pub const DRY_RUN: &str = "dry run: nothing was changed; add --execute to apply";

/// A confirmed change being applied. It ends with [`Applying::done`] or
/// [`Applying::failed`]; dropped without either (an early `?` return) it
/// records `failed`. A step that borrows it may fail it: the end is then
/// recorded once, and the drop records nothing more.
pub struct Applying {
    trail: Trail,
    command: &'static str,
    ended: std::sync::atomic::AtomicBool,
    /// Released when the change ends (after its last entry).
    _lock: Option<HeldLock>,
}

impl Applying {
    fn end(&self) {
        self.ended.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Records one step of the apply.
    pub fn progress(&self, detail: serde_json::Value) -> Result<(), OpsError> {
        self.trail.record(self.command, Phase::Progress, &detail)
    }

    /// Records the end of the apply.
    pub fn done(self, detail: serde_json::Value) -> Result<(), OpsError> {
        self.end();
        self.trail.record(self.command, Phase::Done, &detail)
    }

    /// Records the failure and returns the error to stop with (`message`
    /// says what failed; `detail` is the audit record).
    pub fn failed(&self, detail: serde_json::Value, message: impl std::fmt::Display) -> OpsError {
        self.end();
        if let Err(e) = self.trail.record(self.command, Phase::Failed, &detail) {
            return e;
        }
        OpsError::Failed(anyhow::anyhow!("{message}"))
    }

    /// Records the failure and hands back `error` as it is (its kind and
    /// hint decide the exit code and what the operator reads).
    pub fn stopped(&self, detail: serde_json::Value, error: OpsError) -> OpsError {
        self.end();
        match self.trail.record(self.command, Phase::Failed, &detail) {
            Err(e) => e,
            Ok(()) => error,
        }
    }

    /// Records the end of an apply that counts its changes, and prints
    /// `{"changed": n}` (or `summary` for people).
    pub fn finish(
        self,
        format: OutputFormat,
        changed: usize,
        summary: String,
    ) -> Result<std::process::ExitCode, OpsError> {
        let outcome = serde_json::json!({"changed": changed});
        self.done(outcome.clone())?;
        output::emit(format, &outcome, || summary);
        Ok(std::process::ExitCode::SUCCESS)
    }

    /// Records that the apply ended with some of its changes failed (the
    /// command reports them and exits with a problem code itself).
    pub fn ended_with_failures(self, detail: serde_json::Value) -> Result<(), OpsError> {
        self.end();
        self.trail.record(self.command, Phase::Failed, &detail)
    }
}

#[cfg(test)]
impl Applying {
    /// A handle for unit tests of code that takes one (writes nothing
    /// when dropped).
    pub(crate) fn for_test() -> Applying {
        Applying {
            trail: Trail {
                profile: Profile::Local,
                file: std::path::PathBuf::new(),
                cloud: None,
            },
            command: "test",
            ended: true.into(),
            _lock: None,
        }
    }
}

impl Drop for Applying {
    fn drop(&mut self) {
        if !self.ended.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = self.trail.record(
                self.command,
                Phase::Failed,
                &serde_json::json!({"error": "the change stopped before it finished"}),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_execute_nothing_happens_and_local_needs_no_confirmation() {
        let dry = ExecuteArgs::default();
        assert!(!confirm(Profile::Prod, "x", &dry).expect("dry run"));
        let go = ExecuteArgs {
            execute: true,
            yes: false,
        };
        assert!(confirm(Profile::Local, "x", &go).expect("local"));
        let approved = ExecuteArgs {
            execute: true,
            yes: true,
        };
        assert!(confirm(Profile::Prod, "x", &approved).expect("approved"));
        // Tests have no terminal: prod without --yes is refused, not assumed.
        if !std::io::stdin().is_terminal() {
            let refused = confirm(Profile::Prod, "x", &go).expect_err("needs a terminal");
            assert!(refused.to_string().contains("prod"), "{refused}");
        }
    }
}
