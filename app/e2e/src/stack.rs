//! The whole platform on the real local stack, with a PortOne sandbox and a
//! test environment (database, key prefix, topics) of the test's own, driven
//! through the gateway like a browser. The platform runs in the test's
//! process ([`Stack::start`], [`Stack::start_with`]) or as the real
//! `ticketing serve` process ([`Stack::start_process`]), which a test can
//! kill -9 and restart.
//!
//! The helpers panic with what went wrong: they are for tests.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use portone_sandbox::{RunningSandbox, SandboxConfig, TEST_CARD};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::Value;
use ticketing_catalog::ServiceName;
use ticketing_config::Settings;
use ticketing_platform::Platform;
use ticketing_testkit::{free_port, TestEnv};
use ticketing_tokens::{Keyring, ReservationClaims};
use url::Url;
use uuid::Uuid;

use crate::client::{Answer, Checkout, Client, NewPerformance};

/// How long a test waits for a reservation or a seat to change.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Stack {
    pub env: TestEnv,
    /// The settings the platform runs with (real bound URLs).
    pub settings: Settings,
    /// The in-process platform ([`Stack::start`], [`Stack::start_with`]).
    pub platform: Option<Platform>,
    /// The `ticketing serve` process ([`Stack::start_process`]).
    pub process: Option<ServeProcess>,
    pub sandbox: RunningSandbox,
    /// The gateway's base URL, without a trailing slash.
    pub gateway: String,
    pub http: reqwest::Client,
    pub client: Client,
    auth: ticketing_http::Authenticator,
    queue_keys: Keyring,
}

/// A customer whose access and reservation tokens were minted with the
/// stack's keys (no sign-up, no waiting room).
pub struct Customer {
    pub user: Uuid,
    pub access: String,
    pub queue: String,
}

/// `ticketing serve` as a child process, configured by a settings file
/// (`TICKETING_CONFIG_FILE`) written from the test's settings.
pub struct ServeProcess {
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Option<tokio::process::Child>,
}

impl ServeProcess {
    fn spawn(binary: &Path, settings: &Settings, dir: &Path) -> ServeProcess {
        std::fs::create_dir_all(dir).expect("process dir");
        let config = dir.join("settings.toml");
        std::fs::write(
            &config,
            toml::to_string(settings).expect("settings serialise to TOML"),
        )
        .expect("settings file");
        let mut process = ServeProcess {
            binary: binary.to_path_buf(),
            config,
            log: dir.join("ticketing.log"),
            child: None,
        };
        process.start();
        process
    }

    /// Starts `ticketing serve` (again); [`Stack::wait_ready`] waits for it.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = tokio::process::Command::new(&self.binary)
            .arg("serve")
            .env("TICKETING_PROFILE", "local")
            .env(ticketing_config::CONFIG_FILE_ENV, &self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("ticketing serve starts");
        self.child = Some(child);
    }

    /// SIGKILL, as an out-of-memory kill or a lost host would end it.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill -9");
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The PG this test's sandbox says it paid through: its own name, so the
/// payment counters (per process, `pg_provider` label) of one test's
/// payments are told from another's in the same test binary.
fn sandbox_pg(env: &TestEnv) -> String {
    format!("sandbox_{}", env.id)
}

async fn sandbox_for(env: &TestEnv) -> RunningSandbox {
    let (key, secret) = env.secrets.portone_keys().expect("the test's PortOne keys");
    let mut config = SandboxConfig::new(key.expose_secret(), secret.expose_secret());
    config.pg_provider = sandbox_pg(env);
    portone_sandbox::start("127.0.0.1", 0, config)
        .await
        .expect("sandbox starts")
}

impl Stack {
    /// Starts everything, the platform in this process; `tune` adjusts the
    /// settings first.
    pub async fn start(tune: impl FnOnce(&mut Settings)) -> Stack {
        let (env, sandbox, settings) = Stack::setup(tune).await;
        let platform = ticketing_platform::start(settings, env.secrets.clone(), &ServiceName::ALL)
            .await
            .expect("platform starts");
        let settings = platform.settings.clone();
        Stack::assemble(env, sandbox, settings, Some(platform), None)
    }

