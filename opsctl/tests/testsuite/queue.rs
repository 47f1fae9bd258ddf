//! `opsctl queue` against a platform in this process (real PostgreSQL and
//! Redis): paused, a waiting room keeps taking entries and admits nobody
//! over many rounds; `status` shows who waits and since when; resumed, it
//! admits them in the order they arrived, at the rate `set-rate` gave; a
//! pause of every performance holds a room too, and a dry run changes
//! nothing.

use crate::common;

use std::time::Duration;

use serde_json::{json, Value};
use ticketing_e2e::Stack;
use uuid::Uuid;

/// The admission loop's round in this test.
const ROUND_MS: u64 = 50;

struct Room<'a> {
    stack: &'a Stack,
    performance: Uuid,
    vars: Vec<(&'static str, String)>,
}

impl Room<'_> {
    async fn opsctl(&self, args: &[&str]) -> common::Run {
        let vars: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let run = common::opsctl(args, &vars).await;
        assert_eq!(run.code, 0, "opsctl {args:?}: {}{}", run.stdout, run.stderr);
        run
    }

    /// `queue status PERFORMANCE --output json`'s room.
    async fn status(&self) -> Value {
        let p = self.performance.to_string();
        let run = self
            .opsctl(&["--output", "json", "queue", "status", &p])
            .await;
        let doc: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
        doc["rooms"][0].clone()
    }

    /// A customer enters; returns their access token and user id.
    async fn enter(&self) -> (String, Uuid) {
        let customer = self.stack.customer(self.performance);
        let answer = self
            .stack
            .call(
                "POST",
                &format!("/api/queue/{}/enter", self.performance),
                Some(&customer.access),
                &[],
                Some(json!({"recaptcha_token": "test-pass"})),
            )
            .await;
        assert_eq!(answer.status, 202, "waits: {}", answer.body);
        (customer.access, customer.user)
    }

    async fn standing(&self, access: &str) -> String {
        let answer = self
            .stack
            .call(
                "GET",
                &format!("/api/queue/{}/status", self.performance),
                Some(access),
                &[],
                None,
            )
            .await;
        answer.body["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn admitted_in_order(&self) -> Vec<Uuid> {
        let pool = self.stack.env.pool(Some("queue_service"));
        let users = queue_service::repository::admitted_in_order(&pool, self.performance)
            .await
            .expect("the admission log reads");
        pool.close().await;
        users
    }
}

