//! 500 clients race for 50 seats through the gateway: exactly 50 holds, no
//! seat held twice, every loser told why; then again with Redis killed in
//! the middle of the race (the database alone still prevents double booking).
//!
//! The 500 users' access and reservation tokens are minted with the stack's
//! own signing keys instead of 500 sign-ups and queue passes: the race is
//! about holds, and sign-up and the queue have their own tests.

use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use serde_json::json;
use ticketing_e2e::Stack;
use ticketing_testkit::PrivateRedis;
use ticketing_tokens::{Keyring, ReservationClaims};
use uuid::Uuid;

const CLIENTS: usize = 500;
const SEATS: usize = 50;

struct Racer {
    access: String,
    queue: String,
}

fn racers(stack: &Stack, performance: Uuid) -> Vec<Racer> {
    let settings = &stack.settings;
    let auth = ticketing_http::Authenticator::new(
        Keyring::new(&stack.env.secrets.jwt_signing_key, &[]),
        settings.booking.jwt_issuer.clone(),
        600,
    );
    let queue_keys = Keyring::new(&stack.env.secrets.queue_token_signing_key, &[]);
    (0..CLIENTS)
        .map(|_| {
            let user = Uuid::now_v7();
            let claims = ReservationClaims::new(
                user,
                performance,
                Utc::now(),
                chrono::Duration::minutes(10),
            );
            Racer {
                access: auth.issue(user).0,
                queue: ticketing_tokens::issue(&queue_keys, &claims),
            }
        })
        .collect()
}

/// Every racer tries for seat `i % 50` at once; returns the status codes.
async fn race(
    stack: &Stack,
    racers: &[Racer],
    performance: Uuid,
    seats: &[Uuid],
) -> Vec<(u16, String)> {
    let attempts = racers.iter().enumerate().map(|(i, r)| {
        let seat = seats[i % SEATS];
        async move {
            let answer = stack
                .call(
                    "POST",
                    "/api/reservations",
                    Some(&r.access),
                    &[("x-queue-token", r.queue.as_str())],
                    Some(json!({"performance_id": performance, "seat_ids": [seat]})),
                )
                .await;
            (
                answer.status,
                answer.body["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    });
    join_all(attempts).await
}

async fn active_holds(stack: &Stack) -> (i64, i64) {
    let pool = stack.env.pool(Some("reservation_service"));
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT seat_id) FROM reservation_seats WHERE active",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    pool.close().await;
    counts
}

fn check_outcome(outcome: &[(u16, String)]) {
    let won = outcome.iter().filter(|(s, _)| *s == 201).count();
    let lost: Vec<_> = outcome.iter().filter(|(s, _)| *s != 201).collect();
    assert_eq!(won, SEATS, "exactly one winner per seat");
    for (status, detail) in lost {
        assert_eq!(*status, 409, "a loser is told the seat is taken: {detail}");
        assert!(detail.contains("taken"), "{detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_clients_racing_for_fifty_seats_get_exactly_fifty_holds() {
    let stack = Stack::start(|s| s.booking.rate_limit_per_second = 1_000_000).await;
    let (performance, seats) = stack.performance(5, 10, 10_000).await;
    let racers = racers(&stack, performance);
    let outcome = race(&stack, &racers, performance, &seats).await;
    check_outcome(&outcome);
    assert_eq!(active_holds(&stack).await, (SEATS as i64, SEATS as i64));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_killed_mid_race_no_seat_is_held_twice() {
    let mut redis = PrivateRedis::start_new();
    let url = redis.url();
    let stack = Stack::start(move |s| {
        s.booking.rate_limit_per_second = 1_000_000;
        s.redis.url = url;
    })
    .await;
    let (performance, seats) = stack.performance(5, 10, 10_000).await;
    let racers = racers(&stack, performance);
    let (first, second) = racers.split_at(CLIENTS / 2);
    let killer = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        redis.stop();
    };
    let (mut outcome, ()) = tokio::join!(race(&stack, first, performance, &seats), killer);
    outcome.extend(race(&stack, second, performance, &seats).await);
    check_outcome(&outcome);
    assert_eq!(active_holds(&stack).await, (SEATS as i64, SEATS as i64));
    stack.stop().await;
}
