use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn every_profile_file_loads_without_overrides() {
    for profile in Profile::ALL {
        let settings = load_from(profile, &[]).unwrap_or_else(|e| panic!("{profile}: {e}"));
        assert_eq!(settings.profile, profile);
    }
}

#[test]
fn local_profile_points_at_the_local_stack() {
    let s = load_from(Profile::Local, &[]).expect("local loads");
    assert_eq!(s.database.host, "127.0.0.1");
    assert_eq!(s.telemetry.log_format, LogFormat::Pretty);
    assert_eq!(s.portone.mode, PortOneMode::Test);
    assert!(s.stack.is_some());
}

#[test]
fn prod_logs_json_and_runs_portone_in_production_mode() {
    let s = load_from(Profile::Prod, &[]).expect("prod loads");
    assert_eq!(s.telemetry.log_format, LogFormat::Json);
    assert_eq!(s.portone.mode, PortOneMode::Production);
    assert!(s.stack.is_none());
}

#[test]
fn the_aws_profiles_verify_the_database_against_the_bundle_the_image_carries() {
    for profile in [Profile::Dev, Profile::Prod] {
        let s = load_from(profile, &[]).expect("loads");
        assert_eq!(s.database.ssl_mode, DbSslMode::VerifyFull, "{profile}");
        assert_eq!(
            s.database.ssl_root_cert.as_deref(),
            Some(std::path::Path::new(RDS_CA_BUNDLE_PATH)),
            "{profile}"
        );
    }
    let build = include_str!("../../../../infra/image/build.sh");
    assert!(
        build.contains(&format!("\"$rootfs{RDS_CA_BUNDLE_PATH}\"")),
        "infra/image/build.sh must copy the RDS bundle to {RDS_CA_BUNDLE_PATH}"
    );
}

#[test]
fn a_verifying_ssl_mode_without_a_ca_is_refused_at_load() {
    let err = load_from(
        Profile::Local,
        &vars(&[("TICKETING__DATABASE__SSL_MODE", "verify-full")]),
    )
    .expect_err("verify-full without a CA must fail");
    let msg = err.to_string();
    assert!(msg.contains("database.ssl_root_cert"), "{msg}");
    assert!(msg.contains("verify-full"), "{msg}");
    let ok = load_from(
        Profile::Local,
        &vars(&[
            ("TICKETING__DATABASE__SSL_MODE", "verify-ca"),
            ("TICKETING__DATABASE__SSL_ROOT_CERT", "/tmp/ca.pem"),
        ]),
    )
    .expect("verify-ca with a CA loads");
    assert_eq!(ok.database.ssl_mode, DbSslMode::VerifyCa);
    let bad = load_from(
        Profile::Local,
        &vars(&[("TICKETING__DATABASE__SSL_MODE", "verify")]),
    )
    .expect_err("an unknown mode must fail");
    assert!(bad.to_string().contains("database.ssl_mode"), "{bad}");
}

#[test]
fn environment_variables_override_the_profile_file() {
    let s = load_from(
        Profile::Local,
        &vars(&[
            ("TICKETING__DATABASE__PORT", "6543"),
            ("TICKETING__SERVICES__EVENT_SERVICE__PORT", "0"),
            ("TICKETING__KAFKA__TOPIC_PREFIX", "t1."),
        ]),
    )
    .expect("loads");
    assert_eq!(s.database.port, 6543);
    assert_eq!(s.services.event_service.port, 0);
    assert_eq!(s.kafka.topic("payment.events"), "t1.payment.events");
}

#[test]
fn a_malformed_value_names_the_key_and_the_expected_form() {
    let err = load_from(
        Profile::Local,
        &vars(&[("TICKETING__DATABASE__PORT", "fifty-five")]),
    )
    .expect_err("must fail");
    let msg = err.to_string();
    assert!(msg.contains("database.port"), "{msg}");
    assert!(msg.contains("TICKETING__DATABASE__PORT"), "{msg}");
}

#[test]
fn a_bad_url_names_the_key() {
    let err = load_from(
        Profile::Local,
        &vars(&[("TICKETING__REDIS__URL", "not a url")]),
    )
    .expect_err("must fail");
    assert!(err.to_string().contains("redis.url"), "{err}");
}

#[test]
fn a_wrong_scheme_is_refused_with_the_expected_form() {
    let err = load_from(
        Profile::Local,
        &vars(&[("TICKETING__REDIS__URL", "http://127.0.0.1:6379")]),
    )
    .expect_err("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("redis.url") && msg.contains("redis://"),
        "{msg}"
    );
}

#[test]
fn bad_bootstrap_servers_are_refused() {
    let err = load_from(
        Profile::Local,
        &vars(&[("TICKETING__KAFKA__BOOTSTRAP_SERVERS", "localhost")]),
    )
    .expect_err("must fail");
    assert!(err.to_string().contains("kafka.bootstrap_servers"), "{err}");
}

#[test]
fn an_unknown_key_is_refused_rather_than_ignored() {
    let err = load_from(
        Profile::Local,
        &vars(&[("TICKETING__DATABASE__PASWORD", "typo")]),
    )
    .expect_err("must fail");
    assert!(err.to_string().contains("paswor"), "{err}");
}

#[test]
fn the_profile_cannot_be_overridden() {
    let err =
        load_from(Profile::Local, &vars(&[("TICKETING__PROFILE", "prod")])).expect_err("must fail");
    assert!(err.to_string().contains("profile"), "{err}");
}

