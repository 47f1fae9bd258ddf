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
                format!("create {name} with the {mode}-mode keys as JSON {{imp_code, api_key, api_secret, mode: \"{mode}\"}}; nothing was changed"),
            )
        })?;
    let text = value.secret_string().unwrap_or_default().to_owned();
    let keys: PortOneSecret = serde_json::from_str(&text).map_err(|e| {
        CliError::usage(
            format!("{name} is not the expected JSON {{imp_code, api_key, api_secret}}: {e}"),
            "fix the secret's value; nothing was changed",
        )
    })?;
    if secret_mode(&keys) != Some(mode) {
        return Err(CliError::usage(
            format!(
                "{name} does not hold {mode}-mode keys (its mode is {}; api_key {})",
                keys.mode.as_deref().unwrap_or("not given"),
                mask(&keys.api_key)
            ),
            format!("check which keys the secret holds, and that its \"mode\" is \"{mode}\"; nothing was changed"),
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
    /// `test` or `production` ([`secret_mode`]); absent in a secret made
    /// by hand without it.
    #[serde(default)]
    pub mode: Option<String>,
}

/// `test_abcd...` -> `test****`, never more than the first 4 characters.
pub fn mask(key: &str) -> String {
    let shown: String = key.chars().take(4).collect();
    format!("{shown}****")
}

/// The mode a secret's keys are for, as the secret says (`mode`): PortOne
/// V1's keys themselves do not tell (PortOne's REST API authenticates with
/// `imp_key` and `imp_secret` at `POST /users/getToken`; test or live is the
/// channel's setting in the console).
pub fn secret_mode(keys: &PortOneSecret) -> Option<&'static str> {
    let said = keys.mode.as_deref()?;
    ticketing_catalog::portone::MODES
        .into_iter()
        .find(|m| *m == said)
}
