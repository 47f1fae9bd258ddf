//! Relay throughput and commit-to-publish latency, next to a raw producer's
//! throughput to the same broker and topic, measured in the same run.
//!
//! ```text
//! infra/local/up.sh      # or: infra/local/stack.sh start
//! cargo bench -p ticketing-messaging --bench relay_throughput
//! ```
//!
//! Knobs (environment): `BENCH_EVENTS` (default 20000) for the
//! throughput runs, `BENCH_BATCH` and `BENCH_CONCURRENCY` (the relay's rows
//! per pass and claim loops; default: `RelayOptions::default()`),
//! `BENCH_STEADY_RATE` (default 1000 events/s) and `BENCH_STEADY_SECONDS`
//! (default 10) for the latency run. It runs an Apache Kafka broker of its
//! own (so the stack's is not filled up) next to the stack's PostgreSQL,
//! which runs with `fsync=off` (a local stack): the database work is CPU,
//! not the disk waits it would be on RDS.
//!
//! What is measured:
//! 1. raw: the relay's producer settings (`acks=all`), every message enqueued
//!    with `send_result` and then all acknowledgements awaited;
//! 2. relay: the same number of events already committed to the outbox,
//!    drained by one relay (claim, publish, mark sent);
//! 3. PostgreSQL-bound: the same again, drained by the same relay with the
//!    broker left out (claim and mark sent the same rows, publish nothing):
//!    the most the relay could reach with an infinitely fast broker.
//!
//! 2 and 3 run three times each (relay, PostgreSQL-bound,
//! PostgreSQL-bound, relay, relay, PostgreSQL-bound), each on an outbox
//! emptied of sent rows and vacuumed.
//!
//! Nothing is timed cold: the raw producer first sends 1,000 events
//! untimed (connection, metadata, producer id: without it the raw run,
//! which goes first, paid for the broker's warm-up and the relay looked
//! faster than the raw producer), and the relay first drains as many
//! events as a timed drain, untimed (the fresh broker's JIT compilers
//! run through it), and prints it as the warm-up.
//! 4. steady: events committed one per transaction at a fixed rate while the
//!    relay runs as in a service; commit-to-publish latency is `sent_at -
//!    created_at` of each row.

use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::producer::{FutureRecord, Producer};
use sqlx::PgPool;
use ticketing_catalog::topics;
use ticketing_events::{Envelope, ReservationConfirmed};
use ticketing_messaging::relay::{idempotent_producer, Relay, RelayOptions};
use ticketing_testkit::{PrivateBroker, TestEnv};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SCHEMA: &str = "bench";
/// Events the raw producer sends before its timed run.
const WARM_UP: u64 = 1_000;
/// The timed drains, `true` through the broker: as many of each kind, in
/// an order where neither always runs first or on a table the other left.
const DRAIN_ORDER: [bool; 6] = [true, false, false, true, true, false];

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a whole number")),
        Err(_) => Ok(default),
    }
}

