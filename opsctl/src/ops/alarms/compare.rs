//! An alarm as CloudWatch returns it, in the comparable form of the
//! catalog's definitions, and the field-by-field difference: pure.

use aws_sdk_cloudwatch::types::MetricAlarm;
use serde::Serialize;

use super::spec::{AlarmSpec, Query};

/// One differing field.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: &'static str,
    pub now: String,
    pub wanted: String,
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
            dimensions: q
                .metric_stat()
                .and_then(|s| s.metric())
                .map(|m| {
                    m.dimensions()
                        .iter()
                        .map(|d| {
                            (
                                d.name().unwrap_or_default().to_owned(),
                                d.value().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::alarms::spec::{wanted, Group};

    #[test]
    fn drift_is_shown_field_by_field() {
        let want = wanted(Group::Billing, "us-east-1", "prod", 1).remove(0);
        let mut now = want.clone();
        now.threshold = 80.0;
        now.actions.clear();
        let changes = diff(&now, &want);
        let fields: Vec<_> = changes.iter().map(|c| c.field).collect();
        assert_eq!(fields, vec!["threshold", "actions"]);
        assert_eq!(changes[0].now, "80");
        assert_eq!(changes[0].wanted, "125");
        assert!(diff(&want, &want).is_empty());
    }
}
