//! Per-account login back-off: the [`FREE_FAILURES`]-th failed login for an
//! e-mail within [`WINDOW_SECONDS`] locks that account's logins for a second,
//! and each further failure for twice as long as the one before (1 s, 2 s,
//! 4 s, ..., at most [`MAX_LOCK_SECONDS`]); a success clears it. Kept in Redis under a
//! keyed hash of the e-mail (never the address), and applied alike to
//! e-mails with and without an account, so the answers tell nothing about
//! which exist. Redis unreachable: logins go on without the back-off (it
//! protects accounts from guessing; it must not lock everyone out).

use std::sync::Arc;

use redis::AsyncCommands;
use secrecy::SecretString;
use ticketing_redis::Redis;

use crate::domain::identity_hash;

pub(crate) const FREE_FAILURES: i64 = 5;
pub(crate) const WINDOW_SECONDS: i64 = 900;
pub(crate) const MAX_LOCK_SECONDS: u64 = 900;

/// How long the `failures`-th failure in a row locks the account, if at all.
pub(crate) fn lock_seconds(failures: i64) -> Option<u64> {
    let over = failures - FREE_FAILURES;
    (over >= 0).then(|| {
        let exponent = u32::try_from(over).unwrap_or(u32::MAX).min(20);
        (1u64 << exponent).min(MAX_LOCK_SECONDS)
    })
}

#[derive(Clone)]
pub(crate) struct LoginAttempts {
    pub redis: Redis,
    pub key: Arc<SecretString>,
}

/// A login refused for now: the failures so far and the seconds to wait.
pub(crate) struct Locked {
    pub failures: i64,
    pub seconds: u64,
}

impl LoginAttempts {
    fn keys(&self, email: &str) -> (String, String) {
        let account = identity_hash(&self.key, email);
        (
            self.redis.key(&format!("login:failures:{account}")),
            self.redis.key(&format!("login:locked:{account}")),
        )
    }

    /// Whether logins of `email` are locked now.
    pub async fn locked(&self, email: &str) -> Option<Locked> {
        let (failures_key, lock_key) = self.keys(email);
        let mut conn = self.redis.conn().await.ok()?;
        let ttl: i64 = conn.pttl(&lock_key).await.ok()?;
        if ttl <= 0 {
            return None;
        }
        let failures: i64 = conn.get(&failures_key).await.unwrap_or(0);
        Some(Locked {
            failures,
            seconds: u64::try_from(ttl).unwrap_or(0).div_ceil(1000),
        })
    }

    /// Counts a failed login; locks the account when it is one too many.
    pub async fn failed(&self, email: &str) {
        let (failures_key, lock_key) = self.keys(email);
        let Ok(mut conn) = self.redis.conn().await else {
            return;
        };
        let counted: redis::RedisResult<(i64,)> = redis::pipe()
            .atomic()
            .incr(&failures_key, 1)
            .expire(&failures_key, WINDOW_SECONDS)
            .ignore()
            .query_async(&mut conn)
            .await;
        match counted {
            Ok((failures,)) => {
                if let Some(seconds) = lock_seconds(failures) {
                    let locked: redis::RedisResult<()> = conn.set_ex(&lock_key, 1, seconds).await;
                    if let Err(e) = locked {
                        tracing::warn!(error = %e, "a login lock was not set");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "a failed login was not counted"),
        }
    }

    /// A successful login clears the account's failures.
    pub async fn succeeded(&self, email: &str) {
        let (failures_key, lock_key) = self.keys(email);
        if let Ok(mut conn) = self.redis.conn().await {
            let cleared: redis::RedisResult<()> = conn.del(&[failures_key, lock_key]).await;
            if let Err(e) = cleared {
                tracing::warn!(error = %e, "failed logins were not cleared");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_doubles_after_the_free_failures_and_stops_at_the_cap() {
        let locks: Vec<Option<u64>> = (1..=8).map(lock_seconds).collect();
        assert_eq!(
            locks,
            [None, None, None, None, Some(1), Some(2), Some(4), Some(8)]
        );
        assert_eq!(lock_seconds(100), Some(MAX_LOCK_SECONDS));
    }
}
