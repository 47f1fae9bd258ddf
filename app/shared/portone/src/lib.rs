//! PortOne (formerly iamport) V1 REST client and wire types.
//!
//! Endpoints used (base URL `https://api.iamport.kr`, or the repo's sandbox
//! on the local stack):
//! * `POST /users/getToken` (`imp_key`, `imp_secret`): an access token, reused
//!   here until shortly before its `expired_at`;
//! * `POST /payments/prepare`: pre-registers the amount of a `merchant_uid`,
//!   so a checkout for another amount fails at PortOne;
//! * `GET /payments/{imp_uid}`: the payment as PortOne knows it (the only
//!   thing a webhook handler may trust);
//! * `POST /payments/cancel`: refunds, with `checksum` (the refundable amount
//!   the caller believes is left) so a stale view cannot over-refund;
//! * `GET /certifications/{imp_uid}`: identity verification (CI/DI).
//!
//! Every answer is `{"code": 0, "message": null, "response": ...}`; a non-zero
//! code is an error with PortOne's message.

use std::time::Duration;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ticketing_config::{PortOneMode, PortOneSettings};
use ticketing_money::Money;
use url::Url;

/// The `merchant_uid` (PortOne order id) of a reservation's payment.
pub fn merchant_uid(reservation: uuid::Uuid) -> String {
    format!("res_{}", reservation.simple())
}

/// The reservation a `merchant_uid` of ours names ([`merchant_uid`]'s
/// inverse); `None` for anything else.
pub fn reservation_of(merchant_uid: &str) -> Option<uuid::Uuid> {
    let id = merchant_uid.strip_prefix("res_")?;
    (id.len() == 32)
        .then(|| uuid::Uuid::try_parse(id).ok())
        .flatten()
}

/// One page of PortOne's payment listing (`GET /payments/status/
/// {payment_status}`): `next` and `previous` are page numbers, 0 where
/// there is none (iamport-rest-client-php, `Response\Collection`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PaymentPage {
    pub total: u64,
    pub previous: u32,
    pub next: u32,
    pub list: Vec<Payment>,
}

/// Payments per page of the listing (V1 answers at most 100).
pub const PAGE_LIMIT: u32 = 100;

/// PortOne's answer envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiResponse<T> {
    pub code: i64,
    pub message: Option<String>,
    pub response: Option<T>,
}

impl<T> ApiResponse<T> {
    pub fn ok(response: T) -> Self {
        ApiResponse {
            code: 0,
            message: None,
            response: Some(response),
        }
    }

    pub fn error(code: i64, message: impl Into<String>) -> Self {
        ApiResponse {
            code,
            message: Some(message.into()),
            response: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRequest {
    pub imp_key: String,
    pub imp_secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// PortOne's clock, seconds since the epoch.
    pub now: i64,
    pub expired_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PrepareRequest {
    pub merchant_uid: String,
    pub amount: Money,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    Ready,
    Paid,
    Cancelled,
    Failed,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 4] = [
        PaymentStatus::Ready,
        PaymentStatus::Paid,
        PaymentStatus::Cancelled,
        PaymentStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Ready => "ready",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::Failed => "failed",
        }
    }
}

/// A payment as `GET /payments/{imp_uid}` describes it (the fields used here).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payment {
    pub imp_uid: String,
    pub merchant_uid: String,
    pub amount: Money,
    #[serde(default)]
    pub cancel_amount: Money,
    pub currency: String,
    pub status: PaymentStatus,
    pub pg_provider: String,
    #[serde(default)]
    pub pay_method: Option<String>,
    #[serde(default)]
    pub fail_reason: Option<String>,
    /// When the payment was started (UNIX seconds): what the listing's
    /// `from`/`to` select on and `sorting=started` orders by.
    #[serde(default)]
    pub started_at: i64,
    #[serde(default)]
    pub paid_at: i64,
    #[serde(default)]
    pub failed_at: i64,
    #[serde(default)]
    pub cancelled_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct CancelRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imp_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_uid: Option<String>,
    /// Omitted for a full refund.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// The refundable amount before this cancel, as the caller knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Money>,
    pub reason: String,
}

/// An identity verification (`GET /certifications/{imp_uid}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Certification {
    pub imp_uid: String,
    pub certified: bool,
    pub name: Option<String>,
    pub birthday: Option<String>,
    /// CI: the same person across merchants.
    pub unique_key: String,
    /// DI: the same person within this merchant.
    pub unique_in_site: Option<String>,
}

