//! The CloudFormation templates against the code's single source of truth
//! (`ticketing_catalog`): service names, task families and sizes, log
//! groups and retention, alarm names and thresholds, SNS topics, secret
//! names, Kafka topics and the broker tag. Changing a fact in one place only
//! fails here.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::Value;
use ticketing_catalog::{alarms, aws, footprint, logs, metrics, topics, ServiceName};

fn templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/templates")
}

fn load(layer: &str) -> (Value, String) {
    let path = templates().join(format!("{layer}.yaml"));
    let text = std::fs::read_to_string(&path).expect("template");
    (serde_yaml::from_str(&text).expect("YAML"), text)
}

/// A scalar, or the string under a short-form tag (`!Sub x`, `!Ref x`).
fn plain(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(t) => plain(&t.value),
        _ => None,
    }
}

/// IAM's ARN wildcards: `*` any run of characters, `?` exactly one.
fn iam_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// An entry written `!If [Condition, entry, !Ref AWS::NoValue]`: the entry
/// (the tests check what the condition may add); any other, itself.
fn unless_no_value(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) if t.tag == "!If" => &t.value[1],
        other => other,
    }
}

fn resources<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap_or_default(), &r["Properties"]))
        .collect()
}

#[test]
fn services_families_log_groups_and_sizes_match_the_catalog() {
    let (compute, text) = load("compute");
    let services: BTreeSet<String> = resources(&compute, "AWS::ECS::Service")
        .iter()
        .filter_map(|(_, p)| plain(&p["ServiceName"]))
        .collect();
    let wanted: BTreeSet<String> = ServiceName::ALL
        .iter()
        .map(|s| s.as_str().to_owned())
        .chain([ticketing_catalog::ecs::COMBINED_SERVICE.to_owned()])
        .collect();
    assert_eq!(services, wanted);
    // Each layout's resources exist under its condition only.
    for (id, resource) in compute["Resources"].as_mapping().expect("resources") {
        let id = id.as_str().expect("id");
        let kind = resource["Type"].as_str().unwrap_or_default();
        if !matches!(
            kind,
            "AWS::ECS::Service" | "AWS::ECS::TaskDefinition" | "AWS::ServiceDiscovery::Service"
        ) || id.starts_with("Ops")
        {
            continue;
        }
        let want = if id.starts_with("Combined") {
            "Combined"
        } else {
            "Split"
        };
        assert_eq!(resource["Condition"].as_str(), Some(want), "{id}");
    }
    for (_, td) in resources(&compute, "AWS::ECS::TaskDefinition") {
        let container = &td["ContainerDefinitions"][0];
        let name = container["Name"].as_str().expect("container name");
        if name == ticketing_catalog::ecs::OPS_CONTAINER {
            // The ops task: opsctl, named and logged as the catalog says.
            assert_eq!(
                plain(&td["Family"]),
                Some(ticketing_catalog::ecs::ops_family("${Environment}"))
            );
            let options = &container["LogConfiguration"]["Options"];
            assert_eq!(
                plain(&options["awslogs-group"]),
                Some(logs::ops_group("${Environment}"))
            );
            assert_eq!(
                plain(&options["awslogs-stream-prefix"]).as_deref(),
                Some(ticketing_catalog::ecs::OPS_STREAM_PREFIX)
            );
            assert_eq!(
                plain(&container["EntryPoint"][0]).as_deref(),
                Some(ticketing_catalog::ecs::OPSCTL_PATH)
            );
            let in_vpc = container["Environment"]
                .as_sequence()
                .expect("environment")
                .iter()
                .any(|e| {
                    plain(&e["Name"]).as_deref() == Some(ticketing_catalog::ecs::OPS_IN_VPC_VAR)
                });
            assert!(in_vpc, "the ops task must say it is inside the VPC");
            continue;
        }
        if name == ticketing_catalog::ecs::COMBINED_SERVICE {
            // The combined layout's task: all six, as the catalog names it.
            assert_eq!(
                plain(&td["Family"]),
                Some(ticketing_catalog::ecs::combined_family("${Environment}"))
            );
            assert_eq!(
                plain(&container["LogConfiguration"]["Options"]["awslogs-group"]),
                Some(logs::combined_group("${Environment}"))
            );
            let vars: Vec<(String, String)> = container["Environment"]
                .as_sequence()
                .expect("environment")
                .iter()
                .filter_map(|e| Some((plain(&e["Name"])?, plain(&e["Value"])?)))
                .collect();
            for service in ServiceName::ALL {
                let section = service.as_str().replace('-', "_").to_uppercase();
                let port = ticketing_catalog::http::combined_port(service);
                for (var, value) in [
                    (
                        format!("TICKETING__SERVICES__{section}__PORT"),
                        port.to_string(),
                    ),
                    (
                        format!("TICKETING__SERVICES__{section}__URL"),
                        format!("http://127.0.0.1:{port}"),
                    ),
                ] {
                    assert!(
                        vars.contains(&(var.clone(), value.clone())),
                        "{var}={value}"
                    );
                }
            }
            assert_eq!(
                container["Command"].as_sequence().map(Vec::len),
                Some(1),
                "the combined task runs `ticketing serve` with no service named"
            );
            continue;
        }
        let service: ServiceName = name.parse().expect("a catalog service");
        assert_eq!(
            plain(&td["Family"]),
            Some(format!("{name}-${{Environment}}"))
        );
        assert_eq!(
            plain(&container["LogConfiguration"]["Options"]["awslogs-group"]),
            Some(logs::group(service, "${Environment}"))
        );
        let secrets: Vec<String> = container["Secrets"]
            .as_sequence()
            .expect("secrets")
            .iter()
            .filter_map(|s| plain(&s["Name"]))
            .collect();
        // The two services that call PortOne: user-service looks up identity
        // verifications (`GET /certifications`), payment-service payments.
        assert_eq!(
            secrets.iter().any(|s| s.starts_with("PORTONE_")),
            matches!(
                service,
                ServiceName::PaymentService | ServiceName::UserService
            ),
            "only the services that call PortOne get its keys ({name})"
        );
    }
    // The cluster and every family as opsctl's deploy and rollback find them.
    assert!(text.contains(&format!(
        "ClusterName: !Sub {}",
        ticketing_catalog::ecs::cluster("${Environment}")
    )));
    // The image repository `opsctl deploy` pushes to is the network layer's.
    let network = std::fs::read_to_string(templates().join("network.yaml")).expect("network.yaml");
    assert!(
        network.contains(&format!(
            "RepositoryName: !Sub {}",
            ticketing_catalog::ecs::image_repository("${Environment}")
        )),
        "network.yaml creates no ECR repository named as the catalog says"
    );
    for service in ServiceName::ALL {
        let family = ticketing_catalog::ecs::task_family(service, "${Environment}");
        assert!(
            text.contains(&format!("Family: !Sub {family}")),
            "compute.yaml declares no task definition family {family}"
        );
    }
    // The ops task runs where opsctl's RunTask puts it: the exports it reads.
    let (subnets, ops_sg) = opsctl::ops::ops_task::placement_exports("${Environment}");
    for export in [subnets, ops_sg] {
        assert!(
            network.contains(&format!("Name: !Sub {export}")),
            "network.yaml exports no {export}, which opsctl's RunTask reads"
        );
    }
    // Only the PortOne role (user- and payment-service) may read its secrets.
    let roles = resources(&compute, "AWS::IAM::Role");
    let policy = |name: &str| {
        serde_yaml::to_string(&roles.iter().find(|(k, _)| *k == name).expect(name).1["Policies"])
            .expect("yaml")
    };
    let payment = policy("PortOneExecutionRole");
    assert!(payment.contains(&format!(
        "secret:{}",
        ticketing_catalog::portone::secret_arn_pattern("${Environment}")
    )));
    assert!(
        !payment.contains("portone-*") && !payment.contains("portone*"),
        "{payment}"
    );
    assert!(!policy("ExecutionRole").contains("portone"));
    // The pattern reaches the secret the task reads, not the key backups.
    let pattern = ticketing_catalog::portone::secret_arn_pattern("dev");
    let arn_end = |name: &str| format!("{name}-AbC123");
    assert!(iam_match(
        &pattern,
        &arn_end(&ticketing_catalog::portone::secret_name("dev"))
    ));
    for backup in [
        ticketing_catalog::portone::live_keys_secret_name("dev"),
        ticketing_catalog::portone::test_keys_secret_name("dev"),
    ] {
        assert!(!iam_match(&pattern, &arn_end(&backup)), "{backup}");
    }
    // Fargate sizes: the footprint's, and sizes Fargate accepts.
    for fp in footprint::PROFILES {
        let size = &compute["Mappings"]["Size"][fp.name];
        assert_eq!(
            plain(&size["Cpu"]),
            Some(fp.task_cpu.to_string()),
            "{}",
            fp.name
        );
        assert_eq!(
            plain(&size["Memory"]),
            Some(fp.task_memory_mib.to_string()),
            "{}",
            fp.name
        );
        assert_eq!(
            plain(&size["TasksPerService"]),
            Some(fp.tasks_per_service.to_string())
        );
        assert!(footprint::fargate_accepts(fp.task_cpu, fp.task_memory_mib));
        assert_eq!(plain(&size["Layout"]).as_deref(), Some(fp.layout.as_str()));
        assert_eq!(
            plain(&size["CombinedCpu"]),
            Some(fp.combined_task_cpu.to_string())
        );
        assert_eq!(
            plain(&size["CombinedMemory"]),
            Some(fp.combined_task_memory_mib.to_string())
        );
    }
    assert!(text.contains(&format!("cloudwatch:namespace: {}", metrics::NAMESPACE)));
}

