//! The billing alarms against the model's forecast.

use serde::Serialize;

use super::round2;

/// One billing alarm against the model's monthly forecast.
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct AlarmCheck {
    pub alarm: &'static str,
    pub threshold_usd: f64,
    pub forecast_usd: f64,
    /// The forecast reaches the threshold: the alarm would fire every month.
    pub fires_every_month: bool,
    /// Room left below the threshold, in percent of it (negative: over).
    pub headroom_percent: f64,
    pub recommendation: String,
}

/// The catalog's billing alarms against `forecast` (USD a month): which
/// would fire every month, and thresholds that leave room (warning at 120 %
/// and critical at 150 % of the forecast, rounded up to $5).
pub fn check_alarms(forecast: f64) -> Vec<AlarmCheck> {
    let up5 = |x: f64| (x / 5.0).ceil() * 5.0;
    ticketing_catalog::alarms::BILLING
        .iter()
        .map(|b| {
            let (factor, kind) = if b.severity == "critical" {
                (1.5, "critical")
            } else {
                (1.2, "warning")
            };
            let fires = forecast >= b.threshold_usd;
            let wanted = up5(forecast * factor);
            let recommendation = if fires {
                format!(
                    "fires every month: the forecast ${forecast:.2} is above ${:.0}; raise the {kind} threshold to ${wanted:.0} (BillingAlarm in ticketing_catalog::alarms) or cut the cost",
                    b.threshold_usd
                )
            } else if b.threshold_usd > wanted * 2.0 {
                format!(
                    "far above the forecast: a ${wanted:.0} threshold would warn of a doubling sooner"
                )
            } else {
                "leaves room above the forecast".to_owned()
            };
            AlarmCheck {
                alarm: b.name,
                threshold_usd: b.threshold_usd,
                forecast_usd: round2(forecast),
                fires_every_month: fires,
                headroom_percent: round2((b.threshold_usd - forecast) / b.threshold_usd * 100.0),
                recommendation,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_billing_alarm_below_the_forecast_is_said_to_fire_every_month() {
        let checks = check_alarms(70.0);
        let warning = &checks[0];
        assert_eq!(warning.threshold_usd, 50.0);
        assert!(warning.fires_every_month);
        assert!(
            warning.recommendation.contains("$85"),
            "{}",
            warning.recommendation
        );
        let critical = &checks[1];
        assert!(!critical.fires_every_month);
        assert_eq!(critical.headroom_percent, 30.0);
        assert!(check_alarms(20.0).iter().all(|c| !c.fires_every_month));
    }
}
