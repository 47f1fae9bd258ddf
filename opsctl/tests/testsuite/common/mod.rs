//! What opsctl's tests share beyond the platform harness (`ticketing-e2e`'s
//! `Stack`, which starts the platform for tests that need bookings): running
//! the real opsctl binary, moto server, audit logs.
#![allow(dead_code)]

use uuid::Uuid;

/// What a run of the real opsctl binary printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the real opsctl binary with `vars` set, test AWS credentials (moto
/// accepts any), no AWS profile, and every AWS call aimed at moto server
/// (also for `--env dev|prod`, whose settings name no endpoint).
pub async fn opsctl(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_opsctl"));
    cmd.kill_on_drop(true);
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_ENDPOINT_URL", moto_url())
        // The tests of one file run at once against one region's dev (or
        // prod): a change waits for another's change lock, as a pipeline
        // would. A test of the lock itself sets its own.
        .env("OPSCTL_LOCK_WAIT", "5m");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("opsctl runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Builds the platform image as `tag` with `infra/image/build.sh` from this
/// workspace's binaries: `ticketing`, built beside opsctl when the
/// workspace's tests are built, and this opsctl.
pub fn build_image(tag: &str) {
    let ticketing = std::path::Path::new(env!("CARGO_BIN_EXE_opsctl")).with_file_name("ticketing");
    assert!(
        ticketing.is_file(),
        "{} is not built: run the workspace's tests (infra/local/test.sh), or cargo build -p ticketing first",
        ticketing.display()
    );
    let built = std::process::Command::new("bash")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/image/build.sh"))
        .args(["--binary", &ticketing.display().to_string()])
        .args(["--opsctl", env!("CARGO_BIN_EXE_opsctl")])
        .args(["--tag", tag])
        .output()
        .expect("build.sh runs");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
}

/// A test's own slice of the stack with the services' schemas and `n`
/// events waiting in reservation-service's outbox; that schema's pool.
pub async fn outbox_with_events(n: usize) -> (ticketing_testkit::TestEnv, sqlx::PgPool) {
    let env = ticketing_testkit::TestEnv::new().await;
    env.create_topics().await;
    ticketing_platform::migrate_all(
        &env.settings,
        &env.secrets,
        &ticketing_catalog::ServiceName::ALL,
    )
    .await
    .expect("migrate");
    let pool = env.pool(Some("reservation_service"));
    seed_outbox(&pool, n).await;
    (env, pool)
}

/// The events in a service's outbox not sent yet.
pub async fn unsent(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(pool)
        .await
        .expect("count")
}

/// `n` ReservationConfirmed events in reservation-service's outbox (its
/// schema's `pool`), each appended in its own transaction as the service does.
pub async fn seed_outbox(pool: &sqlx::PgPool, n: usize) {
    for _ in 0..n {
        let mut tx = pool.begin().await.expect("begin");
        let event = ticketing_events::ReservationConfirmed {
            reservation_id: Uuid::now_v7(),
            performance_id: Uuid::now_v7(),
            seat_ids: vec![Uuid::now_v7()],
        };
        ticketing_messaging::append(&mut tx, &event)
            .await
            .expect("append");
        tx.commit().await.expect("commit");
    }
}

/// A log group's retention in days, if it has one.
pub async fn retention(client: &aws_sdk_cloudwatchlogs::Client, group: &str) -> Option<i32> {
    client
        .describe_log_groups()
        .log_group_name_prefix(group)
        .send()
        .await
        .expect("describe")
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(group))
        .and_then(|g| g.retention_in_days())
}

/// The moto server of the local stack.
pub fn moto_url() -> String {
    ticketing_config::load(ticketing_config::Profile::Local)
        .expect("local settings")
        .aws
        .endpoint_url
        .expect("the local profile names moto server's endpoint")
        .to_string()
        .trim_end_matches('/')
        .to_owned()
}

/// SDK configuration for moto server in `region` (moto keeps state per
/// region, so each test file uses a region of its own).
pub async fn moto_sdk(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(moto_url())
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// A fresh audit-log path of the test's own (not created), removed when
/// the test is done with it (the last clone dropped), so tests leave
/// nothing behind.
pub fn temp_audit_log(prefix: &str) -> TempAudit {
    TempAudit(std::sync::Arc::new(
        std::env::temp_dir().join(format!("{prefix}-{}.jsonl", Uuid::new_v4().simple())),
    ))
}

/// An audit-log path that removes its file when the last clone goes.
#[derive(Clone, Debug)]
pub struct TempAudit(std::sync::Arc<std::path::PathBuf>);

impl std::ops::Deref for TempAudit {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempAudit {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempAudit {
    fn drop(&mut self) {
        if std::sync::Arc::strong_count(&self.0) == 1 {
            let _ = std::fs::remove_file(&*self.0);
        }
    }
}

/// The phases of the audit log at `path`, in order (none when it does not
/// exist).
#[allow(dead_code)]
pub fn audit_phases(path: &std::path::Path) -> Vec<String> {
    audit_entries(path)
        .iter()
        .filter_map(|v| v["phase"].as_str().map(str::to_owned))
        .collect()
}

/// Every entry of a local audit log, in order.
pub fn audit_entries(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("an audit line is JSON"))
        .collect()
}

/// The task definition `service` runs on cluster `ticketing-prod`.
pub async fn running(ecs: &aws_sdk_ecs::Client, service: &str) -> String {
    ecs.describe_services()
        .cluster("ticketing-prod")
        .services(service)
        .send()
        .await
        .expect("describe")
        .services()
        .first()
        .and_then(|s| s.task_definition())
        .expect("task definition")
        .to_owned()
}

/// A task definition's `ticketing:rollout` tag.
pub async fn rollout_tag(ecs: &aws_sdk_ecs::Client, arn: &str) -> Option<String> {
    ecs.list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .expect("tags")
        .tags()
        .iter()
        .find(|t| t.key() == Some("ticketing:rollout"))
        .and_then(|t| t.value().map(str::to_owned))
}

/// Registers a revision of `<service>-prod` whose one container is named
/// after the service (as the templates name it), with `image`, `command`,
/// `environment` and, when given, a `ticketing:rollout` tag; its ARN.
pub async fn register_revision(
    ecs: &aws_sdk_ecs::Client,
    service: &str,
    image: &str,
    command: &[&str],
    environment: &[(&str, &str)],
    rollout: Option<&str>,
) -> String {
    use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, LogConfiguration, LogDriver, Tag};
    // Logged as compute.yaml logs it: the service's group, its name as the
    // stream prefix.
    let logging = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", format!("/ecs/ticketing/prod/{service}"))
        .options("awslogs-stream-prefix", service)
        .build()
        .expect("log configuration");
    let mut container = ContainerDefinition::builder()
        .name(service)
        .image(image)
        .memory(512)
        .log_configuration(logging)
        .set_command(
            (!command.is_empty()).then(|| command.iter().map(|c| (*c).to_owned()).collect()),
        );
    for (k, v) in environment {
        container = container.environment(KeyValuePair::builder().name(*k).value(*v).build());
    }
    let mut req = ecs
        .register_task_definition()
        .family(format!("{service}-prod"))
        .container_definitions(container.build());
    if let Some(r) = rollout {
        req = req.tags(Tag::builder().key("ticketing:rollout").value(r).build());
    }
    req.send()
        .await
        .expect("task definition")
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("arn")
        .to_owned()
}

/// (Re)creates `service` on cluster `ticketing-prod` running `td` with
/// `desired` tasks. moto runs no tasks: 0 is stable at once, more never
/// starts.
pub async fn service_on(ecs: &aws_sdk_ecs::Client, service: &str, td: &str, desired: i32) {
    use aws_sdk_ecs::types::{DeploymentController, DeploymentControllerType};
    let _ = ecs
        .delete_service()
        .cluster("ticketing-prod")
        .service(service)
        .force(true)
        .send()
        .await;
    ecs.create_service()
        .cluster("ticketing-prod")
        .service_name(service)
        .task_definition(td)
        .desired_count(desired)
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::Ecs)
                .build()
                .expect("controller"),
        )
        .send()
        .await
        .expect("service");
}

