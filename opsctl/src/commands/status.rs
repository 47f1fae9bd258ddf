//! `opsctl status`: every dependency and service, up or down, with latency.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use ticketing_health::{check_all, ProbeResult};

use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::status;
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

pub async fn exec(ctx: &Context, args: StatusArgs) -> Result<ExitCode, OpsError> {
    if args.timeout == 0 {
        return Err(OpsError::usage(
            "--timeout must be at least 1 second",
            "try --timeout 3",
        ));
    }
    let probes = status::probes(ctx)?;
    let mut checks = check_all(&probes, Duration::from_secs(args.timeout)).await;
    let mut platform_log_tail = None;
    if let Some(process) = status::local_platform(ctx) {
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
