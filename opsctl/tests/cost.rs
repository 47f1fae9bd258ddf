//! `opsctl cost model` through the real binary: JSON for every profile, and a
//! clear refusal of an unknown one.

fn opsctl(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_opsctl"))
        .args(args)
        .output()
        .expect("opsctl runs")
}

#[test]
fn the_model_is_computed_for_each_profile_and_names_the_design_s_disagreements() {
    for profile in ["mvp", "scale-10x"] {
        let out = opsctl(&["--output", "json", "cost", "model", "--profile", profile]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let model: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let rows = model["rows"].as_array().expect("rows");
        assert!(rows.len() >= 5);
        let sum: f64 = rows.iter().filter_map(|r| r["monthly"].as_f64()).sum();
        assert!((sum - model["total"].as_f64().expect("total")).abs() < 0.01);
        assert_eq!(model["prices_reviewed"], "2026-12-02");
    }
    let table = opsctl(&["cost", "model"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("disagrees: ECS Fargate"), "{text}");
    let bad = opsctl(&["cost", "model", "--profile", "huge"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("scale-10x"));
}

/// Every resource type the templates create is priced by a row of the
/// model, or listed as free with the reason; every entry of the price file
/// says where its number comes from and as of when.
#[test]
fn every_billable_resource_of_the_templates_is_priced_and_every_price_has_a_source() {
    use opsctl::ops::cost::{model, Prices, FREE_TYPES, PRICED_TYPES};
    let templates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/templates");
    let mut types = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&templates).expect("templates") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("template");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        for (_, resource) in doc["Resources"].as_mapping().expect("Resources") {
            types.insert(resource["Type"].as_str().expect("Type").to_owned());
        }
    }
    let priced: std::collections::BTreeSet<&str> = PRICED_TYPES.iter().map(|(t, _)| *t).collect();
    let free: std::collections::BTreeSet<&str> = FREE_TYPES.iter().map(|(t, _)| *t).collect();
    assert!(priced.is_disjoint(&free));
    let unpriced: Vec<&String> = types
        .iter()
        .filter(|t| !priced.contains(t.as_str()) && !free.contains(t.as_str()))
        .collect();
    assert!(
        unpriced.is_empty(),
        "billable resources the cost model does not price (add a row, or list them as free with the reason): {unpriced:?}"
    );
    let prices = Prices::load().expect("prices");
    for profile in [
        opsctl::args::SizeProfile::Mvp,
        opsctl::args::SizeProfile::Scale10x,
    ] {
        for optimized in [false, true] {
            let m =
                model(&prices, profile, optimized, 0.5).expect("every price the model uses exists");
            for (kind, row) in PRICED_TYPES {
                assert!(
                    m.rows.iter().any(|r| r.item == *row),
                    "{kind} is priced by row {row}, which the {profile:?} model lacks"
                );
            }
        }
    }
    for (kind, key, source, as_of, checked) in prices.provenance() {
        assert!(!source.trim().is_empty(), "{kind} {key} has no source");
        assert!(
            chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d").is_ok(),
            "{kind} {key}: as_of {as_of:?} is not a date"
        );
        assert!(
            ["read", "design", "recalled"].contains(&checked),
            "{kind} {key}: checked {checked:?}"
        );
    }
}
