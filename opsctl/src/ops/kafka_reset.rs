//! `kafka reset-offsets` as a [`Procedure`]: move a stopped group's
//! committed offsets, the previous ones saved first (to a file, and whole
//! in the audit trail, which outlives the ops task's disk).

use std::path::PathBuf;

use serde::Serialize;
use ticketing_kafka::PartitionLag;

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::kafka::{
    ensure_group_stopped, groups, read_saved, reset_plan, sample, saved_offsets, unreachable,
    write_saved, ResetLine, ResetTarget, SavedOffsets,
};
use crate::ops::operation::{Procedure, Stopped};
use crate::runbook::Runbook;

/// Where the offsets go, as asked.
pub enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
    /// The first offsets at or after this time.
    Datetime(chrono::DateTime<chrono::Utc>),
    /// The offsets a previous run saved to this file.
    File(PathBuf),
    /// The offsets the group's newest run recorded in the audit trail.
    Audit,
}

/// A planned move of one group's offsets.
pub struct Reset<'a> {
    env: &'a Environment,
    group: String,
    current: Vec<PartitionLag>,
    plan: Vec<ResetLine>,
    save_to: Option<PathBuf>,
}

/// The group and its plan (the one document the command prints).
#[derive(Serialize)]
pub struct Moved {
    group: String,
    plan: Vec<ResetLine>,
    execute: bool,
    /// Where the previous offsets were saved (none in the ops task).
    #[serde(skip)]
    saved_to: Option<PathBuf>,
}

impl<'a> Reset<'a> {
    /// Reads the group's committed offsets and where `to` puts them.
    pub async fn observe(
        env: &'a Environment,
        group: &str,
        to: ResetTo,
        save_to: Option<PathBuf>,
    ) -> Result<Reset<'a>, OpsError> {
        let (group, topics) = groups(env, Some(group))?
            .into_iter()
            .next()
            .ok_or_else(|| OpsError::usage("no group chosen", "name one with --group"))?;
        let current: Vec<PartitionLag> = sample(env, &[(group.clone(), topics.clone())])
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let target = match to {
            ResetTo::Earliest => ResetTarget::Earliest,
            ResetTo::Latest => ResetTarget::Latest,
            ResetTo::Offset(n) => ResetTarget::Offset(n),
            ResetTo::File(path) => ResetTarget::Saved(read_saved(&path)?),
            ResetTo::Audit => ResetTarget::Saved(from_audit(env, &group).await?),
            ResetTo::Datetime(at) => ResetTarget::Resolved(
                ticketing_kafka::offsets_for_time(&env.settings.kafka, &topics, at)
                    .await
                    .map_err(|e| unreachable(env, e))?,
            ),
        };
        let plan = reset_plan(&group, &current, target)?;
        Ok(Reset {
            env,
            group,
            current,
            plan,
            save_to,
        })
    }

    fn moved(&self, execute: bool, saved_to: Option<PathBuf>) -> Moved {
        Moved {
            group: self.group.clone(),
            plan: self.plan.clone(),
            execute,
            saved_to,
        }
    }

    /// Writes the previous offsets to `--save-to` (or a dated file here).
    /// In the ops task nothing on disk lasts (its root is read-only): the
    /// audit trail alone keeps the restore point there, unless `--save-to`.
    fn save_restore_point(&self, saved: &SavedOffsets) -> Result<Option<PathBuf>, Stopped<Moved>> {
        let path = self.save_to.clone().or_else(|| {
            (!crate::ops::ops_task::inside_vpc()).then(|| {
                PathBuf::from(format!(
                    "opsctl-offsets-{}-{}.json",
                    self.group,
                    chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
                ))
            })
        });
        if let Some(path) = &path {
            if let Err(e) = write_saved(path, saved) {
                let detail = serde_json::json!({"group": self.group, "error": e});
                let error = OpsError::Failed(anyhow::anyhow!(
                    "the previous offsets cannot be saved to {}: {e}; pick a writable --save-to; nothing was moved",
                    path.display()
                ));
                return Err(Stopped::by(error, detail));
            }
        }
        Ok(path)
    }
}

