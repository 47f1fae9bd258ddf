//! A PortOne V1 stand-in (like stripe-mock for Stripe) for the local stack
//! and tests. No real money, no real PG: test-mode semantics only.
//!
//! PortOne V1 endpoints (same paths, bodies and `{code, message, response}`
//! envelope as `https://api.iamport.kr`):
//! `POST /users/getToken`, `POST /payments/prepare`, `GET /payments/{imp_uid}`,
//! `GET /payments/find/{merchant_uid}`, `POST /payments/cancel`,
//! `GET /certifications/{imp_uid}`.
//!
//! Sandbox controls (what a customer's browser and PortOne's back office would
//! do), under `/sandbox`:
//! * `POST /sandbox/checkout` `{merchant_uid, amount, card_number, notice_url?,
//!   ignore_prepare?}`: the customer pays. Test cards starting `4092` are
//!   approved; [`DECLINED_CARD`] and [`NO_FUNDS_CARD`] fail on demand; an
//!   amount other than the prepared one fails as PortOne fails it (unless
//!   `ignore_prepare`, which stands for a tampered checkout that skipped the
//!   prepare check). Then the webhook `{imp_uid, merchant_uid, status}` is
//!   posted to `notice_url` (or the default) and its answer reported.
//! * `POST /sandbox/webhooks/resend` `{imp_uid}`: delivers the webhook again.
//! * `POST /sandbox/certifications` `{person, name, birthday}`: an identity
//!   verification; the same `person` always gets the same CI.
//! * `GET /sandbox/stats`: how many access tokens were issued.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ticketing_money::Money;
use ticketing_portone::{
    ApiResponse, CancelRequest, Certification, Payment, PaymentStatus, PrepareRequest,
    TokenRequest, TokenResponse, WebhookNotice,
};
use tokio_util::sync::CancellationToken;
use url::Url;

/// A test card the sandbox declines (`fail_reason` "card declined").
pub const DECLINED_CARD: &str = "4000-0000-0000-0002";
/// A test card without funds (`fail_reason` "insufficient funds").
pub const NO_FUNDS_CARD: &str = "4000-0000-0000-9995";
/// An approved test card.
pub const TEST_CARD: &str = "4092-0000-0000-0001";

/// Credentials and where webhooks go.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub api_key: String,
    pub api_secret: String,
    /// Default webhook target when a checkout names none.
    pub webhook_url: Option<Url>,
    /// Access-token lifetime in seconds (PortOne's is 30 minutes).
    pub token_ttl_seconds: i64,
    pub pg_provider: String,
}

impl SandboxConfig {
    pub fn new(api_key: impl Into<String>, api_secret: impl Into<String>) -> SandboxConfig {
        SandboxConfig {
            api_key: api_key.into(),
            api_secret: api_secret.into(),
            webhook_url: None,
            token_ttl_seconds: 1800,
            pg_provider: "tosspayments".to_owned(),
        }
    }
}

#[derive(Default)]
struct Ledger {
    tokens: HashMap<String, i64>,
    prepared: HashMap<String, Money>,
    payments: HashMap<String, Payment>,
    certifications: HashMap<String, Certification>,
    tokens_issued: u64,
    /// `GET /payments/{imp_uid}` answered, per imp_uid (`/sandbox/stats`).
    lookups: HashMap<String, u64>,
    /// How long `GET /payments/{imp_uid}` takes (`set_lookup_latency`): PortOne
    /// is a round trip across the Internet away, not a loopback call.
    lookup_latency_ms: u64,
}

struct Inner {
    config: SandboxConfig,
    ledger: Mutex<Ledger>,
    http: reqwest::Client,
}

