//! `opsctl queue status|pause|resume|set-rate`: the waiting room during a
//! ticket open. Pause and rate are controls in Redis that every
//! queue-service instance's admission loop reads each round: paused, people
//! keep joining the queue in arrival order and nobody is admitted until
//! `resume`. A control on one performance wins over `--all`'s.
//!
//! ```text
//! opsctl queue status                              # every open room
//! opsctl queue pause --all --execute               # e.g. Kafka is being recovered
//! opsctl queue set-rate 0191... 200 --execute      # 200 admissions a second
//! opsctl queue set-rate 0191... default --execute  # back to the configured rate
//! opsctl queue resume --all --execute
//! ```

use std::process::ExitCode;

use clap::{Args, Subcommand};
use queue_service::controls::{RoomStatus, Scope};
use uuid::Uuid;

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::OpsError;
use crate::ops::queue::{plan, Action, RoomChange, Rooms};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum QueueCommand {
    /// Per waiting room: waiting, admitted (valid/issued), admission rate,
    /// paused or not, the oldest wait and the wait of the last in line.
    Status(StatusArgs),
    /// Stop admitting (people keep joining, in arrival order).
    Pause(ScopeArgs),
    /// Admit again, from the head of the queue.
    Resume(ScopeArgs),
    /// Admit RATE people a second (`default`: the configured rate).
    SetRate(RateArgs),
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// One performance (default: every open room and every performance
    /// with a control).
    pub performance: Option<Uuid>,
}

#[derive(Args, Debug)]
pub struct ScopeArgs {
    /// The performance (its id).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub performance: Option<Uuid>,
    /// Every performance, including rooms that open later.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Args, Debug)]
pub struct RateArgs {
    /// The performance (its id), or `all`.
    pub performance: String,
    /// Admissions per second, or `default`.
    #[arg(value_parser = parse_rate)]
    pub rate: Rate,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Debug, Clone, Copy)]
pub struct Rate(Option<u32>);

fn parse_rate(raw: &str) -> Result<Rate, String> {
    if raw == "default" {
        return Ok(Rate(None));
    }
    match raw.parse::<u32>() {
        Ok(0) => Err("0 admits nobody; use `opsctl queue pause` for that".into()),
        Ok(n) => Ok(Rate(Some(n))),
        Err(_) => Err(format!(
            "`{raw}` is not a rate: give admissions per second (e.g. 200) or `default`"
        )),
    }
}

fn parse_scope(raw: &str) -> Result<Scope, OpsError> {
    if raw == "all" {
        return Ok(Scope::All);
    }
    Uuid::parse_str(raw).map(Scope::Performance).map_err(|_| {
        OpsError::usage(
            format!("`{raw}` is neither a performance id (a UUID) nor `all`"),
            "see the open rooms with `opsctl queue status`",
        )
    })
}

pub async fn exec(ctx: &Context, command: QueueCommand) -> Result<ExitCode, OpsError> {
    let (scope, action, execute, name) = match command {
        QueueCommand::Status(args) => return status(ctx, args).await,
        QueueCommand::Pause(args) => (scope_of(&args), Action::Pause, args.execute, "queue pause"),
        QueueCommand::Resume(args) => (
            scope_of(&args),
            Action::Resume,
            args.execute,
            "queue resume",
        ),
        QueueCommand::SetRate(args) => (
            parse_scope(&args.performance)?,
            Action::SetRate(args.rate.0),
            args.execute,
            "queue set-rate",
        ),
    };
    let rooms = Rooms::connect(ctx)?;
    let before = rooms.observe(scope).await?;
    let change = RoomChange {
        rooms: &rooms,
        plan: plan(scope, before, action),
        command: name,
    };
    driver::drive(ctx, &change, &execute).await
}

fn scope_of(args: &ScopeArgs) -> Scope {
    match args.performance {
        Some(p) if !args.all => Scope::Performance(p),
        _ => Scope::All,
    }
}

async fn status(ctx: &Context, args: StatusArgs) -> Result<ExitCode, OpsError> {
    let rooms = Rooms::connect(ctx)?;
    let all = rooms.observe(Scope::All).await?;
    let statuses = rooms.statuses(args.performance, chrono::Utc::now()).await?;
    output::emit(
        ctx.output,
        &serde_json::json!({"all": all, "rooms": statuses}),
        || {
            let resume = all
                .paused
                .then(|| ctx.command_line(&["queue", "resume", "--all", "--execute"]));
            render(&statuses, resume.as_deref())
        },
    );
    Ok(ExitCode::SUCCESS)
}

fn seconds(s: Option<impl std::fmt::Display>) -> String {
    s.map(|s| format!("{s} s")).unwrap_or_else(|| "-".into())
}

/// The rooms as a table; `resume_all` is the command that resumes every
/// performance, when `--all` paused them.
fn render(rooms: &[RoomStatus], resume_all: Option<&str>) -> String {
    let rows: Vec<Vec<String>> = rooms
        .iter()
        .map(|r| {
            vec![
                r.performance.to_string(),
                r.waiting.to_string(),
                format!("{}/{}", r.admitted_valid, r.admitted_total),
                format!(
                    "{}/s{}",
                    r.admit_per_second,
                    if r.rate_overridden { " (set)" } else { "" }
                ),
                match (r.paused, r.paused_by_all) {
                    (false, _) => "no".into(),
                    (true, false) => "PAUSED".into(),
                    (true, true) => "PAUSED (all)".into(),
                },
                seconds(r.oldest_wait_seconds),
                seconds(r.last_in_line_wait_seconds),
            ]
        })
        .collect();
    let mut out = String::new();
    if let Some(resume) = resume_all {
        out.push_str(&format!(
            "admission is PAUSED for every performance; to resume: {resume}\n"
        ));
    }
    if rooms.is_empty() {
        out.push_str("no waiting room is open\n");
        return out;
    }
    out.push_str(&output::table(
        &[
            "PERFORMANCE",
            "WAITING",
            "ADMITTED (VALID/ISSUED)",
            "RATE",
            "PAUSED",
            "OLDEST WAIT",
            "LAST IN LINE",
        ],
        &rows,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_a_positive_number_or_default() {
        assert_eq!(parse_rate("200").map(|r| r.0), Ok(Some(200)));
        assert_eq!(parse_rate("default").map(|r| r.0), Ok(None));
        assert!(parse_rate("0").unwrap_err().contains("queue pause"));
        assert!(parse_rate("fast").unwrap_err().contains("per second"));
        assert!(parse_scope("all").is_ok_and(|s| s == Scope::All));
        assert!(parse_scope("nope").is_err());
    }
}
