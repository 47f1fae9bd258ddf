//! `opsctl notice post|end|list`: the runbooks' "tell customers" step. A
//! notice is posted to the platform's `POST /api/notices` through the
//! gateway with a short-lived operator token that opsctl mints with the
//! access-token signing key (`JWT_SIGNING_KEY`, from the environment only);
//! customers see it at `GET /api/notices`.
//!
//! ```text
//! opsctl notice post --template booking-delay             # the plan
//! opsctl notice post --template booking-delay --execute   # post it
//! opsctl notice end --template booking-delay --execute    # end every active one
//! opsctl notice list
//! ```

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Deserialize;
use ticketing_catalog::notices::{self, Template};
use ticketing_catalog::ServiceName;
use uuid::Uuid;

use crate::change::{self, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::CliError;
use crate::output;

/// How long an operator token minted for one command lives.
const OPERATOR_TOKEN_SECONDS: i64 = 300;

#[derive(Subcommand, Debug)]
pub enum NoticeCommand {
    /// Post a notice to customers (plan; `--execute` posts it).
    Post(PostArgs),
    /// End active notices: one by id, or every one from a template.
    End(EndArgs),
    /// The notices customers see now.
    List,
}

#[derive(Args, Debug)]
pub struct PostArgs {
    /// One of the design's messages: booking-delay (Kafka recovery),
    /// payment-paused (PortOne rollback).
    #[arg(long, value_parser = template_arg)]
    pub template: Template,
    /// End it by itself at this time (RFC 3339); otherwise it stays until
    /// `opsctl notice end`.
    #[arg(long)]
    pub until: Option<DateTime<Utc>>,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Args, Debug)]
pub struct EndArgs {
    /// The notice to end.
    #[arg(required_unless_present = "template", conflicts_with = "template")]
    pub id: Option<Uuid>,
    /// End every active notice posted from this template.
    #[arg(long, value_parser = template_arg)]
    pub template: Option<Template>,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

fn template_arg(raw: &str) -> Result<Template, String> {
    notices::template(raw).ok_or_else(|| {
        let names: Vec<&str> = notices::TEMPLATES.iter().map(|t| t.name).collect();
        format!("no template `{raw}`; expected one of {}", names.join(", "))
    })
}

/// A notice as the platform returns it (event-service's own type).
pub use event_service::notices::Notice;

#[derive(Deserialize)]
struct Active {
    notices: Vec<Notice>,
}

/// The platform's notices API, reached through the gateway.
struct Api {
    base: reqwest::Url,
    http: reqwest::Client,
    token: Option<String>,
}

fn unreachable(base: &reqwest::Url, e: impl std::fmt::Display) -> CliError {
    CliError::Failed(anyhow::anyhow!(
        "the platform's gateway at {base} did not answer: {e}; check services.api_gateway.url and `opsctl status`"
    ))
}

impl Api {
    /// `operator`: mint a token for calls that change notices.
    fn new(ctx: &Context, operator: bool) -> Result<Api, CliError> {
        let base = ctx
            .settings
            .services
            .endpoint(ServiceName::ApiGateway)
            .url
            .clone();
        let token = if operator {
            let key = ticketing_config::Secrets::jwt_signing_key_from_env(ctx.profile)
                .map_err(|e| CliError::usage(e.to_string(), "export JWT_SIGNING_KEY (the platform's access-token key) for this environment"))?;
            let now = Utc::now();
            let claims = ticketing_tokens::AccessClaims {
                sub: operator_id(),
                iss: ctx.settings.booking.jwt_issuer.clone(),
                iat: now.timestamp(),
                exp: now.timestamp() + OPERATOR_TOKEN_SECONDS,
                role: Some(ticketing_tokens::Role::Operator),
            };
            // The key never leaves this function; only the signed token does.
            let keys = ticketing_tokens::Keyring::new(&key, &[]);
            Some(ticketing_tokens::issue_access(&keys, &claims))
        } else {
            None
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| {
                CliError::Failed(anyhow::Error::new(e).context("building the HTTP client"))
            })?;
        Ok(Api { base, http, token })
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, CliError> {
        self.base
            .join(path)
            .map_err(|e| CliError::usage(format!("{path}: {e}"), "check services.api_gateway.url"))
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, CliError> {
        let mut request = self.http.request(method, self.url(path)?);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        Ok(request)
    }

    /// Sends and decodes; a problem+json answer becomes an error with its detail.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, CliError> {
        let answer = request
            .send()
            .await
            .map_err(|e| unreachable(&self.base, e))?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(CliError::Failed(anyhow::anyhow!(
                "the platform refused ({status}): {}",
                body["detail"].as_str().unwrap_or("no detail")
            )));
        }
        serde_json::from_value(body).map_err(|e| {
            CliError::Failed(anyhow::anyhow!(
                "the platform's answer was not a notice: {e}"
            ))
        })
    }

    async fn active(&self) -> Result<Vec<Notice>, CliError> {
        let active: Active = self
            .call(self.request(reqwest::Method::GET, "/api/notices")?)
            .await?;
        Ok(active.notices)
    }

    async fn post(&self, body: &serde_json::Value) -> Result<Notice, CliError> {
        self.call(
            self.request(reqwest::Method::POST, "/api/notices")?
                .json(body),
        )
        .await
    }

