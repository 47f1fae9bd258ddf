//! A data-plane command run from outside the VPC: the same arguments in the
//! environment's ops task (`ops::ops_task`), its output printed as it comes,
//! its exit code returned. In prod a change is planned in the task first,
//! confirmed here (the typed `prod`), then run with `--yes`.

use std::process::ExitCode;
use std::time::Duration;

use ticketing_config::Profile;

use crate::change::{confirm, ExecuteArgs};
use crate::context::Context;
use crate::error::{OpsError, EXIT_FAILED};
use crate::ops::ops_task::{self, OpsTask};

/// How often the task's state and log are read.
const POLL: Duration = Duration::from_secs(2);
/// After the task stopped, the log is read until it stays quiet this many
/// times in a row (the awslogs driver delivers the last lines shortly
/// after the container exits).
const QUIET_READS: u32 = 2;

/// The process's arguments after `opsctl`.
fn arguments() -> Result<Vec<String>, OpsError> {
    std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string().map_err(|a| {
                OpsError::usage(
                    format!("argument {a:?} is not UTF-8, so it cannot be sent to the ops task"),
                    "pass the argument as UTF-8 text",
                )
            })
        })
        .collect()
}

pub async fn exec(ctx: &Context, env: &str) -> Result<ExitCode, OpsError> {
    let args = arguments()?;
    // opsctl's own settings that may have come from this shell's
    // environment rather than the arguments.
    let mut environment = vec![
        (
            "OPSCTL_OUTPUT".to_owned(),
            clap::ValueEnum::to_possible_value(&ctx.output)
                .map(|v| v.get_name().to_owned())
                .unwrap_or_else(|| "table".to_owned()),
        ),
        (
            "OPSCTL_LOCK_WAIT".to_owned(),
            format!("{}s", ctx.lock_wait.as_secs()),
        ),
    ];
    // Who asks, for the audit entries the task writes (which carry the
    // task role's identity of their own).
    environment.push((
        crate::audit::REQUESTED_BY_VAR.to_owned(),
        crate::ops::ops_task::requester(ctx).await?,
    ));
    let execute = args.iter().any(|a| a == "--execute");
    let yes = args.iter().any(|a| a == "--yes");
    if ctx.profile == Profile::Prod && execute && !yes {
        let plan: Vec<String> = args.iter().filter(|a| *a != "--execute").cloned().collect();
        let code = run(ctx, env, &plan, &environment).await?;
        // 0: a plan; 1: a plan that found something to act on.
        if code > 1 {
            return Ok(exit(code));
        }
        confirm(
            ctx.profile,
            &format!("`opsctl {}` (the plan above)", plan.join(" ")),
            &ExecuteArgs {
                execute: true,
                yes: false,
            },
        )?;
        let mut go = args.clone();
        go.push("--yes".to_owned());
        return Ok(exit(run(ctx, env, &go, &environment).await?));
    }
    Ok(exit(run(ctx, env, &args, &environment).await?))
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILED))
}

/// Runs `args` in one ops task; its exit code.
async fn run(
    ctx: &Context,
    env: &str,
    args: &[String],
    environment: &[(String, String)],
) -> Result<i32, OpsError> {
    let mut task = ops_task::start(ctx, env, args, environment).await?;
    eprintln!(
        "running in the ops task {} of {env} (log {} {}); Ctrl-C stops it",
        task.task_id, task.log_group, task.log_stream
    );
    let ended = loop {
        print_lines(&mut task).await?;
        if let Some(ended) = task.ended().await? {
            break ended;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tokio::signal::ctrl_c() => {
                task.stop("interrupted by the operator (Ctrl-C)").await?;
                return Err(OpsError::Failed(anyhow::anyhow!(
                    "interrupted: the ops task {} was asked to stop; what it did so far is in its log",
                    task.task_id
                )));
            }
        }
    };
    let mut quiet = 0;
    while quiet < QUIET_READS {
        tokio::time::sleep(Duration::from_secs(1)).await;
        quiet = if print_lines(&mut task).await? {
            0
        } else {
            quiet + 1
        };
    }
    ended.exit_code.ok_or_else(|| {
        OpsError::Failed(anyhow::anyhow!(
            "the ops task {} stopped before opsctl ran: {}; check the ops task definition (ticketing-ops-{env}) and its secrets",
            task.task_id,
            if ended.reason.is_empty() { "no reason given" } else { &ended.reason }
        ))
    })
}

/// Prints the task's new output; whether there was any.
async fn print_lines(task: &mut OpsTask) -> Result<bool, OpsError> {
    let lines = task.lines().await?;
    for line in &lines {
        println!("{line}");
    }
    Ok(!lines.is_empty())
}
