//! CloudWatch alarms and their SNS topics: names, thresholds and runbooks,
//! read by `opsctl alarms`, the observability template and the runbooks.

use crate::metrics;

/// Billing metrics exist only in this region.
pub const BILLING_REGION: &str = "us-east-1";
pub const BILLING_NAMESPACE: &str = "AWS/Billing";
pub const BILLING_METRIC: &str = "EstimatedCharges";
/// Six hours: billing data arrives a few times a day.
pub const BILLING_PERIOD_SECONDS: i32 = 21_600;

/// The name of something that exists once per environment: the design's
/// name with the environment after it (`payment-alerts-prod`), since dev and
/// prod may share an account and a region, where alarm and topic names are
/// unique. The billing alarms and their topics are the account's (billing
/// metrics are account-wide) and keep the design's names.
pub fn for_env(name: &str, env: &str) -> String {
    format!("{name}-{env}")
}

/// The namespace a broker's CloudWatch agent publishes its JMX metrics to:
/// `CWAgent/ticketing-<env>`, one per environment (the agent adds no
/// dimension that could tell two environments' brokers apart once the
/// host name is omitted).
pub fn kafka_jmx_namespace(env: &str) -> String {
    format!("{KAFKA_JMX_NAMESPACE}/ticketing-{env}")
}

/// Where a runbook lives in this repository.
pub fn runbook(file: &str) -> String {
    format!("runbooks/{file}")
}

/// An alarm on one `AWS/Billing` `EstimatedCharges` (USD, Maximum) series.
///
/// Its threshold follows the forecast, not the design's figure (which the
/// forecast exceeds every month, so an alarm there would mean nothing): the
/// MVP's optimised monthly forecast (`opsctl cost model --optimized`) times
/// [`BillingAlarm::over_forecast`], rounded up to $5. `opsctl cost model
/// --optimized --check-alarms` recomputes it and exits 1 when the forecast
/// has moved away from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BillingAlarm {
    pub name: &'static str,
    pub threshold_usd: f64,
    /// How far above the forecast the threshold sits (1.25: 25 % over).
    pub over_forecast: f64,
    /// The design's threshold, which the alarm's name keeps; shown beside
    /// ours in the runbook.
    pub design_usd: f64,
    pub topic: &'static str,
    pub severity: &'static str,
}

pub const BILLING_WARNING: BillingAlarm = BillingAlarm {
    name: "ticketing-billing-alert-50",
    threshold_usd: 125.0,
    over_forecast: 1.25,
    design_usd: 50.0,
    topic: "billing-alerts",
    severity: "warning",
};
pub const BILLING_CRITICAL: BillingAlarm = BillingAlarm {
    name: "ticketing-billing-critical-100",
    threshold_usd: 145.0,
    over_forecast: 1.5,
    design_usd: 100.0,
    topic: "billing-critical",
    severity: "critical",
};
pub const BILLING: [BillingAlarm; 2] = [BILLING_WARNING, BILLING_CRITICAL];
pub const BILLING_RUNBOOK: &str = "billing-alarm.md";

/// Payment failures as a share of all payment outcomes, in percent (per
/// environment: [`for_env`]).
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

/// A broker's JMX metrics (published by the CloudWatch agent on each
/// broker host) stopping for five minutes: missing data is breaching. Per
/// environment ([`for_env`], [`kafka_jmx_namespace`]).
pub const KAFKA_METRICS_MISSING_NAME: &str = "ticketing-kafka-metrics-missing";
pub const KAFKA_JMX_NAMESPACE: &str = "CWAgent";
/// A broker metric the agent publishes with no dimension of its own: with
/// `omit_hostname` (no `host`) and no `append_dimensions` it is one series
/// the alarm can name without dimensions.
pub const KAFKA_JMX_METRIC: &str = "kafka.partition.count";
/// The dimensions the CloudWatch agent publishes with each Kafka broker
/// metric the broker's agent measures, besides the default `host`
/// (CloudWatch User Guide, "Collect Java Management Extensions (JMX)
/// metrics", Kafka broker metrics: `kafka.request.count` is published with
/// `type` = produce|fetch|..., so an alarm naming no dimension never sees
/// it; `kafka.partition.count` and `kafka.message.count` with the default
/// only).
pub const KAFKA_AGENT_DIMENSIONS: [(&str, &[&str]); 4] = [
    ("kafka.partition.count", &[]),
    ("kafka.message.count", &[]),
    ("kafka.partition.under_replicated", &[]),
    ("kafka.request.count", &["type"]),
];
pub const KAFKA_METRICS_PERIOD_SECONDS: i32 = 60;

