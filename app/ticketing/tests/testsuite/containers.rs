//! The shape that ships, run: the one image built by `infra/image/build.sh`
//! (from the binary this suite compiled), and the services' task
//! definitions of `infra/templates/compute.yaml` rendered for `dev` in both
//! compute layouts (the six of the split layout at 10x; the one that runs
//! all six at mvp) and run as containers (podman, runc) against the local PostgreSQL, Redis and Kafka and a
//! PortOne sandbox of the test's own. Secrets are resolved as ECS resolves
//! them: the JSON keys of the named Secrets Manager secrets, here from the
//! AWS emulator (moto server).
//!
//! What differs from ECS, and why: all containers share this host's
//! network, so each service binds its own free port and the services find each other on
//! 127.0.0.1; the test's database, key prefix and topic prefix keep it apart
//! from parallel tests; the sandbox answers for PortOne; reCAPTCHA runs in
//! test mode. Each of these is set through the same `TICKETING__*`
//! variables the task definitions use, on top of what they set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client as SecretsManager;
use portone_sandbox::SandboxConfig;
use ticketing_catalog::{footprint, http, ServiceName};
use ticketing_testkit::task_definitions::{resolve_value_from, Container, Scope};
use ticketing_testkit::{free_port, TestEnv};

/// Moto keeps state per region; this test's own.
const REGION: &str = "us-west-1";
/// Moto's account id.
const ACCOUNT: &str = "123456789012";
const ENVIRONMENT: &str = "dev";
/// Where the containers find the local stack's PostgreSQL CA (mounted).
const LOCAL_PG_CA: &str = "/run/ticketing-test/postgres-ca.crt";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The services' task definitions of compute.yaml that `scope` creates,
/// rendered (the ops task is opsctl's: `opsctl/tests/testsuite/ops_task.rs` runs
/// it): six in the split layout, one serving all six in the combined.
fn tasks(scope: &Scope) -> Vec<Task> {
    scope
        .task_definitions(&repo())
        .into_iter()
        .filter(|c| c.name != ticketing_catalog::ecs::OPS_CONTAINER)
        .map(|c| Task {
            services: if c.name == ticketing_catalog::ecs::COMBINED_SERVICE {
                ServiceName::ALL.to_vec()
            } else {
                vec![c.name.parse().expect("a catalog service")]
            },
            container: c,
        })
        .collect()
}

struct Task {
    /// What it serves; the first is the one its health check probes (the
    /// gateway in the combined task).
    services: Vec<ServiceName>,
    container: Container,
}

impl Task {
    fn serves(&self, service: ServiceName) -> bool {
        self.services.contains(&service)
    }
}

/// The image carries opsctl too: the workspace's build of it, beside this
/// suite's binary (`cargo test --workspace` builds both).
fn opsctl_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_ticketing")).with_file_name("opsctl");
    assert!(
        path.is_file(),
        "{} is missing: build it first (cargo build -p opsctl), or run the whole suite (infra/local/test.sh)",
        path.display()
    );
    path
}

async fn moto() -> SecretsManager {
    let endpoint = ticketing_config::load(ticketing_config::Profile::Local)
        .expect("local settings")
        .aws
        .endpoint_url
        .expect("the local profile names moto server")
        .to_string();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint.trim_end_matches('/'))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    SecretsManager::new(&sdk)
}

/// Creates (or overwrites) secret `name` with `json`; its ARN.
async fn put_secret(sm: &SecretsManager, name: &str, json: serde_json::Value) -> String {
    let value = json.to_string();
    match sm
        .create_secret()
        .name(name)
        .secret_string(&value)
        .send()
        .await
    {
        Ok(created) => created.arn().expect("arn").to_owned(),
        Err(_) => sm
            .put_secret_value()
            .secret_id(name)
            .secret_string(&value)
            .send()
            .await
            .expect("secret updated")
            .arn()
            .expect("arn")
            .to_owned(),
    }
}

fn podman(args: &[&str]) -> std::process::Output {
    std::process::Command::new("bash")
        .arg(repo().join("infra/image/podman.sh"))
        .args(args)
        .output()
        .expect("podman runs")
}

fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes the test's containers and image, whatever happens.
struct Cleanup {
    names: Vec<String>,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = podman(&["rm", "-f", "-t", "0", name]);
        }
        let _ = podman(&["rmi", "-f", &self.image]);
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Option<u16> {
    http.get(url).send().await.ok().map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_split_task_definitions_run_from_the_image_serve_a_booking_and_stop_gracefully() {
    run_as_containers(footprint::SCALE_10X.name, footprint::ComputeLayout::Split).await;
}

/// The MVP's layout: one task runs all six (`ticketing serve`), each on
/// the port the template gives it, calling the others on the loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_combined_task_definition_runs_all_six_serves_a_booking_and_stops_gracefully() {
    assert_eq!(footprint::MVP.layout, footprint::ComputeLayout::Combined);
    run_as_containers(footprint::MVP.name, footprint::ComputeLayout::Combined).await;
}

