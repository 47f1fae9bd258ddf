//! Apache Kafka brokers of a test's own, for tests that stop, kill or wipe a
//! broker: doing that to the shared one would disturb parallel tests.
//!
//! Each node is a JVM started by `infra/local/kafka-node.sh` (the script the
//! local stack uses too) with a small heap; a node takes a few seconds to
//! start, so tests use as few as they can and the shared broker otherwise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ticketing_config::KafkaSettings;

use crate::free_port;

/// How long a node may take to open its port (JVM start, log recovery after
/// a kill; slow while the rest of the suite compiles and runs).
const START_TIMEOUT: Duration = Duration::from_secs(90);

fn node_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../infra/local/kafka-node.sh")
}

/// Starts of a private broker or cluster before giving up on port races.
const START_ATTEMPTS: u32 = 3;

/// Whether a node's start failed only because another process took one of
/// its ports between [`free_port`] and the bind (`free_port` keeps clear of
/// source ports and of its own process's ports; another program may still
/// bind one meanwhile): worth another start on fresh ports.
fn lost_a_port_race(exited: &str) -> bool {
    exited.contains("Address already in use")
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One KRaft node (broker and controller) of a private broker or cluster.
struct Node {
    id: u32,
    dir: PathBuf,
    port: u16,
    controller_port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    fn new(id: u32, dir: PathBuf, port: u16, controller_port: u16, extra: Vec<String>) -> Node {
        let mut args = vec![
            "--dir".to_owned(),
            dir.display().to_string(),
            "--port".to_owned(),
            port.to_string(),
            "--controller-port".to_owned(),
            controller_port.to_string(),
            "--node-id".to_owned(),
            id.to_string(),
            "--heap".to_owned(),
            "192m".to_owned(),
        ];
        args.extend(extra);
        std::fs::create_dir_all(&dir).expect("broker dir");
        Node {
            id,
            dir,
            port,
            controller_port,
            args,
            child: None,
        }
    }

    fn spawn(&mut self) {
        if self.child.is_some() {
            return;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("kafka.log"))
            .expect("broker log file");
        let child = Command::new("bash")
            .arg(node_script())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", node_script().display()));
        self.child = Some(child);
    }

    fn wait_ready(&mut self) {
        if let Err(exited) = self.try_ready() {
            panic!("{exited}");
        }
    }

    /// Waits until the node listens; `Err` (with its last log lines) when
    /// it exits first. Panics when it neither listens nor exits in time.
    fn try_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!(
                    "private Kafka node {} exited ({status}) before listening; last log lines:\n{}\n\
                     (is Apache Kafka installed? run infra/local/install-tools.sh)",
                    self.id,
                    self.log_tail()
                ));
            }
            assert!(
                Instant::now() < deadline,
                "private Kafka node {} did not listen on {} within {START_TIMEOUT:?}:\n{}",
                self.id,
                self.port,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("kafka.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Kills the node at once (SIGKILL, as a crash or a lost host would).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.kill_restarted();
    }

    fn running(&self) -> bool {
        self.child.is_some()
            || std::fs::read_to_string(self.dir.join("restarted.pid"))
                .ok()
                .and_then(|pid| pid.trim().parse::<i32>().ok())
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
    }

    /// A shell command that starts this node again in the background (same
    /// ports, same data), for tests where another program does the restart.
    fn start_command(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|a| shell_quote(a)).collect();
        let dir = shell_quote(&self.dir.display().to_string());
        format!(
            "nohup bash {script} {args} >>{dir}/kafka.log 2>&1 </dev/null & echo $! > {dir}/restarted.pid",
            script = shell_quote(&node_script().display().to_string()),
            args = args.join(" "),
        )
    }

    /// A shell command that kills this node, however it was started.
    fn kill_command(&self) -> String {
        let dir = shell_quote(&self.dir.display().to_string());
        // The node's JVM is the only process whose command line names its
        // server.properties after the main class; `[.]` keeps the pattern
        // from matching this shell's own command line.
        format!(
            "pkill -KILL -f -- {pattern}; rm -f {dir}/restarted.pid; true",
            pattern = shell_quote(&format!(
                "kafka[.]Kafka {}",
                self.dir.join("server.properties").display()
            )),
        )
    }

    fn kill_restarted(&self) {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(self.kill_command())
            .status();
    }
}

/// A one-node Apache Kafka on free ports with its own data directory; data
/// and committed offsets survive [`PrivateBroker::stop`] and
/// [`PrivateBroker::start`].
pub struct PrivateBroker {
    root: PathBuf,
    node: Node,
}

