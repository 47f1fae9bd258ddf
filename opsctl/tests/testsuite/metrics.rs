//! The platform's own numbers reach CloudWatch: the platform runs in this
//! process with its recorders installed as in AWS (Prometheus and EMF, the
//! EMF documents every second to an agent), the local EMF agent
//! (`app/emf-agent`, the stand-in for the CloudWatch agent sidecar) checks
//! each document and publishes it to moto server in a region of this
//! test's own; then opsctl reads the live numbers back: the payment
//! failure rate next to the rollback trigger (`portone mode`, `portone
//! rollback`), and `cqrs check`'s `events.read.tps`.
//!
//! One test in this binary: the recorder is process-wide, so the counts are
//! exactly this test's.

use crate::common;

use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use portone_sandbox::DECLINED_CARD;
use rusty_fork::rusty_fork_test;
use serde_json::Value;
use ticketing_e2e::Stack;

const REGION: &str = "ap-east-1";

/// What moto holds for `name` in `env` over the last hour, read with
/// GetMetricData, which matches the dimension set exactly, as AWS does
/// (moto's GetMetricStatistics also matches supersets: payment.failure's
/// breakdown by error code would be counted twice).
async fn sum(cw: &aws_sdk_cloudwatch::Client, env: &str, name: &str) -> f64 {
    let now = chrono::Utc::now().timestamp();
    let metric = Metric::builder()
        .namespace("Custom/Ticketing")
        .metric_name(name)
        .dimensions(Dimension::builder().name("environment").value(env).build())
        .build();
    cw.get_metric_data()
        .start_time(aws_smithy_types::DateTime::from_secs(now - 3600))
        .end_time(aws_smithy_types::DateTime::from_secs(now + 60))
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("m")
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .stat("Sum")
                        .period(3660)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("metric data")
        .metric_data_results()
        .iter()
        .flat_map(|r| r.values().iter().copied())
        .sum()
}

/// Waits until moto holds `want` for `name` (the documents go out every second).
async fn until_sum(cw: &aws_sdk_cloudwatch::Client, env: &str, name: &str, want: f64) {
    for _ in 0..60 {
        if sum(cw, env, name).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "{name} never reached {want} in CloudWatch: {}",
        sum(cw, env, name).await
    );
}

/// opsctl for prod whose metrics carry `env` (this run's own environment
/// dimension: moto keeps every earlier run's numbers).
async fn opsctl(args: &[&str], env: &str, audit: &std::path::Path) -> common::Run {
    let audit = audit.display().to_string();
    common::opsctl(
        args,
        &[
            ("OPSCTL_AUDIT_LOG", audit.as_str()),
            ("AWS_REGION", REGION),
            ("TICKETING__TELEMETRY__ENVIRONMENT", env),
        ],
    )
    .await
}

/// A payment service with a known-good revision to go back to, so that
/// the rollback plan can be shown.
async fn payment_service(sdk: &aws_config::SdkConfig) {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    ecs.create_cluster()
        .cluster_name("ticketing-prod")
        .send()
        .await
        .expect("cluster");
    let mut arn = String::new();
    for rollout in [Some("COMPLETED"), None] {
        arn = common::register_revision(
            &ecs,
            "payment-service",
            "registry.example/ticketing@sha256:00",
            &[],
            &[],
            rollout,
        )
        .await;
    }
    common::service_on(&ecs, "payment-service", &arn, 0).await;
}

fn rollback_rate(run: &common::Run) -> Value {
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("report");
    report["failure_rate"].clone()
}

// In a process of its own (rusty-fork re-runs this test binary for it):
// the metrics recorder is one per process, this test installs the EMF one
// with its own agent and sums what every payment of the process counted.
rusty_fork_test! {
    #[test]
    fn the_platforms_numbers_reach_cloudwatch_and_the_rollback_trigger_is_measured() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(numbers_reach_cloudwatch());
    }
}

