//! `reserved purchase` as a [`Procedure`]: one runbook step a purchase, in
//! order, the first failure stopping the rest; a run repeated buys only
//! what is missing (each purchase carries its deterministic id).

use chrono::{DateTime, Utc};

use super::aws::{plan, Clients, Purchased};
use super::plan::{Line, Plan};
use crate::change::Applying;
use crate::error::OpsError;
use crate::ops::operation::{Procedure, Stopped};
use crate::ops::profile::SizeProfile;
use crate::runbook::Runbook;

/// What to buy, as the plan found it.
pub struct Purchase<'a> {
    clients: &'a Clients,
    pub plan: Plan,
}

impl<'a> Purchase<'a> {
    /// Reads the offerings and what is held for `profile`'s footprint.
    pub async fn observe(
        clients: &'a Clients,
        profile: SizeProfile,
        now: DateTime<Utc>,
    ) -> Result<Purchase<'a>, OpsError> {
        Ok(Purchase {
            clients,
            plan: plan(clients, profile, now).await?,
        })
    }

    fn buys(&self) -> Vec<&Line> {
        self.plan
            .lines
            .iter()
            .filter(|l| l.to_buy > 0 && l.offering.is_some())
            .collect()
    }

    fn covered(&self) -> Vec<String> {
        self.plan
            .lines
            .iter()
            .filter(|l| l.to_buy == 0)
            .map(|l| l.class.clone())
            .collect()
    }

    /// Buys one line: whether it is new (not bought by an earlier run).
    async fn buy(&self, line: &Line, applying: &Applying) -> Result<(bool, String), String> {
        let Some(offering) = &line.offering else {
            return Ok((false, "no offering".into()));
        };
        let bought = self
            .clients
            .buy(line.engine, &offering.id, &line.reservation_id, line.to_buy)
            .await;
        let (new, action, detail) = match bought {
            Ok(()) => (
                true,
                "bought",
                format!("{} x {} bought", line.to_buy, line.class),
            ),
            // Our id already taken: the purchase was made before.
            Err(e) if e.contains("AlreadyExists") => (
                false,
                "already-bought",
                "bought by an earlier run".to_owned(),
            ),
            Err(e) => return Err(e),
        };
        applying
            .progress(serde_json::json!({"action": action, "id": line.reservation_id, "class": line.class, "count": line.to_buy, "offering": offering.id}))
            .map_err(|e| e.to_string())?;
        Ok((new, detail))
    }
}

impl Procedure for Purchase<'_> {
    type Report = Purchased;

    fn command(&self) -> &'static str {
        "reserved purchase"
    }

    fn doing(&self) -> String {
        "buying reserved capacity".into()
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::to_value(self.buys()).unwrap_or_default()
    }

    fn changes(&self) -> usize {
        self.buys().len()
    }

    fn render(&self) -> String {
        let mut out = render_plan(&self.plan);
        // A class with no offering (ElastiCache T2 reservations can no
        // longer be bought, for one) is reported; the others go on.
        for p in self.plan.lines.iter().filter_map(|l| l.problem.as_deref()) {
            out.push_str(&format!(
                "warning: {p}; that line is not bought (the others are)\n"
            ));
        }
        out
    }

    fn label(&self) -> &'static str {
        "reserved"
    }

    fn resume(&self, _step: &str) -> String {
        "run the command again: what was bought is covered; check the AWS credentials and region"
            .to_owned()
    }

    fn prints_its_own_result(&self) -> bool {
        true
    }

    /// Nothing to buy is an outcome (everything covered); a dry run is not.
    fn unchanged(&self, dry_run: bool) -> Option<Purchased> {
        (!dry_run).then(|| Purchased {
            bought: vec![],
            already_covered: self.covered(),
        })
    }

    async fn run(&self, book: &mut Runbook<'_>) -> Result<Purchased, Stopped<Purchased>> {
        let applying = book.applying();
        let mut bought = Vec::new();
        for line in self.buys() {
            let mut new = false;
            let name = format!("buy {}", line.reservation_id);
            let step = book.step(&name, async {
                let (fresh, detail) = self.buy(line, applying).await?;
                new = fresh;
                Ok::<_, String>(detail)
            });
            if let Err(e) = step.await {
                let detail = serde_json::json!({"id": line.reservation_id, "error": e.to_string(), "bought_before": bought});
                return Err(Stopped::by(e, detail));
            }
            if new {
                bought.push(line.reservation_id.clone());
            }
        }
        Ok(Purchased {
            bought,
            already_covered: self.covered(),
        })
    }

    fn render_report(outcome: &Purchased) -> String {
        format!(
            "bought: {}\nalready covered: {}\n",
            if outcome.bought.is_empty() {
                "nothing".into()
            } else {
                outcome.bought.join(", ")
            },
            outcome.already_covered.join(", ")
        )
    }
}

/// The plan as a table, and its monthly effect.
pub fn render_plan(plan: &Plan) -> String {
    let rows: Vec<Vec<String>> = plan
        .lines
        .iter()
        .map(|l| {
            vec![
                format!("{:?}", l.engine).to_lowercase(),
                l.class.clone(),
                format!("{}/{}", l.covered.min(l.needed), l.needed),
                if l.to_buy > 0 {
                    format!("BUY {} as {}", l.to_buy, l.reservation_id)
                } else {
                    "covered".into()
                },
                l.offering
                    .as_ref()
                    .map_or("-".into(), |o| format!("{} (${}/h)", o.id, o.hourly)),
                format!("{:.2}", l.on_demand_monthly),
                format!("{:.2}", l.after_monthly),
                l.problem.clone().unwrap_or_default(),
            ]
        })
        .collect();
    format!(
        "{}monthly: ${:.2} on demand -> ${:.2} with the reservations\n",
        crate::table::table(
            &[
                "ENGINE",
                "CLASS",
                "COVERED",
                "ACTION",
                "OFFERING",
                "ON-DEMAND $/MO",
                "RESERVED $/MO",
                "PROBLEM"
            ],
            &rows
        ),
        plan.before_monthly,
        plan.after_monthly
    )
}
