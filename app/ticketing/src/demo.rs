//! A demo booking against a running platform, through its gateway and the
//! PortOne sandbox, as a person would do it: identity verification, sign-up,
//! login, a performance, the waiting room, a seat hold, payment, and the
//! reservation `CONFIRMED`. `infra/local/up.sh` ends with it.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use url::Url;

/// Where the demo talks to.
pub struct Demo {
    http: reqwest::Client,
    gateway: Url,
    sandbox: Url,
}

/// What the demo booked.
#[derive(Debug)]
pub struct Booked {
    pub reservation_id: String,
    pub status: String,
    pub amount: i64,
    pub seats: Vec<String>,
}

impl Demo {
    pub fn new(gateway: Url, sandbox: Url) -> anyhow::Result<Demo> {
        Ok(Demo {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()?,
            gateway,
            sandbox,
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
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
            .with_context(|| format!("{url} did not answer"))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// A gateway call that must answer `expect`.
    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
        expect: &[u16],
    ) -> anyhow::Result<Value> {
        let url = self.gateway.join(path)?;
        let (status, body) = self.send(method.clone(), url, token, headers, body).await?;
        if !expect.contains(&status) {
            bail!("{method} {path}: HTTP {status}: {body}");
        }
        Ok(body)
    }

    fn field(value: &Value, name: &str) -> anyhow::Result<String> {
        value[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no `{name}` in {value}"))
    }

    /// Runs the whole booking; `say` reports each step.
    pub async fn run(&self, mut say: impl FnMut(&str)) -> anyhow::Result<Booked> {
        use reqwest::Method;
        let person = uuid::Uuid::now_v7().simple().to_string();
        let (_, certification) = self
            .send(
                Method::POST,
                self.sandbox.join("/sandbox/certifications")?,
                None,
                &[],
                Some(json!({"person": person, "name": "Demo Customer"})),
            )
            .await?;
        let imp_uid = Self::field(&certification["response"], "imp_uid")?;
        say(&format!(
            "identity verified at the PortOne sandbox ({imp_uid})"
        ));

        let email = format!("demo-{person}@example.com");
        let password = "demo password 1234";
        self.api(
            Method::POST,
            "/api/users/signup",
            None,
            &[],
            Some(json!({"email": email, "password": password, "certification_imp_uid": imp_uid, "recaptcha_token": "test-pass"})),
            &[201],
        )
        .await?;
        let login = self
            .api(
                Method::POST,
                "/api/users/login",
                None,
                &[],
                Some(json!({"email": email, "password": password})),
                &[200],
            )
            .await?;
        let token = Self::field(&login, "access_token")?;
        say(&format!("signed up and logged in as {email}"));

        let created = self
            .api(
                Method::POST,
                "/api/events",
                Some(&token),
                &[],
                Some(json!({
                    "title": "Demo Concert", "venue": "Olympic Hall",
                    "starts_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
                    "sections": [{"name": "VIP", "rows": 2, "seats_per_row": 10, "price": 1}]
                })),
                &[201],
            )
            .await?;
        let performance = Self::field(&created, "id")?;
        let map = self
            .api(
                Method::GET,
                &format!("/api/events/{performance}/seats"),
                None,
                &[],
                None,
                &[200],
            )
            .await?;
        let seats: Vec<String> = map["seats"]
            .as_array()
            .into_iter()
            .flatten()
            .take(2)
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect();
        say(&format!(
            "performance {performance} with {} seats",
            map["seats"].as_array().map_or(0, Vec::len)
        ));

        self.api(
            Method::POST,
            &format!("/api/queue/{performance}/enter"),
            Some(&token),
            &[],
            Some(json!({"recaptcha_token": "test-pass"})),
            &[200, 202],
        )
        .await?;
        let mut qr = None;
        for _ in 0..100 {
            let status = self
                .api(
                    Method::GET,
                    &format!("/api/queue/{performance}/status"),
                    Some(&token),
                    &[],
                    None,
                    &[200],
                )
                .await?;
            if status["status"] == "admitted" {
                qr = Some(Self::field(&status, "reservation_token")?);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let qr = qr.context("not admitted from the waiting room within 20 s")?;
        say("admitted from the waiting room (reservation token qr_...)");

        let held = self
            .api(
                Method::POST,
                "/api/reservations",
                Some(&token),
                &[("x-queue-token", qr.as_str())],
                Some(json!({"performance_id": performance, "seat_ids": seats})),
                &[201],
            )
            .await?;
        let reservation = Self::field(&held, "reservation_id")?;
        let amount = held["amount"].as_i64().unwrap_or_default();
        say(&format!(
            "held {} seats: reservation {reservation} PENDING, {amount} KRW",
            seats.len()
        ));

        let prepared = self
            .api(
                Method::POST,
                "/api/payments/prepare",
                Some(&token),
                &[],
                Some(json!({"payment_token": Self::field(&held, "payment_token")?})),
                &[200],
            )
            .await?;
        let merchant = Self::field(&prepared, "merchant_uid")?;
        let webhook = self.gateway.join("/webhooks/portone")?;
        let (_, outcome) = self
            .send(
                Method::POST,
                self.sandbox.join("/sandbox/checkout")?,
                None,
                &[],
                Some(json!({"merchant_uid": merchant, "amount": amount, "card_number": "4092-0000-0000-0001", "notice_url": webhook})),
            )
            .await?;
        say(&format!(
            "paid at the PortOne sandbox (test card): {}, webhook answered {}",
            outcome["payment"]["status"], outcome["webhook"]["status"]
        ));

        for _ in 0..150 {
            let r = self
                .api(
                    Method::GET,
                    &format!("/api/reservations/{reservation}"),
                    Some(&token),
                    &[],
                    None,
                    &[200],
                )
                .await?;
            let status = Self::field(&r, "status")?;
            if status != "PENDING" {
                return Ok(Booked {
                    reservation_id: reservation,
                    status,
                    amount,
                    seats,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("reservation {reservation} was still PENDING after 30 s; check the platform log")
    }
}
