//! The billing alarms against the model's forecast.
//!
//! Their thresholds follow the forecast (issue 34): the catalog holds each
//! one as the MVP's optimised forecast times the alarm's margin, rounded up
//! to $5, and this check recomputes it, so a change in the model or the
//! prices that moves the forecast fails until the catalog follows.

use serde::Serialize;

use super::round2;

/// One billing alarm against the model's monthly forecast.
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct AlarmCheck {
    pub alarm: &'static str,
    pub severity: &'static str,
    pub threshold_usd: f64,
    /// The threshold the forecast asks for: forecast x margin, up to $5.
    pub wanted_usd: f64,
    /// The design's threshold, which its name keeps.
    pub design_usd: f64,
    pub forecast_usd: f64,
    /// The catalog's threshold is the one the forecast asks for.
    pub follows_forecast: bool,
    /// The forecast reaches the threshold: the alarm would fire every month.
    pub fires_every_month: bool,
    /// Room left below the threshold, in percent of it (negative: over).
    pub headroom_percent: f64,
    pub recommendation: String,
}

impl AlarmCheck {
    /// Whether the alarm needs a change: off the forecast, or firing monthly.
    pub fn is_problem(&self) -> bool {
        !self.follows_forecast || self.fires_every_month
    }
}

/// The threshold `forecast` asks for at `margin` (1.25: 25 % over), rounded
/// up to $5.
pub fn wanted_threshold(forecast: f64, margin: f64) -> f64 {
    round2((forecast * margin / 5.0).ceil() * 5.0)
}

/// The catalog's billing alarms against `forecast` (USD a month).
pub fn check_alarms(forecast: f64) -> Vec<AlarmCheck> {
    ticketing_catalog::alarms::BILLING
        .iter()
        .map(|b| {
            let wanted = wanted_threshold(forecast, b.over_forecast);
            let follows = (b.threshold_usd - wanted).abs() < 0.005;
            let fires = forecast >= b.threshold_usd;
            let margin = round2((b.over_forecast - 1.0) * 100.0);
            let recommendation = if !follows {
                format!(
                    "off the forecast: ${forecast:.2} + {margin} % asks for ${wanted:.0}; set {}'s threshold_usd in ticketing_catalog::alarms to {wanted:.0}, then opsctl --env prod alarms apply billing --execute",
                    b.name
                )
            } else if forecast >= b.design_usd {
                format!(
                    "follows the forecast (+{margin} %); the design's ${:.0} would fire every month",
                    b.design_usd
                )
            } else {
                format!("follows the forecast (+{margin} %)")
            };
            AlarmCheck {
                alarm: b.name,
                severity: b.severity,
                threshold_usd: b.threshold_usd,
                wanted_usd: wanted,
                design_usd: b.design_usd,
                forecast_usd: round2(forecast),
                follows_forecast: follows,
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
    use ticketing_catalog::alarms::{BILLING_CRITICAL, BILLING_WARNING};

    #[test]
    fn thresholds_are_the_forecast_plus_their_margin_rounded_up_to_five_dollars() {
        assert_eq!(wanted_threshold(129.82, 1.25), 165.0);
        assert_eq!(wanted_threshold(129.82, 1.5), 195.0);
        assert_eq!(wanted_threshold(100.0, 1.25), 125.0);
    }

    #[test]
    fn the_catalog_follows_the_forecast_it_was_set_from_and_no_other() {
        // The forecast the catalog's warning threshold was set from, exactly.
        let forecast = BILLING_WARNING.threshold_usd / BILLING_WARNING.over_forecast;
        let checks = check_alarms(forecast);
        assert!(checks[0].follows_forecast, "{checks:?}");
        assert!(!checks[0].fires_every_month);
        assert!(checks[0]
            .recommendation
            .contains("the design's $50 would fire"));

        let doubled = check_alarms(forecast * 2.0);
        assert!(doubled.iter().all(AlarmCheck::is_problem), "{doubled:?}");
        assert!(doubled[1].fires_every_month);
        assert!(
            doubled[0]
                .recommendation
                .contains("set ticketing-billing-alert-50's threshold_usd"),
            "{}",
            doubled[0].recommendation
        );
        assert_eq!(doubled[1].threshold_usd, BILLING_CRITICAL.threshold_usd);
    }
}