/// The sandbox's state; clone freely.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Sandbox {
        Sandbox {
            inner: Arc::new(Inner {
                config,
                ledger: Mutex::new(Ledger::default()),
                http: reqwest::Client::new(),
            }),
        }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding the lock cannot leave the ledger half-written
        // in a way that matters to a test double; keep serving.
        self.inner
            .ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/users/getToken", post(get_token))
            .route("/payments/prepare", post(prepare))
            .route("/payments/prepare/{merchant_uid}", get(prepared))
            .route("/payments/cancel", post(cancel))
            .route("/payments/{imp_uid}", get(payment))
            .route("/payments/find/{merchant_uid}", get(find_payment))
            .route(
                "/payments/find/{merchant_uid}/{payment_status}",
                get(find_payment_in),
            )
            .route("/payments/status/{payment_status}", get(list_payments))
            .route("/certifications/{imp_uid}", get(certification))
            .route("/sandbox/checkout", post(checkout))
            .route("/sandbox/webhooks/resend", post(resend))
            .route("/sandbox/certifications", post(certify))
            .route("/sandbox/stats", get(stats))
            .route("/health", get(|| async { "ok" }))
            .fallback(|| async {
                reply::<()>(
                    StatusCode::NOT_FOUND,
                    ApiResponse::error(-1, "no such endpoint"),
                )
            })
            .with_state(self.clone())
    }

    /// A payment as the ledger has it (for tests).
    pub fn payment(&self, imp_uid: &str) -> Option<Payment> {
        self.ledger().payments.get(imp_uid).cloned()
    }

    pub fn tokens_issued(&self) -> u64 {
        self.ledger().tokens_issued
    }

    /// How many times `GET /payments/{imp_uid}` was answered for `imp_uid`.
    pub fn lookups(&self, imp_uid: &str) -> u64 {
        self.ledger().lookups.get(imp_uid).copied().unwrap_or(0)
    }

    /// `GET /payments/{imp_uid}` takes `latency` from now on (PortOne is a
    /// round trip across the Internet away, not a loopback call).
    pub fn set_lookup_latency(&self, latency: std::time::Duration) {
        self.ledger().lookup_latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    }
}

/// A sandbox serving on a real socket.
pub struct RunningSandbox {
    pub sandbox: Sandbox,
    pub addr: SocketAddr,
    pub url: Url,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSandbox {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// Binds `host:port` (0 for any free port) and serves until stopped.
pub async fn start(
    host: &str,
    port: u16,
    config: SandboxConfig,
) -> std::io::Result<RunningSandbox> {
    let listener = tokio::net::TcpListener::bind((host, port)).await?;
    let addr = listener.local_addr()?;
    let sandbox = Sandbox::new(config);
    let router = sandbox.router();
    let shutdown = CancellationToken::new();
    let task = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "sandbox server failed");
            }
        })
    };
    let url = Url::parse(&format!("http://{addr}"))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    Ok(RunningSandbox {
        sandbox,
        addr,
        url,
        shutdown,
        task,
    })
}

/// A PortOne-shaped id (`imp_` and 12 digits) that stays unique across
/// sandbox restarts, as real ones are: merchants keep them in unique columns.
fn new_imp_uid() -> String {
    let random = uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000;
    format!("imp_{random:012}")
}

fn reply<T: Serialize>(status: StatusCode, body: ApiResponse<T>) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `{"code": 0, "response": body}`.
fn ok<T: Serialize>(body: T) -> Answer {
    Ok(reply(StatusCode::OK, ApiResponse::ok(body)))
}

/// A PortOne-style error answer: HTTP status, `code` and `message`.
struct Refusal {
    status: StatusCode,
    code: i64,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        reply::<()>(self.status, ApiResponse::error(self.code, self.message))
    }
}

type Answer = Result<Response, Refusal>;

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, -1, message)
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid request body: {e}")))
}

/// PortOne accepts the bare token or `Bearer <token>`.
fn authorise(sandbox: &Sandbox, headers: &HeaderMap) -> Result<(), Refusal> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").trim().to_owned())
        .unwrap_or_default();
    let now = Utc::now().timestamp();
    match sandbox.ledger().tokens.get(&token) {
        Some(expires) if *expires > now => Ok(()),
        _ => Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            -1,
            "Unauthorized: missing or expired access token",
        )),
    }
}

async fn get_token(State(sandbox): State<Sandbox>, body: Bytes) -> Answer {
    let request: TokenRequest = parse(&body)?;
    let config = &sandbox.inner.config;
    if request.imp_key != config.api_key || request.imp_secret != config.api_secret {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            -1,
            "imp_key, imp_secret 인증에 실패하였습니다. (unknown key or secret)",
        ));
    }
    let now = Utc::now().timestamp();
    let token = format!("sandbox_{}", uuid::Uuid::new_v4().simple());
    let expired_at = now + config.token_ttl_seconds;
    let mut ledger = sandbox.ledger();
    ledger.tokens.insert(token.clone(), expired_at);
    ledger.tokens_issued += 1;
    ok(TokenResponse {
        access_token: token,
        now,
        expired_at,
    })
}

