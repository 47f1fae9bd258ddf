//! The per-client rate limit: a fixed one-second window per client and
//! bucket, counted in Redis so every gateway instance shares it, with the
//! counter's tokens leased to an instance in growing batches.
//!
//! A client's first request in a second takes one token from the counter
//! (`INCRBY 1`), as a plain counter would; each time a lease is granted
//! whole and runs out, the instance asks for twice as many (at most
//! [`max_batch`] of the limit). One lease a client is asked for at a time:
//! requests that find none held while it is on its way take one token each,
//! as a plain counter would. The counter only ever hands out what is left below the limit,
//! so every instance together never admits more than the limit a second;
//! a client sending many requests a second to one instance costs a Redis
//! round trip for a handful of them instead of every one. What a lease
//! leaves unused at the end of its second is lost: a client spread over
//! `n` instances may be refused up to `n * (max_batch - 1)` requests below
//! the limit (at the default 50/s, batches of at most 3).

use std::collections::HashMap;
use std::sync::Mutex;

/// Which rate-limit bucket a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    /// The API: `booking.rate_limit_per_second` per client.
    Api,
    /// PortOne's webhook: `booking.webhook_rate_limit_per_second` per
    /// source, apart from the API's, so a customer's browsing never holds
    /// back a notice and a flood of notices never a customer.
    Webhook,
    /// A notice from one of PortOne's networks: never limited.
    PortOne,
}

/// The most tokens one lease takes: a sixteenth of the limit, at least 1.
pub(crate) fn max_batch(limit: u32) -> u32 {
    (limit / 16).max(1)
}

/// How many of the `asked` tokens the shared counter granted, given its
/// value `after` the increment and the `limit`: those that fell at or
/// below the limit.
pub(crate) fn granted(limit: u32, after: i64, asked: u32) -> u32 {
    let before = after - i64::from(asked);
    let room = i64::from(limit) - before;
    u32::try_from(room.clamp(0, i64::from(asked))).unwrap_or(0)
}

/// One client's lease in the current second.
#[derive(Debug, Default)]
struct Lease {
    /// Tokens this instance holds and has not spent.
    left: u32,
    /// How many to ask for next (0: the first lease, one token).
    next: u32,
    /// A lease is on its way from the counter.
    asking: bool,
}

/// Tokens to take from the shared counter for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ask {
    pub(crate) tokens: u32,
    /// This is the client's lease (not one token for a request that found
    /// the lease on its way).
    lease: bool,
}

/// The current second's leases of this instance.
#[derive(Debug, Default)]
struct Window {
    second: i64,
    /// By bucket, then client (looked up by `&str`: no key is built for
    /// a client that has its lease).
    leases: HashMap<Bucket, HashMap<String, Lease>>,
}

/// The tokens this instance holds, by client.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    window: Mutex<Window>,
}

impl Leases {
    fn with_lease<T>(
        &self,
        second: i64,
        key: (Bucket, &str),
        f: impl FnOnce(&mut Lease) -> T,
    ) -> T {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if window.second != second {
            // A new second: every lease of the last one has lapsed.
            window.second = second;
            window.leases.clear();
        }
        let clients = window.leases.entry(key.0).or_default();
        if let Some(lease) = clients.get_mut(key.1) {
            return f(lease);
        }
        f(clients.entry(key.1.to_owned()).or_default())
    }

    /// Spends a token held for `client` in `second`: `Ok` if one was
    /// held, otherwise what to take from the counter.
    pub(crate) fn take(&self, second: i64, bucket: Bucket, client: &str) -> Result<(), Ask> {
        self.with_lease(second, (bucket, client), |lease| {
            if lease.left > 0 {
                lease.left -= 1;
                return Ok(());
            }
            if lease.asking {
                return Err(Ask {
                    tokens: 1,
                    lease: false,
                });
            }
            lease.asking = true;
            Err(Ask {
                tokens: lease.next.max(1),
                lease: true,
            })
        })
    }

    /// Keeps what the counter `granted` of `ask` beyond the token spent
    /// now; a lease granted whole doubles the next (up to [`max_batch`]).
    pub(crate) fn keep(
        &self,
        second: i64,
        bucket: Bucket,
        client: &str,
        ask: Ask,
        granted: u32,
        limit: u32,
    ) {
        self.with_lease(second, (bucket, client), |lease| {
            if ask.lease {
                lease.asking = false;
                if granted == ask.tokens {
                    lease.next = (ask.tokens * 2).min(max_batch(limit));
                }
            }
            lease.left += granted.saturating_sub(1);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_grants_only_what_is_left_below_the_limit() {
        assert_eq!(granted(50, 1, 1), 1);
        assert_eq!(granted(50, 50, 1), 1);
        assert_eq!(granted(50, 51, 1), 0);
        assert_eq!(granted(50, 48, 4), 4);
        assert_eq!(
            granted(50, 52, 4),
            2,
            "two of the four fell above the limit"
        );
        assert_eq!(granted(50, 60, 4), 0);
    }

    #[test]
    fn leases_grow_to_a_sixteenth_of_the_limit_and_lapse_with_their_second() {
        let leases = Leases::default();
        let limit = 1_000;
        // The first request of a second leases one token, then 2, 4, ...
        let mut asked = Vec::new();
        for _ in 0..7 {
            let ask = leases.take(7, Bucket::Api, "c").expect_err("none held");
            asked.push(ask.tokens);
            leases.keep(7, Bucket::Api, "c", ask, ask.tokens, limit);
            for _ in 1..ask.tokens {
                leases.take(7, Bucket::Api, "c").expect("held");
            }
        }
        assert_eq!(asked, [1, 2, 4, 8, 16, 32, 62]);
        assert_eq!(max_batch(50), 3);
        assert_eq!(max_batch(5), 1, "small limits lease one token at a time");
        // Held tokens do not outlive their second, nor serve another client
        // or bucket.
        let ask = leases.take(7, Bucket::Api, "c").expect_err("none held");
        leases.keep(7, Bucket::Api, "c", ask, 5, limit);
        assert!(leases.take(7, Bucket::Webhook, "c").is_err());
        assert!(leases.take(7, Bucket::Api, "d").is_err());
        assert_eq!(
            leases.take(8, Bucket::Api, "c").map_err(|a| a.tokens),
            Err(1)
        );
    }

    #[test]
    fn requests_that_find_the_lease_on_its_way_take_one_token_each() {
        let leases = Leases::default();
        let limit = 1_000_000;
        for _ in 0..5 {
            let ask = leases.take(1, Bucket::Api, "c").expect_err("none held");
            leases.keep(1, Bucket::Api, "c", ask, ask.tokens, limit);
            for _ in 1..ask.tokens {
                leases.take(1, Bucket::Api, "c").expect("held");
            }
        }
        // A crowd arrives while the next lease (of 32) is being asked for:
        // one token each, and the lease does not grow for them.
        let lease = leases.take(1, Bucket::Api, "c").expect_err("none held");
        assert_eq!(lease.tokens, 32);
        for _ in 0..100 {
            let single = leases.take(1, Bucket::Api, "c").expect_err("on its way");
            assert_eq!(single.tokens, 1);
            leases.keep(1, Bucket::Api, "c", single, 1, limit);
        }
        // Granted in part (the limit was near): kept, and not grown.
        leases.keep(1, Bucket::Api, "c", lease, 10, limit);
        for _ in 0..9 {
            leases.take(1, Bucket::Api, "c").expect("held");
        }
        let next = leases.take(1, Bucket::Api, "c").expect_err("spent");
        assert_eq!(next.tokens, 32);
    }
}
