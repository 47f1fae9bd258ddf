//! The audit trail every change envelope entry goes to (`change.rs`).
//!
//! Always a JSON-lines file on this machine: `OPSCTL_AUDIT_LOG`, or
//! `$XDG_STATE_HOME/opsctl/audit.jsonl`, or `~/.local/state/opsctl/audit.jsonl`.
//! In `dev` and `prod` each entry also goes to the environment's CloudWatch
//! Logs group (`ticketing_catalog::logs::audit_group`, kept
//! `AUDIT_RETENTION_DAYS`), with the caller's AWS identity (STS
//! GetCallerIdentity), so the team reads one trail (`opsctl audit`) whoever
//! ran the command and wherever. The group is made on first use if the
//! account has none yet.
//!
//! The envelope is synchronous; the CloudWatch calls run on a thread of
//! their own with a runtime of its own, so they work from any caller.
//! A `started` entry that cannot reach CloudWatch stops the change (nothing
//! was changed yet); the other phases warn and stay in the local file.

use std::future::Future;
use std::io::Write;
use std::path::Path;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use ticketing_config::Profile;

use crate::error::OpsError;

mod cloud;
pub use cloud::CloudTrail;

/// In the ops task: who started it (their AWS identity and local user, as
/// the opsctl that ran RunTask saw them), recorded with each entry beside
/// the task role's own identity.
pub const REQUESTED_BY_VAR: &str = "OPSCTL_REQUESTED_BY";

/// The phases an audit entry records.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The plan as computed, dry run or not.
    Planned,
    /// Confirmed; the apply begins.
    Started,
    /// One step of the apply done (a purchase, a runbook step).
    Progress,
    /// The apply finished.
    Done,
    /// The apply failed or stopped before it finished.
    Failed,
}

/// One entry of the trail.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub at: String,
    /// The local user name.
    pub user: String,
    /// The caller's AWS identity (an ARN) in `dev` and `prod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// For a change made in the ops task: who started the task
    /// ([`REQUESTED_BY_VAR`]); `identity` is then the task role's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    pub env: String,
    pub command: String,
    pub phase: Phase,
    pub detail: serde_json::Value,
}

/// Runs `work` to its end on a thread and runtime of its own (callable
/// from synchronous code inside or outside a runtime).
pub(crate) fn blocking<T: Send>(work: impl Future<Output = T> + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(work))
                    .map_err(|e| format!("no runtime for the audit writer: {e}"))
            })
            .join()
            .map_err(|_| "the audit writer stopped".to_owned())?
    })
}

/// Where one change's entries go: the local file, and the environment's
/// trail in CloudWatch Logs when it has one.
pub struct Trail {
    pub profile: Profile,
    pub file: std::path::PathBuf,
    pub cloud: Option<CloudTrail>,
}

impl Trail {
    pub fn of(ctx: &crate::environment::Environment) -> Trail {
        Trail {
            profile: ctx.profile,
            file: ctx.audit_file.clone(),
            cloud: CloudTrail::of(ctx),
        }
    }

    /// Appends one entry ([`record`]).
    pub fn record(
        &self,
        command: &str,
        phase: Phase,
        detail: &serde_json::Value,
    ) -> Result<(), OpsError> {
        record(
            self.profile,
            &self.file,
            self.cloud.as_ref(),
            command,
            phase,
            detail,
        )
    }
}

