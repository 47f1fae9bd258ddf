//! `opsctl kafka health|lag` against the shared local broker, under this
//! test's topic prefix.

#[path = "kafka/broker_boot.rs"]
mod broker_boot;
use crate::common;

use std::time::Duration;

use common::Run;

use rdkafka::producer::FutureRecord;
use ticketing_catalog::topics;
use ticketing_testkit::TestEnv;

async fn opsctl(env: &TestEnv, extra_env: &[(&str, &str)], args: &[&str]) -> Run {
    let prefix = env.settings.kafka.topic_prefix.as_str();
    let mut vars = vec![("TICKETING__KAFKA__TOPIC_PREFIX", prefix)];
    vars.extend_from_slice(extra_env);
    common::opsctl(args, &vars).await
}

#[tokio::test]
async fn health_lists_the_topics_and_fails_when_one_is_missing_or_the_broker_is_down() {
    let env = TestEnv::new().await;
    let missing = opsctl(&env, &[], &["kafka", "health", "--output", "json"]).await;
    assert_eq!(missing.code, 1, "no topics yet: {}", missing.stdout);
    env.create_topics().await;
    let ok = opsctl(&env, &[], &["kafka", "health", "--output", "json"]).await;
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let report: serde_json::Value = serde_json::from_str(&ok.stdout).expect("json");
    assert_eq!(report["topics"].as_array().map(Vec::len), Some(3));
    // One broker: one replica each, in sync, led.
    for t in report["topics"].as_array().into_iter().flatten() {
        assert_eq!(
            (&t["replicas"], &t["under_replicated"], &t["leaderless"]),
            (
                &serde_json::json!(1),
                &serde_json::json!(0),
                &serde_json::json!(0)
            ),
            "{t}"
        );
    }
    assert!(report["latency_ms"].as_f64().is_some());
    let down = opsctl(
        &env,
        &[("TICKETING__KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")],
        &["kafka", "health"],
    )
    .await;
    assert_eq!(down.code, 3, "{}", down.stderr);
    assert!(down.stderr.contains("127.0.0.1:1"), "{}", down.stderr);
    // The command the error names is whole for this environment, and it
    // parses as it is.
    let named = down
        .stderr
        .split('`')
        .find(|w| w.starts_with("opsctl "))
        .unwrap_or_else(|| panic!("no command named: {}", down.stderr));
    assert_eq!(named, "opsctl --env local kafka restart", "{}", down.stderr);
    let words = shlex::split(named).expect("words");
    assert!(
        <opsctl::cli::Cli as clap::Parser>::try_parse_from(&words).is_ok(),
        "{named}"
    );
    env.cleanup().await;
}

/// `kafka lag --output json` for `group` (all when empty) over a window
/// of `interval` seconds: the exit code and the document.
async fn lag_json(env: &TestEnv, group: &str, interval: &str) -> (i32, serde_json::Value) {
    let mut args = vec!["kafka", "lag", "--interval", interval, "--output", "json"];
    if !group.is_empty() {
        args.extend(["--group", group]);
    }
    let run = opsctl(env, &[], &args).await;
    let doc = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr));
    (run.code, doc)
}

/// The verdict of `group` (a service name) in a `kafka lag` document.
fn verdict<'a>(env: &TestEnv, doc: &'a serde_json::Value, group: &str) -> &'a serde_json::Value {
    let name = format!("{}{group}", env.settings.kafka.topic_prefix);
    doc["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|v| v["group"] == name.as_str()))
        .unwrap_or_else(|| panic!("{group} in {doc}"))
}

async fn produce(env: &TestEnv, topic: &str, n: usize) {
    let producer = ticketing_messaging::relay::idempotent_producer(
        &env.settings.kafka,
        Duration::from_secs(10),
    )
    .expect("producer");
    for i in 0..n {
        producer
            .send(
                FutureRecord::to(topic).key("k").payload(&format!("m{i}")),
                Duration::from_secs(5),
            )
            .await
            .expect("produce");
    }
}

