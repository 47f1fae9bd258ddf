//! The model's unit tests (beside it: model.rs stays short).

use super::layout::{model, model_with};
use super::rows::Discounts;
use super::{round2, Prices};
use crate::ops::profile::SizeProfile;

#[test]
fn rows_are_unit_prices_times_hours_plus_storage() {
    let p = Prices::load().expect("prices");
    let m = model(&p, SizeProfile::Mvp, false, 0.5).expect("model");
    let rds = m
        .rows
        .iter()
        .find(|r| r.item == "RDS PostgreSQL")
        .expect("rds");
    assert_eq!(rds.monthly, round2(0.018 * 730.0 + 20.0 * 0.115));
    let total: f64 = m.rows.iter().map(|r| r.monthly).sum();
    assert_eq!(m.total, round2(total));
    // Retention cuts stored bytes, never the ingestion (5 GB a month
    // are always free).
    let logs = m
        .rows
        .iter()
        .find(|r| r.item == "CloudWatch Logs")
        .expect("logs");
    assert_eq!(logs.monthly, round2(5.0 * 0.03));
    // The design's Fargate figure cannot be had at Fargate's list price.
    assert!(
        m.disagreements.iter().any(|d| d.starts_with("ECS Fargate")),
        "{:?}",
        m.disagreements
    );
}

#[test]
fn optimisations_lower_the_bill_and_the_big_profile_costs_more() {
    let p = Prices::load().expect("prices");
    let plain = model(&p, SizeProfile::Mvp, false, 0.5).expect("plain");
    let optimized = model(&p, SizeProfile::Mvp, true, 0.5).expect("optimized");
    let big = model(&p, SizeProfile::Scale10x, false, 0.5).expect("big");
    assert!(optimized.total < plain.total);
    assert!(big.total > plain.total * 5.0);
}

#[test]
fn a_discount_read_from_an_offering_replaces_the_price_file_s_rate_for_its_row() {
    let p = Prices::load().expect("prices");
    let measured = Discounts {
        rds: Some(("offering x (1-year No Upfront)".into(), 0.3)),
        cache: None,
        fargate: Some(("Cost Explorer's recommendation".into(), 0.2)),
    };
    let m = model_with(&p, SizeProfile::Mvp, true, 0.5, &measured).expect("model");
    let rds = m
        .rows
        .iter()
        .find(|r| r.item == "RDS PostgreSQL")
        .expect("rds");
    assert_eq!(rds.monthly, round2(0.018 * 730.0 * 0.7 + 20.0 * 0.115));
    assert!(rds.formula.contains("offering x"), "{}", rds.formula);
    let cache = m
        .rows
        .iter()
        .find(|r| r.item == "ElastiCache Redis")
        .expect("cache");
    assert!(
        cache.formula.contains("RI 1y No Upfront $0.012/h"),
        "the price file's rate stays: {}",
        cache.formula
    );
    let fargate = m
        .rows
        .iter()
        .find(|r| r.item == "ECS Fargate")
        .expect("fargate");
    assert!(
        fargate.formula.contains("0.200 Cost Explorer"),
        "{}",
        fargate.formula
    );
    // Not optimised: no discount at all.
    let plain = model_with(&p, SizeProfile::Mvp, false, 0.5, &measured).expect("plain");
    let rds = plain
        .rows
        .iter()
        .find(|r| r.item == "RDS PostgreSQL")
        .expect("rds");
    assert_eq!(rds.monthly, round2(0.018 * 730.0 + 20.0 * 0.115));
}

