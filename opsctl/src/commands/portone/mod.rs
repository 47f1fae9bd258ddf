//! `opsctl portone mode`: which PortOne mode each environment is in, as its
//! secret `ticketing/<env>/portone` says (keys shown masked) and as the
//! running `payment-service` task definition says, and whether they agree.
//! The emergency rollback and the switch back live in `rollback`.

pub mod rollback;
pub mod switch_back;

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use ticketing_catalog::portone as names;

use crate::context::Context;
use crate::context::EnvArg;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::ops::portone::{mask, secret_mode, PortOneSecret};
use crate::output;

#[derive(Args, Debug)]
pub struct ModeArgs {
    /// Only this environment (default: the one `--env` names; from
    /// `local`, dev and prod).
    #[arg(long = "of", value_enum)]
    pub of: Option<EnvArg>,
}

#[derive(Serialize)]
struct EnvMode {
    env: &'static str,
    secret: String,
    imp_code: Option<String>,
    api_key: Option<String>,
    secret_mode: Option<&'static str>,
    task_definition: Option<String>,
    task_mode: Option<String>,
    agree: bool,
    /// The payment failure rate over the last 10 minutes, with the
    /// rollback trigger (None when CloudWatch could not be read).
    failure_rate: Option<crate::ops::payments::FailureRate>,
    problem: Option<String>,
}

fn env_name(env: EnvArg) -> &'static str {
    match env {
        EnvArg::Local => "local",
        EnvArg::Dev => "dev",
        EnvArg::Prod => "prod",
    }
}

async fn one(env: &'static str, metrics_env: &str, sdk: &aws_config::SdkConfig) -> EnvMode {
    let secret = names::secret_name(env);
    let mut mode = EnvMode {
        env,
        secret: secret.clone(),
        imp_code: None,
        api_key: None,
        secret_mode: None,
        task_definition: None,
        task_mode: None,
        agree: false,
        failure_rate: None,
        problem: None,
    };
    mode.failure_rate =
        crate::ops::payments::failure_rate(&aws_sdk_cloudwatch::Client::new(sdk), metrics_env, 10)
            .await
            .ok();
    read_secret(&aws_sdk_secretsmanager::Client::new(sdk), &mut mode).await;
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let cluster = ticketing_catalog::ecs::cluster(env);
    let host = crate::ops::ecs::payment_host(&ecs, &cluster)
        .await
        .map_or(names::SERVICE, |h| h.name());
    let described = ecs
        .describe_services()
        .cluster(&cluster)
        .services(host)
        .send()
        .await;
    let task_definition = described.ok().and_then(|d| {
        d.services()
            .first()
            .and_then(|s| s.task_definition().map(str::to_owned))
    });
    if let Some(arn) = task_definition {
        mode.task_mode = task_mode(&ecs, &arn).await;
        mode.task_definition = Some(arn);
    } else if mode.problem.is_none() {
        mode.problem = Some(format!(
            "no {} service on cluster {} (or it cannot be read)",
            host,
            ticketing_catalog::ecs::cluster(env)
        ));
    }
    mode.agree = mode.problem.is_none()
        && mode.secret_mode.is_some()
        && mode.secret_mode.map(str::to_owned) == mode.task_mode;
    mode
}

/// What the environment's PortOne secret says: its mode, merchant code and
/// masked key, or why it cannot be read.
async fn read_secret(sm: &aws_sdk_secretsmanager::Client, mode: &mut EnvMode) {
    let secret = &mode.secret;
    let text = match crate::ops::secrets::read(sm, secret).await {
        Ok(Some(text)) => text,
        Ok(None) => {
            mode.problem = Some(format!("{secret} does not exist"));
            return;
        }
        Err(e) => {
            mode.problem = Some(e);
            return;
        }
    };
    match serde_json::from_str::<PortOneSecret>(&text) {
        Ok(s) => {
            mode.secret_mode = secret_mode(&s);
            mode.imp_code = Some(s.imp_code);
            mode.api_key = Some(mask(&s.api_key));
            if s.api_secret.is_empty() {
                mode.problem = Some("api_secret is empty".into());
            }
        }
        Err(e) => {
            mode.problem = Some(format!(
                "{secret} is not the expected JSON {{imp_code, api_key, api_secret, mode}}: {e}"
            ))
        }
    }
}

/// The mode the payment task runs in, from its task definition's
/// environment: an explicit override wins; otherwise the profile's default.
async fn task_mode(ecs: &aws_sdk_ecs::Client, arn: &str) -> Option<String> {
    let td = ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .ok()?;
    let vars: Vec<(String, String)> = td
        .task_definition()
        .map(|t| t.container_definitions())
        .unwrap_or_default()
        .iter()
        .flat_map(|c| c.environment())
        .filter_map(|kv| Some((kv.name()?.to_owned(), kv.value()?.to_owned())))
        .collect();
    let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    get("TICKETING__PORTONE__MODE").or_else(|| {
        get("TICKETING_PROFILE").map(|p| match p.as_str() {
            "prod" => "production".into(),
            _ => "test".into(),
        })
    })
}

pub async fn mode(ctx: &Context, args: ModeArgs) -> Result<ExitCode, CliError> {
    let envs: Vec<&'static str> = match args.of {
        Some(EnvArg::Local) => {
            return Err(CliError::usage(
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
    let sdk = crate::aws::sdk_config(ctx).await?;
    let mut report = Vec::new();
    for env in envs {
        // The metrics' environment dimension: this profile's setting for
        // its own environment, the environment's name for the other.
        let metrics_env = if env == ctx.profile.as_str() {
            ctx.metrics_environment()
        } else {
            env.to_owned()
        };
        report.push(one(env, &metrics_env, &sdk).await);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked_and_their_mode_is_what_the_secret_says() {
        assert_eq!(mask("live_api_key_secretvalue"), "live****");
        assert_eq!(mask("ab"), "ab****");
        let keys = |json: &str| serde_json::from_str::<PortOneSecret>(json).expect("json");
        let base = r#""imp_code":"imp12345678","api_key":"1234567890123456","api_secret":"s""#;
        assert_eq!(
            secret_mode(&keys(&format!(r#"{{{base},"mode":"test"}}"#))),
            Some("test")
        );
        assert_eq!(
            secret_mode(&keys(&format!(r#"{{{base},"mode":"production"}}"#))),
            Some("production")
        );
        // A key's look says nothing: PortOne V1 keys carry no mode.
        assert_eq!(secret_mode(&keys(&format!(r#"{{{base}}}"#))), None);
        assert_eq!(
            secret_mode(&keys(&format!(r#"{{{base},"mode":"live"}}"#))),
            None
        );
    }
}
