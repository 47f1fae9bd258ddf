//! `opsctl deploy` against moto server's ECR and ECS (a region of this
//! test's own) and the local OCI registry standing in for ECR's registry
//! endpoint (`aws.registry_url`; it asks for the login ECR's
//! GetAuthorizationToken hands out). The images are real: built here with
//! buildah from scratch, pushed by skopeo, their digests read back from the
//! registry.
//!
//! moto cannot run tasks: a service with a desired count of 0 is stable at
//! once, one with a desired count above 0 never starts its tasks (its
//! deployment stays IN_PROGRESS). The test recreates a service with the
//! count that plays the part it needs ("never becomes stable", "fixed").

use crate::common;

use serde_json::Value;

const REGION: &str = "ap-southeast-1";
const SERVICES: [&str; 2] = ["reservation-service", "payment-service"];

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// Builds a tiny image from scratch holding `marker` (a different image
/// per call), named `name`, in the shared local store.
fn build_image(name: &str, marker: &str) {
    let dir = tempdir();
    std::fs::write(dir.join("marker"), marker).expect("marker");
    let script = format!(
        "set -e; source {}; lock_image_store; c=$(buildah from scratch); buildah copy --quiet \"$c\" {}/marker /marker >/dev/null; buildah config --label org.opencontainers.image.revision={marker} \"$c\"; buildah commit --quiet --rm \"$c\" {name} >/dev/null",
        repo_root().join("infra/image/containers.sh").display(),
        dir.display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .expect("bash");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "buildah: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn remove_image(name: &str) {
    let script = format!(
        "source {}; lock_image_store; buildah rmi {name} >/dev/null 2>&1 || true",
        repo_root().join("infra/image/containers.sh").display()
    );
    let _ = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output();
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("deploy-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).expect("tempdir");
    d
}

/// The config digest of an image in the local store (what the build made).
fn local_config_digest(name: &str) -> String {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", &format!("containers-storage:{name}")])
        .envs(common::containers_env())
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: Value = serde_json::from_slice(&out.stdout).expect("manifest");
    manifest["config"]["digest"]
        .as_str()
        .expect("config digest")
        .to_owned()
}

fn registry_url() -> String {
    ticketing_config::load(ticketing_config::Profile::Local)
        .expect("local settings")
        .aws
        .registry_url
        .expect("the local profile names the registry")
        .to_string()
        .trim_end_matches('/')
        .to_owned()
}

/// What the registry serves for `reference` (a tag or a digest): the
/// manifest's digest and its config digest, or None when it has none.
async fn served(reference: &str) -> Option<(String, String)> {
    let response = reqwest::Client::new()
        .get(format!("{}/v2/ticketing-prod/manifests/{reference}", registry_url()))
        // The login moto's ECR hands out for its default account.
        .basic_auth("AWS", Some("123456789012-auth-token"))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .expect("registry answers");
    if !response.status().is_success() {
        return None;
    }
    let digest = response.headers()["docker-content-digest"]
        .to_str()
        .expect("digest")
        .to_owned();
    let manifest: Value = response.json().await.expect("manifest");
    Some((digest, manifest["config"]["digest"].as_str()?.to_owned()))
}

async fn image_of(ecs: &aws_sdk_ecs::Client, td: &str) -> String {
    ecs.describe_task_definition()
        .task_definition(td)
        .send()
        .await
        .expect("td")
        .task_definition()
        .expect("td")
        .container_definitions()[0]
        .image()
        .expect("image")
        .to_owned()
}

/// The cluster as the templates leave it: the repository (network layer),
/// the cluster and each service on its first revision (compute layer).
async fn setup(sdk: &aws_config::SdkConfig) {
    let ecr = aws_sdk_ecr::Client::new(sdk);
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let _ = ecr
        .create_repository()
        .repository_name("ticketing-prod")
        .send()
        .await;
    ecs.create_cluster()
        .cluster_name("ticketing-prod")
        .send()
        .await
        .expect("cluster");
    for service in SERVICES {
        let td = common::register_revision(
            &ecs,
            service,
            "placeholder.example/ticketing:from-cloudformation",
            &["serve", service],
            &[],
            None,
        )
        .await;
        common::service_on(&ecs, service, &td, 0).await;
    }
    // The ops task, as compute.yaml registers it: opsctl from the same image.
    ecs.register_task_definition()
        .family("ticketing-ops-prod")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name(ticketing_catalog::ecs::OPS_CONTAINER)
                .image("placeholder.example/ticketing:from-cloudformation")
                .memory(512)
                .build(),
        )
        .send()
        .await
        .expect("the ops task definition");
}

/// The image the ops task's latest revision runs.
async fn ops_task_image(ecs: &aws_sdk_ecs::Client) -> String {
    let td = ecs
        .describe_task_definition()
        .task_definition("ticketing-ops-prod")
        .send()
        .await
        .expect("the ops task definition");
    td.task_definition()
        .and_then(|t| t.container_definitions().first())
        .and_then(|c| c.image())
        .unwrap_or_default()
        .to_owned()
}

async fn opsctl(args: &[&str], audit: &std::path::Path) -> common::Run {
    opsctl_in(REGION, args, audit).await
}

async fn opsctl_in(region: &str, args: &[&str], audit: &std::path::Path) -> common::Run {
    let audit = audit.display().to_string();
    let registry = registry_url();
    let containers = common::containers_env();
    let mut vars: Vec<(&str, &str)> = vec![
        ("OPSCTL_AUDIT_LOG", audit.as_str()),
        ("AWS_REGION", region),
        ("TICKETING__AWS__REGISTRY_URL", registry.as_str()),
    ];
    vars.extend(containers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    common::opsctl(args, &vars).await
}

/// The progress lines of a `--output json` run (JSON lines on stderr).
fn lines(run: &common::Run) -> Vec<Value> {
    run.stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The one document a `--output json` run prints on stdout: its result.
fn result_of(run: &common::Run) -> Value {
    let result: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", run.stdout));
    assert_eq!(result["event"], "result", "{}", run.stdout);
    result
}

fn outcomes(run: &common::Run) -> Vec<(String, String)> {
    let result = result_of(run);
    result["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| {
            (
                o["service"].as_str().unwrap_or_default().to_owned(),
                o["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pair(service: &str, state: &str) -> (String, String) {
    (service.to_owned(), state.to_owned())
}

#[tokio::test]
async fn deploy_pushes_by_digest_tags_rollouts_stops_on_failure_and_rollback_finds_the_last_good() {
    let sdk = common::moto_sdk(REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    setup(&sdk).await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (v1, v2, v3) = (
        format!("localhost/deploy-test-{id}:v1"),
        format!("localhost/deploy-test-{id}:v2"),
        format!("localhost/deploy-test-{id}:v3"),
    );
    build_image(&v1, &format!("v1-{id}"));
    build_image(&v2, &format!("v2-{id}"));
    build_image(&v3, &format!("v3-{id}"));
    let audit = common::temp_audit_log("deploy");
    let (t1, t2, t3) = (format!("t1-{id}"), format!("t2-{id}"), format!("t3-{id}"));
    let first_payment = common::running(&ecs, "payment-service").await;

    // Without --execute: the plan, and nothing changes on ECS or in the registry.
    let dry = opsctl(
        &[
            "--env",
            "prod",
            "deploy",
            "--image",
            &v1,
            "--tag",
            &t1,
            "reservation-service",
            "payment-service",
        ],
        &audit,
    )
    .await;
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("payment-service"), "{}", dry.stdout);
    assert!(
        dry.stderr.contains("dry run: nothing was changed"),
        "{}",
        dry.stderr
    );
    assert_eq!(
        common::running(&ecs, "payment-service").await,
        first_payment
    );
    assert!(served(&t1).await.is_none(), "a dry run pushed nothing");
    assert_eq!(common::audit_phases(&audit), ["planned"]);

    // v1: pushed once, each service stable on a new revision, tagged COMPLETED.
    let deploy = |image: String, tag: String, timeout: &'static str| {
        let audit = audit.clone();
        async move {
            opsctl(
                &[
                    "--env",
                    "prod",
                    "--output",
                    "json",
                    "deploy",
                    "--image",
                    &image,
                    "--tag",
                    &tag,
                    "--timeout",
                    timeout,
                    "--execute",
                    "--yes",
                    "payment-service",
                    "reservation-service",
                ],
                &audit,
            )
            .await
        }
    };
    let one = deploy(v1.clone(), t1.clone(), "30").await;
    assert_eq!(one.code, 0, "{}{}", one.stdout, one.stderr);
    assert_eq!(
        outcomes(&one),
        [
            pair("reservation-service", "COMPLETED"),
            pair("payment-service", "COMPLETED")
        ],
        "the payment service goes last"
    );
    // moto keeps its state while the stack runs, so revisions are counted
    // from the one this run started on.
    let revision = |arn: &str| -> i32 {
        arn.rsplit(':')
            .next()
            .and_then(|r| r.parse().ok())
            .expect("revision")
    };
    let good = common::running(&ecs, "payment-service").await;
    assert_eq!(revision(&good), revision(&first_payment) + 1, "{good}");
    assert_eq!(
        common::rollout_tag(&ecs, &good).await.as_deref(),
        Some("COMPLETED")
    );
    // The task definition names the image by digest, the digest the
    // registry serves under the tag, and the image is the one built.
    let image = image_of(&ecs, &good).await;
    let (host_repo, digest) = image.split_once('@').expect("by digest");
    assert!(host_repo.ends_with("/ticketing-prod"), "{image}");
    let (served_digest, served_config) = served(&t1).await.expect("the tag was pushed");
    assert_eq!(digest, served_digest);
    assert_eq!(served_config, local_config_digest(&v1));
    assert!(
        served(digest).await.is_some(),
        "the registry serves the digest itself"
    );
    // The command, the settings and everything but the image are kept.
    let described = ecs
        .describe_task_definition()
        .task_definition(&good)
        .send()
        .await
        .expect("td");
    let container = &described
        .task_definition()
        .expect("td")
        .container_definitions()[0];
    assert_eq!(container.command(), ["serve", "payment-service"]);
    assert_eq!(container.memory(), Some(512));
    // Every service on v1: the ops task follows, by the same digest.
    assert_eq!(ops_task_image(&ecs).await, image, "{}", one.stdout);
    let result = result_of(&one);
    assert!(
        result["ops_task"]["task_definition"]
            .as_str()
            .is_some_and(|t| t.contains("ticketing-ops-prod:")),
        "{result}"
    );

    // v2 whose payment tasks never become healthy: reservation completes,
    // payment times out, is tagged FAILED, the command exits 1; v1 stays ACTIVE.
    common::service_on(&ecs, "payment-service", &good, 1).await;
    let two = deploy(v2.clone(), t2.clone(), "6").await;
    assert_eq!(two.code, 1, "{}{}", two.stdout, two.stderr);
    assert_eq!(
        ops_task_image(&ecs).await,
        image,
        "a failed deploy leaves the ops task on the release that works"
    );
    assert_eq!(
        outcomes(&two),
        [
            pair("reservation-service", "COMPLETED"),
            pair("payment-service", "FAILED")
        ]
    );
    assert!(
        lines(&two)
            .iter()
            .any(|l| l["event"] == "waiting" && l["service"] == "payment-service"),
        "progress is reported as JSON lines: {}",
        two.stderr
    );
    let bad = common::running(&ecs, "payment-service").await;
    assert_eq!(revision(&bad), revision(&good) + 1, "{bad}");
    assert_eq!(
        common::rollout_tag(&ecs, &bad).await.as_deref(),
        Some("FAILED")
    );
    let v1_status = ecs
        .describe_task_definition()
        .task_definition(&good)
        .send()
        .await
        .expect("v1")
        .task_definition()
        .and_then(|t| t.status().cloned());
    assert_eq!(
        v1_status.map(|s| s.as_str().to_owned()).as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(
        common::audit_phases(&audit).last().map(String::as_str),
        Some("failed")
    );

    // Rollback without --to-revision chooses v1 (the newest COMPLETED
    // older than the running one) and says so. The service is "fixed"
    // (moto: no tasks wanted) so it can become stable.
    common::service_on(&ecs, "payment-service", &bad, 0).await;
    let back = opsctl(
        &[
            "--env",
            "prod",
            "--output",
            "json",
            "portone",
            "rollback",
            "--execute",
            "--yes",
            "--timeout",
            "30",
        ],
        &audit,
    )
    .await;
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    let report: Value = serde_json::from_str(&back.stdout).expect("report");
    assert_eq!(
        report["to"].as_str(),
        Some(good.as_str()),
        "{}",
        back.stdout
    );
    assert_eq!(common::running(&ecs, "payment-service").await, good);

    // v3 whose reservation tasks never start: it fails and the payment
    // service is not touched.
    let reservation_now = common::running(&ecs, "reservation-service").await;
    common::service_on(&ecs, "reservation-service", &reservation_now, 1).await;
    let three = deploy(v3.clone(), t3.clone(), "6").await;
    assert_eq!(three.code, 1, "{}{}", three.stdout, three.stderr);
    assert_eq!(
        outcomes(&three),
        [
            pair("reservation-service", "FAILED"),
            pair("payment-service", "NOT_STARTED")
        ]
    );
    assert_eq!(common::running(&ecs, "payment-service").await, good);

    for image in [v1, v2, v3] {
        remove_image(&image);
    }
    let _ = std::fs::remove_file(&audit);
}

#[tokio::test]
async fn an_image_that_does_not_exist_is_a_usage_error_before_anything_changes() {
    // A region of its own, with only the repository.
    const MISSING_REGION: &str = "eu-west-2";
    let sdk = common::moto_sdk(MISSING_REGION).await;
    let _ = aws_sdk_ecr::Client::new(&sdk)
        .create_repository()
        .repository_name("ticketing-prod")
        .send()
        .await;
    let audit = common::temp_audit_log("deploy-missing");
    let run = opsctl_in(
        MISSING_REGION,
        &[
            "--env",
            "prod",
            "deploy",
            "--image",
            "localhost/no-such-image:nope",
            "--execute",
            "--yes",
        ],
        &audit,
    )
    .await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("cannot be read"), "{}", run.stderr);
    assert!(
        common::audit_phases(&audit).is_empty(),
        "nothing planned, nothing changed"
    );
}

/// The MVP's combined layout (compute.yaml at mvp): one ECS service,
/// `ticketing`, runs all six. A deploy of any service moves that one task
/// to the image, and PortOne's rollback goes back within its family.
#[tokio::test]
async fn in_the_combined_layout_deploy_moves_the_one_task_and_rollback_stays_in_its_family() {
    const COMBINED_REGION: &str = "eu-west-3";
    let combined = ticketing_catalog::ecs::COMBINED_SERVICE;
    let sdk = common::moto_sdk(COMBINED_REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let _ = aws_sdk_ecr::Client::new(&sdk)
        .create_repository()
        .repository_name("ticketing-prod")
        .send()
        .await;
    let _ = ecs
        .create_cluster()
        .cluster_name("ticketing-prod")
        .send()
        .await;
    let first = common::register_revision(
        &ecs,
        combined,
        "placeholder.example/ticketing:from-cloudformation",
        &["serve"],
        &[],
        Some("COMPLETED"),
    )
    .await;
    common::service_on(&ecs, combined, &first, 0).await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let image = format!("localhost/deploy-combined-{id}:v1");
    build_image(&image, &format!("combined-{id}"));
    let audit = common::temp_audit_log("deploy-combined");

    let dry = opsctl_in(
        COMBINED_REGION,
        &[
            "--env",
            "prod",
            "deploy",
            "--image",
            &image,
            "payment-service",
        ],
        &audit,
    )
    .await;
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert!(
        dry.stdout
            .contains("one task that runs all six services (combined layout)"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains(combined), "{}", dry.stdout);

    let run = opsctl_in(
        COMBINED_REGION,
        &[
            "--env",
            "prod",
            "--output",
            "json",
            "deploy",
            "--image",
            &image,
            "--tag",
            &format!("c1-{id}"),
            "--timeout",
            "30",
            "--execute",
            "--yes",
            "payment-service",
        ],
        &audit,
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(outcomes(&run), [pair(combined, "COMPLETED")]);
    let plan = &result_of(&run)["plan"]["services"][0];
    assert_eq!(plan["serves"].as_array().map(Vec::len), Some(6), "{plan}");
    let now = common::running(&ecs, combined).await;
    assert_ne!(now, first);
    assert!(now.contains("task-definition/ticketing-prod:"), "{now}");
    assert!(image_of(&ecs, &now).await.contains("@sha256:"));

    // PortOne's rollback restarts the task that runs the payment service:
    // the combined one, back to its family's last good revision.
    let rollback = opsctl_in(
        COMBINED_REGION,
        &["--env", "prod", "--output", "json", "portone", "rollback"],
        &audit,
    )
    .await;
    assert_eq!(rollback.code, 0, "{}{}", rollback.stdout, rollback.stderr);
    let report: Value = serde_json::from_str(&rollback.stdout).expect("one JSON document");
    assert_eq!(report["service"], combined, "{report}");
    assert_eq!(report["to"], first.as_str(), "{report}");
    remove_image(&image);
}

#[tokio::test]
async fn push_only_pushes_the_image_for_the_first_compute_deploy_and_touches_no_service() {
    // Before the compute layer: a repository, no cluster.
    const FIRST_REGION: &str = "af-south-1";
    let sdk = common::moto_sdk(FIRST_REGION).await;
    let _ = aws_sdk_ecr::Client::new(&sdk)
        .create_repository()
        .repository_name("ticketing-prod")
        .send()
        .await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let image = format!("localhost/deploy-first-{id}:v1");
    build_image(&image, &format!("first-{id}"));
    let tag = format!("first-{id}");
    let audit = common::temp_audit_log("deploy-first");
    let run = opsctl_in(
        FIRST_REGION,
        &[
            "--env",
            "prod",
            "deploy",
            "--push-only",
            "--image",
            &image,
            "--tag",
            &tag,
            "--execute",
            "--yes",
        ],
        &audit,
    )
    .await;
    remove_image(&image);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let printed = run.stdout.lines().last().expect("the reference").to_owned();
    let (served_digest, _) = served(&tag).await.expect("pushed");
    assert!(
        printed.ends_with(&format!("/ticketing-prod@{served_digest}")),
        "{printed}"
    );
    assert_eq!(
        common::audit_phases(&audit),
        ["planned", "started", "progress", "done"]
    );
    let _ = std::fs::remove_file(&audit);
}

// ---------------------------------------------------------------------------
// The CI pipeline's roles (infra/templates/pipeline.yaml), created in a moto
// server of this test's own from the template through `opsctl infra
// deploy`, and held to exactly the AWS actions `opsctl deploy` and `opsctl
// infra plan` call: the test records every request the two commands send to
// that moto (moto's recorder) and derives the IAM actions from them.

/// IAM actions a command needs that are not API calls moto sees, each with
/// where AWS documents it.
const DEPLOY_IMPLIED: [&str; 14] = [
    // deploy-env.yml's step before `opsctl deploy`: the broker artifact
    // stored once under its SHA-512 (HeadObject needs s3:GetObject, the
    // upload s3:PutObject: S3 API Reference, HeadObject and PutObject,
    // "Permissions"); runbooks.rs checks the workflow makes those calls.
    "s3:GetObject",
    "s3:PutObject",
    // skopeo's push to the ECR registry endpoint (the local registry stands
    // in for it): ECR User Guide, "IAM permissions for pushing an image to
    // an Amazon ECR private repository" (image-push-iam.html) lists these
    // six for a push to one repository.
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
    // RegisterTaskDefinition naming the task and execution roles: ECS
    // Developer Guide, "Task execution IAM role" (iam:PassRole).
    "iam:PassRole",
    // The audit trail's first entry in an account makes the group and sets
    // the catalog's retention on it (opsctl/src/audit/cloud.rs); in this shared
    // emulator an earlier run made the group, so CreateLogGroup answers
    // ResourceAlreadyExistsException and the retention call is not made.
    "logs:PutRetentionPolicy",
    // The change lock (opsctl/src/lock/): its holder is read only when
    // another run holds it, and its lease renewed only by a change longer
    // than a minute; neither happens in this test. Its table is made by
    // the first change in an account (CreateTable, DescribeTable until
    // ACTIVE): here a change before the recording starts.
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
];

/// Calls that need no IAM permission: STS GetCallerIdentity ("No
/// permissions are required to perform this operation", STS API Reference).
const NEEDS_NO_PERMISSION: [&str; 1] = ["sts:GetCallerIdentity"];

/// The text of each `<tag>` element in moto's XML answer, unescaped.
fn xml_texts(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next())
        .map(|t| {
            t.replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .collect()
}

/// A policy document as IAM returns it: URL-encoded JSON (RFC 3986), or
/// plain JSON. moto 5.2.5 returns a CloudFormation-made inline policy as
/// Python's repr of the dict (`{'Version': ...}`): with no quote inside the
/// policy's strings, its quotes become JSON's.
fn policy_json(text: &str) -> Value {
    let text = text.trim();
    let decoded = if text.starts_with("{'") {
        text.replace('\'', "\"")
    } else if text.starts_with('{') {
        text.to_owned()
    } else {
        url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    serde_json::from_str(&decoded).unwrap_or_else(|e| panic!("policy JSON ({e}): {decoded}"))
}

/// A role's trust policy and the statements of its inline policies, read
/// with IAM's query API (the SDK for IAM is not a dependency for the three
/// calls this test makes).
async fn role_policy(moto: &common::PrivateMoto, role: &str) -> (Value, Vec<Value>) {
    let got = moto
        .query(
            "iam",
            &[
                ("Action", "GetRole"),
                ("RoleName", role),
                ("Version", "2010-05-08"),
            ],
        )
        .await;
    let trust = policy_json(
        xml_texts(&got, "AssumeRolePolicyDocument")
            .first()
            .unwrap_or_else(|| panic!("no role {role}: {got}")),
    );
    let listed = moto
        .query(
            "iam",
            &[
                ("Action", "ListRolePolicies"),
                ("RoleName", role),
                ("Version", "2010-05-08"),
            ],
        )
        .await;
    let mut statements = Vec::new();
    for name in xml_texts(&listed, "member") {
        let doc = moto
            .query(
                "iam",
                &[
                    ("Action", "GetRolePolicy"),
                    ("RoleName", role),
                    ("PolicyName", &name),
                    ("Version", "2010-05-08"),
                ],
            )
            .await;
        let v = policy_json(
            xml_texts(&doc, "PolicyDocument")
                .first()
                .expect("a policy document"),
        );
        match &v["Statement"] {
            Value::Array(list) => statements.extend(list.iter().cloned()),
            one => statements.push(one.clone()),
        }
    }
    assert!(!statements.is_empty(), "{role} has no inline policy");
    (trust, statements)
}

fn actions(statements: &[Value]) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for s in statements {
        assert_eq!(s["Effect"], "Allow", "{s}");
        match &s["Action"] {
            Value::String(a) => {
                out.insert(a.clone());
            }
            Value::Array(list) => {
                out.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)))
            }
            other => panic!("an Action that is neither a string nor a list: {other}"),
        }
    }
    for a in &out {
        assert!(!a.contains('*'), "a wildcard action: {a}");
    }
    out
}

fn trusted_subject(trust: &Value) -> (String, String, String) {
    let s = &trust["Statement"][0];
    assert_eq!(s["Action"], "sts:AssumeRoleWithWebIdentity", "{trust}");
    let eq = &s["Condition"]["StringEquals"];
    (
        s["Principal"]["Federated"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        eq["token.actions.githubusercontent.com:aud"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        eq["token.actions.githubusercontent.com:sub"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn opsctl_on(
    moto: &common::PrivateMoto,
    args: &[&str],
    audit: &std::path::Path,
) -> common::Run {
    let audit = audit.display().to_string();
    let registry = registry_url();
    let containers = common::containers_env();
    let mut vars: Vec<(&str, &str)> = vec![
        ("OPSCTL_AUDIT_LOG", audit.as_str()),
        ("AWS_REGION", REGION),
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("TICKETING__AWS__REGISTRY_URL", registry.as_str()),
    ];
    vars.extend(containers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    common::opsctl(args, &vars).await
}

/// What the crashing release logs before its task stops.
const CRASH_LOG: [&str; 2] = [
    "starting payment-service",
    "error: the payment service could not start: TICKETING_DATABASE_PASSWORD is not set",
];

/// Stops, with `reason`, a task of the first revision of `family` newer
/// than `after` as soon as deploy registers it (moto runs no service
/// tasks: this plays the crash-looping task of a bad release).
async fn stop_a_task_of_the_next_revision(
    ecs: aws_sdk_ecs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    family: String,
    after: String,
    reason: &'static str,
) {
    for _ in 0..300 {
        let listed = ecs
            .list_task_definitions()
            .family_prefix(&family)
            .send()
            .await
            .expect("revisions");
        // A revision is the number after the ARN's last `:`.
        let revision = |arn: &str| arn.rsplit(':').next().and_then(|r| r.parse::<u32>().ok());
        let after_revision = revision(&after).expect("a revision");
        if let Some(next) = listed
            .task_definition_arns()
            .iter()
            .find(|a| revision(a).is_some_and(|r| r > after_revision))
        {
            let run = ecs
                .run_task()
                .cluster("ticketing-prod")
                .task_definition(next)
                .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
                .started_by("ecs-svc/1")
                .send()
                .await
                .expect("run_task");
            let task = run.tasks()[0].task_arn().expect("task").to_owned();
            // What the crashing app logged, where awslogs would put it.
            let service = family.trim_end_matches("-prod");
            let group = format!("/ecs/ticketing/prod/{service}");
            let id = task.rsplit('/').next().expect("task id");
            let stream = format!("{service}/{service}/{id}");
            let _ = logs.create_log_group().log_group_name(&group).send().await;
            logs.create_log_stream()
                .log_group_name(&group)
                .log_stream_name(&stream)
                .send()
                .await
                .expect("log stream");
            let now = chrono::Utc::now().timestamp_millis();
            for (i, line) in CRASH_LOG.iter().enumerate() {
                logs.put_log_events()
                    .log_group_name(&group)
                    .log_stream_name(&stream)
                    .log_events(
                        aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                            .timestamp(now + i as i64)
                            .message(*line)
                            .build()
                            .expect("event"),
                    )
                    .send()
                    .await
                    .expect("log events");
            }
            ecs.stop_task()
                .cluster("ticketing-prod")
                .task(task)
                .reason(reason)
                .send()
                .await
                .expect("stop_task");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("deploy registered no new revision of {family}");
}

#[tokio::test]
async fn the_pipeline_roles_trust_only_this_repository_and_allow_exactly_what_deploy_and_plan_call()
{
    let moto = common::PrivateMoto::start().await;
    let sdk = moto.sdk(REGION).await;
    let audit = common::temp_audit_log("pipeline");
    let templates = repo_root().join("infra/templates").display().to_string();

    // The pipeline layer, from the template, through opsctl. moto 5.2.5's
    // CloudFormation has no AWS::IAM::OIDCProvider (it skips the resource,
    // and a Ref to it resolves to nothing), so the provider is made with
    // IAM's API first and the stack takes the shared-account path
    // (CreateOidcProvider=false); the path that creates it is checked by
    // cfn-lint against the resource's registry schema.
    let made = moto
        .query(
            "iam",
            &[
                ("Action", "CreateOpenIDConnectProvider"),
                ("Url", "https://token.actions.githubusercontent.com"),
                ("ClientIDList.member.1", "sts.amazonaws.com"),
                ("Version", "2010-05-08"),
            ],
        )
        .await;
    assert!(
        made.contains("oidc-provider/token.actions.githubusercontent.com"),
        "{made}"
    );
    let created = opsctl_on(
        &moto,
        &[
            "--env",
            "prod",
            "infra",
            "deploy",
            "pipeline",
            "--dir",
            &templates,
            "--param",
            "GitHubRepository=acme/ticketing",
            "--param",
            "CreateOidcProvider=false",
            "--execute",
            "--yes",
        ],
        &audit,
    )
    .await;
    assert_eq!(created.code, 0, "{}{}", created.stdout, created.stderr);
    let (deploy_trust, deploy_statements) = role_policy(&moto, "ticketing-prod-deploy").await;
    let (plan_trust, plan_statements) = role_policy(&moto, "ticketing-prod-plan").await;
    // Trust: GitHub's provider, the audience the official action asks for,
    // the prod environment of this repository for the deploy role, its
    // pull requests for the plan role (GitHub: "OpenID Connect reference",
    // example subject claims; IAM User Guide: "Configuring a role for GitHub
    // OIDC identity provider").
    let (provider, aud, sub) = trusted_subject(&deploy_trust);
    assert!(
        provider.ends_with(":oidc-provider/token.actions.githubusercontent.com"),
        "{provider}"
    );
    assert_eq!(aud, "sts.amazonaws.com");
    assert_eq!(sub, "repo:acme/ticketing:environment:prod");
    let (_, aud, sub) = trusted_subject(&plan_trust);
    assert_eq!(aud, "sts.amazonaws.com");
    assert_eq!(sub, "repo:acme/ticketing:pull_request");

    // What `opsctl deploy` calls: a rollout that completes and one that fails
    // (its stopped tasks read), recorded.
    setup(&sdk).await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (good, bad) = (
        format!("localhost/pipeline-test-{id}:good"),
        format!("localhost/pipeline-test-{id}:bad"),
    );
    build_image(&good, &format!("good-{id}"));
    build_image(&bad, &format!("bad-{id}"));
    moto.record().await;
    let deploy = |image: String, timeout: &'static str| {
        let (moto, audit) = (&moto, audit.clone());
        async move {
            opsctl_on(
                moto,
                &[
                    "--env",
                    "prod",
                    "--output",
                    "json",
                    "deploy",
                    "--image",
                    &image,
                    "--timeout",
                    timeout,
                    "--execute",
                    "--yes",
                    "payment-service",
                ],
                &audit,
            )
            .await
        }
    };
    // The pipeline's path: the build job's image as an OCI archive
    // (`infra/image/build.sh --archive` writes it with this command).
    let archive = std::env::temp_dir().join(format!("pipeline-test-{id}.oci.tar"));
    let pushed = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; buildah push --quiet {good} oci-archive:{}:{good} >/dev/null",
            repo_root().join("infra/image/containers.sh").display(),
            archive.display()
        ))
        .output()
        .expect("bash");
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let one = deploy(format!("oci-archive:{}", archive.display()), "30").await;
    let _ = std::fs::remove_file(&archive);
    assert_eq!(one.code, 0, "{}{}", one.stdout, one.stderr);
    assert_eq!(outcomes(&one), [pair("payment-service", "COMPLETED")]);
    let running = common::running(&ecs, "payment-service").await;
    common::service_on(&ecs, "payment-service", &running, 1).await;
    let stopper = tokio::spawn(stop_a_task_of_the_next_revision(
        ecs.clone(),
        aws_sdk_cloudwatchlogs::Client::new(&sdk),
        "payment-service-prod".into(),
        running.clone(),
        "Essential container in task exited",
    ));
    let two = deploy(bad.clone(), "4").await;
    stopper.await.expect("the stopper");
    assert_eq!(two.code, 1, "{}{}", two.stdout, two.stderr);
    // The failed rollout says why, in ECS's words, for CI's summary too.
    assert!(
        two.stderr.contains("stopped task")
            && two.stderr.contains("Essential container in task exited"),
        "{}",
        two.stderr
    );
    let result = result_of(&two);
    // moto stops the task's container with exit code 0.
    assert_eq!(
        result["outcomes"][0]["stopped_tasks"][0]["reason"],
        "Essential container in task exited; payment-service: exit code 0",
        "{result}"
    );
    // And what the app said last, from its awslogs stream.
    assert_eq!(
        result["outcomes"][0]["stopped_tasks"][0]["last_lines"],
        serde_json::json!(CRASH_LOG),
        "{result}"
    );
    assert!(
        two.stderr.contains(&format!("    | {}", CRASH_LOG[1])),
        "{}",
        two.stderr
    );
    let called = moto.recorded_actions().await;
    let mut needed: std::collections::BTreeSet<String> = called
        .into_iter()
        .filter(|a| !NEEDS_NO_PERMISSION.contains(&a.as_str()))
        .collect();
    needed.extend(DEPLOY_IMPLIED.iter().map(|a| (*a).to_owned()));
    assert_eq!(
        actions(&deploy_statements),
        needed,
        "the deploy role's policy is exactly what opsctl deploy calls"
    );

    // The runbook's rollback: the previous image again, by digest, from
    // the environment's own repository (read with the registry login; an
    // anonymous read is refused, as ECR refuses it).
    let good_digest = result_of(&one)["image"]
        .as_str()
        .map(str::to_owned)
        .expect("the pushed reference");
    let running_bad = common::running(&ecs, "payment-service").await;
    common::service_on(&ecs, "payment-service", &running_bad, 0).await;
    let back = deploy(format!("docker://{good_digest}"), "30").await;
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_eq!(outcomes(&back), [pair("payment-service", "COMPLETED")]);
    assert_eq!(
        image_of(&ecs, &common::running(&ecs, "payment-service").await).await,
        good_digest
    );

    // What `opsctl infra plan` calls: a layer with no stack yet (network),
    // one that exists (pipeline) and compute with its services' drift (a
    // stand-in compute stack: moto cannot create the real one).
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    // The kafka layer's output that compute's plan reads (a stand-in: the
    // real layer imports the network's exports).
    cfn.create_stack()
        .stack_name("ticketing-prod-kafka")
        .template_body(
            "Resources:\n  Marker:\n    Type: AWS::SNS::Topic\nOutputs:\n  BootstrapServers:\n    Value: 10.20.0.10:9092\n",
        )
        .send()
        .await
        .expect("a stand-in kafka stack");
    cfn.create_stack()
        .stack_name("ticketing-prod-compute")
        .template_body(format!(
            "Resources:\n  PaymentTaskDefinition:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      Family: payment-service-prod\n      ContainerDefinitions:\n        - Name: payment-service\n          Image: placeholder.example/ticketing:{id}\n          Memory: 512\n"
        ))
        .send()
        .await
        .expect("a stand-in compute stack");
    moto.record().await;
    let plan = opsctl_on(
        &moto,
        &[
            "--env", "prod", "infra", "plan", "network", "compute", "pipeline", "--dir", &templates,
        ],
        &audit,
    )
    .await;
    assert!(
        plan.code == 0 || plan.code == 1,
        "{}{}",
        plan.stdout,
        plan.stderr
    );
    assert!(
        plan.stdout.contains("ticketing-prod-network"),
        "{}",
        plan.stdout
    );
    let called: std::collections::BTreeSet<String> = moto
        .recorded_actions()
        .await
        .into_iter()
        .filter(|a| !NEEDS_NO_PERMISSION.contains(&a.as_str()))
        .collect();
    assert_eq!(
        actions(&plan_statements),
        called,
        "the plan role's policy is exactly what opsctl infra plan calls"
    );
    remove_image(&good);
    remove_image(&bad);
}
