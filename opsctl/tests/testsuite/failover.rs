//! `opsctl kafka failover-drill` against a private three-broker Apache Kafka
//! cluster set up as the 10x plan runs it (one KRaft quorum, replication
//! factor 2, min.insync.replicas 1), with bookings flowing through the
//! platform the whole time: the leader of payment.events is killed, another
//! broker takes over, nothing written during the drill is lost, every paid
//! booking is CONFIRMED, and the stopped broker is back at the end.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ticketing_catalog::topics;
use ticketing_e2e::Stack;
use ticketing_testkit::{PrivateCluster, TestEnv};

async fn create_topics(kafka: &ticketing_config::KafkaSettings) {
    // Just started: every broker may not be registered yet.
    for _ in 0..60 {
        if ticketing_kafka::ensure_topics(
            kafka,
            &topics::ALL,
            topics::MVP_PARTITIONS,
            topics::SCALE_10X_REPLICATION_FACTOR,
        )
        .await
        .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("topics with replication factor 2 could not be created");
}

async fn leader(kafka: &ticketing_config::KafkaSettings) -> i32 {
    let (_, partitions) =
        ticketing_kafka::partition_leaders(kafka, &kafka.topic(topics::PAYMENT_EVENTS))
            .await
            .expect("metadata");
    partitions[0].leader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_is_killed_mid_booking_and_nothing_is_lost() {
    let env = TestEnv::new().await;
    let cluster = PrivateCluster::start_new(
        ticketing_catalog::footprint::SCALE_10X.brokers as usize,
        topics::SCALE_10X_REPLICATION_FACTOR,
        topics::SCALE_10X_MIN_INSYNC_REPLICAS,
    );
    let mut settings = env.settings.clone();
    settings.kafka = cluster.settings(&env.settings.kafka);
    create_topics(&settings.kafka).await;
    let booking = Stack::start_with(env, settings).await;
    let (performance, seats) = booking.minted_performance(60, 5000).await;
    // One full booking: hold, prepare, pay; the webhook reaches the gateway.
    let book = |i: usize| booking.book(performance, &seats[i]);
    // Bookings flow before the drill.
    let mut booked = vec![book(0).await, book(1).await];
    assert_eq!(booking.confirmed(&booked).await, 2);

    let (stop, start) = cluster.node_commands();
    let audit = std::env::temp_dir().join(format!("failover-{}.jsonl", booking.env.id));
    let vars = [
        (
            "TICKETING__DATABASE__NAME",
            booking.env.settings.database.name.clone(),
        ),
        (
            "TICKETING__KAFKA__BOOTSTRAP_SERVERS",
            booking.settings.kafka.bootstrap_servers.clone(),
        ),
        (
            "TICKETING__KAFKA__TOPIC_PREFIX",
            booking.settings.kafka.topic_prefix.clone(),
        ),
        ("TICKETING__STACK__KAFKA_CLUSTER__STOP_NODE_COMMAND", stop),
        ("TICKETING__STACK__KAFKA_CLUSTER__START_NODE_COMMAND", start),
        ("OPSCTL_AUDIT_LOG", audit.display().to_string()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // The plan changes nothing.
    let before = leader(&booking.settings.kafka).await;
    let dry = common::opsctl(&["kafka", "failover-drill"], &vars).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr.contains(&format!("stop broker {before}")),
        "{}",
        dry.stderr
    );
    assert!(dry.stderr.contains("dry run"), "{}", dry.stderr);
    assert_eq!(
        common::audit_phases(&audit),
        ["planned"],
        "a dry run records only its plan"
    );
    assert!((1..=3).all(|n| cluster.is_running(n)));
    assert_eq!(leader(&booking.settings.kafka).await, before);

    // The drill, with a booking every few hundred milliseconds throughout.
    let done = AtomicBool::new(false);
    let drill = async {
        let run = common::opsctl(
            &[
                "--output",
                "json",
                "kafka",
                "failover-drill",
                "--execute",
                "--timeout",
                "120",
            ],
            &vars,
        )
        .await;
        done.store(true, Ordering::SeqCst);
        run
    };
    let traffic = async {
        let mut ids = Vec::new();
        let mut i = 2;
        while !done.load(Ordering::SeqCst) && i < seats.len() {
            ids.push(book(i).await);
            i += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        ids
    };
    let (run, during) = tokio::join!(drill, traffic);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json report");
    assert!(
        during.len() >= 3,
        "bookings flowed during the drill: {}",
        during.len()
    );

    assert_eq!(report["plan"]["leader"], before, "{report}");
    assert_ne!(report["new_leader"], before, "{report}");
    assert_eq!(report["events_lost"], 0, "{report}");
    assert!(
        report["events_written"].as_u64().expect("written") > 0,
        "{report}"
    );
    let rto = report["rto_seconds"].as_f64().expect("rto");
    assert!(rto > 0.0 && rto < 300.0, "{report}");
    assert_eq!(report["met"], true, "{report}");
    let stopped = u32::try_from(before).expect("node id");
    assert!(
        cluster.is_running(stopped),
        "the stopped broker was started again"
    );

    booked.extend(during);
    assert_eq!(
        booking.confirmed(&booked).await,
        booked.len(),
        "every paid booking CONFIRMED: {report}"
    );
    // The envelope's phases, as before the drill ran on the runbook engine
    // (issue 27); between them, a `progress` entry each step of the drill.
    let phases = common::audit_phases(&audit);
    let envelope: Vec<&str> = phases
        .iter()
        .map(String::as_str)
        .filter(|p| *p != "progress")
        .collect();
    assert_eq!(envelope, ["planned", "planned", "started", "done"]);
    let steps: Vec<String> = common::audit_entries(&audit)
        .iter()
        .filter(|e| e["phase"] == "progress")
        .filter_map(|e| e["detail"]["step"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        steps,
        [
            "stop the leader",
            "wait for a serving leader",
            "stop the probes",
            "wait for the outboxes",
            "start the broker again",
            "wait until in sync",
            "count the drill's events"
        ]
    );

    let _ = std::fs::remove_file(&audit);
    let env = booking.stop_keeping_env().await;
    drop(cluster);
    env.cleanup().await;
}

/// A drill on a platform nobody books on: its own probes are what it
/// counts (not "0 of 0"), and a probe marked sent that never reached the
/// topic fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quiet_drill_counts_its_own_probes_and_fails_when_one_is_lost() {
    let env = TestEnv::new().await;
    let cluster = PrivateCluster::start_new(
        ticketing_catalog::footprint::SCALE_10X.brokers as usize,
        topics::SCALE_10X_REPLICATION_FACTOR,
        topics::SCALE_10X_MIN_INSYNC_REPLICAS,
    );
    let mut settings = env.settings.clone();
    settings.kafka = cluster.settings(&env.settings.kafka);
    create_topics(&settings.kafka).await;
    let platform = Stack::start_with(env, settings).await;
    let (stop, start) = cluster.node_commands();
    let audit = common::temp_audit_log("quiet-drill");
    let vars = [
        (
            "TICKETING__DATABASE__NAME",
            platform.env.settings.database.name.clone(),
        ),
        (
            "TICKETING__KAFKA__BOOTSTRAP_SERVERS",
            platform.settings.kafka.bootstrap_servers.clone(),
        ),
        (
            "TICKETING__KAFKA__TOPIC_PREFIX",
            platform.settings.kafka.topic_prefix.clone(),
        ),
        ("TICKETING__STACK__KAFKA_CLUSTER__STOP_NODE_COMMAND", stop),
        ("TICKETING__STACK__KAFKA_CLUSTER__START_NODE_COMMAND", start),
        ("OPSCTL_AUDIT_LOG", audit.display().to_string()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let drill = || {
        common::opsctl(
            &[
                "--output",
                "json",
                "kafka",
                "failover-drill",
                "--execute",
                "--timeout",
                "120",
            ],
            &vars,
        )
    };
    let probes = || {
        platform.count(
            "payment_service",
            "SELECT count(*) FROM outbox WHERE event_type = 'FailoverProbe'",
        )
    };

    // The runbook's first check: every topic on two replicas, all in sync.
    let health = common::opsctl(&["--output", "json", "kafka", "health"], &vars).await;
    assert_eq!(health.code, 0, "{}{}", health.stdout, health.stderr);
    let health: serde_json::Value = serde_json::from_str(&health.stdout).expect("json");
    for t in health["topics"].as_array().into_iter().flatten() {
        assert_eq!(t["replicas"], 2, "{t}");
        assert_eq!(t["under_replicated"], 0, "{t}");
    }

    let quiet = drill().await;
    assert_eq!(quiet.code, 0, "{}\n{}", quiet.stdout, quiet.stderr);
    let report: serde_json::Value = serde_json::from_str(&quiet.stdout).expect("json report");
    let sent = report["probes_sent"].as_i64().expect("probes");
    assert!(sent >= 20, "{report}");
    assert_eq!(probes().await, sent, "every probe is an outbox row");
    assert!(
        report["events_written"].as_i64().is_some_and(|w| w >= sent),
        "{report}"
    );
    assert_eq!(report["events_lost"], 0, "{report}");
    assert_eq!(report["met"], true, "{report}");

    // A row the relay marked sent that the broker never got: lost.
    let done = AtomicBool::new(false);
    let lossy = async {
        let run = drill().await;
        done.store(true, Ordering::SeqCst);
        run
    };
    let inject = async {
        while probes().await <= sent && !done.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pool = platform.env.pool(Some("payment_service"));
        sqlx::query(
            "INSERT INTO outbox (event_id, topic, partition_key, event_type, envelope, sent_at) \
             VALUES ($1, 'payment.events', 'lost', 'FailoverProbe', '{}'::jsonb, now())",
        )
        .bind(uuid::Uuid::now_v7())
        .execute(&pool)
        .await
        .expect("a lost row");
        pool.close().await;
    };
    let (run, ()) = tokio::join!(lossy, inject);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json report");
    assert_eq!(report["events_lost"], 1, "{report}");
    assert_eq!(report["met"], false, "{report}");

    let _ = std::fs::remove_file(&audit);
    let env = platform.stop_keeping_env().await;
    drop(cluster);
    env.cleanup().await;
}

#[tokio::test]
async fn one_broker_cannot_fail_over_and_the_drill_refuses() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let run = common::opsctl(
        &["kafka", "failover-drill", "--execute"],
        &[
            (
                "TICKETING__KAFKA__TOPIC_PREFIX",
                &env.settings.kafka.topic_prefix,
            ),
            (
                "TICKETING__STACK__KAFKA_CLUSTER__STOP_NODE_COMMAND",
                "echo must not run; exit 9",
            ),
        ],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("1 replica(s)"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was stopped"), "{}", run.stderr);
    env.cleanup().await;
}