/// Appends one entry to the file, and to the environment's trail in
/// CloudWatch Logs when it has one. A file that cannot be written stops
/// the change; so does a `started` entry the trail did not take.
pub fn record(
    profile: Profile,
    file: &Path,
    cloud: Option<&CloudTrail>,
    command: &str,
    phase: Phase,
    detail: &serde_json::Value,
) -> Result<(), OpsError> {
    let identity = match cloud.map(CloudTrail::identity) {
        Some(Ok(arn)) => Some(arn),
        Some(Err(e)) if phase == Phase::Started => return Err(unshipped(cloud, &e)),
        Some(Err(e)) => {
            eprintln!("warning: the caller's AWS identity is unknown ({e}); recorded without it");
            None
        }
        None => None,
    };
    let entry = Entry {
        at: Utc::now().to_rfc3339(),
        user: local_user(),
        identity,
        requested_by: std::env::var(REQUESTED_BY_VAR)
            .ok()
            .filter(|r| !r.is_empty()),
        env: profile.as_str().to_owned(),
        command: command.to_owned(),
        phase,
        detail: detail.clone(),
    };
    let line = serde_json::to_string(&entry).map_err(|e| OpsError::Failed(e.into()))?;
    write_file(file, &line)?;
    if let Some(trail) = cloud {
        if let Err(e) = trail.put(line) {
            if phase == Phase::Started {
                // The file says `started`: it also says the change stopped
                // there, so no entry is left without its end.
                let stopped = Entry {
                    at: Utc::now().to_rfc3339(),
                    phase: Phase::Failed,
                    detail: serde_json::json!({"error": format!(
                        "the audit trail {} refused the started entry ({e}); nothing was changed",
                        trail.group()
                    )}),
                    ..entry
                };
                if let Ok(line) = serde_json::to_string(&stopped) {
                    write_file(file, &line)?;
                }
                return Err(unshipped(cloud, &e));
            }
            eprintln!(
                "warning: the {phase:?} entry did not reach the audit trail {} ({e}); it is in {}",
                trail.group(),
                file.display()
            );
        }
    }
    Ok(())
}

/// Who runs this process: `USER` or `LOGNAME` (a shell's), else the name
/// /etc/passwd gives this process's uid (a container or a CI job often
/// sets neither), else `uid <n>`.
pub(crate) fn local_user() -> String {
    use std::os::unix::fs::MetadataExt;
    let from_env = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty());
    if let Some(name) = from_env {
        return name;
    }
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return "unknown".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| name_of(uid, &passwd))
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The user name of `uid` in a passwd(5) file.
fn name_of(uid: u32, passwd: &str) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse() == Ok(uid)).then(|| name.to_owned())
    })
}

fn unshipped(cloud: Option<&CloudTrail>, e: &str) -> OpsError {
    OpsError::usage(
        format!(
            "the audit trail {} cannot be written: {e}",
            cloud.map(CloudTrail::group).unwrap_or_default()
        ),
        "check the AWS credentials and region for this environment (logs:CreateLogStream, logs:PutLogEvents, sts:GetCallerIdentity); nothing was changed",
    )
}

fn write_file(path: &Path, line: &str) -> Result<(), OpsError> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        // One locked write per entry: two opsctl runs (or two tests) that
        // append at the same moment never interleave their lines.
        file.lock()?;
        file.write_all(format!("{line}\n").as_bytes())
    };
    write().map_err(|e| {
        OpsError::usage(
            format!("the audit log {} cannot be written: {e}", path.display()),
            "set OPSCTL_AUDIT_LOG to a writable file; nothing was changed",
        )
    })
}

/// The local file's entries since `since_seconds` ago, oldest first.
/// The environment's trail since `since_seconds` ago, and where it was
/// read: its CloudWatch Logs group in dev and prod, the file locally.
pub async fn read_trail(
    ctx: &crate::environment::Environment,
    since_seconds: i64,
) -> Result<(String, Vec<Entry>), OpsError> {
    let env = ctx.profile.as_str();
    let (source, entries) = match CloudTrail::of(ctx) {
        Some(trail) => (trail.group().to_owned(), trail.read(since_seconds).await?),
        None => (
            ctx.audit_file.display().to_string(),
            read_file(&ctx.audit_file, since_seconds)?,
        ),
    };
    Ok((
        source,
        entries.into_iter().filter(|e| e.env == env).collect(),
    ))
}

pub fn read_file(path: &Path, since_seconds: i64) -> Result<Vec<Entry>, OpsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(OpsError::usage(
                format!("the audit log {} cannot be read: {e}", path.display()),
                "set OPSCTL_AUDIT_LOG to the file to read",
            ))
        }
    };
    let from = Utc::now() - chrono::Duration::seconds(since_seconds);
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .filter(|e| chrono::DateTime::parse_from_rfc3339(&e.at).is_ok_and(|at| at >= from))
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_uid_is_named_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nci:x:1001:1001::/home/ci:/bin/sh\n";
        assert_eq!(super::name_of(1001, passwd).as_deref(), Some("ci"));
        assert_eq!(super::name_of(0, passwd).as_deref(), Some("root"));
        assert_eq!(super::name_of(42, passwd), None);
        assert!(!super::local_user().is_empty());
    }
}