#[test]
fn log_groups_alarms_and_topics_match_the_catalog() {
    let (obs, _) = load("observability");
    let groups: Vec<(String, i64)> = resources(&obs, "AWS::Logs::LogGroup")
        .iter()
        .map(|(_, p)| {
            (
                plain(&p["LogGroupName"]).expect("name"),
                p["RetentionInDays"].as_i64().expect("retention"),
            )
        })
        .collect();
    assert_eq!(groups.len(), ServiceName::ALL.len() + 2);
    let every = logs::service_groups("${Environment}")
        .into_iter()
        .chain([logs::ops_group("${Environment}")]);
    for group in every {
        let days = groups.iter().find(|(g, _)| *g == group).map(|(_, d)| *d);
        assert_eq!(days, logs::retention_days(&group).map(i64::from), "{group}");
    }
    let topics_made: BTreeSet<String> = resources(&obs, "AWS::SNS::Topic")
        .iter()
        .filter_map(|(_, p)| plain(&p["TopicName"]))
        .collect();
    assert_eq!(
        topics_made,
        alarms::topics("${Environment}").into_iter().collect()
    );
    let alarm = |name: &str| {
        resources(&obs, "AWS::CloudWatch::Alarm")
            .into_iter()
            .find(|(_, p)| plain(&p["AlarmName"]).as_deref() == Some(name))
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("alarm {name} is not in the template"))
    };
    for b in alarms::BILLING {
        let a = alarm(b.name);
        assert_eq!(a["Threshold"].as_f64(), Some(b.threshold_usd));
        assert_eq!(
            a["Period"].as_i64(),
            Some(i64::from(alarms::BILLING_PERIOD_SECONDS))
        );
        assert_eq!(a["Namespace"].as_str(), Some(alarms::BILLING_NAMESPACE));
        assert_eq!(a["EvaluationPeriods"].as_i64(), Some(1));
    }
    let p = alarm(&alarms::for_env(
        alarms::PAYMENT_FAILURE_RATE_NAME,
        "${Environment}",
    ));
    assert_eq!(
        p["Threshold"].as_f64(),
        Some(alarms::PAYMENT_FAILURE_RATE_THRESHOLD_PERCENT)
    );
    assert_eq!(
        p["EvaluationPeriods"].as_i64(),
        Some(i64::from(alarms::PAYMENT_FAILURE_RATE_EVALUATION_PERIODS))
    );
    let yaml = serde_yaml::to_string(&p["Metrics"]).expect("yaml");
    assert!(yaml.contains(alarms::PAYMENT_FAILURE_RATE_EXPRESSION));
    for (id, metric) in alarms::PAYMENT_FAILURE_RATE_INPUTS {
        assert!(
            yaml.contains(&format!("Id: {id}")) && yaml.contains(metric),
            "{id} {metric}"
        );
    }
    assert!(yaml.contains(&format!(
        "Period: {}",
        alarms::PAYMENT_FAILURE_RATE_PERIOD_SECONDS
    )));
    let k = alarm(&alarms::for_env(
        alarms::KAFKA_METRICS_MISSING_NAME,
        "${Environment}",
    ));
    assert_eq!(k["TreatMissingData"].as_str(), Some("breaching"));
    // A sample a minute from each broker of the size: the threshold is the
    // size's broker count, from a mapping that is the footprint's.
    let threshold = serde_yaml::to_string(&k["Threshold"]).expect("yaml");
    assert!(
        threshold.contains("FindInMap")
            && threshold.contains("SizeProfile")
            && threshold.contains("Brokers"),
        "{threshold}"
    );
    for fp in ticketing_catalog::footprint::PROFILES {
        assert_eq!(
            obs["Mappings"]["Size"][fp.name]["Brokers"].as_f64(),
            Some(alarms::kafka_metrics_missing_threshold(fp.brokers)),
            "{}",
            fp.name
        );
    }
    assert_eq!(k["MetricName"].as_str(), Some(alarms::KAFKA_JMX_METRIC));
    assert_eq!(
        k["EvaluationPeriods"].as_i64(),
        Some(i64::from(alarms::KAFKA_METRICS_EVALUATION_PERIODS))
    );
    // Every alarm's description links a runbook that exists.
    for (_, a) in resources(&obs, "AWS::CloudWatch::Alarm") {
        let d = plain(&a["AlarmDescription"]).expect("description");
        let link = d.split("Runbook: ").nth(1).expect("a runbook link").trim();
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(link)
                .is_file(),
            "{link}"
        );
    }
}

