//! `opsctl alarms plan|apply [billing|payment|kafka|all]`: the platform's
//! CloudWatch alarms and their SNS topics, as `ticketing_catalog::alarms`
//! defines them. Plan reads the live alarms and shows every difference
//! (a changed threshold, a missing action) as a field-by-field diff; apply
//! creates the topics it needs and puts only the alarms that differ, so a
//! second run changes nothing.
//!
//! Billing metrics exist only in us-east-1: billing alarms always go there,
//! and an explicit `--region` elsewhere is refused.

use std::collections::BTreeMap;
use std::process::ExitCode;

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, Statistic,
};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use ticketing_catalog::{alarms as cat, metrics};

use crate::change::{self, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum AlarmsCommand {
    /// Show each alarm against its definition; exit 1 on drift.
    Plan(PlanArgs),
    /// Create the SNS topics and put the alarms that differ (with --execute).
    Apply(ApplyArgs),
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Billing,
    Payment,
    Kafka,
    All,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Which alarms.
    #[arg(value_enum, default_value = "all")]
    pub group: Group,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

/// One query of a metric-math alarm.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Query {
    pub id: String,
    /// The metric math expression, or
    pub expression: Option<String>,
    /// `(namespace, metric, stat, period)`.
    pub stat: Option<(String, String, String, i32)>,
    pub return_data: bool,
}

impl Query {
    fn what(&self) -> String {
        match (&self.expression, &self.stat) {
            (Some(e), _) => e.clone(),
            (None, Some((ns, m, stat, period))) => format!("{ns}/{m}/{stat}/{period}"),
            (None, None) => String::new(),
        }
    }
}

/// An alarm as wanted or as found, in comparable form. Actions are SNS
/// topic names (the account id is not part of what we compare).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    pub name: String,
    pub region: String,
    pub description: String,
    pub metric: Option<String>,
    pub statistic: Option<String>,
    pub dimensions: Vec<(String, String)>,
    pub period: Option<i32>,
    pub queries: Vec<Query>,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: Option<i32>,
    pub threshold: f64,
    pub comparison: String,
    pub treat_missing_data: String,
    pub actions: Vec<String>,
}

/// One differing field.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: &'static str,
    pub now: String,
    pub wanted: String,
}

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
}

#[derive(Serialize, Debug, Clone)]
pub struct Plan {
    pub topics: Vec<TopicPlan>,
    pub alarms: Vec<AlarmPlan>,
}

impl Plan {
    fn changes(&self) -> bool {
        self.topics.iter().any(|t| !t.exists) || self.alarms.iter().any(|a| a.action != "ok")
    }
}

fn description(what: &str, runbook: &str) -> String {
    format!("{what} Runbook: {}", cat::runbook(runbook))
}