/// The identity a broker at `ip` takes from its user data (kafka.yaml's, as
/// CloudFormation renders it: `${Voters}` and `${AWS::StackId}` filled in):
/// the quorum and cluster seed its `broker.sh configure` line passes, given
/// to the same script's `identity`: (node id, cluster id), or its error.
pub fn broker_identity(user_data: &str, ip: &str) -> Result<(u32, String), String> {
    // The quoted value after `flag` on the user data's configure line.
    let quoted = |flag: &str| -> Result<String, String> {
        let at = user_data
            .find(&format!("{flag} '"))
            .ok_or(format!("no {flag} in the user data"))?;
        let rest = &user_data[at + flag.len() + 2..];
        Ok(rest[..rest.find('\'').ok_or("unterminated")?].to_owned())
    };
    let broker = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/kafka/broker.sh");
    let out = std::process::Command::new("bash")
        .arg(broker)
        .args([
            "identity",
            ip,
            &quoted("--voters")?,
            &quoted("--cluster-seed")?,
        ])
        .output()
        .expect("bash runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (id, cluster) = stdout.trim().split_once(' ').ok_or("two words")?;
    Ok((
        id.parse().map_err(|e| format!("{id}: {e}"))?,
        cluster.to_owned(),
    ))
}

/// An EC2 instance tagged as `env`'s broker (as the kafka stack tags it),
/// made through moto's EC2 query API.
pub async fn broker_instance(region: &str, env: &str) -> String {
    broker_instance_on(&moto_url(), "testing", region, env).await
}

/// [`broker_instance`] on the moto at `url`, asked with `key`.
pub async fn broker_instance_on(url: &str, key: &str, region: &str, env: &str) -> String {
    let (of_key, _) = ticketing_catalog::aws::broker_target(env);
    let of_key = of_key.trim_start_matches("tag:").to_owned();
    let body = [
        ("Action", "RunInstances"),
        ("Version", "2016-11-15"),
        ("ImageId", "ami-12c6146b"),
        ("MinCount", "1"),
        ("MaxCount", "1"),
        ("InstanceType", "t3.small"),
        ("TagSpecification.1.ResourceType", "instance"),
        (
            "TagSpecification.1.Tag.1.Key",
            ticketing_catalog::aws::KAFKA_BROKER_TAG_KEY,
        ),
        (
            "TagSpecification.1.Tag.1.Value",
            ticketing_catalog::aws::KAFKA_BROKER_TAG_VALUE,
        ),
        ("TagSpecification.1.Tag.2.Key", "Environment"),
        ("TagSpecification.1.Tag.2.Value", env),
        ("TagSpecification.1.Tag.3.Key", of_key.as_str()),
        ("TagSpecification.1.Tag.3.Value", env),
    ];
    let xml = query_api(url, key, region, "ec2", &body).await;
    let start = xml.find("<instanceId>").expect("an instance id") + "<instanceId>".len();
    let end = xml[start..].find('<').expect("end") + start;
    xml[start..end].to_owned()
}

/// One call of moto's EC2 query API (the SDK for EC2 is not a dependency
/// for the few calls the tests make); the XML it answers.
pub async fn ec2_query(region: &str, form: &[(&str, &str)]) -> String {
    query_api(&moto_url(), "testing", region, "ec2", form).await
}

/// One call of a query-protocol API (EC2, IAM) on the moto at `url`, with
/// a SigV4 header naming `key` and the service (moto routes by it and
/// checks no signature); the XML it answers.
pub async fn query_api(
    url: &str,
    key: &str,
    region: &str,
    service: &str,
    form: &[(&str, &str)],
) -> String {
    reqwest::Client::new()
        .post(format!("{url}/"))
        .header(
            "Authorization",
            format!("AWS4-HMAC-SHA256 Credential={key}/20261124/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .form(form)
        .send()
        .await
        .expect("moto answers")
        .text()
        .await
        .expect("xml")
}

/// `batches` batches of `per_batch` records each, offsets from 0, written
/// by a real record batch v2 encoder (the `kafka-protocol` crate's, as
/// Kafka clients and brokers write them); returns the file bytes and each
/// batch's start position.
pub fn segment(batches: i64, per_batch: i64) -> (Vec<u8>, Vec<usize>) {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    let mut out = Vec::new();
    let mut starts = Vec::new();
    for b in 0..batches {
        let records: Vec<Record> = (0..per_batch)
            .map(|i| {
                let offset = b * per_batch + i;
                let mut headers = IndexMap::new();
                headers.insert(
                    StrBytes::from_static_str("event_type"),
                    Some(Bytes::from_static(b"ReservationConfirmed")),
                );
                Record {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: 0,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: TimestampType::Creation,
                    offset,
                    sequence: i as i32,
                    timestamp: 1_795_000_000_000 + offset,
                    key: Some(Bytes::from(format!("reservation-{}", offset % 7))),
                    value: Some(Bytes::from(format!(
                        "{{\"event\":{offset},\"pad\":\"{}\"}}",
                        "x".repeat(50)
                    ))),
                    headers,
                }
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .expect("encode");
        starts.push(out.len());
        out.extend_from_slice(&buf);
    }
    (out, starts)
}

/// The environment buildah and skopeo share (infra/image/containers.sh).
pub fn containers_env() -> Vec<(String, String)> {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/image/containers.sh");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && echo \"$CONTAINERS_CONF\" && echo \"$CONTAINERS_STORAGE_CONF\"",
            script.display()
        ))
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    vec![
        (
            "CONTAINERS_CONF".into(),
            lines.next().expect("conf").to_owned(),
        ),
        (
            "CONTAINERS_STORAGE_CONF".into(),
            lines.next().expect("storage conf").to_owned(),
        ),
    ]
}

/// A moto server of the test's own (the local stack's is shared by every
/// test), recording every request it serves once `record` is called:
/// moto's recorder (`/moto-api/recorder/*`) appends each request to a file.
/// Killed, and its file removed, when dropped.
/// The access key a test's own calls to a [`PrivateMoto`] are signed with
/// (opsctl's are signed with `testing`).
pub const HARNESS_KEY: &str = "harness";

pub struct PrivateMoto {
    child: std::process::Child,
    pub url: String,
    recording: std::path::PathBuf,
}

impl PrivateMoto {
    pub async fn start() -> PrivateMoto {
        let home = std::env::var("TICKETING_HOME").unwrap_or_else(|_| {
            format!("{}/.cache/ticketing", std::env::var("HOME").expect("HOME"))
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let recording =
            std::env::temp_dir().join(format!("moto-recording-{}.jsonl", Uuid::new_v4().simple()));
        let child = std::process::Command::new(format!("{home}/venv/bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server (installed by infra/local/install-tools.sh)");
        let moto = PrivateMoto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            recording,
        };
        let client = reqwest::Client::new();
        for _ in 0..150 {
            if client
                .get(format!("{}/moto-api/data.json", moto.url))
                .send()
                .await
                .is_ok()
            {
                return moto;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("moto_server did not answer on {} within 15 s", moto.url);
    }

    pub async fn sdk(&self, region: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            // The harness's own key: its calls are not the command's.
            .credentials_provider(aws_credential_types::Credentials::new(
                HARNESS_KEY,
                "testing",
                None,
                None,
                "test",
            ))
            .load()
            .await
    }

    /// One call of a query-protocol API (IAM, EC2) on this moto, signed
    /// with the harness's key; its XML.
    pub async fn query(&self, service: &str, form: &[(&str, &str)]) -> String {
        query_api(&self.url, HARNESS_KEY, "us-east-1", service, form).await
    }

    async fn recorder(&self, verb: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/moto-api/recorder/{verb}", self.url))
            .send()
            .await
            .expect("moto's recorder answers");
        assert!(r.status().is_success(), "{verb}: {}", r.status());
    }

    /// Forgets what was recorded and records from now on.
    pub async fn record(&self) {
        self.recorder("stop-recording").await;
        let _ = std::fs::remove_file(&self.recording);
        self.recorder("start-recording").await;
    }

    /// Stops recording; the IAM actions of every AWS request opsctl made
    /// (signed with [`opsctl`]'s key, not the harness's), as
    /// `<service>:<Operation>`: the service from the request's signature
    /// (its credential scope), the operation from the JSON protocols'
    /// `X-Amz-Target` header or the query protocols' `Action` parameter.
    pub async fn recorded_actions(&self) -> std::collections::BTreeSet<String> {
        self.recorded_actions_by_key()
            .await
            .remove("testing")
            .unwrap_or_default()
    }

    /// Stops recording; the IAM actions of every recorded AWS request, by
    /// the access key that signed it (the harness's own left out).
    pub async fn recorded_actions_by_key(
        &self,
    ) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
        self.recorder("stop-recording").await;
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        let mut out = std::collections::BTreeMap::new();
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line).expect("a recorded request");
            let header = |name: &str| -> Option<String> {
                entry["headers"].as_object()?.iter().find_map(|(k, v)| {
                    k.eq_ignore_ascii_case(name)
                        .then(|| v.as_str().unwrap_or_default().to_owned())
                })
            };
            let Some(auth) = header("Authorization") else {
                continue; // not an AWS API call
            };
            // Credential=<key>/<date>/<region>/<service>/aws4_request
            let scope: Vec<&str> = auth
                .split("Credential=")
                .nth(1)
                .expect("a SigV4 credential scope")
                .split('/')
                .collect();
            if scope[0] == HARNESS_KEY {
                continue; // the harness's own call
            }
            let service = scope[3].to_owned();
            let operation = match header("X-Amz-Target") {
                Some(target) => target.rsplit('.').next().unwrap_or_default().to_owned(),
                None => {
                    // moto's recorder keeps a body as base64 when
                    // `body_encoded` is set.
                    let raw = entry["body"].as_str().unwrap_or_default();
                    let body = if entry["body_encoded"].as_bool() == Some(true) {
                        use base64::Engine;
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(raw)
                            .expect("a base64 body");
                        String::from_utf8_lossy(&bytes).into_owned()
                    } else {
                        raw.to_owned()
                    };
                    let query = entry["url"]
                        .as_str()
                        .and_then(|u| u.split_once('?').map(|(_, q)| q.to_owned()))
                        .unwrap_or_default();
                    url::form_urlencoded::parse(format!("{body}&{query}").as_bytes())
                        .find(|(k, _)| k == "Action")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_else(|| panic!("no operation in a recorded request: {line}"))
                }
            };
            out.entry(scope[0].to_owned())
                .or_insert_with(std::collections::BTreeSet::new)
                .insert(format!("{service}:{operation}"));
        }
        out
    }
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.recording);
    }
}
