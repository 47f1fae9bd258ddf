//! What every command that changes the world goes through: a plan printed
//! first, nothing done without `--execute`, a typed confirmation in `prod`,
//! and an audit-log entry for every change (attempted, done or failed).
//!
//! The audit log is JSON lines at `OPSCTL_AUDIT_LOG`, or
//! `$XDG_STATE_HOME/opsctl/audit.jsonl`, or `~/.local/state/opsctl/audit.jsonl`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use chrono::Utc;
use clap::Args;
use serde::Serialize;
use ticketing_config::Profile;

use crate::error::CliError;
use crate::output;
use crate::output::OutputFormat;

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

/// The audit log file.
pub fn audit_path() -> PathBuf {
    if let Some(path) = std::env::var_os("OPSCTL_AUDIT_LOG") {
        return PathBuf::from(path);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("opsctl").join("audit.jsonl")
}

#[derive(Serialize)]
struct Entry<'a> {
    at: String,
    user: String,
    env: &'a str,
    command: &'a str,
    phase: &'a str,
    detail: &'a serde_json::Value,
}

/// Appends one entry; a log that cannot be written stops the change.
pub fn audit(
    profile: Profile,
    command: &str,
    phase: &str,
    detail: &serde_json::Value,
) -> Result<(), CliError> {
    let path = audit_path();
    let entry = Entry {
        at: Utc::now().to_rfc3339(),
        user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        env: profile.as_str(),
        command,
        phase,
        detail,
    };
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let line = serde_json::to_string(&entry).map_err(std::io::Error::other)?;
        writeln!(file, "{line}")
    };
    write().map_err(|e| {
        CliError::usage(
            format!("the audit log {} cannot be written: {e}", path.display()),
            "set OPSCTL_AUDIT_LOG to a writable file; nothing was changed",
        )
    })
}

/// Decides whether to act: `Ok(false)` for a dry run (the caller prints the
/// plan and stops), `Ok(true)` to go ahead. In `prod` the operator types the
/// environment name, unless `--yes`.
pub fn confirm(profile: Profile, what: &str, args: &ExecuteArgs) -> Result<bool, CliError> {
    if !args.execute {
        return Ok(false);
    }
    if profile != Profile::Prod || args.yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::usage(
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
        .map_err(|e| CliError::Failed(e.into()))?;
    if answer.trim() != "prod" {
        return Err(CliError::usage(
            "not confirmed; nothing was changed",
            "type `prod` exactly to go ahead",
        ));
    }
    Ok(true)
}

/// The start of an apply: `Ok(false)` when there is nothing to change or
/// this is a dry run (each said on stderr); otherwise the change is
/// confirmed and its `started` entry written.
pub fn begin(
    profile: Profile,
    format: OutputFormat,
    command: &str,
    what: &str,
    changes: &impl Serialize,
    count: usize,
    args: &ExecuteArgs,
) -> Result<bool, CliError> {
    if count == 0 {
        eprintln!("nothing to change");
        output::emit(format, &serde_json::json!({"changed": 0}), String::new);
        return Ok(false);
    }
    if !confirm(profile, what, args)? {
        eprintln!("dry run: nothing was changed; add --execute to apply");
        return Ok(false);
    }
    audit(
        profile,
        command,
        "started",
        &serde_json::to_value(changes).unwrap_or_default(),
    )?;
    Ok(true)
}

/// A change that failed: its `failed` entry, and the error to return.
pub fn failed(
    profile: Profile,
    command: &str,
    detail: serde_json::Value,
    message: String,
) -> CliError {
    if let Err(e) = audit(profile, command, "failed", &detail) {
        return e;
    }
    CliError::Failed(anyhow::anyhow!(message))
}

/// The end of an apply: its `done` entry, and `{"changed": n}` printed.
pub fn finish(
    profile: Profile,
    format: OutputFormat,
    command: &str,
    changed: usize,
    summary: String,
) -> Result<std::process::ExitCode, CliError> {
    let outcome = serde_json::json!({"changed": changed});
    audit(profile, command, "done", &outcome)?;
    output::emit(format, &outcome, || summary);
    Ok(std::process::ExitCode::SUCCESS)
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
