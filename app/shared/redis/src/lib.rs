//! Redis access for cache, waiting rooms and locks.
//!
//! Every key goes through [`Redis::key`], which prepends the configured
//! prefix, so tests (and, if ever needed, environments) sharing one server
//! never see each other's keys.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ticketing_config::RedisSettings;
use ticketing_health::Probe;
use tokio::sync::OnceCell;

pub use redis;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis.url `{url}` is not usable: {source}")]
    BadUrl {
        url: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("Redis is unreachable: {0}")]
    Unreachable(#[source] redis::RedisError),
    #[error("Redis command failed: {0}")]
    Command(#[from] redis::RedisError),
}

/// A cheap-to-clone handle; the connection is made on first use and
/// re-established by the connection manager after a failure.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    prefix: Arc<str>,
    manager: Arc<OnceCell<ConnectionManager>>,
    timeout: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    pub fn new(settings: &RedisSettings) -> Result<Redis, RedisError> {
        let client =
            redis::Client::open(settings.url.as_str()).map_err(|source| RedisError::BadUrl {
                url: settings.url.to_string(),
                source,
            })?;
        Ok(Redis {
            client,
            prefix: Arc::from(settings.key_prefix.as_str()),
            manager: Arc::new(OnceCell::new()),
            timeout: Duration::from_secs(2),
        })
    }

    /// The physical key for a logical one.
    pub fn key(&self, logical: &str) -> String {
        format!("{}{}", self.prefix, logical)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A multiplexed connection; cloning it is cheap.
    pub async fn conn(&self) -> Result<ConnectionManager, RedisError> {
        let timeout = self.timeout;
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await
            .map_err(RedisError::Unreachable)?;
        Ok(manager.clone())
    }

    /// `PING`, for readiness and `opsctl status`.
    pub async fn ping(&self) -> Result<(), RedisError> {
        let mut conn = self.conn().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Deletes every key under this handle's prefix (tests clean up with it).
    /// Refuses an empty prefix, which would mean the whole database.
    pub async fn delete_prefixed(&self) -> Result<u64, RedisError> {
        if self.prefix.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn().await?;
        let pattern = format!("{}*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
                deleted += n;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(deleted)
    }
}

/// A readiness probe for `redis`.
pub fn probe(name: impl Into<String>, redis: Redis) -> Probe {
    Probe::new(name, move || {
        let redis = redis.clone();
        async move { redis.ping().await.map(|_| None).map_err(|e| e.to_string()) }
    })
}
