//! What `portone rollback` and `portone switch-back` report: where, from
//! which revision to which, the measured failure rate, and each step.

use serde::Serialize;

use crate::ops::payments::FailureRate;
use crate::runbook::StepLog;

/// A step of the run, with its duration.
#[derive(Serialize, Debug, Clone)]
pub struct Report {
    pub env: String,
    pub service: String,
    pub cluster: String,
    pub from: String,
    pub to: String,
    pub skipped: Vec<(i32, String)>,
    pub test_keys: bool,
    /// The measured payment failure rate and whether the runbook's trigger
    /// is met (None when CloudWatch could not be read).
    pub failure_rate: Option<FailureRate>,
    pub executed: bool,
    pub steps: Vec<StepLog>,
    /// What `--guard-sales` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<crate::ops::guard::GuardReport>,
}

impl Report {
    /// A run on `service` of `cluster` from task definition `from` to
    /// `to`, before anything is done.
    pub fn before(env: &str, service: &str, cluster: &str, from: &str, to: &str) -> Report {
        Report {
            env: env.into(),
            service: service.into(),
            cluster: cluster.into(),
            from: from.into(),
            to: to.into(),
            skipped: vec![],
            test_keys: false,
            failure_rate: None,
            executed: false,
            steps: vec![],
            guard: None,
        }
    }
}

/// One line on the failure rate and the runbook's trigger.
pub fn describe_rate(rate: &FailureRate) -> String {
    match rate.percent {
        Some(p) => format!(
            "payment failure rate over the last {} min in {}: {p:.1} % ({} failed, {} paid); the runbook's trigger (above {} %) is {}",
            rate.minutes,
            rate.env,
            rate.failures,
            rate.successes,
            rate.trigger_percent,
            if rate.trigger_met { "MET" } else { "not met" }
        ),
        None => format!(
            "no payments in {} over the last {} min: the runbook's trigger (above {} %) is not met",
            rate.env, rate.minutes, rate.trigger_percent
        ),
    }
}

pub fn render(r: &Report) -> String {
    let mut out = format!(
        "{} on {} ({}): {} -> {}{}\n",
        r.service,
        r.cluster,
        r.env,
        r.from.rsplit('/').next().unwrap_or(&r.from),
        r.to.rsplit('/').next().unwrap_or(&r.to),
        if r.test_keys {
            ", switching to the test keys"
        } else {
            ""
        }
    );
    for (n, why) in &r.skipped {
        out.push_str(&format!("  skipped revision {n}: {why}\n"));
    }
    if let Some(rate) = &r.failure_rate {
        out.push_str(&format!("  {}\n", describe_rate(rate)));
    }
    for s in &r.steps {
        out.push_str(&format!(
            "  {:<28} {:>6.1}s  {}  {}\n",
            s.step,
            s.seconds,
            if s.ok { "ok" } else { "FAILED" },
            s.detail
        ));
    }
    if let Some(g) = &r.guard {
        out.push_str(&format!("  {}\n", g.summary()));
    }
    out
}
