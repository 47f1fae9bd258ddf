//! The settings tree. Every section denies unknown keys, so a typo in a
//! profile file or an environment variable stops start-up instead of being
//! silently ignored.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ticketing_catalog::ServiceName;
use url::Url;

use crate::{ConfigError, Profile};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub profile: Profile,
    pub telemetry: TelemetrySettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub kafka: KafkaSettings,
    pub aws: AwsSettings,
    pub services: ServicesSettings,
    pub portone: PortOneSettings,
    /// Tunables of the booking flow (tokens, queue, holds, gateway limits).
    #[serde(default)]
    pub booking: BookingSettings,
    /// Local-stack facts used by the scripts and `opsctl` (absent in AWS).
    #[serde(default)]
    pub stack: Option<StackSettings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line, for CloudWatch Logs.
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// A `tracing` filter directive; `RUST_LOG` wins when set.
    pub log_level: String,
    /// Where the metrics go as CloudWatch Embedded Metric Format documents
    /// (next to Prometheus `/metrics`): `tcp://HOST:PORT` (the CloudWatch
    /// agent's EMF listener: the task's sidecar in AWS, the local stack's
    /// stand-in on this machine) or `stdout`. Unset: no EMF.
    #[serde(default)]
    pub emf_endpoint: Option<String>,
    /// Seconds between EMF flushes (each flush is one document per
    /// dimension set; CloudWatch's finest standard resolution is 60 s).
    #[serde(default = "default_emf_interval")]
    pub emf_interval_seconds: u64,
    /// The `environment` dimension of every metric (default: the profile),
    /// which alarms, dashboards and `opsctl` read.
    #[serde(default)]
    pub environment: Option<String>,
    /// The log group the CloudWatch agent writes the EMF documents to
    /// (`_aws.LogGroupName`); the task definitions set the service's own.
    #[serde(default)]
    pub emf_log_group: Option<String>,
}

fn default_emf_interval() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The database; each service uses its own schema in it (ADR-001).
    pub name: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Connections each pool opens when its service starts and keeps open:
    /// the first burst of a fresh task (a sale opening) then does not wait
    /// on TLS handshakes and SCRAM authentication (benches/profiles/holds.md).
    #[serde(default = "default_min_connections")]
    pub min_connections: u32,
    #[serde(default = "default_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How the server's TLS certificate is checked (libpq's `sslmode`).
    #[serde(default)]
    pub ssl_mode: DbSslMode,
    /// The CA certificates (PEM) that `verify-ca` and `verify-full` trust:
    /// in the image, the RDS bundle at [`RDS_CA_BUNDLE_PATH`].
    #[serde(default)]
    pub ssl_root_cert: Option<std::path::PathBuf>,
}

/// Where the image carries Amazon RDS's certificate authorities
/// (infra/image/rds-ca-bundle.pem, copied by infra/image/build.sh).
pub const RDS_CA_BUNDLE_PATH: &str = "/etc/ticketing/rds-ca-bundle.pem";

/// libpq's `sslmode` values, as PostgreSQL's documentation names them
/// ("SSL Support", table "SSL Mode Descriptions").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbSslMode {
    Disable,
    Allow,
    /// TLS when the server offers it, the certificate unchecked (libpq's default).
    #[default]
    Prefer,
    Require,
    /// The certificate must chain to `ssl_root_cert`. With sqlx 0.8.6 and
    /// rustls 0.23.24 or later the name is checked too, as in `verify-full`
    /// (launchbadge/sqlx issue 3793): it fails closed. The profiles use
    /// `verify-full`.
    VerifyCa,
    /// As `verify-ca`, and the certificate must name the host connected to.
    VerifyFull,
}

impl DbSslMode {
    /// Whether the mode checks the certificate (and so needs a root).
    pub fn verifies(self) -> bool {
        matches!(self, DbSslMode::VerifyCa | DbSslMode::VerifyFull)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DbSslMode::Disable => "disable",
            DbSslMode::Allow => "allow",
            DbSslMode::Prefer => "prefer",
            DbSslMode::Require => "require",
            DbSslMode::VerifyCa => "verify-ca",
            DbSslMode::VerifyFull => "verify-full",
        }
    }
}