async fn rounds(n: u64) {
    tokio::time::sleep(Duration::from_millis(ROUND_MS * n)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_room_keeps_its_queue_and_resumes_in_arrival_order() {
    let stack = Stack::start(|s| {
        s.booking.rate_limit_per_second = 1_000_000;
        s.booking.queue_admit_per_interval = 5;
        s.booking.queue_admit_interval_ms = ROUND_MS;
    })
    .await;
    let (performance, _) = stack.performance(1, 1, 10_000).await;
    let audit = common::temp_audit_log("queue");
    let s = &stack.env.settings;
    let room = Room {
        stack: &stack,
        performance,
        vars: vec![
            ("OPSCTL_AUDIT_LOG", audit.display().to_string()),
            ("TICKETING__DATABASE__NAME", s.database.name.clone()),
            ("TICKETING__REDIS__KEY_PREFIX", s.redis.key_prefix.clone()),
            ("TICKETING__BOOKING__QUEUE_ADMIT_PER_INTERVAL", "5".into()),
            (
                "TICKETING__BOOKING__QUEUE_ADMIT_INTERVAL_MS",
                ROUND_MS.to_string(),
            ),
        ],
    };
    let p = performance.to_string();

    // A dry run changes nothing: the first customer is admitted at once.
    let dry = room.opsctl(&["queue", "pause", &p]).await;
    assert!(
        dry.stderr
            .contains("admitting at 100/s (configured) -> paused"),
        "{}",
        dry.stderr
    );
    assert_eq!(common::audit_phases(&audit), ["planned"]);
    let (early, _) = room.enter().await;
    for _ in 0..100 {
        if room.standing(&early).await == "admitted" {
            break;
        }
        rounds(1).await;
    }
    assert_eq!(room.standing(&early).await, "admitted");

    // Paused: six more join and wait through twenty rounds.
    room.opsctl(&["queue", "pause", &p, "--execute"]).await;
    let mut waiting = Vec::new();
    for _ in 0..6 {
        waiting.push(room.enter().await);
        rounds(1).await;
    }
    rounds(20).await;
    for (access, _) in &waiting {
        assert_eq!(room.standing(access).await, "waiting");
    }
    let paused = room.status().await;
    assert_eq!(paused["waiting"], 6, "{paused}");
    assert_eq!(paused["paused"], true, "{paused}");
    assert_eq!(paused["admitted_total"], 1, "{paused}");
    assert_eq!(paused["admit_per_second"], 100.0, "{paused}");
    assert!(
        paused["last_in_line_wait_seconds"].is_null(),
        "no estimate while paused: {paused}"
    );
    assert!(
        paused["oldest_wait_seconds"]
            .as_i64()
            .is_some_and(|s| s >= 1),
        "the first of the six has waited over a second: {paused}"
    );

    // Dry runs of a rate and a resume change nothing.
    room.opsctl(&["queue", "set-rate", &p, "20"]).await;
    room.opsctl(&["queue", "resume", &p]).await;
    rounds(4).await;
    let unchanged = room.status().await;
    assert_eq!(
        (
            &unchanged["paused"],
            &unchanged["rate_overridden"],
            &unchanged["waiting"]
        ),
        (&json!(true), &json!(false), &json!(6)),
        "{unchanged}"
    );

    // One a round (20/s at 50 ms), then resumed: admitted in arrival order.
    room.opsctl(&["queue", "set-rate", &p, "20", "--execute"])
        .await;
    let slowed = room.status().await;
    assert_eq!(slowed["admit_per_second"], 20.0, "{slowed}");
    assert_eq!(slowed["rate_overridden"], true, "{slowed}");
    room.opsctl(&["queue", "resume", &p, "--execute"]).await;
    for _ in 0..200 {
        if room.status().await["waiting"] == 0 {
            break;
        }
        rounds(1).await;
    }
    let order = room.admitted_in_order().await;
    let arrived: Vec<Uuid> = waiting.iter().map(|(_, user)| *user).collect();
    assert_eq!(order.len(), 7, "the early one and the six");
    assert_eq!(
        order[1..],
        arrived[..],
        "admitted in the order they arrived"
    );

    // Pausing every performance holds this room too, until resumed.
    room.opsctl(&["queue", "set-rate", &p, "default", "--execute"])
        .await;
    room.opsctl(&["queue", "pause", "--all", "--execute"]).await;
    let (late, _) = room.enter().await;
    rounds(10).await;
    assert_eq!(room.standing(&late).await, "waiting");
    let all = room.status().await;
    assert_eq!(all["paused_by_all"], true, "{all}");
    let table = room.opsctl(&["queue", "status"]).await;
    assert!(
        table.stdout.contains("PAUSED (all)")
            && table.stdout.contains("queue resume --all --execute"),
        "{}",
        table.stdout
    );
    room.opsctl(&["queue", "resume", "--all", "--execute"])
        .await;
    for _ in 0..100 {
        if room.standing(&late).await == "admitted" {
            break;
        }
        rounds(1).await;
    }
    assert_eq!(room.standing(&late).await, "admitted");
    assert_eq!(room.admitted_in_order().await.len(), 8);

    // Every change was planned, started and done; the three dry runs only
    // planned.
    let phases = common::audit_phases(&audit);
    assert_eq!(
        phases.iter().filter(|p| *p == "done").count(),
        6,
        "{phases:?}"
    );
    assert_eq!(
        phases.iter().filter(|p| *p == "planned").count(),
        9,
        "{phases:?}"
    );

    // A bad rate or performance is refused with what to do.
    let vars: Vec<(&str, &str)> = room.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let zero = common::opsctl(&["queue", "set-rate", &p, "0"], &vars).await;
    assert_eq!(zero.code, 2, "{}", zero.stderr);
    assert!(
        zero.stderr.contains("opsctl queue pause"),
        "{}",
        zero.stderr
    );
    let nope = common::opsctl(&["queue", "set-rate", "nope", "5"], &vars).await;
    assert_ne!(nope.code, 0);
    assert!(nope.stderr.contains("queue status"), "{}", nope.stderr);
    stack.stop().await;
}
