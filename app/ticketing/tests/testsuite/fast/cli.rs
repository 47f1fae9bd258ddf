//! The `ticketing` binary refuses bad configuration with a message naming
//! the key and the expected form, and never panics.

use std::process::Command;

fn ticketing(envs: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketing"));
    cmd.arg("migrate");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_malformed_value_stops_start_up_naming_the_key() {
    let (code, stderr) = ticketing(&[("TICKETING__DATABASE__PORT", "not-a-port")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("database.port"), "{stderr}");
    assert!(stderr.contains("TICKETING__"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_unknown_profile_is_refused() {
    let (code, stderr) = ticketing(&[("TICKETING_PROFILE", "staging")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("staging") && stderr.contains("local, dev, prod"),
        "{stderr}"
    );
}

#[test]
fn prod_without_secrets_names_the_missing_variable() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketing"));
    cmd.arg("migrate").env("TICKETING_PROFILE", "prod");
    for var in [
        "JWT_SIGNING_KEY",
        "QUEUE_TOKEN_SIGNING_KEY",
        "IDENTITY_HASH_KEY",
        "PORTONE_API_KEY",
        "PORTONE_API_SECRET",
        "RECAPTCHA_SECRET",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("JWT_SIGNING_KEY"), "{stderr}");
}

#[test]
fn an_unknown_service_name_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args(["serve", "billing-service"])
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("payment-service"), "{stderr}");
}