#[test]
fn optimised_rows_take_each_class_s_own_committed_rate_off() {
    let p = Prices::load().expect("prices");
    let m = model(&p, SizeProfile::Mvp, true, 0.5).expect("model");
    let monthly = |item: &str| {
        m.rows
            .iter()
            .find(|r| r.item == item)
            .map(|r| r.monthly)
            .expect(item)
    };
    // Within a cent: the rate goes through its derived fraction.
    let near = |item: &str, want: f64| {
        let got = monthly(item);
        assert!((got - want).abs() <= 0.01, "{item}: {got} against {want}");
    };
    // Reservations: the reserved hourly rate itself, per class (storage is
    // not reserved).
    near("RDS PostgreSQL", round2(0.013 * 730.0 + 20.0 * 0.115));
    near("ElastiCache Redis", round2(0.012 * 730.0));
    let rds = p.reserved_off("rds:db.t3.micro").expect("rds").fraction;
    let cache = p
        .reserved_off("elasticache:cache.t3.micro")
        .expect("cache")
        .fraction;
    assert!((rds - cache).abs() > 0.01, "one flat rate: {rds} {cache}");
    // Spot: the dated price of the broker's type, the data and root
    // volumes at list price.
    near("EC2 Kafka", round2(0.0035 * 730.0 + (20.0 + 8.0) * 0.08));
    // Savings Plan: both rates, for the task's shape: the MVP's one
    // combined task of 1 vCPU x 2 GB.
    near(
        "ECS Fargate",
        round2((1.0 * 0.0324 + 2.0 * 0.00356) * 730.0),
    );
    // 10x: its own classes' rates, not the small ones'.
    let big = model(&p, SizeProfile::Scale10x, true, 0.5).expect("10x");
    let rds = big
        .rows
        .iter()
        .find(|r| r.item == "RDS PostgreSQL")
        .expect("rds");
    assert!(rds.formula.contains("$0.175/h"), "{}", rds.formula);
}

#[test]
fn the_mvp_runs_combined_and_prices_the_split_layout_beside_it() {
    use ticketing_catalog::footprint::ComputeLayout;
    let p = Prices::load().expect("prices");
    let m = model(&p, SizeProfile::Mvp, false, 0.5).expect("model");
    assert_eq!(m.layout, ComputeLayout::Combined);
    let fargate = m
        .rows
        .iter()
        .find(|r| r.item == "ECS Fargate")
        .expect("fargate");
    assert_eq!(
        fargate.monthly,
        round2((1.0 * 0.04048 + 2.0 * 0.004445) * 730.0)
    );
    let split = m.other_layout.as_ref().expect("the other layout");
    assert_eq!(split.layout, ComputeLayout::Split);
    assert_eq!(split.tasks.count, 6);
    // Six tasks of 0.25 vCPU x 0.5 GB, and five more public IPv4 addresses
    // and Cloud Map instances than the one combined task.
    let six = 6.0 * (0.25 * 0.04048 + 0.5 * 0.004445) * 730.0;
    let one = (1.0 * 0.04048 + 2.0 * 0.004445) * 730.0;
    let ipv4 = 5.0 * p.hourly("ipv4:public").expect("ipv4") * 730.0;
    let cloud_map = 5.0 * p.monthly("cloudmap:instance").expect("cloud map");
    assert!(
        (split.difference - (six - one + ipv4 + cloud_map)).abs() <= 0.02,
        "{} against {}",
        split.difference,
        six - one + ipv4 + cloud_map
    );
    assert_eq!(split.total, round2(m.total + split.difference));
    // `--output json` carries both layouts, with the other one's tasks.
    let json = serde_json::to_value(&m).expect("the model as JSON");
    assert_eq!(json["layout"], "combined");
    assert_eq!(json["other_layout"]["layout"], "split");
    assert_eq!(json["other_layout"]["tasks"]["count"], 6);
    assert_eq!(json["other_layout"]["tasks"]["cpu"], 256);
    // At 10x the services run apart; the combined layout is the what-if.
    let big = model(&p, SizeProfile::Scale10x, false, 0.5).expect("10x");
    assert_eq!(big.layout, ComputeLayout::Split);
    assert_eq!(
        big.other_layout.as_ref().map(|o| o.layout),
        Some(ComputeLayout::Combined)
    );
}
