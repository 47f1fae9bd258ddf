//! Test isolation on the real local stack (`infra/local/up.sh`).
//!
//! [`TestEnv::new`] gives a test its own PostgreSQL database, its own Redis
//! key prefix and its own Kafka topic prefix, and settings that point at them
//! with every service port set to 0. Tests therefore run in parallel, and
//! [`TestEnv::cleanup`] (or, failing that, `Drop`) removes what they made.
//!
//! Panics here are deliberate: this is test code, and a panic with a clear
//! message is how a test reports that the stack is missing.

mod broker;
mod ports;
mod redis_server;
pub mod task_definitions;

pub use broker::{PrivateBroker, PrivateCluster};
pub use ports::free_port;
pub use redis_server::PrivateRedis;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::PgConnection;
use sqlx::Connection;
use ticketing_catalog::{topics, ServiceName};
use ticketing_config::{Profile, Secrets, Settings};
use ticketing_redis::Redis;

const STACK_HINT: &str = "is the local stack running? start it with infra/local/up.sh";

/// One test's private slice of the local stack.
pub struct TestEnv {
    /// Settings pointing at this test's database, prefixes and port 0.
    pub settings: Settings,
    pub secrets: Secrets,
    /// Short unique id used in every name this test makes.
    pub id: String,
    admin: Settings,
    cleaned: bool,
    topics_created: AtomicBool,
}

impl TestEnv {
    /// Creates the database and computes the prefixes. Topics are created
    /// only on request ([`TestEnv::create_topics`]), as most tests need none.
    pub async fn new() -> TestEnv {
        ticketing_telemetry::init_test_logging();
        let admin = ticketing_config::load(Profile::Local)
            .unwrap_or_else(|e| panic!("local settings do not load: {e}"));
        let secrets = Secrets::from_env(Profile::Local)
            .unwrap_or_else(|e| panic!("local secrets do not load: {e}"));
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let db_name = format!("t_{id}");

        let mut conn = admin_connection(&admin).await;
        sqlx::query(&format!("CREATE DATABASE \"{db_name}\""))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating test database {db_name}: {e}"));
        let _ = conn.close().await;

        let mut settings = admin.clone();
        settings.database.name = db_name;
        settings.database.max_connections = 12;
        settings.redis.key_prefix = format!("t_{id}:");
        settings.kafka.topic_prefix = format!("t_{id}.");
        for service in ServiceName::ALL {
            settings.services.endpoint_mut(service).port = 0;
        }
        TestEnv {
            settings,
            secrets,
            id,
            admin,
            cleaned: false,
            topics_created: AtomicBool::new(false),
        }
    }

    /// A pool on this test's database, scoped to `schema` when given.
    pub fn pool(&self, schema: Option<&str>) -> sqlx::PgPool {
        ticketing_db::lazy_pool(&self.settings.database, None, schema)
            .unwrap_or_else(|e| panic!("test pool: {e}"))
    }

    /// A Redis handle under this test's key prefix.
    pub fn redis(&self) -> Redis {
        Redis::new(&self.settings.redis).unwrap_or_else(|e| panic!("test redis: {e}"))
    }

    /// This test's physical name for a catalog topic.
    pub fn topic(&self, logical: &str) -> String {
        self.settings.kafka.topic(logical)
    }

    /// Creates this test's copies of the catalog topics.
    pub async fn create_topics(&self) {
        self.topics_created.store(true, Ordering::SeqCst);
        ticketing_kafka::ensure_topics(
            &self.settings.kafka,
            &topics::ALL,
            topics::MVP_PARTITIONS,
            topics::MVP_REPLICATION_FACTOR,
        )
        .await
        .unwrap_or_else(|e| panic!("creating test topics: {e} ({STACK_HINT})"));
    }

    /// Removes the database, the Redis keys and the topics this test made.
    pub async fn cleanup(mut self) {
        self.cleaned = true;
        cleanup(
            &self.admin,
            &self.settings,
            self.topics_created.load(Ordering::SeqCst),
        )
        .await;
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        // A test that failed before calling cleanup still leaves nothing
        // behind: clean up on a thread with its own runtime.
        let admin = self.admin.clone();
        let settings = self.settings.clone();
        let topics = self.topics_created.load(Ordering::SeqCst);
        let worker = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(cleanup(&admin, &settings, topics));
            }
        });
        let _ = worker.join();
    }
}

async fn admin_connection(admin: &Settings) -> PgConnection {
    let options = ticketing_db::connect_options(&admin.database, None, None)
        .unwrap_or_else(|e| panic!("admin connect options: {e}"));
    tokio::time::timeout(
        Duration::from_secs(10),
        PgConnection::connect_with(&options),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "PostgreSQL at {}:{} did not answer in 10 s; {STACK_HINT}",
            admin.database.host, admin.database.port
        )
    })
    .unwrap_or_else(|e| {
        panic!(
            "cannot connect to PostgreSQL at {}:{}: {e}; {STACK_HINT}",
            admin.database.host, admin.database.port
        )
    })
}

async fn cleanup(admin: &Settings, settings: &Settings, topics_created: bool) {
    if let Ok(options) = ticketing_db::connect_options(&admin.database, None, None) {
        if let Ok(mut conn) = PgConnection::connect_with(&options).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                settings.database.name
            ))
            .execute(&mut conn)
            .await;
            let _ = conn.close().await;
        }
    }
    if let Ok(redis) = Redis::new(&settings.redis) {
        let _ = tokio::time::timeout(Duration::from_secs(5), redis.delete_prefixed()).await;
    }
    if topics_created {
        let names: Vec<String> = topics::ALL
            .iter()
            .map(|t| settings.kafka.topic(t))
            .collect();
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            ticketing_kafka::delete_topics(&settings.kafka, &names),
        )
        .await;
    }
}

/// Deletes every test topic (`t_<id>.` prefix) on the broker of `settings`;
/// returns how many. Tests delete their own topics; this catches what a
/// killed test run left behind (infra/local/test.sh runs it at the end).
pub async fn sweep_test_topics(settings: &Settings) -> Result<usize, ticketing_kafka::KafkaError> {
    let info = ticketing_kafka::cluster_info(&settings.kafka).await?;
    let names: Vec<String> = info
        .topics
        .into_iter()
        .map(|t| t.name)
        .filter(|n| n.starts_with("t_") && n.contains('.'))
        .collect();
    ticketing_kafka::delete_topics(&settings.kafka, &names).await?;
    Ok(names.len())
}
