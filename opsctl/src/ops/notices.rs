//! Customer notices through the platform's API, with a short-lived
//! operator token minted from the platform's signing key.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use ticketing_catalog::notices::Template;
use ticketing_catalog::ServiceName;
use uuid::Uuid;

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::operation::{Procedure, Stopped};
use crate::runbook::Runbook;

/// How long an operator token minted for one command lives.
pub const OPERATOR_TOKEN_SECONDS: i64 = 300;

/// A notice as the platform returns it (event-service's own type).
pub use event_service::notices::Notice;

#[derive(Deserialize)]
pub struct Active {
    pub notices: Vec<Notice>,
}

/// The platform's notices API, reached through the gateway.
pub struct Api {
    pub base: reqwest::Url,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

pub fn unreachable(base: &reqwest::Url, e: impl std::fmt::Display) -> OpsError {
    OpsError::Failed(anyhow::anyhow!(
        "the platform's gateway at {base} did not answer: {e}; check services.api_gateway.url and `opsctl status`"
    ))
}

impl Api {
    /// `operator`: mint a token for calls that change notices.
    pub fn new(ctx: &Environment, operator: bool) -> Result<Api, OpsError> {
        let base = ctx
            .settings
            .services
            .endpoint(ServiceName::ApiGateway)
            .url
            .clone();
        let token = if operator {
            let key = ticketing_config::Secrets::jwt_signing_key_from_env(ctx.profile)
                .map_err(|e| OpsError::usage(e.to_string(), "export JWT_SIGNING_KEY (the platform's access-token key) for this environment"))?;
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
                OpsError::Failed(anyhow::Error::new(e).context("building the HTTP client"))
            })?;
        Ok(Api { base, http, token })
    }

    pub fn url(&self, path: &str) -> Result<reqwest::Url, OpsError> {
        self.base
            .join(path)
            .map_err(|e| OpsError::usage(format!("{path}: {e}"), "check services.api_gateway.url"))
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, OpsError> {
        let mut request = self.http.request(method, self.url(path)?);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        Ok(request)
    }

    /// Sends and decodes; a problem+json answer becomes an error with its detail.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, OpsError> {
        let answer = request
            .send()
            .await
            .map_err(|e| unreachable(&self.base, e))?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(OpsError::Failed(anyhow::anyhow!(
                "the platform refused ({status}): {}",
                body["detail"].as_str().unwrap_or("no detail")
            )));
        }
        serde_json::from_value(body).map_err(|e| {
            OpsError::Failed(anyhow::anyhow!(
                "the platform's answer was not a notice: {e}"
            ))
        })
    }

    pub async fn active(&self) -> Result<Vec<Notice>, OpsError> {
        let active: Active = self
            .call(self.request(reqwest::Method::GET, "/api/notices")?)
            .await?;
        Ok(active.notices)
    }

    pub async fn post(&self, body: &serde_json::Value) -> Result<Notice, OpsError> {
        self.call(
            self.request(reqwest::Method::POST, "/api/notices")?
                .json(body),
        )
        .await
    }

    pub async fn end(&self, id: Uuid) -> Result<Notice, OpsError> {
        self.call(self.request(reqwest::Method::POST, &format!("/api/notices/{id}/end"))?)
            .await
    }
}

/// Who posts: one fixed id for opsctl's operators (the audit log has the
/// person).
pub fn operator_id() -> Uuid {
    Uuid::from_u128(0x6f70_7363_746c_0000_0000_0000_0000_0001)
}

