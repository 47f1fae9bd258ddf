//! The free tier as AWS defines it for the account's start date: accounts
//! opened before 2025-07-15 keep the legacy 12-month offers (750 hours a
//! month of one small database, cache node and instance, their storage,
//! an ALB and a public IPv4 address); accounts opened from then get the
//! credit-based plan ($200 of credits for the first 6 months) instead.
//! The always-free allowances (5 GB of logs, 10 alarm metrics) are in the
//! model's rows already. Sources: AWS's own agent toolkit, "Free Tier: July
//! 2025 transition" (github.com/aws/agent-toolkit-for-aws,
//! skills/core-skills/aws-billing-and-cost-management/references/free-tier.md),
//! and the Billing User Guide, "Using the AWS Free Tier"; the legacy
//! allowances are the design's (750 hours) and AWS's free-tier page as
//! this team knows it (not re-read here).

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::{round2, Model, Prices};
use crate::error::OpsError;

/// The day the credit-based plan replaced the 12-month offers.
pub fn credit_plan_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 7, 15).unwrap_or_default()
}

/// Credits a new account gets (sign-up and activities together), and for
/// how many months from opening they apply.
pub const PLAN_CREDITS_USD: f64 = 200.0;
pub const PLAN_MONTHS: u32 = 6;
/// The legacy offers last this many months from opening.
pub const LEGACY_MONTHS: u32 = 12;
/// Hours a month each legacy 12-month instance offer covers.
pub const LEGACY_HOURS: f64 = 750.0;

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct FreeTier {
    pub plan: &'static str,
    /// Whole months since the account was opened (0: its first month).
    pub month_index: u32,
    /// What the free tier takes off this month, by what.
    pub offsets: Vec<(String, f64)>,
    /// The bill after the free tier.
    pub bill: f64,
}

/// Months from `opened` to `month` (both as dates; only year and month count).
pub fn months_between(opened: NaiveDate, month: NaiveDate) -> Option<u32> {
    let a = opened.year() * 12 + opened.month0() as i32;
    let b = month.year() * 12 + month.month0() as i32;
    u32::try_from(b - a).ok()
}

fn row(m: &Model, item: &str) -> f64 {
    m.rows
        .iter()
        .find(|r| r.item == item)
        .map_or(0.0, |r| r.monthly)
}

/// The bill of `month` for an account opened on `opened`, from the model
/// of that month. The credits pay the months in order, each month costing
/// what the model says.
pub fn apply(
    p: &Prices,
    m: &Model,
    opened: NaiveDate,
    month: NaiveDate,
) -> Result<FreeTier, OpsError> {
    let index = months_between(opened, month).ok_or_else(|| {
        OpsError::usage(
            format!("{month} is before the account was opened ({opened})"),
            "give --month on or after --account-opened",
        )
    })?;
    let mut offsets = Vec::new();
    let plan = if opened < credit_plan_start() {
        if index < LEGACY_MONTHS {
            offsets = legacy_offsets(p, m)?;
            "legacy 12-month free tier"
        } else {
            "legacy free tier, 12 months over (always-free only)"
        }
    } else if index < PLAN_MONTHS {
        // Credits cover the bills in order until they are spent; each month
        // of the model costs the same, so the earlier months took index x
        // the bill.
        let spent_before = (f64::from(index) * m.total).min(PLAN_CREDITS_USD);
        let left = PLAN_CREDITS_USD - spent_before;
        offsets.push((
            format!("credits (${PLAN_CREDITS_USD:.0} for {PLAN_MONTHS} months; ${left:.2} left)"),
            left.min(m.total),
        ));
        "credit-based free plan (a Free-plan account closes when the credits are spent; a Paid-plan one pays the rest)"
    } else {
        "credit-based plan, 6 months over (always-free only)"
    };
    let off: f64 = offsets.iter().map(|(_, v)| v).sum();
    Ok(FreeTier {
        plan,
        month_index: index,
        offsets: offsets.into_iter().map(|(n, v)| (n, round2(v))).collect(),
        bill: round2((m.total - off).max(0.0)),
    })
}

