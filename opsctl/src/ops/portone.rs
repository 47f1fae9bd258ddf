//! PortOne's keys as the environments keep them in Secrets Manager: which
//! mode a key is for, reading and writing the key secrets (never printed).

use crate::error::CliError;
use serde::Deserialize;

/// Reads a PortOne secret and checks it holds keys of `mode`.
pub async fn read_keys(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    mode: &str,
) -> Result<String, CliError> {
    let value = sm
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| {
            CliError::usage(
                format!(
                    "{name} cannot be read: {}",
                    crate::aws::sdk_error(&e)
                ),
                format!("create {name} with the {mode}-mode keys as JSON {{imp_code, api_key, api_secret}}; nothing was changed"),
            )
        })?;
    let text = value.secret_string().unwrap_or_default().to_owned();
    let keys: PortOneSecret = serde_json::from_str(&text).map_err(|e| {
        CliError::usage(
            format!("{name} is not the expected JSON {{imp_code, api_key, api_secret}}: {e}"),
            "fix the secret's value; nothing was changed",
        )
    })?;
    if key_mode(&keys.api_key) != Some(mode) {
        return Err(CliError::usage(
            format!(
                "{name} does not hold {mode}-mode keys (its api_key starts {})",
                mask(&keys.api_key)
            ),
            "check which keys the secret holds; nothing was changed",
        ));
    }
    Ok(text)
}

pub async fn put_secret(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<(), String> {
    let put = sm
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await;
    match put {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            sm.create_secret()
                .name(name)
                .description(
                    "PortOne live keys, saved by opsctl portone rollback for the switch back",
                )
                .secret_string(value)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws::sdk_error(&e).to_string())
        }
        Err(e) => Err(crate::aws::sdk_error(&e).to_string()),
    }
}

/// The secret's JSON layout.
#[derive(Deserialize)]
pub struct PortOneSecret {
    pub imp_code: String,
    pub api_key: String,
    pub api_secret: String,
}

/// `test_abcd...` -> `test****`, never more than the first 4 characters.
pub fn mask(key: &str) -> String {
    let shown: String = key.chars().take(4).collect();
    format!("{shown}****")
}

/// The mode a key belongs to: PortOne test keys start `test_`, live keys
/// `live_`.
pub fn key_mode(key: &str) -> Option<&'static str> {
    if key.starts_with("test_") {
        Some("test")
    } else if key.starts_with("live_") {
        Some("production")
    } else {
        None
    }
}
