//! The whole platform in-process with a PortOne sandbox, for opsctl tests
//! that need bookings (reconciliation, the DR drill). Customers' access and
//! reservation tokens are minted with the stack's keys.
#![allow(dead_code)]

use std::time::Duration;

use chrono::Utc;
use portone_sandbox::{RunningSandbox, SandboxConfig, TEST_CARD};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use ticketing::Platform;
use ticketing_catalog::ServiceName;
use ticketing_config::Settings;
use ticketing_testkit::TestEnv;
use ticketing_tokens::{Keyring, ReservationClaims};
use uuid::Uuid;

pub struct Booking {
    pub env: TestEnv,
    pub settings: Settings,
    pub sandbox: RunningSandbox,
    pub platform: Platform,
    pub gateway: String,
    pub http: reqwest::Client,
    auth: ticketing_http::Authenticator,
    queue_keys: Keyring,
}

/// A customer's tokens for one performance.
pub struct Customer {
    pub access: String,
    pub queue: String,
}

async fn json(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("the platform answers")
        .json()
        .await
        .expect("JSON")
}

impl Booking {
    /// Starts a sandbox and the platform on `settings` (the env's, adjusted).
    pub async fn start(env: TestEnv, mut settings: Settings) -> Booking {
        let sandbox = portone_sandbox::start(
            "127.0.0.1",
            0,
            SandboxConfig::new(
                env.secrets.portone_api_key.expose_secret(),
                env.secrets.portone_api_secret.expose_secret(),
            ),
        )
        .await
        .expect("sandbox");
        settings.portone.base_url = sandbox.url.clone();
        settings.booking.rate_limit_per_second = 100_000;
        let platform = ticketing::start(settings.clone(), env.secrets.clone(), &ServiceName::ALL)
            .await
            .expect("platform");
        let gateway = format!(
            "http://{}",
            platform.addr(ServiceName::ApiGateway).expect("gw")
        );
        let auth = ticketing_http::Authenticator::new(
            Keyring::new(&env.secrets.jwt_signing_key, &[]),
            settings.booking.jwt_issuer.clone(),
            3600,
        );
        let queue_keys = Keyring::new(&env.secrets.queue_token_signing_key, &[]);
        Booking {
            env,
            settings,
            sandbox,
            platform,
            gateway,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            auth,
            queue_keys,
        }
    }

    pub async fn stop(self) -> TestEnv {
        let _ = self.platform.stop().await;
        self.sandbox.stop().await;
        self.env
    }

    /// A performance with one row of `seats`; its id and seat ids.
    pub async fn performance(&self, seats: u32, price: i64) -> (Uuid, Vec<Value>) {
        let organiser = self.auth.issue(Uuid::now_v7()).0;
        let created = json(
            self.http
                .post(format!("{}/api/events", self.gateway))
                .bearer_auth(&organiser)
                .json(&json!({"title": "Test", "venue": "Hall", "starts_at": "2027-01-01T19:00:00Z",
                    "sections": [{"name": "A", "rows": 1, "seats_per_row": seats, "price": price}]})),
        )
        .await;
        let id: Uuid = serde_json::from_value(created["id"].clone()).expect("id");
        let map = json(
            self.http
                .get(format!("{}/api/events/{id}/seats", self.gateway)),
        )
        .await;
        let seats = map["seats"].as_array().cloned().unwrap_or_default();
        (id, seats.into_iter().map(|s| s["id"].clone()).collect())
    }

    /// A new customer admitted to `performance`.
    pub fn customer(&self, performance: Uuid) -> Customer {
        let user = Uuid::now_v7();
        let claims =
            ReservationClaims::new(user, performance, Utc::now(), chrono::Duration::minutes(30));
        Customer {
            access: self.auth.issue(user).0,
            queue: ticketing_tokens::issue(&self.queue_keys, &claims),
        }
    }

    /// Holds `seat`; the hold answer.
    pub async fn hold(&self, customer: &Customer, performance: Uuid, seat: &Value) -> Value {
        json(
            self.http
                .post(format!("{}/api/reservations", self.gateway))
                .bearer_auth(&customer.access)
                .header("x-queue-token", &customer.queue)
                .json(&json!({"performance_id": performance, "seat_ids": [seat]})),
        )
        .await
    }