impl DatabaseSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: Url,
    /// Prepended to every key (tests use it to stay apart).
    #[serde(default)]
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Prepended to every topic name (tests use it to stay apart).
    #[serde(default)]
    pub topic_prefix: String,
    pub client_id: String,
    #[serde(default = "default_timeout_ms")]
    pub request_timeout_ms: u64,
    /// `host:port` of ZooKeeper, for the four-letter-word checks of
    /// `opsctl kafka health` (unset for KRaft brokers and the local stack).
    #[serde(default)]
    pub zookeeper: Option<String>,
}

impl KafkaSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The physical name of a catalog topic.
    pub fn topic(&self, logical: &str) -> String {
        format!("{}{}", self.topic_prefix, logical)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    pub region: String,
    /// An AWS API emulator (moto server) on the local stack; unset in AWS.
    #[serde(default)]
    pub endpoint_url: Option<Url>,
    /// An OCI registry standing in for ECR's registry endpoint on the local
    /// stack (`opsctl deploy` pushes there); unset in AWS, where the
    /// endpoint is the one ECR's GetAuthorizationToken names.
    #[serde(default)]
    pub registry_url: Option<Url>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEndpoint {
    /// Port the service listens on (0 picks a free one; tests do that).
    pub port: u16,
    /// Where other services and `opsctl` reach it.
    pub url: Url,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesSettings {
    pub bind_host: String,
    pub api_gateway: ServiceEndpoint,
    pub user_service: ServiceEndpoint,
    pub event_service: ServiceEndpoint,
    pub queue_service: ServiceEndpoint,
    pub reservation_service: ServiceEndpoint,
    pub payment_service: ServiceEndpoint,
}

impl ServicesSettings {
    pub fn endpoint(&self, service: ServiceName) -> &ServiceEndpoint {
        match service {
            ServiceName::ApiGateway => &self.api_gateway,
            ServiceName::UserService => &self.user_service,
            ServiceName::EventService => &self.event_service,
            ServiceName::QueueService => &self.queue_service,
            ServiceName::ReservationService => &self.reservation_service,
            ServiceName::PaymentService => &self.payment_service,
        }
    }

    pub fn endpoint_mut(&mut self, service: ServiceName) -> &mut ServiceEndpoint {
        match service {
            ServiceName::ApiGateway => &mut self.api_gateway,
            ServiceName::UserService => &mut self.user_service,
            ServiceName::EventService => &mut self.event_service,
            ServiceName::QueueService => &mut self.queue_service,
            ServiceName::ReservationService => &mut self.reservation_service,
            ServiceName::PaymentService => &mut self.payment_service,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortOneMode {
    /// No real money moves; test cards, 1-won payments, instant refunds.
    Test,
    /// Real payments under a PG contract.
    Production,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortOneSettings {
    /// `https://api.iamport.kr` in AWS; the sandbox on the local stack.
    pub base_url: Url,
    /// Merchant code `imp...`.
    pub imp_code: String,
    pub mode: PortOneMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecaptchaMode {
    /// No Google: tokens starting with `test-pass` pass, anything else fails.
    Test,
    /// Google's siteverify API with `RECAPTCHA_SECRET`.
    Google,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BookingSettings {
    /// `iss` of access tokens.
    pub jwt_issuer: String,
    pub access_token_ttl_seconds: i64,
    /// Users let out of each waiting room per admission interval.
    pub queue_admit_per_interval: u32,
    pub queue_admit_interval_ms: u64,
    /// The longest a waiting customer is told to wait before asking again
    /// (`refresh_after_seconds`: their estimated wait, within 1 s and
    /// this). Below `reservation_token_ttl_seconds`, so an admission is
    /// seen long before it lapses.
    pub queue_refresh_max_seconds: u64,
    /// Lifetime of a `qr_` reservation token.
    pub reservation_token_ttl_seconds: i64,
    /// How long held seats wait for payment before they are released.
    pub hold_ttl_seconds: i64,
    pub max_seats_per_hold: u32,
    /// The most seats one customer may hold or own for one performance,
    /// across all their orders (PENDING and CONFIRMED).
    pub max_seats_per_user: u32,
    /// How often expired holds are looked for.
    pub expiry_sweep_interval_ms: u64,
    /// An order still waiting for its webhook this long after it was
    /// prepared is looked up at PortOne (a lost webhook). Below
    /// `hold_ttl_seconds`, so a paid order is confirmed before its hold ends.
    pub payment_check_after_seconds: i64,
    /// How often orders waiting for a webhook are swept.
    pub payment_sweep_interval_ms: u64,
    /// How often payment-service walks PortOne's own list of paid payments
    /// (the ledger) and settles every one that names our orders, whatever
    /// their state: a paid payment no webhook or order accounts for is
    /// confirmed or refunded.
    pub payment_ledger_interval_ms: u64,
    /// How far back each walk of the ledger looks (payments started since).
    pub payment_ledger_window_seconds: i64,
    pub seat_map_cache_ttl_seconds: u64,
    /// Requests per second one client may make through the gateway.
    pub rate_limit_per_second: u32,
    /// PortOne notices per second one source address may post to
    /// `/webhooks/portone` (a bucket of its own, apart from the API's):
    /// every notice costs a PortOne look-up with our keys, so a flood from
    /// one address is refused 429 rather than passed on. A source in
    /// `webhook_sources` is never limited.
    pub webhook_rate_limit_per_second: u32,
    /// The networks PortOne sends its notices from (CIDRs, as PortOne lists
    /// them to its merchants): their notices are never rate limited, so no
    /// flood from elsewhere can hold PortOne's own back. Empty: every source
    /// is limited alike, and a PortOne notice refused at a peak is still
    /// settled by the ledger walk (`payment_ledger_interval_ms`).
    pub webhook_sources: Vec<ipnet::IpNet>,
    /// Proxies in front of the gateway that append the address they got
    /// a request from to `X-Forwarded-For` (1 on AWS: the ALB; 0 locally,
    /// where the header is the client's own claim and ignored). Who "the
    /// client" is for the rate limit and reCAPTCHA
    /// (`ticketing_http::client_address`).
    pub trusted_proxies: usize,
    /// Origins of the separately hosted front end (CORS); empty for none.
    pub cors_origins: Vec<String>,
    pub recaptcha_mode: RecaptchaMode,
    pub recaptcha_verify_url: Url,
    pub recaptcha_min_score: f64,
}

impl Default for BookingSettings {
    fn default() -> BookingSettings {
        BookingSettings {
            jwt_issuer: "ticketing".to_owned(),
            access_token_ttl_seconds: 900,
            queue_admit_per_interval: 50,
            queue_admit_interval_ms: 1000,
            queue_refresh_max_seconds: 20,
            reservation_token_ttl_seconds: 600,
            hold_ttl_seconds: 300,
            max_seats_per_hold: 4,
            max_seats_per_user: 4,
            expiry_sweep_interval_ms: 1000,
            payment_check_after_seconds: 60,
            payment_sweep_interval_ms: 10_000,
            payment_ledger_interval_ms: 60_000,
            payment_ledger_window_seconds: 3_600,
            seat_map_cache_ttl_seconds: 60,
            rate_limit_per_second: 50,
            webhook_rate_limit_per_second: 100,
            webhook_sources: Vec::new(),
            trusted_proxies: 0,
            cors_origins: Vec::new(),
            recaptcha_mode: RecaptchaMode::Test,
            recaptcha_verify_url: Url::parse("https://www.google.com/recaptcha/api/siteverify")
                .unwrap_or_else(|_| unreachable!("a valid literal URL")),
            recaptcha_min_score: 0.5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StackSettings {
    /// Where the local stack keeps data, logs and pid files, relative to the
    /// repository root unless absolute.
    pub state_dir: String,
    pub portone_sandbox_port: u16,
    pub moto_port: u16,
    /// The local stand-in for the CloudWatch agent's EMF listener
    /// (`app/emf-agent`): it forwards the platform's metrics to moto.
    #[serde(default = "default_emf_agent_port")]
    pub emf_agent_port: u16,
    /// How `opsctl kafka restart` restarts the local broker (run by `sh -c`
    /// from the repository root).
    #[serde(default = "default_kafka_restart")]
    pub kafka_restart_command: String,
    /// The local Kafka's KRaft controller port.
    pub kafka_controller_port: u16,
    /// The three-broker cluster profile (`stack.sh start kafka-cluster`).
    pub kafka_cluster: KafkaClusterSettings,
}

impl StackSettings {
    /// `state_dir` as a path: relative ones are under the repository root
    /// this crate was built from (the local stack runs from a checkout).
    pub fn state_path(&self) -> std::path::PathBuf {
        let state = std::path::Path::new(&self.state_dir);
        if state.is_absolute() {
            state.to_path_buf()
        } else {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../..")
                .join(state)
        }
    }

    /// The CA that signed the local PostgreSQL's TLS certificate
    /// (infra/local/stack.sh, `make_pg_tls`): what a verify-full client of
    /// the local stack trusts.
    pub fn postgres_ca(&self) -> std::path::PathBuf {
        self.state_path().join("postgres/tls/ca.crt")
    }
}

fn default_emf_agent_port() -> u16 {
    55025
}

/// The local three-broker Kafka cluster profile.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaClusterSettings {
    /// Broker (client) ports of nodes 1, 2 and 3.
    pub ports: Vec<u16>,
    /// KRaft controller ports of nodes 1, 2 and 3.
    pub controller_ports: Vec<u16>,
    pub replication_factor: i32,
    pub min_insync_replicas: i32,
    /// Stops one node (`{node}` is its id), run by `sh -c` from the repository root.
    pub stop_node_command: String,
    /// Starts one node again (`{node}` is its id).
    pub start_node_command: String,
}

impl KafkaClusterSettings {
    /// `host:port` list of the cluster's brokers.
    pub fn bootstrap_servers(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn default_kafka_restart() -> String {
    "infra/local/stack.sh restart kafka".to_owned()
}

fn default_max_connections() -> u32 {
    10
}

fn default_min_connections() -> u32 {
    4
}

fn default_timeout_ms() -> u64 {
    3000
}

impl Settings {
    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_database()?;
        self.validate_connections()?;
        self.validate_booking()?;
        if !self.portone.imp_code.starts_with("imp") {
            return Err(value(
                "portone.imp_code",
                format!("`{}` does not start with `imp`", self.portone.imp_code),
                "a PortOne merchant code like imp12345678",
            ));
        }
        Ok(())
    }

    fn validate_database(&self) -> Result<(), ConfigError> {
        if self.database.host.trim().is_empty() {
            return Err(value(
                "database.host",
                "it is empty".into(),
                "a host name or IP address",
            ));
        }
        if self.database.port == 0 {
            return Err(value(
                "database.port",
                "0 is not a port".into(),
                "a TCP port 1-65535",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(value(
                "database.max_connections",
                "0 would make every query wait forever".into(),
                "an integer of at least 1",
            ));
        }
        if self.database.min_connections > self.database.max_connections {
            return Err(value(
                "database.min_connections",
                format!(
                    "{} is more than max_connections ({})",
                    self.database.min_connections, self.database.max_connections
                ),
                "an integer no larger than database.max_connections",
            ));
        }
        if self.database.ssl_mode.verifies() && self.database.ssl_root_cert.is_none() {
            return Err(value(
                "database.ssl_root_cert",
                format!(
                    "ssl_mode {} checks the server's certificate, but no CA is given",
                    self.database.ssl_mode.as_str()
                ),
                "the path of a PEM file of the CA certificates that signed the server's \
                 (the image carries RDS's at /etc/ticketing/rds-ca-bundle.pem)",
            ));
        }
        Ok(())
    }

    /// Redis, Kafka and AWS.
    fn validate_connections(&self) -> Result<(), ConfigError> {
        if !matches!(self.redis.url.scheme(), "redis" | "rediss") {
            return Err(value(
                "redis.url",
                format!("scheme `{}` is not Redis", self.redis.url.scheme()),
                "a URL like redis://host:6379",
            ));
        }
        for server in self.kafka.bootstrap_servers.split(',') {
            let ok = server
                .trim()
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err(value(
                    "kafka.bootstrap_servers",
                    format!("`{server}` is not host:port"),
                    "a comma-separated list of host:port",
                ));
            }
        }
        if self.kafka.request_timeout_ms == 0 {
            return Err(value(
                "kafka.request_timeout_ms",
                "0 ms".into(),
                "a timeout in milliseconds of at least 1",
            ));
        }
        if self.aws.region.trim().is_empty() {
            return Err(value(
                "aws.region",
                "it is empty".into(),
                "an AWS region such as us-east-1",
            ));
        }
        Ok(())
    }

    fn validate_booking(&self) -> Result<(), ConfigError> {
        let booking = &self.booking;
        for (key, number) in [
            (
                "booking.access_token_ttl_seconds",
                booking.access_token_ttl_seconds,
            ),
            (
                "booking.reservation_token_ttl_seconds",
                booking.reservation_token_ttl_seconds,
            ),
            ("booking.hold_ttl_seconds", booking.hold_ttl_seconds),
            (
                "booking.queue_admit_interval_ms",
                booking.queue_admit_interval_ms as i64,
            ),
            (
                "booking.queue_refresh_max_seconds",
                booking.queue_refresh_max_seconds as i64,
            ),
            (
                "booking.expiry_sweep_interval_ms",
                booking.expiry_sweep_interval_ms as i64,
            ),
            (
                "booking.max_seats_per_hold",
                i64::from(booking.max_seats_per_hold),
            ),
            (
                "booking.max_seats_per_user",
                i64::from(booking.max_seats_per_user),
            ),
            (
                "booking.payment_check_after_seconds",
                booking.payment_check_after_seconds,
            ),
            (
                "booking.payment_sweep_interval_ms",
                booking.payment_sweep_interval_ms as i64,
            ),
            (
                "booking.payment_ledger_interval_ms",
                booking.payment_ledger_interval_ms as i64,
            ),
            (
                "booking.payment_ledger_window_seconds",
                booking.payment_ledger_window_seconds,
            ),
            (
                "booking.rate_limit_per_second",
                i64::from(booking.rate_limit_per_second),
            ),
            (
                "booking.webhook_rate_limit_per_second",
                i64::from(booking.webhook_rate_limit_per_second),
            ),
        ] {
            if number <= 0 {
                return Err(value(
                    key,
                    format!("{number}"),
                    "a whole number of at least 1",
                ));
            }
        }
        if booking.queue_refresh_max_seconds as i64 >= booking.reservation_token_ttl_seconds {
            return Err(value(
                "booking.queue_refresh_max_seconds",
                format!(
                    "{} is not below booking.reservation_token_ttl_seconds ({}): an admitted \
                     customer could ask again only after their admission lapsed",
                    booking.queue_refresh_max_seconds, booking.reservation_token_ttl_seconds
                ),
                "a whole number of seconds below booking.reservation_token_ttl_seconds",
            ));
        }
        if !(0.0..=1.0).contains(&booking.recaptcha_min_score) {
            return Err(value(
                "booking.recaptcha_min_score",
                format!("{}", booking.recaptcha_min_score),
                "a score between 0.0 and 1.0",
            ));
        }
        Ok(())
    }
}

/// A value that is not what its key needs.
fn value(key: &str, problem: String, expected: &str) -> ConfigError {
    ConfigError::Value {
        key: key.to_owned(),
        problem,
        expected: expected.to_owned(),
    }
}