fn event() -> ReservationConfirmed {
    ReservationConfirmed {
        reservation_id: Uuid::now_v7(),
        performance_id: Uuid::now_v7(),
        seat_ids: vec![Uuid::now_v7(), Uuid::now_v7()],
    }
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; there are no other arguments.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let events = env_number("BENCH_EVENTS", 20_000)?;
    let steady_rate = env_number("BENCH_STEADY_RATE", 1_000)?.max(1);
    let steady_seconds = env_number("BENCH_STEADY_SECONDS", 10)?.max(1);

    let mut env = TestEnv::new().await;
    env.settings.database.max_connections = 16;
    // A broker of its own: the stack's broker is shared by every test, and
    // hundreds of thousands of messages would stay in its log after this run.
    let broker = PrivateBroker::start_new();
    let kafka = broker.settings(&env.settings.kafka);
    ticketing_kafka::ensure_topics(&kafka, &topics::ALL, 1, 1).await?;
    let pool = env.pool(Some(SCHEMA));
    let migrator = ticketing_messaging::with_messaging(&sqlx::migrate::Migrator::DEFAULT);
    ticketing_db::migrate(
        &pool,
        &env.settings.database,
        SCHEMA,
        &migrator,
        Duration::from_secs(10),
    )
    .await?;

    let raw = raw_producer_rate(&kafka, events).await?;
    println!("raw producer      {raw:>10.0} events/s  ({events} events)");

    let defaults = RelayOptions::default();
    let options = RelayOptions {
        batch_size: env_number("BENCH_BATCH", defaults.batch_size as u64)? as i64,
        concurrency: env_number("BENCH_CONCURRENCY", defaults.concurrency as u64)? as usize,
        ..defaults
    };
    println!(
        "relay options: batch {}, {} claim loops",
        options.batch_size, options.concurrency
    );
    let relay = Relay::new(pool.clone(), SCHEMA, kafka.clone(), options)?;
    // Warm-up, not counted: a whole drain of the same size through the
    // broker. The broker is this run's own, started seconds ago: its JIT
    // compilers ran through the first relay drain (at 1,000 warm-up events
    // that drain was the slowest of every run, 2026-12-07), which a
    // PostgreSQL started long before never has to pay.
    let warm = timed_drain(&pool, &relay, events, true).await?;
    println!(
        "  {:<16} {:>10.0} events/s  (warm-up, not counted)",
        "relay drain",
        events as f64 / warm.as_secs_f64()
    );
    // Three timed drains of each kind, in the order relay, PostgreSQL-bound,
    // PostgreSQL-bound, relay, relay, PostgreSQL-bound, each on a freshly
    // vacuumed table: each side runs first, between and last.
    let (mut relay_time, mut pg_time) = (Duration::ZERO, Duration::ZERO);
    for broker in DRAIN_ORDER {
        let took = timed_drain(&pool, &relay, events, broker).await?;
        println!(
            "  {:<16} {:>10.0} events/s",
            if broker {
                "relay drain"
            } else {
                "PostgreSQL-bound"
            },
            events as f64 / took.as_secs_f64()
        );
        if broker {
            relay_time += took;
        } else {
            pg_time += took;
        }
    }
    let relay_drains = DRAIN_ORDER.iter().filter(|broker| **broker).count() as u64;
    let pg_drains = DRAIN_ORDER.len() as u64 - relay_drains;
    let relay_rate = (relay_drains * events) as f64 / relay_time.as_secs_f64();
    let pg_rate = (pg_drains * events) as f64 / pg_time.as_secs_f64();
    println!("relay             {relay_rate:>10.0} events/s  ({relay_drains} x {events} events)");
    println!(
        "ratio             {:>10.2}  (relay / raw; aim >= 0.80)",
        relay_rate / raw
    );
    println!("PostgreSQL-bound  {pg_rate:>10.0} events/s  (claim and mark, no broker; {pg_drains} x {events} events)");
    println!(
        "ratio             {:>10.2}  (relay / PostgreSQL-bound; aim >= 0.80)",
        relay_rate / pg_rate
    );
    fresh_outbox(&pool).await?;

    let (p50, p99, n) = steady_latency(&pool, relay, steady_rate, steady_seconds).await?;
    println!(
        "steady {steady_rate}/s for {steady_seconds}s: {n} events, commit-to-publish p50 {:.1} ms, p99 {:.1} ms (aim p99 < 1000 ms)",
        p50 * 1e3,
        p99 * 1e3
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "relay_throughput",
            "events": events,
            "raw_events_per_second": raw,
            "relay_events_per_second": relay_rate,
            "ratio": relay_rate / raw,
            "postgres_bound_events_per_second": pg_rate,
            "ratio_to_postgres_bound": relay_rate / pg_rate,
            "steady_rate": steady_rate,
            "steady_events": n,
            "commit_to_publish_p50_ms": p50 * 1e3,
            "commit_to_publish_p99_ms": p99 * 1e3,
        })
    );

    drop(pool);
    env.cleanup().await;
    drop(broker);
    Ok(())
}

