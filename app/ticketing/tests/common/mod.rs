//! The whole platform on the real local stack, with a PortOne sandbox of the
//! test's own, driven through the gateway like a browser. The platform runs
//! in the test's process ([`Stack::start`]) or as the real `ticketing serve`
//! process ([`Stack::start_process`]), which a test can kill -9 and restart.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use portone_sandbox::{RunningSandbox, SandboxConfig};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use ticketing::Platform;
use ticketing_catalog::ServiceName;
use ticketing_config::Settings;
use ticketing_testkit::TestEnv;
use uuid::Uuid;

pub struct Stack {
    pub env: TestEnv,
    /// The settings the platform runs with (real bound URLs).
    pub settings: Settings,
    /// The in-process platform ([`Stack::start`]).
    pub platform: Option<Platform>,
    /// The `ticketing serve` process ([`Stack::start_process`]).
    pub process: Option<ServeProcess>,
    pub sandbox: RunningSandbox,
    pub gateway: String,
    pub http: reqwest::Client,
}

/// `ticketing serve` as a child process, configured by a settings file
/// (`TICKETING_CONFIG_FILE`) written from the test's settings.
pub struct ServeProcess {
    config: std::path::PathBuf,
    log: std::path::PathBuf,
    child: Option<tokio::process::Child>,
}

impl ServeProcess {
    async fn spawn(settings: &Settings, dir: &std::path::Path) -> ServeProcess {
        std::fs::create_dir_all(dir).expect("process dir");
        let config = dir.join("settings.toml");
        std::fs::write(
            &config,
            toml::to_string(settings).expect("settings serialise to TOML"),
        )
        .expect("settings file");
        let mut process = ServeProcess {
            config,
            log: dir.join("ticketing.log"),
            child: None,
        };
        process.start().await;
        process
    }

