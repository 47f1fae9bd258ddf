//! `lock break` as a [`Procedure`] of one action: remove the lock that was
//! shown (one its holder left behind), never one taken again since. The
//! only change that does not take the lock itself.

use serde::Serialize;

use crate::environment::Environment;
use crate::error::OpsError;
use crate::lock::{Holder, LockTable};
use crate::ops::operation::{Procedure, Stopped};
use crate::runbook::Runbook;

/// The lock as it was found.
pub struct Break<'a> {
    env: &'a Environment,
    table: LockTable,
    holder: Option<Holder>,
}

/// What `lock break` prints: the plan when nothing changed, or the lock it
/// broke.
#[derive(Serialize)]
pub struct Broken {
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<serde_json::Value>,
    changed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    broke: Option<Holder>,
    #[serde(skip)]
    env: String,
}

impl<'a> Break<'a> {
    /// The holder of `table`'s lock now.
    pub fn observe(env: &'a Environment, table: LockTable) -> Result<Break<'a>, OpsError> {
        let holder = read_holder(&table)?;
        Ok(Break { env, table, holder })
    }
}

/// Who holds `table`'s lock, or what to check when it cannot be read.
pub fn read_holder(table: &LockTable) -> Result<Option<Holder>, OpsError> {
    table.status().map_err(|e| {
        OpsError::usage(
            e.to_string(),
            "check the AWS credentials and region for this environment (dynamodb:GetItem)",
        )
    })
}

/// The lock in one line: free, or who holds it until when.
pub fn describe(table: &LockTable, holder: Option<&Holder>) -> String {
    match holder {
        None => format!(
            "the {} change lock is free ({})",
            table.env(),
            table.table()
        ),
        Some(h) => format!(
            "the {} change lock is held by {h}; {} {}",
            table.env(),
            if h.stale {
                "its lease ran out at"
            } else {
                "its lease runs to"
            },
            h.expires.format("%Y-%m-%d %H:%M:%S UTC")
        ),
    }
}

impl Procedure for Break<'_> {
    type Report = Broken;

    fn command(&self) -> &'static str {
        "lock break"
    }

    fn doing(&self) -> String {
        "breaking the change lock".into()
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::json!({
            "env": self.table.env(),
            "action": "break",
            "holder": self.holder,
        })
    }

    fn changes(&self) -> usize {
        usize::from(self.holder.is_some())
    }

    fn render(&self) -> String {
        describe(&self.table, self.holder.as_ref()) + "\n"
    }

    /// It removes the lock: it cannot hold it too.
    fn takes_lock(&self) -> bool {
        false
    }

    fn prints_its_own_result(&self) -> bool {
        true
    }

    fn unchanged(&self, _dry_run: bool) -> Option<Broken> {
        Some(Broken {
            plan: Some(self.plan()),
            changed: 0,
            broke: None,
            env: self.table.env().to_owned(),
        })
    }

    async fn run(&self, _book: &mut Runbook<'_>) -> Result<Broken, Stopped<Broken>> {
        let Some(seen) = &self.holder else {
            return self.unchanged(false).ok_or_else(|| {
                Stopped::by(
                    OpsError::Failed(anyhow::anyhow!("nothing to break")),
                    serde_json::json!({"changed": 0}),
                )
            });
        };
        match self.table.break_lock(seen) {
            Ok(true) => Ok(Broken {
                plan: None,
                changed: 1,
                broke: Some(seen.clone()),
                env: self.table.env().to_owned(),
            }),
            Ok(false) => Err(Stopped::by(
                OpsError::usage(
                    "the lock changed hands or was released since it was shown; nothing was removed",
                    format!(
                        "see who holds it now: `{}`",
                        self.env.command_line(&["lock", "status"])
                    ),
                ),
                serde_json::json!({"changed": 0, "why": "the lock changed hands or was released since it was shown"}),
            )),
            Err(e) => {
                let detail = serde_json::json!({"error": e.to_string()});
                Err(Stopped::by(OpsError::Failed(e.into()), detail))
            }
        }
    }

    /// People read the plan on stderr; only a broken lock has more to say.
    fn render_report(report: &Broken) -> String {
        match &report.broke {
            Some(seen) => format!("broke the {} change lock held by {seen}", report.env),
            None => String::new(),
        }
    }
}