    async fn end(&self, id: Uuid) -> Result<Notice, CliError> {
        self.call(self.request(reqwest::Method::POST, &format!("/api/notices/{id}/end"))?)
            .await
    }
}

/// Who posts: one fixed id for opsctl's operators (the audit log has the
/// person).
fn operator_id() -> Uuid {
    Uuid::from_u128(0x6f70_7363_746c_0000_0000_0000_0000_0001)
}

fn body(template: &Template, until: Option<DateTime<Utc>>) -> serde_json::Value {
    let mut body = serde_json::json!({
        "template": template.name,
        "severity": template.severity,
        "message_ko": template.message_ko,
        "message_en": template.message_en,
        "flows": template.flows,
    });
    if let Some(until) = until {
        body["ends_at"] = serde_json::json!(until);
    }
    body
}

/// Posts `template` (the runbooks' step); the notice.
pub(crate) async fn post_template(ctx: &Context, template: &Template) -> Result<Notice, CliError> {
    Api::new(ctx, true)?.post(&body(template, None)).await
}

/// Ends every active notice from `template` (the runbooks' last step); their ids.
pub(crate) async fn end_template(
    ctx: &Context,
    template: &Template,
) -> Result<Vec<Uuid>, CliError> {
    let api = Api::new(ctx, true)?;
    let mut ended = Vec::new();
    for notice in api.active().await? {
        if notice.template.as_deref() == Some(template.name) {
            api.end(notice.id).await?;
            ended.push(notice.id);
        }
    }
    Ok(ended)
}

pub async fn exec(ctx: &Context, command: NoticeCommand) -> Result<ExitCode, CliError> {
    match command {
        NoticeCommand::List => list(ctx).await,
        NoticeCommand::Post(args) => post(ctx, args).await,
        NoticeCommand::End(args) => end(ctx, args).await,
    }
}

fn render(notices: &[Notice]) -> String {
    if notices.is_empty() {
        return "no active notice\n".to_owned();
    }
    let rows: Vec<Vec<String>> = notices
        .iter()
        .map(|n| {
            vec![
                n.id.to_string(),
                n.template.clone().unwrap_or_default(),
                n.severity.clone(),
                n.flows.join(","),
                n.starts_at.to_rfc3339(),
                n.message_en.clone(),
            ]
        })
        .collect();
    output::table(
        &["ID", "TEMPLATE", "SEVERITY", "FLOWS", "SINCE", "MESSAGE"],
        &rows,
    )
}

async fn list(ctx: &Context) -> Result<ExitCode, CliError> {
    let notices = Api::new(ctx, false)?.active().await?;
    output::emit(ctx.output, &notices, || render(&notices));
    Ok(ExitCode::SUCCESS)
}

async fn post(ctx: &Context, args: PostArgs) -> Result<ExitCode, CliError> {
    let t = &args.template;
    if args.until.is_some_and(|u| u <= Utc::now()) {
        return Err(CliError::usage(
            "--until is in the past",
            "give a time after now, or leave it out and end the notice with `opsctl notice end`",
        ));
    }
    let planned = body(t, args.until);
    eprintln!(
        "plan: post the {} notice ({}, flows {}) at {}:\n  ko: {}\n  en: {}",
        t.name,
        t.severity,
        t.flows.join(", "),
        ctx.settings.services.endpoint(ServiceName::ApiGateway).url,
        t.message_ko,
        t.message_en
    );
    let Some(applying) = Change::new(ctx, "notice post", &args.execute).begin(
        "posting a customer notice",
        &planned,
        1,
    )?
    else {
        return Ok(change::unchanged(ctx.output));
    };
    let notice = match Api::new(ctx, true)?.post(&planned).await {
        Ok(notice) => notice,
        Err(e) => return Err(applying.failed(serde_json::json!({"error": e.to_string()}), e)),
    };
    applying.finish(
        ctx.output,
        1,
        format!(
            "notice {} posted: customers see it at GET /api/notices\n",
            notice.id
        ),
    )
}

async fn end(ctx: &Context, args: EndArgs) -> Result<ExitCode, CliError> {
    let api = Api::new(ctx, true)?;
    let active = api.active().await?;
    let targets: Vec<Uuid> = match (&args.id, &args.template) {
        (Some(id), _) => vec![*id],
        (None, Some(t)) => active
            .iter()
            .filter(|n| n.template.as_deref() == Some(t.name))
            .map(|n| n.id)
            .collect(),
        (None, None) => Vec::new(),
    };
    eprintln!(
        "plan: end {} notice(s){}",
        targets.len(),
        targets
            .iter()
            .map(|id| format!("\n  {id}"))
            .collect::<String>()
    );
    let Some(applying) = Change::new(ctx, "notice end", &args.execute).begin(
        "ending customer notices",
        &targets,
        targets.len(),
    )?
    else {
        return Ok(change::unchanged(ctx.output));
    };
    for id in &targets {
        if let Err(e) = api.end(*id).await {
            return Err(
                applying.failed(serde_json::json!({"notice": id, "error": e.to_string()}), e)
            );
        }
    }
    applying.finish(
        ctx.output,
        targets.len(),
        format!("{} notice(s) ended\n", targets.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_body_carries_its_messages_and_flows() {
        let b = body(&notices::PAYMENT_PAUSED, None);
        assert_eq!(b["template"], "payment-paused");
        assert_eq!(b["flows"], serde_json::json!(["payment"]));
        assert!(b.get("ends_at").is_none());
        let until = Utc::now() + chrono::Duration::hours(1);
        assert!(body(&notices::BOOKING_DELAY, Some(until))
            .get("ends_at")
            .is_some());
        assert!(template_arg("nope").is_err_and(|e| e.contains("booking-delay")));
    }
}
