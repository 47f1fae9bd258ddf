//! The monthly cost model: unit prices (the price file) times the
//! footprint, row by row, next to the design's figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::args::SizeProfile;
use crate::error::CliError;

mod alarms;
mod coverage;
pub mod design;
pub mod free_tier;
mod model;
#[cfg(test)]
mod model_tests;

pub use alarms::{check_alarms, AlarmCheck};
pub use coverage::{FREE_TYPES, PRICED_TYPES};
pub use model::{model, model_with, Discounts};

/// The price file, compiled in.
pub const PRICES: &str = include_str!("../../../../infra/prices/us-east-1.toml");

/// One price and where it comes from.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub usd: f64,
    pub source: String,
    pub as_of: String,
    /// `design` or `recalled` (see the price file's header).
    pub checked: String,
}

/// A fraction off the on-demand price, and where it comes from.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Discount {
    pub fraction: f64,
    pub source: String,
    pub as_of: String,
    pub checked: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// When the file was last reviewed as a whole.
    pub reviewed: String,
    pub hours_per_month: f64,
    pub hourly: BTreeMap<String, Price>,
    pub monthly: BTreeMap<String, Price>,
    pub discount: BTreeMap<String, Discount>,
}

impl Prices {
    pub fn load() -> Result<Prices, CliError> {
        toml::from_str(PRICES)
            .map_err(|e| CliError::Failed(anyhow::anyhow!("the price file does not parse: {e}")))
    }

    fn missing(kind: &str, key: &str) -> CliError {
        CliError::Failed(anyhow::anyhow!(
            "infra/prices/us-east-1.toml has no {kind} price `{key}`; add it with its source"
        ))
    }

    pub fn hourly(&self, key: &str) -> Result<f64, CliError> {
        self.hourly
            .get(key)
            .map(|p| p.usd)
            .ok_or_else(|| Self::missing("hourly", key))
    }

    pub fn monthly(&self, key: &str) -> Result<f64, CliError> {
        self.monthly
            .get(key)
            .map(|p| p.usd)
            .ok_or_else(|| Self::missing("monthly", key))
    }

    pub fn discount(&self, key: &str) -> Result<f64, CliError> {
        self.discount
            .get(key)
            .map(|d| d.fraction)
            .ok_or_else(|| Self::missing("discount", key))
    }

    /// Every entry as (kind, key, source, as_of, checked), for the tests
    /// and the model's header.
    pub fn provenance(&self) -> Vec<(&'static str, &str, &str, &str, &str)> {
        let mut out = Vec::new();
        for (kind, map) in [("hourly", &self.hourly), ("monthly", &self.monthly)] {
            for (k, p) in map {
                out.push((
                    kind,
                    k.as_str(),
                    p.source.as_str(),
                    p.as_of.as_str(),
                    p.checked.as_str(),
                ));
            }
        }
        for (k, d) in &self.discount {
            out.push((
                "discount",
                k.as_str(),
                d.source.as_str(),
                d.as_of.as_str(),
                d.checked.as_str(),
            ));
        }
        out
    }
}

/// One row of the model.
#[derive(Debug, Serialize, Clone)]
pub struct Row {
    pub item: &'static str,
    pub spec: String,
    pub formula: String,
    pub monthly: f64,
    /// The design document's figure for the same row, where it gives one.
    pub design: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Model {
    pub profile: SizeProfile,
    pub optimized: bool,
    pub prices_reviewed: String,
    /// Prices taken as the design or this team recalls them, not read from
    /// AWS on their date: re-read these first.
    pub prices_unread: usize,
    pub rows: Vec<Row>,
    pub total: f64,
    pub design_total: Option<f64>,
    pub disagreements: Vec<String>,
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Instance-hours at `rate` for `count` instances, with an optional discount.
pub fn instances(
    p: &Prices,
    key: &str,
    count: f64,
    off: Option<(&str, f64)>,
) -> Result<(f64, String), CliError> {
    let rate = p.hourly(key)?;
    let gross = rate * p.hours_per_month * count;
    Ok(match off {
        Some((name, d)) => (
            gross * (1.0 - d),
            format!(
                "{count} x ${rate}/h x {} h x (1 - {d} {name})",
                p.hours_per_month
            ),
        ),
        None => (
            gross,
            format!("{count} x ${rate}/h x {} h", p.hours_per_month),
        ),
    })
}
