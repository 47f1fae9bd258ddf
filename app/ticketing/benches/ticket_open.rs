//! The ticket-open spike: a popular show opens and `BENCH_USERS` people
//! (default 100,000) arrive at its waiting room within
//! `BENCH_ARRIVAL_SECONDS` (default 10) through the gateway. Each polls its
//! place until admitted; the admission loop lets
//! `BENCH_ADMIT_PER_SECOND` (default 1,000) in; admitted users hold seats
//! until the house (`BENCH_SEATS`, default 2,000) is sold out.
//!
//! ```text
//! infra/local/stack.sh start
//! cargo bench -p ticketing --bench ticket_open
//! BENCH_USERS=20000 cargo bench -p ticketing --bench ticket_open
//! ```
//!
//! Its own Redis (a `redis-server` this bench starts on a free port, so the
//! memory figures are the waiting room's alone) and its own platform (every
//! service in this process, its own database on the stack's PostgreSQL).
//! The load generator is a tokio client in this bench (reqwest, not the
//! gateway's code), at most `BENCH_IN_FLIGHT` (default 256) requests at
//! once: arrivals are scheduled evenly over the arrival window and wait
//! for a free slot when the platform falls behind. A waiting user polls
//! again when the waiting room says (`refresh_after_seconds`: its
//! estimated wait, between 1 s and `booking.queue_refresh_max_seconds`).
//!
//! Reported: enter and poll throughput and p50/p99; the same for a
//! baseline (the gateway's static liveness route, as many requests through
//! the same client and in-flight limit, all at once, in the same run); the
//! polls and hold requests answered while entries were still arriving;
//! time from the first admission to the house sold out; Redis bytes per
//! waiting user; and fairness: a
//! user is admitted out of order when someone whose entry began after
//! theirs had been answered was admitted in an earlier round. That share
//! must be 0.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde_json::{json, Value};
use ticketing_catalog::ServiceName;
use ticketing_testkit::TestEnv;
use ticketing_tokens::Keyring;
use tokio::sync::Semaphore;
use uuid::Uuid;

mod common;
use common::{knob, percentile_ms, server_ms};

/// Requests of one kind: count, rate over their span, p50/p99.
struct Figures {
    count: usize,
    per_second: f64,
    p50: f64,
    p99: f64,
}

impl Figures {
    fn of(mut latencies: Vec<Duration>, span: Duration) -> Figures {
        latencies.sort();
        Figures {
            count: latencies.len(),
            per_second: latencies.len() as f64 / span.as_secs_f64().max(1e-9),
            p50: percentile_ms(&latencies, 0.50),
            p99: percentile_ms(&latencies, 0.99),
        }
    }

    fn print(&self, label: &str) {
        println!(
            "  {label:<34} {:>8} req  {:>8.0} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms",
            self.count, self.per_second, self.p50, self.p99
        );
    }
}

/// What one user saw.
struct User {
    id: Uuid,
    entry_sent: Instant,
    entry_answered: Instant,
}

/// Shared counters of the run.
#[derive(Default)]
struct Run {
    enter: Mutex<Vec<Duration>>,
    poll: Mutex<Vec<Duration>>,
    first_admitted: Mutex<Option<Instant>>,
    sold_out_at: Mutex<Option<Instant>>,
    held: AtomicUsize,
    /// Entries answered so far.
    entered: AtomicUsize,
    /// Polls and hold requests answered before the last entry was: what
    /// shares the arrival's cores with the entries.
    polls_in_arrival: AtomicUsize,
    holds_in_arrival: AtomicUsize,
    sold_out: AtomicBool,
}

