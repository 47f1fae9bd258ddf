//! The change lock of an environment (opsctl/src/lock/), against moto
//! server's DynamoDB, in a region only these tests use.
//!
//! Two opsctl processes race for prod's lock under pseudo-terminals
//! (`script`, so each gets prod's typed confirmation): the lock is taken
//! before the confirmation, so the winner waits at its prompt holding the
//! lock, whatever the timing, and the loser must be refused naming it.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

use super::common;

const LOCK_REGION: &str = "ap-northeast-3";

/// One opsctl run on a terminal of its own, its output (stdout and stderr,
/// as a terminal shows them) gathered as it comes.
struct OnTerminal {
    child: Child,
    seen: Arc<Mutex<String>>,
}

impl OnTerminal {
    fn start(args: &[&str], audit: &std::path::Path) -> OnTerminal {
        let line = std::iter::once(env!("CARGO_BIN_EXE_opsctl"))
            .chain(args.iter().copied())
            .map(|w| shlex::try_quote(w).expect("quotable").into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env("AWS_ENDPOINT_URL", common::moto_url())
            .env("AWS_REGION", LOCK_REGION)
            .env("OPSCTL_AUDIT_LOG", audit)
            .env("OPSCTL_LOCK_WAIT", "0s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script(1) from util-linux runs");
        let seen = Arc::new(Mutex::new(String::new()));
        let mut out = child.stdout.take().expect("stdout");
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("output")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        OnTerminal { child, seen }
    }

    fn seen(&self) -> String {
        self.seen.lock().expect("output").clone()
    }

    fn prompting(&self) -> bool {
        self.seen().contains("Type `prod` to continue")
    }

    fn exited(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .expect("wait")
            .map(|s| s.code().unwrap_or(-1))
    }

    fn answer(&mut self, text: &str) -> i32 {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("type");
        stdin.flush().expect("flush");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(code) = self.exited() {
                // The reader thread drains what is left.
                std::thread::sleep(Duration::from_millis(200));
                return code;
            }
            assert!(Instant::now() < deadline, "no exit: {}", self.seen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for OnTerminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn sdk() -> aws_config::SdkConfig {
    common::moto_sdk(LOCK_REGION).await
}

/// Log groups of `env` without retention: a change with a plan.
async fn groups_without_retention(env: &str, names: &[&str]) -> Vec<String> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk().await);
    let mut made = Vec::new();
    for name in names {
        let group = format!("/ecs/ticketing/{env}/{name}");
        let _ = logs.delete_log_group().log_group_name(&group).send().await;
        logs.create_log_group()
            .log_group_name(&group)
            .send()
            .await
            .expect("log group");
        made.push(group);
    }
    made
}

async fn retention(group: &str) -> Option<i32> {
    common::retention(&aws_sdk_cloudwatchlogs::Client::new(&sdk().await), group).await
}

async fn forget(env: &str, groups: &[String]) {
    let config = sdk().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    for group in groups {
        let _ = logs.delete_log_group().log_group_name(group).send().await;
    }
    let _ = logs
        .delete_log_group()
        .log_group_name(ticketing_catalog::logs::audit_group(env))
        .send()
        .await;
    let _ = aws_sdk_dynamodb::Client::new(&config)
        .delete_table()
        .table_name(ticketing_catalog::aws::change_lock_table(env))
        .send()
        .await;
}

async fn run(args: &[&str], audit: &std::path::Path) -> common::Run {
    let audit = audit.display().to_string();
    common::opsctl(
        args,
        &[
            ("AWS_REGION", LOCK_REGION),
            ("OPSCTL_AUDIT_LOG", audit.as_str()),
            ("OPSCTL_LOCK_WAIT", "0s"),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_racing_for_prods_lock_one_proceeds_and_the_other_names_it() {
    let groups = groups_without_retention("prod", &["api-gateway"]).await;
    let audit = common::temp_audit_log("lock-race");
    let args = ["--env", "prod", "logs", "retention", "apply", "--execute"];
    let mut runs = [
        OnTerminal::start(&args, &audit),
        OnTerminal::start(&args, &audit),
    ];

    // Wait until one is at its prompt and the other has ended.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (winner, loser, code) = loop {
        let ended: Vec<Option<i32>> = runs.iter_mut().map(OnTerminal::exited).collect();
        match (ended[0], ended[1], runs[0].prompting(), runs[1].prompting()) {
            (None, Some(code), true, _) => break (0, 1, code),
            (Some(code), None, _, true) => break (1, 0, code),
            (Some(_), Some(_), _, _) => {
                panic!("both ended: {}\n---\n{}", runs[0].seen(), runs[1].seen())
            }
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no verdict: {}\n---\n{}",
            runs[0].seen(),
            runs[1].seen()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(200));
    let refused = runs[loser].seen();
    assert_eq!(code, 4, "the loser exits 4 (lock held): {refused}");
    assert!(
        refused.contains("the prod change lock is held by arn:aws:")
            && refused.contains("running `logs retention apply`")
            && refused.contains("nothing was changed")
            && refused.contains("opsctl --env prod lock status"),
        "the loser names the holder and says what to do: {refused}"
    );
    assert_eq!(
        retention(&groups[0]).await,
        None,
        "nothing applied while the winner waits at its prompt"
    );

    // While the winner holds it, `lock status` shows it (exit 1).
    let status = run(
        &["--env", "prod", "--output", "json", "lock", "status"],
        &audit,
    )
    .await;
    assert_eq!(status.code, 1, "{}", status.stderr);
    let held: serde_json::Value = serde_json::from_str(&status.stdout).expect("json");
    assert_eq!(held["holder"]["command"], "logs retention apply");
    assert_eq!(held["holder"]["stale"], false);

    let code = runs[winner].answer("prod\n");
    assert_eq!(code, 0, "the winner goes on: {}", runs[winner].seen());
    assert_eq!(retention(&groups[0]).await, Some(7));
    let free = run(&["--env", "prod", "lock", "status"], &audit).await;
    assert_eq!(free.code, 0, "released at the end: {}", free.stdout);

    // The trail in the emulator's CloudWatch Logs has the winner's change
    // with the caller's identity.
    let trail = run(
        &[
            "--env",
            "prod",
            "--output",
            "json",
            "audit",
            "--command",
            "logs retention apply",
        ],
        &audit,
    )
    .await;
    assert_eq!(trail.code, 0, "{}", trail.stderr);
    let trail: serde_json::Value = serde_json::from_str(&trail.stdout).expect("json");
    let phases: Vec<&str> = trail["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["identity"]
                .as_str()
                .is_some_and(|a| a.starts_with("arn:aws:"))
        })
        .filter_map(|e| e["phase"].as_str())
        .collect();
    assert!(
        phases.contains(&"started") && phases.contains(&"done"),
        "{phases:?}"
    );
    forget("prod", &groups).await;
}

/// Writes a holder into dev's lock as another engineer's run would have.
async fn someone_holds_dev(expires_in_seconds: i64) {
    let now = chrono::Utc::now();
    aws_sdk_dynamodb::Client::new(&sdk().await)
        .put_item()
        .table_name(ticketing_catalog::aws::change_lock_table("dev"))
        .item("environment", AttributeValue::S("dev".into()))
        .item(
            "owner",
            AttributeValue::S("arn:aws:iam::123456789012:user/alice".into()),
        )
        .item("user", AttributeValue::S("alice".into()))
        .item("command", AttributeValue::S("deploy".into()))
        .item("started", AttributeValue::S(now.to_rfc3339()))
        .item(
            "expires_at",
            AttributeValue::N((now.timestamp() + expires_in_seconds).to_string()),
        )
        .item("token", AttributeValue::S(uuid::Uuid::new_v4().to_string()))
        .send()
        .await
        .expect("a holder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_refuses_a_stale_one_is_taken_over_and_break_removes_one() {
    let groups = groups_without_retention("dev", &["api-gateway", "event-service"]).await;
    let audit = common::temp_audit_log("lock-dev");
    let apply = ["--env", "dev", "logs", "retention", "apply", "--execute"];

    // First use: the table is made, the lock taken and released.
    let first = run(&apply, &audit).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(retention(&groups[0]).await, Some(7));
    let _ = groups_without_retention("dev", &["api-gateway"]).await;

    // Alice's deploy holds it: refused at once, naming her.
    someone_holds_dev(600).await;
    let refused = run(&apply, &audit).await;
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("held by arn:aws:iam::123456789012:user/alice (alice) running `deploy`"),
        "{}",
        refused.stderr
    );
    assert_eq!(retention(&groups[0]).await, None, "nothing was changed");

    // --lock-wait waits, says for whom, then gives up the same way.
    let waited = run(
        &["--lock-wait", "3s"]
            .iter()
            .chain(&apply)
            .copied()
            .collect::<Vec<_>>(),
        &audit,
    )
    .await;
    assert_eq!(waited.code, 4, "{}", waited.stderr);
    assert!(
        waited
            .stderr
            .contains("waiting up to 3 s for the dev change lock, held by"),
        "{}",
        waited.stderr
    );

    let status = run(
        &["--env", "dev", "--output", "json", "lock", "status"],
        &audit,
    )
    .await;
    assert_eq!(status.code, 1);
    let held: serde_json::Value = serde_json::from_str(&status.stdout).expect("json");
    assert_eq!(held["holder"]["user"], "alice");
    assert_eq!(held["holder"]["stale"], false);

    // break: a dry run first, then --execute removes it (audited).
    let dry = run(&["--env", "dev", "lock", "break"], &audit).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stderr.contains("dry run"), "{}", dry.stderr);
    assert_eq!(
        run(&["--env", "dev", "lock", "status"], &audit).await.code,
        1
    );
    let broke = run(&["--env", "dev", "lock", "break", "--execute"], &audit).await;
    assert_eq!(broke.code, 0, "{}", broke.stderr);
    assert_eq!(
        run(&["--env", "dev", "lock", "status"], &audit).await.code,
        0
    );
    let log = std::fs::read_to_string(&*audit).expect("audit log");
    assert!(
        log.lines()
            .any(|l| l.contains("\"lock break\"") && l.contains("\"done\"") && l.contains("alice")),
        "{log}"
    );

    // A lock whose lease ran out is shown stale and taken over.
    someone_holds_dev(-60).await;
    let stale = run(
        &["--env", "dev", "--output", "json", "lock", "status"],
        &audit,
    )
    .await;
    let stale: serde_json::Value = serde_json::from_str(&stale.stdout).expect("json");
    assert_eq!(stale["holder"]["stale"], true);
    let over = run(&apply, &audit).await;
    assert_eq!(over.code, 0, "{}", over.stderr);
    assert_eq!(retention(&groups[0]).await, Some(7));
    assert_eq!(
        run(&["--env", "dev", "lock", "status"], &audit).await.code,
        0
    );
    forget("dev", &groups).await;
}
