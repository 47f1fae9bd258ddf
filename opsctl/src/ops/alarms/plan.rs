//! The alarms and topics as CloudWatch and SNS have them against the
//! definitions (the diff in `compare`), and the requests that apply it.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, Statistic,
};
use serde::Serialize;

pub use super::compare::FieldChange;
use super::compare::{diff, found};
use super::spec::{check_billing_region, wanted, AlarmSpec, Group};
use crate::environment::Environment;
use crate::error::OpsError;

#[derive(Serialize, Debug, Clone)]
pub struct AlarmPlan {
    pub alarm: String,
    pub region: String,
    /// `create`, `update` or `ok`.
    pub action: &'static str,
    pub changes: Vec<FieldChange>,
    #[serde(skip)]
    pub wanted: AlarmSpec,
}

#[derive(Serialize, Debug, Clone)]
pub struct TopicPlan {
    pub topic: String,
    pub region: String,
    pub exists: bool,
    /// Confirmed subscriptions (0: a firing alarm reaches nobody).
    pub subscribers: usize,
}

#[derive(Serialize, Debug, Clone)]
pub struct Plan {
    pub topics: Vec<TopicPlan>,
    pub alarms: Vec<AlarmPlan>,
}

impl Plan {
    pub fn changes(&self) -> bool {
        self.topics.iter().any(|t| !t.exists) || self.alarms.iter().any(|a| a.action != "ok")
    }

    /// The plan without the billing alarms and their topics: they are the
    /// AWS account's, not an environment's, and only `--env prod` applies
    /// them (its confirmation, its audit trail).
    pub fn without_billing(mut self) -> Plan {
        let alarms: Vec<&str> = ticketing_catalog::alarms::BILLING
            .iter()
            .map(|b| b.name)
            .collect();
        let topics: Vec<&str> = ticketing_catalog::alarms::BILLING
            .iter()
            .map(|b| b.topic)
            .collect();
        self.alarms.retain(|a| !alarms.contains(&a.alarm.as_str()));
        self.topics.retain(|t| !topics.contains(&t.topic.as_str()));
        self
    }
}

pub struct Clients {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
}

pub async fn clients_by_region(
    ctx: &Environment,
    specs: &[AlarmSpec],
) -> Result<BTreeMap<String, Clients>, OpsError> {
    let mut out = BTreeMap::new();
    for spec in specs {
        if out.contains_key(&spec.region) {
            continue;
        }
        let sdk = crate::aws::sdk_config_in(ctx, &spec.region).await?;
        out.insert(
            spec.region.clone(),
            Clients {
                cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
                sns: aws_sdk_sns::Client::new(&sdk),
            },
        );
    }
    Ok(out)
}

/// Topic name -> ARN for the topics that exist in a region.
pub async fn topic_arns(sns: &aws_sdk_sns::Client) -> Result<BTreeMap<String, String>, OpsError> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = sns
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .map_err(crate::aws::call("SNS ListTopics failed"))?;
        for t in page.topics() {
            if let Some(arn) = t.topic_arn() {
                let name = arn.rsplit(':').next().unwrap_or(arn);
                out.insert(name.to_owned(), arn.to_owned());
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(out);
        }
    }
}

pub async fn plan(
    ctx: &Environment,
    group: Group,
) -> Result<(Plan, BTreeMap<String, Clients>), OpsError> {
    check_billing_region(group, &ctx.region, ctx.region_explicit)?;
    let env = ctx.metrics_environment();
    let brokers = if matches!(group, Group::Kafka | Group::All) {
        super::size::kafka_brokers(ctx, &env).await?
    } else {
        ticketing_catalog::footprint::MVP.brokers
    };
    let specs = wanted(group, &ctx.region, &env, brokers);
    let clients = clients_by_region(ctx, &specs).await?;
    let mut topics = Vec::new();
    let mut alarms = Vec::new();
    for (region, c) in &clients {
        let existing = topic_arns(&c.sns).await?;
        let here: Vec<&AlarmSpec> = specs.iter().filter(|s| &s.region == region).collect();
        let mut names: Vec<&str> = here
            .iter()
            .flat_map(|s| s.actions.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let subscribers = match existing.get(name) {
                Some(arn) => super::subscribers::confirmed(&c.sns, arn).await?,
                None => 0,
            };
            topics.push(TopicPlan {
                topic: name.to_owned(),
                region: region.clone(),
                exists: existing.contains_key(name),
                subscribers,
            });
        }
        let described = c
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(here.iter().map(|s| s.name.clone()).collect()))
            .send()
            .await
            .map_err(crate::aws::call("CloudWatch DescribeAlarms failed"))?;
        for spec in here {
            let now = described
                .metric_alarms()
                .iter()
                .find(|a| a.alarm_name() == Some(spec.name.as_str()))
                .map(|a| found(a, region));
            let (action, changes) = match &now {
                None => ("create", Vec::new()),
                Some(now) => {
                    let changes = diff(now, spec);
                    (if changes.is_empty() { "ok" } else { "update" }, changes)
                }
            };
            alarms.push(AlarmPlan {
                alarm: spec.name.clone(),
                region: region.clone(),
                action,
                changes,
                wanted: spec.clone(),
            });
        }
    }
    Ok((Plan { topics, alarms }, clients))
}

pub fn put_request(
    cw: &aws_sdk_cloudwatch::Client,
    spec: &AlarmSpec,
    arns: &BTreeMap<String, String>,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    let mut req = cw
        .put_metric_alarm()
        .alarm_name(&spec.name)
        .alarm_description(&spec.description)
        .actions_enabled(true)
        .evaluation_periods(spec.evaluation_periods)
        .set_datapoints_to_alarm(spec.datapoints_to_alarm)
        .threshold(spec.threshold)
        .comparison_operator(ComparisonOperator::from(spec.comparison.as_str()))
        .treat_missing_data(&spec.treat_missing_data)
        .set_period(spec.period);
    for topic in &spec.actions {
        if let Some(arn) = arns.get(topic) {
            req = req.alarm_actions(arn);
        }
    }
    if let Some((ns, name)) = spec.metric.as_deref().and_then(|m| m.rsplit_once('/')) {
        req = req.namespace(ns).metric_name(name);
    }
    if let Some(stat) = &spec.statistic {
        req = req.statistic(Statistic::from(stat.as_str()));
    }
    for (name, value) in &spec.dimensions {
        req = req.dimensions(Dimension::builder().name(name).value(value).build());
    }
    for q in &spec.queries {
        let mut query = MetricDataQuery::builder()
            .id(&q.id)
            .return_data(q.return_data);
        if let Some(e) = &q.expression {
            query = query.expression(e);
        }
        if let Some((ns, metric, stat, period)) = &q.stat {
            let mut m = Metric::builder().namespace(ns).metric_name(metric);
            for (k, v) in &q.dimensions {
                m = m.dimensions(Dimension::builder().name(k).value(v).build());
            }
            query = query.metric_stat(
                MetricStat::builder()
                    .metric(m.build())
                    .stat(stat)
                    .period(*period)
                    .build(),
            );
        }
        req = req.metrics(query.build());
    }
    req
}