async fn prepare(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Answer {
    authorise(&sandbox, &headers)?;
    let request: PrepareRequest = parse(&body)?;
    if !request.amount.is_positive() || request.merchant_uid.is_empty() {
        return Err(bad_request(
            "merchant_uid and a positive amount are required",
        ));
    }
    let mut ledger = sandbox.ledger();
    if let Some(existing) = ledger.prepared.get(&request.merchant_uid) {
        if *existing != request.amount {
            return Err(Refusal::new(
                StatusCode::OK,
                1,
                "이미 등록된 merchant_uid입니다. (already prepared with another amount)",
            ));
        }
    }
    ledger
        .prepared
        .insert(request.merchant_uid.clone(), request.amount);
    ok(request)
}

async fn payment(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(imp_uid): Path<String>,
) -> Answer {
    authorise(&sandbox, &headers)?;
    let delay = {
        let mut ledger = sandbox.ledger();
        *ledger.lookups.entry(imp_uid.clone()).or_default() += 1;
        ledger.lookup_latency_ms
    };
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    match sandbox.payment(&imp_uid) {
        Some(p) => ok(p),
        None => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            -1,
            "존재하지 않는 결제정보입니다. (no such payment)",
        )),
    }
}

/// The latest payment of an order (PortOne answers the newest attempt).
/// `GET /payments/prepare/{merchant_uid}`: the amount pre-registered for an
/// order (what a V1 client's `prepare_validate` reads).
async fn prepared(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(merchant_uid): Path<String>,
) -> Answer {
    authorise(&sandbox, &headers)?;
    let amount = sandbox.ledger().prepared.get(&merchant_uid).copied();
    match amount {
        Some(amount) => ok(PrepareRequest {
            merchant_uid,
            amount,
        }),
        None => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            -1,
            "사전등록된 결제정보가 없습니다. (nothing prepared for this merchant_uid)",
        )),
    }
}

async fn find_payment(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(merchant_uid): Path<String>,
) -> Answer {
    authorise(&sandbox, &headers)?;
    found_or_404(latest(&sandbox, &merchant_uid, None))
}

/// The order's most recent payment in one status (`ready`, `paid`,
/// `cancelled`, `failed`), as PortOne's V1 `GET /payments/find/
/// {merchant_uid}/{payment_status}` answers.
async fn find_payment_in(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path((merchant_uid, status)): Path<(String, String)>,
) -> Answer {
    authorise(&sandbox, &headers)?;
    let status = PaymentStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == status)
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                -1,
                "payment_status는 ready, paid, cancelled, failed 중 하나입니다. (unknown payment_status)",
            )
        })?;
    found_or_404(latest(&sandbox, &merchant_uid, Some(status)))
}

/// `GET /payments/status/{payment_status}` (`all`, `ready`, `paid`,
/// `cancelled`, `failed`): the payments started between `from` and `to`
/// (UNIX seconds; `to` defaults to now, `from` to 90 days before it),
/// ordered by `sorting` (`-started`, the default, or `started`), `limit`
/// (at most 100, default 20) to a page, pages from 1; the answer is
/// `{total, previous, next, list}` with 0 for no page, as PortOne's V1
/// listing (iamport-rest-client-php: `Payment::listStatus`,
/// `Response\Collection`).
async fn list_payments(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(status): Path<String>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Answer {
    authorise(&sandbox, &headers)?;
    let status = match status.as_str() {
        "all" => None,
        other => Some(
            PaymentStatus::ALL
                .into_iter()
                .find(|s| s.as_str() == other)
                .ok_or_else(|| {
                    bad_request(
                        "payment_status는 all, ready, paid, cancelled, failed 중 하나입니다.",
                    )
                })?,
        ),
    };
    let number = |key: &str, default: i64| -> Result<i64, Refusal> {
        query.get(key).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| bad_request(format!("{key} must be an integer")))
        })
    };
    let to = number("to", Utc::now().timestamp())?;
    let from = number("from", to - 90 * 86_400)?;
    let limit = number("limit", 20)?;
    let page = number("page", 1)?;
    if !(1..=100).contains(&limit) || page < 1 {
        return Err(bad_request("limit is 1 to 100 and page starts at 1"));
    }
    let descending = match query.get("sorting").map(String::as_str) {
        None | Some("-started") => true,
        Some("started") => false,
        Some(other) => {
            return Err(bad_request(format!(
                "sorting {other} is not served by the sandbox (-started, started)"
            )))
        }
    };
    let mut found: Vec<Payment> = sandbox
        .ledger()
        .payments
        .values()
        .filter(|p| status.is_none_or(|s| p.status == s))
        .filter(|p| (from..=to).contains(&p.started_at))
        .cloned()
        .collect();
    found.sort_by(|a, b| (a.started_at, &a.imp_uid).cmp(&(b.started_at, &b.imp_uid)));
    if descending {
        found.reverse();
    }
    let total = found.len() as u64;
    let start = usize::try_from((page - 1) * limit).unwrap_or(usize::MAX);
    let list: Vec<Payment> = found
        .into_iter()
        .skip(start)
        .take(usize::try_from(limit).unwrap_or(20))
        .collect();
    let more = (page * limit) < i64::try_from(total).unwrap_or(i64::MAX);
    ok(ticketing_portone::PaymentPage {
        total,
        previous: u32::try_from(page - 1).unwrap_or(0),
        next: if more {
            u32::try_from(page + 1).unwrap_or(0)
        } else {
            0
        },
        list,
    })
}