/// The alarms of `group`; billing ones in us-east-1, the rest in `region`.
pub fn wanted(group: Group, region: &str) -> Vec<AlarmSpec> {
    let mut out = Vec::new();
    if matches!(group, Group::Billing | Group::All) {
        for b in cat::BILLING {
            out.push(AlarmSpec {
                name: b.name.into(),
                region: cat::BILLING_REGION.into(),
                description: description(
                    &format!(
                        "{}: estimated monthly AWS charges above ${:.0}.",
                        b.severity, b.threshold_usd
                    ),
                    cat::BILLING_RUNBOOK,
                ),
                metric: Some(format!(
                    "{}/{}",
                    cat::BILLING_NAMESPACE,
                    cat::BILLING_METRIC
                )),
                statistic: Some("Maximum".into()),
                dimensions: vec![("Currency".into(), "USD".into())],
                period: Some(cat::BILLING_PERIOD_SECONDS),
                queries: vec![],
                evaluation_periods: 1,
                datapoints_to_alarm: None,
                threshold: b.threshold_usd,
                comparison: "GreaterThanThreshold".into(),
                treat_missing_data: "missing".into(),
                actions: vec![b.topic.into()],
            });
        }
    }
    if matches!(group, Group::Payment | Group::All) {
        let period = cat::PAYMENT_FAILURE_RATE_PERIOD_SECONDS;
        let mut queries: Vec<Query> = cat::PAYMENT_FAILURE_RATE_INPUTS
            .iter()
            .map(|(id, metric)| Query {
                id: (*id).into(),
                expression: None,
                stat: Some((
                    metrics::NAMESPACE.into(),
                    (*metric).into(),
                    "Sum".into(),
                    period,
                )),
                return_data: false,
            })
            .collect();
        queries.push(Query {
            id: "failure_rate".into(),
            expression: Some(cat::PAYMENT_FAILURE_RATE_EXPRESSION.into()),
            stat: None,
            return_data: true,
        });
        out.push(AlarmSpec {
            name: cat::PAYMENT_FAILURE_RATE_NAME.into(),
            region: region.into(),
            description: description(
                &format!(
                    "Payment failure rate above {}% of payment outcomes (payment.failure over payment.failure + payment.success). Above {}% in production mode, roll PortOne back.",
                    cat::PAYMENT_FAILURE_RATE_THRESHOLD_PERCENT,
                    cat::PORTONE_ROLLBACK_FAILURE_PERCENT
                ),
                cat::PAYMENT_RUNBOOK,
            ),
            metric: None,
            statistic: None,
            dimensions: vec![],
            period: None,
            queries,
            evaluation_periods: cat::PAYMENT_FAILURE_RATE_EVALUATION_PERIODS,
            datapoints_to_alarm: None,
            threshold: cat::PAYMENT_FAILURE_RATE_THRESHOLD_PERCENT,
            comparison: "GreaterThanThreshold".into(),
            // No payments in a window is not a failure.
            treat_missing_data: "notBreaching".into(),
            actions: vec![cat::PAYMENT_ALERTS_TOPIC.into()],
        });
    }
    if matches!(group, Group::Kafka | Group::All) {
        out.push(AlarmSpec {
            name: cat::KAFKA_METRICS_MISSING_NAME.into(),
            region: region.into(),
            description: description(
                "The Kafka broker's JMX metrics stopped arriving for 5 minutes: the broker (or its host) is down.",
                cat::KAFKA_RUNBOOK,
            ),
            metric: Some(format!("{}/{}", cat::KAFKA_JMX_NAMESPACE, cat::KAFKA_JMX_METRIC)),
            statistic: Some("SampleCount".into()),
            dimensions: vec![],
            period: Some(cat::KAFKA_METRICS_PERIOD_SECONDS),
            queries: vec![],
            evaluation_periods: cat::KAFKA_METRICS_EVALUATION_PERIODS,
            datapoints_to_alarm: Some(cat::KAFKA_METRICS_EVALUATION_PERIODS),
            threshold: 1.0,
            comparison: "LessThanThreshold".into(),
            treat_missing_data: "breaching".into(),
            actions: vec![cat::OPS_ALERTS_TOPIC.into()],
        });
    }
    out
}

/// The comparable form of an alarm CloudWatch returned.
pub fn found(alarm: &MetricAlarm, region: &str) -> AlarmSpec {
    let metric = match (alarm.namespace(), alarm.metric_name()) {
        (Some(ns), Some(m)) => Some(format!("{ns}/{m}")),
        _ => None,
    };
    let queries = alarm
        .metrics()
        .iter()
        .map(|q| Query {
            id: q.id().unwrap_or_default().to_owned(),
            expression: q.expression().map(str::to_owned),
            stat: q.metric_stat().map(|s| {
                let m = s.metric();
                (
                    m.and_then(|m| m.namespace()).unwrap_or_default().to_owned(),
                    m.and_then(|m| m.metric_name())
                        .unwrap_or_default()
                        .to_owned(),
                    s.stat().unwrap_or_default().to_owned(),
                    s.period().unwrap_or_default(),
                )
            }),
            return_data: q.return_data().unwrap_or(true),
        })
        .collect();
    AlarmSpec {
        name: alarm.alarm_name().unwrap_or_default().to_owned(),
        region: region.to_owned(),
        description: alarm.alarm_description().unwrap_or_default().to_owned(),
        metric,
        statistic: alarm.statistic().map(|s| s.as_str().to_owned()),
        dimensions: alarm
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_owned(),
                    d.value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        period: alarm.period(),
        queries,
        evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
        datapoints_to_alarm: alarm.datapoints_to_alarm(),
        threshold: alarm.threshold().unwrap_or_default(),
        comparison: alarm
            .comparison_operator()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").to_owned(),
        actions: alarm
            .alarm_actions()
            .iter()
            .map(|arn| arn.rsplit(':').next().unwrap_or(arn).to_owned())
            .collect(),
    }
}

