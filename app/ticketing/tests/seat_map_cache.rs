//! The seat map as the cache serves it: the bytes stored in Redis, not
//! re-encoded. A cached read answers exactly what the database read did,
//! as JSON, and a hold makes it stale no longer than the event takes.

use std::time::Duration;

use ticketing_e2e::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_seat_map_is_the_stored_json_and_follows_a_hold() {
    let stack = Stack::start(|_| {}).await;
    let (performance, seats) = stack.performance(1, 5, 10_000).await;
    let path = format!("/api/events/{performance}/seats");
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

    let customer = stack.customer(performance);
    let held = stack
        .hold(&customer.access, &customer.queue, performance, &seats[..1])
        .await;
    assert_eq!(held.status, 201, "{held:?}");
    let mut available = serde_json::Value::Null;
    for _ in 0..100 {
        available = stack.call("GET", &path, None, &[], None).await.body["available"].clone();
        if available == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(available, 4, "the cached map follows the hold");
}