    /// Starts a sandbox and the platform in this process on `env` and
    /// `settings` as the caller prepared them (topics included), with no
    /// gateway rate limit in the way of a test's bursts.
    pub async fn start_with(env: TestEnv, mut settings: Settings) -> Stack {
        let sandbox = sandbox_for(&env).await;
        settings.portone.base_url = sandbox.url.clone();
        settings.booking.rate_limit_per_second = 100_000;
        let platform = ticketing_platform::start(settings, env.secrets.clone(), &ServiceName::ALL)
            .await
            .expect("platform starts");
        let settings = platform.settings.clone();
        Stack::assemble(env, sandbox, settings, Some(platform), None)
    }

    /// Starts everything, the platform as a `ticketing serve` process (the
    /// `binary` the test was built with, `env!("CARGO_BIN_EXE_ticketing")`)
    /// on free ports; `tune` adjusts the settings first (the topics are
    /// created on the broker the tuned settings name).
    pub async fn start_process(binary: &Path, tune: impl FnOnce(&mut Settings)) -> Stack {
        let (env, sandbox, mut settings) = Stack::setup(tune).await;
        for service in ServiceName::ALL {
            let endpoint = settings.services.endpoint_mut(service);
            endpoint.port = free_port();
            endpoint.url = format!("http://127.0.0.1:{}", endpoint.port)
                .parse()
                .expect("url");
        }
        let dir = std::env::temp_dir().join(format!("ticketing-serve-{}", env.id));
        let process = ServeProcess::spawn(binary, &settings, &dir);
        let stack = Stack::assemble(env, sandbox, settings, None, Some(process));
        stack.wait_ready().await;
        stack
    }

