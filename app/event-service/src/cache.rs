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

    /// The cached map as the JSON it is served as (not parsed into a
    /// `SeatMap` and written out again: a read is one Redis GET and one
    /// copy). Redis trouble, or a value that is not a JSON object (only
    /// `put` writes this key, so a check of its ends suffices: parsing it
    /// on every read cost a sixth of the read), counts as a miss (the
    /// database answers).
    pub(crate) async fn get_json(&self, performance: Uuid) -> Option<String> {
        let mut conn = self.redis.conn().await.ok()?;
        let raw: Option<String> = conn.get(self.key(performance)).await.ok()?;
        raw.filter(|r| r.starts_with('{') && r.ends_with('}'))
    }

    /// Caches `map`; returns its JSON (to serve without writing it twice).
    pub(crate) async fn put(&self, map: &SeatMap) -> Option<String> {
        let json = serde_json::to_string(map).ok()?;
        if let Ok(mut conn) = self.redis.conn().await {
            let stored: Result<(), _> = conn
                .set_ex(self.key(map.performance_id), &json, self.ttl_seconds)
                .await;
            if let Err(e) = stored {
                tracing::debug!(error = %e, "seat map not cached");
            }
        }
        Some(json)
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
