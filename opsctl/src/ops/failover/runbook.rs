//! The failover drill as a [`Procedure`]: stop the leader, wait for a new
//! serving leader, stop the probes, wait for the outboxes to drain, start
//! the broker again, wait until it is in sync, count the drill's events --
//! each a step on the runbook engine. Whatever step fails, the broker is
//! started again before the drill stops.

use std::time::{Duration, Instant};

use ticketing_catalog::aws;
use ticketing_catalog::topics;
use ticketing_config::Profile;

use super::drill::{
    drained, executor, in_sync, node, published_ids, serving_leader, written_between, Probes,
    Report,
};
use super::plan::{plan, tally, DrillPlan, NodeAction};
use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops;
use crate::ops::operation::{Procedure, Stopped};
use crate::runbook::Runbook;

/// A planned drill: which broker stops, and how long each wait may take.
pub struct Drill<'a> {
    env: &'a Environment,
    pub plan: DrillPlan,
    timeout: Duration,
}

/// What the steps measure as they go.
#[derive(Default)]
struct Measures {
    new_leader: i32,
    rto: f64,
    probes_sent: u64,
    drained: f64,
    rejoined: f64,
}

impl<'a> Drill<'a> {
    /// Reads the cluster's leaders of `physical` and plans the stop of the
    /// first partition's leader.
    pub async fn observe(
        env: &'a Environment,
        physical: &str,
        timeout: Duration,
    ) -> Result<Drill<'a>, OpsError> {
        let (brokers, partitions) = ticketing_kafka::partition_leaders(&env.settings.kafka, physical)
            .await
            .map_err(|e| {
                OpsError::usage(
                    format!("the cluster's metadata for `{physical}` could not be read: {e}"),
                    "check `opsctl kafka health` and kafka.bootstrap_servers (all of the cluster's brokers)",
                )
            })?;
        let plan = plan(physical, &brokers, &partitions, &executor(env)?)
            .map_err(|r| OpsError::usage(r.to_string(), "nothing was stopped"))?;
        Ok(Drill { env, plan, timeout })
    }

    /// The steps up to the count, `m` filled as they go; `probes` is taken
    /// when they stop.
    async fn steps(
        &self,
        book: &mut Runbook<'_>,
        probes: &mut Option<Probes>,
        m: &mut Measures,
    ) -> Result<(), OpsError> {
        let (env, plan, timeout) = (self.env, &self.plan, self.timeout);
        let stopped = Instant::now();
        let deadline = stopped + timeout;
        book.step("stop the leader", async {
            node(env, &plan.action, true, timeout).await?;
            Ok::<_, OpsError>(format!("broker {} stopped", plan.leader))
        })
        .await?;
        book.step("wait for a serving leader", async {
            m.new_leader = serving_leader(env, plan, deadline).await.ok_or_else(|| {
                OpsError::Failed(anyhow::anyhow!(
                    "no other broker took over {}/{} within {} s",
                    plan.topic,
                    plan.partition,
                    timeout.as_secs()
                ))
            })?;
            m.rto = stopped.elapsed().as_secs_f64();
            Ok::<_, OpsError>(format!(
                "broker {} leads and serves after {:.1} s",
                m.new_leader, m.rto
            ))
        })
        .await?;
        book.step("stop the probes", async {
            if let Some(running) = probes.take() {
                m.probes_sent = running.finish().await?;
            }
            Ok::<_, OpsError>(format!(
                "{} probe event(s) written while the broker was down",
                m.probes_sent
            ))
        })
        .await?;
        book.step("wait for the outboxes", async {
            drained(env, deadline, timeout).await?;
            m.drained = stopped.elapsed().as_secs_f64();
            Ok::<_, OpsError>(format!("outboxes drained after {:.1} s", m.drained))
        })
        .await?;
        let starting = Instant::now();
        book.step("start the broker again", async {
            node(env, &plan.action, false, timeout).await?;
            Ok::<_, OpsError>(format!("broker {} started", plan.leader))
        })
        .await?;
        book.step("wait until in sync", async {
            in_sync(env, plan, starting + timeout, timeout).await?;
            m.rejoined = starting.elapsed().as_secs_f64();
            Ok::<_, OpsError>(format!(
                "broker {} back in sync after {:.1} s",
                plan.leader, m.rejoined
            ))
        })
        .await
    }

    /// After a failed step: the probes stopped, and the broker started
    /// again whatever failed (it must not stay down).
    async fn recover(&self, probes: Option<Probes>, error: OpsError) -> Stopped<Report> {
        if let Some(running) = probes {
            let _ = running.finish().await;
        }
        let restarted = node(self.env, &self.plan.action, false, self.timeout).await;
        let detail = serde_json::json!({
            "error": error.to_string(),
            "broker_started_again": restarted.is_ok(),
        });
        let error = OpsError::Failed(anyhow::anyhow!(
            "the drill failed: {error}; broker {} was {}",
            self.plan.leader,
            match restarted {
                Ok(()) => "started again".to_owned(),
                Err(e) => format!("NOT started again ({e}): start it by hand"),
            }
        ));
        Stopped::by(error, detail)
    }
}