#[test]
fn unknown_profile_lists_the_known_ones() {
    let err = "staging".parse::<Profile>().expect_err("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("staging") && msg.contains("local, dev, prod"),
        "{msg}"
    );
}

#[test]
fn profile_files_hold_no_secrets() {
    for profile in Profile::ALL {
        let text = profile.file_contents().to_lowercase();
        for word in ["password", "api_secret", "api_key", "signing_key"] {
            assert!(
                !text.contains(&format!("{word} =")),
                "config/{profile}.toml must not hold `{word}`"
            );
        }
    }
}

#[test]
fn secrets_fall_back_only_in_local() {
    let local = Secrets::from_vars(Profile::Local, &[]).expect("local has placeholders");
    assert!(Secrets::is_local_placeholder(&local.jwt_signing_key));

    let err = Secrets::from_vars(Profile::Prod, &[]).expect_err("prod needs real ones");
    let msg = err.to_string();
    assert!(msg.contains("JWT_SIGNING_KEY"), "{msg}");
}

#[test]
fn short_keys_are_refused_outside_local() {
    let all = vars(&[
        ("JWT_SIGNING_KEY", "short"),
        ("QUEUE_TOKEN_SIGNING_KEY", "q".repeat(40).as_str()),
        ("IDENTITY_HASH_KEY", "i".repeat(40).as_str()),
        ("PORTONE_API_KEY", "k"),
        ("PORTONE_API_SECRET", "s"),
        ("RECAPTCHA_SECRET", "r"),
    ]);
    let err = Secrets::from_vars(Profile::Dev, &all).expect_err("short key");
    assert!(err.to_string().contains("JWT_SIGNING_KEY"), "{err}");
}

#[test]
fn secrets_never_show_in_debug_output() {
    let all = vars(&[
        (
            "JWT_SIGNING_KEY",
            "j-very-secret-value-that-is-long-enough-000",
        ),
        (
            "QUEUE_TOKEN_SIGNING_KEY",
            "q-very-secret-value-that-is-long-enough-000",
        ),
        (
            "IDENTITY_HASH_KEY",
            "i-very-secret-value-that-is-long-enough-000",
        ),
        ("PORTONE_API_KEY", "live_api_key_abcdef"),
        ("PORTONE_API_SECRET", "live_api_secret_abcdef"),
        ("RECAPTCHA_SECRET", "recaptcha-secret"),
        ("TICKETING_DATABASE_PASSWORD", "pg-password"),
    ]);
    let secrets = Secrets::from_vars(Profile::Prod, &all).expect("all set");
    let shown = format!("{secrets:?}");
    for (_, value) in &all {
        assert!(!shown.contains(value.as_str()), "{value} leaked in {shown}");
    }
}

#[test]
fn portone_keys_are_needed_only_by_the_services_that_call_portone() {
    let key = "k".repeat(40);
    let without = vars(&[
        ("JWT_SIGNING_KEY", key.as_str()),
        ("QUEUE_TOKEN_SIGNING_KEY", key.as_str()),
        ("IDENTITY_HASH_KEY", key.as_str()),
        ("RECAPTCHA_SECRET", "r"),
    ]);
    // A service without PortOne keys starts (its task definition has none).
    let secrets = Secrets::from_vars(Profile::Dev, &without).expect("no PortOne keys needed");
    assert!(secrets.portone_api_key.is_none());
    // One that calls PortOne is told which variable is missing.
    let err = secrets
        .portone_keys()
        .expect_err("PortOne keys are missing");
    assert!(err.to_string().contains("PORTONE_API_KEY"), "{err}");
    // Locally the placeholders stand in.
    let local = Secrets::from_vars(Profile::Local, &[]).expect("local");
    assert!(local.portone_keys().is_ok());
}

#[test]
fn a_pool_kept_larger_than_its_limit_is_refused_at_load() {
    let s = load_from(Profile::Local, &[]).expect("local loads");
    assert!(s.database.min_connections <= s.database.max_connections);
    let err = load_from(
        Profile::Local,
        &vars(&[
            ("TICKETING__DATABASE__MAX_CONNECTIONS", "3"),
            ("TICKETING__DATABASE__MIN_CONNECTIONS", "5"),
        ]),
    )
    .expect_err("min above max must fail");
    let msg = err.to_string();
    assert!(msg.contains("database.min_connections"), "{msg}");
    assert!(msg.contains("max_connections (3)"), "{msg}");
}

#[test]
fn a_refresh_bound_past_the_admissions_lifetime_is_refused() {
    let err = load_from(
        Profile::Local,
        &vars(&[
            ("TICKETING__BOOKING__QUEUE_REFRESH_MAX_SECONDS", "600"),
            ("TICKETING__BOOKING__RESERVATION_TOKEN_TTL_SECONDS", "600"),
        ]),
    )
    .expect_err("must fail");
    let msg = err.to_string();
    assert!(msg.contains("booking.queue_refresh_max_seconds"), "{msg}");
    assert!(msg.contains("reservation_token_ttl_seconds"), "{msg}");
    let fine = load_from(
        Profile::Local,
        &vars(&[("TICKETING__BOOKING__QUEUE_REFRESH_MAX_SECONDS", "30")]),
    )
    .expect("30 s is below the default 600 s");
    assert_eq!(fine.booking.queue_refresh_max_seconds, 30);
}
