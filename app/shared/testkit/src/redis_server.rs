//! A Redis server of a test's own, for tests that stop Redis mid-run:
//! stopping the shared one would disturb parallel tests.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `redis-server` on a free port, without persistence.
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts it; panics (this is test code) when `redis-server` is missing.
    pub fn start_new() -> PrivateRedis {
        let port = crate::free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server not runnable ({e}); run infra/local/install-tools.sh")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "private redis did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        PrivateRedis {
            port,
            child: Some(child),
        }
    }

    pub fn url(&self) -> url::Url {
        url::Url::parse(&format!("redis://127.0.0.1:{}", self.port))
            .unwrap_or_else(|e| panic!("redis url: {e}"))
    }

    /// Kills it (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
