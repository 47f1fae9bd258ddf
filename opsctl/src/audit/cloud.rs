//! The environment's trail in CloudWatch Logs (`dev` and `prod`).

use std::sync::OnceLock;

use chrono::Utc;
use ticketing_config::Profile;

use super::{blocking, Entry};
use crate::environment::Environment;
use crate::error::OpsError;

/// Where an environment's entries go besides the file.
#[derive(Clone, Debug)]
pub struct CloudTrail {
    region: String,
    endpoint: Option<String>,
    credentials: Option<aws_credential_types::Credentials>,
    group: String,
}

impl CloudTrail {
    /// The environment's trail in CloudWatch Logs; `None` for `local`.
    pub fn of(ctx: &Environment) -> Option<CloudTrail> {
        let env = match ctx.profile {
            Profile::Dev => "dev",
            Profile::Prod => "prod",
            _ => return None,
        };
        Some(CloudTrail {
            region: ctx.region.clone(),
            endpoint: crate::aws::endpoint(ctx),
            credentials: ctx.credentials.clone(),
            group: ticketing_catalog::logs::audit_group(env),
        })
    }

    async fn client(&self) -> aws_config::SdkConfig {
        crate::aws::config_loader(
            self.endpoint.as_deref(),
            &self.region,
            self.credentials.as_ref(),
        )
        .load()
        .await
    }

    /// The caller's ARN (asked once per process).
    pub(crate) fn identity(&self) -> Result<String, String> {
        static IDENTITY: OnceLock<String> = OnceLock::new();
        if let Some(arn) = IDENTITY.get() {
            return Ok(arn.clone());
        }
        let arn = blocking(async {
            let sts = aws_sdk_sts::Client::new(&self.client().await);
            let me = sts
                .get_caller_identity()
                .send()
                .await
                .map_err(|e| format!("STS GetCallerIdentity: {}", crate::aws::sdk_error(&e)))?;
            me.arn()
                .map(str::to_owned)
                .ok_or_else(|| "STS GetCallerIdentity named no ARN".to_owned())
        })??;
        Ok(IDENTITY.get_or_init(|| arn).clone())
    }

    /// Appends `line` to this process's stream, making the group (with the
    /// catalog's retention) and the stream on first use.
    pub(super) fn put(&self, line: String) -> Result<(), String> {
        static STREAM: OnceLock<String> = OnceLock::new();
        let made = STREAM.get().cloned();
        let stream = made.clone().unwrap_or_else(|| {
            format!(
                "opsctl/{}/{}",
                Utc::now().format("%Y-%m-%d"),
                uuid::Uuid::now_v7().simple()
            )
        });
        let this = self.clone();
        let name = stream.clone();
        blocking(async move {
            use aws_sdk_cloudwatchlogs::types::InputLogEvent;
            let logs = aws_sdk_cloudwatchlogs::Client::new(&this.client().await);
            if made.is_none() {
                ensure_group(&logs, &this.group).await?;
                if let Err(e) = logs
                    .create_log_stream()
                    .log_group_name(&this.group)
                    .log_stream_name(&name)
                    .send()
                    .await
                {
                    if !e
                        .as_service_error()
                        .is_some_and(|s| s.is_resource_already_exists_exception())
                    {
                        return Err(format!(
                            "CloudWatch Logs CreateLogStream: {}",
                            crate::aws::sdk_error(&e)
                        ));
                    }
                }
            }
            let event = InputLogEvent::builder()
                .timestamp(Utc::now().timestamp_millis())
                .message(line)
                .build()
                .map_err(|e| e.to_string())?;
            logs.put_log_events()
                .log_group_name(&this.group)
                .log_stream_name(&name)
                .log_events(event)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "CloudWatch Logs PutLogEvents: {}",
                        crate::aws::sdk_error(&e)
                    )
                })?;
            Ok(())
        })??;
        let _ = STREAM.set(stream);
        Ok(())
    }

    /// The entries since `since` (seconds ago), oldest first.
    pub async fn read(&self, since_seconds: i64) -> Result<Vec<Entry>, OpsError> {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.client().await);
        let start = Utc::now().timestamp_millis() - since_seconds.saturating_mul(1000);
        let mut entries = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = logs
                .filter_log_events()
                .log_group_name(&self.group)
                .start_time(start)
                .set_next_token(token.take())
                .send()
                .await;
            let page = match page {
                Ok(p) => p,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Ok(entries)
                }
                Err(e) => {
                    return Err(crate::aws::failed(
                        &format!("reading the audit trail {}", self.group),
                        crate::aws::sdk_error(&e),
                    ))
                }
            };
            entries.extend(
                page.events()
                    .iter()
                    .filter_map(|e| e.message())
                    .filter_map(|m| serde_json::from_str::<Entry>(m).ok()),
            );
            match page.next_token() {
                Some(next) if !page.events().is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        entries.sort_by(|a, b| a.at.cmp(&b.at));
        Ok(entries)
    }

    pub fn group(&self) -> &str {
        &self.group
    }
}

async fn ensure_group(logs: &aws_sdk_cloudwatchlogs::Client, group: &str) -> Result<(), String> {
    match logs.create_log_group().log_group_name(group).send().await {
        Ok(_) => logs
            .put_retention_policy()
            .log_group_name(group)
            .retention_in_days(ticketing_catalog::logs::AUDIT_RETENTION_DAYS)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "CloudWatch Logs PutRetentionPolicy: {}",
                    crate::aws::sdk_error(&e)
                )
            }),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(format!(
            "CloudWatch Logs CreateLogGroup: {}",
            crate::aws::sdk_error(&e)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{record, Phase};

    #[test]
    fn a_started_entry_the_trail_cannot_take_stops_the_change_and_says_so() {
        // Nothing listens on port 1: the trail is unreachable, as it is
        // with wrong credentials or region (the error is the same path).
        let trail = CloudTrail {
            region: "us-east-1".into(),
            endpoint: Some("http://127.0.0.1:1".into()),
            group: "/ops/ticketing/dev/audit".into(),
            credentials: None,
        };
        let file = std::env::temp_dir().join(format!("trail-{}.jsonl", uuid::Uuid::new_v4()));
        let err = record(
            Profile::Dev,
            &file,
            Some(&trail),
            "kafka restart",
            Phase::Started,
            &serde_json::json!({}),
        )
        .expect_err("a started entry that reached no trail must stop the change");
        let text = err.to_string();
        assert!(
            text.contains("/ops/ticketing/dev/audit cannot be written"),
            "{text}"
        );
        match err {
            OpsError::Usage { hint, .. } => {
                assert!(hint.is_some_and(|h| h.contains("nothing was changed")))
            }
            other => panic!("not a usage error: {other:?}"),
        }
    }
}