/// A member of `group` (physical name) on `topic` that commits nothing
/// itself: it has joined once `recv` answered.
async fn member(env: &TestEnv, group: &str, topic: &str) -> rdkafka::consumer::StreamConsumer {
    let consumer: rdkafka::consumer::StreamConsumer =
        ticketing_kafka::client_config(&env.settings.kafka)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
    rdkafka::consumer::Consumer::subscribe(&consumer, &[topic]).expect("subscribe");
    let _ = tokio::time::timeout(Duration::from_secs(10), consumer.recv()).await;
    consumer
}

#[tokio::test]
async fn lag_counts_what_each_service_group_has_not_processed_and_waits_for_a_drain() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let topic = env.topic(topics::RESERVATION_EVENTS);
    produce(&env, &topic, 4).await;
    // Older than the window: nothing consumed them since.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, doc) = lag_json(&env, "", "1").await;
    assert_eq!(code, 1, "nobody consumes: STOP fails the command: {doc}");
    let lag_of = |group: &str| -> i64 {
        doc["partitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["group"] == format!("{}{group}", env.settings.kafka.topic_prefix))
            .filter_map(|r| r["lag"].as_i64())
            .sum()
    };
    assert_eq!(lag_of("event-service"), 4);
    assert_eq!(lag_of("payment-service"), 4);
    assert_eq!(lag_of("reservation-service"), 0);
    let stopped = verdict(&env, &doc, "event-service");
    assert_eq!(stopped["status"], "STOP", "{stopped}");
    assert_eq!(stopped["members"], 0, "{stopped}");
    assert!(
        stopped["lag_seconds"].as_i64().is_some_and(|s| s >= 3),
        "{stopped}"
    );
    assert!(
        stopped["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("no consumer")),
        "{stopped}"
    );
    assert_eq!(verdict(&env, &doc, "reservation-service")["status"], "OK");

    // A member that takes records and commits nothing: STALL.
    let group = format!("{}event-service", env.settings.kafka.topic_prefix);
    let stuck = member(&env, &group, &topic).await;
    let (code, doc) = lag_json(&env, "event-service", "1").await;
    let stalled = verdict(&env, &doc, "event-service");
    assert_eq!(
        (code, stalled["status"].as_str()),
        (1, Some("STALL")),
        "{doc}"
    );
    assert_eq!(stalled["members"], 1, "{stalled}");
    drop(stuck);

    // A member that commits, slower than the writes: WARN, and exit 0.
    let group = format!("{}payment-service", env.settings.kafka.topic_prefix);
    let slow = member(&env, &group, &topic).await;
    let writes = {
        let (env_topic, settings) = (topic.clone(), env.settings.kafka.clone());
        tokio::spawn(async move {
            let producer =
                ticketing_messaging::relay::idempotent_producer(&settings, Duration::from_secs(10))
                    .expect("producer");
            for i in 0..100 {
                let _ = producer
                    .send(
                        FutureRecord::to(&env_topic)
                            .key("k")
                            .payload(&format!("w{i}")),
                        Duration::from_secs(5),
                    )
                    .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let consuming = tokio::spawn(async move {
        use rdkafka::consumer::{CommitMode, Consumer};
        while let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(5), slow.recv()).await
        {
            let _ = slow.commit_message(&message, CommitMode::Sync);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let (code, doc) = lag_json(&env, "payment-service", "2").await;
    let behind = verdict(&env, &doc, "payment-service");
    assert_eq!(
        (code, behind["status"].as_str()),
        (0, Some("WARN")),
        "{doc}"
    );
    assert!(
        behind["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("falling behind")),
        "{behind}"
    );
    writes.await.expect("writer");
    consuming.abort();

    let waiting = opsctl(
        &env,
        &[],
        &[
            "kafka",
            "lag",
            "--group",
            "event-service",
            "--interval",
            "1",
            "--until-drained",
            "--timeout",
            "1",
        ],
    )
    .await;
    assert_eq!(
        waiting.code, 1,
        "nobody consumes, so it never drains: {}",
        waiting.stderr
    );
    assert!(waiting.stderr.contains("not drained"), "{}", waiting.stderr);
    let drained = opsctl(
        &env,
        &[],
        &[
            "kafka",
            "lag",
            "--group",
            "reservation-service",
            "--interval",
            "1",
            "--until-drained",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(drained.code, 0, "{}", drained.stderr);
    let last: serde_json::Value = serde_json::from_str(&drained.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", drained.stdout));
    assert_eq!(last["drained"], true, "{last}");
    assert!(last["groups"].is_array(), "{last}");

    let unknown = opsctl(&env, &[], &["kafka", "lag", "--group", "nobody"]).await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("event-service"),
        "lists the groups: {}",
        unknown.stderr
    );
    env.cleanup().await;
}

async fn committed(env: &TestEnv, group: &str) -> Vec<Option<i64>> {
    ticketing_kafka::group_lag(
        &env.settings.kafka,
        &format!("{}{group}", env.settings.kafka.topic_prefix),
        &[env.topic(topics::RESERVATION_EVENTS)],
    )
    .await
    .expect("lag")
    .into_iter()
    .map(|p| p.committed)
    .collect()
}

#[tokio::test]
async fn reset_offsets_plans_moves_saves_and_restores_and_refuses_a_running_group() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let topic = env.topic(topics::RESERVATION_EVENTS);
    let producer = ticketing_messaging::relay::idempotent_producer(
        &env.settings.kafka,
        Duration::from_secs(10),
    )
    .expect("producer");
    for i in 0..6 {
        producer
            .send(
                FutureRecord::to(&topic).key("k").payload(&format!("m{i}")),
                Duration::from_secs(5),
            )
            .await
            .expect("produce");
    }
    let group = format!("{}event-service", env.settings.kafka.topic_prefix);
    ticketing_kafka::commit_offsets(&env.settings.kafka, &group, &[(topic.clone(), 0, 6)])
        .await
        .expect("commit");
    assert_eq!(committed(&env, "event-service").await, vec![Some(6)]);
    let dir = std::env::temp_dir().join(format!("opsctl-reset-{}", env.id));
    std::fs::create_dir_all(&dir).expect("dir");
    let audit = dir.join("audit.jsonl");
    let saved = dir.join("saved.json");
    let audit_env = [("OPSCTL_AUDIT_LOG", audit.to_str().expect("path"))];

    let plan = opsctl(
        &env,
        &audit_env,
        &[
            "kafka",
            "reset-offsets",
            "--group",
            "event-service",
            "--to",
            "earliest",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let body: serde_json::Value = serde_json::from_str(&plan.stdout).expect("json");
    assert_eq!(body["plan"][0]["current"], 6);
    assert_eq!(body["plan"][0]["new"], 0);
    assert_eq!(
        committed(&env, "event-service").await,
        vec![Some(6)],
        "a plan moves nothing"
    );

    let moved = opsctl(
        &env,
        &audit_env,
        &[
            "kafka",
            "reset-offsets",
            "--group",
            "event-service",
            "--to",
            "offset",
            "--offset",
            "2",
            "--save-to",
            saved.to_str().expect("path"),
            "--execute",
        ],
    )
    .await;
    assert_eq!(moved.code, 0, "{}", moved.stderr);
    assert_eq!(committed(&env, "event-service").await, vec![Some(2)]);
    assert!(saved.exists());

    let restored = opsctl(
        &env,
        &audit_env,
        &[
            "kafka",
            "reset-offsets",
            "--group",
            "event-service",
            "--from-file",
            saved.to_str().expect("path"),
            "--execute",
            "--save-to",
            dir.join("again.json").to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert_eq!(committed(&env, "event-service").await, vec![Some(6)]);
    let phases = common::audit_phases(&audit);
    assert_eq!(
        phases,
        [
            "planned", "planned", "started", "progress", "done", "planned", "started", "progress",
            "done"
        ],
        "the dry run's plan, then plan, start, saved offsets and done, twice"
    );

    // The restore point is in the audit trail too: moved again, the last
    // --execute's saved offsets (6) come back from there.
    let again = opsctl(
        &env,
        &audit_env,
        &[
            "kafka",
            "reset-offsets",
            "--group",
            "event-service",
            "--to",
            "earliest",
            "--execute",
            "--save-to",
            dir.join("third.json").to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("--from-audit"), "{}", again.stderr);
    assert_eq!(committed(&env, "event-service").await, vec![Some(0)]);
    let restored = opsctl(
        &env,
        &audit_env,
        &[
            "kafka",
            "reset-offsets",
            "--group",
            "event-service",
            "--from-audit",
            "--execute",
            "--save-to",
            dir.join("fourth.json").to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert_eq!(committed(&env, "event-service").await, vec![Some(6)]);
    let nothing = opsctl(
        &env,
        &audit_env,
        &[
            "kafka",
            "reset-offsets",
            "--group",
            "payment-service",
            "--from-audit",
        ],
    )
    .await;
    assert_eq!(nothing.code, 2, "{}", nothing.stderr);
    assert!(
        nothing.stderr.contains("no offsets saved for group"),
        "{}",
        nothing.stderr
    );

    let outside = opsctl(
        &env,
        &audit_env,
        &[
            "kafka",
            "reset-offsets",
            "--group",
            "event-service",
            "--to",
            "offset",
            "--offset",
            "99",
        ],
    )
    .await;
    assert_eq!(outside.code, 2, "{}", outside.stderr);
    let wrong_group = opsctl(
        &env,
        &audit_env,
        &[
            "kafka",
            "reset-offsets",
            "--group",
            "payment-service",
            "--from-file",
            saved.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(wrong_group.code, 2, "{}", wrong_group.stderr);

    // A running consumer in the group: refused.
    let consumer: rdkafka::consumer::StreamConsumer =
        ticketing_kafka::client_config(&env.settings.kafka)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
    rdkafka::consumer::Consumer::subscribe(&consumer, &[topic.as_str()]).expect("subscribe");
    let _ = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await;
    let refused = opsctl(
        &env,
        &audit_env,
        &[
            "kafka",
            "reset-offsets",
            "--group",
            "event-service",
            "--to",
            "earliest",
            "--execute",
        ],
    )
    .await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    // Kafka lists the member and the refusal names it; nothing moves.
    assert!(
        refused.stderr.contains("active member"),
        "{}",
        refused.stderr
    );
    assert_eq!(committed(&env, "event-service").await, vec![Some(6)]);
    drop(consumer);
    let _ = std::fs::remove_dir_all(&dir);
    env.cleanup().await;
}

/// Answers ZooKeeper's four-letter words `ruok` and `stat` the way a server
/// does, one connection each. A stand-in: no ZooKeeper server can be
/// installed on this machine (it is not in the Debian or PyPI mirrors here).
fn four_letter_word_responder() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut word = [0u8; 4];
            if stream.read_exact(&mut word).is_err() {
                continue;
            }
            let answer = match &word {
                b"ruok" => "imok".to_owned(),
                b"stat" => "Zookeeper version: 3.8.4-test\nClients:\n\nLatency min/avg/max: 0/0/0\nMode: standalone\nNode count: 5\n".to_owned(),
                _ => String::new(),
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    address
}

#[tokio::test]
async fn health_checks_zookeeper_with_ruok_and_stat_when_one_is_configured() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let zookeeper = four_letter_word_responder();
    let ok = opsctl(
        &env,
        &[("TICKETING__KAFKA__ZOOKEEPER", zookeeper.as_str())],
        &["kafka", "health", "--output", "json"],
    )
    .await;
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let report: serde_json::Value = serde_json::from_str(&ok.stdout).expect("json");
    assert_eq!(report["zookeeper"]["ok"], true);
    assert_eq!(report["zookeeper"]["mode"], "standalone");
    assert_eq!(report["zookeeper"]["version"], "3.8.4-test");

    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = silent.local_addr().expect("addr").to_string();
    drop(silent);
    let down = opsctl(
        &env,
        &[("TICKETING__KAFKA__ZOOKEEPER", closed.as_str())],
        &["kafka", "health", "--output", "json"],
    )
    .await;
    assert_eq!(down.code, 1, "{}", down.stdout);
    let report: serde_json::Value = serde_json::from_str(&down.stdout).expect("json");
    assert_eq!(report["zookeeper"]["ok"], false);
    assert!(report["zookeeper"]["error"]
        .as_str()
        .is_some_and(|e| e.contains("ruok")));
    env.cleanup().await;
}

/// The brokers run KRaft: `kafka health` reports the controller quorum as
/// its leader describes it (DescribeQuorum), and exits 1 when a majority of
/// the voters no longer follows (the 10x profile's three nodes, two of them
/// killed: no metadata change can commit then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_kraft_quorum_and_fails_without_a_majority() {
    let env = TestEnv::new().await;
    // The stack's one combined node: it leads a quorum of one.
    env.create_topics().await;
    let one = opsctl(&env, &[], &["kafka", "health", "--output", "json"]).await;
    assert_eq!(one.code, 0, "{}{}", one.stdout, one.stderr);
    let report: serde_json::Value = serde_json::from_str(&one.stdout).expect("json");
    let quorum = &report["quorum"];
    assert_eq!(
        quorum["voters"].as_array().map(Vec::len),
        Some(1),
        "{quorum}"
    );
    assert_eq!(quorum["voters"][0]["id"], quorum["leader_id"], "{quorum}");
    assert_eq!(
        (quorum["following"].as_u64(), quorum["majority"].as_bool()),
        (Some(1), Some(true))
    );
    let table = opsctl(&env, &[], &["kafka", "health"]).await;
    assert!(
        table.stdout.contains("controller quorum: leader"),
        "{}",
        table.stdout
    );
    env.cleanup().await;

    // Three voters; two killed.
    let env = TestEnv::new().await;
    let cluster = ticketing_testkit::PrivateCluster::start_new(3, 2, 1);
    let settings = cluster.settings(&env.settings.kafka);
    let bootstrap = settings.bootstrap_servers.clone();
    // Just started: every broker may not be registered yet.
    let mut made = false;
    for _ in 0..60 {
        if ticketing_kafka::ensure_topics(&settings, &topics::ALL, topics::MVP_PARTITIONS, 2)
            .await
            .is_ok()
        {
            made = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(made, "the cluster's topics");
    let vars = [("TICKETING__KAFKA__BOOTSTRAP_SERVERS", bootstrap.as_str())];
    let three = opsctl(&env, &vars, &["kafka", "health", "--output", "json"]).await;
    assert_eq!(three.code, 0, "{}{}", three.stdout, three.stderr);
    let report: serde_json::Value = serde_json::from_str(&three.stdout).expect("json");
    assert_eq!(
        report["quorum"]["voters"].as_array().map(Vec::len),
        Some(3),
        "{report}"
    );
    assert_eq!(report["quorum"]["majority"], true, "{report}");
    let leader = report["quorum"]["leader_id"].as_u64().expect("a leader");
    // Kill the two nodes that are not the leader: the leader stays up and
    // answers, and sees its followers stop.
    let (stop, _) = cluster.node_commands();
    for node in (1..=3).filter(|n| *n != leader) {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(stop.replace("{node}", &node.to_string()))
            .output()
            .expect("stop a node");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut last = String::new();
    let mut lost = false;
    // The followers' last catch-up ages past ten seconds, or the leader
    // resigns: either way no majority.
    for _ in 0..40 {
        let run = opsctl(&env, &vars, &["kafka", "health", "--output", "json"]).await;
        last = format!("{}{}", run.stdout, run.stderr);
        if run.code == 1 {
            let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
            assert_eq!(report["quorum"]["majority"], false, "{report}");
            lost = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(lost, "two of three voters killed, still healthy: {last}");
    env.cleanup().await;
}