#[test]
fn the_broker_and_the_data_layer_match_the_catalog() {
    let (kafka, text) = load("kafka");
    for topic in topics::ALL {
        assert!(
            text.contains(&format!(" {topic}")),
            "the broker's user data creates {topic}"
        );
    }
    assert!(text.contains(&format!(
        "Key: {}\n                Value: {}",
        aws::KAFKA_BROKER_TAG_KEY,
        aws::KAFKA_BROKER_TAG_VALUE
    )));
    // Every broker instance carries the tag opsctl's SSM commands target,
    // valued with its own environment (issue 28: `--env dev` never reaches
    // prod's brokers); on the instance, where tags change in place.
    let of_key = aws::KAFKA_BROKER_OF_TAG_KEY;
    let brokers = resources(&kafka, "AWS::EC2::Instance");
    assert!(!brokers.is_empty());
    for (name, broker) in brokers {
        let tagged = broker["Tags"]
            .as_sequence()
            .into_iter()
            .flatten()
            .any(|t| {
                plain(&t["Key"]).as_deref() == Some(of_key)
                    && matches!(&t["Value"], Value::Tagged(v) if v.tag == "Ref" && plain(&t["Value"]).as_deref() == Some("Environment"))
            });
        assert!(tagged, "{name} is not tagged {of_key}=!Ref Environment");
    }
    // The ops task may run commands only on the instances that tag names
    // as this environment's brokers, with the document opsctl sends.
    let (_, compute) = load("compute");
    assert!(compute.contains(&format!("ssm:resourceTag/{of_key}: !Ref Environment")));
    assert!(compute.contains(&format!("::document/{}\n", aws::RUN_SHELL_DOCUMENT)));
    // `sudo systemctl restart kafka` restarts the unit the user data installs.
    assert!(aws::KAFKA_RESTART_COMMAND
        .starts_with(&format!("sudo systemctl restart {} ", aws::KAFKA_UNIT)));
    assert!(text.contains(&format!("/etc/systemd/system/{}.service", aws::KAFKA_UNIT)));
    // `verify-segments --on-broker` reads segments where the broker keeps
    // them, with a release the broker may fetch from this environment's
    // repository.
    assert!(text.contains(&format!("--data {}\n", aws::KAFKA_LOG_DIR)));
    assert!(broker_script().contains("log.dirs=$data\n"));
    assert!(text.contains(&format!(
        ":repository/{}",
        ticketing_catalog::ecs::image_repository("${Environment}")
    )));
    let (data, _) = load("data");
    for fp in footprint::PROFILES {
        let k = &kafka["Mappings"]["Size"][fp.name];
        assert_eq!(
            plain(&k["InstanceType"]).as_deref(),
            Some(fp.broker_instance_type)
        );
        assert_eq!(plain(&k["VolumeGb"]), Some(fp.broker_ebs_gb.to_string()));
        // The root volume the cost model prices beside the data volume.
        let root = &kafka["Resources"]["BrokerLaunchTemplate"]["Properties"]["LaunchTemplateData"]
            ["BlockDeviceMappings"][0]["Ebs"];
        assert_eq!(
            root["VolumeSize"].as_u64(),
            Some(u64::from(footprint::BROKER_ROOT_GB)),
            "{root:?}"
        );
        assert_eq!(
            plain(&k["ReplicationFactor"]),
            Some(fp.kafka_replication_factor.to_string())
        );
        let d = &data["Mappings"]["Size"][fp.name];
        assert_eq!(plain(&d["DbClass"]).as_deref(), Some(fp.rds_class));
        assert_eq!(
            plain(&d["CacheNodeType"]).as_deref(),
            Some(fp.redis_node_type)
        );
        assert_eq!(plain(&d["StorageGb"]), Some(fp.rds_storage_gb.to_string()));
        assert_eq!(plain(&d["CacheNodes"]), Some(fp.redis_nodes.to_string()));
    }
    assert_eq!(footprint::SCALE_10X.brokers, 3);
    assert!(
        text.contains("BrokerC:"),
        "three brokers in the 10x profile"
    );
    // The cache's nodes are one replication group (a replica of a separate
    // cluster would share no data with it).
    assert!(resources(&data, "AWS::ElastiCache::CacheCluster").is_empty());
    let groups = resources(&data, "AWS::ElastiCache::ReplicationGroup");
    assert_eq!(groups.len(), 1);
    assert!(serde_yaml::to_string(&groups[0].1["NumCacheClusters"])
        .expect("yaml")
        .contains("CacheNodes"));
    // The cost model prices the images the repository keeps.
    let (_, network) = load("network");
    assert!(network.contains(&format!(
        "\"countNumber\": {}",
        ticketing_catalog::ecs::IMAGES_KEPT
    )));
    let db = resources(&data, "AWS::RDS::DBInstance");
    let ids: Vec<String> = db
        .iter()
        .filter_map(|(_, p)| plain(&p["DBInstanceIdentifier"]))
        .collect();
    assert!(ids.contains(&aws::rds_instance_id("${Environment}")));
    assert!(ids.contains(&aws::rds_replica_id("${Environment}")));
}

/// The 10x plan's Kafka: the template's broker settings, the catalog and the
/// local three-broker profile (`config/local.toml`) agree.
#[test]
fn the_ten_x_kafka_plan_is_the_same_in_the_template_the_catalog_and_the_local_cluster() {
    let (kafka, text) = load("kafka");
    assert_eq!(
        plain(&kafka["Mappings"]["Size"]["scale-10x"]["ReplicationFactor"]),
        Some(topics::SCALE_10X_REPLICATION_FACTOR.to_string())
    );
    assert!(
        broker_script().contains(&format!(
            "min.insync.replicas={}\n",
            topics::SCALE_10X_MIN_INSYNC_REPLICAS
        )),
        "the broker's bootstrap sets min.insync.replicas"
    );
    assert!(text.contains("--replication-factor ${ReplicationFactor} --data"));
    let local = ticketing_config::load(ticketing_config::Profile::Local).expect("local settings");
    let cluster = &local.stack.expect("local stack settings").kafka_cluster;
    assert_eq!(cluster.ports.len(), footprint::SCALE_10X.brokers as usize);
    assert_eq!(cluster.controller_ports.len(), cluster.ports.len());
    assert_eq!(
        cluster.replication_factor,
        topics::SCALE_10X_REPLICATION_FACTOR
    );
    assert_eq!(
        cluster.min_insync_replicas,
        topics::SCALE_10X_MIN_INSYNC_REPLICAS
    );
    // The drill stops and starts one broker through the unit the user data installs.
    for command in [aws::KAFKA_STOP_COMMAND, aws::KAFKA_START_COMMAND] {
        assert!(
            command.ends_with(&format!(" {}", aws::KAFKA_UNIT)),
            "{command}"
        );
    }
}

/// At 10x the three brokers form one KRaft cluster: one quorum naming all
/// three (by their network interfaces' addresses, known before any instance
/// starts), each broker finding its own node id there, one cluster id for
/// all (Kafka's form: 16 bytes, URL-safe base64 without padding); a broker
/// whose address is not in the quorum stops with a message instead of
/// starting a cluster of its own.
#[test]
fn the_ten_x_brokers_form_one_quorum_and_each_finds_its_node_id() {
    let (kafka, text) = load("kafka");
    // The bootstrap is infra/kafka/broker.sh (booted by tests/kafka.rs):
    // the user data gives it the quorum, the stack id and the address of
    // the broker's own interface.
    assert!(text.contains("broker.sh configure --address \"$IP\" --voters '${Voters}'"));
    assert!(text.contains("--cluster-seed '${AWS::StackId}'"));
    // The template's quorum: every broker's interface, node ids 1..=n.
    let voters = serde_yaml::to_string(
        &kafka["Resources"]["BrokerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"],
    )
    .expect("yaml");
    let brokers = resources(&kafka, "AWS::EC2::Instance");
    assert_eq!(brokers.len(), footprint::SCALE_10X.brokers as usize);
    for (n, (name, broker)) in brokers.iter().enumerate() {
        let letter = name.trim_start_matches("Broker");
        // Its interface and data volume are found by name and attached at
        // boot, never held as the instance's own device: a replacement
        // instance can take them once the old one is gone.
        assert!(
            broker["NetworkInterfaces"][0]["NetworkInterfaceId"].is_null(),
            "{name} must not hold its fixed interface as device 0"
        );
        assert_eq!(plain(&broker["Tags"][0]["Value"]), Some(letter.to_owned()));
        for kind in ["AWS::EC2::NetworkInterface", "AWS::EC2::Volume"] {
            let (_, r) = resources(&kafka, kind)
                .into_iter()
                .find(|(n, _)| n.ends_with(letter) && n.starts_with("Broker"))
                .unwrap_or_else(|| panic!("{name}'s {kind}"));
            assert_eq!(
                plain(&r["Tags"][0]["Value"]),
                Some(format!("ticketing-${{Environment}}-kafka-{letter}")),
                "the boot finds {name}'s {kind} by this name"
            );
        }
        assert!(
            voters.contains(&format!(
                "{}@${{BrokerNic{letter}.PrimaryPrivateIpAddress}}:9093",
                n + 1
            )),
            "{name} is voter {}: {voters}",
            n + 1
        );
    }

    let quorum = "1@10.0.1.10:9093,2@10.0.2.20:9093,3@10.0.1.30:9093";
    let stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/ticketing-prod-kafka/1b2c";
    let rendered = |voters: &str| {
        text.replace("${Voters}", voters)
            .replace("${AWS::StackId}", stack)
    };
    let mut clusters = BTreeSet::new();
    for (ip, expected) in [("10.0.1.10", 1), ("10.0.2.20", 2), ("10.0.1.30", 3)] {
        let (id, cluster) =
            common::broker_identity(&rendered(quorum), ip).unwrap_or_else(|e| panic!("{ip}: {e}"));
        assert_eq!(id, expected, "{ip}");
        clusters.insert(cluster);
    }
    assert_eq!(clusters.len(), 1, "one cluster id: {clusters:?}");
    let cluster = clusters.pop_first().expect("one");
    assert_eq!(cluster.len(), 22, "{cluster}");
    assert!(
        cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{cluster}"
    );
    // 10.0.1.1 is a prefix of 10.0.1.10: whole addresses are compared.
    let stray = common::broker_identity(&rendered(quorum), "10.0.1.1").expect_err("not a voter");
    assert!(stray.contains("not in the quorum"), "{stray}");
    // The MVP's one broker is node 1 of a quorum of one.
    let (id, _) = common::broker_identity(&rendered("1@10.0.1.10:9093"), "10.0.1.10").expect("mvp");
    assert_eq!(id, 1);
}

