//! `opsctl secrets plan|apply` against moto server's Secrets Manager, in a
//! region of this test's own: missing secrets are reported with what a
//! person must provide, a dry run creates nothing, `--execute` creates
//! both (random signing keys, the rest from the environment), a second
//! run keeps them, an incomplete secret is never rewritten, and no value
//! appears in anything opsctl prints or audits.

use crate::common;

use ticketing_catalog::{portone, secrets};

const REGION: &str = "eu-south-2";

async fn run(args: &[&str], audit: &std::path::Path, vars: &[(&str, &str)]) -> common::Run {
    let audit = audit.display().to_string();
    let mut all = vec![
        ("OPSCTL_AUDIT_LOG", audit.as_str()),
        ("AWS_REGION", REGION),
        // Unset unless a test gives them.
        ("RECAPTCHA_SECRET", ""),
        ("PORTONE_IMP_CODE", ""),
        ("PORTONE_API_KEY", ""),
        ("PORTONE_API_SECRET", ""),
        ("PORTONE_MODE", ""),
    ];
    all.extend_from_slice(vars);
    let mut args_with_env = vec!["--env", "dev", "--region", REGION];
    args_with_env.extend_from_slice(args);
    common::opsctl(&args_with_env, &all).await
}

async fn value(sm: &aws_sdk_secretsmanager::Client, name: &str) -> serde_json::Value {
    let out = sm
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .expect("the secret exists");
    serde_json::from_str(out.secret_string().expect("a string")).expect("JSON")
}

#[tokio::test]
async fn missing_secrets_are_created_once_from_random_keys_and_the_environment() {
    let sm = aws_sdk_secretsmanager::Client::new(&common::moto_sdk(REGION).await);
    let app = secrets::app_secret_name("dev");
    let keys = portone::secret_name("dev");
    let test_keys_name = portone::test_keys_secret_name("dev");
    for name in [&app, &keys, &test_keys_name] {
        let _ = sm
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await;
    }
    let audit = common::temp_audit_log("secrets");

    // Nothing there, nothing given: both blocked, each saying what to set.
    let bare = run(&["secrets", "plan"], &audit, &[]).await;
    assert_eq!(bare.code, 1, "{}{}", bare.stdout, bare.stderr);
    assert!(bare.stdout.contains("BLOCKED"), "{}", bare.stdout);
    assert!(bare.stdout.contains("RECAPTCHA_SECRET"), "{}", bare.stdout);
    assert!(
        bare.stdout.contains("PORTONE_API_SECRET"),
        "{}",
        bare.stdout
    );

    let given = [
        ("RECAPTCHA_SECRET", "recaptcha-from-google-0001"),
        ("PORTONE_IMP_CODE", "imp12345678"),
        ("PORTONE_API_KEY", "1234567890123456"),
        ("PORTONE_MODE", "test"),
        ("PORTONE_API_SECRET", "portone-secret-never-printed-42"),
    ];
    // A mode that is not one: PortOne's keys cannot tell, so it is refused.
    let mut unknown = given.to_vec();
    unknown.retain(|(k, _)| *k != "PORTONE_MODE");
    unknown.push(("PORTONE_MODE", "live"));
    let refused = run(&["secrets", "plan"], &audit, &unknown).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stdout.contains("BLOCKED")
            && refused
                .stdout
                .contains("PORTONE_MODE must be one of test, production"),
        "{}",
        refused.stdout
    );
    let planned = run(&["--output", "json", "secrets", "plan"], &audit, &given).await;
    assert_eq!(planned.code, 1, "{}", planned.stderr);
    let plans: serde_json::Value = serde_json::from_str(&planned.stdout).expect("json");
    let actions: Vec<&str> = plans
        .as_array()
        .expect("plans")
        .iter()
        .filter_map(|p| p["action"].as_str())
        .collect();
    assert_eq!(actions, ["create", "create", "absent"]);

    // A dry run creates nothing.
    let dry = run(&["secrets", "apply"], &audit, &given).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stderr.contains("dry run"), "{}", dry.stderr);
    assert!(sm.describe_secret().secret_id(&app).send().await.is_err());
    assert_eq!(
        common::audit_phases(&audit),
        ["planned"],
        "a dry run records only its plan"
    );

    let applied = run(&["secrets", "apply", "--execute"], &audit, &given).await;
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    let made = value(&sm, &app).await;
    let mut generated = Vec::new();
    for key in secrets::GENERATED_APP_KEYS {
        let v = made[key].as_str().unwrap_or_else(|| panic!("{key}"));
        assert_eq!(v.len() as i64, secrets::GENERATED_KEY_LENGTH, "{key}");
        generated.push(v.to_owned());
    }
    assert_ne!(generated[0], generated[1], "each key its own");
    assert_eq!(made["RECAPTCHA_SECRET"], "recaptcha-from-google-0001");
    let pay = value(&sm, &keys).await;
    assert_eq!(pay["api_key"], "1234567890123456");
    assert_eq!(pay["mode"], "test", "the secret says its mode");
    assert_eq!(pay["api_secret"], "portone-secret-never-printed-42");
    assert_eq!(pay["imp_code"], "imp12345678");

    // No value in anything printed or audited.
    let log = std::fs::read_to_string(&audit).expect("audit");
    for printed in [&applied.stdout, &applied.stderr, &log] {
        for secret in generated.iter().map(String::as_str).chain([
            "portone-secret-never-printed-42",
            "recaptcha-from-google-0001",
        ]) {
            assert!(!printed.contains(secret), "a secret value was printed");
        }
    }
    assert_eq!(
        common::audit_phases(&audit),
        ["planned", "planned", "started", "progress", "progress", "done"]
    );

    // Once made, kept: a second run changes nothing, even without the
    // variables.
    let again = run(&["secrets", "plan"], &audit, &[]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    let kept = run(&["secrets", "apply", "--execute"], &audit, &[]).await;
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    assert_eq!(value(&sm, &app).await, made);

    // An incomplete secret is reported and never rewritten.
    sm.put_secret_value()
        .secret_id(&keys)
        .secret_string(r#"{"imp_code":"imp1","api_key":"test_k"}"#)
        .send()
        .await
        .expect("put");
    let partial = run(&["secrets", "apply", "--execute"], &audit, &given).await;
    assert_eq!(partial.code, 1, "{}", partial.stderr);
    assert!(
        partial.stderr.contains("lacks api_secret"),
        "{}",
        partial.stderr
    );
    assert_eq!(value(&sm, &keys).await["api_key"], "test_k");

    // The test keys a rollback switches to: noted while absent (the plan
    // still passes: the tasks do not need them), made when given, and
    // marked as test keys.
    assert!(
        again.stdout.contains("portone-test") && again.stdout.contains("absent"),
        "{}",
        again.stdout
    );
    let test_keys = [
        ("PORTONE_TEST_IMP_CODE", "imp00000000"),
        ("PORTONE_TEST_API_KEY", "9876543210987654"),
        (
            "PORTONE_TEST_API_SECRET",
            "portone-test-secret-never-printed",
        ),
    ];
    let made_test = run(&["secrets", "apply", "--execute"], &audit, &test_keys).await;
    assert!(
        made_test
            .stderr
            .contains("created ticketing/dev/portone-test"),
        "{}",
        made_test.stderr
    );
    assert!(!made_test
        .stderr
        .contains("portone-test-secret-never-printed"));
    let test = value(&sm, &test_keys_name).await;
    assert_eq!(test["mode"], "test");
    assert_eq!(test["api_key"], "9876543210987654");
}
