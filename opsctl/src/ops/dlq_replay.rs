//! `dlq replay` as a [`Procedure`] of one action: re-send the chosen dead
//! letters to their source topics (each marked replayed and recorded as it
//! goes); letters a consumer already processed are absorbed as duplicates.

use serde::Serialize;
use ticketing_messaging::dead_letters::DeadLetter;

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::dlq::{self, ReplayPlan, Selection, READ_LIMIT};
use crate::ops::operation::{Procedure, Stopped};
use crate::runbook::Runbook;

/// A planned replay of dead letters.
pub struct LetterReplay<'a> {
    env: &'a Environment,
    letters: Vec<DeadLetter>,
    plan: ReplayPlan,
    rate: u32,
}

/// What a replay did: every letter re-sent, or some, then a failure.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Resent {
    All {
        changed: usize,
    },
    Partly {
        sent: usize,
        failed: Vec<String>,
        /// The command that resumes it.
        #[serde(skip)]
        again: String,
    },
}

impl<'a> LetterReplay<'a> {
    /// Reads the chosen letters and which consumers processed them.
    pub async fn observe(
        env: &'a Environment,
        chosen: &Selection,
        rate: u32,
    ) -> Result<LetterReplay<'a>, OpsError> {
        let letters = dlq::select(dlq::letters(env, READ_LIMIT).await?, chosen)?;
        let consumers = crate::ops::kafka::groups(env, None)?;
        let processed = dlq::processed(env, &letters).await?;
        let plan = dlq::plan(&letters, &consumers, &processed);
        Ok(LetterReplay {
            env,
            letters,
            plan,
            rate,
        })
    }
}

impl Procedure for LetterReplay<'_> {
    type Report = Resent;

    fn command(&self) -> &'static str {
        "dlq replay"
    }

    fn doing(&self) -> String {
        format!("re-sending {} dead letter(s)", self.letters.len())
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::json!({"rate": self.rate, "plan": self.plan})
    }

    fn changes(&self) -> usize {
        self.letters.len()
    }

    fn render(&self) -> String {
        let plan = &self.plan;
        let mut out = format!(
            "plan: re-send {} letter(s) to their source topics",
            plan.letters.len()
        );
        for g in &plan.groups {
            out.push_str(&format!(
                "\n  {}: {} already processed (skipped as duplicates), {} not processed (applied)",
                g.group, g.already_processed, g.not_processed
            ));
        }
        if plan.not_events > 0 {
            out.push_str(&format!(
                "\n  {} hold no event envelope: every consumer dead-letters them again",
                plan.not_events
            ));
        }
        out + "\n"
    }

    /// One action, no steps: a `progress` entry a letter re-sent.
    async fn run(&self, book: &mut Runbook<'_>) -> Result<Resent, Stopped<Resent>> {
        let applying = book.applying();
        let bar = book.progress_bar("re-sending", self.letters.len() as u64);
        let outcome = dlq::apply(self.env, &self.letters, self.rate, |letter| {
            bar.inc(1);
            applying
                .progress(serde_json::json!({"replayed": letter.id, "event_id": letter.event_id}))
        })
        .await;
        bar.finish_and_clear();
        let done = outcome.map_err(|e| {
            let detail = serde_json::json!({"error": e.to_string()});
            Stopped::by(e, detail)
        })?;
        if done.failed.is_empty() {
            return Ok(Resent::All { changed: done.sent });
        }
        let again = self.env.command_line(&[
            "dlq",
            "replay",
            "--rate",
            &self.rate.to_string(),
            "--execute",
        ]);
        Ok(Resent::Partly {
            sent: done.sent,
            failed: done.failed,
            again,
        })
    }

    fn render_report(resent: &Resent) -> String {
        match resent {
            Resent::All { changed } => {
                format!("re-sent {changed} letter(s); each is marked replayed\n")
            }
            Resent::Partly { sent, failed, again } => format!(
                "re-sent {sent} letter(s), then: {}; the rest are not marked, so to resume: {again}\n",
                failed.join("; ")
            ),
        }
    }

    /// Some letters were not re-sent: recorded as failed, exit 1.
    fn failed(resent: &Resent) -> bool {
        matches!(resent, Resent::Partly { .. })
    }
}