impl PrivateBroker {
    /// Starts a broker and waits until it listens (again on fresh ports
    /// when it lost a port race); panics (this is test code) when Kafka is
    /// missing or does not start.
    pub fn start_new() -> PrivateBroker {
        let root = std::env::temp_dir().join(format!(
            "ticketing-broker-{}",
            uuid::Uuid::new_v4().simple()
        ));
        for attempt in 1..=START_ATTEMPTS {
            let node = Node::new(1, root.join("node-1"), free_port(), free_port(), Vec::new());
            let mut broker = PrivateBroker {
                root: root.clone(),
                node,
            };
            broker.node.spawn();
            match broker.node.try_ready() {
                Ok(()) => return broker,
                Err(exited) if attempt < START_ATTEMPTS && lost_a_port_race(&exited) => {
                    // Dropping it kills the node and removes its directory.
                    drop(broker);
                }
                Err(exited) => panic!("{exited}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.node.port)
    }

    /// `settings` pointed at this broker.
    pub fn settings(&self, base: &KafkaSettings) -> KafkaSettings {
        let mut settings = base.clone();
        settings.bootstrap_servers = self.bootstrap();
        settings
    }

    pub fn start(&mut self) {
        self.node.spawn();
        self.node.wait_ready();
    }

    /// Kills the broker and deletes its storage, as a broker that lost its
    /// disk; it comes back empty (topics have to be created again).
    pub fn wipe(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(self.node.dir.join("data"));
        let _ = std::fs::remove_file(self.node.dir.join("cluster.id"));
        self.start();
    }

    /// Kills the broker (as a crash would).
    pub fn stop(&mut self) {
        self.node.kill();
    }

    /// A shell command that starts this broker again (same port, same
    /// storage) in the background, for tests where another program (opsctl)
    /// does the restart. [`PrivateBroker::stop`] and `Drop` stop it too.
    pub fn restart_command(&self) -> String {
        format!(
            "{}; {}",
            self.node.kill_command(),
            self.node.start_command()
        )
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.node.kill();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A private three-node cluster (one KRaft controller quorum, each node also
/// a broker) with the given replication factor and `min.insync.replicas`, as
/// the 10x plan runs Kafka; for failover drills.
pub struct PrivateCluster {
    root: PathBuf,
    nodes: Vec<Node>,
}

impl PrivateCluster {
    /// Starts `brokers` nodes and waits until all listen; starts them all
    /// again on fresh ports when one lost a port race.
    pub fn start_new(brokers: usize, replication_factor: i32, min_insync: i32) -> PrivateCluster {
        for attempt in 1..=START_ATTEMPTS {
            let mut cluster = PrivateCluster::spawn(brokers, replication_factor, min_insync);
            match cluster.nodes.iter_mut().try_for_each(Node::try_ready) {
                Ok(()) => return cluster,
                Err(exited) if attempt < START_ATTEMPTS && lost_a_port_race(&exited) => {
                    // Every node again on fresh ports: the voters name them
                    // all. Dropping it kills the nodes and removes the root.
                    drop(cluster);
                }
                Err(exited) => panic!("{exited}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Starts `brokers` nodes on free ports, all at once (the controllers
    /// need each other for a quorum), without waiting for them.
    fn spawn(brokers: usize, replication_factor: i32, min_insync: i32) -> PrivateCluster {
        let root = std::env::temp_dir().join(format!(
            "ticketing-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let ports: Vec<(u16, u16)> = (0..brokers).map(|_| (free_port(), free_port())).collect();
        let voters = ports
            .iter()
            .enumerate()
            .map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let cluster_id = {
            // 16 bytes, base64url without padding: a valid KRaft cluster id.
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
        };
        let mut nodes: Vec<Node> = ports
            .iter()
            .enumerate()
            .map(|(i, (port, cport))| {
                let id = u32::try_from(i + 1).expect("few nodes");
                Node::new(
                    id,
                    root.join(format!("node-{id}")),
                    *port,
                    *cport,
                    vec![
                        "--voters".to_owned(),
                        voters.clone(),
                        "--cluster-id".to_owned(),
                        cluster_id.clone(),
                        "--replication-factor".to_owned(),
                        replication_factor.to_string(),
                        "--min-insync".to_owned(),
                        min_insync.to_string(),
                    ],
                )
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        PrivateCluster { root, nodes }
    }

    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `settings` pointed at this cluster.
    pub fn settings(&self, base: &KafkaSettings) -> KafkaSettings {
        let mut settings = base.clone();
        settings.bootstrap_servers = self.bootstrap();
        settings
    }

    /// The KRaft controller port of node `id` (1-based).
    pub fn controller_port(&self, id: u32) -> Option<u16> {
        self.node(id).map(|n| n.controller_port)
    }

    fn node(&self, id: u32) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Whether node `id` is running (started by this handle or by its
    /// start command).
    pub fn is_running(&self, id: u32) -> bool {
        self.node(id).is_some_and(Node::running)
    }

    /// Shell command templates with `{node}` for the node id, in the form of
    /// the stack's `kafka_cluster.stop_node_command`/`start_node_command`:
    /// a script in the cluster's directory kills (SIGKILL) or starts a node.
    pub fn node_commands(&self) -> (String, String) {
        let mut script = String::from("#!/bin/sh\n# stop|start NODE\ncase \"$1 $2\" in\n");
        for n in &self.nodes {
            script.push_str(&format!("  \"stop {}\") {} ;;\n", n.id, n.kill_command()));
            script.push_str(&format!("  \"start {}\") {} ;;\n", n.id, n.start_command()));
        }
        script.push_str("  *) echo \"unknown node: $*\" >&2; exit 2 ;;\nesac\n");
        let path = self.root.join("node.sh");
        std::fs::write(&path, script).expect("node script");
        let path = shell_quote(&path.display().to_string());
        (
            format!("sh {path} stop {{node}}"),
            format!("sh {path} start {{node}}"),
        )
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[cfg(test)]
mod tests {
    use super::lost_a_port_race;

    #[test]
    fn only_a_port_taken_meanwhile_is_worth_another_start() {
        // As node 2 of a cluster logged it when another test took its port.
        assert!(lost_a_port_race(
            "private Kafka node 2 exited (exit status: 1) before listening; last log lines:\n\
             Caused by: java.net.BindException: Address already in use"
        ));
        assert!(!lost_a_port_race(
            "private Kafka node 1 exited (exit status: 127) before listening; last log lines:\n\
             kafka-server-start.sh: command not found"
        ));
    }
}
