//! Seat-map reads and seat holds under contention, through the gateway of a
//! platform started in-process on the local stack, each next to a baseline
//! measured in the same run.
//!
//! ```text
//! infra/local/stack.sh start
//! cargo bench -p ticketing --bench booking_flow
//! ```
//!
//! * Seat-map reads: `BENCH_CLIENTS` (default 32) clients read one
//!   performance's seat map for `BENCH_SECONDS` (default 5) through the
//!   gateway (its micro-cache, in front of event-service's Redis), the same
//!   with `If-None-Match` (a revalidating browser or CDN: `304`), then
//!   directly from event-service; requests/s, p50/p95/p99, the gateway
//!   cache's hit ratio, gateway/direct; then the gateway's static liveness
//!   route the same way (the baseline of issue 20: seat-map reads against
//!   the cheapest route the gateway has).
//! * Holds under contention: `BENCH_HOLDERS` (default 400) clients race in
//!   rounds for 40 seats (each round on a new performance), arriving at
//!   `BENCH_HOLD_RATE` attempts/s (default 2,000; 0 sends each round at
//!   once); attempts/s and p95, next to the same clients reading their
//!   reservation history at the same pace (the same gateway, token and
//!   database path without the hold). The first round on the fresh
//!   platform is reported apart (a task's cold start); the server-side
//!   p50/p95/p99 of the gateway and of reservation-service say where the
//!   time went. Diagnostics: `BENCH_ROUNDS=1` prints each round,
//!   `BENCH_WORKERS=N` sizes the runtime, `BENCH_MARKS=1` prints the first
//!   round's start and end on CLOCK_MONOTONIC for `perf report --time`.
//!
//! Tokens are minted with the stack's keys (no sign-up per client).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use futures::future::join_all;
use serde_json::json;
use ticketing_catalog::ServiceName;
use ticketing_testkit::TestEnv;
use ticketing_tokens::{Keyring, ReservationClaims};
use uuid::Uuid;

mod common;
use common::{counter, knob, percentile_ms, server_ms};

struct Run {
    requests: usize,
    per_second: f64,
    p50: f64,
    p95: f64,
    p99: f64,
}

impl Run {
    fn of(mut latencies: Vec<Duration>, elapsed: Duration) -> Run {
        latencies.sort();
        Run {
            requests: latencies.len(),
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile_ms(&latencies, 0.50),
            p95: percentile_ms(&latencies, 0.95),
            p99: percentile_ms(&latencies, 0.99),
        }
    }

    fn print(&self, label: &str) {
        println!(
            "{label:<32} {:>8.0} req/s  p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms  ({} requests)",
            self.per_second, self.p50, self.p95, self.p99, self.requests
        );
    }
}

/// `clients` loops GET `url` (with `if_none_match`, if any) for `seconds`.
async fn hammer(
    http: &reqwest::Client,
    url: &str,
    if_none_match: Option<&str>,
    clients: u64,
    seconds: u64,
) -> anyhow::Result<Run> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let loops = (0..clients).map(|_| async move {
        let mut latencies = Vec::new();
        while Instant::now() < deadline {
            let t = Instant::now();
            let mut req = http.get(url);
            if let Some(tag) = if_none_match {
                req = req.header(reqwest::header::IF_NONE_MATCH, tag);
            }
            let r = req.send().await?;
            anyhow::ensure!(
                r.status().is_success() || r.status() == reqwest::StatusCode::NOT_MODIFIED,
                "{url}: HTTP {}",
                r.status()
            );
            let _ = r.bytes().await?;
            latencies.push(t.elapsed());
        }
        anyhow::Ok(latencies)
    });
    let mut all = Vec::new();
    for l in join_all(loops).await {
        all.extend(l?);
    }
    Ok(Run::of(all, started.elapsed()))
}