    /// Starts `ticketing serve` (again) and waits until the gateway is ready.
    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketing"))
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl Stack {
    /// Starts everything, the platform in this process; `tune` adjusts the
    /// settings first.
    pub async fn start(tune: impl FnOnce(&mut Settings)) -> Stack {
        let (env, sandbox, settings) = Stack::setup(tune).await;
        let platform = ticketing::start(settings, env.secrets.clone(), &ServiceName::ALL)
            .await
            .expect("platform starts");
        let settings = platform.settings.clone();
        Stack::assemble(env, sandbox, settings, Some(platform), None)
    }

    /// Starts everything, the platform as a `ticketing serve` process on free
    /// ports; `tune` adjusts the settings first (the topics are created on
    /// the broker the tuned settings name).
    pub async fn start_process(tune: impl FnOnce(&mut Settings)) -> Stack {
        let (env, sandbox, mut settings) = Stack::setup(tune).await;
        for service in ServiceName::ALL {
            let endpoint = settings.services.endpoint_mut(service);
            endpoint.port = free_port();
            endpoint.url = format!("http://127.0.0.1:{}", endpoint.port)
                .parse()
                .expect("url");
        }
        let dir = std::env::temp_dir().join(format!("ticketing-serve-{}", env.id));
        let process = ServeProcess::spawn(&settings, &dir).await;
        let stack = Stack::assemble(env, sandbox, settings, None, Some(process));
        stack.wait_ready().await;
        stack
    }

    /// Waits up to 60 s for the gateway's readiness.
    pub async fn wait_ready(&self) {
        for _ in 0..600 {
            if let Ok(r) = self
                .http
                .get(format!("{}/ready", self.gateway))
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
        let gateway = settings
            .services
            .endpoint(ServiceName::ApiGateway)
            .url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        Stack {
            env,
            settings,
            platform,
            process,
            sandbox,
            gateway,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    async fn setup(tune: impl FnOnce(&mut Settings)) -> (TestEnv, RunningSandbox, Settings) {
        let env = TestEnv::new().await;
        let sandbox = portone_sandbox::start(
            "127.0.0.1",
            0,
            SandboxConfig::new(
                env.secrets.portone_api_key.expose_secret(),
                env.secrets.portone_api_secret.expose_secret(),
            ),
        )
        .await
        .expect("sandbox starts");
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

    pub async fn stop(mut self) {
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
        self.env.cleanup().await;
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
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.gateway));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// A verified person signs up and logs in; returns the access token.
    pub async fn user(&self, person: &str) -> String {
        let certification: Value = self
            .http
            .post(
                self.sandbox
                    .url
                    .join("/sandbox/certifications")
                    .expect("url"),
            )
            .json(&json!({"person": person, "name": person}))
            .send()
            .await
            .expect("certify")
            .json()
            .await
            .expect("json");
        let imp_uid = certification["response"]["imp_uid"]
            .as_str()
            .expect("imp_uid")
            .to_owned();
        let email = format!("{person}@example.com");
        let signup = self
            .call(
                "POST",
                "/api/users/signup",
                None,
                &[],
                Some(json!({"email": email, "password": "correct horse battery", "certification_imp_uid": imp_uid, "recaptcha_token": "test-pass"})),
            )
            .await;
        assert_eq!(signup.status, 201, "sign-up: {}", signup.body);
        let login = self
            .call(
                "POST",
                "/api/users/login",
                None,
                &[],
                Some(json!({"email": email, "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(login.status, 200, "login: {}", login.body);
        login.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// A performance with one section; returns its id and seat ids.
    pub async fn performance(
        &self,
        token: &str,
        rows: u32,
        per_row: u32,
        price: i64,
    ) -> (Uuid, Vec<Uuid>) {
        let created = self
            .call(
                "POST",
                "/api/events",
                Some(token),
                &[],
                Some(json!({
                    "title": "Test Concert", "venue": "Olympic Hall", "starts_at": "2027-05-01T19:00:00Z",
                    "sections": [{"name": "R", "rows": rows, "seats_per_row": per_row, "price": price}]
                })),
            )
            .await;
        assert_eq!(created.status, 201, "performance: {}", created.body);
        let id: Uuid = serde_json::from_value(created.body["id"].clone()).expect("id");
        let seats = self.seat_map(id).await;
        let ids = seats["seats"]
            .as_array()
            .expect("seats")
            .iter()
            .map(|s| serde_json::from_value(s["id"].clone()).expect("seat id"))
            .collect();
        (id, ids)
    }

    pub async fn seat_map(&self, performance: Uuid) -> Value {
        let map = self
            .call(
                "GET",
                &format!("/api/events/{performance}/seats"),
                None,
                &[],
                None,
            )
            .await;
        assert_eq!(map.status, 200, "seat map: {}", map.body);
        map.body
    }

    /// Enters the waiting room and waits to be admitted; returns the `qr_` token.
    pub async fn admitted(&self, token: &str, performance: Uuid) -> String {
        let entered = self
            .call(
                "POST",
                &format!("/api/queue/{performance}/enter"),
                Some(token),
                &[],
                Some(json!({"recaptcha_token": "test-pass"})),
            )
            .await;
        assert!(
            entered.status == 202 || entered.status == 200,
            "enter: {}",
            entered.body
        );
        let mut status = entered.body;
        for _ in 0..100 {
            if status["status"] == "admitted" {
                return status["reservation_token"].as_str().expect("qr").to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            status = self
                .call(
                    "GET",
                    &format!("/api/queue/{performance}/status"),
                    Some(token),
                    &[],
                    None,
                )
                .await
                .body;
        }
        panic!("never admitted: {status}");
    }

    /// Holds seats; returns the answer.
    pub async fn hold(&self, token: &str, qr: &str, performance: Uuid, seats: &[Uuid]) -> Answer {
        self.call(
            "POST",
            "/api/reservations",
            Some(token),
            &[("x-queue-token", qr)],
            Some(json!({"performance_id": performance, "seat_ids": seats})),
        )
        .await
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
            .call(
                "POST",
                "/api/payments/prepare",
                Some(token),
                &[],
                Some(json!({"payment_token": qp})),
            )
            .await;
        assert_eq!(prepared.status, 200, "prepare: {}", prepared.body);
        prepared.body["merchant_uid"]
            .as_str()
            .expect("merchant")
            .to_owned()
    }

    /// The customer pays in the sandbox's checkout; the webhook goes to the gateway.
    pub async fn checkout(
        &self,
        merchant_uid: &str,
        amount: i64,
        card: &str,
        ignore_prepare: bool,
    ) -> Value {
        self.http
            .post(self.sandbox.url.join("/sandbox/checkout").expect("url"))
            .json(&json!({
                "merchant_uid": merchant_uid, "amount": amount, "card_number": card,
                "notice_url": format!("{}/webhooks/portone", self.gateway),
                "ignore_prepare": ignore_prepare,
            }))
            .send()
            .await
            .expect("checkout")
            .json()
            .await
            .expect("outcome")
    }

    /// The customer's view of one reservation.
    pub async fn reservation(&self, token: &str, reservation: &str) -> Answer {
        self.call(
            "GET",
            &format!("/api/reservations/{reservation}"),
            Some(token),
            &[],
            None,
        )
        .await
    }

    /// Waits until the reservation has `status`; returns it.
    pub async fn reservation_becomes(&self, token: &str, reservation: &str, status: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..300 {
            let r = self.reservation(token, reservation).await;
            if r.body["status"] == status {
                return r.body;
            }
            last = r.body;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("reservation never became {status}: {last}");
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

    /// A counter from a service's `/metrics` (dots as underscores), summed
    /// over labels containing `label` ("" for all).
    pub async fn counter(&self, service: ServiceName, name: &str, label: &str) -> f64 {
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
            .filter(|l| l.starts_with(name) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