/// The task definitions run the image the way the code serves: the command
/// after the image's entrypoint (`ticketing`), the user the image creates,
/// the liveness check through the binary, the port the dev and prod
/// profiles bind, only environment variables and secrets the code reads;
/// the ALB and Route 53 probe the readiness path every service serves.
#[test]
fn task_definitions_health_checks_and_ports_match_what_the_code_serves() {
    use ticketing_catalog::http;
    let (compute, _) = load("compute");
    let build = std::fs::read_to_string(templates().join("../image/build.sh")).expect("build.sh");
    assert!(build.contains("--entrypoint '[\"/usr/local/bin/ticketing\"]'"));
    assert!(build.contains("--user 10001:10001"));
    let port = i64::from(http::CONTAINER_PORT);
    let mut checked = 0;
    for (_, td) in resources(&compute, "AWS::ECS::TaskDefinition") {
        let c = &td["ContainerDefinitions"][0];
        let name = c["Name"].as_str().expect("container name");
        let words = |v: &Value| -> Vec<String> {
            v.as_sequence()
                .map(|s| s.iter().filter_map(plain).collect())
                .unwrap_or_default()
        };
        if name == ticketing_catalog::ecs::OPS_CONTAINER {
            // The ops task runs opsctl, which the image carries.
            assert_eq!(
                words(&c["EntryPoint"]),
                [ticketing_catalog::ecs::OPSCTL_PATH]
            );
            assert!(
                build.contains(&format!(
                    "\"$rootfs{}\"",
                    ticketing_catalog::ecs::OPSCTL_PATH
                )),
                "infra/image/build.sh does not put opsctl where the ops task runs it"
            );
            assert_eq!(plain(&c["User"]).as_deref(), Some("10001"));
            // Its OPSCTL_* variables are ones opsctl reads: a global flag's
            // variable, the audit file's, or the one that says it is inside
            // the VPC.
            let flags: Vec<String> = <opsctl::Cli as clap::CommandFactory>::command()
                .get_arguments()
                .filter_map(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned())
                .collect();
            for var in c["Environment"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(unless_no_value)
            {
                let var = plain(&var["Name"]).expect("name");
                if var.starts_with("OPSCTL_") {
                    assert!(
                        var == ticketing_catalog::ecs::OPS_IN_VPC_VAR
                            || var == opsctl::environment::AUDIT_LOG_VAR
                            || flags.contains(&var),
                        "the ops task sets {var}, which opsctl never reads"
                    );
                }
            }
        } else {
            let command = if name == ticketing_catalog::ecs::COMBINED_SERVICE {
                vec!["serve"]
            } else {
                vec!["serve", name]
            };
            assert_eq!(
                words(&c["Command"]),
                command,
                "{name}: command after the entrypoint"
            );
            assert_eq!(
                plain(&c["User"]).as_deref(),
                Some("10001"),
                "{name}: the image's user"
            );
            let port_text = http::CONTAINER_PORT.to_string();
            assert_eq!(
                words(&c["HealthCheck"]["Command"]),
                [
                    "CMD",
                    "/usr/local/bin/ticketing",
                    "health",
                    "--path",
                    http::LIVENESS_PATH,
                    "--port",
                    port_text.as_str()
                ],
                "{name}: liveness through the binary"
            );
            let stop = c["StopTimeout"].as_i64().expect("StopTimeout");
            assert!(
                (2..=120).contains(&stop),
                "{name}: Fargate allows a stop timeout up to 120 s"
            );
            assert_eq!(
                c["PortMappings"][0]["ContainerPort"].as_i64(),
                Some(port),
                "{name}"
            );
        }
        for var in c["Environment"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(unless_no_value)
        {
            let var = plain(&var["Name"]).expect("name");
            // opsctl's own variables (OPSCTL_ENV, OPSCTL_IN_VPC) are
            // clap's and the ops task's, not the config crate's.
            if var == ticketing_config::PROFILE_ENV || var.starts_with("OPSCTL_") {
                continue;
            }
            // The config crate must read it: a probe value set through it
            // shows up in the loaded settings.
            let probe = if var.ends_with("__PORT") {
                "6543".to_owned()
            } else if var.ends_with("__URL") {
                "redis://probe-value:6379".to_owned()
            } else if var.ends_with("__BOOTSTRAP_SERVERS") {
                "probe-value:9092".to_owned()
            } else {
                "probe-value".to_owned()
            };
            let settings = ticketing_config::load_from(
                ticketing_config::Profile::Dev,
                &[(var.clone(), probe)],
            )
            .unwrap_or_else(|e| panic!("{name} sets {var}: {e}"));
            let shown = serde_json::to_string(&settings).expect("settings as JSON");
            assert!(
                shown.contains("probe-value") || shown.contains("6543"),
                "{name} sets {var}, which the config crate does not read"
            );
        }
        for secret in c["Secrets"].as_sequence().into_iter().flatten() {
            let var = plain(&secret["Name"]).expect("name");
            assert!(
                ticketing_config::Secrets::VARS.contains(&var.as_str()),
                "{name} injects {var}, which the code never reads"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, ServiceName::ALL.len() + 2);
    // Replaced revisions stay ACTIVE, so a rollback has one to go back to.
    for (id, resource) in compute["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() == Some("AWS::ECS::TaskDefinition") {
            assert_eq!(
                resource["UpdateReplacePolicy"].as_str(),
                Some("Retain"),
                "{id:?}"
            );
            assert_eq!(
                resource["DeletionPolicy"].as_str(),
                Some("Retain"),
                "{id:?}"
            );
        }
    }
    for (_, tg) in resources(&compute, "AWS::ElasticLoadBalancingV2::TargetGroup") {
        assert_eq!(
            plain(&tg["HealthCheckPath"]).as_deref(),
            Some(http::READINESS_PATH)
        );
        assert_eq!(tg["Port"].as_i64(), Some(port));
    }
    let (observability, _) = load("observability");
    let checks = resources(&observability, "AWS::Route53::HealthCheck");
    assert!(!checks.is_empty());
    for (_, hc) in checks {
        assert_eq!(
            plain(&hc["HealthCheckConfig"]["ResourcePath"]).as_deref(),
            Some(http::READINESS_PATH)
        );
    }
    for profile in [
        ticketing_config::Profile::Dev,
        ticketing_config::Profile::Prod,
    ] {
        let settings = ticketing_config::load(profile).expect("profile settings");
        for service in ServiceName::ALL {
            assert_eq!(
                settings.services.endpoint(service).port,
                http::CONTAINER_PORT,
                "{profile:?} binds {service} elsewhere than the container port"
            );
        }
    }
}

#[test]
fn every_task_sends_its_metrics_to_a_cloudwatch_agent_sidecar() {
    let (compute, _) = load("compute");
    let endpoint = format!(
        "tcp://127.0.0.1:{}",
        ticketing_catalog::metrics::EMF_AGENT_PORT
    );
    for profile in [
        ticketing_config::Profile::Dev,
        ticketing_config::Profile::Prod,
    ] {
        let settings = ticketing_config::load(profile).expect("settings");
        assert_eq!(
            settings.telemetry.emf_endpoint.as_deref(),
            Some(endpoint.as_str()),
            "{profile:?}: the services send EMF to the agent sidecar"
        );
    }
    // The services' tasks; the ops task (opsctl) publishes no metrics.
    let tasks: Vec<_> = resources(&compute, "AWS::ECS::TaskDefinition")
        .into_iter()
        .filter(|(_, t)| {
            t["ContainerDefinitions"][0]["Name"].as_str()
                != Some(ticketing_catalog::ecs::OPS_CONTAINER)
        })
        .collect();
    assert_eq!(tasks.len(), ServiceName::ALL.len() + 1);
    for (name, task) in tasks {
        let containers = task["ContainerDefinitions"]
            .as_sequence()
            .expect("containers");
        let app = &containers[0];
        let service = app["Name"].as_str().expect("name");
        let agent = containers
            .iter()
            .find(|c| c["Name"].as_str() == Some("cloudwatch-agent"))
            .unwrap_or_else(|| panic!("{name} has no cloudwatch-agent sidecar"));
        let config = agent["Environment"]
            .as_sequence()
            .and_then(|e| {
                e.iter()
                    .find(|v| v["Name"].as_str() == Some("CW_CONFIG_CONTENT"))
            })
            .and_then(|v| v["Value"].as_str())
            .expect("CW_CONFIG_CONTENT");
        let config: serde_json::Value = serde_json::from_str(config).expect("agent config is JSON");
        assert!(
            config["logs"]["metrics_collected"]["emf"].is_object(),
            "{name}: the agent listens for EMF"
        );
        assert_eq!(agent["Essential"].as_bool(), Some(false), "{name}");
        // The EMF documents land in the service's own log group (its
        // retention class), where the task role may write.
        let group = app["Environment"]
            .as_sequence()
            .and_then(|e| {
                e.iter()
                    .find(|v| v["Name"].as_str() == Some("TICKETING__TELEMETRY__EMF_LOG_GROUP"))
            })
            .and_then(|v| plain(&v["Value"]))
            .unwrap_or_else(|| panic!("{name}: no EMF log group"));
        let want = if service == ticketing_catalog::ecs::COMBINED_SERVICE {
            ticketing_catalog::logs::combined_group("${Environment}")
        } else {
            let service: ServiceName = service.parse().expect("a catalog service");
            ticketing_catalog::logs::group(service, "${Environment}")
        };
        assert_eq!(group, want, "{name}");
    }
}

fn agent_dimensions(metric: &str) -> Option<&'static [&'static str]> {
    alarms::KAFKA_AGENT_DIMENSIONS
        .iter()
        .find(|(name, _)| *name == metric)
        .map(|(_, dims)| *dims)
}

#[test]
fn the_kafka_metrics_alarm_reads_what_the_brokers_agent_publishes() {
    let (_, kafka) = load("kafka");
    // The agent configuration the broker's user data writes.
    let line = kafka
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with('{') && l.contains("metrics_collected"))
        .expect("the CloudWatch agent configuration in kafka.yaml");
    let config: serde_json::Value = serde_json::from_str(line).expect("agent config is JSON");
    assert_eq!(
        config["metrics"]["namespace"].as_str(),
        Some(alarms::kafka_jmx_namespace("${Environment}").as_str())
    );
    let measured: Vec<&str> = config["metrics"]["metrics_collected"]["jmx"][0]["kafka"]
        ["measurement"]
        .as_array()
        .expect("measurement")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(measured.contains(&alarms::KAFKA_JMX_METRIC), "{measured:?}");
    // What the agent adds to each measured metric is known (the catalog's
    // table, from the CloudWatch agent's documentation), and the alarm's
    // metric carries nothing an alarm without dimensions would miss.
    for m in &measured {
        assert!(
            alarms::KAFKA_AGENT_DIMENSIONS.iter().any(|(name, _)| name == m),
            "{m}: which dimensions does the agent publish it with? (alarms::KAFKA_AGENT_DIMENSIONS)"
        );
    }
    assert_eq!(
        agent_dimensions(alarms::KAFKA_JMX_METRIC),
        Some(&[][..]),
        "the metrics-missing alarm names no dimension: its metric must carry none"
    );
    assert_eq!(
        agent_dimensions("kafka.request.count"),
        Some(&["type"][..]),
        "the failing case: the metric the alarm read before is published per request type"
    );
    // No host name, nothing appended, as the alarm (which names none)
    // reads it.
    assert_eq!(config["agent"]["omit_hostname"].as_bool(), Some(true));
    assert!(config["metrics"]["append_dimensions"].is_null());
    let (observability, _) = load("observability");
    let alarm = resources(&observability, "AWS::CloudWatch::Alarm")
        .into_iter()
        .find(|(_, a)| {
            plain(&a["AlarmName"])
                == Some(alarms::for_env(
                    alarms::KAFKA_METRICS_MISSING_NAME,
                    "${Environment}",
                ))
        })
        .expect("the kafka alarm")
        .1;
    assert_eq!(
        plain(&alarm["Namespace"]),
        Some(alarms::kafka_jmx_namespace("${Environment}"))
    );
    assert!(
        alarm["Dimensions"].is_null(),
        "the alarm names no dimension"
    );
}

/// CloudWatch alarms can publish to an encrypted topic only when the key's
/// policy lets `cloudwatch.amazonaws.com` use it (kms:Decrypt and
/// kms:GenerateDataKey*); the AWS managed key `alias/aws/sns` cannot be
/// given that (SNS Developer Guide, "Enable compatibility between event
/// sources from AWS services and encrypted topics").
#[test]
fn cloudwatch_can_publish_to_every_alert_topic() {
    let (observability, _) = load("observability");
    let keys = resources(&observability, "AWS::KMS::Key");
    let topics = resources(&observability, "AWS::SNS::Topic");
    assert!(!topics.is_empty());
    for (name, topic) in topics {
        let Some(key) = topic.get("KmsMasterKeyId") else {
            continue; // unencrypted: CloudWatch can publish
        };
        let is_ref = matches!(key, Value::Tagged(t) if t.tag == "Ref");
        let target = plain(key).unwrap_or_default();
        assert!(
            is_ref,
            "{name}: KmsMasterKeyId {target} is not a key of this template (alias/aws/sns cannot be used by CloudWatch)"
        );
        let policy = &keys
            .iter()
            .find(|(k, _)| *k == target)
            .unwrap_or_else(|| panic!("{name}: no AWS::KMS::Key {target}"))
            .1["KeyPolicy"];
        let allows_cloudwatch = policy["Statement"]
            .as_sequence()
            .expect("statements")
            .iter()
            .any(|s| {
                let actions: Vec<String> = match &s["Action"] {
                    Value::Sequence(a) => a.iter().filter_map(plain).collect(),
                    other => plain(other).into_iter().collect(),
                };
                plain(&s["Effect"]).as_deref() == Some("Allow")
                    && plain(&s["Principal"]["Service"]).as_deref()
                        == Some("cloudwatch.amazonaws.com")
                    && actions.iter().any(|a| a == "kms:Decrypt")
                    && actions
                        .iter()
                        .any(|a| a == "kms:GenerateDataKey*" || a == "kms:GenerateDataKey")
            });
        assert!(
            allows_cloudwatch,
            "{name}: the key {target} does not let CloudWatch publish"
        );
    }
}

/// Without a NAT gateway or endpoints, a broker in a private subnet cannot
/// install Kafka or reach SSM and CloudWatch: each broker has a public
/// address in a public subnet, behind a group that admits only the
/// services and lets out only HTTPS (and the cost model prices the
/// addresses).
#[test]
fn every_broker_has_a_way_out_and_only_the_services_a_way_in() {
    let (kafka, _) = load("kafka");
    let brokers = resources(&kafka, "AWS::EC2::Instance");
    assert!(!brokers.is_empty());
    for (name, instance) in brokers {
        let letter = name.trim_start_matches("Broker");
        let nic = resources(&kafka, "AWS::EC2::NetworkInterface")
            .into_iter()
            .find(|(n, _)| *n == format!("BrokerNic{letter}"))
            .unwrap_or_else(|| panic!("{name}'s interface"))
            .1;
        let subnet = serde_yaml::to_string(&nic["SubnetId"]).expect("yaml");
        assert!(subnet.contains("broker-subnets"), "{name}: {subnet}");
        let groups = serde_yaml::to_string(&nic["GroupSet"]).expect("yaml");
        assert!(groups.contains("kafka-sg"), "{name}: {groups}");
        // Its public address: on the instance's own interface, in a
        // broker subnet, behind the broker's group.
        let own = &instance["NetworkInterfaces"][0];
        assert_eq!(
            own["AssociatePublicIpAddress"].as_bool(),
            Some(true),
            "{name}"
        );
        assert!(serde_yaml::to_string(&own["SubnetId"])
            .expect("yaml")
            .contains("broker-subnets"));
        assert!(serde_yaml::to_string(&own["GroupSet"])
            .expect("yaml")
            .contains("kafka-sg"));
    }
    let (network, _) = load("network");
    let sg = resources(&network, "AWS::EC2::SecurityGroup")
        .into_iter()
        .find(|(n, _)| *n == "KafkaSecurityGroup")
        .expect("the broker's group")
        .1;
    let ingress = sg["SecurityGroupIngress"].as_sequence().expect("ingress");
    assert!(ingress
        .iter()
        .all(|r| r.get("SourceSecurityGroupId").is_some()));
    assert!(
        ingress.iter().all(|r| r.get("CidrIp").is_none()),
        "no address range may reach the broker"
    );
    let egress = sg["SecurityGroupEgress"].as_sequence().expect("egress");
    assert!(egress.iter().all(|r| r["FromPort"].as_i64() == Some(443)));
    // Brokers reach each other's listener and controller ports.
    let between = resources(&network, "AWS::EC2::SecurityGroupEgress")
        .into_iter()
        .find(|(_, r)| plain(&r["GroupId"]).as_deref() == Some("KafkaSecurityGroup"))
        .expect("an egress rule between brokers")
        .1;
    assert_eq!(
        plain(&between["DestinationSecurityGroupId"]).as_deref(),
        Some("KafkaSecurityGroup")
    );
    assert_eq!(between["FromPort"].as_i64(), Some(9092));
    assert_eq!(between["ToPort"].as_i64(), Some(9093));
    let prices =
        std::fs::read_to_string(templates().join("../prices/us-east-1.toml")).expect("prices");
    assert!(
        prices.contains("\"ipv4:public\""),
        "the addresses are priced"
    );
}

/// Every security-group rule of a template, inline (`SecurityGroupIngress`
/// / `SecurityGroupEgress` of an `AWS::EC2::SecurityGroup`) or standalone
/// (`AWS::EC2::SecurityGroupIngress|Egress`), as (group, direction,
/// protocol, from, to, peer), with the resource that declares it.
fn security_group_rules(t: &Value) -> Vec<(String, String)> {
    let text = |v: &Value| plain(v).unwrap_or_else(|| format!("{v:?}"));
    let rule = |group: String, direction: &str, r: &Value| {
        let peer = [
            "CidrIp",
            "CidrIpv6",
            "SourceSecurityGroupId",
            "DestinationSecurityGroupId",
            "SourcePrefixListId",
            "DestinationPrefixListId",
        ]
        .iter()
        .find(|k| !r[**k].is_null())
        .map(|k| format!("{k}={}", text(&r[*k])))
        .unwrap_or_default();
        format!(
            "{group} {direction} {} {}-{} {peer}",
            text(&r["IpProtocol"]),
            text(&r["FromPort"]),
            text(&r["ToPort"])
        )
    };
    let mut out = Vec::new();
    for (name, props) in resources(t, "AWS::EC2::SecurityGroup") {
        for (key, direction) in [
            ("SecurityGroupIngress", "in"),
            ("SecurityGroupEgress", "out"),
        ] {
            for r in props[key].as_sequence().into_iter().flatten() {
                out.push((name.to_owned(), rule(format!("Ref {name}"), direction, r)));
            }
        }
    }
    for (kind, direction) in [
        ("AWS::EC2::SecurityGroupIngress", "in"),
        ("AWS::EC2::SecurityGroupEgress", "out"),
    ] {
        for (name, props) in resources(t, kind) {
            out.push((
                name.to_owned(),
                rule(format!("Ref {}", text(&props["GroupId"])), direction, props),
            ));
        }
    }
    out
}

/// Pairs of resources that declare the same rule.
fn duplicate_rules(t: &Value) -> Vec<String> {
    let mut seen: std::collections::BTreeMap<String, String> = Default::default();
    let mut dups = Vec::new();
    for (name, rule) in security_group_rules(t) {
        if let Some(first) = seen.insert(rule.clone(), name.clone()) {
            dups.push(format!("{first} and {name}: {rule}"));
        }
    }
    dups
}

/// EC2 refuses a rule a group already has (`InvalidPermission.Duplicate`:
/// Amazon EC2 API Reference, "Error codes"), so a template that declares
/// one twice never creates; moto accepts it.
#[test]
fn no_security_group_rule_is_declared_twice() {
    for layer in [
        "network",
        "data",
        "kafka",
        "observability",
        "compute",
        "pipeline",
    ] {
        let (t, _) = load(layer);
        assert!(
            duplicate_rules(&t).is_empty(),
            "{layer}: {:?}",
            duplicate_rules(&t)
        );
    }
    // The check finds the fault it exists for (the network layer had it).
    let (network, text) = load("network");
    assert!(!security_group_rules(&network).is_empty());
    let twice = text.replace(
        "  BrokerToBrokerEgress:\n",
        "  BrokerEgressToBrokers:\n    Type: AWS::EC2::SecurityGroupEgress\n    Properties:\n      GroupId: !Ref KafkaSecurityGroup\n      DestinationSecurityGroupId: !Ref KafkaSecurityGroup\n      IpProtocol: tcp\n      FromPort: 9092\n      ToPort: 9093\n  BrokerToBrokerEgress:\n",
    );
    let t: Value = serde_yaml::from_str(&twice).expect("YAML");
    let dups = duplicate_rules(&t);
    assert_eq!(dups.len(), 1, "{dups:?}");
    assert!(
        dups[0].contains("BrokerEgressToBrokers") && dups[0].contains("BrokerToBrokerEgress"),
        "{dups:?}"
    );
}

/// The broker's bootstrap (infra/kafka/broker.sh), which the user data runs.
fn broker_script() -> String {
    std::fs::read_to_string(templates().join("../kafka/broker.sh")).expect("broker.sh")
}

/// The keys of the broker's `server.properties` as its bootstrap
/// (infra/kafka/broker.sh) writes it.
fn template_broker_properties(kafka_yaml: &str) -> std::collections::BTreeMap<String, String> {
    let start = kafka_yaml
        .find("cat >\"$config\" <<PROPS")
        .expect("the bootstrap writes server.properties");
    kafka_yaml[start..]
        .lines()
        .skip(1)
        .map(str::trim)
        .take_while(|l| *l != "PROPS")
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A single broker cannot hold the internal topics at Kafka's default
/// replication factor 3 ("internal topic creation will fail until the
/// cluster size meets this replication factor requirement": Kafka's broker
/// configuration, offsets.topic.replication.factor), so every consumer
/// group would fail on the MVP. The template sets them to the profile's
/// factor, as the local stack's kafka-node.sh does.
#[test]
fn the_brokers_internal_topics_fit_the_profile_s_broker_count() {
    let (_, text) = load("kafka");
    assert!(text.contains("--replication-factor ${ReplicationFactor} --data"));
    let script = broker_script();
    let props = template_broker_properties(&script);
    // The data topics at the profile's factor, the internal ones at it but
    // never above the quorum's size (the MVP broker boots and a group
    // commits in tests/kafka.rs).
    for (key, value) in [
        ("offsets.topic.replication.factor", "$internal_rf"),
        ("transaction.state.log.replication.factor", "$internal_rf"),
        ("default.replication.factor", "$rf"),
    ] {
        assert_eq!(
            props.get(key).map(String::as_str),
            Some(value),
            "broker.sh's server.properties: {key}"
        );
    }
    assert!(script.contains("internal_rf=$((rf < voters_n ? rf : voters_n))"));
    assert_eq!(
        props
            .get("transaction.state.log.min.isr")
            .map(String::as_str),
        Some("1")
    );
    // The factor is the profile's, never above its broker count.
    for fp in footprint::PROFILES {
        assert!(fp.kafka_replication_factor <= fp.brokers, "{}", fp.name);
    }
    // The local stack's broker script sets the same keys.
    let node =
        std::fs::read_to_string(templates().join("../local/kafka-node.sh")).expect("kafka-node.sh");
    for key in [
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ] {
        assert!(node.contains(&format!("{key}=")), "kafka-node.sh: {key}");
    }
    // The check sees the fault it exists for.
    let without = script.replace("offsets.topic.replication.factor=$internal_rf\n", "");
    assert!(!template_broker_properties(&without).contains_key("offsets.topic.replication.factor"));
}

/// The index a broker's interface takes from `ticketing-<env>-broker-subnets`
/// (`!Select [i, !Split [",", !ImportValue ...]]`).
fn broker_subnet_index(nic: &Value) -> Option<u64> {
    let select = &nic["SubnetId"];
    let list = match select {
        Value::Tagged(t) => t.value.as_sequence()?.clone(),
        other => other["Fn::Select"].as_sequence()?.clone(),
    };
    list.first()?.as_u64()
}

/// The 10x quorum of three voters survives the loss of one Availability
/// Zone only if no AZ holds two of them (a KRaft leader needs a majority of
/// the voters: KIP-595). Each broker takes its own subnet of
/// `ticketing-<env>-broker-subnets`, whose subnets are each in their own AZ
/// (`!GetAZs` index).
#[test]
fn the_three_brokers_are_in_three_availability_zones() {
    let (kafka, _) = load("kafka");
    let mut indices: Vec<u64> = resources(&kafka, "AWS::EC2::NetworkInterface")
        .iter()
        .map(|(name, nic)| {
            broker_subnet_index(nic).unwrap_or_else(|| panic!("{name}: a subnet index"))
        })
        .collect();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2], "one subnet each");
    assert_eq!(indices.len() as u32, footprint::SCALE_10X.brokers);
    let (network, text) = load("network");
    let export = network["Outputs"]["BrokerSubnets"]["Value"].clone();
    let listed = serde_yaml::to_string(&export).expect("yaml");
    let subnets: Vec<&str> = ["PublicSubnetA", "PublicSubnetB", "PublicSubnetC"]
        .into_iter()
        .filter(|s| listed.contains(s))
        .collect();
    assert_eq!(subnets.len(), 3, "{listed}");
    assert!(text.contains("ticketing-${Environment}-broker-subnets"));
    let mut zones: Vec<String> = subnets
        .iter()
        .map(|s| {
            serde_yaml::to_string(&network["Resources"][*s]["Properties"]["AvailabilityZone"])
                .expect("yaml")
        })
        .collect();
    zones.sort();
    zones.dedup();
    assert_eq!(zones.len(), 3, "three Availability Zones: {zones:?}");
    // A broker's data volume is in its interface's zone (an EBS volume
    // attaches only in its own zone): the subnet at index i is listed i-th
    // and is in zone i.
    for (i, subnet) in subnets.iter().enumerate() {
        let zone =
            serde_yaml::to_string(&network["Resources"][*subnet]["Properties"]["AvailabilityZone"])
                .expect("yaml");
        assert!(zone.contains(&format!("- {i}")), "{subnet}: {zone}");
    }
    for (name, nic) in resources(&kafka, "AWS::EC2::NetworkInterface") {
        let letter = name.trim_start_matches("BrokerNic");
        let volume = &kafka["Resources"][format!("BrokerData{letter}").as_str()]["Properties"];
        let zone = serde_yaml::to_string(&volume["AvailabilityZone"]).expect("yaml");
        let index = broker_subnet_index(nic).expect("index");
        assert!(
            zone.contains("GetAZs") && zone.contains(&format!("- {index}")),
            "BrokerData{letter} in zone {index}: {zone}"
        );
    }
}

