//! `opsctl status`: every dependency and service, up or down, with latency.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use ticketing_catalog::{topics, ServiceName};
use ticketing_health::{check_all, Probe, ProbeResult};
use ticketing_redis::Redis;

use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::output;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Seconds to wait for each check.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}

#[derive(Serialize)]
struct Report {
    env: String,
    healthy: bool,
    checks: Vec<ProbeResult>,
    /// The local platform process's last log lines, when it has exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    platform_log_tail: Option<Vec<String>>,
}

/// Log lines shown for a platform process that has exited.
const LOG_TAIL_LINES: usize = 15;

pub async fn exec(ctx: &Context, args: StatusArgs) -> Result<ExitCode, CliError> {
    if args.timeout == 0 {
        return Err(CliError::usage(
            "--timeout must be at least 1 second",
            "try --timeout 3",
        ));
    }
    let probes = probes(ctx)?;
    let mut checks = check_all(&probes, Duration::from_secs(args.timeout)).await;
    let mut platform_log_tail = None;
    if let Some(process) = local_platform(ctx) {
        platform_log_tail = process.log_tail.clone();
        checks.push(process.check());
    }
    let healthy = checks.iter().all(ProbeResult::is_up);
    let report = Report {
        env: ctx.profile.to_string(),
        healthy,
        checks,
        platform_log_tail,
    };
    output::emit(ctx.output, &report, || render(&report));
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

fn render(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .checks
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                if c.is_up() { "up" } else { "DOWN" }.to_owned(),
                format!("{:.1} ms", c.latency_ms),
                c.detail.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = output::table(&["CHECK", "STATUS", "LATENCY", "DETAIL"], &rows);
    if let Some(tail) = &report.platform_log_tail {
        out.push_str("\nthe platform's last log lines:\n");
        for line in tail {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    let down = report.checks.iter().filter(|c| !c.is_up()).count();
    if down == 0 {
        out.push_str(&format!(
            "\nall {} checks up ({})\n",
            report.checks.len(),
            report.env
        ));
    } else {
        out.push_str(&format!(
            "\n{down} of {} checks DOWN ({})\n",
            report.checks.len(),
            report.env
        ));
    }
    out
}

fn probes(ctx: &Context) -> Result<Vec<Probe>, CliError> {
    let s = &ctx.settings;
    let password = ticketing_config::Secrets::database_password_from_env();
    let pool = ticketing_db::lazy_pool(&s.database, password.as_ref(), None)
        .map_err(|e| CliError::usage(e.to_string(), "check the [database] settings"))?;
    let redis =
        Redis::new(&s.redis).map_err(|e| CliError::usage(e.to_string(), "check redis.url"))?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| CliError::Failed(anyhow::Error::new(e).context("building the HTTP client")))?;

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
struct PlatformProcess {
    pid: String,
    alive: bool,
    log: std::path::PathBuf,
    log_tail: Option<Vec<String>>,
}

impl PlatformProcess {
    fn check(&self) -> ProbeResult {
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
fn local_platform(ctx: &Context) -> Option<PlatformProcess> {
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
