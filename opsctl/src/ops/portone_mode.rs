//! Which PortOne mode an environment is in: as its secret
//! `ticketing/<env>/portone` says (keys masked) and as the running payment
//! task says, whether they agree, and the payment failure rate beside.

use serde::Serialize;
use ticketing_catalog::portone as names;

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::portone::{mask, secret_mode, PortOneSecret};

#[derive(Serialize)]
pub struct EnvMode {
    pub env: &'static str,
    pub secret: String,
    pub imp_code: Option<String>,
    pub api_key: Option<String>,
    pub secret_mode: Option<&'static str>,
    pub task_definition: Option<String>,
    pub task_mode: Option<String>,
    pub agree: bool,
    /// The payment failure rate over the last 10 minutes, with the
    /// rollback trigger (None when CloudWatch could not be read).
    pub failure_rate: Option<crate::ops::payments::FailureRate>,
    pub problem: Option<String>,
}

/// Each of `envs` as it stands.
pub async fn modes(ctx: &Environment, envs: &[&'static str]) -> Result<Vec<EnvMode>, OpsError> {
    let sdk = crate::aws::sdk_config(ctx).await?;
    let mut report = Vec::new();
    for &env in envs {
        // The metrics' environment dimension: this profile's setting for
        // its own environment, the environment's name for the other.
        let metrics_env = if env == ctx.profile.as_str() {
            ctx.metrics_environment()
        } else {
            env.to_owned()
        };
        report.push(one(env, &metrics_env, &sdk).await);
    }
    Ok(report)
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
    let td = crate::ops::ecs::task_definition(ecs, arn).await.ok()?;
    let vars: Vec<(String, String)> = td
        .container_definitions()
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
