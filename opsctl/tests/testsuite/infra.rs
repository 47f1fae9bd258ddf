//! `opsctl infra plan|deploy` against moto server's CloudFormation.
//!
//! What moto can and cannot do, and so what this test covers: moto creates
//! change sets for every layer (plan is tested on all five), and executes
//! them, but a stack made through a change set registers no exports, it
//! skips `AWS::CloudWatch::Alarm` and ElastiCache's types, and it
//! cannot resolve RDS attributes such as `Endpoint.Address`. So the layers
//! that import nothing -- network and observability -- are deployed here and
//! their resources checked; data, kafka and compute are planned here and
//! checked by cfn-lint, checkov and `infra_consistency.rs`. moto also puts
//! every subnet of `!GetAZs ""` in us-east-1, hence the network's region.

use crate::common;
#[path = "infra/empty_account.rs"]
mod empty_account;

const NETWORK_REGION: &str = "us-east-1";
const REGION: &str = "us-east-2";
const TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/templates");

async fn opsctl(args: &[&str], region: &str, audit: &std::path::Path) -> common::Run {
    let audit = audit.display().to_string();
    let args = [args, &["--dir", TEMPLATES, "--timeout", "60"]].concat();
    common::opsctl(
        &args,
        &[("OPSCTL_AUDIT_LOG", audit.as_str()), ("AWS_REGION", region)],
    )
    .await
}

