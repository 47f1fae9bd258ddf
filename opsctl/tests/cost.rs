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
        assert_eq!(model["prices_date"], "2026-01-12");
    }
    let table = opsctl(&["cost", "model"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("disagrees: ECS Fargate"), "{text}");
    let bad = opsctl(&["cost", "model", "--profile", "huge"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("scale-10x"));
}
