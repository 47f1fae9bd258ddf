//! `opsctl reservations reconcile` against the whole platform in-process and
//! a PortOne sandbox: a payment whose webhook was lost is re-announced and
//! the reservation ends CONFIRMED through the normal path; an unpaid one is
//! only reported.

use ticketing_e2e::Stack;
use ticketing_testkit::TestEnv;

/// opsctl against `booking`'s database, topics, sandbox and gateway.
async fn run(booking: &Stack, audit: &std::path::Path, args: Vec<&str>) -> (i32, String, String) {
    let vars = [
        (
            "TICKETING__DATABASE__NAME",
            booking.env.settings.database.name.clone(),
        ),
        (
            "TICKETING__KAFKA__TOPIC_PREFIX",
            booking.env.settings.kafka.topic_prefix.clone(),
        ),
        (
            "TICKETING__PORTONE__BASE_URL",
            booking.sandbox.url.to_string(),
        ),
        (
            "TICKETING__SERVICES__API_GATEWAY__URL",
            booking.gateway.clone(),
        ),
        ("OPSCTL_AUDIT_LOG", audit.display().to_string()),
    ];
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_opsctl"))
        .args(args)
        .envs(vars)
        .output()
        .await
        .expect("opsctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paid_reservation_whose_webhook_was_lost_is_confirmed_by_reconciliation() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let settings = env.settings.clone();
    let booking = Stack::start_with(env, settings).await;
    let (performance, seats) = booking.minted_performance(3, 7000).await;

    let payer = booking.customer(performance);
    let paid = booking.hold_as(&payer, performance, &seats[0]).await;
    let merchant = booking.prepare_as(&payer, &paid).await;
    // The customer pays, but the webhook goes nowhere.
    let outcome = booking
        .pay(&merchant, 7000, Some("http://127.0.0.1:9/webhooks/portone"))
        .await;
    assert_eq!(outcome["payment"]["status"], "paid");
    assert!(
        outcome["webhook"]["status"].is_null(),
        "the webhook was lost"
    );
    let unpaid = booking
        .hold_as(&booking.customer(performance), performance, &seats[1])
        .await;
    let paid_id = paid["reservation_id"].as_str().expect("id").to_owned();
    let unpaid_id = unpaid["reservation_id"].as_str().expect("id").to_owned();
    assert_eq!(booking.status_of(&paid_id).await, "PENDING");

    let audit = std::env::temp_dir().join(format!("reconcile-{}.jsonl", booking.env.id));
    let run = |args: Vec<&'static str>| run(&booking, &audit, args);
    let (code, stdout, stderr) = run(vec![
        "--output",
        "json",
        "reservations",
        "reconcile",
        "--older-than",
        "0s",
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("json");
    let line = |id: &str| {
        lines
            .iter()
            .find(|l| l["reservation_id"] == id)
            .cloned()
            .expect("line")
    };
    assert_eq!(line(&paid_id)["portone"], "paid");
    assert_eq!(line(&paid_id)["found"], "pending_reservation");
    assert_eq!(line(&paid_id)["action"], "announce");
    assert_eq!(line(&unpaid_id)["portone"], "none");
    assert_eq!(line(&unpaid_id)["action"], "report");
    assert_eq!(
        booking.status_of(&paid_id).await,
        "PENDING",
        "a plan changes nothing"
    );

    let (code, stdout, stderr) = run(vec![
        "--output",
        "json",
        "reservations",
        "reconcile",
        "--older-than",
        "0s",
        "--execute",
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    let done: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(done["summary"]["announced"], 1, "{done}");
    assert_eq!(done["summary"]["unpaid"], 1, "{done}");
    assert_eq!(booking.confirmed(std::slice::from_ref(&paid_id)).await, 1);
    assert_eq!(booking.status_of(&unpaid_id).await, "PENDING");

    let (code, _, stderr) = run(vec!["reservations", "reconcile", "--older-than", "soon"]).await;
    assert_eq!(code, 2, "{stderr}");
    let _ = std::fs::remove_file(&audit);
    booking.stop_keeping_env().await.cleanup().await;
}

/// A payment whose webhook never came, on a hold that has since expired:
/// the reservation is no longer PENDING, but the payment service still has
/// the order READY. Reconciliation finds it by the order, and announcing
/// it settles it as PortOne's record says: paid too late, so refunded, and
/// the reservation says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_left_ready_after_its_hold_expired_is_found_and_refunded() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let mut settings = env.settings.clone();
    settings.booking.hold_ttl_seconds = 1;
    // The payment service's own sweep and ledger walk stay out of the way:
    // reconciliation is what is tested here (on a slow run the walk's
    // default minute could pass and settle the paid order first).
    settings.booking.payment_check_after_seconds = 3_600;
    settings.booking.payment_ledger_interval_ms = 3_600_000;
    let booking = Stack::start_with(env, settings).await;
    let (performance, seats) = booking.minted_performance(1, 5000).await;
    let payer = booking.customer(performance);
    let held = booking.hold_as(&payer, performance, &seats[0]).await;
    let reservation = held["reservation_id"].as_str().expect("id").to_owned();
    let merchant = booking.prepare_as(&payer, &held).await;
    let outcome = booking
        .pay(&merchant, 5000, Some("http://127.0.0.1:9/webhooks/portone"))
        .await;
    assert_eq!(outcome["payment"]["status"], "paid");
    let imp_uid = outcome["payment"]["imp_uid"]
        .as_str()
        .expect("imp_uid")
        .to_owned();
    booking
        .reservation_becomes(&payer.access, &reservation, "CANCELLED")
        .await;

    let audit = std::env::temp_dir().join(format!("reconcile-late-{}.jsonl", booking.env.id));
    let args = vec![
        "--output",
        "json",
        "reservations",
        "reconcile",
        "--older-than",
        "0s",
    ];
    let (code, stdout, stderr) = run(&booking, &audit, args.clone()).await;
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("json");
    if lines.len() != 1 {
        // What became of the order, so that a failure says who settled it
        // (the reservation's orders as payment-service's repository reads them).
        let pool = booking.env.pool(Some("payment_service"));
        let id = uuid::Uuid::parse_str(&reservation).expect("reservation id");
        let orders = payment_service::repository::orders_of(&pool, id)
            .await
            .expect("orders");
        pool.close().await;
        panic!("reconcile found {lines:?}; the reservation's orders: {orders:?}; {stderr}");
    }
    assert_eq!(lines[0]["reservation_id"], reservation.as_str());
    assert_eq!(lines[0]["found"], "unsettled_order");
    assert_eq!(lines[0]["portone"], "paid");
    assert_eq!(lines[0]["action"], "announce");

    let mut execute = args;
    execute.push("--execute");
    let (code, stdout, stderr) = run(&booking, &audit, execute).await;
    assert_eq!(code, 0, "{stderr}");
    let done: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(done["summary"]["announced"], 1, "{done}");
    let mut refunded = false;
    for _ in 0..300 {
        let p = booking.sandbox.sandbox.payment(&imp_uid).expect("payment");
        if p.status == ticketing_portone::PaymentStatus::Cancelled {
            refunded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refunded, "the late payment was refunded at PortOne");
    assert_eq!(booking.status_of(&reservation).await, "CANCELLED");
    let _ = std::fs::remove_file(&audit);
    booking.stop_keeping_env().await.cleanup().await;
}

/// `--since`: PortOne's ledger walked by opsctl with payment-service's own
/// test of what no order accounts for. One order paid twice, both notices
/// lost, the platform's own sweep and ledger walk out of the way: the plan
/// has the reservation (found PENDING) and the other payment (found in the
/// ledger); executing announces both, one confirms the reservation and the
/// other is refunded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn since_walks_portone_s_ledger_and_a_second_payment_is_refunded() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let mut settings = env.settings.clone();
    settings.booking.payment_check_after_seconds = 3_600;
    settings.booking.payment_ledger_interval_ms = 3_600_000;
    let booking = Stack::start_with(env, settings).await;
    let (performance, seats) = booking.minted_performance(1, 4000).await;
    let payer = booking.customer(performance);
    let held = booking.hold_as(&payer, performance, &seats[0]).await;
    let reservation = held["reservation_id"].as_str().expect("id").to_owned();
    let merchant = booking.prepare_as(&payer, &held).await;
    let merchant = merchant.as_str().expect("merchant_uid");
    let mut imp_uids = Vec::new();
    for _ in 0..2 {
        let paid = booking
            .pay_unheard(merchant, 4000, portone_sandbox::TEST_CARD)
            .await;
        imp_uids.push(
            paid["payment"]["imp_uid"]
                .as_str()
                .expect("imp_uid")
                .to_owned(),
        );
    }

    let audit = std::env::temp_dir().join(format!("reconcile-ledger-{}.jsonl", booking.env.id));
    let args = vec![
        "--output",
        "json",
        "reservations",
        "reconcile",
        "--older-than",
        "0s",
        "--since",
        "1h",
    ];
    let (code, stdout, stderr) = run(&booking, &audit, args.clone()).await;
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("json");
    let found: Vec<&str> = lines.iter().filter_map(|l| l["found"].as_str()).collect();
    assert_eq!(found, ["pending_reservation", "ledger"], "{lines:?}");
    assert!(lines.iter().all(|l| l["action"] == "announce"));

    let mut execute = args;
    execute.push("--execute");
    let (code, stdout, stderr) = run(&booking, &audit, execute).await;
    assert_eq!(code, 0, "{stderr}");
    let done: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(done["summary"]["announced"], 2, "{done}");
    assert_eq!(
        booking.confirmed(std::slice::from_ref(&reservation)).await,
        1
    );
    let statuses: Vec<_> = imp_uids
        .iter()
        .map(|i| booking.sandbox.sandbox.payment(i).expect("payment").status)
        .collect();
    assert!(
        statuses.contains(&ticketing_portone::PaymentStatus::Paid)
            && statuses.contains(&ticketing_portone::PaymentStatus::Cancelled),
        "one kept, one refunded: {statuses:?}"
    );
    let _ = std::fs::remove_file(&audit);
    booking.stop_keeping_env().await.cleanup().await;
}
