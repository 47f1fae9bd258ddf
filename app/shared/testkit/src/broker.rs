//! A Kafka-protocol broker (tansu) of a test's own, for tests that stop and
//! start the broker: stopping the shared one would disturb parallel tests.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ticketing_config::KafkaSettings;

/// A tansu broker on a free port with its own SQLite file; data and committed
/// offsets survive [`PrivateBroker::stop`] and [`PrivateBroker::start`].
pub struct PrivateBroker {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

fn tansu() -> PathBuf {
    let home = std::env::var_os("TICKETING_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ticketing")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache/ticketing"));
    home.join("tools/bin/tansu")
}

impl PrivateBroker {
    /// Starts a broker; panics (this is test code) when tansu is missing.
    pub fn start_new() -> PrivateBroker {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = std::env::temp_dir().join(format!(
            "ticketing-broker-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("broker dir");
        let mut broker = PrivateBroker {
            dir,
            port,
            child: None,
        };
        broker.start();
        broker
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `settings` pointed at this broker.
    pub fn settings(&self, base: &KafkaSettings) -> KafkaSettings {
        let mut settings = base.clone();
        settings.bootstrap_servers = self.bootstrap();
        settings
    }

    pub fn start(&mut self) {
        if self.child.is_some() {
            return;
        }
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu())
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "tansu not runnable at {} ({e}); run infra/local/install-tools.sh",
                    tansu().display()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "private broker did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the broker and deletes its storage, as a broker that lost its
    /// disk; it comes back empty (topics have to be created again).
    pub fn wipe(&mut self) {
        self.stop();
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        self.start();
    }

    /// Kills the broker (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.kill_restarted();
    }

    /// A shell command that starts this broker again (same port, same
    /// storage) in the background, for tests where another program (opsctl)
    /// does the restart. [`PrivateBroker::stop`] and `Drop` stop it too.
    pub fn restart_command(&self) -> String {
        format!(
            "cd '{dir}' && nohup '{tansu}' broker --listener-url tcp://127.0.0.1:{port} \
             --advertised-listener-url tcp://127.0.0.1:{port} --storage-engine sqlite://tansu.db \
             >>restarted.log 2>&1 </dev/null & echo $! > '{dir}/restarted.pid'",
            dir = self.dir.display(),
            tansu = tansu().display(),
            port = self.port,
        )
    }

    fn kill_restarted(&self) {
        let pidfile = self.dir.join("restarted.pid");
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            let _ = std::fs::remove_file(pidfile);
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