/// How far back `--from-audit` looks for the saved offsets.
const AUDIT_LOOKBACK_SECONDS: i64 = 90 * 86_400;

/// The offsets the group's newest `--execute` recorded in the trail.
async fn from_audit(env: &Environment, group: &str) -> Result<SavedOffsets, OpsError> {
    let (source, entries) = crate::audit::read_trail(env, AUDIT_LOOKBACK_SECONDS).await?;
    entries
        .iter()
        .rev()
        .filter(|e| e.command == "kafka reset-offsets")
        .filter_map(|e| serde_json::from_value::<SavedOffsets>(e.detail.get("saved_offsets")?.clone()).ok())
        .find(|saved| saved.group == group)
        .ok_or_else(|| {
            OpsError::usage(
                format!("{source} holds no offsets saved for group `{group}` in the last 90 days"),
                "restore from the file the --execute wrote with --from-file, or name the offsets with --to",
            )
        })
}

impl Procedure for Reset<'_> {
    type Report = Moved;

    fn command(&self) -> &'static str {
        "kafka reset-offsets"
    }

    fn doing(&self) -> String {
        "moving consumer offsets".into()
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::json!({"group": self.group, "plan": self.plan})
    }

    fn changes(&self) -> usize {
        self.plan.len()
    }

    fn render(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .plan
            .iter()
            .map(|l| {
                vec![
                    l.topic.clone(),
                    l.partition.to_string(),
                    l.current.map_or("-".into(), |c| c.to_string()),
                    l.new.to_string(),
                ]
            })
            .collect();
        format!(
            "group {}\n{}the group's consumers must be stopped before --execute\n",
            self.group,
            crate::table::table(&["TOPIC", "PARTITION", "CURRENT", "NEW"], &rows)
        )
    }

    /// Kafka moves the offsets of a group only while it has no members:
    /// checked before anything is confirmed or recorded as started.
    async fn ready(&self) -> Result<(), OpsError> {
        ensure_group_stopped(self.env, &self.group).await
    }

    fn prints_its_own_result(&self) -> bool {
        true
    }

    fn unchanged(&self, dry_run: bool) -> Option<Moved> {
        Some(self.moved(!dry_run, None))
    }

    async fn run(&self, book: &mut Runbook<'_>) -> Result<Moved, Stopped<Moved>> {
        let saved = saved_offsets(&self.group, &self.current);
        let path = self.save_restore_point(&saved)?;
        // Whole in the trail too: the restore point outlives this
        // machine's (or the ops task's) disk (`--from-audit`).
        book.applying()
            .progress(serde_json::json!({
                "saved_to": path.as_ref().map(|p| p.display().to_string()),
                "saved_offsets": saved,
            }))
            .map_err(|e| Stopped::by(e, serde_json::json!({"group": self.group})))?;
        let targets: Vec<(String, i32, i64)> = self
            .plan
            .iter()
            .map(|l| (l.topic.clone(), l.partition, l.new))
            .collect();
        let kafka = &self.env.settings.kafka;
        if let Err(e) = ticketing_kafka::commit_offsets(kafka, &self.group, &targets).await {
            let detail = serde_json::json!({"group": self.group, "error": e.to_string()});
            return Err(Stopped::by(unreachable(self.env, e), detail));
        }
        Ok(self.moved(true, path))
    }

    /// The plan is on stderr already; stdout has the JSON document only.
    fn render_report(_moved: &Moved) -> String {
        String::new()
    }

    fn after(&self, moved: &Moved) -> Option<String> {
        let restore = self.env.complete(&format!(
            "`opsctl kafka reset-offsets --group {} --from-audit --execute`",
            self.group
        ));
        Some(match &moved.saved_to {
            Some(path) => format!(
                "offsets moved; the previous ones are in {} and the audit trail (restore with --from-file {} or {restore})",
                path.display(),
                path.display()
            ),
            None => format!("offsets moved; the previous ones are in the audit trail (restore with {restore})"),
        })
    }
}
