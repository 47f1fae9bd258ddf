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
}

pub async fn exec(ctx: &Context, args: StatusArgs) -> Result<ExitCode, CliError> {
    if args.timeout == 0 {
        return Err(CliError::usage(
            "--timeout must be at least 1 second",
            "try --timeout 3",
        ));
    }
    let probes = probes(ctx)?;
    let checks = check_all(&probes, Duration::from_secs(args.timeout)).await;
    let healthy = checks.iter().all(ProbeResult::is_up);
    let report = Report {
        env: ctx.profile.to_string(),
        healthy,
        checks,
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
        url.set_path("/ready");
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
