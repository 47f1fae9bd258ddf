//! The context a service is built from. The launcher (the `ticketing`
//! binary, or a test) makes one per service; the service takes what it
//! needs and names the probes that decide its readiness.

pub mod recaptcha;

use std::time::Duration;

use sqlx::PgPool;
use ticketing_catalog::ServiceName;
use ticketing_config::{Secrets, Settings};
use ticketing_health::Probe;
use ticketing_redis::Redis;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Config(#[from] ticketing_config::ConfigError),
    #[error(transparent)]
    Db(#[from] ticketing_db::DbError),
    #[error(transparent)]
    Redis(#[from] ticketing_redis::RedisError),
    #[error("building the HTTP client failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the outbox relay could not start: {0}")]
    Relay(#[from] ticketing_messaging::relay::RelayError),
    #[error("an event consumer could not start: {0}")]
    Consumer(#[from] ticketing_messaging::consumer::ConsumerError),
    #[error("{service} has no database schema")]
    NoSchema { service: ServiceName },
}

/// How long a call to another service (or an external API) may take to
/// answer: the HTTP client's timeout, and the gateway's for a service it
/// calls in process.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything one service needs to start.
#[derive(Clone, Debug)]
pub struct ServiceContext {
    pub service: ServiceName,
    pub settings: Settings,
    pub secrets: Secrets,
    /// A pool whose `search_path` is the service's schema (none for the gateway).
    pub db: Option<PgPool>,
    pub redis: Redis,
    /// For calls to other services and to external APIs.
    pub http: reqwest::Client,
    /// Cancelled when the service is to stop; background tasks watch it.
    pub shutdown: CancellationToken,
    /// The other services this process serves (the gateway calls them
    /// without a socket); none when the service runs alone.
    pub co_located: ticketing_http::CoLocated,
}

impl ServiceContext {
    /// Prepares connections lazily: nothing here waits for a dependency, so a
    /// service starts (not ready) while one is down.
    pub fn new(
        service: ServiceName,
        settings: Settings,
        secrets: Secrets,
    ) -> Result<ServiceContext, RuntimeError> {
        let db = match service.schema() {
            Some(schema) => Some(ticketing_db::lazy_pool(
                &settings.database,
                secrets.database_password.as_ref(),
                Some(schema),
            )?),
            None => None,
        };
        let redis = Redis::new(&settings.redis)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(UPSTREAM_TIMEOUT)
            .build()?;
        Ok(ServiceContext {
            service,
            settings,
            secrets,
            db,
            redis,
            http,
            shutdown: CancellationToken::new(),
            co_located: ticketing_http::CoLocated::default(),
        })
    }

    /// Opens the pool's `database.min_connections` in the background, so
    /// the first requests do not wait on them (none for the gateway).
    pub fn warm_pool(&self) {
        if let Some(pool) = self.db.clone() {
            let n = self.settings.database.min_connections;
            tokio::spawn(async move { ticketing_db::warm(&pool, n).await });
        }
    }

    /// The same context stopping with `shutdown`.
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> ServiceContext {
        self.shutdown = shutdown;
        self
    }

    /// The same context seeing the services of `co_located`.
    pub fn with_co_located(mut self, co_located: ticketing_http::CoLocated) -> ServiceContext {
        self.co_located = co_located;
        self
    }

    /// The service's pool; an error for the gateway, which has none.
    pub fn db(&self) -> Result<&PgPool, RuntimeError> {
        self.db.as_ref().ok_or(RuntimeError::NoSchema {
            service: self.service,
        })
    }

    pub fn postgres_probe(&self) -> Result<Probe, RuntimeError> {
        Ok(ticketing_db::probe("postgres", self.db()?.clone()))
    }

    pub fn redis_probe(&self) -> Probe {
        ticketing_redis::probe("redis", self.redis.clone())
    }

    pub fn kafka_probe(&self) -> Probe {
        ticketing_kafka::probe("kafka", self.settings.kafka.clone())
    }

    /// Issues and verifies access tokens (`JWT_SIGNING_KEY`).
    pub fn authenticator(&self) -> ticketing_http::Authenticator {
        ticketing_http::Authenticator::new(
            ticketing_tokens::Keyring::new(&self.secrets.jwt_signing_key, &[]),
            self.settings.booking.jwt_issuer.clone(),
            self.settings.booking.access_token_ttl_seconds,
        )
    }

    /// Signs and verifies `qr_`/`qp_` tokens (`QUEUE_TOKEN_SIGNING_KEY`).
    pub fn queue_keys(&self) -> ticketing_tokens::Keyring {
        ticketing_tokens::Keyring::new(&self.secrets.queue_token_signing_key, &[])
    }

    pub fn recaptcha(&self) -> recaptcha::Recaptcha {
        recaptcha::Recaptcha::new(
            &self.settings.booking,
            self.secrets.recaptcha_secret.clone(),
            self.http.clone(),
        )
    }

    /// The PortOne V1 client, with the `ticketing/<env>/portone` keys.
    ///
    /// Only the services that call PortOne need its keys; for them a missing
    /// key is an error at start.
    pub fn portone(&self) -> Result<ticketing_portone::PortOne, RuntimeError> {
        let (key, secret) = self.secrets.portone_keys()?;
        Ok(ticketing_portone::PortOne::new(
            self.http.clone(),
            &self.settings.portone,
            key,
            secret,
        ))
    }

    /// This service's outbox relay as a background task.
    pub fn outbox_relay(
        &self,
    ) -> Result<impl std::future::Future<Output = ()> + Send + 'static, RuntimeError> {
        let schema = self.service.schema().ok_or(RuntimeError::NoSchema {
            service: self.service,
        })?;
        Ok(ticketing_messaging::relay_task(
            self.db()?.clone(),
            schema,
            self.settings.kafka.clone(),
            self.shutdown.clone(),
        )?)
    }

    /// The consumer of this service's topics (`ServiceName::consumes`) as a
    /// background task. The
    /// group is the service name behind the topic prefix (`reservation-service`
    /// in AWS; tests' prefixes keep their groups apart).
    pub fn event_consumer<H: ticketing_messaging::consumer::Handler>(
        &self,
        handler: H,
    ) -> Result<impl std::future::Future<Output = ()> + Send + 'static, RuntimeError> {
        let group = self.settings.kafka.topic(self.service.as_str());
        let options =
            ticketing_messaging::consumer::ConsumerOptions::new(&group, self.service.consumes());
        Ok(ticketing_messaging::consumer_task(
            self.db()?.clone(),
            self.settings.kafka.clone(),
            handler,
            options,
            self.shutdown.clone(),
        )?)
    }

    /// Applies the service's migrations to its schema, waiting up to `wait`
    /// for PostgreSQL.
    pub async fn migrate(
        &self,
        migrator: &sqlx::migrate::Migrator,
        wait: Duration,
    ) -> Result<(), RuntimeError> {
        let schema = self.service.schema().ok_or(RuntimeError::NoSchema {
            service: self.service,
        })?;
        ticketing_db::migrate(self.db()?, &self.settings.database, schema, migrator, wait).await?;
        Ok(())
    }
}
