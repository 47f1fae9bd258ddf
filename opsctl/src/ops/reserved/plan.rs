//! Reserved capacity, pure: what the footprint needs reserved (with our
//! own reservation ids, so a second purchase is refused by AWS as a
//! duplicate), the offerings that match, and the plan line per engine.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;

use crate::ops::cost::round2;
use crate::ops::profile::SizeProfile;

pub use super::inventory::{to_utc, Offering, Reservation};

/// One year, as the APIs spell durations.
pub const ONE_YEAR_SECONDS: i64 = 31_536_000;

pub const OFFERING_TYPE: &str = "No Upfront";

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Rds,
    Elasticache,
}

impl Engine {
    pub fn short(self) -> &'static str {
        match self {
            Engine::Rds => "rds",
            Engine::Elasticache => "redis",
        }
    }

    /// The product an offering and a reservation must be for, exactly: RDS
    /// "postgresql" (the filter also matches "aurora-postgresql"), ElastiCache
    /// "redis".
    pub fn product(self) -> &'static str {
        match self {
            Engine::Rds => "postgresql",
            Engine::Elasticache => "redis",
        }
    }

    pub fn price_key(self, class: &str) -> String {
        match self {
            Engine::Rds => format!("rds:{class}"),
            Engine::Elasticache => format!("elasticache:{class}"),
        }
    }
}

/// What the footprint needs reserved.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub engine: Engine,
    pub class: String,
    pub count: i32,
    /// The MVP's class is the design's; others get the class in the id.
    pub mvp_class: bool,
}

pub fn targets(profile: SizeProfile) -> Vec<Target> {
    let fp = profile.footprint();
    let mvp = ticketing_catalog::footprint::MVP;
    vec![
        Target {
            engine: Engine::Rds,
            class: fp.rds_class.into(),
            count: fp.rds_instances as i32,
            mvp_class: fp.rds_class == mvp.rds_class,
        },
        Target {
            engine: Engine::Elasticache,
            class: fp.redis_node_type.into(),
            count: fp.redis_nodes as i32,
            mvp_class: fp.redis_node_type == mvp.redis_node_type,
        },
    ]
}

