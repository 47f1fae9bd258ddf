//! `reservations reconcile` as a [`Procedure`] of one action: re-announce
//! every payment PortOne settled that the platform has not, through the
//! normal webhook path; the others are reported.

use serde::Serialize;

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::operation::{Procedure, Stopped};
use crate::ops::reconcile::{apply, plan, Line, Scope, Summary};
use crate::runbook::Runbook;

/// What a reconcile run found.
pub struct Reconcile<'a> {
    env: &'a Environment,
    scope: Scope,
    lines: Vec<Line>,
}

/// The reservations as planned (a run that changes nothing), or with each
/// one's result and the summary.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Reconciled {
    Planned(Vec<Line>),
    Applied {
        summary: Summary,
        reservations: Vec<Line>,
    },
}

impl<'a> Reconcile<'a> {
    pub async fn observe(env: &'a Environment, scope: Scope) -> Result<Reconcile<'a>, OpsError> {
        let lines = plan(env, &scope).await?;
        Ok(Reconcile { env, scope, lines })
    }

    fn to_announce(&self) -> usize {
        self.lines.iter().filter(|l| l.action == "announce").count()
    }
}

impl Procedure for Reconcile<'_> {
    type Report = Reconciled;

    fn command(&self) -> &'static str {
        "reservations reconcile"
    }

    fn doing(&self) -> String {
        "re-announcing payments".into()
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::json!({
            "older_than_seconds": self.scope.older_than.as_secs(),
            "since_seconds": self.scope.since.map(|s| s.as_secs()),
            "pending": self.lines.len(),
            "to_announce": self.to_announce(),
            "reservations": self.lines,
        })
    }

    fn changes(&self) -> usize {
        self.to_announce()
    }

    fn render(&self) -> String {
        format!(
            "plan: {} reservation(s) PENDING for over {} s; {} known to PortOne will be re-announced to the payment service\n",
            self.lines.len(),
            self.scope.older_than.as_secs(),
            self.to_announce()
        )
    }

    fn prints_its_own_result(&self) -> bool {
        true
    }

    fn unchanged(&self, _dry_run: bool) -> Option<Reconciled> {
        Some(Reconciled::Planned(self.lines.clone()))
    }

    /// One action, no steps: the results are recorded by its end.
    async fn run(&self, _book: &mut Runbook<'_>) -> Result<Reconciled, Stopped<Reconciled>> {
        let mut lines = self.lines.clone();
        match apply(self.env, &mut lines).await {
            Ok(summary) => Ok(Reconciled::Applied {
                summary,
                reservations: lines,
            }),
            Err(e) => {
                let detail = serde_json::json!({"error": e.to_string()});
                Err(Stopped::by(e, detail))
            }
        }
    }

    fn render_report(report: &Reconciled) -> String {
        match report {
            Reconciled::Planned(lines) => render(lines),
            Reconciled::Applied {
                summary,
                reservations,
            } => format!(
                "{}re-announced {}, unpaid {}, failed {}\n",
                render(reservations),
                summary.announced,
                summary.unpaid,
                summary.failed
            ),
        }
    }

    /// A payment that could not be re-announced: recorded as failed, exit 1.
    fn failed(report: &Reconciled) -> bool {
        matches!(report, Reconciled::Applied { summary, .. } if summary.failed > 0)
    }
}

fn render(lines: &[Line]) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            vec![
                l.reservation_id.to_string(),
                l.found.replace('_', " "),
                format!("{} s", l.age_seconds),
                l.amount.to_string(),
                l.portone.clone(),
                l.action.to_owned(),
                l.result.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    crate::table::table(
        &[
            "RESERVATION",
            "FOUND AS",
            "AGE",
            "AMOUNT",
            "PORTONE",
            "ACTION",
            "RESULT",
        ],
        &rows,
    )
}