/// The Route 53 health check (observability) probes the public domain over
/// HTTPS; something must answer for that name: compute's alias record to
/// the ALB, in the hosted zone the observability layer made, under the same
/// condition (a domain given).
#[test]
fn the_health_check_probes_a_name_the_alb_answers_for() {
    let (observability, _) = load("observability");
    let checks = resources(&observability, "AWS::Route53::HealthCheck");
    assert_eq!(checks.len(), 1);
    let probed = plain(&checks[0].1["HealthCheckConfig"]["FullyQualifiedDomainName"]);
    assert_eq!(
        probed.as_deref(),
        Some("DomainName"),
        "the check probes the domain parameter"
    );
    let zones = resources(&observability, "AWS::Route53::HostedZone");
    assert_eq!(plain(&zones[0].1["Name"]).as_deref(), Some("DomainName"));

    let record_for = |compute: &Value| -> Option<(String, String, String)> {
        let (_, r) = resources(compute, "AWS::Route53::RecordSet")
            .into_iter()
            .next()?;
        Some((
            plain(&r["Name"])?,
            plain(&r["HostedZoneName"])?,
            serde_yaml::to_string(&r["AliasTarget"]).ok()?,
        ))
    };
    let (compute, text) = load("compute");
    let (name, zone, alias) = record_for(&compute).expect("a record for the probed name");
    assert_eq!(name, "DomainName");
    assert_eq!(zone, "${DomainName}.");
    assert!(
        alias.contains("LoadBalancer.DNSName")
            && alias.contains("LoadBalancer.CanonicalHostedZoneID"),
        "{alias}"
    );
    // The check sees the fault it exists for: no record, no answer.
    let start = text.find("  DnsRecord:\n").expect("the record");
    let end = start + text[start..].find("\n\n").expect("its end");
    let without: Value =
        serde_yaml::from_str(&format!("{}{}", &text[..start], &text[end + 2..])).expect("YAML");
    assert!(record_for(&without).is_none());
}

