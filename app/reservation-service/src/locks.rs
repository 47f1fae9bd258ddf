//! Redis markers per seat (ADR-004): they shed contention on a hot seat
//! before the database is asked. The database's unique index decides.

use std::time::Duration;

use ticketing_redis::Redis;
use uuid::Uuid;

/// Redis markers per seat: taken with `SET NX` before a hold is written, kept
/// while the hold lasts, dropped when it ends. Only an accelerator: when Redis
/// is down every request goes to the database, which decides.
#[derive(Clone)]
pub(crate) struct SeatLocks {
    redis: Redis,
}

impl SeatLocks {
    fn key(&self, performance: Uuid, seat: Uuid) -> String {
        self.redis.key(&format!("lock:seat:{performance}:{seat}"))
    }

    /// Takes every seat's marker or none. `Ok(false)` when one is taken;
    /// `Err` when Redis cannot answer (the caller goes on without markers).
    pub(crate) async fn acquire(
        &self,
        performance: Uuid,
        seats: &[Uuid],
        owner: Uuid,
        ttl: Duration,
    ) -> Result<bool, ticketing_redis::RedisError> {
        let mut conn = self.redis.conn().await?;
        let mut taken = Vec::new();
        for seat in seats {
            let key = self.key(performance, *seat);
            let set: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(owner.to_string())
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query_async(&mut conn)
                .await
                .map_err(ticketing_redis::RedisError::from)?;
            if set.is_none() {
                self.release(performance, &taken, owner).await;
                return Ok(false);
            }
            taken.push(*seat);
        }
        Ok(true)
    }

    /// Drops the markers `owner` holds (never someone else's).
    pub(crate) async fn release(&self, performance: Uuid, seats: &[Uuid], owner: Uuid) {
        if seats.is_empty() {
            return;
        }
        let Ok(mut conn) = self.redis.conn().await else {
            return;
        };
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        for seat in seats {
            let dropped: Result<i64, _> = script
                .key(self.key(performance, *seat))
                .arg(owner.to_string())
                .invoke_async(&mut conn)
                .await;
            if let Err(e) = dropped {
                tracing::debug!(error = %e, "seat marker not dropped; it expires by itself");
            }
        }
    }
}

impl SeatLocks {
    pub(crate) fn new(redis: Redis) -> SeatLocks {
        SeatLocks { redis }
    }
}
