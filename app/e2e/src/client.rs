//! A customer's client: the gateway's public API and the PortOne sandbox's
//! checkout, as a browser would use them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use url::Url;
use uuid::Uuid;

pub use portone_sandbox::TEST_CARD;

/// What the sandbox accepts as a solved reCAPTCHA.
pub const RECAPTCHA_PASS: &str = "test-pass";

/// Why a step of a booking could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    #[error("{url} did not answer: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what}: HTTP {status}: {body}")]
    Refused {
        what: String,
        status: u16,
        body: Value,
    },
    #[error("no `{field}` in {body}")]
    Missing { field: String, body: Value },
    #[error("{0}")]
    TimedOut(String),
    #[error("not a URL: {0}")]
    Url(#[from] url::ParseError),
    #[error("the HTTP client could not be built: {0}")]
    Client(#[source] reqwest::Error),
}

/// An HTTP answer: status, content type and JSON body (`null` when none).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl Answer {
    /// The body when the status is one of `ok`, else [`E2eError::Refused`].
    pub fn expect(self, what: &str, ok: &[u16]) -> Result<Value, E2eError> {
        if ok.contains(&self.status) {
            Ok(self.body)
        } else {
            Err(E2eError::Refused {
                what: what.to_owned(),
                status: self.status,
                body: self.body,
            })
        }
    }
}

/// A string field of `value`.
pub fn field(value: &Value, name: &str) -> Result<String, E2eError> {
    value[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| E2eError::Missing {
            field: name.to_owned(),
            body: value.clone(),
        })
}

/// A performance to create: one section of `rows` x `seats_per_row`.
#[derive(Debug, Clone)]
pub struct NewPerformance {
    pub title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub section: String,
    pub rows: u32,
    pub seats_per_row: u32,
    pub price: i64,
}

impl NewPerformance {
    pub fn body(&self) -> Value {
        json!({
            "title": self.title, "venue": self.venue, "starts_at": self.starts_at.to_rfc3339(),
            "sections": [{"name": self.section, "rows": self.rows, "seats_per_row": self.seats_per_row, "price": self.price}]
        })
    }
}

/// A payment at the sandbox's checkout.
#[derive(Debug, Clone)]
pub struct Checkout<'a> {
    pub merchant_uid: &'a str,
    pub amount: i64,
    pub card: &'a str,
    /// Where the sandbox sends the webhook (the gateway's when `None`).
    pub notice_url: Option<&'a str>,
    /// Pay an amount other than the prepared one (a tampered checkout).
    pub ignore_prepare: bool,
}

/// The gateway and the sandbox, from a customer's side.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    gateway: Url,
    sandbox: Url,
}