/// What the legacy 12-month free tier takes off a month of the model:
/// 750 hours of one instance of each offer the footprint runs, and the
/// storage offers.
fn legacy_offsets(p: &Prices, m: &Model) -> Result<Vec<(String, f64)>, OpsError> {
    let mut offsets = Vec::new();
    let h = p.hours_per_month;
    let hours = LEGACY_HOURS.min(h);
    let fp = m.profile.footprint();
    // (offer, its hourly price, whether the footprint runs that
    // class, the row it comes off): 750 hours of one instance each.
    let instance_offers = [
        (
            "RDS db.t3.micro",
            "rds:db.t3.micro",
            fp.rds_class == "db.t3.micro",
            "RDS PostgreSQL",
        ),
        (
            "ElastiCache cache.t3.micro",
            "elasticache:cache.t3.micro",
            fp.redis_node_type == "cache.t3.micro",
            "ElastiCache Redis",
        ),
        (
            "EC2 t2.micro",
            "ec2:t2.micro",
            fp.broker_instance_type == "t2.micro",
            "EC2 Kafka",
        ),
        ("ALB", "alb", true, "Application Load Balancer"),
        (
            "public IPv4 (EC2)",
            "ipv4:public",
            true,
            "Public IPv4 (Kafka)",
        ),
    ];
    for (offer, key, runs, item) in instance_offers {
        if runs {
            offsets.push((
                format!("{offer}, 750 h"),
                (p.hourly(key)? * hours).min(row(m, item)),
            ));
        }
    }
    // Storage offers: 20 GB of the database's, 30 GB of EBS.
    if fp.rds_class == "db.t3.micro" {
        let gb = 20f64.min(f64::from(fp.rds_storage_gb * fp.rds_instances));
        offsets.push((
            "RDS storage, 20 GB".into(),
            gb * p.monthly("rds:storage_gb")?,
        ));
    }
    if fp.broker_instance_type == "t2.micro" {
        let gb = 30f64.min(f64::from(fp.broker_ebs_gb * fp.brokers));
        offsets.push(("EBS, 30 GB".into(), gb * p.monthly("ebs:gp3_gb")?));
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::cost::model;
    use crate::ops::profile::SizeProfile;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn the_account_s_start_date_chooses_the_free_tier() {
        let p = Prices::load().expect("prices");
        let m = model(&p, SizeProfile::Mvp, false, 0.5).expect("model");
        // Legacy: the first year takes the small instances off, then nothing.
        let first = apply(&p, &m, date("2025-03-01"), date("2025-04-01")).expect("legacy");
        assert_eq!(first.plan, "legacy 12-month free tier");
        assert!(first.bill < m.total - 30.0, "{first:?}");
        // Only the small classes the offers name: at 10x, just the ALB and
        // the address.
        let big = model(&p, SizeProfile::Scale10x, false, 0.5).expect("10x");
        let big_first = apply(&p, &big, date("2025-03-01"), date("2025-04-01")).expect("10x");
        let offers: Vec<&str> = big_first.offsets.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(offers, ["ALB, 750 h", "public IPv4 (EC2), 750 h"]);
        let later = apply(&p, &m, date("2025-03-01"), date("2026-04-01")).expect("later");
        assert_eq!(later.bill, m.total);
        // The credit plan: $200 cover the first month in full, then run out.
        let new = apply(&p, &m, date("2025-08-10"), date("2025-08-01")).expect("plan");
        assert!(
            new.plan.starts_with("credit-based free plan"),
            "{}",
            new.plan
        );
        assert_eq!(new.bill, 0.0);
        let second = apply(&p, &m, date("2025-08-10"), date("2025-09-01")).expect("plan");
        assert_eq!(
            second.bill,
            round2((2.0 * m.total - 200.0).max(0.0)).min(m.total)
        );
        let after = apply(&p, &m, date("2025-08-10"), date("2026-03-01")).expect("after");
        assert_eq!(after.bill, m.total);
        assert!(apply(&p, &m, date("2025-08-10"), date("2025-07-01")).is_err());
    }
}