async fn raw_producer_rate(
    kafka: &ticketing_config::KafkaSettings,
    events: u64,
) -> anyhow::Result<f64> {
    let producer = idempotent_producer(kafka, Duration::from_secs(30))?;
    let topic = kafka.topic(topics::RESERVATION_EVENTS);
    let bodies: Vec<(String, Vec<u8>)> = (0..events)
        .map(|_| {
            let envelope = Envelope::new(&event())?;
            Ok((envelope.aggregate_id.clone(), envelope.to_vec()?))
        })
        .collect::<anyhow::Result<_>>()?;
    // Warm-up (not timed): connection, metadata, producer id, as the relay
    // gets before its timed run.
    for (key, body) in bodies.iter().take(WARM_UP as usize) {
        producer
            .send(
                FutureRecord::to(&topic).key(key).payload(body),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .context("warm-up message refused")?;
    }
    let started = Instant::now();
    let mut pending = Vec::with_capacity(bodies.len());
    for (key, body) in &bodies {
        let mut record = FutureRecord::to(&topic).key(key).payload(body);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((_, back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
    for delivery in pending {
        delivery
            .await
            .context("producer dropped a message")?
            .map_err(|(e, _)| e)
            .context("the broker refused a message")?;
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    producer.flush(Duration::from_secs(5))?;
    Ok(rate)
}

/// Empties the outbox of the rows earlier drains sent and vacuums it, so
/// every timed drain starts from the same table. Without it the
/// PostgreSQL-bound drain, which always followed the relay's, ran on a
/// table with the relay's 100,000 updated rows in it, and whether the
/// autovacuum came before or during it moved the ratio between 0.59 and
/// 0.83 from one run to the next (2026-12-07).
async fn fresh_outbox(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql("DELETE FROM outbox WHERE sent_at IS NOT NULL")
        .execute(pool)
        .await?;
    sqlx::raw_sql("VACUUM (ANALYZE) outbox")
        .execute(pool)
        .await?;
    Ok(())
}

/// One timed drain of `events` committed events, through the broker or
/// (`broker` false) claimed and marked with nothing published.
async fn timed_drain(
    pool: &PgPool,
    relay: &Relay,
    events: u64,
    broker: bool,
) -> anyhow::Result<Duration> {
    fresh_outbox(pool).await?;
    write_backlog(pool, events).await?;
    let started = Instant::now();
    let done = if broker {
        relay.drain(Duration::from_secs(600)).await?
    } else {
        relay.drain_without_broker(Duration::from_secs(600)).await?
    };
    let took = started.elapsed();
    anyhow::ensure!(
        done as u64 == events,
        "the drain (broker: {broker}) took {done} of {events} events"
    );
    Ok(took)
}

/// Commits `events` outbox rows, 500 per transaction (setup, not measured).
async fn write_backlog(pool: &PgPool, events: u64) -> anyhow::Result<()> {
    let mut left = events;
    while left > 0 {
        let mut tx = pool.begin().await?;
        for _ in 0..left.min(500) {
            ticketing_messaging::append(&mut tx, &event()).await?;
        }
        tx.commit().await?;
        left = left.saturating_sub(500);
    }
    Ok(())
}

/// Runs the relay as a service does while writers commit one event per
/// transaction at `rate`; returns p50, p99 (seconds) and the event count.
async fn steady_latency(
    pool: &PgPool,
    relay: Relay,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(f64, f64, i64)> {
    let mark: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM outbox")
        .fetch_one(pool)
        .await?;
    let shutdown = CancellationToken::new();
    let relay_task = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { relay.run(shutdown).await })
    };
    // Eight writers, each committing one event per tick of its share of the rate.
    let writers = 8_u64;
    let per_writer = Duration::from_secs_f64(writers as f64 / rate as f64);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(per_writer);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            while Instant::now() < deadline {
                ticker.tick().await;
                let mut tx = pool.begin().await?;
                ticketing_messaging::append(&mut tx, &event()).await?;
                tx.commit().await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    // Let the relay publish the tail, then stop it.
    let wait_until = Instant::now() + Duration::from_secs(30);
    loop {
        let unsent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND id > $1")
                .bind(mark)
                .fetch_one(pool)
                .await?;
        if unsent == 0 || Instant::now() > wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    relay_task.await?;
    let (p50, p99, written, sent): (Option<f64>, Option<f64>, i64, i64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM sent_at - created_at)::float8), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM sent_at - created_at)::float8), \
                count(*), count(sent_at) \
         FROM outbox WHERE id > $1",
    )
    .bind(mark)
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(
        written == sent,
        "{} of {written} events were still unsent 30 s after the writers stopped",
        written - sent
    );
    Ok((p50.unwrap_or(f64::NAN), p99.unwrap_or(f64::NAN), written))
}
