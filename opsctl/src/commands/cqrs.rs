//! `opsctl cqrs check`: the design's five CQRS triggers read from
//! CloudWatch over `--window` minutes (`ops::cqrs`), printed against their
//! thresholds, with the phase the decision rules call for. Exit 1 when the
//! rules call for a change, or when a trigger could not be read (the
//! verdict is then incomplete: an unread metric is not an ok one).

use std::process::ExitCode;

use clap::Args;

use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::cqrs::{read, verdict, Scope, Verdict};
use crate::output;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Look back this many minutes (1 to 20160, CloudWatch's two weeks of
    /// one-minute data); the peak in the window counts (the cache miss
    /// rate: the window's misses over its lookups).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=20_160))]
    pub window: i64,
    /// The ALB's metric dimension (`app/ticketing-prod/...`); without it the
    /// seat-query latency is not read.
    #[arg(long)]
    pub load_balancer: Option<String>,
    /// The read replica's DB instance id (default
    /// `ticketing-<env>-postgres-replica`).
    #[arg(long)]
    pub replica: Option<String>,
}

pub async fn check(ctx: &Context, args: CheckArgs) -> Result<ExitCode, OpsError> {
    let scope = Scope {
        window_minutes: args.window,
        load_balancer: args.load_balancer,
        replica: args
            .replica
            .unwrap_or_else(|| ticketing_catalog::aws::rds_replica_id(ctx.profile.as_str())),
    };
    let readings = read(ctx, &scope).await?;
    let v = verdict(&ctx.metrics_environment(), args.window, readings);
    output::emit(ctx.output, &v, || render(&v));
    Ok(if v.passes() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

fn render(v: &Verdict) -> String {
    let rows: Vec<Vec<String>> = v
        .readings
        .iter()
        .map(|r| {
            vec![
                r.metric.to_owned(),
                r.value
                    .map_or("NOT READ".into(), |x| format!("{x} {}", r.unit)),
                format!("> {} {}", r.threshold, r.unit),
                match (r.value, r.exceeded) {
                    (None, _) => "unknown".into(),
                    (_, true) => "EXCEEDED".into(),
                    (_, false) => "ok".into(),
                },
                r.source.clone(),
            ]
        })
        .collect();
    let mut out = format!(
        "{} over the last {} min\n{}{} of 5 thresholds exceeded: {:?} -- {}\n",
        v.environment,
        v.window_minutes,
        output::table(&["METRIC", "PEAK", "THRESHOLD", "STATE", "SOURCE"], &rows),
        v.exceeded,
        v.phase,
        v.advice
    );
    if !v.unread.is_empty() {
        out.push_str(&format!(
            "incomplete: {} of 5 not read ({}); the phase above counts only what was read\n",
            v.unread.len(),
            v.unread.join(", ")
        ));
    }
    out
}
