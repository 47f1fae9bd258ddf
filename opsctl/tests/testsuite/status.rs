//! `opsctl status` against the real local stack and a real platform, with a
//! dependency (a private redis-server) stopped halfway.

use std::process::Command;

use ticketing_catalog::ServiceName;
use ticketing_testkit::{PrivateRedis, TestEnv};

/// Runs the real binary without blocking the runtime that serves the platform.
async fn opsctl_status(env_vars: &[(String, String)]) -> (i32, serde_json::Value, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_opsctl"));
    cmd.args([
        "--env",
        "local",
        "status",
        "--output",
        "json",
        "--timeout",
        "3",
    ]);
    for (k, v) in env_vars {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("opsctl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}\nstderr: {stderr}"));
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check named {name} in {report}"))
}

#[tokio::test]
async fn status_is_green_then_names_the_stopped_dependency_and_exits_1() {
    let mut redis = PrivateRedis::start_new();
    let env = TestEnv::new().await;
    env.create_topics().await;
    let mut settings = env.settings.clone();
    settings.redis.url = redis.url();
    let platform =
        ticketing_platform::start(settings.clone(), env.secrets.clone(), &ServiceName::ALL)
            .await
            .expect("platform starts");

    // opsctl reads the same config/local.toml, overridden the documented way.
    let mut vars = vec![
        (
            "TICKETING__DATABASE__NAME".to_owned(),
            settings.database.name.clone(),
        ),
        (
            "TICKETING__REDIS__URL".to_owned(),
            settings.redis.url.to_string(),
        ),
        (
            "TICKETING__KAFKA__TOPIC_PREFIX".to_owned(),
            settings.kafka.topic_prefix.clone(),
        ),
        // Not the state dir of a platform infra/local/up.sh may be running.
        (
            "TICKETING__STACK__STATE_DIR".to_owned(),
            std::env::temp_dir()
                .join(format!("no-stack-{}", env.id))
                .display()
                .to_string(),
        ),
    ];
    for service in ServiceName::ALL {
        let url = &platform.settings.services.endpoint(service).url;
        vars.push((
            format!(
                "TICKETING__SERVICES__{}__URL",
                service.config_key().to_uppercase()
            ),
            url.to_string(),
        ));
    }

    let (code, report, stderr) = opsctl_status(&vars).await;
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(report["healthy"], true);
    assert_eq!(report["env"], "local");
    assert_eq!(report["checks"].as_array().map(Vec::len), Some(9));
    for c in report["checks"].as_array().into_iter().flatten() {
        assert_eq!(c["status"], "up", "{c}");
        assert!(c["latency_ms"].as_f64().is_some(), "{c}");
    }

    redis.stop();

    let (code, report, _) = opsctl_status(&vars).await;
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["healthy"], false);
    assert_eq!(check(&report, "redis")["status"], "down");
    assert_eq!(check(&report, "postgres")["status"], "up");
    assert_eq!(check(&report, "kafka")["status"], "up");
    // Services that need Redis report not-ready; payment-service does not use it.
    assert_eq!(check(&report, "queue-service")["status"], "down");
    assert!(
        check(&report, "queue-service")["detail"]
            .as_str()
            .unwrap_or("")
            .contains("redis"),
        "{report}"
    );
    assert_eq!(check(&report, "payment-service")["status"], "up");

    platform.stop().await.expect("graceful stop");
    env.cleanup().await;
}

/// A platform that up.sh started and that has since died (here: a pid file
/// naming an exited process) is reported DOWN with the tail of its log and
/// how to start it again.
#[tokio::test]
async fn a_dead_platform_process_is_down_with_its_last_log_lines() {
    let state = std::env::temp_dir().join(format!("stack-{}", uuid::Uuid::new_v4().simple()));
    let platform = state.join("platform");
    std::fs::create_dir_all(&platform).expect("state dir");
    let mut exited = Command::new("true").spawn().expect("spawn");
    let pid = exited.id();
    exited.wait().expect("exits");
    std::fs::write(platform.join("ticketing.pid"), format!("{pid}\n")).expect("pid file");
    let log: String = (1..=40).map(|i| format!("line {i}\n")).collect();
    std::fs::write(
        platform.join("ticketing.log"),
        format!("{log}ERROR ticketing stopped: the last words\n"),
    )
    .expect("log");

    let (code, report, _) = opsctl_status(&[(
        "TICKETING__STACK__STATE_DIR".to_owned(),
        state.display().to_string(),
    )])
    .await;
    assert_eq!(code, 1, "{report}");
    let platform_check = check(&report, "platform");
    assert_eq!(platform_check["status"], "down", "{report}");
    assert!(
        platform_check["detail"]
            .as_str()
            .unwrap_or("")
            .contains("infra/local/up.sh"),
        "{report}"
    );
    let tail = report["platform_log_tail"].as_array().expect("log tail");
    assert_eq!(tail.len(), 15, "{report}");
    assert_eq!(tail[14], "ERROR ticketing stopped: the last words");

    // A live process named like the platform is up.
    let mut live = Command::new("sleep").arg("30").spawn().expect("spawn");
    std::fs::write(platform.join("ticketing.pid"), live.id().to_string()).expect("pid file");
    let (_, report, _) = opsctl_status(&[(
        "TICKETING__STACK__STATE_DIR".to_owned(),
        state.display().to_string(),
    )])
    .await;
    // `sleep` is not the platform (a reused pid): still down.
    assert_eq!(check(&report, "platform")["status"], "down", "{report}");
    let _ = live.kill();
    let _ = live.wait();
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn an_unknown_environment_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_opsctl"))
        .args(["--env", "staging", "status"])
        .output()
        .expect("opsctl runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("staging"), "{stderr}");
}

#[test]
fn a_bad_setting_is_a_usage_error_with_a_hint() {
    let out = Command::new(env!("CARGO_BIN_EXE_opsctl"))
        .args(["status"])
        .env("TICKETING__KAFKA__BOOTSTRAP_SERVERS", "nohostport")
        .output()
        .expect("opsctl runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("kafka.bootstrap_servers"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}
