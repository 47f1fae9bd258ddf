//! `opsctl portone mode` against moto server: Secrets Manager and ECS, in a
//! region of this test's own.

use crate::common;

use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair};

const REGION: &str = "ca-central-1";

async fn sdk() -> aws_config::SdkConfig {
    let moto = ticketing_config::load(ticketing_config::Profile::Local)
        .expect("local settings")
        .aws
        .endpoint_url
        .expect("moto")
        .to_string();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(moto.trim_end_matches('/'))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

async fn put_secret(sdk: &aws_config::SdkConfig, env: &str, value: &str) {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let name = format!("ticketing/{env}/portone");
    let _ = client
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await;
    client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("secret");
}

async fn service(sdk: &aws_config::SdkConfig, env: &str, profile: &str) {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    ecs.create_cluster()
        .cluster_name(format!("ticketing-{env}"))
        .send()
        .await
        .expect("cluster");
    let container = ContainerDefinition::builder()
        .name("payment-service")
        .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/ticketing:1")
        .memory(512)
        .environment(
            KeyValuePair::builder()
                .name("TICKETING_PROFILE")
                .value(profile)
                .build(),
        )
        .build();
    let td = ecs
        .register_task_definition()
        .family(format!("payment-service-{env}"))
        .container_definitions(container)
        .send()
        .await
        .expect("task definition");
    let arn = td
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("arn")
        .to_owned();
    let _ = ecs
        .create_service()
        .cluster(format!("ticketing-{env}"))
        .service_name("payment-service")
        .task_definition(arn)
        .desired_count(1)
        .send()
        .await;
}

async fn opsctl(args: &[&str]) -> (i32, String, String) {
    let args = [&["--region", REGION], args].concat();
    let r = common::opsctl(&args, &[]).await;
    (r.code, r.stdout, r.stderr)
}

#[tokio::test]
async fn each_environment_s_mode_is_read_from_its_secret_and_task_definition_with_keys_masked() {
    let sdk = sdk().await;
    put_secret(&sdk, "dev", r#"{"imp_code":"imp12345678","api_key":"test_api_key_devdevdev","api_secret":"test_api_secret_dev","mode":"test"}"#).await;
    put_secret(&sdk, "prod", r#"{"imp_code":"imp87654321","api_key":"live_api_key_prodprod","api_secret":"live_api_secret_prod","mode":"production"}"#).await;
    service(&sdk, "dev", "dev").await;
    service(&sdk, "prod", "prod").await;

    let (code, stdout, stderr) = opsctl(&["--output", "json", "portone", "mode"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("json");
    let prod = report.iter().find(|m| m["env"] == "prod").expect("prod");
    assert_eq!(prod["secret_mode"], "production");
    assert_eq!(prod["task_mode"], "production");
    assert_eq!(prod["imp_code"], "imp87654321");
    assert_eq!(prod["api_key"], "live****");
    let dev = report.iter().find(|m| m["env"] == "dev").expect("dev");
    assert_eq!(dev["secret_mode"], "test");
    assert_eq!(dev["agree"], true);
    assert!(!stdout.contains("live_api_key_prodprod") && !stdout.contains("live_api_secret_prod"));

    // A secret that is not the expected JSON is named, and it is a finding.
    put_secret(&sdk, "prod", "imp87654321:live_api_key").await;
    let (code, stdout, _) = opsctl(&["--output", "json", "portone", "mode", "--of", "prod"]).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("not the expected JSON"), "{stdout}");
    assert!(!stdout.contains("live_api_key"), "{stdout}");

    // `--env dev` asks about dev: prod's broken secret is not its finding.
    let (code, stdout, stderr) =
        opsctl(&["--env", "dev", "--output", "json", "portone", "mode"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("json");
    let envs: Vec<&str> = report.iter().filter_map(|m| m["env"].as_str()).collect();
    assert_eq!(envs, ["dev"], "{stdout}");

    let (code, _, stderr) = opsctl(&["portone", "mode", "--of", "local"]).await;
    assert_eq!(code, 2, "{stderr}");
}
