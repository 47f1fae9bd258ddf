//! Every command that changes the world goes through the one change
//! envelope. The mutating commands are listed from the CLI definition (a
//! leaf with `--execute`), so a new one cannot be missed:
//! - each one this file can plan against the local stack and moto server
//!   is run as a dry run: it exits 0, its audit log holds exactly one
//!   `planned` entry for it (with `execute: false`), and nothing in moto,
//!   PostgreSQL or Kafka changed;
//! - the others need a world only their own test builds (a three-broker
//!   cluster, ECS deployments, the running gateway, reserved offerings moto
//!   does not have); that test asserts the same of their dry run, and this
//!   file checks that it does.

use crate::common;
#[path = "envelope/lock.rs"]
mod lock;

use std::collections::BTreeSet;

use clap::CommandFactory;
use opsctl::Cli;
use ticketing_catalog::ServiceName;
use ticketing_testkit::TestEnv;

const REGION: &str = "eu-central-1";

/// Dry runs this file runs (the leaf, then its arguments).
const DRY_RUNS: &[(&str, &[&str])] = &[
    ("alarms apply", &["--env", "dev", "alarms", "apply"]),
    (
        "dashboards apply",
        &[
            "--env",
            "dev",
            "dashboards",
            "apply",
            "--dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../dashboards"),
        ],
    ),
    (
        "logs retention apply",
        &["--env", "dev", "logs", "retention", "apply"],
    ),
    (
        "infra deploy",
        &[
            "--env",
            "dev",
            "infra",
            "deploy",
            "observability",
            "--dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/templates"),
        ],
    ),
    ("lock break", &["--env", "dev", "lock", "break"]),
    ("outbox replay", &["outbox", "replay"]),
    (
        "reservations reconcile",
        &["reservations", "reconcile", "--older-than", "0s"],
    ),
    ("kafka restart", &["kafka", "restart"]),
    (
        "kafka reset-offsets",
        &[
            "kafka",
            "reset-offsets",
            "--group",
            "event-service",
            "--to",
            "earliest",
        ],
    ),
    ("kafka dr", &["kafka", "dr"]),
    (
        "notice post",
        &["notice", "post", "--template", "booking-delay"],
    ),
];

/// Dry runs another test file checks, and why not here.
const CHECKED_ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "queue pause",
        "queue.rs",
        "needs a platform whose admission loop would admit",
    ),
    (
        "queue resume",
        "queue.rs",
        "needs a paused room that a real resume would open",
    ),
    (
        "queue set-rate",
        "queue.rs",
        "needs a room whose rate the status then shows",
    ),
    (
        "dlq replay",
        "dlq.rs",
        "needs dead letters from real consumers",
    ),
    (
        "secrets apply",
        "secrets.rs",
        "needs the PortOne and reCAPTCHA values in its environment",
    ),
    (
        "users grant-organiser",
        "users.rs",
        "needs an account in a running platform's database",
    ),
    (
        "users revoke-organiser",
        "users.rs",
        "needs an account in a running platform's database",
    ),
    (
        "deploy",
        "deploy.rs",
        "needs an ECR repository, ECS services and a built image",
    ),
    (
        "kafka failover-drill",
        "failover.rs",
        "needs a three-broker cluster",
    ),
    (
        "portone rollback",
        "portone_rollback.rs",
        "needs ECS deployments and PortOne key secrets",
    ),
    (
        "portone switch-back",
        "portone_rollback.rs",
        "needs the live keys a rollback saved",
    ),
    (
        "notice end",
        "notice.rs",
        "needs the running gateway's notices",
    ),
    (
        "reserved purchase",
        "reserved.rs",
        "needs reserved offerings, which moto does not have",
    ),
];

