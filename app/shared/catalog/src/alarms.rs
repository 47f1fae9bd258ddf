//! CloudWatch alarms and their SNS topics: names, thresholds and runbooks,
//! read by `opsctl alarms`, the observability template and the runbooks.

use crate::metrics;

/// Billing metrics exist only in this region.
pub const BILLING_REGION: &str = "us-east-1";
pub const BILLING_NAMESPACE: &str = "AWS/Billing";
pub const BILLING_METRIC: &str = "EstimatedCharges";
/// Six hours: billing data arrives a few times a day.
pub const BILLING_PERIOD_SECONDS: i32 = 21_600;

/// Where a runbook lives in this repository.
pub fn runbook(file: &str) -> String {
    format!("runbooks/{file}")
}

/// An alarm on one `AWS/Billing` `EstimatedCharges` (USD, Maximum) series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BillingAlarm {
    pub name: &'static str,
    pub threshold_usd: f64,
    pub topic: &'static str,
    pub severity: &'static str,
}

pub const BILLING_WARNING: BillingAlarm = BillingAlarm {
    name: "ticketing-billing-alert-50",
    threshold_usd: 50.0,
    topic: "billing-alerts",
    severity: "warning",
};
pub const BILLING_CRITICAL: BillingAlarm = BillingAlarm {
    name: "ticketing-billing-critical-100",
    threshold_usd: 100.0,
    topic: "billing-critical",
    severity: "critical",
};
pub const BILLING: [BillingAlarm; 2] = [BILLING_WARNING, BILLING_CRITICAL];
pub const BILLING_RUNBOOK: &str = "billing-alarm.md";

/// Payment failures as a share of all payment outcomes, in percent.
pub const PAYMENT_FAILURE_RATE_NAME: &str = "payment-failure-rate-high";
pub const PAYMENT_FAILURE_RATE_THRESHOLD_PERCENT: f64 = 5.0;
pub const PAYMENT_FAILURE_RATE_PERIOD_SECONDS: i32 = 300;
pub const PAYMENT_FAILURE_RATE_EVALUATION_PERIODS: i32 = 2;
pub const PAYMENT_ALERTS_TOPIC: &str = "payment-alerts";
/// The metric math: failures over failures plus successes, in percent.
pub const PAYMENT_FAILURE_RATE_EXPRESSION: &str = "100 * failures / (failures + successes)";
pub const PAYMENT_FAILURE_RATE_INPUTS: [(&str, &str); 2] = [
    ("failures", metrics::PAYMENT_FAILURE),
    ("successes", metrics::PAYMENT_SUCCESS),
];
/// Production failures above this share call for the PortOne rollback.
pub const PORTONE_ROLLBACK_FAILURE_PERCENT: f64 = 50.0;
pub const PAYMENT_RUNBOOK: &str = "portone-rollback.md";

/// The broker's JMX metrics (published by the CloudWatch agent on the
/// broker host) stopping for five minutes: missing data is breaching.
pub const KAFKA_METRICS_MISSING_NAME: &str = "ticketing-kafka-metrics-missing";
pub const KAFKA_JMX_NAMESPACE: &str = "CWAgent";
pub const KAFKA_JMX_METRIC: &str = "kafka.request.count";
pub const KAFKA_METRICS_PERIOD_SECONDS: i32 = 60;
pub const KAFKA_METRICS_EVALUATION_PERIODS: i32 = 5;
pub const OPS_ALERTS_TOPIC: &str = "ops-alerts";
pub const KAFKA_RUNBOOK: &str = "kafka-broker-failure.md";

/// Every SNS topic the alarms notify.
pub const TOPICS: [&str; 4] = [
    BILLING_WARNING.topic,
    BILLING_CRITICAL.topic,
    PAYMENT_ALERTS_TOPIC,
    OPS_ALERTS_TOPIC,
];
