//! Seat maps cached in Redis (partial CQRS): reads come from here when they
//! can, and a performance's entry is dropped whenever one of its seats
//! changes state.

use redis::AsyncCommands;
use ticketing_redis::Redis;
use uuid::Uuid;

use crate::repository::SeatMap;

/// Seat maps in Redis under `seatmap:<performance id>`.
#[derive(Clone)]
pub(crate) struct SeatMapCache {
    redis: Redis,
    ttl_seconds: u64,
}

impl SeatMapCache {
    pub(crate) fn new(redis: Redis, ttl_seconds: u64) -> SeatMapCache {
        SeatMapCache { redis, ttl_seconds }
    }

    fn key(&self, performance: Uuid) -> String {
        self.redis.key(&format!("seatmap:{performance}"))
    }

    /// The cached map; Redis trouble counts as a miss (the database answers).
    pub(crate) async fn get(&self, performance: Uuid) -> Option<SeatMap> {
        let mut conn = self.redis.conn().await.ok()?;
        let raw: Option<String> = conn.get(self.key(performance)).await.ok()?;
        raw.and_then(|r| serde_json::from_str(&r).ok())
    }

    pub(crate) async fn put(&self, map: &SeatMap) {
        let Ok(json) = serde_json::to_string(map) else {
            return;
        };
        if let Ok(mut conn) = self.redis.conn().await {
            let stored: Result<(), _> = conn
                .set_ex(self.key(map.performance_id), json, self.ttl_seconds)
                .await;
            if let Err(e) = stored {
                tracing::debug!(error = %e, "seat map not cached");
            }
        }
    }

    pub(crate) async fn invalidate(&self, performance: Uuid) {
        match self.redis.conn().await {
            Ok(mut conn) => {
                let dropped: Result<(), _> = conn.del(self.key(performance)).await;
                if let Err(e) = dropped {
                    tracing::warn!(%performance, error = %e, "seat map cache not invalidated; it expires by TTL");
                }
            }
            Err(e) => {
                tracing::warn!(%performance, error = %e, "seat map cache not invalidated; it expires by TTL")
            }
        }
    }
}