fn main() -> anyhow::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Ok(workers) = std::env::var("BENCH_WORKERS") {
        runtime.worker_threads(workers.parse().context("BENCH_WORKERS")?);
    }
    runtime.enable_all().build()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let clients = knob("BENCH_CLIENTS", 32)?;
    let seconds = knob("BENCH_SECONDS", 5)?;
    let holders = knob("BENCH_HOLDERS", 400)? as usize;
    // Attempts arrive at this rate (0: all at once, the old burst).
    let hold_rate = knob("BENCH_HOLD_RATE", 2_000)?;
    let pace = if hold_rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(1.0 / hold_rate as f64)
    };

    let env = TestEnv::new().await;
    env.create_topics().await;
    let mut settings = env.settings.clone();
    settings.booking.rate_limit_per_second = 10_000_000;
    settings.telemetry.log_level = "warn".into();
    let platform =
        ticketing_platform::start(settings.clone(), env.secrets.clone(), &ServiceName::ALL).await?;
    let gateway = format!(
        "http://{}",
        platform.addr(ServiceName::ApiGateway).context("gateway")?
    );
    let events = format!(
        "http://{}",
        platform.addr(ServiceName::EventService).context("events")?
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let auth = ticketing_http::Authenticator::new(
        Keyring::new(&env.secrets.jwt_signing_key, &[]),
        settings.booking.jwt_issuer.clone(),
        3600,
    );
    let queue_keys = Keyring::new(&env.secrets.queue_token_signing_key, &[]);
    let organiser = auth
        .issue_with(Uuid::now_v7(), Some(ticketing_tokens::Role::Organiser))
        .0;

    let create = |rows: u64| {
        let (http, gateway, organiser) = (http.clone(), gateway.clone(), organiser.clone());
        async move { common::create_performance(&http, &gateway, &organiser, rows).await }
    };

    // Seat-map reads: 500 seats, cached after the first read.
    let (performance, _) = create(25).await?;
    let map_url = format!("{gateway}/api/events/{performance}/seats");
    let first = http.get(&map_url).send().await?;
    let etag = first
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .context("the gateway's seat map carries an ETag")?
        .to_owned();
    let map_bytes = first.bytes().await?.len();
    let metrics_url = format!("{gateway}/metrics");
    let before = http.get(&metrics_url).send().await?.text().await?;
    let via_gateway = hammer(&http, &map_url, None, clients, seconds).await?;
    let after = http.get(&metrics_url).send().await?.text().await?;
    let reads = |text: &str, cache: &str| {
        counter(
            text,
            &format!("gateway_seat_map_reads{{cache=\"{cache}\"}}"),
        )
    };
    let hits = reads(&after, "hit") - reads(&before, "hit");
    let misses = reads(&after, "miss") - reads(&before, "miss");
    let revalidated = hammer(&http, &map_url, Some(&etag), clients, seconds).await?;
    let direct = hammer(
        &http,
        &format!("{events}/api/events/{performance}/seats"),
        None,
        clients,
        seconds,
    )
    .await?;
    let static_route = hammer(
        &http,
        &format!("{gateway}{}", ticketing_catalog::http::LIVENESS_PATH),
        None,
        clients,
        seconds,
    )
    .await?;
    println!("seat-map reads, {clients} clients, {seconds} s, 500-seat map ({map_bytes} bytes)");
    via_gateway.print("  through the gateway (cached)");
    revalidated.print("  the same, If-None-Match (304)");
    direct.print("  event-service directly");
    static_route.print("  gateway static route (/health)");
    println!(
        "  gateway cache hit ratio {:.4}  gateway/direct throughput {:.2}  gateway/static route {:.2}  304/static route {:.2}",
        hits / (hits + misses).max(1.0),
        via_gateway.per_second / direct.per_second,
        via_gateway.per_second / static_route.per_second,
        revalidated.per_second / static_route.per_second
    );

    // Holds under contention: rounds of `holders` clients for 40 seats.
    let round = |performance: Uuid, seats: Vec<Uuid>| {
        let (http, gateway, auth, queue_keys) = (
            http.clone(),
            gateway.clone(),
            auth.clone(),
            queue_keys.clone(),
        );
        async move {
            let round_start = Instant::now();
            let attempts = (0..holders).map(|i| {
                let user = Uuid::now_v7();
                let access = auth.issue(user).0;
                let claims = ReservationClaims::new(
                    user,
                    performance,
                    Utc::now(),
                    chrono::Duration::minutes(10),
                );
                let qr = ticketing_tokens::issue(&queue_keys, &claims);
                let seat = seats[i % seats.len()];
                let http = http.clone();
                let url = format!("{gateway}/api/reservations");
                let at = round_start + pace.mul_f64(i as f64);
                async move {
                    tokio::time::sleep_until(at.into()).await;
                    let t = Instant::now();
                    let r = http
                        .post(url)
                        .bearer_auth(access)
                        .header("x-queue-token", qr)
                        .json(&json!({"performance_id": performance, "seat_ids": [seat]}))
                        .send()
                        .await?;
                    let status = r.status().as_u16();
                    let _ = r.bytes().await?;
                    anyhow::ensure!(status == 201 || status == 409, "hold answered {status}");
                    anyhow::Ok((t.elapsed(), status == 201))
                }
            });
            let mut latencies = Vec::new();
            let mut won = 0;
            for a in join_all(attempts).await {
                let (latency, ok) = a?;
                latencies.push(latency);
                won += usize::from(ok);
            }
            anyhow::Ok((latencies, won, round_start.elapsed()))
        }
    };
    // The first round on the fresh platform is reported apart: it pays
    // for what a fresh task does once (new PostgreSQL backends faulting
    // in shared memory and loading their catalog caches, statements
    // parsed per connection: benches/profiles/holds.md). The measured
    // rounds' performances exist before the first of them starts, as a
    // sale's do.
    let (cold_performance, cold_seats) = create(2).await?;
    // BENCH_MARKS: the first round's start and end on CLOCK_MONOTONIC (an
    // Instant's debug form), to cut a `perf record -k CLOCK_MONOTONIC`
    // profile to it (`perf report --time start,end`).
    let marks = std::env::var_os("BENCH_MARKS").is_some();
    if marks {
        eprintln!("first round starts {:?}", Instant::now());
    }
    let (cold, cold_won, cold_elapsed) = round(cold_performance, cold_seats).await?;
    if marks {
        eprintln!("first round ends {:?}", Instant::now());
    }
    let cold = Run::of(cold, cold_elapsed);
    anyhow::ensure!(
        cold_won == 40,
        "{cold_won} holds won in the first round, not 40"
    );
    let mut sales = Vec::new();
    for _ in 0..3 {
        sales.push(create(2).await?);
    }
    let mut hold_latencies = Vec::new();
    let mut won = 0;
    let hold_started = Instant::now();
    for (performance, seats) in sales {
        let (latencies, round_won, elapsed) = round(performance, seats).await?;
        if std::env::var_os("BENCH_ROUNDS").is_some() {
            Run::of(latencies.clone(), elapsed).print("    round");
        }
        hold_latencies.extend(latencies);
        won += round_won;
    }
    let holds = Run::of(hold_latencies, hold_started.elapsed());
    // Where the hold's time went, as the servers measured it: the
    // gateway's whole answer and reservation-service's handler.
    let server = http.get(&metrics_url).send().await?.text().await?;
    let stage = |service: &str, route: &str| {
        ["0.5", "0.95", "0.99"].map(|q| server_ms(&server, service, "POST", route, q))
    };
    let at_gateway = stage("api-gateway", "/api/{*rest}");
    let in_reservations = stage("reservation-service", "/api/reservations");

    let base_started = Instant::now();
    let mut base_latencies = Vec::new();
    for _ in 0..3 {
        let round_start = Instant::now();
        let reads = (0..holders).map(|i| {
            let access = auth.issue(Uuid::now_v7()).0;
            let http = http.clone();
            let url = format!("{gateway}/api/reservations");
            let at = round_start + pace.mul_f64(i as f64);
            async move {
                tokio::time::sleep_until(at.into()).await;
                let t = Instant::now();
                let r = http.get(url).bearer_auth(access).send().await?;
                anyhow::ensure!(r.status().is_success(), "history answered {}", r.status());
                let _ = r.bytes().await?;
                anyhow::Ok(t.elapsed())
            }
        });
        for r in join_all(reads).await {
            base_latencies.push(r?);
        }
    }
    let baseline = Run::of(base_latencies, base_started.elapsed());
    println!(
        "seat holds, 3 rounds of {holders} clients racing for 40 seats, arriving at {hold_rate}/s (0: at once)"
    );
    cold.print("  first round (fresh platform)");
    holds.print("  hold attempts");
    for (label, [p50, p95, p99]) in [
        ("    in the gateway", at_gateway),
        ("    in reservation-service", in_reservations),
    ] {
        println!("{label:<34}               p50 {p50:>6.2} ms  p95 {p95:>6.2} ms  p99 {p99:>6.2} ms  (server side)");
    }
    baseline.print("  history reads (baseline)");
    println!(
        "  {won} holds won of {} attempts (expected {}); hold/baseline throughput {:.2}",
        holds.requests,
        3 * 40,
        holds.per_second / baseline.per_second
    );

    let _ = platform.stop().await;
    env.cleanup().await;
    Ok(())
}