async fn numbers_reach_cloudwatch() {
    let sdk = common::moto_sdk(REGION).await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    // This run's environment dimension: moto keeps the metrics of earlier
    // runs while it runs.
    let env = format!("prod-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let env = env.as_str();
    payment_service(&sdk).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let (tap, mut seen) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(emf_agent::serve(listener, cw.clone(), Some(tap)));
    let mut telemetry = ticketing_config::load(ticketing_config::Profile::Local)
        .expect("settings")
        .telemetry;
    telemetry.emf_endpoint = Some(format!("tcp://127.0.0.1:{port}"));
    telemetry.emf_interval_seconds = 1;
    telemetry.environment = Some(env.to_owned());
    ticketing_telemetry::init_metrics(&telemetry, "local").expect("recorders");

    let stack = Stack::start(|s| s.booking.rate_limit_per_second = 100_000).await;
    let (performance, seats) = stack.minted_performance(10, 1000).await;
    let audit = common::temp_audit_log("metrics");

    // Four paid bookings, and the seat map read for two seconds.
    for seat in &seats[..4] {
        stack.book(performance, seat).await;
    }
    let reading = std::time::Instant::now();
    while reading.elapsed() < Duration::from_secs(2) {
        stack.seat_map(performance).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until_sum(&cw, env, "payment.success", 4.0).await;
    assert_eq!(sum(&cw, env, "payment.failure").await, 0.0);
    let calm = rollback_rate(
        &opsctl(
            &["--env", "prod", "--output", "json", "portone", "rollback"],
            env,
            &audit,
        )
        .await,
    );
    assert_eq!(calm["percent"], 0.0, "{calm}");
    assert_eq!(calm["trigger_met"], false);

    // Six declined: 6 of 10 payments failed, above the runbook's 50 %.
    for seat in &seats[4..10] {
        let customer = stack.customer(performance);
        let held = stack.hold_as(&customer, performance, seat).await;
        let merchant = stack.prepare_as(&customer, &held).await;
        let outcome = stack
            .checkout(
                merchant.as_str().expect("merchant_uid"),
                held["amount"].as_i64().expect("amount"),
                DECLINED_CARD,
                false,
            )
            .await;
        assert_eq!(outcome["payment"]["status"], "failed", "{outcome}");
    }
    until_sum(&cw, env, "payment.failure", 6.0).await;
    let storm = rollback_rate(
        &opsctl(
            &["--env", "prod", "--output", "json", "portone", "rollback"],
            env,
            &audit,
        )
        .await,
    );
    assert_eq!(storm["failures"], 6.0, "{storm}");
    assert_eq!(storm["successes"], 4.0, "{storm}");
    assert_eq!(storm["percent"], 60.0, "{storm}");
    assert_eq!(storm["trigger_met"], true);
    let human = opsctl(&["--env", "prod", "portone", "rollback"], env, &audit).await;
    // The plan (on stderr, before the dry-run line) says so for people.
    assert!(
        human.stderr.contains("60.0 %") && human.stderr.contains("is MET"),
        "{}",
        human.stderr
    );
    let mode = opsctl(
        &[
            "--env", "prod", "--output", "json", "portone", "mode", "--of", "prod",
        ],
        env,
        &audit,
    )
    .await;
    let modes: Value = serde_json::from_str(&mode.stdout).expect("mode report");
    assert_eq!(modes[0]["failure_rate"]["percent"], 60.0, "{}", mode.stdout);

    // cqrs check reads the live seat-map read rate (and the cache's miss
    // rate from the test's Redis).
    let audit_path = audit.display().to_string();
    let redis = stack.settings.redis.url.to_string();
    let cqrs = common::opsctl(
        &["--env", "prod", "--output", "json", "cqrs", "check"],
        &[
            ("OPSCTL_AUDIT_LOG", audit_path.as_str()),
            ("AWS_REGION", REGION),
            ("TICKETING__TELEMETRY__ENVIRONMENT", env),
            ("TICKETING__REDIS__URL", redis.as_str()),
        ],
    )
    .await;
    let verdict: Value = serde_json::from_str(&cqrs.stdout)
        .unwrap_or_else(|e| panic!("cqrs JSON ({e}): {}{}", cqrs.stdout, cqrs.stderr));
    let reads = verdict["readings"]
        .as_array()
        .expect("readings")
        .iter()
        .find(|r| r["key"] == "event_reads_tps")
        .expect("event reads")
        .clone();
    assert!(reads["value"].as_f64().unwrap_or(0.0) > 0.0, "{reads}");

    // Every document the agent received was valid EMF.
    let mut documents = 0;
    while let Ok(s) = seen.try_recv() {
        documents += 1;
        assert_eq!(s.valid, Ok(()), "{}", s.line);
    }
    assert!(documents > 0);
    stack.stop().await;
    let _ = std::fs::remove_file(&audit);
}