impl Run {
    /// Counts one answer in `counter` if entries were still arriving.
    fn count_in_arrival(&self, counter: &AtomicUsize, users: usize) {
        if self.entered.load(Ordering::Relaxed) < users {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let users = knob("BENCH_USERS", 100_000)? as usize;
    let arrival = Duration::from_secs(knob("BENCH_ARRIVAL_SECONDS", 10)?.max(1));
    let admit_per_second = knob("BENCH_ADMIT_PER_SECOND", 1_000)?.max(10);
    let seats_wanted = knob("BENCH_SEATS", 2_000)?.max(20);
    let in_flight = knob("BENCH_IN_FLIGHT", 256)?.max(1) as usize;
    let timeout = Duration::from_secs(knob("BENCH_TIMEOUT_SECONDS", 1_800)?);
    anyhow::ensure!(users > 0, "BENCH_USERS must be at least 1");

    let redis_server = ticketing_testkit::PrivateRedis::start_new();
    let redis_url = redis_server.url();
    let env = TestEnv::new().await;
    env.create_topics().await;
    let mut settings = env.settings.clone();
    settings.redis.url = redis_url.clone();
    settings.redis.key_prefix = String::new();
    settings.booking.rate_limit_per_second = 10_000_000;
    // Ten admission rounds a second.
    settings.booking.queue_admit_interval_ms = 100;
    settings.booking.queue_admit_per_interval = u32::try_from(admit_per_second / 10)?;
    settings.telemetry.log_level = "warn".into();
    settings.database.max_connections = 24;
    let platform =
        ticketing_platform::start(settings.clone(), env.secrets.clone(), &ServiceName::ALL).await?;
    let gateway = format!(
        "http://{}",
        platform.addr(ServiceName::ApiGateway).context("gateway")?
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .timeout(Duration::from_secs(120))
        .build()?;
    let auth = ticketing_http::Authenticator::new(
        Keyring::new(&env.secrets.jwt_signing_key, &[]),
        settings.booking.jwt_issuer.clone(),
        3600,
    );

    // The performance: rows of 20 seats.
    let rows = seats_wanted.div_ceil(20);
    let organiser = auth
        .issue_with(Uuid::now_v7(), Some(ticketing_tokens::Role::Organiser))
        .0;
    let (performance, seats) =
        common::create_performance(&http, &gateway, &organiser, rows).await?;
    let seats = Arc::new(seats);
    let tokens: Vec<(Uuid, String)> = (0..users)
        .map(|_| {
            let user = Uuid::now_v7();
            (user, auth.issue(user).0)
        })
        .collect();
    let gate = Arc::new(Semaphore::new(in_flight));

    // Baseline: the gateway's static liveness route, the same number of
    // requests through the same client and in-flight limit, all at once
    // (what the gateway can answer at most on this machine).
    let health = format!("{gateway}{}", ticketing_catalog::http::LIVENESS_PATH);
    let started = Instant::now();
    let baseline_latencies = join_all((0..users).map(|_| {
        let (http, gate, health) = (http.clone(), gate.clone(), health.clone());
        async move {
            let _slot = gate.acquire().await?;
            let t = Instant::now();
            let r = http.get(&health).send().await?;
            anyhow::ensure!(r.status().is_success(), "liveness answered {}", r.status());
            let _ = r.bytes().await?;
            anyhow::Ok(t.elapsed())
        }
    }))
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<_>>>()?;
    let baseline = Figures::of(baseline_latencies, started.elapsed());

    // The memory sampler: the queue's size and Redis's memory while it fills.
    let redis_client = redis::Client::open(redis_url.as_str())?;
    let mut sampler_conn = redis_client.get_multiplexed_async_connection().await?;
    let used_before = used_memory(&mut sampler_conn).await?;
    let queue_key = format!("queue:{performance}");
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, queue_key) = (sampling.clone(), queue_key.clone());
        tokio::spawn(async move {
            // (waiting, bytes of the queue's sorted set, Redis's used memory)
            let mut peak = (0u64, 0u64, 0u64);
            while sampling.load(Ordering::Relaxed) {
                let waiting: u64 = redis::cmd("ZCARD")
                    .arg(&queue_key)
                    .query_async(&mut sampler_conn)
                    .await
                    .unwrap_or(0);
                if waiting > peak.0 {
                    let bytes: Option<u64> = redis::cmd("MEMORY")
                        .arg("USAGE")
                        .arg(&queue_key)
                        .arg("SAMPLES")
                        .arg(0)
                        .query_async(&mut sampler_conn)
                        .await
                        .unwrap_or(None);
                    let used = used_memory(&mut sampler_conn).await.unwrap_or(0);
                    peak = (waiting, bytes.unwrap_or(0), used);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };

    let state = Arc::new(Run::default());
    // The servers' own figures for the arrival: read once every entry has
    // been answered (the exporter's window is a minute; the run is longer).
    let arrival_metrics = {
        let (http, state) = (http.clone(), state.clone());
        let url = format!("{gateway}{}", ticketing_catalog::http::METRICS_PATH);
        tokio::spawn(async move {
            while state.entered.load(Ordering::Relaxed) < users {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(http.get(url).send().await?.text().await?)
        })
    };
    let opened = Instant::now();
    let deadline = opened + timeout;
    let outcomes = join_all(tokens.into_iter().enumerate().map(|(i, (user, access))| {
        let (http, gate, gateway, seats, state) = (
            http.clone(),
            gate.clone(),
            gateway.clone(),
            seats.clone(),
            state.clone(),
        );
        async move {
            tokio::time::sleep_until((opened + arrival.mul_f64(i as f64 / users as f64)).into())
                .await;
            let (entry_sent, entry_answered, mut status) = {
                let _slot = gate.acquire().await?;
                let sent = Instant::now();
                let r = http
                    .post(format!("{gateway}/api/queue/{performance}/enter"))
                    .bearer_auth(&access)
                    .json(&json!({"recaptcha_token": "test-pass-bench"}))
                    .send()
                    .await?;
                let code = r.status();
                let body: Value = r.json().await?;
                let answered = Instant::now();
                anyhow::ensure!(code.is_success(), "enter answered {code}: {body}");
                state
                    .enter
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .push(answered - sent);
                state.entered.fetch_add(1, Ordering::Relaxed);
                (sent, answered, body)
            };
            while status["status"] != "admitted" {
                anyhow::ensure!(Instant::now() < deadline, "not admitted within {timeout:?}");
                // As the waiting room says (`refresh_after_seconds`).
                let refresh = status["refresh_after_seconds"]
                    .as_u64()
                    .context("a waiting status without refresh_after_seconds")?;
                tokio::time::sleep(Duration::from_secs(refresh)).await;
                let _slot = gate.acquire().await?;
                let t = Instant::now();
                let r = http
                    .get(format!("{gateway}/api/queue/{performance}/status"))
                    .bearer_auth(&access)
                    .send()
                    .await?;
                let code = r.status();
                status = r.json().await?;
                anyhow::ensure!(code.is_success(), "status answered {code}: {status}");
                state.count_in_arrival(&state.polls_in_arrival, users);
                state
                    .poll
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .push(t.elapsed());
            }
            state
                .first_admitted
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .get_or_insert_with(Instant::now);
            let queue_token = status["reservation_token"]
                .as_str()
                .context("an admission without a token")?
                .to_owned();
            // Hold a seat: from a place of its own in the house, onward
            // past seats others took, until one holds or none is left.
            let mut tries = 0;
            while !state.sold_out.load(Ordering::Relaxed) && tries < seats.len() {
                let seat = seats[(i * 7919 + tries) % seats.len()];
                tries += 1;
                let _slot = gate.acquire().await?;
                let r = http
                    .post(format!("{gateway}/api/reservations"))
                    .bearer_auth(&access)
                    .header("x-queue-token", &queue_token)
                    .json(&json!({"performance_id": performance, "seat_ids": [seat]}))
                    .send()
                    .await?;
                let code = r.status().as_u16();
                let _ = r.bytes().await?;
                state.count_in_arrival(&state.holds_in_arrival, users);
                match code {
                    201 => {
                        if state.held.fetch_add(1, Ordering::SeqCst) + 1 == seats.len() {
                            state.sold_out.store(true, Ordering::SeqCst);
                            *state
                                .sold_out_at
                                .lock()
                                .map_err(|_| anyhow::anyhow!("poisoned"))? = Some(Instant::now());
                        }
                        break;
                    }
                    409 => continue,
                    other => anyhow::bail!("hold answered {other}"),
                }
            }
            anyhow::Ok(User {
                id: user,
                entry_sent,
                entry_answered,
            })
        }
    }))
    .await;
    let finished = opened.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let (peak_waiting, queue_bytes, used_at_peak) = sampler.await?;
    let mut seen = Vec::with_capacity(users);
    for o in outcomes {
        seen.push(o?);
    }
    let arrival_metrics = arrival_metrics.await??;

    // Rounds from the admission log: one issued_at per round.
    let pool = env.pool(ServiceName::QueueService.schema());
    let admitted: Vec<(Uuid, DateTime<Utc>)> =
        sqlx::query_as("SELECT user_id, issued_at FROM admissions WHERE performance_id = $1")
            .bind(performance)
            .fetch_all(&pool)
            .await?;
    let mut instants: Vec<DateTime<Utc>> = admitted.iter().map(|(_, at)| *at).collect();
    instants.sort();
    instants.dedup();
    let round_of: HashMap<Uuid, usize> = admitted
        .iter()
        .map(|(user, at)| (*user, instants.partition_point(|x| x < at)))
        .collect();
    let out_of_order = out_of_order(&seen, &round_of)?;

    let enter = Figures::of(
        std::mem::take(
            &mut *state
                .enter
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?,
        ),
        seen.iter()
            .map(|u| u.entry_answered)
            .max()
            .zip(seen.iter().map(|u| u.entry_sent).min())
            .map_or(Duration::ZERO, |(last, first)| last - first),
    );
    let poll = Figures::of(
        std::mem::take(&mut *state.poll.lock().map_err(|_| anyhow::anyhow!("poisoned"))?),
        finished,
    );
    let first_admitted = *state
        .first_admitted
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let sold_out_at = *state
        .sold_out_at
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;

    println!(
        "ticket open: {users} users within {} s, admission {admit_per_second}/s, {} seats, at most {in_flight} requests in flight",
        arrival.as_secs(),
        seats.len()
    );
    enter.print("enter (through the gateway)");
    poll.print("poll status (through the gateway)");
    baseline.print("baseline: static /health, all at once");
    println!(
        "  answered during the arrival: {} entries, {} polls, {} hold requests",
        enter.count,
        state.polls_in_arrival.load(Ordering::Relaxed),
        state.holds_in_arrival.load(Ordering::Relaxed)
    );
    println!("  during the arrival, as the servers measured it:");
    for (label, service, method, route) in [
        (
            "gateway, POST (enter, holds)",
            "api-gateway",
            "POST",
            "/api/{*rest}",
        ),
        (
            "gateway, GET (status)",
            "api-gateway",
            "GET",
            "/api/{*rest}",
        ),
        (
            "queue-service, enter",
            "queue-service",
            "POST",
            "/api/queue/{performance_id}/enter",
        ),
        (
            "queue-service, status",
            "queue-service",
            "GET",
            "/api/queue/{performance_id}/status",
        ),
    ] {
        let [p50, p99] =
            ["0.5", "0.99"].map(|q| server_ms(&arrival_metrics, service, method, route, q));
        println!("    {label:<32} p50 {p50:>8.2} ms  p99 {p99:>8.2} ms");
    }
    println!(
        "  enter/baseline throughput {:.2}, poll/baseline {:.2}",
        enter.per_second / baseline.per_second,
        poll.per_second / baseline.per_second
    );
    println!(
        "  everyone admitted: {} of {users} (admission log: {} rows in {} rounds); all done after {:.1} s",
        round_of.len(),
        admitted.len(),
        instants.len(),
        finished.as_secs_f64()
    );
    match (first_admitted, sold_out_at) {
        (Some(first), Some(sold)) => println!(
            "  sold out {:.2} s after the first admission ({:.2} s after opening); {} seats held",
            (sold - first).as_secs_f64(),
            (sold - opened).as_secs_f64(),
            state.held.load(Ordering::SeqCst)
        ),
        _ => println!(
            "  not sold out: {} of {} seats held",
            state.held.load(Ordering::SeqCst),
            seats.len()
        ),
    }
    println!(
        "  Redis per waiting user: {:.0} bytes in the queue's sorted set, {:.0} bytes of used memory (peak {peak_waiting} waiting)",
        queue_bytes as f64 / peak_waiting.max(1) as f64,
        used_at_peak.saturating_sub(used_before) as f64 / peak_waiting.max(1) as f64
    );
    println!(
        "  fairness: {out_of_order} of {users} admitted out of arrival order ({:.4} %)",
        100.0 * out_of_order as f64 / users as f64
    );
    anyhow::ensure!(
        round_of.len() == users,
        "{} users were not admitted",
        users - round_of.len()
    );
    anyhow::ensure!(out_of_order == 0, "admission was not in arrival order");

    let _ = platform.stop().await;
    env.cleanup().await;
    drop(redis_server);
    Ok(())
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("INFO memory without used_memory")
}

/// Users admitted in a later round than someone whose entry began after
/// theirs was answered (sorted by entry start; a suffix minimum of rounds
/// answers each user with one binary search).
fn out_of_order(users: &[User], round_of: &HashMap<Uuid, usize>) -> anyhow::Result<usize> {
    let mut by_sent: Vec<(Instant, usize)> = users
        .iter()
        .map(|u| {
            round_of
                .get(&u.id)
                .map(|r| (u.entry_sent, *r))
                .with_context(|| format!("{} has no admission", u.id))
        })
        .collect::<anyhow::Result<_>>()?;
    by_sent.sort();
    let mut suffix_min = vec![usize::MAX; by_sent.len() + 1];
    for i in (0..by_sent.len()).rev() {
        suffix_min[i] = suffix_min[i + 1].min(by_sent[i].1);
    }
    let mut late = 0;
    for u in users {
        let round = round_of[&u.id];
        let after = by_sent.partition_point(|(sent, _)| *sent <= u.entry_answered);
        if suffix_min[after] < round {
            late += 1;
        }
    }
    Ok(late)
}
