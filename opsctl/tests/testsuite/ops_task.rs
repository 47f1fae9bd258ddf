//! From outside the VPC, `opsctl --env dev <data-plane command>` goes the
//! whole way: RunTask against the AWS emulator (a moto server of this
//! test's own), the ops task definition of `infra/templates/compute.yaml`
//! rendered for dev and run as a container from the image `infra/image/
//! build.sh` makes of this workspace's binaries, against the local stack
//! (this test's database, key prefix and topics), its output streamed back
//! through CloudWatch Logs and its exit code returned. The IAM policies
//! of the ops task and of whoever starts it are held to the calls made.
//!
//! Stand-ins, and why: ECS's agent (what starts a task's containers on
//! Fargate and reports how they exited) cannot run here. A stand-in starts
//! the container of each task the emulator accepted, with podman, as the
//! task definition the emulator holds describes it, and sends the
//! container's output to the task's awslogs stream in the emulator. moto's
//! DescribeTasks cannot say how a container exited (it reports exit code 0
//! for every container, and moves a task towards STOPPED a step per
//! describe on its own), so opsctl's ECS calls pass through a small proxy
//! that answers DescribeTasks for the tasks the stand-in runs as ECS
//! would: PENDING, then RUNNING while the container runs, then STOPPED
//! with the container's exit code. Everything else reaches moto unchanged.

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, KeyValuePair, LogConfiguration, LogDriver, NetworkMode,
    Secret,
};
use ticketing_catalog::{ecs as names, logs};
use ticketing_testkit::task_definitions::{resolve_value_from, Container, Scope};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

const REGION: &str = "af-south-1";
const ACCOUNT: &str = "123456789012";
const ENV: &str = "dev";
/// The access key the ops task's own AWS calls are signed with (ECS gives a
/// task its task role's credentials); opsctl outside signs with `testing`.
const TASK_KEY: &str = "ops-task";
/// Where the container finds the local stack's PostgreSQL CA (mounted).
const LOCAL_PG_CA: &str = "/run/ticketing-test/postgres-ca.crt";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn podman(args: &[String]) -> std::process::Output {
    std::process::Command::new("bash")
        .arg(repo().join("infra/image/podman.sh"))
        .args(args)
        .output()
        .expect("podman runs")
}

/// The state of a task the stand-in knows, as ECS would report it.
#[derive(Debug, Clone, PartialEq)]
enum Run {
    Running,
    Exited(i32),
    /// The stand-in could not run it (as a task whose container never
    /// started: no exit code, a reason).
    Failed(String),
}

type Runs = Arc<Mutex<HashMap<String, Run>>>;

/// ECS's answer to DescribeTasks for the tasks the stand-in runs.
fn as_ecs_would(body: &[u8], runs: &Runs) -> Vec<u8> {
    let Ok(mut answer) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    let runs = runs.lock().expect("runs");
    for task in answer["tasks"].as_array_mut().into_iter().flatten() {
        let arn = task["taskArn"].as_str().unwrap_or_default().to_owned();
        let (status, code) = match runs.get(&arn) {
            None => ("PENDING", None),
            Some(Run::Running) => ("RUNNING", None),
            Some(Run::Exited(code)) => ("STOPPED", Some(*code)),
            Some(Run::Failed(reason)) => {
                task["stoppedReason"] = reason.clone().into();
                ("STOPPED", None)
            }
        };
        task["lastStatus"] = status.into();
        for c in task["containers"].as_array_mut().into_iter().flatten() {
            c["lastStatus"] = status.into();
            match code {
                Some(code) => c["exitCode"] = code.into(),
                None => {
                    c.as_object_mut().map(|o| o.remove("exitCode"));
                }
            }
        }
        if code.is_some() {
            task["stopCode"] = "EssentialContainerExited".into();
            task["stoppedReason"] = "Essential container in task exited".into();
        }
    }
    serde_json::to_vec(&answer).expect("json")
}

