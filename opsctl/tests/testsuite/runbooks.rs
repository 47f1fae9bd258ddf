//! Every `opsctl` command line in `runbooks/*.md` parses with the real CLI
//! definition, so a runbook cannot name a command, flag or value the tool
//! does not have.

use clap::Parser;
use opsctl::Cli;

use crate::common;
#[path = "runbooks/rehearsal.rs"]
mod rehearsal;

/// Splits a command line on whitespace, honouring single and double quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            (_, c) => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `opsctl ...` lines inside fenced code blocks.
fn command_lines(markdown: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            inside = !inside;
            continue;
        }
        if inside && trimmed.starts_with("opsctl ") {
            out.push(trimmed.to_owned());
        }
    }
    out
}

#[test]
fn every_command_line_in_the_runbooks_parses_with_the_real_cli() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks");
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("runbooks/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for line in command_lines(&text) {
            // `a && b`: each part is a command.
            for part in line.split("&&").map(str::trim) {
                checked += 1;
                if let Err(e) = Cli::try_parse_from(words(part)) {
                    failures.push(format!("{}: `{part}`: {e}", path.display()));
                }
            }
        }
        if path.file_name().is_some_and(|n| n != "README.md") {
            for section in [
                "## Meaning",
                "## Impact",
                "## Diagnosis",
                "## Mitigation",
                "## Verification",
                "## Escalation",
            ] {
                if !text.contains(section) {
                    failures.push(format!("{}: no `{section}` section", path.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 60, "only {checked} command lines found");
}

#[test]
fn a_wrong_command_line_would_be_caught() {
    assert!(Cli::try_parse_from(words("opsctl kafka restart --no-such-flag")).is_err());
    assert!(Cli::try_parse_from(words("opsctl outbox replay --rate 'ten'")).is_err());
    assert_eq!(words("opsctl a 'b c' \"d\""), ["opsctl", "a", "b c", "d"]);
}

#[test]
fn every_command_of_the_free_tier_timeline_parses() {
    let ends = chrono::NaiveDate::from_ymd_opt(2027, 1, 12).expect("date");
    for action in opsctl::ops::cost_report::checklist(ends) {
        for part in action.command.split("&&").map(str::trim) {
            assert!(
                Cli::try_parse_from(words(part)).is_ok(),
                "{}: `{part}`",
                action.when
            );
        }
        // A step that moves the broker to Spot must say so: without the
        // parameter the deploy keeps the stack's UseSpot and changes nothing.
        if action.action.contains("to Spot") {
            assert!(
                action.command.contains("--param UseSpot=true"),
                "{}: {}",
                action.when,
                action.command
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The GitHub Actions workflows (.github/workflows): what their jobs run is
// the README's test command and opsctl command lines that parse with the
// real CLI, so a renamed flag breaks the build, not the pipeline.

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn workflow(name: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(repo().join(".github/workflows").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every `run:` script of every job, continuation lines joined.
fn scripts(w: &serde_yaml::Value) -> Vec<String> {
    let mut out = Vec::new();
    for (_, job) in w["jobs"].as_mapping().into_iter().flatten() {
        for step in job["steps"].as_sequence().into_iter().flatten() {
            if let Some(run) = step["run"].as_str() {
                out.push(run.replace("\\\n", " "));
            }
        }
    }
    out
}

/// The opsctl command lines of a script, shell variables replaced by values
/// of the right kind (`$DEPLOY_ENV` an environment, `"${services[@]}"`
/// none, any other a placeholder word).
fn opsctl_lines(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in script.lines() {
        let all = words(line);
        // A command line that runs opsctl (not one that copies it).
        let start = 0;
        if !all
            .first()
            .is_some_and(|w| w == "opsctl" || w.ends_with("/opsctl"))
        {
            continue;
        }
        let mut command = vec!["opsctl".to_owned()];
        for w in &all[start + 1..] {
            if w.starts_with('>') || ["||", "&&", "|", ";"].contains(&w.as_str()) {
                break;
            }
            match w.as_str() {
                "${services[@]}" => {}
                "$DEPLOY_ENV" => command.push("dev".into()),
                w if w.contains('$') => command.push("placeholder".into()),
                w => command.push(w.to_owned()),
            }
        }
        out.push(command);
    }
    out
}

#[test]
fn the_workflows_run_the_readme_s_test_command_and_opsctl_commands_that_exist() {
    let mut checked = Vec::new();
    for name in ["ci.yml", "deploy.yml", "deploy-env.yml", "plan.yml"] {
        let w = workflow(name);
        for script in scripts(&w) {
            // No long-lived AWS keys anywhere.
            assert!(
                !script.contains("AWS_SECRET_ACCESS_KEY"),
                "{name}: {script}"
            );
            for command in opsctl_lines(&script) {
                if let Err(e) = Cli::try_parse_from(&command) {
                    panic!("{name}: `{}` does not parse: {e}", command.join(" "));
                }
                checked.push(command.join(" "));
            }
        }
    }
    let has = |needle: &str| checked.iter().any(|c| c.contains(needle));
    assert!(has("--output json deploy --image"), "{checked:?}");
    assert!(has("--execute --yes"), "{checked:?}");
    assert!(has("--output markdown infra plan"), "{checked:?}");
    assert!(has("--output markdown cost diff --base"), "{checked:?}");

    // CI runs .ci/run, which runs the README's second command.
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let test_command = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Quick start"))
        .filter(|l| l.starts_with("infra/local/"))
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("the README's second command");
    let ci_run = std::fs::read_to_string(repo().join(".ci/run")).expect(".ci/run");
    assert!(
        ci_run.contains(&format!("bash {test_command}")),
        "{test_command}"
    );
    assert!(scripts(&workflow("ci.yml"))
        .iter()
        .any(|s| s.contains("bash .ci/run")));
}

#[test]
fn the_deploy_workflow_goes_dev_then_prod_one_at_a_time_with_oidc_only() {
    let deploy = workflow("deploy.yml");
    let jobs = &deploy["jobs"];
    assert_eq!(jobs["dev"]["needs"], "build");
    assert_eq!(jobs["prod"]["needs"], "dev", "prod only after dev");
    let environments: Vec<&str> = ["dev", "prod"]
        .iter()
        .map(|j| {
            jobs[*j]["with"]["environment"]
                .as_str()
                .expect("environment")
        })
        .collect();
    // The pipeline template's environments are the workflow's.
    let pipeline: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("infra/templates/pipeline.yaml"))
            .expect("pipeline.yaml"),
    )
    .expect("yaml");
    let allowed: Vec<&str> = pipeline["Parameters"]["Environment"]["AllowedValues"]
        .as_sequence()
        .expect("AllowedValues")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(environments, allowed);

    let env = workflow("deploy-env.yml");
    let job = &env["jobs"]["deploy"];
    // The GitHub environment gates it (prod's reviewers) and names the
    // OIDC subject the deploy role trusts.
    assert_eq!(job["environment"], "${{ inputs.environment }}");
    assert_eq!(
        job["concurrency"]["group"],
        "deploy-${{ inputs.environment }}"
    );
    assert_eq!(
        job["concurrency"]["cancel-in-progress"], false,
        "a queued deploy waits"
    );
    assert_eq!(job["permissions"]["id-token"], "write");
    let uses: Vec<&str> = job["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .filter_map(|s| s["uses"].as_str())
        .collect();
    assert!(uses
        .iter()
        .any(|u| u.starts_with("aws-actions/configure-aws-credentials@")));
    // The broker artifact the build made is stored (HeadObject, then
    // PutObject: deploy.rs holds the role to these) before the deploy.
    let runs: Vec<&str> = job["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    let store = runs
        .iter()
        .position(|r| {
            r.contains("aws s3api head-object") && r.contains("aws s3 cp release/kafka-broker.tgz")
        })
        .expect("deploy-env.yml stores the broker artifact");
    let rollout = runs
        .iter()
        .position(|r| r.contains("release/opsctl --env"))
        .expect("deploy-env.yml runs opsctl deploy");
    assert!(store < rollout, "the artifact is stored before the rollout");
    let build = std::fs::read_to_string(repo().join(".github/workflows/deploy.yml")).expect("read");
    assert!(
        build.contains("bash infra/kafka/build-artifact.sh --out dist"),
        "the build job makes the artifact into the release"
    );
    // Only jobs that assume a role may ask for an OIDC token.
    for (name, w) in [
        ("deploy.yml", &deploy),
        ("plan.yml", &workflow("plan.yml")),
        ("ci.yml", &workflow("ci.yml")),
    ] {
        assert_ne!(
            w["permissions"]["id-token"], "write",
            "{name}: no workflow-wide id-token"
        );
    }
    // Every action is pinned by commit.
    for name in ["ci.yml", "deploy.yml", "deploy-env.yml", "plan.yml"] {
        let text =
            std::fs::read_to_string(repo().join(".github/workflows").join(name)).expect("read");
        for line in text.lines().filter(|l| {
            l.trim_start().starts_with("- uses:") || l.trim_start().starts_with("uses:")
        }) {
            let reference = line.split("uses:").nth(1).unwrap_or_default().trim();
            if reference.starts_with("./") {
                continue;
            }
            let sha = reference.split('@').nth(1).unwrap_or_default();
            assert!(
                sha.len() >= 40 && sha[..40].chars().all(|c| c.is_ascii_hexdigit()),
                "{name}: {line}"
            );
        }
    }
}

/// actionlint and zizmor (what infra/check-workflows.sh runs) pass the
/// repository's ci.yml and fail on it with a fault each exists for: the
/// check cannot pass vacuously.
#[test]
fn the_workflow_checkers_fail_on_a_reintroduced_fault() {
    let home = std::env::var("TICKETING_HOME")
        .unwrap_or_else(|_| format!("{}/.cache/ticketing", std::env::var("HOME").expect("HOME")));
    let dir = std::env::temp_dir().join(format!("workflows-{}", uuid::Uuid::new_v4().simple()));
    let flows = dir.join(".github/workflows");
    std::fs::create_dir_all(&flows).expect("dirs");
    let file = flows.join("ci.yml");
    let ci = std::fs::read_to_string(repo().join(".github/workflows/ci.yml")).expect("ci.yml");
    let zizmor = |text: &str| {
        std::fs::write(&file, text).expect("write");
        std::process::Command::new(format!("{home}/venv/bin/zizmor"))
            .args(["--offline", "--quiet"])
            .arg(&file)
            .output()
            .expect("zizmor (install-tools.sh)")
    };
    let actionlint = |text: &str| {
        std::fs::write(&file, text).expect("write");
        std::process::Command::new(format!("{home}/tools/bin/actionlint"))
            .arg(&file)
            .output()
            .expect("actionlint (install-tools.sh)")
    };
    let clean = (zizmor(&ci), actionlint(&ci));
    // Checkout leaving its token in .git/config (zizmor: artipacked).
    let persisted = zizmor(&ci.replace("persist-credentials: false", "fetch-depth: 1"));
    // A step reading an output no step has (actionlint: expressions).
    let unknown =
        actionlint(&ci.replace("run: sudo", "run: echo ${{ steps.nope.outputs.x }} && sudo"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        clean.0.status.success(),
        "zizmor: {}",
        String::from_utf8_lossy(&clean.0.stdout)
    );
    assert!(
        clean.1.status.success(),
        "actionlint: {}",
        String::from_utf8_lossy(&clean.1.stdout)
    );
    assert!(
        !persisted.status.success(),
        "zizmor passed a checkout that persists credentials"
    );
    assert!(String::from_utf8_lossy(&persisted.stdout).contains("artipacked"));
    assert!(
        !unknown.status.success(),
        "actionlint passed an unknown step output"
    );
    assert!(String::from_utf8_lossy(&unknown.stdout).contains("nope"));
}

// ---------------------------------------------------------------------------
// The rehearsal (runbooks/rehearsal.rs): each runbook run as written, in
// order, in a world with what its diagnosis looks at.

async fn rehearsed(name: &str, world: rehearsal::World, at_least: usize) {
    let (ran, failures) = rehearsal::rehearse(name, &world).await;
    world.cleanup().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran >= at_least, "{name}: only {ran} commands rehearsed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_retention_runbook_works_as_written() {
    let world = rehearsal::World::new().await;
    // Prod's groups as ECS leaves them: never expiring.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&world.moto.sdk("us-east-1").await);
    for service in ticketing_catalog::ServiceName::ALL {
        logs.create_log_group()
            .log_group_name(ticketing_catalog::logs::group(service, "prod"))
            .send()
            .await
            .expect("a log group");
    }
    rehearsed("log-retention.md", world, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_replay_runbook_works_as_written() {
    let mut world = rehearsal::World::new().await;
    let pool = world.env().pool(Some("reservation_service"));
    common::seed_outbox(&pool, 5).await;
    // The customer's booking the runbook traces: one stuck in the outbox.
    let stuck: uuid::Uuid = sqlx::query_scalar("SELECT event_id FROM outbox ORDER BY id LIMIT 1")
        .fetch_one(&pool)
        .await
        .expect("an event");
    world.examples.insert(
        "0192f0c4-5a6b-7c8d-9e0f-a1b2c3d4e5f6".into(),
        stuck.to_string(),
    );
    pool.close().await;
    rehearsed("outbox-replay.md", world, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kafka_broker_failure_runbook_works_as_written() {
    let world = rehearsal::World::with_platform().await;
    common::seed_outbox(&world.env().pool(Some("reservation_service")), 3).await;
    common::broker_instance_on(&world.moto.url, common::HARNESS_KEY, "us-east-1", "prod").await;
    rehearsed("kafka-broker-failure.md", world, 15).await;
}

/// A group of alarms (`billing`, `payment`) as they are when one fired:
/// applied by opsctl, each topic with a confirmed subscriber (moto
/// confirms an email subscription at once).
async fn alarms_in_place(world: &rehearsal::World, which: &str) {
    let line = rehearsal::Line {
        number: 0,
        vars: Vec::new(),
        words: [
            "opsctl",
            "--env",
            "prod",
            "alarms",
            "apply",
            which,
            "--execute",
        ]
        .map(str::to_owned)
        .to_vec(),
    };
    let applied = world.run(&line).await;
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    let sns = aws_sdk_sns::Client::new(&world.moto.sdk("us-east-1").await);
    let topics = sns.list_topics().send().await.expect("topics");
    for topic in topics.topics() {
        sns.subscribe()
            .topic_arn(topic.topic_arn().unwrap_or_default())
            .protocol("email")
            .endpoint("on-call@example.com")
            .send()
            .await
            .expect("a subscription");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_billing_runbooks_work_as_written() {
    let world = rehearsal::World::new().await;
    alarms_in_place(&world, "billing").await;
    rehearsed("billing-alarm.md", world, 6).await;
    // The timeline starts before any alarm exists.
    let world = rehearsal::World::new().await;
    rehearsed("free-tier-timeline.md", world, 6).await;
}

/// The billing runbook and the cost dashboard show the catalog's thresholds
/// (the design's beside them in the runbook), not copies that drift.
#[test]
fn the_billing_thresholds_shown_are_the_catalog_s() {
    let runbook = std::fs::read_to_string(repo().join("runbooks/billing-alarm.md"))
        .expect("the billing runbook");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("dashboards/cost.json")).expect("the cost dashboard"),
    )
    .expect("JSON");
    let lines = &dashboard["widgets"][1]["properties"]["annotations"]["horizontal"];
    for b in ticketing_catalog::alarms::BILLING {
        let row = format!(
            "| `{}` ({}) | ${:.0} | ${:.0} |",
            b.name, b.severity, b.threshold_usd, b.design_usd
        );
        assert!(runbook.contains(&row), "the runbook lacks the row {row}");
        let line = lines
            .as_array()
            .and_then(|l| l.iter().find(|a| a["label"] == b.severity))
            .unwrap_or_else(|| panic!("no {} line on the cost dashboard", b.severity));
        assert_eq!(line["value"].as_f64(), Some(b.threshold_usd), "{line}");
    }
}

/// What the services and AWS publish, in prod, over the last minutes:
/// every trigger below its threshold. Not the ALB's response time: moto's
/// GetMetricData fails (an empty 500) on a percentile statistic over data,
/// so the seat query P95 stays unread here and both checks exit 1, naming
/// it (on AWS the first, given the load balancer, exits 0).
async fn cqrs_metrics(world: &rehearsal::World) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let cw = aws_sdk_cloudwatch::Client::new(&world.moto.sdk("us-east-1").await);
    let prod = ("environment", "prod");
    for (namespace, name, value, (k, v)) in [
        ("Custom/Ticketing", "events.read.tps", 120.0, prod),
        ("Custom/Ticketing", "reservations.search.tps", 20.0, prod),
        ("Custom/Ticketing", "events.cache.hit", 95.0, prod),
        ("Custom/Ticketing", "events.cache.miss", 5.0, prod),
        (
            "AWS/RDS",
            "ReplicaLag",
            0.5,
            ("DBInstanceIdentifier", "ticketing-prod-postgres-replica"),
        ),
    ] {
        cw.put_metric_data()
            .namespace(namespace)
            .metric_data(
                MetricDatum::builder()
                    .metric_name(name)
                    .value(value)
                    .timestamp(aws_smithy_types::DateTime::from_secs(
                        chrono::Utc::now().timestamp() - 120,
                    ))
                    .dimensions(Dimension::builder().name(k).value(v).build())
                    .build(),
            )
            .send()
            .await
            .expect("put metric data");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cqrs_review_and_the_lock_work_as_written() {
    let world = rehearsal::World::new().await;
    cqrs_metrics(&world).await;
    rehearsed("cqrs-review.md", world, 3).await;
    let world = rehearsal::World::new().await;
    rehearsed("README.md", world, 2).await;
    // The READMEs' blocks change prod's stacks (each marked with the test
    // that does it on moto); README.md's run the local stack's scripts.
    let world = rehearsal::World::new().await;
    rehearsed("infra/README.md", world, 0).await;
    let world = rehearsal::World::new().await;
    rehearsed("reserved-instances.md", world, 0).await;
}

/// Every runbook and README is rehearsed by one of the tests above, and
/// every block the rehearsal does not run says why.
#[test]
fn every_runbook_and_readme_is_rehearsed() {
    let source = include_str!("runbooks.rs");
    let mut files: Vec<String> = vec!["README.md".into(), "infra/README.md".into()];
    for entry in std::fs::read_dir(repo().join("runbooks")).expect("runbooks/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".md") {
            files.push(name);
        }
    }
    for file in &files {
        assert!(
            source.contains(&format!("rehearsed(\"{file}\"")),
            "{file} is not rehearsed: add it to a test in opsctl/tests/testsuite/runbooks.rs"
        );
    }
    // README.md (the repository's) has no opsctl block: its commands are
    // the local stack's scripts, which .ci/run runs.
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let blocks = rehearsal::blocks(&readme).expect("README.md's marks");
    assert!(blocks.is_empty(), "{blocks:?}");
}

/// Production paying through PortOne in live mode, its last deploy
/// failing: in prod's ECS the payment service runs a live revision that no
/// rollout finished, before it one tagged FAILED and one COMPLETED (the
/// last known-good); the live and test keys in Secrets Manager. moto runs
/// no tasks, so the service (0 tasks) is stable at once (as in
/// opsctl/tests/testsuite/portone_rollback.rs). The runbook's example revision is
/// the known-good one.
async fn failing_live_payments(world: &mut rehearsal::World) {
    let sdk = world.moto.sdk("us-east-1").await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    ecs.create_cluster()
        .cluster_name("ticketing-prod")
        .send()
        .await
        .expect("cluster");
    let mut revisions = Vec::new();
    for rollout in [Some("COMPLETED"), Some("FAILED"), None] {
        revisions.push(
            common::register_revision(
                &ecs,
                "payment-service",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/ticketing-prod:1",
                &[],
                &[("TICKETING_PROFILE", "prod")],
                rollout,
            )
            .await,
        );
    }
    common::service_on(&ecs, "payment-service", &revisions[2], 0).await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    for (name, keys) in [
        (
            "ticketing/prod/portone",
            r#"{"imp_code":"imp87654321","api_key":"live_api_key_prodprod","api_secret":"live_api_secret_prod","mode":"production"}"#,
        ),
        (
            "ticketing/prod/portone-test",
            r#"{"imp_code":"imp00000000","api_key":"test_api_key_emergency","api_secret":"test_api_secret_x","mode":"test"}"#,
        ),
    ] {
        sm.create_secret()
            .name(name)
            .secret_string(keys)
            .send()
            .await
            .expect("a secret");
    }
    let good = revisions[0]
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    world.examples.insert("12".into(), good);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portone_rollback_runbook_works_as_written() {
    let mut world = rehearsal::World::with_platform().await;
    failing_live_payments(&mut world).await;
    alarms_in_place(&world, "payment").await;
    rehearsed("portone-rollback.md", world, 12).await;
}

/// The 10x cluster the drill is for: three brokers (the local stack's
/// private cluster), topics with two replicas; dev's broker instance for
/// the escalation's restart (SSM on moto).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failover_drill_runbook_works_as_written() {
    let env = ticketing_testkit::TestEnv::new().await;
    let cluster = ticketing_testkit::PrivateCluster::start_new(
        ticketing_catalog::footprint::SCALE_10X.brokers as usize,
        ticketing_catalog::topics::SCALE_10X_REPLICATION_FACTOR,
        ticketing_catalog::topics::SCALE_10X_MIN_INSYNC_REPLICAS,
    );
    let kafka = cluster.settings(&env.settings.kafka);
    let world = rehearsal::World::on_kafka(
        env,
        kafka,
        ticketing_catalog::topics::SCALE_10X_REPLICATION_FACTOR,
    )
    .await;
    common::broker_instance_on(&world.moto.url, common::HARNESS_KEY, "us-east-1", "dev").await;
    rehearsed("kafka-failover-drill.md", world, 5).await;
    drop(cluster);
}

/// An environment's first deploy: nothing in Secrets Manager yet; the
/// values the runbook leaves to whoever runs it (`NAME=...`) given here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_runbook_works_as_written() {
    let mut world = rehearsal::World::new().await;
    for (name, value) in [
        ("RECAPTCHA_SECRET", "6Lrehearsal-recaptcha-secret"),
        ("PORTONE_IMP_CODE", "imp12345678"),
        ("PORTONE_API_KEY", "1234567890123456"),
        ("PORTONE_API_SECRET", "rehearsal-portone-api-secret"),
        ("PORTONE_TEST_IMP_CODE", "imp00000000"),
        ("PORTONE_TEST_API_KEY", "9876543210987654"),
        ("PORTONE_TEST_API_SECRET", "rehearsal-portone-test-secret"),
    ] {
        world
            .examples
            .insert(format!("{name}=..."), value.to_owned());
    }
    rehearsed("deploy.md", world, 2).await;
}

/// The opsctl commands a text names: in backticks, or after `: ` to the
/// end of the line (how opsctl's hints give them).
fn commands_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("opsctl ") {
            let before = rest[..at].chars().last();
            let tail = &rest[at..];
            let end = tail
                .find('`')
                .or_else(|| tail.find(" (").filter(|_| before != Some('`')))
                .unwrap_or(tail.len());
            if matches!(before, None | Some('`' | ' ')) {
                out.push(tail[..end].trim_end_matches(['.', ';', ',']).to_owned());
            }
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn hints_are_found_where_opsctl_writes_them() {
    let text = "error: step `restart` failed: x; fix it, then run `opsctl --env prod kafka dr --execute --resume-from restart`\nhint: guard by hand first: opsctl --env prod queue pause --all --execute (it runs in the ops task)";
    assert_eq!(
        commands_in(text),
        [
            "opsctl --env prod kafka dr --execute --resume-from restart",
            "opsctl --env prod queue pause --all --execute",
        ]
    );
}

/// The commands a failure's hint gives: each for prod (the environment
/// the failing command named), each parsing with the real CLI.
fn hints_of(failed: &common::Run) -> Vec<String> {
    let hints = commands_in(&failed.stderr);
    assert!(
        !hints.is_empty(),
        "no command in the hint: {}",
        failed.stderr
    );
    for hint in &hints {
        assert!(
            hint.contains("--env prod"),
            "`{hint}` drops --env: {}",
            failed.stderr
        );
        Cli::try_parse_from(words(hint)).unwrap_or_else(|e| panic!("`{hint}` does not parse: {e}"));
    }
    hints
}

/// Every hint a failure prints is a whole command for the same environment
/// and flags: taken from the failures' output, parsed with the real CLI,
/// and run (after what it says to fix is fixed) in the same world.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hints_of_failures_are_commands_that_run() {
    let mut world = rehearsal::World::with_platform().await;
    failing_live_payments(&mut world).await;
    let line = |text: &str| rehearsal::Line {
        number: 0,
        vars: Vec::new(),
        words: words(text),
    };
    let mut ran = 0;
    // A resume at a customer-notice step without the flag it needs.
    let refused = world
        .run(&line(
            "opsctl --env prod kafka dr --execute --resume-from end-notice",
        ))
        .await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    for hint in hints_of(&refused) {
        assert!(hint.contains("--notify-customers"), "{hint}");
        let done = world.run(&line(&hint)).await;
        assert_eq!(done.code, 0, "`{hint}`: {}{}", done.stdout, done.stderr);
        ran += 1;
    }

    // A step that fails (no broker instance to restart), fixed, resumed.
    let failed = world
        .run(&line(
            "opsctl --env prod kafka dr --execute --force-restart",
        ))
        .await;
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    let hints = hints_of(&failed);
    common::broker_instance_on(&world.moto.url, common::HARNESS_KEY, "us-east-1", "prod").await;
    for hint in hints.iter().filter(|h| h.contains("--resume-from")) {
        assert!(
            hint.contains("--force-restart --resume-from restart"),
            "{hint}"
        );
        let done = world.run(&line(hint)).await;
        assert_eq!(done.code, 0, "`{hint}`: {}{}", done.stdout, done.stderr);
        ran += 1;
    }

    // Sales guarded from outside the VPC: refused before anything changes,
    // with the pause to make by hand (in the ops task).
    let inside = world
        .vars
        .remove(ticketing_catalog::ecs::OPS_IN_VPC_VAR)
        .expect("the world runs inside the VPC");
    let outside = world
        .run(&line(
            "opsctl --env prod portone rollback --guard-sales --execute",
        ))
        .await;
    world
        .vars
        .insert(ticketing_catalog::ecs::OPS_IN_VPC_VAR.to_owned(), inside);
    assert_eq!(outside.code, 2, "{}", outside.stderr);
    for hint in hints_of(&outside) {
        let done = world.run(&line(&hint)).await;
        assert_eq!(done.code, 0, "`{hint}`: {}{}", done.stdout, done.stderr);
        ran += 1;
    }
    assert!(ran >= 3, "only {ran} hints run");
    world.cleanup().await;
}