/// Field-by-field differences between what is and what should be.
pub fn diff(now: &AlarmSpec, wanted: &AlarmSpec) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut field = |name: &'static str, a: String, b: String| {
        if a != b {
            out.push(FieldChange {
                field: name,
                now: a,
                wanted: b,
            });
        }
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let num = |v: Option<i32>| v.map_or("-".into(), |n| n.to_string());
    field(
        "description",
        now.description.clone(),
        wanted.description.clone(),
    );
    field("metric", opt(&now.metric), opt(&wanted.metric));
    field("statistic", opt(&now.statistic), opt(&wanted.statistic));
    field(
        "dimensions",
        format!("{:?}", now.dimensions),
        format!("{:?}", wanted.dimensions),
    );
    field("period", num(now.period), num(wanted.period));
    field(
        "metrics",
        now.queries
            .iter()
            .map(|q| format!("{}={}", q.id, q.what()))
            .collect::<Vec<_>>()
            .join("; "),
        wanted
            .queries
            .iter()
            .map(|q| format!("{}={}", q.id, q.what()))
            .collect::<Vec<_>>()
            .join("; "),
    );
    field(
        "evaluation_periods",
        now.evaluation_periods.to_string(),
        wanted.evaluation_periods.to_string(),
    );
    field(
        "datapoints_to_alarm",
        num(now.datapoints_to_alarm),
        num(wanted.datapoints_to_alarm),
    );
    field(
        "threshold",
        now.threshold.to_string(),
        wanted.threshold.to_string(),
    );
    field(
        "comparison",
        now.comparison.clone(),
        wanted.comparison.clone(),
    );
    field(
        "treat_missing_data",
        now.treat_missing_data.clone(),
        wanted.treat_missing_data.clone(),
    );
    let mut a = now.actions.clone();
    let mut b = wanted.actions.clone();
    a.sort();
    b.sort();
    field("actions", a.join(","), b.join(","));
    out
}

/// The billing region rule: an explicit other region is a mistake.
pub fn check_billing_region(
    group: Group,
    ctx_region: &str,
    explicit: bool,
) -> Result<(), CliError> {
    if matches!(group, Group::Billing) && explicit && ctx_region != cat::BILLING_REGION {
        return Err(CliError::usage(
            format!(
                "billing alarms cannot live in {ctx_region}: AWS publishes billing metrics only in {}",
                cat::BILLING_REGION
            ),
            format!(
                "drop --region (billing alarms always go to {}) or pass --region {}",
                cat::BILLING_REGION,
                cat::BILLING_REGION
            ),
        ));
    }
    Ok(())
}

struct Clients {
    cloudwatch: aws_sdk_cloudwatch::Client,
    sns: aws_sdk_sns::Client,
}

fn failed(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Failed(anyhow::anyhow!(
        "{what}: {e}; check the AWS credentials and region"
    ))
}

async fn clients_by_region(
    ctx: &Context,
    specs: &[AlarmSpec],
) -> Result<BTreeMap<String, Clients>, CliError> {
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
async fn topic_arns(sns: &aws_sdk_sns::Client) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = sns
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                failed(
                    "SNS ListTopics failed",
                    aws_sdk_sns::error::DisplayErrorContext(e),
                )
            })?;
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

async fn plan(ctx: &Context, group: Group) -> Result<(Plan, BTreeMap<String, Clients>), CliError> {
    check_billing_region(group, &ctx.region, ctx.region_explicit)?;
    let specs = wanted(group, &ctx.region);
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
            topics.push(TopicPlan {
                topic: name.to_owned(),
                region: region.clone(),
                exists: existing.contains_key(name),
            });
        }
        let described = c
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(here.iter().map(|s| s.name.clone()).collect()))
            .send()
            .await
            .map_err(|e| {
                failed(
                    "CloudWatch DescribeAlarms failed",
                    aws_sdk_cloudwatch::error::DisplayErrorContext(e),
                )
            })?;
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

fn render(plan: &Plan) -> String {
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
            String::new(),
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
    output::table(
        &["RESOURCE", "REGION", "ACTION", "DRIFT (now -> wanted)"],
        &rows,
    )
}

fn put_request(
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
            query = query.metric_stat(
                MetricStat::builder()
                    .metric(Metric::builder().namespace(ns).metric_name(metric).build())
                    .stat(stat)
                    .period(*period)
                    .build(),
            );
        }
        req = req.metrics(query.build());
    }
    req
}

