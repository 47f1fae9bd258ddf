//! `opsctl secrets plan|apply`: the secrets every task reads before it can
//! start -- `ticketing/<env>/app` (signing keys, reCAPTCHA) and
//! `ticketing/<env>/portone` (the PortOne keys) -- exist and hold every key
//! the task definitions name. `apply --execute` creates a missing one: the
//! signing keys are random (Secrets Manager's GetRandomPassword), the keys
//! others issue come from opsctl's own environment (`RECAPTCHA_SECRET`,
//! `PORTONE_IMP_CODE`, `PORTONE_API_KEY`, `PORTONE_API_SECRET`, and
//! `PORTONE_MODE`, `test` or `production`: PortOne's keys do not say). An
//! existing secret is never rewritten. No value is ever printed or audited.

use std::process::ExitCode;

use clap::Subcommand;
use ticketing_catalog::{portone as names, secrets};

use crate::change::{self, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::ops::secrets::{
    app_keys, plan_app, plan_portone, plan_portone_test, portone_keys, Action, Found, SecretPlan,
};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum SecretsCommand {
    /// Whether each secret the tasks read exists and is complete; exit 1
    /// when one is missing or incomplete.
    Plan,
    /// Create the missing secrets (with --execute); never rewrites one.
    Apply(ExecuteArgs),
}

/// A variable of opsctl's own environment, when set and not empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn find(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    wanted: &[&str],
) -> Result<Found, CliError> {
    match crate::ops::secrets::read(sm, name).await {
        Ok(Some(value)) => Ok(Found::of_value(&value, wanted)),
        Ok(None) => Ok(Found::Missing),
        Err(e) => Err(CliError::Failed(anyhow::anyhow!(
            "{e}; check the AWS credentials and --region"
        ))),
    }
}

async fn plan(
    ctx: &Context,
    sm: &aws_sdk_secretsmanager::Client,
) -> Result<Vec<SecretPlan>, CliError> {
    let env = ctx.profile.as_str();
    let unset = |vars: &mut dyn Iterator<Item = &'static str>| -> Vec<&'static str> {
        vars.filter(|v| var(v).is_none()).collect()
    };
    let app = find(sm, &secrets::app_secret_name(env), &app_keys()).await?;
    let unset_app = unset(&mut secrets::PROVIDED_APP_KEYS.iter().copied());
    let portone = find(sm, &names::secret_name(env), &portone_keys()).await?;
    let unset_portone = unset(&mut secrets::PORTONE_KEYS.iter().map(|(_, v)| *v));
    let mode = var("PORTONE_MODE").and_then(|m| names::MODES.into_iter().find(|k| *k == m));
    let test = find(sm, &names::test_keys_secret_name(env), &portone_keys()).await?;
    let unset_test = unset(&mut secrets::PORTONE_TEST_KEYS.iter().map(|(_, v)| *v));
    Ok(vec![
        plan_app(env, app, &unset_app),
        plan_portone(env, portone, &unset_portone, mode),
        plan_portone_test(env, test, &unset_test),
    ])
}

fn render(plans: &[SecretPlan]) -> String {
    let rows: Vec<Vec<String>> = plans
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                match p.action {
                    Action::Keep => "ok",
                    Action::Create => "CREATE",
                    Action::Blocked => "BLOCKED",
                    Action::Absent => "absent",
                }
                .to_owned(),
                p.note.clone(),
            ]
        })
        .collect();
    output::table(&["secret", "action", "what"], &rows)
}

/// The secret's value, built now from random keys and the environment.
async fn value(
    sm: &aws_sdk_secretsmanager::Client,
    plan: &SecretPlan,
    env: &str,
) -> Result<String, String> {
    let mut map = serde_json::Map::new();
    if plan.name == secrets::app_secret_name(env) {
        for key in secrets::GENERATED_APP_KEYS {
            let random = sm
                .get_random_password()
                .password_length(secrets::GENERATED_KEY_LENGTH)
                .exclude_punctuation(true)
                .send()
                .await
                .map_err(|e| format!("GetRandomPassword failed: {}", crate::aws::sdk_error(&e)))?;
            let password = random
                .random_password()
                .ok_or("GetRandomPassword returned no password")?;
            map.insert(key.to_owned(), password.into());
        }
        for key in secrets::PROVIDED_APP_KEYS {
            map.insert(
                key.to_owned(),
                var(key).ok_or(format!("{key} is not set"))?.into(),
            );
        }
    } else if plan.name == names::test_keys_secret_name(env) {
        for (key, from) in secrets::PORTONE_TEST_KEYS {
            map.insert(
                key.to_owned(),
                var(from).ok_or(format!("{from} is not set"))?.into(),
            );
        }
        map.insert("mode".to_owned(), "test".into());
    } else {
        for (key, from) in secrets::PORTONE_KEYS {
            map.insert(
                key.to_owned(),
                var(from).ok_or(format!("{from} is not set"))?.into(),
            );
        }
    }
    Ok(serde_json::Value::Object(map).to_string())
}

async fn create(
    sm: &aws_sdk_secretsmanager::Client,
    plan: &SecretPlan,
    env: &str,
) -> Result<(), String> {
    let value = value(sm, plan, env).await?;
    sm.create_secret()
        .name(&plan.name)
        .description(format!(
            "ticketing {env}: read by the tasks at start (made by opsctl secrets apply)"
        ))
        .secret_string(value)
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("Environment")
                .value(env)
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("CreateSecret failed: {}", crate::aws::sdk_error(&e)))
}

pub async fn exec(ctx: &Context, command: SecretsCommand) -> Result<ExitCode, CliError> {
    let sm = aws_sdk_secretsmanager::Client::new(&crate::aws::sdk_config(ctx).await?);
    let plans = plan(ctx, &sm).await?;
    let blocked = plans.iter().filter(|p| p.action == Action::Blocked).count();
    let to_create: Vec<&SecretPlan> = plans
        .iter()
        .filter(|p| p.action == Action::Create)
        .collect();
    let execute = match command {
        SecretsCommand::Plan => {
            output::emit(ctx.output, &plans, || render(&plans));
            return Ok(if blocked + to_create.len() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_PROBLEM)
            });
        }
        SecretsCommand::Apply(execute) => execute,
    };
    eprint!("{}", render(&plans));
    let blocked_exit = || {
        if blocked > 0 {
            eprintln!("{blocked} secret(s) BLOCKED: see the notes above; the tasks will not start until they are complete");
            ExitCode::from(EXIT_PROBLEM)
        } else {
            ExitCode::SUCCESS
        }
    };
    let Some(applying) = Change::new(ctx, "secrets apply", &execute).begin(
        "creating secrets",
        &plans,
        to_create.len(),
    )?
    else {
        let code = change::unchanged(ctx.output);
        return Ok(if blocked > 0 { blocked_exit() } else { code });
    };
    let env = ctx.profile.as_str();
    for plan in &to_create {
        if let Err(error) = create(&sm, plan, env).await {
            return Err(applying.failed(
                serde_json::json!({"secret": plan.name, "error": error}),
                format!("creating {} failed: {error}", plan.name),
            ));
        }
        applying.progress(serde_json::json!({"created": plan.name}))?;
        eprintln!("created {}", plan.name);
    }
    let code = applying.finish(
        ctx.output,
        to_create.len(),
        format!("{} secret(s) created\n", to_create.len()),
    )?;
    Ok(if blocked > 0 { blocked_exit() } else { code })
}
