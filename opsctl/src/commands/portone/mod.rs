//! `opsctl portone mode`: which PortOne mode each environment is in, as its
//! secret `ticketing/<env>/portone` says (keys shown masked) and as the
//! running `payment-service` task definition says, and whether they agree.
//! The emergency rollback and the switch back live in `rollback`.

pub mod rollback;
pub mod switch_back;

use std::process::ExitCode;

use clap::Args;

use crate::context::Context;
use crate::context::EnvArg;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::output;

#[derive(Args, Debug)]
pub struct ModeArgs {
    /// Only this environment (default: the one `--env` names; from
    /// `local`, dev and prod).
    #[arg(long = "of", value_enum)]
    pub of: Option<EnvArg>,
}

fn env_name(env: EnvArg) -> &'static str {
    match env {
        EnvArg::Local => "local",
        EnvArg::Dev => "dev",
        EnvArg::Prod => "prod",
    }
}

pub async fn mode(ctx: &Context, args: ModeArgs) -> Result<ExitCode, OpsError> {
    let envs: Vec<&'static str> = match args.of {
        Some(EnvArg::Local) => {
            return Err(OpsError::usage(
                "the local stack has no PortOne secret; it uses the sandbox in test mode",
                "use --of dev or --of prod",
            ))
        }
        Some(e) => vec![env_name(e)],
        // `--env dev|prod` is the environment asked about: the other one's
        // state (or an error reading it) is not this answer's.
        None => match ctx.profile {
            ticketing_config::Profile::Dev => vec!["dev"],
            ticketing_config::Profile::Prod => vec!["prod"],
            _ => vec!["dev", "prod"],
        },
    };
    let report = crate::ops::portone_mode::modes(ctx, &envs).await?;
    output::emit(ctx.output, &report, || {
        let rows: Vec<Vec<String>> = report
            .iter()
            .map(|m| {
                vec![
                    m.env.to_owned(),
                    m.secret_mode.unwrap_or("?").to_owned(),
                    m.imp_code.clone().unwrap_or_else(|| "-".into()),
                    m.api_key.clone().unwrap_or_else(|| "-".into()),
                    m.task_definition
                        .as_deref()
                        .and_then(|a| a.rsplit('/').next())
                        .unwrap_or("-")
                        .to_owned(),
                    m.task_mode.clone().unwrap_or_else(|| "?".into()),
                    if m.agree { "yes".into() } else { "NO".into() },
                    m.failure_rate
                        .as_ref()
                        .map(|r| match r.percent {
                            Some(p) if r.trigger_met => format!("{p:.1} % (ROLLBACK TRIGGER MET)"),
                            Some(p) => format!("{p:.1} %"),
                            None => "no payments".into(),
                        })
                        .unwrap_or_else(|| "?".into()),
                    m.problem.clone().unwrap_or_default(),
                ]
            })
            .collect();
        output::table(
            &[
                "ENV",
                "SECRET MODE",
                "IMP CODE",
                "API KEY",
                "TASK DEFINITION",
                "TASK MODE",
                "AGREE",
                "FAILURES 10 MIN",
                "PROBLEM",
            ],
            &rows,
        )
    });
    Ok(if report.iter().all(|m| m.agree) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}
