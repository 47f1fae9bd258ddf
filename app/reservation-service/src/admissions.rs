//! Waiting-room admissions an order used up. While the order's hold is
//! open, the queue shows the customer that hold instead of a place or a
//! fresh admission; when the hold ends, the queue forgets the admission, so
//! the customer's next order starts with a new place in the queue (one
//! admission, one order; the database's unique index on
//! `reservations.admission_id` is what refuses a second use).

use chrono::{DateTime, Utc};
use ticketing_catalog::queue;
use ticketing_redis::Redis;
use uuid::Uuid;

#[derive(Clone)]
pub(crate) struct Admissions {
    redis: Redis,
}

/// Deletes KEYS[1] only while it still marks hold ARGV[1] (a later order's
/// mark is left alone).
const END_SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
     if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then \
       return redis.call('DEL', KEYS[1]) end return 0";

impl Admissions {
    pub(crate) fn new(redis: Redis) -> Admissions {
        Admissions { redis }
    }

    fn key(&self, performance: Uuid, user: Uuid) -> String {
        self.redis.key(&queue::admitted_key(performance, user))
    }

    /// `user`'s admission to `performance` made hold `reservation`, open
    /// until `expires_at`: the queue shows that hold until it ends. Best
    /// effort: if Redis cannot be reached, the used admission is still
    /// refused by the database.
    pub(crate) async fn used(
        &self,
        performance: Uuid,
        user: Uuid,
        reservation: Uuid,
        expires_at: DateTime<Utc>,
    ) {
        let key = self.key(performance, user);
        let ms = expires_at.timestamp_millis();
        let result = async {
            let mut conn = self.redis.conn().await?;
            redis::cmd("SET")
                .arg(&key)
                .arg(queue::held_value(reservation, ms))
                .arg("PXAT")
                .arg(ms)
                .query_async::<()>(&mut conn)
                .await
                .map_err(ticketing_redis::RedisError::from)
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(%performance, %user, error = %e, "the used admission stays in the queue until it expires");
        }
    }

    /// Hold `reservation` ended: the queue lets `user` in again. Best
    /// effort: otherwise the mark expires with the hold's own expiry.
    pub(crate) async fn ended(&self, performance: Uuid, user: Uuid, reservation: Uuid) {
        let key = self.key(performance, user);
        let result = async {
            let mut conn = self.redis.conn().await?;
            redis::Script::new(END_SCRIPT)
                .key(&key)
                .arg(format!("{}{reservation}:", queue::HELD_PREFIX))
                .invoke_async::<i64>(&mut conn)
                .await
                .map_err(ticketing_redis::RedisError::from)
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(%reservation, error = %e, "the ended hold stays in the queue until its expiry");
        }
    }
}