    /// Prepares the payment of a hold; its `merchant_uid`.
    pub async fn prepare(&self, customer: &Customer, held: &Value) -> Value {
        json(
            self.http
                .post(format!("{}/api/payments/prepare", self.gateway))
                .bearer_auth(&customer.access)
                .json(&json!({"payment_token": held["payment_token"]})),
        )
        .await["merchant_uid"]
            .clone()
    }

    /// Pays at the sandbox with a test card; the webhook goes to `notice_url`
    /// (the gateway's when `None`).
    pub async fn pay(&self, merchant_uid: &Value, amount: i64, notice_url: Option<&str>) -> Value {
        let notice = notice_url
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}/webhooks/portone", self.gateway));
        json(
            self.http
                .post(self.sandbox.url.join("/sandbox/checkout").expect("url"))
                .json(&json!({"merchant_uid": merchant_uid, "amount": amount, "card_number": TEST_CARD, "notice_url": notice})),
        )
        .await
    }

    /// One whole booking of `seat` by a new customer: hold, prepare, pay
    /// with a test card (the webhook reaches the gateway and is verified);
    /// the reservation id.
    pub async fn book(&self, performance: Uuid, seat: &Value) -> String {
        let customer = self.customer(performance);
        let held = self.hold(&customer, performance, seat).await;
        let merchant = self.prepare(&customer, &held).await;
        let paid = self
            .pay(&merchant, held["amount"].as_i64().unwrap_or(0), None)
            .await;
        assert_eq!(
            paid["webhook"]["status"], 200,
            "the payment is verified: {paid}"
        );
        held["reservation_id"].as_str().expect("id").to_owned()
    }

    /// The notices customers see (`GET /api/notices` through the gateway):
    /// the `Cache-Control` answered and the notices.
    pub async fn notices(&self) -> (String, Vec<Value>) {
        let answer = self
            .http
            .get(format!("{}/api/notices", self.gateway))
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(answer.status(), 200);
        let cache = answer
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Value = answer.json().await.expect("JSON");
        (
            cache,
            body["notices"].as_array().cloned().unwrap_or_default(),
        )
    }

    /// A reservation's status, read from its schema.
    pub async fn status_of(&self, id: &str) -> String {
        let pool = self.env.pool(Some("reservation_service"));
        let status: String =
            sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("status");
        pool.close().await;
        status
    }

    /// How many of `ids` are CONFIRMED after waiting up to 30 s for all.
    pub async fn confirmed(&self, ids: &[String]) -> usize {
        let mut n = 0;
        for _ in 0..300 {
            n = 0;
            for id in ids {
                if self.status_of(id).await == "CONFIRMED" {
                    n += 1;
                }
            }
            if n == ids.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        n
    }

    /// A count from one schema.
    pub async fn count(&self, schema: &str, sql: &str) -> i64 {
        let pool = self.env.pool(Some(schema));
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("query");
        pool.close().await;
        n
    }
}

/// What a run of the real opsctl binary printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the real opsctl binary with `vars` set, test AWS credentials (moto
/// accepts any), no AWS profile, and every AWS call aimed at moto server
/// (also for `--env dev|prod`, whose settings name no endpoint).
pub async fn opsctl(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_opsctl"));
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_ENDPOINT_URL", moto_url());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("opsctl runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The moto server of the local stack.
pub fn moto_url() -> String {
    ticketing_config::load(ticketing_config::Profile::Local)
        .expect("local settings")
        .aws
        .endpoint_url
        .expect("the local profile names moto server's endpoint")
        .to_string()
        .trim_end_matches('/')
        .to_owned()
}

/// SDK configuration for moto server in `region` (moto keeps state per
/// region, so each test file uses a region of its own).
pub async fn moto_sdk(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(moto_url())
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// A fresh audit-log path of the test's own (not created).
pub fn temp_audit_log(prefix: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{prefix}-{}.jsonl", Uuid::new_v4().simple()))
}

/// The phases of the audit log at `path`, in order (none when it does not
/// exist).
#[allow(dead_code)]
pub fn audit_phases(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("an audit line is JSON"))
        .filter_map(|v| v["phase"].as_str().map(str::to_owned))
        .collect()
}
