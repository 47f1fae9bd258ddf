//! The platform started in-process against the real local stack (its own
//! database, key prefix and topic prefix), reached over real HTTP.

use std::time::Duration;

use ticketing_catalog::ServiceName;
use ticketing_testkit::TestEnv;

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(url)
        .header("x-request-id", "test-req-1")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn all_six_services_start_in_one_process_and_the_gateway_routes_to_them() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let platform =
        ticketing_platform::start(env.settings.clone(), env.secrets.clone(), &ServiceName::ALL)
            .await
            .expect("platform starts");
    assert_eq!(platform.listening.len(), 6);

    // Every service is ready: its database, Redis and Kafka answer.
    for l in &platform.listening {
        let (status, _, body) = get(&format!("http://{}/ready", l.addr)).await;
        assert_eq!(status, 200, "{} not ready: {body}", l.service);
    }

    // A row written to event-service's schema comes back through the gateway.
    let pool = env.pool(Some("event_service"));
    sqlx::query(
        "INSERT INTO performances (id, title, venue, starts_at) \
         VALUES ('0193a1b2-0000-7000-8000-000000000001', 'Test Concert', 'Olympic Hall', now() + interval '7 days')",
    )
    .execute(&pool)
    .await
    .expect("insert");
    let gateway = platform.addr(ServiceName::ApiGateway).expect("gateway");
    let (status, headers, body) = get(&format!("http://{gateway}/api/events")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["title"], "Test Concert");
    assert_eq!(headers["x-request-id"], "test-req-1");

    // Unknown paths are problem documents from the gateway itself.
    let (status, headers, body) = get(&format!("http://{gateway}/api/nowhere")).await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(body["detail"]
        .as_str()
        .unwrap_or("")
        .contains("/api/nowhere"));

    // Metrics are exposed per service.
    let text = reqwest::get(format!("http://{gateway}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains("http_requests_total"), "{text}");

    // The services that publish or consume events have the backbone tables.
    let admin = env.pool(None);
    let outboxes: Vec<String> = sqlx::query_scalar(
        "SELECT table_schema::text FROM information_schema.tables \
         WHERE table_name = 'outbox' ORDER BY 1",
    )
    .fetch_all(&admin)
    .await
    .expect("outbox tables");
    assert_eq!(
        outboxes,
        vec!["event_service", "payment_service", "reservation_service"]
    );

    drop(admin);
    drop(pool);
    platform.stop().await.expect("graceful stop");
    env.cleanup().await;
}

#[tokio::test]
async fn one_service_runs_alone_with_its_own_schema() {
    let env = TestEnv::new().await;
    let platform = ticketing_platform::start(
        env.settings.clone(),
        env.secrets.clone(),
        &[ServiceName::UserService],
    )
    .await
    .expect("user-service starts alone");
    assert_eq!(platform.listening.len(), 1);
    let addr = platform.addr(ServiceName::UserService).expect("addr");
    let (status, _, body) = get(&format!("http://{addr}/ready")).await;
    assert_eq!(status, 200, "{body}");

    // Its migrations went to its own schema, and only that one was created.
    let pool = env.pool(None);
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT schema_name::text FROM information_schema.schemata \
         WHERE schema_name LIKE '%\\_service' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("schemas");
    assert_eq!(schemas, vec!["user_service".to_owned()]);
    let users: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables \
         WHERE table_schema = 'user_service' AND table_name = 'users'",
    )
    .fetch_one(&pool)
    .await
    .expect("tables");
    assert_eq!(users, 1);

    drop(pool);
    platform.stop().await.expect("graceful stop");
    env.cleanup().await;
}

#[tokio::test]
async fn a_dependency_that_is_down_makes_readiness_fail_without_a_crash() {
    let env = TestEnv::new().await;
    let mut settings = env.settings.clone();
    // Redis on a port where nothing listens.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    settings.redis.url = format!("redis://127.0.0.1:{closed}").parse().expect("url");
    let platform =
        ticketing_platform::start(settings, env.secrets.clone(), &[ServiceName::QueueService])
            .await
            .expect("starts even though Redis is down");
    let addr = platform.addr(ServiceName::QueueService).expect("addr");

    let (status, headers, body) = get(&format!("http://{addr}/ready")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("redis"),
        "{body}"
    );
    // Liveness is separate: the process is fine.
    let (status, _, _) = get(&format!("http://{addr}/health")).await;
    assert_eq!(status, 200);

    platform.stop().await.expect("graceful stop");
    env.cleanup().await;
}

#[tokio::test]
async fn every_service_publishes_an_openapi_document_whose_operations_are_all_routed() {
    let env = TestEnv::new().await;
    env.create_topics().await;
    let platform =
        ticketing_platform::start(env.settings.clone(), env.secrets.clone(), &ServiceName::ALL)
            .await
            .expect("platform starts");
    let http = reqwest::Client::new();
    for l in &platform.listening {
        let (status, _, doc) = get(&format!("http://{}/openapi.json", l.addr)).await;
        assert_eq!(status, 200, "{}", l.service);
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], l.service.as_str());
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.contains_key("/health"));
        for (path, operations) in paths {
            let concrete = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        uuid::Uuid::now_v7().to_string()
                    } else {
                        segment.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            for method in operations.as_object().expect("operations").keys() {
                let method =
                    reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let answer = http
                    .request(method.clone(), format!("http://{}{concrete}", l.addr))
                    .send()
                    .await
                    .expect("answer");
                let status = answer.status().as_u16();
                let body: serde_json::Value = answer.json().await.unwrap_or_default();
                assert!(
                    status != 405 && body["code"] != "no_such_route",
                    "{}: {method} {path} is documented but not routed ({status} {body})",
                    l.service
                );
            }
        }
    }
    platform.stop().await.expect("stops");
    env.cleanup().await;
}