/// The proxy in front of moto; its URL.
async fn proxy(moto: String, runs: Runs) -> String {
    use axum::body::{to_bytes, Body};
    use axum::extract::{Request, State};
    use axum::response::Response;
    let client = reqwest::Client::new();
    let handler = move |State(runs): State<Runs>, req: Request| {
        let client = client.clone();
        let moto = moto.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = to_bytes(body, usize::MAX).await.expect("request body");
            let path = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let mut forward = client.request(parts.method.clone(), format!("{moto}{path}"));
            for (k, v) in &parts.headers {
                if k != axum::http::header::HOST && k != axum::http::header::CONTENT_LENGTH {
                    forward = forward.header(k, v);
                }
            }
            let answer = forward.body(body).send().await.expect("moto answers");
            let status = answer.status();
            let headers = answer.headers().clone();
            let mut bytes = answer.bytes().await.expect("moto's body").to_vec();
            let describe = parts
                .headers
                .get("x-amz-target")
                .and_then(|t| t.to_str().ok())
                .is_some_and(|t| t.ends_with(".DescribeTasks"));
            if describe && status.is_success() {
                bytes = as_ecs_would(&bytes, &runs);
            }
            let mut response = Response::builder().status(status);
            for (k, v) in &headers {
                if k != axum::http::header::CONTENT_LENGTH
                    && k != axum::http::header::TRANSFER_ENCODING
                {
                    response = response.header(k, v);
                }
            }
            response.body(Body::from(bytes)).expect("response")
        }
    };
    let app = axum::Router::new().fallback(handler).with_state(runs);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// What the stand-in needs to run a task's container here.
struct Host {
    sdk: aws_config::SdkConfig,
    moto: String,
    /// Set on top of the task's environment, as in app/ticketing's
    /// containers test: this test's database, prefixes and sandbox.
    overrides: Vec<(String, String)>,
    pg_ca: PathBuf,
    id: String,
}

