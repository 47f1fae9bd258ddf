//! The alarms as the catalog defines them (billing, payment failure rate,
//! Kafka metrics missing), built from the catalog's names and thresholds.
//! `Group` parses from its name (the CLI lists `Group::NAMES`); nothing
//! here knows the CLI.

use serde::Serialize;
use ticketing_catalog::{alarms as cat, metrics};

use crate::error::OpsError;

pub use super::group::Group;

/// One query of a metric-math alarm.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Query {
    pub id: String,
    /// The metric math expression, or
    pub expression: Option<String>,
    /// `(namespace, metric, stat, period)`.
    pub stat: Option<(String, String, String, i32)>,
    /// The metric's dimensions (with `stat`).
    pub dimensions: Vec<(String, String)>,
    pub return_data: bool,
}

impl Query {
    pub fn what(&self) -> String {
        match (&self.expression, &self.stat) {
            (Some(e), _) => e.clone(),
            (None, Some((ns, m, stat, period))) => {
                let dims: Vec<String> = self
                    .dimensions
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!("{ns}/{m}[{}]/{stat}/{period}", dims.join(","))
            }
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

pub fn description(what: &str, runbook: &str) -> String {
    format!("{what} Runbook: {}", cat::runbook(runbook))
}

/// The alarms of `group`; billing ones in us-east-1, the rest in `region`;
/// the Kafka one for an environment of `brokers` brokers.
pub fn wanted(group: Group, region: &str, env: &str, brokers: u32) -> Vec<AlarmSpec> {
    let mut out = Vec::new();
    if matches!(group, Group::Billing | Group::All) {
        out.extend(cat::BILLING.iter().map(billing));
    }
    if matches!(group, Group::Payment | Group::All) {
        out.push(payment_failure_rate(region, env));
    }
    if matches!(group, Group::Kafka | Group::All) {
        out.push(kafka_metrics_missing(region, env, brokers));
        out.push(consumer_lag(region, env));
    }
    out
}

/// A billing alarm (AWS/Billing, us-east-1 only).
fn billing(b: &cat::BillingAlarm) -> AlarmSpec {
    AlarmSpec {
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
    }
}

/// The payment failure rate, as metric math over this environment's
/// payment outcomes.
fn payment_failure_rate(region: &str, env: &str) -> AlarmSpec {
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
            // This environment's payments only (the dimension set the
            // services publish for the alarm: catalog dimension_sets).
            dimensions: vec![(metrics::ENVIRONMENT.into(), env.into())],
            return_data: false,
        })
        .collect();
    queries.push(Query {
        id: "failure_rate".into(),
        expression: Some(cat::PAYMENT_FAILURE_RATE_EXPRESSION.into()),
        stat: None,
        dimensions: vec![],
        return_data: true,
    });
    AlarmSpec {
        name: cat::for_env(cat::PAYMENT_FAILURE_RATE_NAME, env),
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
        actions: vec![cat::for_env(cat::PAYMENT_ALERTS_TOPIC, env)],
    }
}

/// A broker's JMX metrics stopped arriving.
fn kafka_metrics_missing(region: &str, env: &str, brokers: u32) -> AlarmSpec {
    AlarmSpec {
        name: cat::for_env(cat::KAFKA_METRICS_MISSING_NAME, env),
        region: region.into(),
        description: description(
            "A Kafka broker's JMX metrics stopped arriving for 5 minutes: the broker (or its host) is down.",
            cat::KAFKA_RUNBOOK,
        ),
        metric: Some(format!(
            "{}/{}",
            cat::kafka_jmx_namespace(env),
            cat::KAFKA_JMX_METRIC
        )),
        statistic: Some("SampleCount".into()),
        dimensions: vec![],
        period: Some(cat::KAFKA_METRICS_PERIOD_SECONDS),
        queries: vec![],
        evaluation_periods: cat::KAFKA_METRICS_EVALUATION_PERIODS,
        datapoints_to_alarm: Some(cat::KAFKA_METRICS_EVALUATION_PERIODS),
        threshold: cat::kafka_metrics_missing_threshold(brokers),
        comparison: "LessThanThreshold".into(),
        treat_missing_data: "breaching".into(),
        actions: vec![cat::for_env(cat::OPS_ALERTS_TOPIC, env)],
    }
}

/// The consumer-lag alarm: the oldest unprocessed record's age over every
/// consuming group (the services' groups, named as in AWS: no prefix).
fn consumer_lag(region: &str, env: &str) -> AlarmSpec {
    let period = cat::CONSUMER_LAG_PERIOD_SECONDS;
    let groups: Vec<&str> = ticketing_catalog::ServiceName::ALL
        .iter()
        .filter(|s| !s.consumes().is_empty())
        .map(|s| s.as_str())
        .collect();
    let mut queries: Vec<Query> = groups
        .iter()
        .enumerate()
        .map(|(i, group)| Query {
            id: format!("lag{i}"),
            expression: None,
            stat: Some((
                metrics::NAMESPACE.into(),
                metrics::CONSUMER_LAG_SECONDS.into(),
                "Maximum".into(),
                period,
            )),
            dimensions: vec![
                (metrics::ENVIRONMENT.into(), env.into()),
                ("group".into(), (*group).into()),
            ],
            return_data: false,
        })
        .collect();
    let ids: Vec<String> = queries.iter().map(|q| q.id.clone()).collect();
    queries.push(Query {
        id: "oldest".into(),
        expression: Some(format!("MAX([{}])", ids.join(", "))),
        stat: None,
        dimensions: vec![],
        return_data: true,
    });
    AlarmSpec {
        name: cat::for_env(cat::CONSUMER_LAG_NAME, env),
        region: region.into(),
        description: description(
            &format!(
                "A consumer group's oldest unprocessed event has waited over {} s: its consumers are stopped, stuck on a message, or too slow (opsctl kafka lag says which).",
                cat::CONSUMER_LAG_THRESHOLD_SECONDS
            ),
            cat::KAFKA_RUNBOOK,
        ),
        metric: None,
        statistic: None,
        dimensions: vec![],
        period: None,
        queries,
        evaluation_periods: cat::CONSUMER_LAG_EVALUATION_PERIODS,
        datapoints_to_alarm: None,
        threshold: cat::CONSUMER_LAG_THRESHOLD_SECONDS,
        comparison: "GreaterThanThreshold".into(),
        // No consumer reporting is the metrics-missing alarm's business.
        treat_missing_data: "notBreaching".into(),
        actions: vec![cat::for_env(cat::OPS_ALERTS_TOPIC, env)],
    }
}

/// The billing region rule: an explicit other region is a mistake.
pub fn check_billing_region(
    group: Group,
    ctx_region: &str,
    explicit: bool,
) -> Result<(), OpsError> {
    if matches!(group, Group::Billing) && explicit && ctx_region != cat::BILLING_REGION {
        return Err(OpsError::usage(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_alarms_are_the_designs_and_live_in_us_east_1() {
        let specs = wanted(Group::Billing, "ap-northeast-2", "prod", 1);
        assert_eq!(specs.len(), 2);
        let warn = &specs[0];
        assert_eq!(warn.name, "ticketing-billing-alert-50");
        assert_eq!(warn.region, "us-east-1");
        assert_eq!(warn.metric.as_deref(), Some("AWS/Billing/EstimatedCharges"));
        assert_eq!(warn.statistic.as_deref(), Some("Maximum"));
        assert_eq!(warn.period, Some(21_600));
        assert_eq!(warn.evaluation_periods, 1);
        assert_eq!(warn.threshold, 125.0);
        assert_eq!(warn.dimensions, vec![("Currency".into(), "USD".into())]);
        assert_eq!(warn.actions, vec!["billing-alerts".to_owned()]);
        assert_eq!(specs[1].threshold, 145.0);
        assert_eq!(specs[1].actions, vec!["billing-critical".to_owned()]);
        assert!(warn.description.contains("runbooks/billing-alarm.md"));
    }

    #[test]
    fn the_payment_alarm_is_a_rate_not_a_count() {
        let specs = wanted(Group::Payment, "ap-northeast-2", "prod", 1);
        let p = &specs[0];
        assert_eq!(p.metric, None);
        assert_eq!(p.queries.len(), 3);
        assert_eq!(
            p.queries[0].what(),
            "Custom/Ticketing/payment.failure[environment=prod]/Sum/300"
        );
        assert!(p.queries[2].return_data && p.queries[2].what().contains("failures + successes"));
        assert_eq!((p.threshold, p.evaluation_periods), (5.0, 2));
        // Every metric it reads is published with exactly that dimension
        // set (CloudWatch matches a metric only by its full set).
        for q in &p.queries {
            let Some((_, metric, _, _)) = &q.stat else {
                continue;
            };
            let keys: Vec<&str> = q.dimensions.iter().map(|(k, _)| k.as_str()).collect();
            assert!(
                metrics::dimension_sets(metric).contains(&keys.as_slice()),
                "{metric} by {keys:?}"
            );
        }
    }

    #[test]
    fn the_kafka_alarm_wants_a_sample_from_every_broker() {
        for (brokers, threshold) in [(1, 1.0), (3, 3.0)] {
            let k = wanted(Group::Kafka, "ap-northeast-2", "prod", brokers).remove(0);
            assert_eq!(k.statistic.as_deref(), Some("SampleCount"));
            assert_eq!(k.comparison, "LessThanThreshold");
            assert_eq!(k.threshold, threshold, "{brokers} brokers");
        }
    }

    #[test]
    fn the_consumer_lag_alarm_takes_the_oldest_of_every_consuming_group() {
        let specs = wanted(Group::Kafka, "ap-northeast-2", "prod", 1);
        let lag = specs
            .iter()
            .find(|s| s.name == "ticketing-consumer-lag-high-prod")
            .expect("alarm");
        let groups: Vec<&str> = lag
            .queries
            .iter()
            .flat_map(|q| {
                q.dimensions
                    .iter()
                    .filter(|(k, _)| k == "group")
                    .map(|(_, v)| v.as_str())
            })
            .collect();
        assert_eq!(
            groups,
            ["event-service", "reservation-service", "payment-service"]
        );
        assert_eq!(
            lag.queries.last().and_then(|q| q.expression.as_deref()),
            Some("MAX([lag0, lag1, lag2])")
        );
        for q in &lag.queries {
            let Some((_, metric, _, _)) = &q.stat else {
                continue;
            };
            let keys: Vec<&str> = q.dimensions.iter().map(|(k, _)| k.as_str()).collect();
            assert!(
                metrics::dimension_sets(metric).contains(&keys.as_slice()),
                "{metric} by {keys:?}"
            );
        }
    }

    #[test]
    fn an_explicit_other_region_for_billing_is_refused() {
        assert!(check_billing_region(Group::Billing, "eu-west-1", true).is_err());
        assert!(check_billing_region(Group::Billing, "eu-west-1", false).is_ok());
        assert!(check_billing_region(Group::Billing, "us-east-1", true).is_ok());
        assert!(check_billing_region(Group::Payment, "eu-west-1", true).is_ok());
    }
}
