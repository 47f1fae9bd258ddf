//! The event service's domain: seat states and what a new performance may
//! be. Pure: no I/O, unit-tested here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticketing_money::Money;

/// Largest seat map one performance may have.
pub const MAX_SEATS: i64 = 20_000;

/// Highest price one seat may have (10,000,000 KRW): far above any concert
/// ticket, low enough that no hold's sum comes near `i64::MAX`.
pub const MAX_SEAT_PRICE: Money = Money::won(10_000_000);

ticketing_db::text_enum! {
    /// A seat's state on the seat map. The table's `CHECK` constraint holds
    /// the same words (migration 0002).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "UPPERCASE")]
    pub enum SeatStatus / UnknownSeatStatus ("seat status") {
        Available = "AVAILABLE",
        Held = "HELD",
        Sold = "SOLD",
    }
}

/// A performance as an organiser submits it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPerformance {
    pub title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub sections: Vec<NewSection>,
}

/// One section: `rows` rows (A, B, ... Z, A1, ...) of `seats_per_row` seats
/// at one price.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSection {
    pub name: String,
    pub rows: u32,
    pub seats_per_row: u32,
    pub price: Money,
}

impl NewPerformance {
    /// The number of seats it has, or what is wrong with it.
    pub fn validate(&self) -> Result<i64, String> {
        if self.title.trim().is_empty() || self.title.chars().count() > 200 {
            return Err("`title` must be 1 to 200 characters".into());
        }
        if self.venue.trim().is_empty() || self.venue.chars().count() > 200 {
            return Err("`venue` must be 1 to 200 characters".into());
        }
        if self.sections.is_empty() {
            return Err("`sections` must name at least one section".into());
        }
        let mut total: i64 = 0;
        for s in &self.sections {
            if s.name.trim().is_empty() || s.name.chars().count() > 50 {
                return Err("each section `name` must be 1 to 50 characters".into());
            }
            if s.rows == 0 || s.rows > 26 * 4 || s.seats_per_row == 0 || s.seats_per_row > 500 {
                return Err(format!(
                    "section `{}`: rows must be 1-104 and seats_per_row 1-500",
                    s.name
                ));
            }
            if !s.price.is_positive() {
                return Err(format!("section `{}`: price must be positive", s.name));
            }
            if s.price > MAX_SEAT_PRICE {
                return Err(format!(
                    "section `{}`: price {} is above the {MAX_SEAT_PRICE} a seat may cost",
                    s.name, s.price
                ));
            }
            total += i64::from(s.rows) * i64::from(s.seats_per_row);
        }
        if total > MAX_SEATS {
            return Err(format!(
                "{total} seats is more than the {MAX_SEATS} one performance may have"
            ));
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concert(sections: &[(&str, u32, u32, i64)]) -> NewPerformance {
        NewPerformance {
            title: "Test Concert".into(),
            venue: "Olympic Hall".into(),
            starts_at: Utc::now(),
            sections: sections
                .iter()
                .map(|(name, rows, per_row, price)| NewSection {
                    name: (*name).into(),
                    rows: *rows,
                    seats_per_row: *per_row,
                    price: Money::won(*price),
                })
                .collect(),
        }
    }

    #[test]
    fn seat_statuses_round_trip_through_their_words() {
        for status in SeatStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert!("FREE".parse::<SeatStatus>().is_err());
    }

    #[test]
    fn a_performance_counts_its_seats_or_says_what_is_wrong() {
        assert_eq!(
            concert(&[("R", 2, 10, 55_000), ("S", 1, 5, 1)]).validate(),
            Ok(25)
        );
        assert_eq!(
            concert(&[]).validate(),
            Err("`sections` must name at least one section".into())
        );
        let free = concert(&[("R", 1, 1, 0)]).validate();
        assert_eq!(free, Err("section `R`: price must be positive".into()));
        let huge = concert(&[("R", 104, 500, 1)]).validate();
        assert_eq!(
            huge,
            Err("52000 seats is more than the 20000 one performance may have".into())
        );
        assert!(concert(&[("R", 105, 1, 1)]).validate().is_err());
        assert_eq!(
            concert(&[("R", 1, 1, 10_000_001)]).validate(),
            Err(
                "section `R`: price 10,000,001 KRW is above the 10,000,000 KRW a seat may cost"
                    .into()
            )
        );
        assert_eq!(concert(&[("R", 1, 1, 10_000_000)]).validate(), Ok(1));
        let mut untitled = concert(&[("R", 1, 1, 1)]);
        untitled.title = "  ".into();
        assert!(untitled.validate().is_err());
    }
}