/// The most recent payment of an order (in `status`, when given).
fn latest(sandbox: &Sandbox, merchant_uid: &str, status: Option<PaymentStatus>) -> Option<Payment> {
    sandbox
        .ledger()
        .payments
        .values()
        .filter(|p| p.merchant_uid == merchant_uid && status.is_none_or(|s| p.status == s))
        .max_by(|a, b| a.imp_uid.cmp(&b.imp_uid))
        .cloned()
}

fn found_or_404(found: Option<Payment>) -> Answer {
    match found {
        Some(p) => ok(p),
        None => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            -1,
            "결제정보가 존재하지 않습니다. (no payment for this merchant_uid)",
        )),
    }
}

async fn cancel(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Answer {
    authorise(&sandbox, &headers)?;
    let request: CancelRequest = parse(&body)?;
    let mut ledger = sandbox.ledger();
    let found = match (&request.imp_uid, &request.merchant_uid) {
        (Some(id), _) => ledger.payments.get_mut(id),
        (None, Some(m)) => ledger
            .payments
            .values_mut()
            .find(|p| &p.merchant_uid == m && p.status == PaymentStatus::Paid),
        (None, None) => return Err(bad_request("imp_uid or merchant_uid is required")),
    };
    let Some(payment) = found else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            -1,
            "취소할 결제건이 존재하지 않습니다. (no such payment)",
        ));
    };
    let refundable = Money::refundable(payment.amount, payment.cancel_amount)
        .map_err(|e| bad_request(e.to_string()))?;
    if payment.status != PaymentStatus::Paid || !refundable.is_positive() {
        return Err(Refusal::new(
            StatusCode::OK,
            1,
            "이미 전액취소된 주문입니다. (already cancelled or not paid)",
        ));
    }
    if let Some(checksum) = request.checksum {
        if checksum != refundable {
            return Err(Refusal::new(
                StatusCode::OK,
                1,
                format!(
                    "checksum {} does not match the refundable amount {}",
                    checksum.as_won(),
                    refundable.as_won()
                ),
            ));
        }
    }
    let amount = request.amount.unwrap_or(refundable);
    if !amount.is_positive() || amount > refundable {
        return Err(bad_request(format!(
            "amount must be between 1 and {}",
            refundable.as_won()
        )));
    }
    // Test mode: refunds are approved at once.
    payment.cancel_amount = payment
        .cancel_amount
        .checked_add(amount)
        .map_err(|e| bad_request(e.to_string()))?;
    if payment.cancel_amount == payment.amount {
        payment.status = PaymentStatus::Cancelled;
        payment.cancelled_at = Utc::now().timestamp();
    }
    let answer = payment.clone();
    ok(answer)
}

async fn certification(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(imp_uid): Path<String>,
) -> Answer {
    authorise(&sandbox, &headers)?;
    match sandbox.ledger().certifications.get(&imp_uid) {
        Some(c) => ok(c.clone()),
        None => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            -1,
            "인증결과가 존재하지 않습니다. (no such certification)",
        )),
    }
}

#[derive(Debug, Deserialize)]
struct CheckoutRequest {
    merchant_uid: String,
    amount: Money,
    card_number: String,
    notice_url: Option<Url>,
    #[serde(default)]
    ignore_prepare: bool,
}

/// The outcome of a checkout: the payment and the webhook's delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckoutOutcome {
    pub payment: Payment,
    pub webhook: Option<WebhookDelivery>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub url: String,
    /// The HTTP status the merchant answered, or `None` when unreachable.
    pub status: Option<u16>,
    pub error: Option<String>,
}