/// Replacement predicted from CloudFormation's registry schemas
/// (`createOnlyProperties`, vendored in infra/registry/create-only.json and
/// checked against cfn-lint's copy by infra/check-templates.sh): no
/// parameter that README.md, infra/README.md or a runbook tells people to
/// change (nor `ImageId`, which changes by itself when AWS publishes a new
/// AMI) replaces a resource that holds something a replacement cannot carry
/// over.
#[test]
fn no_parameter_people_change_replaces_what_cannot_move() {
    use opsctl::ops::infra::replacement::predict;
    let cases: [(&str, &[&str]); 4] = [
        ("data", &["SizeProfile"]),
        (
            "kafka",
            &["UseSpot", "SizeProfile", "KafkaArtifactSha512", "ImageId"],
        ),
        ("observability", &["DomainName"]),
        (
            "compute",
            &[
                "ImageUri",
                "SizeProfile",
                "KafkaBootstrapServers",
                "DomainName",
            ],
        ),
    ];
    for (layer, params) in cases {
        let (t, _) = load(layer);
        for p in params {
            let stuck: Vec<_> = predict(&t, &[p])
                .into_iter()
                .filter(|r| r.holds.is_some())
                .collect();
            assert!(stuck.is_empty(), "{layer}: changing {p}: {stuck:#?}");
        }
    }
    // The prediction sees what it exists for: UseSpot replaces each broker
    // instance (its launch template's version changes) ...
    let (mut kafka, _) = load("kafka");
    let replaced = predict(&kafka, &["UseSpot"]);
    for broker in ["BrokerA", "BrokerB", "BrokerC"] {
        assert!(
            replaced
                .iter()
                .any(|r| r.resource == broker && r.property == "LaunchTemplate"),
            "{broker}: {replaced:#?}"
        );
    }
    // ... and an instance that held its fixed interface as its own device
    // (the layer before issue 29) is refused.
    let own = &mut kafka["Resources"]["BrokerA"]["Properties"]["NetworkInterfaces"][0];
    *own = serde_yaml::from_str("{DeviceIndex: '0', NetworkInterfaceId: !Ref BrokerNicA}")
        .expect("yaml");
    let stuck: Vec<_> = predict(&kafka, &["UseSpot"])
        .into_iter()
        .filter(|r| r.holds.is_some())
        .collect();
    assert_eq!(stuck.len(), 1, "{stuck:#?}");
    assert!(
        stuck[0]
            .holds
            .as_deref()
            .is_some_and(|h| h.contains("BrokerNicA")),
        "{stuck:#?}"
    );
    // An export another stack imports cannot change either.
    let (network, _) = load("network");
    assert!(
        opsctl::ops::infra::replacement::cannot_move(&network, "Vpc")
            .is_some_and(|h| h.contains("exported"))
    );
}

