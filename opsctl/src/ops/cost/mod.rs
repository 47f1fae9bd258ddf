//! The monthly cost model: unit prices (the price file) times the
//! footprint, row by row, next to the design's figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ticketing_catalog::footprint::{ComputeLayout, EcsTasks};

use crate::error::OpsError;
use crate::ops::profile::SizeProfile;

mod alarms;
mod coverage;
pub mod design;
pub mod diff;
pub mod free_tier;
mod layout;
mod model;
#[cfg(test)]
mod model_tests;
mod rows;

pub use alarms::{check_alarms, AlarmCheck};
pub use coverage::{FREE_TYPES, PRICED_TYPES};
pub use layout::{model, model_for, model_with};
pub use rows::Discounts;

/// The price file, compiled in.
pub const PRICES: &str = include_str!("../../../../infra/prices/us-east-1.toml");

/// One price and where it comes from.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub usd: f64,
    pub source: String,
    pub as_of: String,
    /// `design`, `transcribed` or `recalled` (see the price file's header).
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
    /// Effective hourly rates of 1-year No Upfront reservations, by the
    /// on-demand key they reserve (`rds:db.t3.micro`).
    pub reserved_1y_no_upfront: BTreeMap<String, Price>,
    /// A dated Spot price, by the on-demand key (`ec2:t2.micro`).
    pub spot: BTreeMap<String, Price>,
    /// Compute Savings Plan rates (1 year, No Upfront), by the on-demand key
    /// (`fargate:vcpu`, `fargate:gb`).
    pub savings_plan_1y_no_upfront: BTreeMap<String, Price>,
}

/// A fraction off an on-demand rate and what it comes from, for a formula.
#[derive(Debug, Clone, PartialEq)]
pub struct Off {
    pub name: String,
    pub fraction: f64,
}

impl Prices {
    pub fn load() -> Result<Prices, OpsError> {
        Self::parse(PRICES)
            .map_err(|e| OpsError::Failed(anyhow::anyhow!("the price file does not parse: {e}")))
    }

    /// A price file's text (`cost diff` reads the one of another revision).
    pub fn parse(text: &str) -> Result<Prices, toml::de::Error> {
        toml::from_str(text)
    }

    fn missing(kind: &str, key: &str) -> OpsError {
        OpsError::Failed(anyhow::anyhow!(
            "infra/prices/us-east-1.toml has no {kind} price `{key}`; add it with its source"
        ))
    }

    pub fn hourly(&self, key: &str) -> Result<f64, OpsError> {
        self.hourly
            .get(key)
            .map(|p| p.usd)
            .ok_or_else(|| Self::missing("hourly", key))
    }

    pub fn monthly(&self, key: &str) -> Result<f64, OpsError> {
        self.monthly
            .get(key)
            .map(|p| p.usd)
            .ok_or_else(|| Self::missing("monthly", key))
    }

    fn committed(
        &self,
        table: &'static str,
        map: &BTreeMap<String, Price>,
        key: &str,
    ) -> Result<f64, OpsError> {
        map.get(key)
            .map(|p| p.usd)
            .ok_or_else(|| Self::missing(table, key))
    }

    /// What a 1-year No Upfront reservation takes off `key`'s on-demand
    /// hourly rate: 1 - reserved / on-demand, per class.
    pub fn reserved_off(&self, key: &str) -> Result<Off, OpsError> {
        let rate = self.committed("reserved_1y_no_upfront", &self.reserved_1y_no_upfront, key)?;
        Ok(Off {
            name: format!("RI 1y No Upfront ${rate}/h"),
            fraction: 1.0 - rate / self.hourly(key)?,
        })
    }

    /// What the dated Spot price takes off `key`'s on-demand rate.
    pub fn spot_off(&self, key: &str) -> Result<Off, OpsError> {
        let rate = self.committed("spot", &self.spot, key)?;
        Ok(Off {
            name: format!("Spot ${rate}/h"),
            fraction: 1.0 - rate / self.hourly(key)?,
        })
    }

    /// What the Compute Savings Plan rates take off a Fargate task of
    /// `vcpu` vCPU and `gb` GB (the two rates are discounted apart, so the
    /// share depends on the task's shape).
    pub fn savings_plan_off(&self, vcpu: f64, gb: f64) -> Result<Off, OpsError> {
        let table = "savings_plan_1y_no_upfront";
        let map = &self.savings_plan_1y_no_upfront;
        let (c, g) = (
            self.committed(table, map, "fargate:vcpu")?,
            self.committed(table, map, "fargate:gb")?,
        );
        let on_demand = vcpu * self.hourly("fargate:vcpu")? + gb * self.hourly("fargate:gb")?;
        Ok(Off {
            name: format!("Compute Savings Plan ${c}/vCPU-h, ${g}/GB-h"),
            fraction: 1.0 - (vcpu * c + gb * g) / on_demand,
        })
    }

    /// [`Prices::savings_plan_off`] for the profile's task size.
    pub fn savings_plan_off_for(&self, profile: SizeProfile) -> Result<Off, OpsError> {
        let fp = profile.footprint();
        let tasks = fp.ecs_tasks(fp.layout);
        self.savings_plan_off(
            f64::from(tasks.cpu) / 1024.0,
            f64::from(tasks.memory_mib) / 1024.0,
        )
    }

    /// Every entry as (kind, key, source, as_of, checked), for the tests
    /// and the model's header.
    pub fn provenance(&self) -> Vec<(&'static str, &str, &str, &str, &str)> {
        let mut out = Vec::new();
        for (kind, map) in [
            ("hourly", &self.hourly),
            ("monthly", &self.monthly),
            ("reserved_1y_no_upfront", &self.reserved_1y_no_upfront),
            ("spot", &self.spot),
            (
                "savings_plan_1y_no_upfront",
                &self.savings_plan_1y_no_upfront,
            ),
        ] {
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
    /// The compute layout the rows price (the footprint's).
    pub layout: ComputeLayout,
    /// The same bill in the other layout.
    pub other_layout: Option<LayoutBill>,
}

/// The bill of the layout the footprint does not run.
#[derive(Debug, Serialize)]
pub struct LayoutBill {
    pub layout: ComputeLayout,
    /// Its Fargate tasks: how many, and each one's CPU units and MiB.
    pub tasks: EcsTasks,
    pub total: f64,
    /// Its total less the model's (positive: it costs more).
    pub difference: f64,
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Instance-hours at `rate` for `count` instances, with an optional discount.
pub fn instances(
    p: &Prices,
    key: &str,
    count: f64,
    off: Option<&Off>,
) -> Result<(f64, String), OpsError> {
    let rate = p.hourly(key)?;
    let gross = rate * p.hours_per_month * count;
    Ok(match off {
        Some(off) => (
            gross * (1.0 - off.fraction),
            format!(
                "{count} x ${rate}/h x {} h x (1 - {:.3} {})",
                p.hours_per_month, off.fraction, off.name
            ),
        ),
        None => (
            gross,
            format!("{count} x ${rate}/h x {} h", p.hours_per_month),
        ),
    })
}