    /// Waits up to 60 s for the gateway's readiness.
    pub async fn wait_ready(&self) {
        for _ in 0..600 {
            if let Ok(r) = self
                .http
                .get(format!(
                    "{}{}",
                    self.gateway,
                    ticketing_catalog::http::READINESS_PATH
                ))
                .send()
                .await
            {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the platform never became ready; its log:\n{}",
            self.process
                .as_ref()
                .map(ServeProcess::log_tail)
                .unwrap_or_default()
        );
    }

    fn assemble(
        env: TestEnv,
        sandbox: RunningSandbox,
        settings: Settings,
        platform: Option<Platform>,
        process: Option<ServeProcess>,
    ) -> Stack {
        let gateway_url: Url = settings
            .services
            .endpoint(ServiceName::ApiGateway)
            .url
            .clone();
        let gateway = gateway_url.as_str().trim_end_matches('/').to_owned();
        let client =
            Client::new(gateway_url, sandbox.url.clone(), Duration::from_secs(20)).expect("client");
        let auth = ticketing_http::Authenticator::new(
            Keyring::new(&env.secrets.jwt_signing_key, &[]),
            settings.booking.jwt_issuer.clone(),
            3600,
        );
        let queue_keys = Keyring::new(&env.secrets.queue_token_signing_key, &[]);
        Stack {
            env,
            settings,
            platform,
            process,
            sandbox,
            gateway,
            http: client.http().clone(),
            client,
            auth,
            queue_keys,
        }
    }

    async fn setup(tune: impl FnOnce(&mut Settings)) -> (TestEnv, RunningSandbox, Settings) {
        let env = TestEnv::new().await;
        let sandbox = sandbox_for(&env).await;
        let mut settings = env.settings.clone();
        settings.portone.base_url = sandbox.url.clone();
        settings.booking.queue_admit_interval_ms = 100;
        settings.booking.expiry_sweep_interval_ms = 200;
        tune(&mut settings);
        if settings.kafka.bootstrap_servers == env.settings.kafka.bootstrap_servers {
            env.create_topics().await;
        } else {
            // A private broker of the test's: its topics go with it.
            ticketing_kafka::ensure_topics(
                &settings.kafka,
                &ticketing_catalog::topics::ALL,
                ticketing_catalog::topics::MVP_PARTITIONS,
                ticketing_catalog::topics::MVP_REPLICATION_FACTOR,
            )
            .await
            .expect("test topics");
        }
        (env, sandbox, settings)
    }

    /// Stops everything and removes what the test created.
    pub async fn stop(self) {
        self.stop_keeping_env().await.cleanup().await;
    }

    /// Stops the platform and the sandbox; the test environment stays for
    /// the test to inspect (and clean up).
    pub async fn stop_keeping_env(mut self) -> TestEnv {
        if let Some(platform) = self.platform.take() {
            let _ = platform.stop().await;
        }
        if let Some(process) = self.process.as_mut() {
            process.kill9().await;
            if let Some(dir) = process.config.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        self.sandbox.stop().await;
        self.env
    }

    /// A request through the gateway.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        self.client
            .call(method, path, token, headers, body)
            .await
            .expect("the gateway answers")
    }

    /// A verified person signs up and logs in; returns the access token.
    pub async fn user(&self, person: &str) -> String {
        let imp_uid = self.client.certify(person, person).await.expect("certify");
        let email = format!("{person}@example.com");
        self.client
            .sign_up(&imp_uid, &email, "correct horse battery")
            .await
            .expect("sign-up and login")
    }

    /// An organiser's token, minted with the stack's keys (on AWS the role
    /// is on the account: `opsctl users grant-organiser`).
    pub fn organiser(&self) -> String {
        self.auth
            .issue_with(Uuid::now_v7(), Some(ticketing_tokens::Role::Organiser))
            .0
    }

    /// A performance with one section, created by an organiser; returns
    /// its id and seat ids.
    pub async fn performance(&self, rows: u32, per_row: u32, price: i64) -> (Uuid, Vec<Uuid>) {
        let concert = NewPerformance {
            title: "Test Concert".into(),
            venue: "Olympic Hall".into(),
            starts_at: Utc
                .with_ymd_and_hms(2027, 5, 1, 19, 0, 0)
                .single()
                .expect("a date"),
            section: "R".into(),
            rows,
            seats_per_row: per_row,
            price,
        };
        let id = self
            .client
            .create_performance(&self.organiser(), &concert)
            .await
            .expect("performance");
        let seats = self.seat_map(id).await;
        let ids = seats["seats"]
            .as_array()
            .expect("seats")
            .iter()
            .map(|s| serde_json::from_value(s["id"].clone()).expect("seat id"))
            .collect();
        (id, ids)
    }

    /// A performance with one row of `seats`, created by an organiser whose
    /// token is minted with the stack's keys; its id and seat ids (as JSON).
    pub async fn minted_performance(&self, seats: u32, price: i64) -> (Uuid, Vec<Value>) {
        let (id, ids) = self.performance(1, seats, price).await;
        (id, ids.iter().map(|s| Value::from(s.to_string())).collect())
    }

    pub async fn seat_map(&self, performance: Uuid) -> Value {
        self.client.seat_map(performance).await.expect("seat map")
    }

    /// Enters the waiting room and waits to be admitted; returns the `qr_` token.
    pub async fn admitted(&self, token: &str, performance: Uuid) -> String {
        self.client
            .admitted(token, performance, Duration::from_secs(10))
            .await
            .expect("admitted")
    }

    /// A new customer admitted to `performance`, tokens minted.
    pub fn customer(&self, performance: Uuid) -> Customer {
        let user = Uuid::now_v7();
        Customer {
            user,
            access: self.auth.issue(user).0,
            queue: self.admission(user, performance),
        }
    }

    /// A fresh admission (`qr_` token, its own `jti`) of `user` to
    /// `performance`, minted with the stack's keys.
    pub fn admission(&self, user: Uuid, performance: Uuid) -> String {
        let claims =
            ReservationClaims::new(user, performance, Utc::now(), chrono::Duration::minutes(30));
        ticketing_tokens::issue(&self.queue_keys, &claims)
    }

    /// Holds seats; returns the answer.
    pub async fn hold(&self, token: &str, qr: &str, performance: Uuid, seats: &[Uuid]) -> Answer {
        self.client
            .hold(token, qr, performance, seats)
            .await
            .expect("the gateway answers")
    }

    /// `customer` holds `seat` (a seat id as JSON); the hold answer's body.
    pub async fn hold_as(&self, customer: &Customer, performance: Uuid, seat: &Value) -> Value {
        let seat: Uuid = serde_json::from_value(seat.clone()).expect("a seat id");
        let answer = self
            .hold(&customer.access, &customer.queue, performance, &[seat])
            .await;
        assert_eq!(answer.status, 201, "hold: {}", answer.body);
        answer.body
    }

    /// The reservation id and payment token of a successful hold.
    pub fn held(answer: &Answer) -> (String, String) {
        assert_eq!(answer.status, 201, "hold: {}", answer.body);
        (
            answer.body["reservation_id"]
                .as_str()
                .expect("id")
                .to_owned(),
            answer.body["payment_token"]
                .as_str()
                .expect("qp")
                .to_owned(),
        )
    }

    /// Prepares the payment of a hold; returns the `merchant_uid`.
    pub async fn prepare(&self, token: &str, qp: &str) -> String {
        let prepared = self
            .client
            .prepare(token, qp)
            .await
            .expect("the gateway answers");
        assert_eq!(prepared.status, 200, "prepare: {}", prepared.body);
        prepared.body["merchant_uid"]
            .as_str()
            .expect("merchant")
            .to_owned()
    }

    /// `customer` prepares the payment of `held`; its `merchant_uid` (JSON).
    pub async fn prepare_as(&self, customer: &Customer, held: &Value) -> Value {
        let qp = held["payment_token"].as_str().unwrap_or_default();
        self.client
            .prepare(&customer.access, qp)
            .await
            .expect("the gateway answers")
            .body["merchant_uid"]
            .clone()
    }

    /// The customer pays in the sandbox's checkout; the webhook goes to the gateway.
    pub async fn checkout(
        &self,
        merchant_uid: &str,
        amount: i64,
        card: &str,
        ignore_prepare: bool,
    ) -> Value {
        self.client
            .checkout(&Checkout {
                merchant_uid,
                amount,
                card,
                notice_url: None,
                ignore_prepare,
            })
            .await
            .expect("checkout")
    }

    /// PortOne as the merchant's staff would use it (its console, its API),
    /// with the test's keys: a refund made outside the platform.
    pub fn portone_console(&self) -> ticketing_portone::PortOne {
        let (key, secret) = self.env.secrets.portone_keys().expect("keys");
        ticketing_portone::PortOne::new(
            reqwest::Client::new(),
            &ticketing_config::PortOneSettings {
                base_url: self.sandbox.url.clone(),
                imp_code: "imp12345678".into(),
                mode: ticketing_config::PortOneMode::Test,
            },
            key,
            secret,
        )
    }

    /// PortOne tells the platform about `imp_uid` (the webhook a
    /// cancellation at PortOne sends).
    pub async fn notify(&self, imp_uid: &str) {
        let sent = self
            .http
            .post(format!("{}sandbox/webhooks/resend", self.sandbox.url))
            .json(&serde_json::json!({
                "imp_uid": imp_uid,
                "notice_url": self.client.webhook_url().expect("the gateway's webhook URL"),
            }))
            .send()
            .await
            .expect("the sandbox answers");
        assert!(sent.status().is_success(), "{}", sent.status());
    }

    /// Staff refund `imp_uid` at PortOne (all of it, or `amount`), and
    /// PortOne tells the platform.
    pub async fn refund_at_portone(&self, imp_uid: &str, amount: Option<i64>) {
        self.portone_console()
            .cancel(&ticketing_portone::CancelRequest {
                imp_uid: Some(imp_uid.to_owned()),
                amount: amount.map(ticketing_money::Money::won),
                reason: "refunded by staff".into(),
                ..ticketing_portone::CancelRequest::default()
            })
            .await
            .expect("cancel at PortOne");
        self.notify(imp_uid).await;
    }

    /// Pays `merchant_uid` at the sandbox with `card` (prepared or not),
    /// its webhook lost on the way (nobody listens where it goes); the
    /// checkout's outcome.
    pub async fn pay_unheard(&self, merchant_uid: &str, amount: i64, card: &str) -> Value {
        self.client
            .checkout(&Checkout {
                merchant_uid,
                amount,
                card,
                notice_url: Some("http://127.0.0.1:9/lost"),
                ignore_prepare: true,
            })
            .await
            .expect("checkout")
    }

    /// Pays at the sandbox with the test card; the webhook goes to
    /// `notice_url` (the gateway's when `None`).
    pub async fn pay(&self, merchant_uid: &Value, amount: i64, notice_url: Option<&str>) -> Value {
        self.client
            .checkout(&Checkout {
                merchant_uid: merchant_uid.as_str().unwrap_or_default(),
                amount,
                card: TEST_CARD,
                notice_url,
                ignore_prepare: false,
            })
            .await
            .expect("checkout")
    }

    /// One whole booking of `seat` by a new customer: hold, prepare, pay
    /// with a test card (the webhook reaches the gateway and is verified);
    /// the reservation id.
    pub async fn book(&self, performance: Uuid, seat: &Value) -> String {
        let customer = self.customer(performance);
        let held = self.hold_as(&customer, performance, seat).await;
        let merchant = self.prepare_as(&customer, &held).await;
        let paid = self
            .pay(&merchant, held["amount"].as_i64().unwrap_or(0), None)
            .await;
        assert_eq!(
            paid["webhook"]["status"], 200,
            "the payment is verified: {paid}"
        );
        held["reservation_id"].as_str().expect("id").to_owned()
    }

    /// The customer's view of one reservation.
    pub async fn reservation(&self, token: &str, reservation: &str) -> Answer {
        self.client
            .reservation(token, reservation)
            .await
            .expect("the gateway answers")
    }

    /// Waits until the reservation has `status`; returns it.
    pub async fn reservation_becomes(&self, token: &str, reservation: &str, status: &str) -> Value {
        self.client
            .reservation_until(token, reservation, PATIENCE, |r| r["status"] == status)
            .await
            .unwrap_or_else(|e| panic!("reservation never became {status}: {e}"))
    }

    /// Waits until every listed seat shows `status` in the (cached) seat map.
    pub async fn seats_become(&self, performance: Uuid, seats: &[Uuid], status: &str) {
        let mut last = Value::Null;
        for _ in 0..300 {
            let map = self.seat_map(performance).await;
            let all = seats.iter().all(|id| {
                map["seats"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["id"] == id.to_string() && s["status"] == status)
            });
            if all {
                return;
            }
            last = map;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("seats never became {status}: {last}");
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
    /// A reservation's status and the imp_uid of the payment that
    /// confirmed it (none unless confirmed), as reservation-service holds them.
    pub async fn paid_by(&self, id: &str) -> (String, Option<String>) {
        let pool = self.env.pool(Some("reservation_service"));
        let row: (String, Option<String>) =
            sqlx::query_as("SELECT status, imp_uid FROM reservations WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("reservation");
        pool.close().await;
        row
    }

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

    /// A payment counter from a service's `/metrics` (dots as
    /// underscores), summed over this stack's payments (its sandbox's
    /// `pg_provider`) whose labels contain `label` ("" for all). The
    /// counters are per process and other tests pay in the same one.
    pub async fn payment_counter(&self, service: ServiceName, name: &str, label: &str) -> f64 {
        let pg = format!("pg_provider=\"{}\"", sandbox_pg(&self.env));
        let mut url = self.settings.services.endpoint(service).url.clone();
        url.set_path("/metrics");
        let text = self
            .http
            .get(url)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(label) && l.contains(&pg))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