impl Client {
    /// A client of `gateway` and `sandbox`, each request given `timeout`.
    pub fn new(gateway: Url, sandbox: Url, timeout: Duration) -> Result<Client, E2eError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(E2eError::Client)?;
        Ok(Client {
            http,
            gateway,
            sandbox,
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn gateway(&self) -> &Url {
        &self.gateway
    }

    pub fn sandbox(&self) -> &Url {
        &self.sandbox
    }

    /// The gateway's webhook address, where the sandbox notifies.
    pub fn webhook_url(&self) -> Result<Url, E2eError> {
        Ok(self.gateway.join("/webhooks/portone")?)
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Answer, E2eError> {
        let mut request = self.http.request(method, url.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|source| E2eError::Unreachable {
                url: url.to_string(),
                source,
            })?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// A request through the gateway.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Answer, E2eError> {
        let url = self.gateway.join(path)?;
        self.send(method, url, token, headers, body).await
    }

    /// A request to the sandbox's own (non-PortOne) API.
    async fn sandbox_post(&self, path: &str, body: Value) -> Result<Value, E2eError> {
        let url = self.sandbox.join(path)?;
        let answer = self.send(Method::POST, url, None, &[], Some(body)).await?;
        answer.expect(&format!("POST {path} at the sandbox"), &[200, 201])
    }

    /// Verifies `person`'s identity at the sandbox; the certification's
    /// `imp_uid`.
    pub async fn certify(&self, person: &str, name: &str) -> Result<String, E2eError> {
        let certification = self
            .sandbox_post(
                "/sandbox/certifications",
                json!({"person": person, "name": name}),
            )
            .await?;
        field(&certification["response"], "imp_uid")
    }

    /// A verified person signs up as `email` and logs in; the access token.
    pub async fn sign_up(
        &self,
        certification: &str,
        email: &str,
        password: &str,
    ) -> Result<String, E2eError> {
        self.call(
            Method::POST,
            "/api/users/signup",
            None,
            &[],
            Some(json!({"email": email, "password": password, "certification_imp_uid": certification, "recaptcha_token": RECAPTCHA_PASS})),
        )
        .await?
        .expect("sign-up", &[201])?;
        self.login(email, password).await
    }

    /// Logs in; the access token (with the account's role, if any).
    pub async fn login(&self, email: &str, password: &str) -> Result<String, E2eError> {
        let login = self
            .call(
                Method::POST,
                "/api/users/login",
                None,
                &[],
                Some(json!({"email": email, "password": password})),
            )
            .await?
            .expect("login", &[200])?;
        field(&login, "access_token")
    }

    /// Creates a performance; its id.
    pub async fn create_performance(
        &self,
        token: &str,
        performance: &NewPerformance,
    ) -> Result<Uuid, E2eError> {
        let created = self
            .call(
                Method::POST,
                "/api/events",
                Some(token),
                &[],
                Some(performance.body()),
            )
            .await?
            .expect("creating a performance", &[201])?;
        let id = field(&created, "id")?;
        id.parse().map_err(|_| E2eError::Missing {
            field: "id (a UUID)".into(),
            body: created,
        })
    }

    /// A performance's seat map.
    pub async fn seat_map(&self, performance: Uuid) -> Result<Value, E2eError> {
        self.call(
            Method::GET,
            &format!("/api/events/{performance}/seats"),
            None,
            &[],
            None,
        )
        .await?
        .expect("the seat map", &[200])
    }

    /// Enters the waiting room and polls until admitted, for at most
    /// `patience`; the `qr_` reservation token.
    pub async fn admitted(
        &self,
        token: &str,
        performance: Uuid,
        patience: Duration,
    ) -> Result<String, E2eError> {
        let mut status = self
            .call(
                Method::POST,
                &format!("/api/queue/{performance}/enter"),
                Some(token),
                &[],
                Some(json!({"recaptcha_token": RECAPTCHA_PASS})),
            )
            .await?
            .expect("entering the waiting room", &[200, 202])?;
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if status["status"] == "admitted" {
                return field(&status, "reservation_token");
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(E2eError::TimedOut(format!(
                    "not admitted from the waiting room within {patience:?}: {status}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            status = if status["status"] == "holding" {
                // An order made with the last admission is still open (or
                // ended a moment ago: the queue learns it just after the
                // reservation commits): enter again, as a front end does,
                // rather than ask for a place there is none of.
                self.call(
                    Method::POST,
                    &format!("/api/queue/{performance}/enter"),
                    Some(token),
                    &[],
                    Some(json!({"recaptcha_token": RECAPTCHA_PASS})),
                )
                .await?
                .expect("entering the waiting room", &[200, 202])?
            } else {
                self.call(
                    Method::GET,
                    &format!("/api/queue/{performance}/status"),
                    Some(token),
                    &[],
                    None,
                )
                .await?
                .expect("the waiting room's status", &[200])?
            };
        }
    }

    /// Asks to hold `seats` with the `qr_` token; the answer as it came.
    pub async fn hold(
        &self,
        token: &str,
        qr: &str,
        performance: Uuid,
        seats: &[Uuid],
    ) -> Result<Answer, E2eError> {
        self.call(
            Method::POST,
            "/api/reservations",
            Some(token),
            &[("x-queue-token", qr)],
            Some(json!({"performance_id": performance, "seat_ids": seats})),
        )
        .await
    }

    /// Prepares the payment of a hold with its `qp_` token; the answer as it
    /// came.
    pub async fn prepare(&self, token: &str, qp: &str) -> Result<Answer, E2eError> {
        self.call(
            Method::POST,
            "/api/payments/prepare",
            Some(token),
            &[],
            Some(json!({"payment_token": qp})),
        )
        .await
    }

    /// Pays at the sandbox's checkout; its outcome (the payment and the
    /// webhook's delivery).
    pub async fn checkout(&self, checkout: &Checkout<'_>) -> Result<Value, E2eError> {
        let notice = match checkout.notice_url {
            Some(url) => url.to_owned(),
            None => self.webhook_url()?.to_string(),
        };
        self.sandbox_post(
            "/sandbox/checkout",
            json!({
                "merchant_uid": checkout.merchant_uid, "amount": checkout.amount,
                "card_number": checkout.card, "notice_url": notice,
                "ignore_prepare": checkout.ignore_prepare,
            }),
        )
        .await
    }

    /// The customer's view of one reservation; the answer as it came.
    pub async fn reservation(&self, token: &str, reservation: &str) -> Result<Answer, E2eError> {
        self.call(
            Method::GET,
            &format!("/api/reservations/{reservation}"),
            Some(token),
            &[],
            None,
        )
        .await
    }

    /// Polls one reservation until `done` says so, for at most `patience`;
    /// the reservation then.
    pub async fn reservation_until(
        &self,
        token: &str,
        reservation: &str,
        patience: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Result<Value, E2eError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let r = self.reservation(token, reservation).await?;
            if r.status == 200 && done(&r.body) {
                return Ok(r.body);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(E2eError::TimedOut(format!(
                    "reservation {reservation} did not settle within {patience:?}: HTTP {} {}",
                    r.status, r.body
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
