//! The broker's bootstrap, booted for real: the artifact the kafka layer's
//! brokers fetch (`infra/kafka/build-artifact.sh`: `bin/broker.sh` and
//! Apache Kafka's jars) is built, unpacked per host and run as the user data
//! runs it (`configure`, `start`, `create-topics`), each broker on a host
//! of its own: a network namespace with its own address on one bridge, as
//! the brokers' network interfaces are in the VPC. Only EC2 is missing:
//! systemd, the interface and the volume attachment (see kafka.yaml).
//!
//! - the MVP's one broker: the platform's topics, and a consumer group
//!   commits its offsets (`__consumer_offsets` exists with one broker);
//! - the 10x plan's three: one quorum, as `opsctl kafka health` shows it;
//! - a replaced broker (a new root volume, the same interface and data
//!   volume) rejoins as the same node.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use ticketing_catalog::{footprint, topics};
use ticketing_testkit::TestEnv;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Hosts with addresses of their own: network namespaces joined by a
/// bridge in this test's own /24, which this process reaches through the
/// bridge's address. Removed (and their processes killed) on drop.
struct Hosts {
    tag: String,
    subnet: String,
    namespaces: Vec<String>,
    children: Vec<(usize, Child)>,
    root: PathBuf,
}

impl Hosts {
    fn new(n: usize) -> Hosts {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let seq = NEXT.fetch_add(1, Ordering::Relaxed);
        // Interface names have at most 15 bytes; the /24 is this run's.
        let tag = format!("tb{}{seq}", std::process::id() % 100_000);
        let subnet = format!(
            "10.{}.{}",
            200 + (std::process::id() % 50),
            (seq * 37 + std::process::id()) % 250
        );
        let root = std::env::temp_dir().join(format!("ticketing-{tag}"));
        // Made before anything it removes exists: a step that fails below
        // panics with `hosts` in scope, and its Drop removes the bridge,
        // the namespaces made so far and the directory.
        let mut hosts = Hosts {
            tag: tag.clone(),
            subnet: subnet.clone(),
            namespaces: Vec::new(),
            children: Vec::new(),
            root: root.clone(),
        };
        std::fs::create_dir_all(&root).expect("host dirs");
        let bridge = format!("{tag}br");
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        for i in 0..n {
            let ns = format!("{tag}n{i}");
            let (host_end, ns_end) = (format!("{tag}h{i}"), format!("{tag}v{i}"));
            ip(&["netns", "add", &ns]);
            hosts.namespaces.push(ns.clone());
            ip(&[
                "link", "add", &host_end, "type", "veth", "peer", "name", &ns_end,
            ]);
            ip(&["link", "set", &host_end, "master", &bridge, "up"]);
            ip(&["link", "set", &ns_end, "netns", &ns]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", hosts.address(i)),
                "dev",
                &ns_end,
            ]);
            ip(&["-n", &ns, "link", "set", &ns_end, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn address(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 11 + i)
    }

    fn in_host(&self, i: usize, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.namespaces[i]])
            .arg(program);
        cmd
    }