/// The stand-in for ECS's agent: runs every new task of the cluster.
async fn stand_in(host: Arc<Host>, runs: Runs) {
    let ecs = aws_sdk_ecs::Client::new(&host.sdk);
    let mut seen = BTreeSet::new();
    loop {
        let listed = ecs
            .list_tasks()
            .cluster(names::cluster(ENV))
            .send()
            .await
            .expect("ListTasks");
        for arn in listed.task_arns() {
            if seen.insert(arn.clone()) {
                let (host, runs, arn) = (host.clone(), runs.clone(), arn.clone());
                tokio::spawn(async move {
                    let (inner, key) = (runs.clone(), arn.clone());
                    let run = tokio::spawn(async move { run_task(&host, &inner, &key).await });
                    if let Err(e) = run.await {
                        eprintln!("the stand-in could not run {arn}: {e}");
                        runs.lock()
                            .expect("runs")
                            .insert(arn, Run::Failed(format!("stand-in: {e}")));
                    }
                });
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

async fn run_task(host: &Host, runs: &Runs, arn: &str) {
    let ecs = aws_sdk_ecs::Client::new(&host.sdk);
    let sm = aws_sdk_secretsmanager::Client::new(&host.sdk);
    let cw = aws_sdk_cloudwatchlogs::Client::new(&host.sdk);
    let described = ecs
        .describe_tasks()
        .cluster(names::cluster(ENV))
        .tasks(arn)
        .send()
        .await
        .expect("DescribeTasks");
    let task = &described.tasks()[0];
    let td = ecs
        .describe_task_definition()
        .task_definition(task.task_definition_arn().expect("its task definition"))
        .send()
        .await
        .expect("DescribeTaskDefinition");
    let def = &td.task_definition().expect("td").container_definitions()[0];
    let over = task
        .overrides()
        .and_then(|o| o.container_overrides().first())
        .expect("the command override");
    assert_eq!(over.name(), def.name());
    let id = arn.rsplit('/').next().expect("task id");
    let options = def
        .log_configuration()
        .expect("awslogs")
        .options()
        .expect("options");
    let group = options["awslogs-group"].clone();
    let stream = format!(
        "{}/{}/{id}",
        options["awslogs-stream-prefix"],
        def.name().expect("name")
    );
    cw.create_log_stream()
        .log_group_name(&group)
        .log_stream_name(&stream)
        .send()
        .await
        .expect("the task's log stream");

    let name = format!("ops-t-{}-{}", host.id, &id[..8]);
    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--name".into(),
        name,
        "--network".into(),
        "host".into(),
        "--user".into(),
        def.user().expect("user").to_owned(),
        "--volume".into(),
        format!("{}:{LOCAL_PG_CA}:ro", host.pg_ca.display()),
        "--entrypoint".into(),
        serde_json::to_string(def.entry_point()).expect("json"),
    ];
    if def.readonly_root_filesystem() == Some(true) {
        // podman gives a read-only container a fresh /tmp (its
        // --read-only-tmpfs default), as the task definition's scratch
        // volume mounted there does on Fargate.
        args.push("--read-only".into());
    }
    let mut vars: BTreeMap<String, String> = def
        .environment()
        .iter()
        .map(|kv| {
            (
                kv.name().unwrap_or_default().to_owned(),
                kv.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for secret in def.secrets() {
        vars.insert(
            secret.name().to_owned(),
            resolve_value_from(&sm, secret.value_from()).await,
        );
    }
    for kv in over.environment() {
        vars.insert(
            kv.name().unwrap_or_default().to_owned(),
            kv.value().unwrap_or_default().to_owned(),
        );
    }
    vars.extend(host.overrides.iter().cloned());
    // The task role's credentials, and AWS (here the emulator).
    vars.insert("AWS_ACCESS_KEY_ID".into(), TASK_KEY.into());
    vars.insert("AWS_SECRET_ACCESS_KEY".into(), "testing".into());
    vars.insert("AWS_REGION".into(), REGION.into());
    vars.insert("AWS_ENDPOINT_URL".into(), host.moto.clone());
    for (k, v) in &vars {
        args.push("--env".into());
        args.push(format!("{k}={v}"));
    }
    args.push(def.image().expect("image").to_owned());
    args.extend(over.command().iter().cloned());

    runs.lock()
        .expect("runs")
        .insert(arn.to_owned(), Run::Running);
    let mut child = tokio::process::Command::new("bash")
        .arg(repo().join("infra/image/podman.sh"))
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("podman run");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for pipe in [
        Box::new(child.stdout.take().expect("stdout"))
            as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    // What the awslogs driver does: each line an event of the stream.
    while let Some(line) = rx.recv().await {
        let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            .timestamp(chrono::Utc::now().timestamp_millis())
            .message(line)
            .build()
            .expect("event");
        cw.put_log_events()
            .log_group_name(&group)
            .log_stream_name(&stream)
            .log_events(event)
            .send()
            .await
            .expect("PutLogEvents");
    }
    let status = child.wait().await.expect("podman run ends");
    let code = status.code().unwrap_or(-1);
    runs.lock()
        .expect("runs")
        .insert(arn.to_owned(), Run::Exited(code));
}

/// The text of the first `<tag>` element of moto's XML answer.
fn xml_text(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..]
        .find(&format!("</{tag}>"))
        .expect("closing tag")
        + start;
    xml[start..end].to_owned()
}

/// The actions of the statements of a role's (or managed policy's) policy
/// documents in compute.yaml.
fn policy_actions(resource: &str) -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(repo().join("infra/templates/compute.yaml")).expect("compute.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    let p = &template["Resources"][resource]["Properties"];
    let documents: Vec<&serde_yaml::Value> = match p["Policies"].as_sequence() {
        Some(policies) => policies.iter().map(|p| &p["PolicyDocument"]).collect(),
        None => vec![&p["PolicyDocument"]],
    };
    let mut out = BTreeSet::new();
    for doc in documents {
        for statement in doc["Statement"].as_sequence().expect("statements") {
            match &statement["Action"] {
                serde_yaml::Value::String(a) => {
                    out.insert(a.clone());
                }
                serde_yaml::Value::Sequence(list) => {
                    out.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)));
                }
                other => panic!("{resource}: an action list of {other:?}"),
            }
        }
    }
    assert!(!out.is_empty(), "{resource} grants nothing");
    assert!(out.iter().all(|a| !a.contains('*')), "{resource}: {out:?}");
    out
}

/// Calls a change in the task needs that this run does not make, each with
/// where it happens: the lock's holder is read only when another run holds
/// it, and its lease renewed only by a change longer than a minute
/// (opsctl/src/lock/).
const TASK_IMPLIED: [&str; 2] = ["dynamodb:GetItem", "dynamodb:UpdateItem"];
/// What starting the task needs that moto does not see: RunTask passes the
/// task definition's roles (ECS Developer Guide, "Task IAM role": the
/// caller needs iam:PassRole for them), and StopTask is only called when
/// the operator interrupts a run (Ctrl-C).
const RUNNER_IMPLIED: [&str; 2] = ["iam:PassRole", "ecs:StopTask"];
/// STS GetCallerIdentity needs no permission (STS API Reference).
const NEEDS_NO_PERMISSION: &str = "sts:GetCallerIdentity";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_plane_commands_from_outside_run_in_the_ops_task_with_its_output_and_exit_code() {
    let (env, pool) = common::outbox_with_events(2).await;

    // The image, of this workspace's binaries.
    let image = format!("localhost/ops-task-{}:t", env.id);
    common::build_image(&image);
    struct RemoveImage(String);
    impl Drop for RemoveImage {
        fn drop(&mut self) {
            let _ = podman(&["rmi".into(), "-f".into(), self.0.clone()]);
        }
    }
    let _image = RemoveImage(image.clone());

    let moto = common::PrivateMoto::start().await;
    let sdk = moto.sdk(REGION).await;
    // Secrets where the ops task definition names them.
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let key = || Uuid::new_v4().simple().to_string();
    let (portone_key, portone_secret) = (key(), key());
    let mut db_secret = String::new();
    for (name, value) in [
        (
            ticketing_catalog::secrets::app_secret_name(ENV),
            serde_json::json!({ticketing_catalog::secrets::JWT_SIGNING_KEY: key()}),
        ),
        (
            ticketing_catalog::portone::secret_name(ENV),
            serde_json::json!({"api_key": portone_key, "api_secret": portone_secret}),
        ),
        (
            format!("ticketing-{ENV}-db"),
            serde_json::json!({"username": "ticketing", "password": key()}),
        ),
    ] {
        let made = sm
            .create_secret()
            .name(&name)
            .secret_string(value.to_string())
            .send()
            .await
            .expect("secret");
        db_secret = made.arn().expect("arn").to_owned();
    }
    let sandbox = portone_sandbox::start(
        "127.0.0.1",
        0,
        portone_sandbox::SandboxConfig::new(&portone_key, &portone_secret),
    )
    .await
    .expect("sandbox");

    // The network layer's part: a subnet and the ops security group,
    // exported under network.yaml's names.
    let ec2 = |form: Vec<(&'static str, String)>| {
        let url = moto.url.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            common::query_api(&url, common::HARNESS_KEY, REGION, "ec2", &form).await
        }
    };
    let v = "2016-11-15".to_owned();
    let vpc = xml_text(
        &ec2(vec![
            ("Action", "CreateVpc".into()),
            ("Version", v.clone()),
            ("CidrBlock", "10.99.0.0/16".into()),
        ])
        .await,
        "vpcId",
    );
    // As network.yaml makes it (EnableDnsHostnames: an ENI gets a DNS name,
    // which moto's RunTask reads).
    ec2(vec![
        ("Action", "ModifyVpcAttribute".into()),
        ("Version", v.clone()),
        ("VpcId", vpc.clone()),
        ("EnableDnsHostnames.Value", "true".into()),
    ])
    .await;
    let subnet = xml_text(
        &ec2(vec![
            ("Action", "CreateSubnet".into()),
            ("Version", v.clone()),
            ("VpcId", vpc.clone()),
            ("CidrBlock", "10.99.1.0/24".into()),
        ])
        .await,
        "subnetId",
    );
    let sg = xml_text(
        &ec2(vec![
            ("Action", "CreateSecurityGroup".into()),
            ("Version", v.clone()),
            ("VpcId", vpc),
            ("GroupName", "ops".into()),
            ("GroupDescription", "The ops task".into()),
        ])
        .await,
        "groupId",
    );
    let (subnets_export, sg_export) = opsctl::ops::ops_task::placement_exports(ENV);
    aws_sdk_cloudformation::Client::new(&sdk)
        .create_stack()
        .stack_name(format!("ticketing-{ENV}-network"))
        .template_body(format!(
            "Resources:\n  Marker:\n    Type: AWS::CloudFormation::WaitConditionHandle\nOutputs:\n  PublicSubnets:\n    Value: {subnet}\n    Export:\n      Name: {subnets_export}\n  OpsSecurityGroup:\n    Value: {sg}\n    Export:\n      Name: {sg_export}\n"
        ))
        .send()
        .await
        .expect("a stand-in network stack");

    // The compute layer's part: the cluster and the ops task definition,
    // rendered from compute.yaml; the observability layer's log group.
    let s = &env.settings;
    let scope = Scope {
        environment: ENV.to_owned(),
        region: REGION.to_owned(),
        account: ACCOUNT.to_owned(),
        parameters: [
            ("KafkaBootstrapServers", s.kafka.bootstrap_servers.clone()),
            ("ImageUri", image.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        exports: [
            ("db-endpoint", s.database.host.clone()),
            ("db-secret", db_secret),
            ("redis-endpoint", "127.0.0.1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("ticketing-{ENV}-{k}"), v))
        .collect(),
    };
    let ops: Container = scope
        .task_definitions(&repo())
        .into_iter()
        .find(|c| c.family == names::ops_family(ENV))
        .expect("compute.yaml defines the ops task");
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    ecs.create_cluster()
        .cluster_name(names::cluster(ENV))
        .send()
        .await
        .expect("cluster");
    let pairs = |list: &[(String, String)]| -> Vec<KeyValuePair> {
        list.iter()
            .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
            .collect()
    };
    let container = ContainerDefinition::builder()
        .name(&ops.name)
        .image(&image)
        .set_entry_point(Some(ops.entry_point.clone()))
        .set_command(Some(ops.command.clone()))
        .set_environment(Some(pairs(&ops.environment)))
        .set_secrets(Some(
            ops.secrets
                .iter()
                .map(|(k, v)| {
                    Secret::builder()
                        .name(k)
                        .value_from(v)
                        .build()
                        .expect("secret")
                })
                .collect(),
        ))
        .user(&ops.user)
        .readonly_root_filesystem(ops.read_only)
        .essential(true)
        // moto places a task by its containers' memory, which Fargate does
        // not ask for (the task's is enough); the emulator's copy gives the
        // container the task's.
        .memory(512)
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", &ops.log_group)
                .options("awslogs-region", REGION)
                .options("awslogs-stream-prefix", &ops.log_stream_prefix)
                .build()
                .expect("log configuration"),
        )
        .build();
    ecs.register_task_definition()
        .family(&ops.family)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(container)
        .send()
        .await
        .expect("the ops task definition");
    assert_eq!(ops.log_group, logs::ops_group(ENV));
    aws_sdk_cloudwatchlogs::Client::new(&sdk)
        .create_log_group()
        .log_group_name(logs::ops_group(ENV))
        .send()
        .await
        .expect("the ops log group");

    // ECS's agent and its answers, stood in for.
    let runs = Runs::default();
    let endpoint = proxy(moto.url.clone(), runs.clone()).await;
    let pg_ca = s
        .stack
        .as_ref()
        .expect("local settings have [stack]")
        .postgres_ca();
    let overrides: Vec<(String, String)> = [
        ("TICKETING__DATABASE__PORT", s.database.port.to_string()),
        ("TICKETING__DATABASE__NAME", s.database.name.clone()),
        ("TICKETING__DATABASE__USER", s.database.user.clone()),
        ("TICKETING__DATABASE__SSL_ROOT_CERT", LOCAL_PG_CA.to_owned()),
        ("TICKETING__REDIS__URL", s.redis.url.to_string()),
        ("TICKETING__REDIS__KEY_PREFIX", s.redis.key_prefix.clone()),
        (
            "TICKETING__KAFKA__TOPIC_PREFIX",
            s.kafka.topic_prefix.clone(),
        ),
        ("TICKETING__PORTONE__BASE_URL", sandbox.url.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let host = Arc::new(Host {
        sdk: sdk.clone(),
        moto: moto.url.clone(),
        overrides,
        pg_ca,
        id: env.id.clone(),
    });
    let agent = tokio::spawn(stand_in(host, runs.clone()));

    moto.record().await;
    let outside = |args: &'static [&'static str]| {
        let endpoint = endpoint.clone();
        async move {
            let mut all = vec!["--env", ENV, "--region", REGION];
            all.extend_from_slice(args);
            // A bound on a run that never ends (what an operator's Ctrl-C is for).
            tokio::time::timeout(
                std::time::Duration::from_secs(300),
                common::opsctl(&all, &[("AWS_ENDPOINT_URL", endpoint.as_str())]),
            )
            .await
            .unwrap_or_else(|_| panic!("opsctl {args:?} did not end within 5 minutes"))
        }
    };

    // Read-only commands: the task's answers, from this test's data.
    let status = outside(&["--output", "json", "outbox", "status"]).await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    assert!(status.stderr.contains("ops task"), "{}", status.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&status.stdout).unwrap_or_else(|e| panic!("{e}: {}", status.stdout));
    let reservation = report
        .as_array()
        .and_then(|a| a.iter().find(|s| s["service"] == "reservation-service"))
        .expect("reservation-service row");
    assert_eq!(reservation["unsent"], 2, "{}", status.stdout);

    let lag = outside(&["kafka", "lag", "--interval", "1"]).await;
    assert_eq!(lag.code, 0, "{}{}", lag.stdout, lag.stderr);
    assert!(!lag.stdout.trim().is_empty(), "{}", lag.stderr);

    let reconcile = outside(&["reservations", "reconcile"]).await;
    assert_eq!(
        reconcile.code, 0,
        "{}{}",
        reconcile.stdout, reconcile.stderr
    );

    // A command that finds a problem: its exit code comes back. No service
    // runs, so `status` finds them down (exit 1).
    let down = outside(&["status"]).await;
    assert_eq!(down.code, 1, "{}{}", down.stdout, down.stderr);
    assert!(down.stdout.contains("api-gateway"), "{}", down.stdout);

    // A change, in the task: the lock and the audit trail from inside.
    let replay = outside(&["--output", "json", "outbox", "replay", "--execute"]).await;
    assert_eq!(replay.code, 0, "{}{}", replay.stdout, replay.stderr);
    let last: serde_json::Value = replay
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    assert_eq!(last["published"], 2, "{}", replay.stdout);
    assert_eq!(common::unsent(&pool).await, 0);

    // Offsets moved in the task, and restored from the audit trail (the
    // task's disk keeps nothing): the group nobody consumes for goes to
    // the log end and back to where it was.
    let group = env.settings.kafka.topic("event-service");
    let topic = env.topic(ticketing_catalog::topics::RESERVATION_EVENTS);
    let committed = || async {
        ticketing_kafka::group_lag(&env.settings.kafka, &group, std::slice::from_ref(&topic))
            .await
            .expect("lag")
            .into_iter()
            .map(|p| p.committed)
            .collect::<Vec<_>>()
    };
    ticketing_kafka::commit_offsets(&env.settings.kafka, &group, &[(topic.clone(), 0, 1)])
        .await
        .expect("a committed offset to come back to");
    let before = committed().await;
    assert_eq!(before, vec![Some(1)]);
    let moved = outside(&[
        "kafka",
        "reset-offsets",
        "--group",
        "event-service",
        "--to",
        "latest",
        "--execute",
    ])
    .await;
    assert_eq!(moved.code, 0, "{}{}", moved.stdout, moved.stderr);
    assert_ne!(committed().await, before, "moved to the log end");
    let back = outside(&[
        "kafka",
        "reset-offsets",
        "--group",
        "event-service",
        "--from-audit",
        "--execute",
    ])
    .await;
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_eq!(committed().await, before, "restored from the trail");

    // The DR runbook runs in the task too. Its broker step goes through SSM
    // to this environment's broker (an instance moto holds, tagged
    // KafkaBrokerOf=dev); its drain step fails, since nothing consumes
    // here and it is given 1 s: the failure's exit code comes back, with
    // the command that resumes it for the same environment.
    common::broker_instance_on(&moto.url, common::HARNESS_KEY, REGION, ENV).await;
    let dr = outside(&[
        "kafka",
        "dr",
        "--force-restart",
        "--drain-timeout",
        "1",
        "--execute",
    ])
    .await;
    let said = format!("{}{}", dr.stdout, dr.stderr);
    assert_eq!(dr.code, 3, "{said}");
    assert!(said.contains("restarted; the broker answered"), "{said}");
    assert!(said.contains("still unprocessed"), "{said}");
    assert!(
        said.contains(&format!("--env {ENV} "))
            && said.contains("--drain-timeout 1 --resume-from drain"),
        "{said}"
    );

    // Least privilege: whoever starts the task, and the task itself, may
    // make exactly the calls made (and the documented ones not made here).
    let calls = moto.recorded_actions_by_key().await;
    let mut runner: BTreeSet<String> = calls.get("testing").cloned().unwrap_or_default();
    // Who starts the task is asked of STS (for the task's audit entries).
    assert!(runner.remove(NEEDS_NO_PERMISSION), "{runner:?}");
    runner.extend(RUNNER_IMPLIED.iter().map(|a| (*a).to_owned()));
    assert_eq!(policy_actions("OpsTaskRunnerPolicy"), runner);
    let mut task: BTreeSet<String> = calls.get(TASK_KEY).cloned().unwrap_or_default();
    assert!(
        task.contains("ssm:SendCommand"),
        "the DR run's restart: {task:?}"
    );
    task.remove(NEEDS_NO_PERMISSION);
    task.extend(TASK_IMPLIED.iter().map(|a| (*a).to_owned()));
    assert_eq!(policy_actions("OpsTaskRole"), task);

    // The change is in the team's trail, read from outside.
    let trail = outside(&["--output", "json", "audit", "--command", "outbox replay"]).await;
    assert_eq!(trail.code, 0, "{}{}", trail.stdout, trail.stderr);
    assert!(trail.stdout.contains("\"done\""), "{}", trail.stdout);
    // Written in the task (its role's identity), with who started it.
    let entries: serde_json::Value = serde_json::from_str(&trail.stdout).expect("json");
    let done = entries["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["phase"] == "done"))
        .unwrap_or_else(|| panic!("a done entry: {entries}"));
    assert!(
        done["requested_by"]
            .as_str()
            .is_some_and(|r| r.starts_with("arn:aws:") && r.contains('(')),
        "{done}"
    );
    assert_ne!(done["requested_by"], done["identity"], "{done}");

    agent.abort();
    sandbox.stop().await;
    pool.close().await;
    env.cleanup().await;
}
