//! `opsctl audit`: the team's trail of changes, read back.
//!
//! ```text
//! opsctl --env prod audit                       # the last 24 hours
//! opsctl --env prod audit --since 7d --command "portone rollback"
//! ```
//!
//! In dev and prod it reads the environment's CloudWatch Logs group (every
//! engineer's and the pipeline's runs, with who ran them by AWS identity);
//! locally the file on this machine.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::args::parse_age;
use crate::audit::{self, Entry};
use crate::context::Context;
use crate::error::OpsError;
use crate::output;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// How far back to read (e.g. 30m, 24h, 7d).
    #[arg(long, value_parser = parse_age, default_value = "24h")]
    pub since: Duration,
    /// Only the entries of commands that start with this (e.g. `kafka`,
    /// `portone rollback`).
    #[arg(long)]
    pub command: Option<String>,
}

pub async fn exec(ctx: &Context, args: AuditArgs) -> Result<ExitCode, OpsError> {
    let since = i64::try_from(args.since.as_secs()).unwrap_or(i64::MAX);
    let (source, entries) = audit::read_trail(ctx, since).await?;
    let env = ctx.profile.as_str();
    let entries: Vec<Entry> = entries
        .into_iter()
        .filter(|e| {
            args.command
                .as_deref()
                .is_none_or(|c| e.command.starts_with(c))
        })
        .collect();
    let report = serde_json::json!({"env": env, "source": source, "entries": entries});
    output::emit(ctx.output, &report, || table(&source, &entries));
    Ok(ExitCode::SUCCESS)
}

fn table(source: &str, entries: &[Entry]) -> String {
    let mut out = format!("{} entries from {source}\n", entries.len());
    for e in entries {
        // A change made in the ops task: who started it, through the task.
        let who = match (&e.requested_by, &e.identity) {
            (Some(by), _) => format!("{by} via the ops task"),
            (None, Some(arn)) => arn.clone(),
            (None, None) => e.user.clone(),
        };
        let what = match (e.detail.get("changes"), e.detail.get("error")) {
            (Some(n), _) => format!("{n} change(s)"),
            (_, Some(err)) => format!("error: {}", err.as_str().unwrap_or_default()),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{}  {:<8} {:<28} {who}  {what}\n",
            e.at,
            format!("{:?}", e.phase).to_lowercase(),
            e.command
        ));
    }
    out
}