/// Every leaf command that takes `--execute`, as "group sub".
fn mutating_leaves() -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut BTreeSet<String>) {
        if cmd.get_subcommands().next().is_none() {
            if cmd.get_arguments().any(|a| a.get_id() == "execute") {
                out.insert(path.join(" "));
            }
            return;
        }
        for sub in cmd.get_subcommands() {
            path.push(sub.get_name().to_owned());
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(&Cli::command(), &mut Vec::new(), &mut out);
    out
}

#[test]
fn every_mutating_command_has_its_dry_run_checked() {
    let leaves = mutating_leaves();
    assert!(
        leaves.len() >= 15,
        "the CLI definition lists the mutating commands: {leaves:?}"
    );
    let here: BTreeSet<String> = DRY_RUNS.iter().map(|(l, _)| (*l).to_owned()).collect();
    let elsewhere: BTreeSet<String> = CHECKED_ELSEWHERE
        .iter()
        .map(|(l, _, _)| (*l).to_owned())
        .collect();
    assert!(here.is_disjoint(&elsewhere));
    let covered: BTreeSet<String> = here.union(&elsewhere).cloned().collect();
    assert_eq!(
        covered, leaves,
        "every command with --execute has its dry run checked (add a new one to DRY_RUNS)"
    );
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testsuite");
    for (leaf, file, _) in CHECKED_ELSEWHERE {
        let text = std::fs::read_to_string(tests.join(file)).expect("test file");
        let last = leaf.rsplit(' ').next().unwrap_or(leaf);
        assert!(text.contains(last), "{file} runs `{leaf}`");
        assert!(
            text.contains("[\"planned\"]"),
            "{file} asserts a dry run records only its plan"
        );
    }
}

/// What the dry runs could have changed, read before and after.
async fn world(env: &TestEnv) -> Vec<String> {
    let sdk = common::moto_sdk(REGION).await;
    let mut seen = Vec::new();
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let alarms = cw.describe_alarms().send().await.expect("alarms");
    seen.extend(
        alarms
            .metric_alarms()
            .iter()
            .map(|a| format!("alarm {}", a.alarm_name().unwrap_or_default())),
    );
    let boards = cw.list_dashboards().send().await.expect("dashboards");
    seen.extend(
        boards
            .dashboard_entries()
            .iter()
            .map(|d| format!("dashboard {}", d.dashboard_name().unwrap_or_default())),
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let groups = logs.describe_log_groups().send().await.expect("log groups");
    // The audit trail is what a dry run writes (its `planned` entry).
    let audit_trail = ticketing_catalog::logs::audit_group("dev");
    seen.extend(
        groups
            .log_groups()
            .iter()
            .filter(|g| g.log_group_name() != Some(audit_trail.as_str()))
            .map(|g| {
                format!(
                    "log group {} {:?}",
                    g.log_group_name().unwrap_or_default(),
                    g.retention_in_days()
                )
            }),
    );
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let stacks = cfn.describe_stacks().send().await.expect("stacks");
    seen.extend(stacks.stacks().iter().map(|s| {
        format!(
            "stack {} {:?}",
            s.stack_name().unwrap_or_default(),
            s.stack_status()
        )
    }));
    let pool = env.pool(Some("reservation_service"));
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(&pool)
        .await
        .expect("outbox");
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reservations WHERE status = 'PENDING'")
            .fetch_one(&pool)
            .await
            .expect("reservations");
    pool.close().await;
    seen.push(format!(
        "outbox unsent {unsent}, reservations pending {pending}"
    ));
    let group = format!("{}event-service", env.settings.kafka.topic_prefix);
    let topics: Vec<String> = ServiceName::EventService
        .consumes()
        .iter()
        .map(|t| format!("{}{t}", env.settings.kafka.topic_prefix))
        .collect();
    let lag = ticketing_kafka::group_lag(&env.settings.kafka, &group, &topics)
        .await
        .expect("offsets");
    seen.extend(
        lag.iter()
            .map(|p| format!("offset {} {} {:?}", p.topic, p.partition, p.committed)),
    );
    seen.sort();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dry_run_records_its_plan_and_changes_nothing() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    ticketing_platform::migrate_all(&env.settings, &env.secrets, &ServiceName::ALL)
        .await
        .expect("migrate");
    let dir = std::env::temp_dir().join(format!("opsctl-envelope-{}", env.id));
    std::fs::create_dir_all(&dir).expect("dir");
    let before = world(&env).await;
    for (leaf, args) in DRY_RUNS {
        let audit = dir.join(format!("{}.jsonl", leaf.replace(' ', "-")));
        let audit_path = audit.display().to_string();
        let vars = [
            ("OPSCTL_AUDIT_LOG", audit_path.as_str()),
            ("AWS_REGION", REGION),
            (
                "TICKETING__DATABASE__NAME",
                env.settings.database.name.as_str(),
            ),
            (
                "TICKETING__KAFKA__TOPIC_PREFIX",
                env.settings.kafka.topic_prefix.as_str(),
            ),
            ("PORTONE_API_KEY", "dry-run-key"),
            ("PORTONE_API_SECRET", "dry-run-secret"),
        ];
        let json_args = [&["--output", "json"][..], args].concat();
        let run = common::opsctl(&json_args, &vars).await;
        assert_eq!(run.code, 0, "{leaf}: {}{}", run.stdout, run.stderr);
        // One JSON document on stdout, whatever the command.
        let doc: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{leaf}: stdout is not one JSON document ({e}): {}",
                run.stdout
            )
        });
        assert!(doc.is_object() || doc.is_array(), "{leaf}: {doc}");
        let entries: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line"))
            .collect();
        assert_eq!(entries.len(), 1, "{leaf}: one entry: {entries:?}");
        assert_eq!(entries[0]["phase"], "planned", "{leaf}");
        assert_eq!(entries[0]["command"], *leaf);
        assert_eq!(entries[0]["detail"]["execute"], false, "{leaf}");
        assert!(
            run.stderr.contains(opsctl::change::DRY_RUN)
                || run.stderr.contains("nothing to change"),
            "{leaf} says it changed nothing: {}",
            run.stderr
        );
    }
    assert_eq!(world(&env).await, before, "the dry runs changed nothing");
    let _ = std::fs::remove_dir_all(&dir);
    env.cleanup().await;
}
