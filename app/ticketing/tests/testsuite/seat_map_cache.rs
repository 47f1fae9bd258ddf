//! The seat map as the caches serve it.
//!
//! The event service keeps the stored JSON in Redis: a cached read answers
//! exactly what the database read did, and a hold makes it stale no longer
//! than the event takes. In front of it, the gateway's micro-cache (issue 34)
//! answers repeated reads with one upstream fetch however many ask at once,
//! with an `ETag` that turns a repeated read into `304`, a `Cache-Control` a
//! CDN can follow, no caching of failures, and the entry dropped by a hold.
//!
//! One test, not several: the counts come from the process's one metrics
//! recorder, which parallel tests in this binary would share.

use std::time::Duration;

use ticketing_e2e::Stack;

/// The gateway's counter `name` with `label`, summed over its series.
async fn counter(stack: &Stack, name: &str, label: &str) -> f64 {
    let text = stack
        .http
        .get(format!("{}/metrics", stack.gateway))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn get(stack: &Stack, path: &str, if_none_match: Option<&str>) -> reqwest::Response {
    let mut req = stack.http.get(format!("{}{path}", stack.gateway));
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    req.send().await.expect("gateway answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_maps_are_cached_at_both_edges_and_follow_a_hold() {
    let stack = Stack::start(|_| {}).await;
    let (performance, seats) = stack.performance(1, 5, 10_000).await;
    let path = format!("/api/events/{performance}/seats");

    // The gateway's validators.
    let first = get(&stack, &path, None).await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().expect("ascii").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(first.headers()["cache-control"], "public, max-age=1");
    let again = get(&stack, &path, Some(&etag)).await;
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.expect("body").is_empty());
    let weak = get(&stack, &path, Some(&format!("W/{etag}"))).await;
    assert_eq!(weak.status(), 304, "If-None-Match compares weakly");
    let other = get(&stack, &path, Some("\"not-this-one\"")).await;
    assert_eq!(other.status(), 200);

    // The event service's cache: the stored JSON, read twice.
    let first = stack.call("GET", &path, None, &[], None).await;
    let second = stack.call("GET", &path, None, &[], None).await;
    for answer in [&first, &second] {
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(
            answer.content_type.starts_with("application/json"),
            "{answer:?}"
        );
    }
    assert_eq!(
        first.body, second.body,
        "a cached read answers what the database did"
    );
    assert_eq!(second.body["available"], 5);

    // Many readers of a map no one has read: one upstream fetch.
    let (crowded, _) = stack.performance(1, 5, 10_000).await;
    let crowded_path = format!("/api/events/{crowded}/seats");
    // Creating it read its map through the gateway: let that entry expire
    // (a wait for the cache, not a timing assertion).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let misses = counter(&stack, "gateway_seat_map_reads", "cache=\"miss\"").await;
    let hits = counter(&stack, "gateway_seat_map_reads", "cache=\"hit\"").await;
    let readers = 40;
    let answers = futures::future::join_all(
        (0..readers).map(|_| stack.call("GET", &crowded_path, None, &[], None)),
    )
    .await;
    assert!(answers
        .iter()
        .all(|a| a.status == 200 && a.body["available"] == 5));
    let fetched = counter(&stack, "gateway_seat_map_reads", "cache=\"miss\"").await - misses;
    let shared = counter(&stack, "gateway_seat_map_reads", "cache=\"hit\"").await - hits;
    assert_eq!(
        (fetched, shared),
        (1.0, f64::from(readers - 1)),
        "{readers} concurrent readers share one fetch"
    );

    // A performance that does not exist: its 404 is passed on, not kept.
    let missing = format!("/api/events/{}/seats", uuid::Uuid::now_v7());
    let misses = counter(&stack, "gateway_seat_map_reads", "cache=\"miss\"").await;
    for _ in 0..2 {
        let answer = stack.call("GET", &missing, None, &[], None).await;
        assert_eq!(answer.status, 404, "{answer:?}");
        assert_eq!(answer.content_type, "application/problem+json");
        assert_eq!(answer.body["code"], "no_such_performance");
    }
    assert_eq!(
        counter(&stack, "gateway_seat_map_reads", "cache=\"miss\"").await - misses,
        2.0,
        "a failed fetch is not cached"
    );

    // A hold through the gateway drops the map; the next reads follow it.
    let dropped = counter(&stack, "gateway_seat_map_dropped", "").await;
    let customer = stack.customer(performance);
    let held = stack
        .hold(&customer.access, &customer.queue, performance, &seats[..1])
        .await;
    assert_eq!(held.status, 201, "{held:?}");
    assert_eq!(
        counter(&stack, "gateway_seat_map_dropped", "").await - dropped,
        1.0,
        "the hold dropped its performance's map"
    );
    let mut available = serde_json::Value::Null;
    for _ in 0..100 {
        available = stack.call("GET", &path, None, &[], None).await.body["available"].clone();
        if available == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(available, 4, "the cached maps follow the hold");
    stack.stop().await;
}