/// Builds the image, runs the task definitions compute.yaml renders for
/// `size_profile` (whose layout is `layout`), books through them and stops
/// them with SIGTERM while requests are in flight.
async fn run_as_containers(size_profile: &str, layout: footprint::ComputeLayout) {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let image = format!("ticketing:t-{}", env.id);
    let build = std::process::Command::new("bash")
        .arg(repo().join("infra/image/build.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_ticketing")])
        .args(["--opsctl", &opsctl_binary().display().to_string()])
        .args(["--tag", &image])
        .output()
        .expect("build.sh runs");
    assert!(
        build.status.success(),
        "the image did not build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let mut cleanup = Cleanup {
        names: Vec::new(),
        image: image.clone(),
    };

    // Secrets where the task definitions name them.
    let key = || {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    };
    let (portone_key, portone_secret) = (key(), key());
    let jwt_key = key();
    let sm = moto().await;
    put_secret(
        &sm,
        &format!("ticketing/{ENVIRONMENT}/app"),
        serde_json::json!({"JWT_SIGNING_KEY": jwt_key, "QUEUE_TOKEN_SIGNING_KEY": key(),
            "IDENTITY_HASH_KEY": key(), "RECAPTCHA_SECRET": "unused-in-test-mode"}),
    )
    .await;
    put_secret(
        &sm,
        &format!("ticketing/{ENVIRONMENT}/portone"),
        serde_json::json!({"api_key": portone_key, "api_secret": portone_secret}),
    )
    .await;
    let db_secret = put_secret(
        &sm,
        &format!("ticketing-{}-db", env.id),
        serde_json::json!({"username": "ticketing", "password": key()}),
    )
    .await;
    let sandbox = portone_sandbox::start(
        "127.0.0.1",
        0,
        SandboxConfig::new(&portone_key, &portone_secret),
    )
    .await
    .expect("sandbox");

    let s = &env.settings;
    let exports: BTreeMap<String, String> = [
        ("db-endpoint", s.database.host.clone()),
        ("db-secret", db_secret),
        ("redis-endpoint", "127.0.0.1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("ticketing-{ENVIRONMENT}-{k}"), v))
    .collect();
    let tasks = tasks(&Scope {
        environment: ENVIRONMENT.to_owned(),
        region: REGION.to_owned(),
        account: ACCOUNT.to_owned(),
        // A parameter (the kafka stack's output, which opsctl passes), here
        // the test's broker.
        parameters: [
            (
                "KafkaBootstrapServers".to_owned(),
                s.kafka.bootstrap_servers.clone(),
            ),
            ("SizeProfile".to_owned(), size_profile.to_owned()),
        ]
        .into_iter()
        .collect(),
        exports,
    });
    let want = match layout {
        footprint::ComputeLayout::Split => ServiceName::ALL.len(),
        footprint::ComputeLayout::Combined => 1,
    };
    assert_eq!(tasks.len(), want, "{size_profile}: {layout} layout");
    // Every service is served, by exactly one task.
    for service in ServiceName::ALL {
        assert_eq!(
            tasks.iter().filter(|t| t.serves(service)).count(),
            1,
            "{service}"
        );
    }

    // One host: a port per service, and the test's own database and prefixes.
    let ports: BTreeMap<ServiceName, u16> = ServiceName::ALL
        .into_iter()
        .map(|s| (s, free_port()))
        .collect();
    let mut overrides: Vec<(String, String)> = vec![
        ("TICKETING__SERVICES__BIND_HOST".into(), "127.0.0.1".into()),
        (
            "TICKETING__DATABASE__PORT".into(),
            s.database.port.to_string(),
        ),
        ("TICKETING__DATABASE__NAME".into(), s.database.name.clone()),
        ("TICKETING__DATABASE__USER".into(), s.database.user.clone()),
        ("TICKETING__REDIS__URL".into(), s.redis.url.to_string()),
        (
            "TICKETING__REDIS__KEY_PREFIX".into(),
            s.redis.key_prefix.clone(),
        ),
        (
            "TICKETING__KAFKA__TOPIC_PREFIX".into(),
            s.kafka.topic_prefix.clone(),
        ),
        (
            "TICKETING__PORTONE__BASE_URL".into(),
            sandbox.url.to_string(),
        ),
        ("TICKETING__BOOKING__RECAPTCHA_MODE".into(), "test".into()),
        (
            "TICKETING__BOOKING__QUEUE_ADMIT_INTERVAL_MS".into(),
            "200".into(),
        ),
    ];
    for (service, port) in &ports {
        let section = service.as_str().replace('-', "_").to_uppercase();
        overrides.push((
            format!("TICKETING__SERVICES__{section}__PORT"),
            port.to_string(),
        ));
        overrides.push((
            format!("TICKETING__SERVICES__{section}__URL"),
            format!("http://127.0.0.1:{port}"),
        ));
    }

    // The task definitions' profile (dev) connects with verify-full against
    // the image's RDS bundle; here the database is the stack's PostgreSQL,
    // whose certificate the stack's own CA signed: the containers trust that
    // CA instead (mounted), and still verify chain and name.
    let pg_ca = s
        .stack
        .as_ref()
        .expect("local settings have [stack]")
        .postgres_ca();
    assert!(
        pg_ca.is_file(),
        "{} missing: restart the stack",
        pg_ca.display()
    );
    overrides.push((
        "TICKETING__DATABASE__SSL_ROOT_CERT".into(),
        LOCAL_PG_CA.into(),
    ));

    for task in &tasks {
        assert_eq!(task.container.container_port, Some(http::CONTAINER_PORT));
        let name = format!("ticketing-t-{}-{}", env.id, task.container.name);
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            name.clone(),
            "--network".into(),
            "host".into(),
            "--user".into(),
            task.container.user.clone(),
            "--stop-timeout".into(),
            task.container
                .stop_timeout
                .expect("StopTimeout")
                .to_string(),
        ];
        if task.container.read_only {
            args.push("--read-only".into());
        }
        args.push("--volume".into());
        args.push(format!("{}:{LOCAL_PG_CA}:ro", pg_ca.display()));
        let mut vars: BTreeMap<String, String> =
            task.container.environment.iter().cloned().collect();
        for (var, value_from) in &task.container.secrets {
            vars.insert(var.clone(), resolve_value_from(&sm, value_from).await);
        }
        vars.extend(overrides.iter().cloned());
        for (k, v) in &vars {
            args.push("--env".into());
            args.push(format!("{k}={v}"));
        }
        args.push(image.clone());
        args.extend(task.container.command.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        podman_ok(&args);
        cleanup.names.push(name);
    }

    // Ready: the readiness path the ALB and Route 53 probe, on every task.
    let http_client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(90);
    for (service, port) in &ports {
        let url = format!("http://127.0.0.1:{port}{}", http::READINESS_PATH);
        loop {
            if get(&http_client, &url).await == Some(200) {
                break;
            }
            if Instant::now() > deadline {
                let task = tasks.iter().find(|t| t.serves(*service)).expect("a task");
                let logs = podman(&[
                    "logs",
                    "--tail",
                    "30",
                    &format!("ticketing-t-{}-{}", env.id, task.container.name),
                ]);
                panic!(
                    "{service} never answered 200 on {url}; its log:\n{}{}",
                    String::from_utf8_lossy(&logs.stdout),
                    String::from_utf8_lossy(&logs.stderr)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    // The container health check, as ECS runs it, inside each container
    // (its port is this host's, as above).
    for task in &tasks {
        let port = ports[&task.services[0]].to_string();
        let mut command: Vec<String> = task
            .container
            .health
            .iter()
            .skip(1) // CMD
            .map(|w| {
                if *w == http::CONTAINER_PORT.to_string() {
                    port.clone()
                } else {
                    w.clone()
                }
            })
            .collect();
        assert_eq!(
            task.container.health.first().map(String::as_str),
            Some("CMD")
        );
        let name = format!("ticketing-t-{}-{}", env.id, task.container.name);
        let mut args = vec!["exec".to_owned(), name];
        args.append(&mut command);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        podman_ok(&args);
    }

    // A booking through the containerised gateway.
    let gateway = format!("http://127.0.0.1:{}", ports[&ServiceName::ApiGateway]);
    // The concert's organiser, with the containers' signing key.
    let issuer = ticketing_config::load(ticketing_config::Profile::Dev)
        .expect("dev settings")
        .booking
        .jwt_issuer;
    let organiser = ticketing_http::Authenticator::new(
        ticketing_tokens::Keyring::new(&secrecy::SecretString::from(jwt_key.clone()), &[]),
        issuer,
        600,
    )
    .issue_with(
        uuid::Uuid::now_v7(),
        Some(ticketing_tokens::Role::Organiser),
    )
    .0;
    let demo = ticketing_e2e::demo::Demo::new(
        gateway.parse().expect("url"),
        sandbox.url.clone(),
        organiser,
    )
    .expect("demo");
    let booked = demo.run(|_| {}).await.expect("the demo booking");
    assert_eq!(booked.status, "CONFIRMED");

    // Every connection the containers hold to this test's database is TLS
    // (verify-full: an unverified server would have been refused), and the
    // image carries the RDS bundle the profiles name.
    let (tls, plain): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND a.application_name = 'ticketing'",
    )
    .bind(&s.database.name)
    .fetch_one(&env.pool(None))
    .await
    .expect("pg_stat_ssl");
    assert!(
        tls > 0 && plain == 0,
        "{tls} TLS and {plain} plain connections"
    );
    let copied = std::env::temp_dir().join(format!("rds-ca-{}.pem", env.id));
    let first = &cleanup.names[0];
    podman_ok(&[
        "cp",
        &format!("{first}:{}", ticketing_config::RDS_CA_BUNDLE_PATH),
        &copied.display().to_string(),
    ]);
    let in_image = std::fs::read(&copied).expect("the copied bundle");
    let _ = std::fs::remove_file(&copied);
    assert_eq!(
        in_image,
        std::fs::read(repo().join("infra/image/rds-ca-bundle.pem")).expect("the repo's bundle"),
        "the image's RDS bundle is not infra/image/rds-ca-bundle.pem"
    );

    // SIGTERM while requests are in flight: logins (password hashing, slow
    // on purpose) through the gateway to user-service.
    let client = ticketing_e2e::Client::new(
        gateway.parse().expect("url"),
        sandbox.url.clone(),
        Duration::from_secs(60),
    )
    .expect("client");
    let imp_uid = client.certify("stopper", "Stopper").await.expect("certify");
    client
        .sign_up(&imp_uid, "stopper@example.com", "correct horse battery")
        .await
        .expect("sign-up");
    let logins: Vec<_> = (0..12)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let answer = client
                    .call(
                        reqwest::Method::POST,
                        "/api/users/login",
                        None,
                        &[],
                        Some(serde_json::json!({"email": "stopper@example.com", "password": "correct horse battery"})),
                    )
                    .await;
                (answer.map(|a| a.status), Instant::now())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The container that serves user-service (in the combined layout,
    // every service: the gateway drains its in-flight calls too).
    let user_task = tasks
        .iter()
        .find(|t| t.serves(ServiceName::UserService))
        .expect("user task");
    let user_service = format!("ticketing-t-{}-{}", env.id, user_task.container.name);
    let signalled = Instant::now();
    podman_ok(&["stop", "-t", "30", &user_service]);
    let stopped_in = signalled.elapsed();
    let mut after_signal = 0;
    for login in logins {
        let (status, at) = login.await.expect("join");
        assert_eq!(
            status.expect("the gateway answered"),
            200,
            "an in-flight login was cut off"
        );
        if at > signalled {
            after_signal += 1;
        }
    }
    assert!(
        after_signal > 0,
        "no login was still in flight when SIGTERM arrived"
    );
    assert!(
        stopped_in < Duration::from_secs(user_task.container.stop_timeout.expect("StopTimeout")),
        "user-service took {stopped_in:?} to stop"
    );

    // Every container exits 0 on SIGTERM within its stop timeout.
    for task in &tasks {
        let name = format!("ticketing-t-{}-{}", env.id, task.container.name);
        let started = Instant::now();
        podman_ok(&[
            "stop",
            "-t",
            &task
                .container
                .stop_timeout
                .expect("StopTimeout")
                .to_string(),
            &name,
        ]);
        assert!(
            started.elapsed()
                < Duration::from_secs(task.container.stop_timeout.expect("StopTimeout")),
            "{name} was killed"
        );
        let code = podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
        assert_eq!(code, "0", "{name} exited {code} on SIGTERM");
    }

    drop(cleanup);
    sandbox.stop().await;
    env.cleanup().await;
}

/// A build without its binary stops before buildah, naming what is missing
/// and how to get it.
#[test]
fn an_image_build_without_its_binary_says_what_is_missing() {
    let missing =
        std::env::temp_dir().join(format!("no-such-binary-{}", uuid::Uuid::new_v4().simple()));
    let out = std::process::Command::new("bash")
        .arg(repo().join("infra/image/build.sh"))
        .args([
            "--binary",
            missing.to_str().expect("path"),
            "--opsctl",
            missing.to_str().expect("path"),
            "--tag",
            "ticketing:never",
        ])
        .output()
        .expect("build.sh runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(missing.to_str().expect("path")), "{stderr}");
    assert!(
        stderr.contains("cargo build --release -p ticketing"),
        "{stderr}"
    );
    let unknown = std::process::Command::new("bash")
        .arg(repo().join("infra/image/build.sh"))
        .arg("--bogus")
        .output()
        .expect("build.sh runs");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown argument --bogus"));
}