/// The body PortOne posts to the merchant's webhook URL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookNotice {
    pub imp_uid: String,
    pub merchant_uid: String,
    pub status: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PortOneError {
    #[error("PortOne at {url} did not answer: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("PortOne refused {endpoint} (HTTP {status}, code {code}): {message}")]
    Api {
        endpoint: String,
        status: u16,
        code: i64,
        message: String,
    },
    #[error("PortOne has no {what}")]
    NotFound { what: String },
    #[error("PortOne's answer to {endpoint} could not be read: {reason}")]
    Decode { endpoint: String, reason: String },
}

impl PortOneError {
    /// A short code for metrics (`error_code` tag).
    pub fn code(&self) -> String {
        match self {
            PortOneError::Transport { .. } => "transport".into(),
            PortOneError::Api { code, .. } => format!("api_{code}"),
            PortOneError::NotFound { .. } => "not_found".into(),
            PortOneError::Decode { .. } => "decode".into(),
        }
    }
}

struct CachedToken {
    token: String,
    /// Local time after which a new token is fetched.
    refresh_at: chrono::DateTime<Utc>,
}

/// A V1 client. Cheap to share behind an `Arc`; the access token is fetched
/// once and reused until a minute before it expires (or PortOne rejects it).
pub struct PortOne {
    http: reqwest::Client,
    base: Url,
    mode: PortOneMode,
    api_key: SecretString,
    api_secret: SecretString,
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for PortOne {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortOne")
            .field("base", &self.base.as_str())
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl PortOne {
    pub fn new(
        http: reqwest::Client,
        settings: &PortOneSettings,
        api_key: SecretString,
        api_secret: SecretString,
    ) -> PortOne {
        PortOne {
            http,
            base: settings.base_url.clone(),
            mode: settings.mode,
            api_key,
            api_secret,
            token: tokio::sync::Mutex::new(None),
        }
    }

    pub fn mode(&self) -> PortOneMode {
        self.mode
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    /// The cached access token, or a new one.
    async fn access_token(&self) -> Result<String, PortOneError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            if Utc::now() < token.refresh_at {
                return Ok(token.token.clone());
            }
        }
        let body = TokenRequest {
            imp_key: self.api_key.expose_secret().to_owned(),
            imp_secret: self.api_secret.expose_secret().to_owned(),
        };
        let fresh: TokenResponse = self
            .call(reqwest::Method::POST, "/users/getToken", None, Some(&body))
            .await?;
        // Trust PortOne's lifetime, not its clock.
        let lifetime = (fresh.expired_at - fresh.now - 60).max(0);
        *cached = Some(CachedToken {
            token: fresh.access_token.clone(),
            refresh_at: Utc::now() + chrono::Duration::seconds(lifetime),
        });
        Ok(fresh.access_token)
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<T, PortOneError> {
        let url = self.url(path);
        let mut request = self
            .http
            .request(method, &url)
            .timeout(Duration::from_secs(10));
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|source| PortOneError::Transport {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|source| PortOneError::Transport {
                url: url.clone(),
                source,
            })?;
        // A 404 means "no such object" whatever its body looks like.
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(PortOneError::NotFound {
                what: path.trim_start_matches('/').to_owned(),
            });
        }
        let envelope: ApiResponse<T> =
            serde_json::from_str(&text).map_err(|e| PortOneError::Decode {
                endpoint: path.to_owned(),
                reason: format!("HTTP {status}: {e}"),
            })?;
        if envelope.code != 0 || !status.is_success() {
            return Err(PortOneError::Api {
                endpoint: path.to_owned(),
                status: status.as_u16(),
                code: envelope.code,
                message: envelope.message.unwrap_or_else(|| "no message".to_owned()),
            });
        }
        envelope.response.ok_or_else(|| PortOneError::Decode {
            endpoint: path.to_owned(),
            reason: "code 0 but no response".to_owned(),
        })
    }

    /// An authorised call; a rejected token is dropped and fetched again once.
    async fn authorised<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, PortOneError> {
        let token = self.access_token().await?;
        match self.call(method.clone(), path, Some(&token), body).await {
            Err(PortOneError::Api { status: 401, .. }) => {
                *self.token.lock().await = None;
                let token = self.access_token().await?;
                self.call(method, path, Some(&token), body).await
            }
            other => other,
        }
    }

    /// `POST /payments/prepare`: only `amount` may be paid for `merchant_uid`.
    pub async fn prepare(&self, merchant_uid: &str, amount: Money) -> Result<(), PortOneError> {
        let body = PrepareRequest {
            merchant_uid: merchant_uid.to_owned(),
            amount,
        };
        let _: PrepareRequest = self
            .authorised(reqwest::Method::POST, "/payments/prepare", Some(&body))
            .await?;
        Ok(())
    }

    /// `GET /payments/{imp_uid}`.
    pub async fn payment(&self, imp_uid: &str) -> Result<Payment, PortOneError> {
        checked_id("payment", imp_uid)?;
        self.authorised::<(), _>(reqwest::Method::GET, &format!("/payments/{imp_uid}"), None)
            .await
    }

    /// `GET /payments/prepare/{merchant_uid}`: the amount pre-registered for
    /// an order with [`PortOne::prepare`].
    pub async fn prepared(&self, merchant_uid: &str) -> Result<Money, PortOneError> {
        checked_id("order", merchant_uid)?;
        let prepared: PrepareRequest = self
            .authorised::<(), _>(
                reqwest::Method::GET,
                &format!("/payments/prepare/{merchant_uid}"),
                None,
            )
            .await?;
        Ok(prepared.amount)
    }

    /// `GET /payments/find/{merchant_uid}`: the payment of an order, when the
    /// webhook never arrived (reconciliation).
    pub async fn find_by_merchant_uid(&self, merchant_uid: &str) -> Result<Payment, PortOneError> {
        checked_id("order", merchant_uid)?;
        self.authorised::<(), _>(
            reqwest::Method::GET,
            &format!("/payments/find/{merchant_uid}"),
            None,
        )
        .await
    }

    /// `GET /payments/find/{merchant_uid}/{payment_status}`: the order's most
    /// recent payment in `status` (iamport-rest-client-python's
    /// `Payments.get_find(merchant_uid, payment_status)`), `None` when it has
    /// none: another attempt's payment that went through, say, while the
    /// webhook in hand is a declined one.
    pub async fn find_by_merchant_uid_in(
        &self,
        merchant_uid: &str,
        status: PaymentStatus,
    ) -> Result<Option<Payment>, PortOneError> {
        checked_id("order", merchant_uid)?;
        match self
            .authorised::<(), _>(
                reqwest::Method::GET,
                &format!("/payments/find/{merchant_uid}/{}", status.as_str()),
                None,
            )
            .await
        {
            Ok(payment) => Ok(Some(payment)),
            Err(PortOneError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /payments/status/{payment_status}`: one page of the payments in
    /// `status` (`None`: all) started between `from` and `to` (UNIX
    /// seconds), oldest first (`sorting=started`), as
    /// iamport-rest-client-php's `Payment::listStatus` asks for them.
    pub async fn payments_page(
        &self,
        status: Option<PaymentStatus>,
        from: i64,
        to: i64,
        page: u32,
    ) -> Result<PaymentPage, PortOneError> {
        let status = status.map_or("all", PaymentStatus::as_str);
        self.authorised::<(), _>(
            reqwest::Method::GET,
            &format!(
                "/payments/status/{status}?page={page}&limit={PAGE_LIMIT}&from={from}&to={to}&sorting=started"
            ),
            None,
        )
        .await
    }

    /// Every payment in `status` started between `from` and `to`, page by
    /// page (at most `max_pages` of [`PAGE_LIMIT`]); the reconciliation
    /// walks PortOne's ledger with it.
    pub async fn payments_between(
        &self,
        status: Option<PaymentStatus>,
        from: i64,
        to: i64,
        max_pages: u32,
    ) -> Result<Vec<Payment>, PortOneError> {
        let mut out = Vec::new();
        let mut page = 1;
        for _ in 0..max_pages {
            let got = self.payments_page(status, from, to, page).await?;
            out.extend(got.list);
            if got.next == 0 || got.next <= page {
                break;
            }
            page = got.next;
        }
        Ok(out)
    }

    /// `POST /payments/cancel`.
    pub async fn cancel(&self, request: &CancelRequest) -> Result<Payment, PortOneError> {
        self.authorised(reqwest::Method::POST, "/payments/cancel", Some(request))
            .await
    }

    /// `GET /certifications/{imp_uid}`.
    pub async fn certification(&self, imp_uid: &str) -> Result<Certification, PortOneError> {
        checked_id("certification", imp_uid)?;
        self.authorised::<(), _>(
            reqwest::Method::GET,
            &format!("/certifications/{imp_uid}"),
            None,
        )
        .await
    }
}

/// An id goes into a URL path: anything but letters, digits, `_` and (in a
/// merchant's own order ids) `-` cannot name a PortOne object, so it is not
/// sent at all.
fn checked_id(what: &str, imp_uid: &str) -> Result<(), PortOneError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || (what == "order" && c == '-');
    if imp_uid.is_empty() || !imp_uid.chars().all(allowed) {
        return Err(PortOneError::NotFound {
            what: format!("{what} `{imp_uid}`"),
        });
    }
    Ok(())
}
