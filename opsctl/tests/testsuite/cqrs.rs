//! `opsctl cqrs check` against moto server's CloudWatch (metrics put with
//! PutMetricData, read back with GetMetricData): every trigger from
//! CloudWatch, the cache miss rate from the platform's own cache counters
//! over the window, and a trigger not read fails the check.

use crate::common;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};

const REGION: &str = "eu-south-1";

async fn put(
    cw: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    name: &str,
    value: f64,
    dim: Option<(&str, &str)>,
) {
    let mut datum = MetricDatum::builder()
        .metric_name(name)
        .value(value)
        .timestamp(aws_smithy_types::DateTime::from_secs(
            chrono::Utc::now().timestamp() - 120,
        ));
    if let Some((k, v)) = dim {
        datum = datum.dimensions(Dimension::builder().name(k).value(v).build());
    }
    cw.put_metric_data()
        .namespace(namespace)
        .metric_data(datum.build())
        .send()
        .await
        .expect("put metric data");
}

#[tokio::test]
async fn the_five_triggers_are_read_and_the_phase_follows_the_rules() {
    let cw = aws_sdk_cloudwatch::Client::new(&common::moto_sdk(REGION).await);
    // As the services publish them: with the environment dimension.
    let dev = Some(("environment", "dev"));
    put(&cw, "Custom/Ticketing", "events.read.tps", 1500.0, dev).await;
    put(
        &cw,
        "Custom/Ticketing",
        "reservations.search.tps",
        200.0,
        dev,
    )
    .await;
    // Another environment's numbers in the same account are not read.
    put(
        &cw,
        "Custom/Ticketing",
        "events.read.tps",
        9000.0,
        Some(("environment", "prod")),
    )
    .await;
    put(
        &cw,
        "AWS/RDS",
        "ReplicaLag",
        2.0,
        Some(("DBInstanceIdentifier", "ticketing-dev-postgres-replica")),
    )
    .await;

    // The window's cache lookups: 1 hit and 3 misses, 75 %; the other
    // environment's do not count.
    put(&cw, "Custom/Ticketing", "events.cache.hit", 1.0, dev).await;
    put(&cw, "Custom/Ticketing", "events.cache.miss", 3.0, dev).await;
    put(
        &cw,
        "Custom/Ticketing",
        "events.cache.miss",
        50.0,
        Some(("environment", "prod")),
    )
    .await;

    let r = common::opsctl(
        &["--env", "dev", "--output", "json", "cqrs", "check"],
        &[("AWS_REGION", REGION)],
    )
    .await;
    assert_eq!(
        r.code, 1,
        "the rules call for a change: {}{}",
        r.stdout, r.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let reading = |key: &str| {
        v["readings"]
            .as_array()
            .expect("readings")
            .iter()
            .find(|r| r["key"] == key)
            .cloned()
            .expect(key)
    };
    assert_eq!(reading("event_reads_tps")["value"], 1500.0);
    assert_eq!(reading("event_reads_tps")["exceeded"], true);
    assert_eq!(reading("cache_miss_rate")["value"], 75.0);
    assert_eq!(reading("reservation_search_per_min")["value"], 12000.0);
    assert_eq!(reading("read_replica_lag")["exceeded"], false);
    assert_eq!(reading("seat_query_p95")["value"], serde_json::Value::Null);
    assert_eq!(v["exceeded"], 3);
    assert_eq!(v["phase"], "full-cqrs");
    assert_eq!(v["window_minutes"], 60);
    assert_eq!(v["environment"], "dev");
    assert_eq!(v["unread"], serde_json::json!(["seat_query_p95"]));

    // Below every threshold, but one trigger unread: not a pass.
    let quiet = common::opsctl(
        &["--env", "dev", "--region", "us-west-2", "cqrs", "check"],
        &[],
    )
    .await;
    assert_eq!(quiet.code, 1, "{}{}", quiet.stdout, quiet.stderr);
    assert!(
        quiet.stdout.contains("incomplete: 5 of 5 not read"),
        "{}",
        quiet.stdout
    );

    let bad = common::opsctl(&["cqrs", "check", "--window", "0"], &[]).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}