impl Procedure for Drill<'_> {
    type Report = Report;

    fn command(&self) -> &'static str {
        "kafka failover-drill"
    }

    fn doing(&self) -> String {
        "stopping a Kafka broker".into()
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::to_value(&self.plan).unwrap_or_default()
    }

    /// One broker stopped (and started again).
    fn changes(&self) -> usize {
        1
    }

    fn render(&self) -> String {
        describe(&self.plan, self.env.profile) + "\n"
    }

    fn label(&self) -> &'static str {
        "drill"
    }

    fn resume(&self, _step: &str) -> String {
        "the broker is started again before the drill stops; run the drill again once the cause is fixed".into()
    }

    async fn run(&self, book: &mut Runbook<'_>) -> Result<Report, Stopped<Report>> {
        let env = self.env;
        let began = chrono::Utc::now() - chrono::Duration::seconds(1);
        let start_marks = ops::outbox::marks(env)
            .await
            .map_err(|e| Stopped::by(e, serde_json::json!({"step": "mark the outboxes"})))?;
        let mut probes = Some(
            Probes::start(env, &self.plan.topic)
                .map_err(|e| Stopped::by(e, serde_json::json!({"step": "start the probes"})))?,
        );
        let mut m = Measures::default();
        if let Err(e) = self.steps(book, &mut probes, &mut m).await {
            return Err(self.recover(probes, e).await);
        }
        let mut tallied = None;
        let counted = book
            .step("count the drill's events", async {
                let written =
                    written_between(&start_marks, &ops::outbox::marks(env).await?).await?;
                let found = published_ids(env, began).await?;
                let t = tally(&written, &found);
                let line = format!(
                    "{} of {} lost, {} duplicated",
                    t.events_lost, t.events_written, t.events_duplicated
                );
                tallied = Some(t);
                Ok::<_, OpsError>(line)
            })
            .await;
        if let Err(e) = counted {
            return Err(Stopped::by(e, serde_json::json!({"step": "count"})));
        }
        let Some(tally) = tallied else {
            let e = OpsError::Failed(anyhow::anyhow!("the count step gave no tally"));
            return Err(Stopped::by(e, serde_json::json!({"step": "count"})));
        };
        let met = tally.events_lost as u64 <= topics::SCALE_10X_FAILOVER_RPO_EVENTS
            && m.rto <= topics::SCALE_10X_FAILOVER_RTO_SECONDS as f64;
        Ok(Report {
            plan: self.plan.clone(),
            new_leader: m.new_leader,
            rto_seconds: m.rto,
            outbox_drained_seconds: m.drained,
            rejoined_seconds: m.rejoined,
            probes_sent: m.probes_sent,
            tally,
            rto_target_seconds: topics::SCALE_10X_FAILOVER_RTO_SECONDS,
            rpo_target_events: topics::SCALE_10X_FAILOVER_RPO_EVENTS,
            met,
        })
    }

    fn render_report(r: &Report) -> String {
        render(r)
    }

    fn met(report: &Report) -> bool {
        report.met
    }
}

/// The plan as one line: which broker stops, how, and what is measured.
fn describe(plan: &DrillPlan, profile: Profile) -> String {
    let how = match &plan.action {
        NodeAction::Local { stop, .. } => format!("`{stop}`"),
        NodeAction::Ssm { address, .. } => format!(
            "SSM {} on the instances tagged {}={} (only {address} acts)",
            aws::RUN_SHELL_DOCUMENT,
            aws::KAFKA_BROKER_OF_TAG_KEY,
            profile.as_str()
        ),
    };
    format!(
        "plan: stop broker {} ({}), leader of {}/{} (replicas {:?}, all in sync), by {how}; \
         measure the time to a new serving leader and to a drained outbox; start it again and wait \
         until it is back in sync; count the events of the drill lost or duplicated \
         (targets: RTO {} s, {} event(s) lost)",
        plan.leader,
        plan.leader_address,
        plan.topic,
        plan.partition,
        plan.replicas,
        topics::SCALE_10X_FAILOVER_RTO_SECONDS,
        topics::SCALE_10X_FAILOVER_RPO_EVENTS
    )
}

fn render(r: &Report) -> String {
    let rows = vec![
        vec![
            "RTO (new leader serving)".to_owned(),
            format!("{:.1} s", r.rto_seconds),
            format!("{} s", r.rto_target_seconds),
        ],
        vec![
            "outbox drained".to_owned(),
            format!("{:.1} s", r.outbox_drained_seconds),
            String::new(),
        ],
        vec![
            "RPO (events lost)".to_owned(),
            format!("{} of {}", r.tally.events_lost, r.tally.events_written),
            r.rpo_target_events.to_string(),
        ],
        vec![
            "probe events (the drill's own)".to_owned(),
            r.probes_sent.to_string(),
            "written while the broker was down".to_owned(),
        ],
        vec![
            "events duplicated".to_owned(),
            r.tally.events_duplicated.to_string(),
            "absorbed by the consumers".to_owned(),
        ],
        vec![
            "stopped broker back in sync".to_owned(),
            format!("{:.1} s", r.rejoined_seconds),
            String::new(),
        ],
    ];
    format!(
        "broker {} stopped; broker {} took over {}/{}\n{}{}\n",
        r.plan.leader,
        r.new_leader,
        r.plan.topic,
        r.plan.partition,
        crate::table::table(&["MEASURE", "MEASURED", "TARGET"], &rows),
        if r.met {
            "the design's targets are met"
        } else {
            "the design's targets are NOT met"
        }
    )
}