    /// Host `i`'s root volume: the artifact unpacked, as the user data
    /// does into /opt/kafka. A new one for a replaced instance.
    fn install(&self, i: usize, artifact: &Path) -> PathBuf {
        let home = self.root.join(format!("host{i}/opt"));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).expect("root volume");
        run(Command::new("tar")
            .arg("-xzf")
            .arg(artifact)
            .arg("-C")
            .arg(&home));
        home.join("kafka-broker/bin/broker.sh")
    }

    /// Host `i`'s data volume, which moves with the broker's identity.
    fn data(&self, i: usize) -> PathBuf {
        self.root.join(format!("host{i}/data"))
    }

    fn configure(&self, i: usize, broker: &Path, voters: &str, rf: i32) -> String {
        run(self.in_host(i, broker).args([
            "configure",
            "--address",
            &self.address(i),
            "--voters",
            voters,
            "--cluster-seed",
            &format!(
                "arn:aws:cloudformation:us-east-1:123456789012:stack/ticketing-test-kafka/{}",
                self.tag
            ),
            "--replication-factor",
            &rf.to_string(),
            "--data",
            &self.data(i).display().to_string(),
        ]))
    }

    fn start(&mut self, i: usize, broker: &Path) {
        let log = std::fs::File::create(self.root.join(format!("broker{i}.log"))).expect("log");
        let child = self
            .in_host(i, broker)
            .args(["start", "--heap", "256m"])
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the broker starts");
        self.children.push((i, child));
    }

    fn stop(&mut self, i: usize) {
        for (_, child) in self.children.iter_mut().filter(|(h, _)| *h == i) {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.retain(|(h, _)| *h != i);
    }

    fn voters(&self, n: usize) -> String {
        (0..n)
            .map(|i| format!("{}@{}:9093", i + 1, self.address(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn bootstrap(&self, n: usize) -> String {
        (0..n)
            .map(|i| format!("{}:9092", self.address(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.root.join(format!("broker{i}.log"))).unwrap_or_default()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &format!("{}br", self.tag)])
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The artifact, built by the repository's script into `dir`, checked
/// against the SHA-512 the script wrote beside it.
fn artifact(dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/kafka/build-artifact.sh");
    let path = run(Command::new("bash").arg(script).arg("--out").arg(dir));
    let path = PathBuf::from(path.trim());
    let pinned = std::fs::read_to_string(path.with_extension("tgz.sha512")).expect("sha512");
    let actual = run(Command::new("sha512sum").arg(&path));
    assert_eq!(actual.split_whitespace().next(), Some(pinned.trim()));
    path
}

fn create_topics(hosts: &Hosts, broker: &Path, rf: i32) {
    let mut cmd = hosts.in_host(0, broker);
    cmd.args([
        "create-topics",
        "--bootstrap",
        "127.0.0.1:9092",
        "--replication-factor",
        &rf.to_string(),
    ])
    .args(topics::ALL);
    let out = cmd.output().expect("create-topics runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        hosts.log(0)
    );
}

fn settings(env: &TestEnv, bootstrap: String) -> ticketing_config::KafkaSettings {
    let mut kafka = env.settings.kafka.clone();
    kafka.bootstrap_servers = bootstrap;
    // The boot script creates the catalog's names, unprefixed.
    kafka.topic_prefix = String::new();
    kafka
}

async fn health(bootstrap: &str) -> (i32, serde_json::Value, String) {
    let vars = [
        ("TICKETING__KAFKA__BOOTSTRAP_SERVERS", bootstrap),
        ("TICKETING__KAFKA__TOPIC_PREFIX", ""),
    ];
    let run = crate::common::opsctl(&["kafka", "health", "--output", "json"], &vars).await;
    let report = serde_json::from_str(&run.stdout).unwrap_or(serde_json::Value::Null);
    (run.code, report, format!("{}{}", run.stdout, run.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mvp_broker_boots_from_the_artifact_and_a_group_commits_its_offsets() {
    let env = TestEnv::new().await;
    let mut hosts = Hosts::new(1);
    let artifact = artifact(&hosts.root);
    let broker = hosts.install(0, &artifact);
    let rf = footprint::MVP.brokers as i32;
    let identity = hosts.configure(0, &broker, &hosts.voters(1), rf);
    assert!(identity.starts_with("node.id=1 "), "{identity}");
    hosts.start(0, &broker);
    create_topics(&hosts, &broker, rf);

    let kafka = settings(&env, hosts.bootstrap(1));
    let producer: rdkafka::producer::FutureProducer = ticketing_kafka::client_config(&kafka)
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::to(topics::PAYMENT_EVENTS)
                .key("k")
                .payload("v"),
            Duration::from_secs(10),
        )
        .await
        .expect("produced");
    // The group commits what it read: __consumer_offsets must exist, which
    // on one broker needs the internal topics' replication factor of 1.
    let group = format!("boot-test-{}", uuid::Uuid::new_v4().simple());
    ticketing_kafka::commit_offsets(&kafka, &group, &[(topics::PAYMENT_EVENTS.to_owned(), 0, 1)])
        .await
        .unwrap_or_else(|e| panic!("the group commits its offset: {e}\n{}", hosts.log(0)));
    let lag = ticketing_kafka::group_lag(&kafka, &group, &[topics::PAYMENT_EVENTS.to_owned()])
        .await
        .expect("lag");
    assert_eq!((lag[0].committed, lag[0].log_end), (Some(1), 1), "{lag:?}");
    let (code, report, text) = health(&hosts.bootstrap(1)).await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        report["quorum"]["voters"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_boot_into_one_quorum_and_a_replaced_one_rejoins_as_the_same_node() {
    let env = TestEnv::new().await;
    let n = footprint::SCALE_10X.brokers as usize;
    let rf = topics::SCALE_10X_REPLICATION_FACTOR;
    let mut hosts = Hosts::new(n);
    let artifact = artifact(&hosts.root);
    let voters = hosts.voters(n);
    let mut brokers = Vec::new();
    for i in 0..n {
        let broker = hosts.install(i, &artifact);
        let identity = hosts.configure(i, &broker, &voters, rf);
        assert!(
            identity.starts_with(&format!("node.id={} ", i + 1)),
            "{identity}"
        );
        brokers.push(broker);
    }
    let clusters: std::collections::BTreeSet<String> = (0..n)
        .map(|i| {
            std::fs::read_to_string(hosts.data(i).join("meta.properties"))
                .expect("formatted")
                .lines()
                .find_map(|l| l.strip_prefix("cluster.id=").map(str::to_owned))
                .expect("cluster.id")
        })
        .collect();
    assert_eq!(clusters.len(), 1, "one cluster: {clusters:?}");
    for (i, broker) in brokers.iter().enumerate() {
        hosts.start(i, broker);
    }
    create_topics(&hosts, &brokers[0], rf);
    let bootstrap = hosts.bootstrap(n);
    let quorum_of_three = |report: &serde_json::Value| {
        report["quorum"]["majority"] == true
            && report["quorum"]["voters"].as_array().map(Vec::len) == Some(3)
    };
    let (code, report, text) = health(&bootstrap).await;
    assert_eq!(code, 0, "{text}");
    assert!(quorum_of_three(&report), "{report}");

    // Broker B's instance is replaced: the old one stops, the new one has a
    // new root volume (the artifact unpacked again) and gets the same
    // network interface (address) and data volume. It must not format
    // again, and rejoins as node 2.
    let meta_before = std::fs::read_to_string(hosts.data(1).join("meta.properties")).expect("meta");
    hosts.stop(1);
    let replaced = hosts.install(1, &artifact);
    let identity = hosts.configure(1, &replaced, &voters, rf);
    assert!(identity.starts_with("node.id=2 "), "{identity}");
    assert_eq!(
        std::fs::read_to_string(hosts.data(1).join("meta.properties")).expect("meta"),
        meta_before,
        "the data volume keeps its identity: not formatted again"
    );
    hosts.start(1, &replaced);
    let mut last = String::new();
    let mut rejoined = false;
    for _ in 0..60 {
        let (code, report, text) = health(&bootstrap).await;
        // All three follow the leader again (node 2 among them).
        if code == 0 && quorum_of_three(&report) && report["quorum"]["following"] == 3 {
            rejoined = true;
            break;
        }
        last = text;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        rejoined,
        "the replaced broker rejoins the quorum: {last}\n{}",
        hosts.log(1)
    );
    // Its replica of the platform's topics is back in sync.
    let kafka = settings(&env, bootstrap.clone());
    let mut in_sync = false;
    for _ in 0..60 {
        let (_, partitions) = ticketing_kafka::partition_leaders(&kafka, topics::PAYMENT_EVENTS)
            .await
            .expect("metadata");
        if partitions.iter().all(|p| p.in_sync.len() == rf as usize) {
            in_sync = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(in_sync, "payment.events back to {rf} in-sync replicas");
    env.cleanup().await;
}
