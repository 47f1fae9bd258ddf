//! Waiting-room admissions an order used up: the queue forgets them, so the
//! customer's next order starts with a new place in the queue (one
//! admission, one order; the database's unique index on
//! `reservations.admission_id` is what refuses a second use).

use ticketing_redis::Redis;
use uuid::Uuid;

#[derive(Clone)]
pub(crate) struct Admissions {
    redis: Redis,
}

impl Admissions {
    pub(crate) fn new(redis: Redis) -> Admissions {
        Admissions { redis }
    }

    /// The queue stops handing back `user`'s admission to `performance`.
    /// Best effort: if Redis cannot be reached, the used admission is
    /// still refused by the database, and the queue lets the user in again
    /// when it expires.
    pub(crate) async fn used(&self, performance: Uuid, user: Uuid) {
        let key = self
            .redis
            .key(&ticketing_catalog::queue::admitted_key(performance, user));
        let result = async {
            let mut conn = self.redis.conn().await?;
            redis::cmd("DEL")
                .arg(&key)
                .query_async::<i64>(&mut conn)
                .await
                .map_err(ticketing_redis::RedisError::from)
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(%performance, %user, error = %e, "the used admission stays in the queue until it expires");
        }
    }
}
