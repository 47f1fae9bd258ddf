//! `outbox replay` as a [`Procedure`] of one action: re-send the chosen
//! services' events through a relay of each service's own, a progress bar
//! a service for people, JSON lines of progress for machines.

use serde::Serialize;
use ticketing_catalog::ServiceName;
use ticketing_messaging::replay::{ReplayOptions, ReplayPlan, Selection};

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::operation::{Procedure, Stopped};
use crate::ops::outbox::{replay_all, replay_plans, Plans, ReplayStopped};
use crate::runbook::Runbook;

/// A planned replay.
pub struct Replay<'a> {
    env: &'a Environment,
    selection: Selection,
    plans: Plans,
    options: ReplayOptions,
    execute: bool,
}

/// What a replay would re-send, by service.
#[derive(Serialize)]
struct PlanReport<'a> {
    execute: bool,
    plans: Vec<(&'static str, &'a ReplayPlan)>,
}

/// The run's one document: the plan and what was sent.
#[derive(Serialize)]
pub struct Replayed {
    plan: serde_json::Value,
    published: u64,
}

impl<'a> Replay<'a> {
    /// What `selection` would re-send from `only` (every publishing
    /// service when `None`).
    pub async fn observe(
        env: &'a Environment,
        only: Option<ServiceName>,
        selection: Selection,
        options: ReplayOptions,
        execute: bool,
    ) -> Result<Replay<'a>, OpsError> {
        let plans = replay_plans(env, only, &selection).await?;
        Ok(Replay {
            env,
            selection,
            plans,
            options,
            execute,
        })
    }

    fn total(&self) -> i64 {
        self.plans.iter().map(|(_, _, p)| p.events).sum()
    }

    fn plan_report(&self) -> serde_json::Value {
        serde_json::to_value(PlanReport {
            execute: self.execute,
            plans: self.plans.iter().map(|(s, _, p)| (s.as_str(), p)).collect(),
        })
        .unwrap_or_default()
    }
}

impl Procedure for Replay<'_> {
    type Report = Replayed;

    fn command(&self) -> &'static str {
        "outbox replay"
    }

    fn doing(&self) -> String {
        "re-sending outbox events".into()
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::json!({"selection": self.selection, "events": self.total(), "rate": self.options.rate_per_second})
    }

    fn changes(&self) -> usize {
        usize::try_from(self.total()).unwrap_or_default()
    }

    fn render(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .plans
            .iter()
            .flat_map(|(s, _, p)| {
                p.by_type.iter().map(move |t| {
                    vec![
                        s.as_str().to_owned(),
                        t.event_type.clone(),
                        t.topic.clone(),
                        t.events.to_string(),
                    ]
                })
            })
            .collect();
        format!(
            "plan: re-send {} event(s){}\n{}",
            self.total(),
            match &self.selection {
                Selection::Unsent => " not yet marked sent".to_owned(),
                Selection::Range { since, until } =>
                    format!(" written from {since} to {until}, sent or not (consumers deduplicate)"),
            },
            crate::table::table(&["SERVICE", "EVENT TYPE", "TOPIC", "EVENTS"], &rows)
        )
    }

    fn plan_document(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({"plan": self.plan_report()}))
    }

    fn label(&self) -> &'static str {
        "replay"
    }

    fn resume(&self, _step: &str) -> String {
        "run the replay again: what was sent is marked sent".into()
    }

    /// One action, no steps: the replay is recorded by its end.
    async fn run(&self, book: &mut Runbook<'_>) -> Result<Replayed, Stopped<Replayed>> {
        let json = book.is_json();
        let teller = book.teller();
        // indicatif hides the bar when stderr is not a terminal (CI logs).
        let mut bar: Option<(String, indicatif::ProgressBar)> = None;
        let published = replay_all(self.env, &self.plans, &self.options, |p| {
            if json {
                teller.tell(None, &serde_json::json!({"progress": p}));
                return;
            }
            if bar.as_ref().is_none_or(|(schema, _)| *schema != p.schema) {
                if let Some((_, done)) = bar.take() {
                    done.finish();
                }
                bar = Some((p.schema.clone(), book.progress_bar(&p.schema, p.total)));
            }
            if let Some((_, b)) = &bar {
                b.set_position(p.published);
                b.set_message(format!("{:.0} events/s", p.events_per_second));
            }
        })
        .await;
        if let Some((_, done)) = bar {
            done.finish();
        }
        match published {
            Ok(published) => Ok(Replayed {
                plan: self.plan_report(),
                published,
            }),
            Err(ReplayStopped {
                service,
                published_before,
                error,
            }) => {
                let detail = serde_json::json!({"service": service.as_str(), "error": error, "published_before": published_before});
                let error = OpsError::Failed(anyhow::anyhow!("{service}: {error}"));
                Err(Stopped::by(error, detail))
            }
        }
    }

    fn render_report(replayed: &Replayed) -> String {
        format!("re-sent {} event(s)\n", replayed.published)
    }
}