#[tokio::test]
async fn every_layer_is_planned_and_the_network_and_observability_are_deployed() {
    let audit = common::temp_audit_log("infra");
    let cfn = aws_sdk_cloudformation::Client::new(&common::moto_sdk(REGION).await);
    // Start clean (moto keeps state across runs of a long-lived server).
    for (region, layer) in [(REGION, "observability"), (NETWORK_REGION, "network")] {
        let client = aws_sdk_cloudformation::Client::new(&common::moto_sdk(region).await);
        let _ = client
            .delete_stack()
            .stack_name(format!("ticketing-dev-{layer}"))
            .send()
            .await;
    }
    // The image repository outlives its stack (DeletionPolicy: Retain), as
    // on AWS: a second run recreating the stack must not find it.
    let _ = aws_sdk_ecr::Client::new(&common::moto_sdk(NETWORK_REGION).await)
        .delete_repository()
        .repository_name("ticketing-dev")
        .force(true)
        .send()
        .await;
    // So does the (empty) artifact bucket: S3's DeleteBucket, path-style
    // on moto's endpoint (moto checks no signature).
    let _ = reqwest::Client::new()
        .delete(format!(
            "{}/ticketing-dev-artifacts-123456789012",
            common::moto_url()
        ))
        .send()
        .await;

    // The broker artifact's SHA-512 (a new kafka stack needs it; stored
    // first, see infra/README.md).
    let artifact = format!("KafkaArtifactSha512={}", "ab".repeat(64));
    let plan = opsctl(
        &[
            "--env",
            "dev",
            "--output",
            "json",
            "infra",
            "plan",
            "--param",
            "ImageUri=123456789012.dkr.ecr.us-east-2.amazonaws.com/ticketing:1",
            "--param",
            "CertificateArn=arn:aws:acm:us-east-2:123456789012:certificate/abc",
            "--param",
            &artifact,
        ],
        REGION,
        &audit,
    )
    .await;
    assert_eq!(
        plan.code, 1,
        "everything would be created: {}{}",
        plan.stdout, plan.stderr
    );
    let plans: Vec<serde_json::Value> = serde_json::from_str(&plan.stdout).expect("json");
    let stacks: Vec<&str> = plans.iter().filter_map(|p| p["stack"].as_str()).collect();
    assert_eq!(
        stacks,
        vec![
            "ticketing-dev-network",
            "ticketing-dev-data",
            "ticketing-dev-kafka",
            "ticketing-dev-observability",
            "ticketing-dev-compute"
        ]
    );
    // Compute takes the brokers from the kafka stack's output; with no
    // kafka stack yet, the plan says what it assumed.
    assert!(
        plans[4]["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("KafkaBootstrapServers")
                && n.contains("deploy the kafka layer first")),
        "{}",
        plans[4]
    );
    // A deploy does not assume: without the kafka stack, compute is refused
    // before anything is made.
    let refused = opsctl(
        &[
            "--env",
            "dev",
            "infra",
            "deploy",
            "compute",
            "--param",
            "ImageUri=123456789012.dkr.ecr.us-east-2.amazonaws.com/ticketing:1",
            "--param",
            "CertificateArn=arn:aws:acm:us-east-2:123456789012:certificate/abc",
            "--execute",
        ],
        REGION,
        &audit,
    )
    .await;
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("infra deploy kafka --execute"),
        "{}",
        refused.stderr
    );
    let compute = &plans[4]["changes"];
    let services = compute
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["resource_type"] == "AWS::ECS::Service")
        .count();
    // Both layouts' services (six split, one combined): moto lists every
    // resource of the template in a change set, whatever its condition
    // (its ResourceMap.build_resource_diff compares the Resources
    // sections), where CloudFormation lists only those whose condition
    // holds. Which one the size creates is the template's `Combined`
    // condition, evaluated by the testkit's renderer that the container
    // test runs (app/ticketing/tests/testsuite/containers.rs) and held to the
    // catalog by infra_consistency.rs.
    assert_eq!(services, 7);
    // A plan leaves nothing behind.
    for stack in &stacks {
        let left = cfn.describe_stacks().stack_name(*stack).send().await;
        let gone = match &left {
            Err(_) => true,
            Ok(out) => out.stacks().iter().all(|s| {
                s.stack_status()
                    .is_some_and(|st| st.as_str().starts_with("DELETE"))
            }),
        };
        assert!(gone, "{stack} was left by a plan");
    }
    assert!(!audit.exists(), "a plan writes no audit entry");

    // Deploy the layers moto can carry out.
    let obs = opsctl(
        &[
            "--env",
            "dev",
            "infra",
            "deploy",
            "observability",
            "--execute",
        ],
        REGION,
        &audit,
    )
    .await;
    assert_eq!(obs.code, 0, "{}{}", obs.stdout, obs.stderr);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&common::moto_sdk(REGION).await);
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix("/ecs/ticketing/dev/")
        .send()
        .await
        .expect("log groups");
    let retention = |name: &str| {
        groups
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
            .and_then(|g| g.retention_in_days())
    };
    assert_eq!(retention("/ecs/ticketing/dev/payment-service"), Some(90));
    assert_eq!(retention("/ecs/ticketing/dev/api-gateway"), Some(7));
    assert_eq!(
        retention(&ticketing_catalog::logs::ops_group("dev")),
        Some(7)
    );
    // The combined task's holds the payment service's lines too.
    assert_eq!(
        retention(&ticketing_catalog::logs::combined_group("dev")),
        Some(90)
    );
    // The six services', the combined task's and the ops task's.
    assert_eq!(groups.log_groups().len(), 8);
    let sns = aws_sdk_sns::Client::new(&common::moto_sdk(REGION).await);
    let topics: Vec<String> = sns
        .list_topics()
        .send()
        .await
        .expect("topics")
        .topics()
        .iter()
        .filter_map(|t| {
            t.topic_arn()
                .map(|a| a.rsplit(':').next().unwrap_or(a).to_owned())
        })
        .collect();
    assert!(
        topics.contains(&"payment-alerts-dev".to_owned())
            && topics.contains(&"ops-alerts-dev".to_owned()),
        "{topics:?}"
    );
    assert!(
        !topics.contains(&"billing-alerts".to_owned()),
        "billing topics only in us-east-1"
    );

    let net = opsctl(
        &["--env", "dev", "infra", "deploy", "network", "--execute"],
        NETWORK_REGION,
        &audit,
    )
    .await;
    assert_eq!(net.code, 0, "{}{}", net.stdout, net.stderr);
    let made = network_resources(NETWORK_REGION).await;
    let ids = |kind: &str| -> Vec<&String> {
        made.iter()
            .filter(|(t, _)| t == kind)
            .map(|(_, id)| id)
            .collect()
    };
    assert!(
        ids("AWS::EC2::VPC").iter().all(|id| id.starts_with("vpc-"))
            && ids("AWS::EC2::VPC").len() == 1,
        "{made:?}"
    );
    assert_eq!(
        ids("AWS::EC2::Subnet")
            .iter()
            .filter(|id| id.starts_with("subnet-"))
            .count(),
        // Three public (the ALB's two, and a third Availability Zone for
        // the third broker) and two private.
        5,
        "{made:?}"
    );
    assert_eq!(
        ids("AWS::EC2::SecurityGroup")
            .iter()
            .filter(|id| id.starts_with("sg-"))
            .count(),
        // The ALB's, the services', the data's, the brokers' and the ops
        // task's.
        5,
        "{made:?}"
    );
    // The image repository `opsctl deploy` pushes to, as ECR lists it.
    assert_eq!(ids("AWS::ECR::Repository").len(), 1, "{made:?}");
    let ecr = aws_sdk_ecr::Client::new(&common::moto_sdk(NETWORK_REGION).await);
    let repos = ecr
        .describe_repositories()
        .repository_names("ticketing-dev")
        .send()
        .await
        .expect("the network layer made ticketing-dev");
    assert_eq!(repos.repositories().len(), 1);

    let log = std::fs::read_to_string(&audit).expect("audit");
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("\"phase\":\"done\""))
            .count(),
        2,
        "{log}"
    );

    // The local stack has no CloudFormation.
    let local = opsctl(&["infra", "plan"], REGION, &audit).await;
    assert_eq!(local.code, 2, "{}", local.stderr);
}