/// `ticketing-rds-ri-2027`: the year the reservation ends.
pub fn reservation_id(target: &Target, now: DateTime<Utc>) -> String {
    let ends = (now + Duration::seconds(ONE_YEAR_SECONDS)).year();
    if target.mvp_class {
        format!("ticketing-{}-ri-{ends}", target.engine.short())
    } else {
        let class = target
            .class
            .trim_start_matches("db.")
            .trim_start_matches("cache.")
            .replace('.', "-");
        format!("ticketing-{}-{class}-ri-{ends}", target.engine.short())
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct Line {
    pub engine: Engine,
    pub class: String,
    pub needed: i32,
    pub covered: i32,
    pub to_buy: i32,
    pub reservation_id: String,
    pub offering: Option<Offering>,
    pub held: Vec<Reservation>,
    pub on_demand_monthly: f64,
    pub after_monthly: f64,
    pub problem: Option<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Plan {
    pub profile: SizeProfile,
    pub lines: Vec<Line>,
    pub before_monthly: f64,
    pub after_monthly: f64,
}

/// The plan for one target: pure.
pub fn plan_line(
    target: &Target,
    offerings: &[Offering],
    held: &[Reservation],
    on_demand_hourly: f64,
    hours_per_month: f64,
    now: DateTime<Utc>,
) -> Line {
    // Our id, unless a reservation under it failed to be paid: that one
    // covers nothing and keeps the id, so the next purchase takes `-2`.
    let base = reservation_id(target, now);
    let mut id = base.clone();
    for n in 2.. {
        if !held
            .iter()
            .any(|r| r.id == id && r.state == "payment-failed")
        {
            break;
        }
        id = format!("{base}-{n}");
    }
    // A MySQL, Aurora or Multi-AZ reservation of the same class does not
    // discount what we run.
    let mine: Vec<Reservation> = held
        .iter()
        .filter(|r| r.matches(&target.class, target.engine.product()) || r.id == id)
        .cloned()
        .collect();
    // Our own id in any state but retired or payment-failed means this
    // run's purchase was already made (perhaps by a run that failed
    // afterwards); a payment that failed covers nothing.
    let covered: i32 = mine
        .iter()
        .filter(|r| {
            (r.covers(now) && r.matches(&target.class, target.engine.product()))
                || (r.id == id && !matches!(r.state.as_str(), "retired" | "payment-failed"))
        })
        .map(|r| r.count)
        .sum();
    let to_buy = (target.count - covered).max(0);
    let offering = offerings
        .iter()
        .filter(|o| {
            o.class == target.class
                && o.product == target.engine.product()
                && !o.multi_az
                && o.duration_seconds == ONE_YEAR_SECONDS
                && o.offering_type == OFFERING_TYPE
        })
        .min_by(|a, b| a.hourly.total_cmp(&b.hourly))
        .cloned();
    let on_demand = on_demand_hourly * hours_per_month * f64::from(target.count);
    let reserved_count = covered.min(target.count) + if offering.is_some() { to_buy } else { 0 };
    let reserved_hourly = offering.as_ref().map_or(on_demand_hourly, |o| {
        o.hourly + o.fixed_price / (ONE_YEAR_SECONDS as f64 / 3600.0)
    });
    let after = reserved_hourly * hours_per_month * f64::from(reserved_count)
        + on_demand_hourly * hours_per_month * f64::from(target.count - reserved_count);
    let problem = (to_buy > 0 && offering.is_none()).then(|| {
        format!(
            "no 1-year {OFFERING_TYPE} offering for {} in this region",
            target.class
        )
    });
    Line {
        engine: target.engine,
        class: target.class.clone(),
        needed: target.count,
        covered,
        to_buy,
        reservation_id: id,
        offering,
        held: mine,
        on_demand_monthly: round2(on_demand),
        after_monthly: round2(after),
        problem,
    }
}

/// The fraction a line's offering takes off the on-demand rate (its
/// recurring charge plus its fixed charge spread over the year), and the
/// offering it comes from; `None` without an offering.
pub fn offering_discount(line: &Line, on_demand_hourly: f64) -> Option<(String, f64)> {
    let o = line.offering.as_ref()?;
    if on_demand_hourly <= 0.0 {
        return None;
    }
    let effective = o.hourly + o.fixed_price / (ONE_YEAR_SECONDS as f64 / 3600.0);
    Some((
        format!("offering {} (1-year {OFFERING_TYPE})", o.id),
        (1.0 - effective / on_demand_hourly).clamp(0.0, 1.0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn offering(class: &str, hourly: f64) -> Offering {
        Offering {
            id: format!("off-{class}"),
            class: class.into(),
            duration_seconds: ONE_YEAR_SECONDS,
            offering_type: OFFERING_TYPE.into(),
            fixed_price: 0.0,
            hourly,
            product: "postgresql".into(),
            multi_az: false,
        }
    }

    #[test]
    fn an_offering_s_discount_counts_its_fixed_and_recurring_charges() {
        let now = at("2026-11-25T00:00:00Z");
        let t = &targets(SizeProfile::Mvp)[0];
        let with_fixed = Offering {
            fixed_price: 8.76,
            ..offering("db.t3.micro", 0.009)
        };
        let line = plan_line(t, &[with_fixed], &[], 0.018, 730.0, now);
        let (from, off) = offering_discount(&line, 0.018).expect("a discount");
        // 0.009/h recurring + $8.76 over 8,760 h = $0.010/h: 44.4 % off $0.018.
        assert!((off - (1.0 - 0.010 / 0.018)).abs() < 1e-9, "{off}");
        assert!(from.contains("1-year"), "{from}");
        let none = plan_line(t, &[], &[], 0.018, 730.0, now);
        assert!(offering_discount(&none, 0.018).is_none());
    }

    #[test]
    fn ids_name_the_year_the_reservation_ends() {
        let now = at("2026-11-25T00:00:00Z");
        let t = &targets(SizeProfile::Mvp);
        assert_eq!(reservation_id(&t[0], now), "ticketing-rds-ri-2027");
        assert_eq!(reservation_id(&t[1], now), "ticketing-redis-ri-2027");
        let big = &targets(SizeProfile::Scale10x);
        assert_eq!(
            reservation_id(&big[0], now),
            "ticketing-rds-r5-large-ri-2027"
        );
        assert_eq!(big[0].count, 2);
    }

    #[test]
    fn active_reservations_cover_and_expired_or_retired_ones_do_not() {
        let now = at("2026-11-25T00:00:00Z");
        let t = &targets(SizeProfile::Mvp)[0];
        let offers = [offering("db.t3.micro", 0.01)];
        let fresh = plan_line(t, &offers, &[], 0.017, 730.0, now);
        assert_eq!((fresh.covered, fresh.to_buy), (0, 1));
        assert_eq!(fresh.on_demand_monthly, 12.41);
        assert_eq!(fresh.after_monthly, 7.3);
        let active = Reservation {
            id: "someone-elses".into(),
            class: "db.t3.micro".into(),
            count: 1,
            state: "active".into(),
            ends: Some(at("2027-06-01T00:00:00Z")),
            product: "postgresql".into(),
            multi_az: false,
        };
        assert_eq!(
            plan_line(t, &offers, std::slice::from_ref(&active), 0.017, 730.0, now).to_buy,
            0
        );
        let expired = Reservation {
            ends: Some(at("2026-01-01T00:00:00Z")),
            ..active.clone()
        };
        assert_eq!(
            plan_line(t, &offers, &[expired], 0.017, 730.0, now).to_buy,
            1
        );
        let retired = Reservation {
            state: "retired".into(),
            ..active.clone()
        };
        assert_eq!(
            plan_line(t, &offers, &[retired], 0.017, 730.0, now).to_buy,
            1
        );
        // Our own id, still being paid for, counts.
        let ours = Reservation {
            id: "ticketing-rds-ri-2027".into(),
            state: "payment-pending".into(),
            ends: None,
            ..active
        };
        assert_eq!(plan_line(t, &offers, &[ours], 0.017, 730.0, now).to_buy, 0);
        let no_offer = plan_line(t, &[], &[], 0.017, 730.0, now);
        assert!(no_offer.problem.is_some());
    }

    #[test]
    fn other_engines_multi_az_and_unpaid_reservations_neither_cover_nor_are_bought() {
        let now = at("2026-11-25T00:00:00Z");
        let t = &targets(SizeProfile::Mvp)[0];
        // The cheapest offerings are Aurora's and a Multi-AZ one: never chosen.
        let offers = [
            Offering {
                product: "aurora-postgresql".into(),
                ..offering("db.t3.micro", 0.004)
            },
            Offering {
                multi_az: true,
                ..offering("db.t3.micro", 0.005)
            },
            offering("db.t3.micro", 0.01),
        ];
        let line = plan_line(t, &offers, &[], 0.017, 730.0, now);
        let chosen = line.offering.expect("an offering");
        assert_eq!(
            (chosen.product.as_str(), chosen.multi_az, chosen.hourly),
            ("postgresql", false, 0.01)
        );
        let held = |product: &str, multi_az: bool, id: &str, state: &str| Reservation {
            id: id.into(),
            class: "db.t3.micro".into(),
            count: 1,
            state: state.into(),
            ends: None,
            product: product.into(),
            multi_az,
        };
        let others = [
            held("mysql", false, "a", "active"),
            held("postgresql", true, "b", "active"),
            held(
                "postgresql",
                false,
                "ticketing-rds-ri-2027",
                "payment-failed",
            ),
        ];
        let line = plan_line(t, &offers, &others, 0.017, 730.0, now);
        assert_eq!((line.covered, line.to_buy), (0, 1));
        assert_eq!(
            line.reservation_id, "ticketing-rds-ri-2027-2",
            "the unpaid reservation keeps its id; the purchase takes the next"
        );
    }
}
