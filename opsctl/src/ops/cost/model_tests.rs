//! The model's unit tests (beside it: model.rs stays short).

use super::model::{model, model_with, Discounts};
use super::{round2, Prices};
use crate::args::SizeProfile;

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
fn a_discount_read_from_an_offering_replaces_the_flat_one_for_its_row() {
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
        cache.formula.contains("RI"),
        "the flat figure stays: {}",
        cache.formula
    );
    let fargate = m
        .rows
        .iter()
        .find(|r| r.item == "ECS Fargate")
        .expect("fargate");
    assert!(
        fargate.formula.contains("0.2 Cost Explorer"),
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