/// (type, physical id) of every resource moto made for the network stack.
async fn network_resources(region: &str) -> Vec<(String, String)> {
    let cfn = aws_sdk_cloudformation::Client::new(&common::moto_sdk(region).await);
    let out = cfn
        .describe_stack_resources()
        .stack_name("ticketing-dev-network")
        .send()
        .await
        .expect("describe");
    out.stack_resources()
        .iter()
        .map(|r| {
            (
                r.resource_type().unwrap_or_default().to_owned(),
                r.physical_resource_id().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A second deploy that does not repeat a parameter keeps the stack's value
/// (`UsePreviousValue`) and says so, instead of resetting it to the
/// template's default (which for `DomainName` would delete the hosted zone).
#[tokio::test]
async fn a_deploy_without_a_parameter_keeps_the_stacks_previous_value() {
    const KEEP_REGION: &str = "ap-northeast-1";
    let audit = common::temp_audit_log("infra-keep");
    let cfn = aws_sdk_cloudformation::Client::new(&common::moto_sdk(KEEP_REGION).await);
    let stack = "ticketing-dev-observability";
    let _ = cfn.delete_stack().stack_name(stack).send().await;
    let deploy = |extra: &'static [&'static str]| {
        let audit = audit.clone();
        async move {
            let args = [
                &[
                    "--env",
                    "dev",
                    "infra",
                    "deploy",
                    "observability",
                    "--execute",
                ][..],
                extra,
            ]
            .concat();
            opsctl(&args, KEEP_REGION, &audit).await
        }
    };
    let first = deploy(&["--param", "DomainName=tickets.example.com"]).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let domain = |out: aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput| {
        out.stacks()
            .first()
            .and_then(|s| {
                s.parameters()
                    .iter()
                    .find(|p| p.parameter_key() == Some("DomainName"))
                    .and_then(|p| p.parameter_value().map(str::to_owned))
            })
            .unwrap_or_default()
    };
    let before = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .expect("stack");
    assert_eq!(domain(before), "tickets.example.com");

    let second = deploy(&[]).await;
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    assert!(
        second
            .stderr
            .contains("kept from the stack (not given): DomainName")
            || second
                .stdout
                .contains("kept from the stack (not given): DomainName"),
        "the plan says which parameters it kept: {}{}",
        second.stdout,
        second.stderr
    );
    // A plan on the existing stack says what a new domain would replace
    // (moto's change set says nothing of replacement).
    let plan = opsctl(
        &[
            "--env",
            "dev",
            "infra",
            "plan",
            "observability",
            "--param",
            "DomainName=other.example.com",
        ],
        KEEP_REGION,
        &audit,
    )
    .await;
    let text = format!("{}{}", plan.stdout, plan.stderr);
    assert!(
        text.contains(
            "if DomainName changes: replaces HostedZone (Name changes, through DomainName)"
        ),
        "{text}"
    );
    let after = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .expect("stack");
    assert_eq!(domain(after), "tickets.example.com", "the domain was kept");
    let _ = cfn.delete_stack().stack_name(stack).send().await;
    let _ = std::fs::remove_file(&audit);
}

/// The part of the network layer the Kafka layer imports (its subnets and
/// the broker's security group), with explicit Availability Zones: moto's
/// change sets register no exports, and its `!GetAZs ""` answers
/// us-east-1's zones in every region (see the top of this file).
const KAFKA_NETWORK_STAND_IN: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.30.0.0/16}
  A:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.30.0.0/24, AvailabilityZone: ca-central-1a}
  B:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.30.1.0/24, AvailabilityZone: ca-central-1b}
  C:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.30.4.0/24, AvailabilityZone: ca-central-1d}
  Brokers:
    Type: AWS::EC2::SecurityGroup
    Properties: {GroupDescription: brokers, VpcId: !Ref Vpc}
Outputs:
  Subnets:
    Value: !Join [",", [!Ref A, !Ref B]]
    Export: {Name: ticketing-dev-public-subnets}
  BrokerSubnets:
    Value: !Join [",", [!Ref A, !Ref B, !Ref C]]
    Export: {Name: ticketing-dev-broker-subnets}
  Group:
    Value: !Ref Brokers
    Export: {Name: ticketing-dev-kafka-sg}
  Artifacts:
    Value: ticketing-dev-artifacts-123456789012
    Export: {Name: ticketing-dev-artifacts}