/// The templates' alarms are `opsctl alarms`' and the catalog's
/// template-only ones, no more (the cost model counts exactly those).
#[test]
fn the_templates_alarms_are_opsctl_s_and_the_template_only_ones() {
    let (obs, _) = load("observability");
    let made: BTreeSet<String> = resources(&obs, "AWS::CloudWatch::Alarm")
        .iter()
        .filter_map(|(_, a)| plain(&a["AlarmName"]))
        .collect();
    let mut known: BTreeSet<String> = opsctl::ops::alarms::spec::wanted(
        opsctl::ops::alarms::spec::Group::All,
        "us-east-1",
        "${Environment}",
        1,
    )
    .into_iter()
    .map(|a| a.name)
    .collect();
    known.extend(
        alarms::TEMPLATE_ONLY_ALARMS
            .iter()
            .map(|(name, _)| alarms::for_env(name, "${Environment}")),
    );
    assert_eq!(made, known);
}

/// The Route 53 health check has an alarm, named and shaped as the catalog
/// says, on the health check's own id, and only where Route 53 publishes
/// the metric (us-east-1): elsewhere the alarm would see no data and, as
/// missing data is breaching, stay in ALARM.
#[test]
fn the_site_health_check_has_an_alarm_where_its_metric_exists() {
    let (obs, _) = load("observability");
    let (_, alarm) = resources(&obs, "AWS::CloudWatch::Alarm")
        .into_iter()
        .find(|(_, a)| {
            plain(&a["AlarmName"])
                == Some(alarms::for_env(
                    alarms::SITE_UNHEALTHY_NAME,
                    "${Environment}",
                ))
        })
        .expect("the site alarm");
    assert_eq!(
        plain(&alarm["Namespace"]).as_deref(),
        Some(alarms::SITE_HEALTH_NAMESPACE)
    );
    assert_eq!(
        plain(&alarm["MetricName"]).as_deref(),
        Some(alarms::SITE_HEALTH_METRIC)
    );
    assert_eq!(
        alarm["Period"].as_i64(),
        Some(alarms::SITE_HEALTH_PERIOD_SECONDS.into())
    );
    assert_eq!(
        alarm["EvaluationPeriods"].as_i64(),
        Some(alarms::SITE_HEALTH_EVALUATION_PERIODS.into())
    );
    assert_eq!(
        plain(&alarm["Dimensions"][0]["Name"]).as_deref(),
        Some("HealthCheckId")
    );
    assert_eq!(
        plain(&alarm["Dimensions"][0]["Value"]).as_deref(),
        Some("HealthCheck")
    );
    let description = plain(&alarm["AlarmDescription"]).expect("description");
    assert!(description.contains(&format!("runbooks/{}", alarms::SITE_RUNBOOK)));
    let runbook = std::fs::read_to_string(
        templates().join(format!("../../runbooks/{}", alarms::SITE_RUNBOOK)),
    )
    .expect("runbook");
    assert!(runbook.contains(&alarms::for_env(alarms::SITE_UNHEALTHY_NAME, "<env>")));
    // Made only with a domain and in the metric's Region.
    let condition = alarm_condition(&obs, alarms::SITE_UNHEALTHY_NAME).expect("a condition");
    let text = serde_yaml::to_string(&obs["Conditions"][condition.as_str()]).expect("yaml");
    assert!(
        text.contains("HasDomain") && text.contains(alarms::ROUTE53_METRICS_REGION),
        "{condition}: {text}"
    );
    // The check sees the fault: an alarm made in every Region is refused.
    let mut anywhere = obs.clone();
    if let Some(r) = anywhere["Resources"]["SiteUnhealthyAlarm"].as_mapping_mut() {
        r.insert("Condition".into(), "HasDomain".into());
    }
    let condition = alarm_condition(&anywhere, alarms::SITE_UNHEALTHY_NAME).expect("condition");
    let text = serde_yaml::to_string(&anywhere["Conditions"][condition.as_str()]).expect("yaml");
    assert!(!text.contains(alarms::ROUTE53_METRICS_REGION));
}

