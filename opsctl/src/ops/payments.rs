//! The payment failure rate as the alarm computes it: CloudWatch's sums of
//! `payment.failure` and `payment.success` for one environment over a
//! window, and the alarm's expression, `100 * failures / (failures +
//! successes)`, on them. The PortOne rollback runbook's trigger is this
//! rate above 50 %; `portone rollback` and `portone mode` show it.
//!
//! The expression is evaluated here on the two sums the queries return
//! (the same inputs the alarm's metric math reads): moto server, our AWS
//! emulator, evaluates no metric math beyond returning a query by id.

use serde::Serialize;
use ticketing_catalog::alarms as cat;
use ticketing_catalog::metrics;

use crate::error::OpsError;
use crate::ops::cloudwatch::{self, Stat};

/// The rate over a window, next to the runbook's trigger.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct FailureRate {
    pub env: String,
    pub minutes: u32,
    pub failures: f64,
    pub successes: f64,
    /// None when there were no payments in the window.
    pub percent: Option<f64>,
    /// The runbook's rollback trigger (percent).
    pub trigger_percent: f64,
    /// Whether the rate is above the trigger.
    pub trigger_met: bool,
}

/// The alarm's expression (`catalog::alarms::PAYMENT_FAILURE_RATE_EXPRESSION`)
/// on the two sums; None with no payments (the alarm treats that as not
/// breaching).
pub fn rate_percent(failures: f64, successes: f64) -> Option<f64> {
    let total = failures + successes;
    (total > 0.0).then(|| 100.0 * failures / total)
}

/// Judges a reading, pure.
pub fn judge(env: &str, minutes: u32, failures: f64, successes: f64) -> FailureRate {
    let percent = rate_percent(failures, successes);
    FailureRate {
        env: env.to_owned(),
        minutes,
        failures,
        successes,
        percent: percent.map(|p| (p * 10.0).round() / 10.0),
        trigger_percent: cat::PORTONE_ROLLBACK_FAILURE_PERCENT,
        trigger_met: percent.is_some_and(|p| p > cat::PORTONE_ROLLBACK_FAILURE_PERCENT),
    }
}

/// [`failure_rate`] of this run's environment (its metrics' environment
/// dimension) over the last `window_minutes`.
pub async fn failure_rate_of(
    ctx: &crate::environment::Environment,
    window_minutes: u32,
) -> Result<FailureRate, OpsError> {
    let sdk = crate::aws::sdk_config(ctx).await?;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    failure_rate(&cw, &ctx.metrics_environment(), window_minutes).await
}

/// Reads the two sums for `env` over the last `minutes` and judges them.
pub async fn failure_rate(
    cw: &aws_sdk_cloudwatch::Client,
    env: &str,
    minutes: u32,
) -> Result<FailureRate, OpsError> {
    let end = chrono::Utc::now().timestamp() + 60;
    let start = end - i64::from(minutes) * 60 - 60;
    let period = i32::try_from((end - start).max(60)).unwrap_or(i32::MAX);
    let dimensions = [(metrics::ENVIRONMENT, env)];
    let stats: Vec<Stat> = cat::PAYMENT_FAILURE_RATE_INPUTS
        .iter()
        .map(|&(id, name)| Stat {
            id,
            namespace: metrics::NAMESPACE,
            name,
            stat: "Sum",
            dimensions: &dimensions,
            period,
        })
        .collect();
    let sums: Vec<f64> = cloudwatch::values(cw, &stats, start, end)
        .await?
        .iter()
        .map(|v| v.iter().sum())
        .collect();
    let sum = |i: usize| sums.get(i).copied().unwrap_or(0.0);
    Ok(judge(env, minutes, sum(0), sum(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_the_alarms_expression_and_the_trigger_is_above_half() {
        // The expression this module evaluates is the alarm's, with the
        // inputs in that order.
        assert_eq!(
            cat::PAYMENT_FAILURE_RATE_EXPRESSION,
            "100 * failures / (failures + successes)"
        );
        assert_eq!(cat::PAYMENT_FAILURE_RATE_INPUTS[0].0, "failures");
        assert_eq!(cat::PAYMENT_FAILURE_RATE_INPUTS[1].0, "successes");
        assert_eq!(rate_percent(0.0, 0.0), None);
        let half = judge("prod", 10, 5.0, 5.0);
        assert_eq!(half.percent, Some(50.0));
        assert!(!half.trigger_met, "exactly half is not above it");
        assert!(judge("prod", 10, 6.0, 4.0).trigger_met);
        assert!(!judge("prod", 10, 0.0, 0.0).trigger_met);
    }
}
