//! `opsctl kafka verify-segments --on-broker`: the DR runbook's integrity
//! step, run from where on-call sits.
//!
//! What runs here, and what cannot: the script the broker runs is run here
//! for real -- against the image `infra/image/build.sh` makes from this
//! suite's `ticketing` binary, pushed by `opsctl deploy --push-only` to the
//! local registry (ECR's stand-in, with ECR's login) -- so fetching the
//! release by digest, checking its blobs, unpacking it and running its
//! verifier with the image's own loader and libraries are exercised. Only
//! `aws ecr get-login-password` (the AWS CLI the broker's image has) is a
//! shell function here handing out the same login. SSM itself runs nothing
//! on moto (no agent can run here; moto answers every invocation with empty
//! output), so the second test checks what opsctl sends and that it says so
//! when a broker gives no report.

use crate::common;

use std::path::{Path, PathBuf};

use opsctl::ops::segments_on_broker::{read_output, script, Fetch, Release};

fn tempdir(prefix: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).expect("tempdir");
    d
}

fn containers_script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/image/containers.sh")
        .display()
        .to_string()
}

/// ECR's login as moto hands it out (user `AWS` and this password).
async fn ecr_password(region: &str) -> String {
    let token = aws_sdk_ecr::Client::new(&common::moto_sdk(region).await)
        .get_authorization_token()
        .send()
        .await
        .expect("GetAuthorizationToken");
    let encoded = token.authorization_data()[0]
        .authorization_token()
        .expect("token")
        .to_owned();
    let decoded = aws_smithy_types::base64::decode(encoded).expect("base64");
    let text = String::from_utf8(decoded).expect("utf-8");
    text.split_once(':').expect("user:password").1.to_owned()
}

/// Runs the broker's script in bash with `aws` answering `aws_stub`.
fn run_script(aws_stub: &str, shell: &str) -> (i32, String, String) {
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("aws() {{ {aws_stub}; }}\n{shell}"))
        .output()
        .expect("bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_broker_script_fetches_the_release_by_digest_once_and_reports_every_file() {
    const REGION: &str = "me-south-1";
    let id = uuid::Uuid::new_v4().simple().to_string();
    let image = format!("localhost/verify-release-{id}:v1");
    common::build_image(&image);
    let _ = aws_sdk_ecr::Client::new(&common::moto_sdk(REGION).await)
        .create_repository()
        .repository_name("ticketing-prod")
        .send()
        .await;
    let audit = common::temp_audit_log("verify-release");
    let audit_path = audit.display().to_string();
    let storage = common::containers_env();
    let mut vars: Vec<(&str, &str)> = storage
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    vars.push(("OPSCTL_AUDIT_LOG", audit_path.as_str()));
    // The local registry stands in for ECR's endpoint (as in deploy.rs).
    let registry = ticketing_config::load(ticketing_config::Profile::Local)
        .expect("local settings")
        .aws
        .registry_url
        .expect("the local profile names the registry")
        .to_string();
    vars.push(("TICKETING__AWS__REGISTRY_URL", registry.as_str()));
    let pushed = common::opsctl(
        &[
            "--env",
            "prod",
            "--region",
            REGION,
            "deploy",
            "--push-only",
            "--image",
            &image,
            "--tag",
            &format!("verify-{id}"),
            "--execute",
            "--yes",
        ],
        &vars,
    )
    .await;
    let _ = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; lock_image_store; buildah rmi {image} >/dev/null 2>&1 || true",
            containers_script()
        ))
        .output();
    assert_eq!(pushed.code, 0, "{}{}", pushed.stdout, pushed.stderr);
    let reference = pushed.stdout.lines().last().expect("the pushed reference");
    let release = Release::parse(reference).expect("pushed by digest");

    let dir = tempdir("broker-segments");
    let (clean, starts) = common::segment(4, 10);
    let mut flipped = clean.clone();
    flipped[starts[1] + 70] ^= 0x04;
    let ok = dir.join("00000000000000000000.log");
    let bad = dir.join("00000000000000000040.log");
    std::fs::write(&ok, &clean).expect("write");
    std::fs::write(&bad, &flipped).expect("write");
    let paths = vec![ok.display().to_string(), bad.display().to_string()];
    let release_dir = dir.join("release").display().to_string();
    let fetch = Fetch {
        scheme: "http",
        region: REGION,
        release_dir: &release_dir,
    };
    let shell = script(&release, &fetch, &paths).expect("the script");

    // First run: fetches, checks and unpacks the release, then verifies.
    let password = ecr_password(REGION).await;
    let (code, stdout, stderr) = run_script(&format!("echo '{password}'"), &shell);
    assert_eq!(
        code, 0,
        "the script ends with the verifier's code printed: {stderr}"
    );
    let (verifier, reports) =
        read_output(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    assert_eq!(verifier, 1, "one file is corrupt");
    assert_eq!(reports.len(), 2);
    assert!(reports[0].report.is_clean());
    assert_eq!(reports[0].report.records, 40);
    assert_eq!(
        reports[1].report.problems[0].position as usize, starts[1],
        "{:?}",
        reports[1].report.problems
    );

    // Second run: the release is kept by digest; no login, no fetch.
    let (code, stdout, stderr) = run_script("echo 'asked for a login again' >&2; return 1", &shell);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("asked for a login"), "{stderr}");
    let (_, again) = read_output(&stdout).expect("reports");
    assert_eq!(again, reports);

    // A wrong login fetches nothing and says so (no report to read).
    let other = dir.join("release-2").display().to_string();
    let refused = script(
        &release,
        &Fetch {
            release_dir: &other,
            ..fetch.clone()
        },
        &paths,
    )
    .expect("the script");
    let (code, stdout, _) = run_script("echo 'not-the-password'", &refused);
    assert_ne!(code, 0);
    assert!(read_output(&stdout).is_err());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&audit);
}

