//! What the RDS and ElastiCache APIs describe, in one form: reserved
//! offerings and the reservations held, with the product and Multi-AZ flag
//! a match depends on.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// An offering, as both APIs describe one.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Offering {
    pub id: String,
    pub class: String,
    pub duration_seconds: i64,
    pub offering_type: String,
    pub fixed_price: f64,
    /// The recurring hourly charge (No Upfront: all of the price).
    pub hourly: f64,
    /// "postgresql", "aurora-postgresql", "mysql", "redis", ...
    pub product: String,
    /// RDS only: a Multi-AZ offering (the footprint's instances are
    /// Single-AZ).
    pub multi_az: bool,
}

/// A reservation held now.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Reservation {
    pub id: String,
    pub class: String,
    pub count: i32,
    pub state: String,
    pub ends: Option<DateTime<Utc>>,
    pub product: String,
    pub multi_az: bool,
}

impl Offering {
    /// From the fields RDS and ElastiCache both describe an offering with.
    pub fn new(
        id: Option<&str>,
        class: Option<&str>,
        duration: Option<i32>,
        offering_type: Option<&str>,
        fixed_price: Option<f64>,
        usage_price: Option<f64>,
        recurring: impl Iterator<Item = f64>,
    ) -> Offering {
        Offering {
            id: id.unwrap_or_default().into(),
            class: class.unwrap_or_default().into(),
            duration_seconds: duration.map_or(0, i64::from),
            offering_type: offering_type.unwrap_or_default().into(),
            fixed_price: fixed_price.unwrap_or_default(),
            hourly: recurring.sum::<f64>() + usage_price.unwrap_or_default(),
            product: String::new(),
            multi_az: false,
        }
    }

    /// Its product and Multi-AZ flag.
    pub fn of(mut self, product: Option<&str>, multi_az: Option<bool>) -> Offering {
        self.product = product.unwrap_or_default().into();
        self.multi_az = multi_az.unwrap_or(false);
        self
    }
}

impl Reservation {
    /// From the fields RDS and ElastiCache both describe a reservation with.
    pub fn new(
        id: Option<&str>,
        class: Option<&str>,
        count: Option<i32>,
        state: Option<&str>,
        start: Option<&aws_smithy_types::DateTime>,
        duration: Option<i32>,
    ) -> Reservation {
        Reservation {
            id: id.unwrap_or_default().into(),
            class: class.unwrap_or_default().into(),
            count: count.unwrap_or(1),
            state: state.unwrap_or_default().into(),
            ends: to_utc(start).map(|s| s + Duration::seconds(duration.map_or(0, i64::from))),
            product: String::new(),
            multi_az: false,
        }
    }

    /// Its product and Multi-AZ flag.
    pub fn of(mut self, product: Option<&str>, multi_az: Option<bool>) -> Reservation {
        self.product = product.unwrap_or_default().into();
        self.multi_az = multi_az.unwrap_or(false);
        self
    }

    /// Whether it is for what runs: `class`, the `product` exactly,
    /// Single-AZ.
    pub fn matches(&self, class: &str, product: &str) -> bool {
        self.class == class && self.product == product && !self.multi_az
    }

    /// Active and payment-pending ones cover; retired ones do not.
    pub fn covers(&self, now: DateTime<Utc>) -> bool {
        matches!(self.state.as_str(), "active" | "payment-pending")
            && self.ends.is_none_or(|e| e > now)
    }
}

pub fn to_utc(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}
