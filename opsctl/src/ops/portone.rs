//! PortOne's keys as the environments keep them in Secrets Manager: which
//! mode a key is for, reading and writing the key secrets (never printed).

use crate::error::OpsError;
use serde::Deserialize;

/// Reads a PortOne secret and checks it holds keys of `mode`.
pub async fn read_keys(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    mode: &str,
) -> Result<String, OpsError> {
    let create = || {
        format!("create {name} with the {mode}-mode keys as JSON {{imp_code, api_key, api_secret, mode: \"{mode}\"}}; nothing was changed")
    };
    let text = match crate::ops::secrets::read(sm, name).await {
        Ok(Some(text)) => text,
        Ok(None) => return Err(OpsError::usage(format!("{name} does not exist"), create())),
        Err(e) => return Err(OpsError::usage(e, create())),
    };
    let keys: PortOneSecret = serde_json::from_str(&text).map_err(|e| {
        OpsError::usage(
            format!("{name} is not the expected JSON {{imp_code, api_key, api_secret}}: {e}"),
            "fix the secret's value; nothing was changed",
        )
    })?;
    if secret_mode(&keys) != Some(mode) {
        return Err(OpsError::usage(
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
/// Keeps the live keys of `main` in `live` before the test keys replace
/// them: only keys that say they are production's, and never over a copy
/// kept by an earlier run.
pub async fn save_live_keys(
    sm: &aws_sdk_secretsmanager::Client,
    main: &str,
    live: &str,
) -> Result<String, String> {
    let text = crate::ops::secrets::read(sm, main)
        .await?
        .ok_or_else(|| format!("{main} does not exist: the live keys cannot be saved"))?;
    let keys: PortOneSecret =
        serde_json::from_str(&text).map_err(|e| format!("{main} is not the expected JSON: {e}"))?;
    match secret_mode(&keys) {
        Some("production") => put_secret(sm, live, &text)
            .await
            .map(|()| format!("live keys kept in {live}")),
        // Already on test keys (a second run): the saved live keys must
        // not be overwritten.
        Some(_) => Ok(format!("{main} already holds test keys; {live} left as it is")),
        // Keys of no stated mode are neither saved nor replaced: they may
        // be the only copy of the live keys.
        None => Err(format!(
            "{main} does not say its mode (\"mode\": \"production\" or \"test\"), so its keys were not replaced; add it, then run again"
        )),
    }
}
/// Where an environment's payment service runs (its own ECS service, or
/// the combined one), with the clients its rollback and switch-back act
/// through.
pub struct PaymentService {
    pub env: &'static str,
    pub ecs: aws_sdk_ecs::Client,
    pub sm: aws_sdk_secretsmanager::Client,
    pub cluster: String,
    pub host: ticketing_catalog::ecs::EcsService,
}

pub async fn payment_service(
    ctx: &crate::environment::Environment,
) -> Result<PaymentService, OpsError> {
    let env = crate::aws::aws_env(ctx)?;
    let sdk = crate::aws::sdk_config(ctx).await?;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let cluster = ticketing_catalog::ecs::cluster(env);
    let host = crate::ops::ecs::payment_host(&ecs, &cluster).await?;
    Ok(PaymentService {
        env,
        sm: aws_sdk_secretsmanager::Client::new(&sdk),
        ecs,
        cluster,
        host,
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