async fn checkout(State(sandbox): State<Sandbox>, body: Bytes) -> Answer {
    let request: CheckoutRequest = parse(&body)?;
    if !request.amount.is_positive() {
        return Err(bad_request(
            "amount must be at least 1 (1-won payments are fine in test mode)",
        ));
    }
    let now = Utc::now().timestamp();
    let payment = {
        let mut ledger = sandbox.ledger();
        let imp_uid = new_imp_uid();
        let prepared = ledger.prepared.get(&request.merchant_uid).copied();
        let card = request.card_number.replace(['-', ' '], "");
        let fail_reason =
            if !request.ignore_prepare && prepared.is_some_and(|p| p != request.amount) {
                Some(format!(
                    "amount {} differs from the prepared amount {}",
                    request.amount.as_won(),
                    prepared.unwrap_or_default().as_won()
                ))
            } else if card == DECLINED_CARD.replace('-', "") {
                Some("card declined".to_owned())
            } else if card == NO_FUNDS_CARD.replace('-', "") {
                Some("insufficient funds".to_owned())
            } else if !card.starts_with("4092") {
                Some("not a test card (test cards start with 4092)".to_owned())
            } else {
                None
            };
        let payment = Payment {
            imp_uid: imp_uid.clone(),
            merchant_uid: request.merchant_uid.clone(),
            amount: request.amount,
            cancel_amount: Money::ZERO,
            currency: "KRW".to_owned(),
            status: if fail_reason.is_some() {
                PaymentStatus::Failed
            } else {
                PaymentStatus::Paid
            },
            pg_provider: sandbox.inner.config.pg_provider.clone(),
            pay_method: Some("card".to_owned()),
            started_at: now,
            paid_at: if fail_reason.is_none() { now } else { 0 },
            failed_at: if fail_reason.is_some() { now } else { 0 },
            fail_reason,
            cancelled_at: 0,
        };
        ledger.payments.insert(imp_uid, payment.clone());
        payment
    };
    let target = request
        .notice_url
        .or_else(|| sandbox.inner.config.webhook_url.clone());
    let webhook = match target {
        Some(url) => Some(deliver(&sandbox, &url, &payment).await),
        None => None,
    };
    Ok(axum::Json(CheckoutOutcome { payment, webhook }).into_response())
}

async fn deliver(sandbox: &Sandbox, url: &Url, payment: &Payment) -> WebhookDelivery {
    let notice = WebhookNotice {
        imp_uid: payment.imp_uid.clone(),
        merchant_uid: payment.merchant_uid.clone(),
        status: payment.status.as_str().to_owned(),
    };
    let sent = sandbox
        .inner
        .http
        .post(url.clone())
        .timeout(std::time::Duration::from_secs(10))
        .json(&notice)
        .send()
        .await;
    match sent {
        Ok(r) => WebhookDelivery {
            url: url.to_string(),
            status: Some(r.status().as_u16()),
            error: None,
        },
        Err(e) => WebhookDelivery {
            url: url.to_string(),
            status: None,
            error: Some(e.to_string()),
        },
    }
}

#[derive(Debug, Deserialize)]
struct ResendRequest {
    imp_uid: String,
    notice_url: Option<Url>,
}

async fn resend(State(sandbox): State<Sandbox>, body: Bytes) -> Answer {
    let request: ResendRequest = parse(&body)?;
    let Some(payment) = sandbox.payment(&request.imp_uid) else {
        return Err(Refusal::new(StatusCode::NOT_FOUND, -1, "no such payment"));
    };
    let Some(url) = request
        .notice_url
        .or_else(|| sandbox.inner.config.webhook_url.clone())
    else {
        return Err(bad_request(
            "no notice_url given and no default webhook URL configured",
        ));
    };
    let delivery = deliver(&sandbox, &url, &payment).await;
    Ok(axum::Json(delivery).into_response())
}

#[derive(Debug, Deserialize)]
struct CertifyRequest {
    /// Stands for the real person: the same value gives the same CI/DI.
    person: String,
    name: Option<String>,
    birthday: Option<String>,
}

async fn certify(State(sandbox): State<Sandbox>, body: Bytes) -> Answer {
    let request: CertifyRequest = parse(&body)?;
    let digest = |salt: &str| {
        let hash = Sha256::digest(format!("{salt}:{}", request.person).as_bytes());
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let mut ledger = sandbox.ledger();
    let imp_uid = new_imp_uid();
    let certification = Certification {
        imp_uid: imp_uid.clone(),
        certified: true,
        name: request.name,
        birthday: request.birthday,
        unique_key: digest("ci"),
        unique_in_site: Some(digest("di")),
    };
    ledger.certifications.insert(imp_uid, certification.clone());
    ok(certification)
}

async fn stats(State(sandbox): State<Sandbox>) -> Response {
    let ledger = sandbox.ledger();
    axum::Json(serde_json::json!({
        "tokens_issued": ledger.tokens_issued,
        "payments": ledger.payments.len(),
        "prepared": ledger.prepared.len(),
        "lookups": ledger.lookups,
    }))
    .into_response()
}