pub fn body(template: &Template, until: Option<DateTime<Utc>>) -> serde_json::Value {
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
pub async fn post_template(ctx: &Environment, template: &Template) -> Result<Notice, OpsError> {
    Api::new(ctx, true)?.post(&body(template, None)).await
}

/// Ends every active notice from `template` (the runbooks' last step); their ids.
pub async fn end_template(ctx: &Environment, template: &Template) -> Result<Vec<Uuid>, OpsError> {
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

/// The notices `notice end` would end, through the API that ends them.
pub struct Ending {
    api: Api,
    pub targets: Vec<Uuid>,
}

impl Ending {
    /// The notice `id`, or every active one of `template`.
    pub async fn observe(
        ctx: &Environment,
        id: Option<Uuid>,
        template: Option<&Template>,
    ) -> Result<Ending, OpsError> {
        let api = Api::new(ctx, true)?;
        let targets = match (id, template) {
            (Some(id), _) => vec![id],
            (None, Some(t)) => api
                .active()
                .await?
                .iter()
                .filter(|n| n.template.as_deref() == Some(t.name))
                .map(|n| n.id)
                .collect(),
            (None, None) => Vec::new(),
        };
        Ok(Ending { api, targets })
    }
}

impl crate::ops::operation::Operation for Ending {
    type Change = Uuid;
    fn command(&self) -> &'static str {
        "notice end"
    }
    fn doing(&self) -> String {
        "ending customer notices".to_owned()
    }

    fn changes(&self) -> Vec<&Uuid> {
        self.targets.iter().collect()
    }

    fn render(&self) -> String {
        let ids: String = self.targets.iter().map(|id| format!("\n  {id}")).collect();
        format!("plan: end {} notice(s){ids}\n", self.targets.len())
    }

    async fn apply(&self, id: &Uuid) -> Result<(), String> {
        self.api
            .end(*id)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn failure(_id: &Uuid, error: &str) -> String {
        error.to_owned()
    }

    fn summary(&self, done: usize) -> String {
        format!("{done} notice(s) ended\n")
    }
}

/// A notice `notice post` would post: a [`Procedure`] of one action.
pub struct Posting<'a> {
    env: &'a Environment,
    template: &'a Template,
    body: serde_json::Value,
}

/// What a post changed, and the notice it made (for people).
#[derive(serde::Serialize)]
pub struct Posted {
    changed: usize,
    #[serde(skip)]
    id: Uuid,
}

impl<'a> Posting<'a> {
    pub fn plan(
        env: &'a Environment,
        template: &'a Template,
        until: Option<DateTime<Utc>>,
    ) -> Posting<'a> {
        Posting {
            env,
            template,
            body: body(template, until),
        }
    }
}

impl Procedure for Posting<'_> {
    type Report = Posted;

    fn command(&self) -> &'static str {
        "notice post"
    }

    fn doing(&self) -> String {
        "posting a customer notice".into()
    }

    fn plan(&self) -> serde_json::Value {
        self.body.clone()
    }

    fn changes(&self) -> usize {
        1
    }

    fn render(&self) -> String {
        let t = self.template;
        format!(
            "plan: post the {} notice ({}, flows {}) at {}:\n  ko: {}\n  en: {}\n",
            t.name,
            t.severity,
            t.flows.join(", "),
            self.env
                .settings
                .services
                .endpoint(ServiceName::ApiGateway)
                .url,
            t.message_ko,
            t.message_en
        )
    }

    fn label(&self) -> &'static str {
        "notice"
    }

    fn resume(&self, _step: &str) -> String {
        "post it again once the gateway answers".into()
    }

    /// One action, no steps: the post is recorded by its end.
    async fn run(&self, _book: &mut Runbook<'_>) -> Result<Posted, Stopped<Posted>> {
        let posted = match Api::new(self.env, true) {
            Ok(api) => api.post(&self.body).await,
            Err(e) => Err(e),
        };
        match posted {
            Ok(notice) => Ok(Posted {
                changed: 1,
                id: notice.id,
            }),
            Err(e) => {
                let detail = serde_json::json!({"error": e.to_string()});
                Err(Stopped::by(e, detail))
            }
        }
    }

    fn render_report(posted: &Posted) -> String {
        format!(
            "notice {} posted: customers see it at GET /api/notices\n",
            posted.id
        )
    }
}
