//! What `opsctl status` reaches: the stack's dependencies, each service's
//! readiness, and locally the platform process `infra/local/up.sh` started.

use std::time::Duration;

use ticketing_catalog::{topics, ServiceName};
use ticketing_health::{Probe, ProbeResult};
use ticketing_redis::Redis;

use crate::environment::Environment;
use crate::error::OpsError;

/// Log lines shown for a platform process that has exited.
const LOG_TAIL_LINES: usize = 15;

/// Every dependency's and service's probe, as this environment's
/// settings reach them.
pub fn probes(ctx: &Environment) -> Result<Vec<Probe>, OpsError> {
    let s = &ctx.settings;
    let password = ticketing_config::Secrets::database_password_from_env();
    let pool = ticketing_db::lazy_pool(&s.database, password.as_ref(), None)
        .map_err(|e| OpsError::usage(e.to_string(), "check the [database] settings"))?;
    let redis =
        Redis::new(&s.redis).map_err(|e| OpsError::usage(e.to_string(), "check redis.url"))?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| OpsError::Failed(anyhow::Error::new(e).context("building the HTTP client")))?;

    let mut probes = vec![
        ticketing_db::probe("postgres", pool),
        ticketing_redis::probe("redis", redis),
        kafka_probe(s.kafka.clone()),
    ];
    for service in ServiceName::ALL {
        let mut url = s.services.endpoint(service).url.clone();
        url.set_path(ticketing_catalog::http::READINESS_PATH);
        probes.push(ticketing_health::http_ready(
            service.as_str(),
            http.clone(),
            url,
        ));
    }
    Ok(probes)
}

/// The broker answers metadata and has every catalog topic.
fn kafka_probe(settings: ticketing_config::KafkaSettings) -> Probe {
    Probe::new("kafka", move || {
        let settings = settings.clone();
        async move {
            let info = ticketing_kafka::cluster_info(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let missing: Vec<String> = topics::ALL
                .iter()
                .map(|t| settings.topic(t))
                .filter(|t| {
                    !info
                        .topics
                        .iter()
                        .any(|i| &i.name == t && i.error.is_none())
                })
                .collect();
            if missing.is_empty() {
                Ok(Some(format!(
                    "{} broker(s), topics {} present",
                    info.brokers.len(),
                    topics::ALL.join(", ")
                )))
            } else {
                Err(format!(
                    "broker answers but topics are missing: {} (infra/local/up.sh creates them)",
                    missing.join(", ")
                ))
            }
        }
    })
}

/// The platform process `infra/local/up.sh` started (its pid file under the
/// stack's state dir), when there is one.
pub struct PlatformProcess {
    pid: String,
    alive: bool,
    log: std::path::PathBuf,
    pub log_tail: Option<Vec<String>>,
}

impl PlatformProcess {
    pub fn check(&self) -> ProbeResult {
        ProbeResult {
            name: "platform".to_owned(),
            status: if self.alive {
                ticketing_health::Status::Up
            } else {
                ticketing_health::Status::Down
            },
            latency_ms: 0.0,
            detail: Some(if self.alive {
                format!("ticketing serve running (pid {})", self.pid)
            } else {
                format!(
                    "the platform process (pid {}) has exited; see {} and start it again with infra/local/up.sh",
                    self.pid,
                    self.log.display()
                )
            }),
        }
    }
}

/// Only on the local stack, and only when up.sh started a platform: tests
/// and one-off runs have no pid file and get no such check.
pub fn local_platform(ctx: &Environment) -> Option<PlatformProcess> {
    if ctx.profile != ticketing_config::Profile::Local {
        return None;
    }
    let stack = ctx.settings.stack.as_ref()?;
    let state = stack.state_path();
    let dir = state.join("platform");
    let pid = std::fs::read_to_string(dir.join("ticketing.pid")).ok()?;
    let pid = pid.trim().to_owned();
    // Alive, and still our program (pids are reused).
    let alive = pid.parse::<u32>().is_ok_and(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|cmdline| String::from_utf8_lossy(&cmdline).contains("ticketing"))
            .unwrap_or(false)
    });
    let log = dir.join("ticketing.log");
    let log_tail = (!alive).then(|| tail(&log, LOG_TAIL_LINES));
    Some(PlatformProcess {
        pid,
        alive,
        log,
        log_tail,
    })
}

fn tail(path: &std::path::Path, lines: usize) -> Vec<String> {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}
