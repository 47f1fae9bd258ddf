//! The secrets in Secrets Manager: read, and created from random keys and
//! opsctl's own environment. Values are never part of a plan.

use ticketing_catalog::{portone as names, secrets};

use super::{
    app_keys, plan_app, plan_portone, plan_portone_test, portone_keys, Action, Found, SecretPlan,
};
use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::operation::Operation;

/// The value of secret `name` (`None`: it does not exist); an error
/// names the secret and the SDK's message, never a value.
pub async fn read(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> Result<Option<String>, String> {
    match sm.get_secret_value().secret_id(name).send().await {
        Ok(out) => Ok(Some(out.secret_string().unwrap_or_default().to_owned())),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(format!(
            "reading {name} failed: {}",
            crate::aws::sdk_error(&e)
        )),
    }
}

/// A variable of opsctl's own environment, when set and not empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn find(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    wanted: &[&str],
) -> Result<Found, OpsError> {
    match read(sm, name).await {
        Ok(Some(value)) => Ok(Found::of_value(&value, wanted)),
        Ok(None) => Ok(Found::Missing),
        Err(e) => Err(OpsError::Failed(anyhow::anyhow!(
            "{e}; check the AWS credentials and --region"
        ))),
    }
}

/// The secrets the tasks read, as found, with what to do about each.
pub struct Observed {
    sm: aws_sdk_secretsmanager::Client,
    env: String,
    pub plans: Vec<SecretPlan>,
}

/// Reads the environment's secrets and plans what to create.
pub async fn observe(ctx: &Environment) -> Result<Observed, OpsError> {
    let sm = aws_sdk_secretsmanager::Client::new(&crate::aws::sdk_config(ctx).await?);
    let plans = plan(ctx, &sm).await?;
    let env = ctx.profile.as_str().to_owned();
    Ok(Observed { sm, env, plans })
}

async fn plan(
    ctx: &Environment,
    sm: &aws_sdk_secretsmanager::Client,
) -> Result<Vec<SecretPlan>, OpsError> {
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

/// Creates a planned secret with its value built now.
pub async fn create(observed: &Observed, plan: &SecretPlan, env: &str) -> Result<(), String> {
    let sm = &observed.sm;
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

impl Operation for Observed {
    type Change = SecretPlan;
    fn command(&self) -> &'static str {
        "secrets apply"
    }
    fn doing(&self) -> String {
        "creating secrets".to_owned()
    }

    fn changes(&self) -> Vec<&SecretPlan> {
        self.plans
            .iter()
            .filter(|p| p.action == Action::Create)
            .collect()
    }

    fn render(&self) -> String {
        super::render(&self.plans)
    }

    async fn apply(&self, plan: &SecretPlan) -> Result<(), String> {
        create(self, plan, &self.env).await
    }

    fn failure(plan: &SecretPlan, error: &str) -> String {
        format!("creating {} failed: {error}", plan.name)
    }

    fn summary(&self, done: usize) -> String {
        format!("{done} secret(s) created\n")
    }

    fn applied(plan: &SecretPlan) -> Option<(serde_json::Value, String)> {
        Some((
            serde_json::json!({"created": plan.name}),
            format!("created {}", plan.name),
        ))
    }
}