#[tokio::test]
async fn through_ssm_the_script_goes_to_the_brokers_and_a_broker_without_a_report_is_an_error() {
    const REGION: &str = "ap-southeast-3";
    common::broker_instance(REGION, "prod").await;
    let ssm = aws_sdk_ssm::Client::new(&common::moto_sdk(REGION).await);
    let before = ssm
        .list_commands()
        .send()
        .await
        .expect("list")
        .commands()
        .len();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let image = format!("123456789012.dkr.ecr.{REGION}.amazonaws.com/ticketing-prod@{digest}");
    let segment = "/var/lib/kafka/payment.events-0/00000000000000000000.log";
    let vars = [("AWS_REGION", REGION)];

    // A path outside the broker's log directory never reaches SSM.
    let outside = common::opsctl(
        &[
            "--env",
            "prod",
            "kafka",
            "verify-segments",
            "--on-broker",
            "--image",
            &image,
            "/etc/shadow",
        ],
        &vars,
    )
    .await;
    assert_eq!(outside.code, 2, "{}", outside.stderr);
    assert!(
        outside.stderr.contains("/var/lib/kafka"),
        "{}",
        outside.stderr
    );
    assert_eq!(
        ssm.list_commands()
            .send()
            .await
            .expect("list")
            .commands()
            .len(),
        before
    );

    let run = common::opsctl(
        &[
            "--env",
            "prod",
            "kafka",
            "verify-segments",
            "--on-broker",
            "--image",
            &image,
            segment,
        ],
        &vars,
    )
    .await;
    // moto's invocation prints nothing: no report, and opsctl says which broker.
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("no report"), "{}", run.stderr);
    let listed = ssm.list_commands().send().await.expect("list");
    let sent = listed
        .commands()
        .iter()
        .find(|c| c.comment() == Some("opsctl kafka verify-segments --on-broker"))
        .expect("the command was sent");
    let shell = sent
        .parameters()
        .and_then(|p| p.get("commands"))
        .and_then(|c| c.first())
        .expect("its script");
    assert!(
        shell.contains(&format!("verify-segments {segment}")),
        "{shell}"
    );
    assert!(shell.contains(&format!("manifests/{digest}")), "{shell}");
    assert!(shell.contains("https://123456789012.dkr.ecr."), "{shell}");
    assert_eq!(sent.max_concurrency(), Some("1"));
}