"#;

/// Creates `name` from `body` with CreateStack and returns its outputs, or
/// the error moto gave.
async fn create_stack(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
    body: &str,
    params: &[(&str, &str)],
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let _ = cfn.delete_stack().stack_name(name).send().await;
    let mut create = cfn
        .create_stack()
        .stack_name(name)
        .template_body(body)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam);
    for (k, v) in params {
        create = create.parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key(*k)
                .parameter_value(*v)
                .build(),
        );
    }
    create
        .send()
        .await
        .map_err(|e| aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string())?;
    let stack = cfn
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let stack = stack.stacks().first().ok_or("no stack")?;
    assert_eq!(
        stack.stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE"),
        "{name}: {:?}",
        stack.stack_status_reason()
    );
    Ok(stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect())
}

/// The Kafka layer as moto creates it (CreateStack; moto's change sets
/// resolve no imports), in both sizes: one broker per network interface,
/// and the user data moto rendered -- with the interfaces' real addresses
/// in the quorum -- gives each broker at those addresses its own node id
/// (1, 2, 3 in order) and all of them one cluster id.
///
/// The data layer cannot be created by moto 5.2.5 (its CloudFormation
/// cannot resolve `AWS::RDS::DBInstance`'s `Endpoint.Address`, and it has
/// no ElastiCache resource types); the last step asserts exactly that
/// refusal, so the day moto can, this test says to deploy it here.
#[tokio::test]
async fn moto_creates_the_kafka_layer_and_its_brokers_form_one_quorum() {
    const KAFKA_REGION: &str = "ca-central-1";
    let sdk = common::moto_sdk(KAFKA_REGION).await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let _ = cfn
        .delete_stack()
        .stack_name("ticketing-dev-kafka")
        .send()
        .await;
    create_stack(&cfn, "kafka-network-stand-in", KAFKA_NETWORK_STAND_IN, &[])
        .await
        .expect("the stand-in network");
    let template =
        std::fs::read_to_string(format!("{TEMPLATES}/kafka.yaml")).expect("kafka template");
    for profile in ticketing_catalog::footprint::PROFILES {
        let outputs = create_stack(
            &cfn,
            "ticketing-dev-kafka",
            &template,
            &[
                ("Environment", "dev"),
                ("SizeProfile", profile.name),
                ("KafkaArtifactSha512", &"ab".repeat(64)),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", profile.name));
        let addresses: Vec<String> = outputs["BootstrapServers"]
            .split(',')
            .map(|a| a.trim_end_matches(":9092").to_owned())
            .collect();
        assert_eq!(addresses.len(), profile.brokers as usize, "{outputs:?}");
        let user_data = launch_template_user_data(KAFKA_REGION, "ticketing-dev-kafka").await;
        let mut clusters = std::collections::BTreeSet::new();
        for (n, ip) in addresses.iter().enumerate() {
            let (id, cluster) = common::broker_identity(&user_data, ip)
                .unwrap_or_else(|e| panic!("{}: broker at {ip}: {e}", profile.name));
            assert_eq!(id as usize, n + 1, "{}: {ip}", profile.name);
            clusters.insert(cluster);
        }
        assert_eq!(clusters.len(), 1, "{}: {clusters:?}", profile.name);
        let _ = cfn
            .delete_stack()
            .stack_name("ticketing-dev-kafka")
            .send()
            .await;
    }
    let _ = cfn
        .delete_stack()
        .stack_name("kafka-network-stand-in")
        .send()
        .await;

    let data = std::fs::read_to_string(format!("{TEMPLATES}/data.yaml")).expect("data template");
    let refused = create_stack(&cfn, "ticketing-dev-data", &data, &[("Environment", "dev")])
        .await
        .expect_err("moto 5.2.5 cannot create the data layer; if it now can, deploy and check it here and update infra/README.md");
    assert!(refused.contains("Endpoint"), "{refused}");
}

/// The user data of the newest version of launch template `name`, decoded.
async fn launch_template_user_data(region: &str, name: &str) -> String {
    let form = [
        ("Action", "DescribeLaunchTemplateVersions"),
        ("Version", "2016-11-15"),
        ("LaunchTemplateName", name),
        ("LaunchTemplateVersion.1", "$Latest"),
    ];
    let xml = common::ec2_query(region, &form).await;
    let start = xml.find("<userData>").expect("user data") + "<userData>".len();
    let end = xml[start..].find("</userData>").expect("its end") + start;
    let bytes = aws_smithy_types::base64::decode(xml[start..end].trim()).expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}