async fn apply(ctx: &Context, args: ApplyArgs) -> Result<ExitCode, CliError> {
    let (plan, clients) = plan(ctx, args.plan.group).await?;
    eprint!("{}", render(&plan));
    let count = plan.topics.iter().filter(|t| !t.exists).count()
        + plan.alarms.iter().filter(|a| a.action != "ok").count();
    let Some(applying) = Change::new(ctx, "alarms apply", &args.execute).begin(
        "changing CloudWatch alarms",
        &plan,
        count,
    )?
    else {
        return Ok(change::unchanged(ctx.output));
    };
    let mut changed = 0;
    for (region, c) in &clients {
        let mut arns = topic_arns(&c.sns).await?;
        for t in plan
            .topics
            .iter()
            .filter(|t| &t.region == region && !t.exists)
        {
            let created = c.sns.create_topic().name(&t.topic).send().await;
            match created {
                Ok(out) => {
                    if let Some(arn) = out.topic_arn() {
                        arns.insert(t.topic.clone(), arn.to_owned());
                    }
                    changed += 1;
                }
                Err(e) => {
                    let error = aws_sdk_sns::error::DisplayErrorContext(e).to_string();
                    return Err(applying.failed(
                        serde_json::json!({"topic": t.topic, "error": error}),
                        format!("creating SNS topic {} failed: {error}", t.topic),
                    ));
                }
            }
        }
        for a in plan
            .alarms
            .iter()
            .filter(|a| &a.region == region && a.action != "ok")
        {
            if let Err(e) = put_request(&c.cloudwatch, &a.wanted, &arns).send().await {
                let error = aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string();
                return Err(applying.failed(
                    serde_json::json!({"alarm": a.alarm, "error": error}),
                    format!("putting alarm {} failed: {error}", a.alarm),
                ));
            }
            changed += 1;
        }
    }
    applying.finish(
        ctx.output,
        changed,
        format!("applied {changed} change(s)\n"),
    )
}

pub async fn exec(ctx: &Context, command: AlarmsCommand) -> Result<ExitCode, CliError> {
    match command {
        AlarmsCommand::Plan(args) => {
            let (plan, _) = plan(ctx, args.group).await?;
            output::emit(ctx.output, &plan, || render(&plan));
            Ok(if plan.changes() {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        AlarmsCommand::Apply(args) => apply(ctx, args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_alarms_are_the_designs_and_live_in_us_east_1() {
        let specs = wanted(Group::Billing, "ap-northeast-2");
        assert_eq!(specs.len(), 2);
        let warn = &specs[0];
        assert_eq!(warn.name, "ticketing-billing-alert-50");
        assert_eq!(warn.region, "us-east-1");
        assert_eq!(warn.metric.as_deref(), Some("AWS/Billing/EstimatedCharges"));
        assert_eq!(warn.statistic.as_deref(), Some("Maximum"));
        assert_eq!(warn.period, Some(21_600));
        assert_eq!(warn.evaluation_periods, 1);
        assert_eq!(warn.threshold, 50.0);
        assert_eq!(warn.dimensions, vec![("Currency".into(), "USD".into())]);
        assert_eq!(warn.actions, vec!["billing-alerts".to_owned()]);
        assert_eq!(specs[1].threshold, 100.0);
        assert_eq!(specs[1].actions, vec!["billing-critical".to_owned()]);
        assert!(warn.description.contains("runbooks/billing-alarm.md"));
    }

    #[test]
    fn the_payment_alarm_is_a_rate_not_a_count() {
        let specs = wanted(Group::Payment, "ap-northeast-2");
        let p = &specs[0];
        assert_eq!(p.metric, None);
        assert_eq!(p.queries.len(), 3);
        assert_eq!(
            p.queries[0].what(),
            "Custom/Ticketing/payment.failure/Sum/300"
        );
        assert!(p.queries[2].return_data && p.queries[2].what().contains("failures + successes"));
        assert_eq!((p.threshold, p.evaluation_periods), (5.0, 2));
    }

    #[test]
    fn drift_is_shown_field_by_field() {
        let want = wanted(Group::Billing, "us-east-1").remove(0);
        let mut now = want.clone();
        now.threshold = 80.0;
        now.actions.clear();
        let changes = diff(&now, &want);
        let fields: Vec<_> = changes.iter().map(|c| c.field).collect();
        assert_eq!(fields, vec!["threshold", "actions"]);
        assert_eq!(changes[0].now, "80");
        assert_eq!(changes[0].wanted, "50");
        assert!(diff(&want, &want).is_empty());
    }

    #[test]
    fn an_explicit_other_region_for_billing_is_refused() {
        assert!(check_billing_region(Group::Billing, "eu-west-1", true).is_err());
        assert!(check_billing_region(Group::Billing, "eu-west-1", false).is_ok());
        assert!(check_billing_region(Group::Billing, "us-east-1", true).is_ok());
        assert!(check_billing_region(Group::Payment, "eu-west-1", true).is_ok());
    }
}