/// The condition of the alarm named `name` (per environment).
fn alarm_condition(t: &Value, name: &str) -> Option<String> {
    t["Resources"]
        .as_mapping()?
        .values()
        .find(|r| {
            r["Type"].as_str() == Some("AWS::CloudWatch::Alarm")
                && plain(&r["Properties"]["AlarmName"])
                    == Some(alarms::for_env(name, "${Environment}"))
        })
        .and_then(|r| r["Condition"].as_str().map(str::to_owned))
}

/// The ALB forwards only the public paths (the catalog's) to the gateway
/// and answers the rest itself, so `/metrics` never leaves the VPC through
/// it (issue 30); the Route 53 probe's path is among them.
#[test]
fn the_alb_forwards_only_the_public_paths() {
    let (compute, _) = load("compute");
    let rules = resources(&compute, "AWS::ElasticLoadBalancingV2::ListenerRule");
    assert_eq!(rules.len(), 1, "one rule: {rules:?}");
    let (_, rule) = &rules[0];
    let values: Vec<String> = rule["Conditions"][0]["PathPatternConfig"]["Values"]
        .as_sequence()
        .expect("path patterns")
        .iter()
        .filter_map(plain)
        .collect();
    assert_eq!(values, ticketing_catalog::http::PUBLIC_PATH_PATTERNS);
    assert!(values
        .iter()
        .any(|v| v == ticketing_catalog::http::READINESS_PATH));
    assert!(!values
        .iter()
        .any(|v| v.starts_with(ticketing_catalog::http::METRICS_PATH)));
    assert_eq!(rule["Actions"][0]["Type"].as_str(), Some("forward"));
    let listeners = resources(&compute, "AWS::ElasticLoadBalancingV2::Listener");
    let default = &listeners[0].1["DefaultActions"][0];
    assert_eq!(
        default["Type"].as_str(),
        Some("fixed-response"),
        "{default:?}"
    );
    assert_eq!(
        plain(&default["FixedResponseConfig"]["StatusCode"]).as_deref(),
        Some("404")
    );
}

#[test]
fn dev_and_prod_have_address_ranges_of_their_own_inside_their_vpcs() {
    use ipnet::Ipv4Net;
    use ticketing_catalog::network;
    let (network_template, _) = load("network");
    let declared = &network_template["Parameters"];
    let parse = |cidr: &str| -> Ipv4Net { cidr.parse().expect("a CIDR") };
    // network.yaml's defaults are dev's ranges, every one of them.
    for (key, value) in network::DEV {
        assert_eq!(
            plain(&declared[key]["Default"]).as_deref(),
            Some(value),
            "network.yaml's {key} default is dev's range in the catalog"
        );
    }
    let cidr_parameters = declared
        .as_mapping()
        .expect("parameters")
        .keys()
        .filter_map(Value::as_str)
        .filter(|k| k.ends_with("Cidr"))
        .count();
    assert_eq!(
        cidr_parameters,
        network::DEV.len(),
        "every range is in the catalog"
    );
    for ranges in [&network::DEV, &network::PROD] {
        let vpc = parse(ranges[0].1);
        assert_eq!(ranges[0].0, "VpcCidr");
        let subnets: Vec<Ipv4Net> = ranges[1..].iter().map(|(_, c)| parse(c)).collect();
        for (i, a) in subnets.iter().enumerate() {
            assert!(vpc.contains(a), "{a} lies inside {vpc}");
            for b in &subnets[i + 1..] {
                assert!(!a.contains(b) && !b.contains(a), "{a} and {b} overlap");
            }
        }
    }
    let (dev, prod) = (parse(network::DEV[0].1), parse(network::PROD[0].1));
    assert!(
        !dev.contains(&prod) && !prod.contains(&dev),
        "dev {dev} and prod {prod} must not overlap"
    );
}

/// The ops task reaches every service's readiness path in both layouts
/// (`opsctl status` inside the VPC): its group lets it out to, and the
/// services' group lets it in on, each port the combined task binds.
#[test]
fn the_ops_task_reaches_every_port_the_combined_task_serves() {
    let (network, _) = load("network");
    let rules = security_group_rules(&network);
    let ports: Vec<u16> = ServiceName::ALL
        .iter()
        .map(|s| ticketing_catalog::http::combined_port(*s))
        .collect();
    let covers = |rule: &str, port: u16| {
        // "Ref <group> <in|out> tcp <from>-<to> <peer>"
        let range = rule.split(' ').nth(4).unwrap_or_default();
        let (from, to) = range.split_once('-').unwrap_or_default();
        let (from, to) = (from.parse::<u16>(), to.parse::<u16>());
        matches!((from, to), (Ok(f), Ok(t)) if f <= port && port <= t)
    };
    let out: Vec<&String> = rules
        .iter()
        .filter(|(name, r)| name == "OpsSecurityGroup" && r.contains(" out tcp "))
        .map(|(_, r)| r)
        .collect();
    let into_services: Vec<&String> = rules
        .iter()
        .filter(|(_, r)| {
            r.starts_with("Ref ServiceSecurityGroup in ")
                && r.contains("SourceSecurityGroupId=OpsSecurityGroup")
        })
        .map(|(_, r)| r)
        .collect();
    assert!(
        !into_services.is_empty(),
        "nothing admits the ops task into the services' group"
    );
    for port in ports {
        assert!(
            out.iter().any(|r| covers(r, port)),
            "the ops task may not leave for port {port}: {out:?}"
        );
        assert!(
            into_services.iter().any(|r| covers(r, port)),
            "the services' group does not admit the ops task on port {port}: {into_services:?}"
        );
    }
}
