//! Applying an alarms plan: the missing topics created and the alarms
//! that differ put, region by region (an alarm's actions name its
//! region's topics), through the one driver.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use super::plan::{put_request, topic_arns, AlarmPlan, Clients, Plan, TopicPlan};
use crate::ops::operation::Operation;

/// One change: a topic to create or an alarm to put.
#[derive(Serialize, Debug)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    Topic(TopicPlan),
    Alarm(Box<AlarmPlan>),
}

impl Step {
    fn region(&self) -> &str {
        match self {
            Step::Topic(t) => &t.region,
            Step::Alarm(a) => &a.region,
        }
    }
}

/// A plan and the clients of its regions, with the topics' ARNs as they
/// become known (listed once a region, then each created one added).
pub struct AlarmsApply {
    plan: Plan,
    clients: BTreeMap<String, Clients>,
    steps: Vec<Step>,
    arns: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

impl AlarmsApply {
    /// The changes in order: each region's missing topics, then its
    /// alarms that differ.
    pub fn new(plan: Plan, clients: BTreeMap<String, Clients>) -> AlarmsApply {
        let mut steps = Vec::new();
        for region in clients.keys() {
            let topics = plan
                .topics
                .iter()
                .filter(|t| &t.region == region && !t.exists);
            steps.extend(topics.cloned().map(Step::Topic));
            let alarms = plan
                .alarms
                .iter()
                .filter(|a| &a.region == region && a.action != "ok");
            steps.extend(alarms.cloned().map(|a| Step::Alarm(Box::new(a))));
        }
        AlarmsApply {
            plan,
            clients,
            steps,
            arns: Mutex::new(BTreeMap::new()),
        }
    }

    /// The topics' ARNs of `region` (listed the first time).
    async fn arns(&self, region: &str, c: &Clients) -> Result<BTreeMap<String, String>, String> {
        if let Some(known) = self.known(region) {
            return Ok(known);
        }
        let listed = topic_arns(&c.sns).await.map_err(|e| e.to_string())?;
        if let Ok(mut all) = self.arns.lock() {
            all.insert(region.to_owned(), listed.clone());
        }
        Ok(listed)
    }

    fn known(&self, region: &str) -> Option<BTreeMap<String, String>> {
        self.arns.lock().ok()?.get(region).cloned()
    }
}

impl Operation for AlarmsApply {
    type Change = Step;
    fn command(&self) -> &'static str {
        "alarms apply"
    }
    fn doing(&self) -> String {
        "changing CloudWatch alarms".to_owned()
    }

    fn changes(&self) -> Vec<&Step> {
        self.steps.iter().collect()
    }

    fn render(&self) -> String {
        render(&self.plan)
    }

    async fn apply(&self, step: &Step) -> Result<(), String> {
        let region = step.region();
        let c = self
            .clients
            .get(region)
            .ok_or_else(|| format!("no client for {region}"))?;
        let arns = self.arns(region, c).await?;
        match step {
            Step::Topic(t) => {
                let out = c
                    .sns
                    .create_topic()
                    .name(&t.topic)
                    .send()
                    .await
                    .map_err(|e| crate::aws::sdk_error(&e).to_string())?;
                if let (Some(arn), Ok(mut all)) = (out.topic_arn(), self.arns.lock()) {
                    all.entry(region.to_owned())
                        .or_default()
                        .insert(t.topic.clone(), arn.to_owned());
                }
                Ok(())
            }
            Step::Alarm(a) => put_request(&c.cloudwatch, &a.wanted, &arns)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws::sdk_error(&e).to_string()),
        }
    }

    fn failure(step: &Step, error: &str) -> String {
        match step {
            Step::Topic(t) => format!("creating SNS topic {} failed: {error}", t.topic),
            Step::Alarm(a) => format!("putting alarm {} failed: {error}", a.alarm),
        }
    }

    fn summary(&self, done: usize) -> String {
        format!("applied {done} change(s)\n")
    }
}

/// The plan for people: each topic and alarm, what applying does, and
/// each alarm's drift.
pub fn render(plan: &Plan) -> String {
    let mut rows = Vec::new();
    for t in &plan.topics {
        rows.push(vec![
            format!("sns:{}", t.topic),
            t.region.clone(),
            if t.exists {
                "ok".into()
            } else {
                "CREATE".into()
            },
            match t.subscribers {
                0 => "NO CONFIRMED SUBSCRIBER: a firing alarm reaches nobody".to_owned(),
                n => format!("{n} confirmed subscriber(s)"),
            },
        ]);
    }
    for a in &plan.alarms {
        let detail = a
            .changes
            .iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.now, c.wanted))
            .collect::<Vec<_>>()
            .join("\n");
        let action = match a.action {
            "ok" => "ok".to_owned(),
            other => other.to_uppercase(),
        };
        let mut lines = detail.lines();
        rows.push(vec![
            a.alarm.clone(),
            a.region.clone(),
            action,
            lines.next().unwrap_or_default().to_owned(),
        ]);
        for more in lines {
            rows.push(vec![
                String::new(),
                String::new(),
                String::new(),
                more.to_owned(),
            ]);
        }
    }
    crate::table::table(
        &["RESOURCE", "REGION", "ACTION", "DRIFT (now -> wanted)"],
        &rows,
    )
}