/// The metrics-missing alarm's threshold: one sample a minute from each
/// broker (the agent's default collection interval is 60 s, CloudWatch User
/// Guide, "Manually create or edit the CloudWatch agent configuration
/// file"), all in one series, so fewer samples than brokers in a period
/// means one is silent, not only all of them.
pub fn kafka_metrics_missing_threshold(brokers: u32) -> f64 {
    f64::from(brokers)
}
pub const KAFKA_METRICS_EVALUATION_PERIODS: i32 = 5;
pub const OPS_ALERTS_TOPIC: &str = "ops-alerts";
pub const KAFKA_RUNBOOK: &str = "kafka-broker-failure.md";

/// A consumer group whose oldest unprocessed record has waited too long
/// (`consumer.lag.seconds`): stopped or stalled consumers, which a count
/// of messages hides when traffic is light. Metric math over each
/// consuming group's series, `MAX([...])` (a PutMetricAlarm takes up to
/// 10 metrics and 10 expressions: CloudWatch API Reference,
/// "PutMetricAlarm", `Metrics`); SEARCH is not allowed in an alarm. Per
/// environment ([`for_env`]); notifies ops.
pub const CONSUMER_LAG_NAME: &str = "ticketing-consumer-lag-high";
/// Five minutes behind: the design's outbox-to-consumer budget is seconds,
/// and `opsctl kafka lag` calls a group WARN after 30 s.
pub const CONSUMER_LAG_THRESHOLD_SECONDS: f64 = 300.0;
pub const CONSUMER_LAG_PERIOD_SECONDS: i32 = 60;
pub const CONSUMER_LAG_EVALUATION_PERIODS: i32 = 3;

/// The site as the world sees it: the Route 53 health check of the
/// environment's domain (HTTPS, the readiness path, from Route 53's
/// checkers) reports unhealthy. Per environment ([`for_env`]); made by the
/// observability layer only when it has a domain and runs in
/// [`ROUTE53_METRICS_REGION`].
pub const SITE_UNHEALTHY_NAME: &str = "ticketing-site-unhealthy";
pub const SITE_HEALTH_NAMESPACE: &str = "AWS/Route53";
/// 1 healthy, 0 unhealthy (Route 53 Developer Guide, "Monitoring health
/// checks using CloudWatch").
pub const SITE_HEALTH_METRIC: &str = "HealthCheckStatus";
/// Route 53 publishes health check metrics only in US East (N. Virginia)
/// (Route 53 Developer Guide, "Monitoring health checks using CloudWatch":
/// the metrics are in us-east-1 whatever the endpoint's Region).
pub const ROUTE53_METRICS_REGION: &str = "us-east-1";
pub const SITE_HEALTH_PERIOD_SECONDS: i32 = 60;
pub const SITE_HEALTH_EVALUATION_PERIODS: i32 = 3;
pub const SITE_RUNBOOK: &str = "deploy.md";

/// The alarms only a template makes (`opsctl alarms` does not put them),
/// each with the metrics it reads: what the cost model adds to `opsctl
/// alarms`' own (infra_consistency.rs checks the templates' alarms are
/// exactly those two sets).
pub const TEMPLATE_ONLY_ALARMS: [(&str, u32); 1] = [(SITE_UNHEALTHY_NAME, 1)];

/// Every SNS topic the alarms of `env` notify: the account's billing
/// topics and the environment's own.
pub fn topics(env: &str) -> [String; 4] {
    [
        BILLING_WARNING.topic.to_owned(),
        BILLING_CRITICAL.topic.to_owned(),
        for_env(PAYMENT_ALERTS_TOPIC, env),
        for_env(OPS_ALERTS_TOPIC, env),
    ]
}
