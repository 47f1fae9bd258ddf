//! The catalog of shared facts: service names, database schemas and Kafka
//! topics. Code, CloudFormation templates, runbooks and dashboards read these or
//! are checked against them by tests; nothing else spells them out.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The six services of the platform, named as they are on ECS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceName {
    ApiGateway,
    UserService,
    EventService,
    QueueService,
    ReservationService,
    PaymentService,
}

impl ServiceName {
    /// Every service, in start-up order (the gateway last, as it fronts the rest).
    pub const ALL: [ServiceName; 6] = [
        ServiceName::UserService,
        ServiceName::EventService,
        ServiceName::QueueService,
        ServiceName::ReservationService,
        ServiceName::PaymentService,
        ServiceName::ApiGateway,
    ];

    /// The name used on ECS, in log groups and in metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceName::ApiGateway => "api-gateway",
            ServiceName::UserService => "user-service",
            ServiceName::EventService => "event-service",
            ServiceName::QueueService => "queue-service",
            ServiceName::ReservationService => "reservation-service",
            ServiceName::PaymentService => "payment-service",
        }
    }

    /// The PostgreSQL schema the service owns (ADR-001: one schema per service
    /// in one instance). The gateway keeps no data of its own.
    pub const fn schema(self) -> Option<&'static str> {
        match self {
            ServiceName::ApiGateway => None,
            ServiceName::UserService => Some("user_service"),
            ServiceName::EventService => Some("event_service"),
            ServiceName::QueueService => Some("queue_service"),
            ServiceName::ReservationService => Some("reservation_service"),
            ServiceName::PaymentService => Some("payment_service"),
        }
    }

    /// Whether the service publishes events through an outbox in its schema.
    pub const fn publishes_events(self) -> bool {
        matches!(
            self,
            ServiceName::EventService
                | ServiceName::ReservationService
                | ServiceName::PaymentService
        )
    }

    /// The topics the service consumes (its consumer group is named after the
    /// service). `opsctl kafka lag` reads the same list.
    pub const fn consumes(self) -> &'static [&'static str] {
        match self {
            ServiceName::EventService => &[topics::RESERVATION_EVENTS],
            ServiceName::ReservationService => &[topics::PAYMENT_EVENTS],
            ServiceName::PaymentService => &[topics::RESERVATION_EVENTS],
            _ => &[],
        }
    }

    /// The configuration key of the service under `[services]`.
    pub const fn config_key(self) -> &'static str {
        match self {
            ServiceName::ApiGateway => "api_gateway",
            ServiceName::UserService => "user_service",
            ServiceName::EventService => "event_service",
            ServiceName::QueueService => "queue_service",
            ServiceName::ReservationService => "reservation_service",
            ServiceName::PaymentService => "payment_service",
        }
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownService(pub String);

impl fmt::Display for UnknownService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = ServiceName::ALL.iter().map(|s| s.as_str()).collect();
        write!(
            f,
            "unknown service `{}`; expected one of: {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownService {}

impl FromStr for ServiceName {
    type Err = UnknownService;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceName::ALL
            .into_iter()
            .find(|name| name.as_str() == s)
            .ok_or_else(|| UnknownService(s.to_owned()))
    }
}

pub mod alarms;

/// The paths every service serves next to its own routes (the service
/// skeleton in `ticketing-http`), and the port its container listens on.
/// The ALB target group, the Route 53 health check and the task
/// definitions' container health checks name these (checked by
/// `opsctl/tests/testsuite/fast/infra_consistency.rs`).
pub mod http {
    /// Alive: the process serves HTTP. The container health check (ECS
    /// replaces a task failing it), so it never depends on another system.
    pub const LIVENESS_PATH: &str = "/health";
    /// Ready: its PostgreSQL, Redis and Kafka answer. The ALB's and Route
    /// 53's health checks: a task that cannot serve gets no traffic.
    pub const READINESS_PATH: &str = "/ready";
    /// Prometheus text format.
    pub const METRICS_PATH: &str = "/metrics";
    /// The service's OpenAPI document.
    pub const OPENAPI_PATH: &str = "/openapi.json";
    /// The only paths the ALB forwards to the gateway (its listener rule;
    /// everything else, `/metrics` among them, is answered 404 by the ALB
    /// itself): the API, PortOne's webhook and the readiness Route 53
    /// probes. At most three: an ALB condition takes three values (Elastic
    /// Load Balancing, "Listener rules for your Application Load Balancer").
    pub const PUBLIC_PATH_PATTERNS: [&str; 3] = ["/api/*", "/webhooks/*", READINESS_PATH];
    /// The port every service binds in the `dev` and `prod` profiles (one
    /// task per service, `awsvpc`: no two share a network namespace).
    pub const CONTAINER_PORT: u16 = 8080;

    /// The port each service binds in the combined layout's one task (one
    /// network namespace: each its own, the gateway on the ALB's
    /// [`CONTAINER_PORT`]); inside the range the services' security group
    /// opens (network.yaml, 8080-8090).
    pub const fn combined_port(service: super::ServiceName) -> u16 {
        use super::ServiceName::*;
        match service {
            ApiGateway => CONTAINER_PORT,
            UserService => CONTAINER_PORT + 1,
            EventService => CONTAINER_PORT + 2,
            QueueService => CONTAINER_PORT + 3,
            ReservationService => CONTAINER_PORT + 4,
            PaymentService => CONTAINER_PORT + 5,
        }
    }
}
pub mod cqrs;
pub mod footprint;
pub mod metrics;
pub mod notices;

/// Kafka topics (MVP: one partition, replication factor one each).
pub mod topics {
    /// Payment outcomes, keyed by reservation id.
    pub const PAYMENT_EVENTS: &str = "payment.events";
    /// Reservation lifecycle, keyed by reservation id.
    pub const RESERVATION_EVENTS: &str = "reservation.events";
    /// Dead letters: messages a consumer gave up on, with headers saying why.
    pub const DLQ: &str = "DLQ";

    /// Every topic the platform needs, created by the local stack and by infra.
    pub const ALL: [&str; 3] = [PAYMENT_EVENTS, RESERVATION_EVENTS, DLQ];
    /// Partitions per topic in the MVP profile.
    pub const MVP_PARTITIONS: i32 = 1;
    /// Replication factor in the MVP profile (one broker).
    pub const MVP_REPLICATION_FACTOR: i32 = 1;
    /// The 10x high-availability plan: `footprint::SCALE_10X.brokers`
    /// brokers, every topic on `footprint::SCALE_10X.kafka_replication_factor`
    /// of them (infra/templates/kafka.yaml, the local `kafka-cluster` profile).
    pub const SCALE_10X_REPLICATION_FACTOR: i32 =
        crate::footprint::SCALE_10X.kafka_replication_factor as i32;
    /// `min.insync.replicas` of the 10x plan: a write is acknowledged once the
    /// in-sync replicas have it (`acks=all`), and one replica may be down.
    pub const SCALE_10X_MIN_INSYNC_REPLICAS: i32 = 1;
    /// The design's targets for a broker failure at 10x: automatic failover
    /// within 5 minutes, no acknowledged event lost.
    pub const SCALE_10X_FAILOVER_RTO_SECONDS: u64 = 300;
    pub const SCALE_10X_FAILOVER_RPO_EVENTS: u64 = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_round_trip() {
        for name in ServiceName::ALL {
            assert_eq!(name.as_str().parse::<ServiceName>(), Ok(name));
        }
    }

    #[test]
    fn unknown_service_lists_the_known_ones() {
        let err = "billing-service".parse::<ServiceName>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("billing-service"), "{msg}");
        assert!(msg.contains("payment-service"), "{msg}");
    }

    #[test]
    fn schemas_are_distinct_and_only_the_gateway_has_none() {
        let schemas: Vec<_> = ServiceName::ALL.iter().filter_map(|s| s.schema()).collect();
        assert_eq!(schemas.len(), 5);
        let mut dedup = schemas.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), schemas.len());
        assert_eq!(ServiceName::ApiGateway.schema(), None);
    }
}

/// The AWS footprint's names that commands and templates share.
pub mod aws {
    /// The tag that marks the Kafka broker instance(s) (with `Environment`
    /// beside it); the kafka stack sets both.
    pub const KAFKA_BROKER_TAG_KEY: &str = "Role";
    pub const KAFKA_BROKER_TAG_VALUE: &str = "kafka-broker";
    /// The tag whose value names the environment a broker serves: what
    /// opsctl's SSM commands (`kafka restart`, `dr`, `failover-drill`,
    /// `verify-segments --on-broker`) target, so an action on one
    /// environment never reaches another's brokers. One key with the
    /// environment as its value, because a target is one key and its values
    /// (any of them matches: "Target", AWS Systems Manager API Reference);
    /// two keys (`Role` and `Environment`) would lean on how SSM combines
    /// targets, which its documentation does not state.
    pub const KAFKA_BROKER_OF_TAG_KEY: &str = "KafkaBrokerOf";

    /// The SSM target (`tag:<key>`, value) of `env`'s brokers.
    pub fn broker_target(env: &str) -> (String, String) {
        (format!("tag:{KAFKA_BROKER_OF_TAG_KEY}"), env.to_owned())
    }
    /// The SSM document and the command that restart the broker.
    pub const RUN_SHELL_DOCUMENT: &str = "AWS-RunShellScript";
    /// The broker's systemd unit (infra/templates/kafka.yaml installs it).
    pub const KAFKA_UNIT: &str = "kafka";
    /// Restarts the broker and returns only once it answers on its port
    /// again (at most 5 minutes), so that SSM, running one broker at a
    /// time, moves to the next broker only when this one is healthy.
    pub const KAFKA_RESTART_COMMAND: &str = "sudo systemctl restart kafka && timeout 300 bash -c 'until (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; do sleep 2; done'";
    /// Stop and start of one broker (`opsctl kafka failover-drill`).
    pub const KAFKA_STOP_COMMAND: &str = "sudo systemctl stop kafka";
    /// Where the broker keeps its log segments (`log.dirs` in the user
    /// data); `opsctl kafka verify-segments --on-broker` reads only there.
    pub const KAFKA_LOG_DIR: &str = "/var/lib/kafka";
    /// Where a broker keeps the platform release it verifies segments with
    /// (one directory per image digest).
    pub const BROKER_RELEASE_DIR: &str = "/opt/ticketing-release";
    pub const KAFKA_START_COMMAND: &str = "sudo systemctl start kafka";

    /// The DynamoDB table holding an environment's change lock (opsctl
    /// makes it on first use; `opsctl/src/lock/`).
    pub fn change_lock_table(env: &str) -> String {
        format!("ticketing-{env}-change-lock")
    }

    /// The RDS instance of an environment, and its read replica (10x).
    pub fn rds_instance_id(env: &str) -> String {
        format!("ticketing-{env}-postgres")
    }
    pub fn rds_replica_id(env: &str) -> String {
        format!("ticketing-{env}-postgres-replica")
    }
}

/// Each environment's own address ranges, as network.yaml's parameters.
/// dev and prod never overlap, so the two VPCs can later be peered or
/// reached over one VPN. `opsctl infra deploy network` gives them to a new
/// network stack; a stack that exists keeps its own (a VPC's `CidrBlock` is
/// create-only: changing it replaces the VPC and everything in it).
/// network.yaml's defaults are dev's (a test holds them equal).
pub mod network {
    /// dev's ranges: network.yaml's defaults.
    pub const DEV: [(&str, &str); 6] = [
        ("VpcCidr", "10.20.0.0/16"),
        ("PublicSubnetACidr", "10.20.0.0/24"),
        ("PublicSubnetBCidr", "10.20.1.0/24"),
        ("PrivateSubnetACidr", "10.20.2.0/24"),
        ("PrivateSubnetBCidr", "10.20.3.0/24"),
        ("PublicSubnetCCidr", "10.20.4.0/24"),
    ];
    /// prod's ranges: the same layout in 10.30.0.0/16.
    pub const PROD: [(&str, &str); 6] = [
        ("VpcCidr", "10.30.0.0/16"),
        ("PublicSubnetACidr", "10.30.0.0/24"),
        ("PublicSubnetBCidr", "10.30.1.0/24"),
        ("PrivateSubnetACidr", "10.30.2.0/24"),
        ("PrivateSubnetBCidr", "10.30.3.0/24"),
        ("PublicSubnetCCidr", "10.30.4.0/24"),
    ];

    /// The ranges of `env` (`dev` or `prod`).
    pub fn ranges(env: &str) -> &'static [(&'static str, &'static str)] {
        match env {
            "prod" => &PROD,
            _ => &DEV,
        }
    }
}

/// CloudWatch log groups and their retention classes: the one place the
/// names and days are written (opsctl, infra and dashboards read them).
pub mod logs {
    use super::ServiceName;

    /// Every service logs to `/ecs/ticketing/<env>/<service>`: the design's
    /// `/ecs/ticketing/<service>` with a level per environment, since dev
    /// and prod may share an account and a region, where log group names
    /// are unique.
    pub const GROUP_PREFIX: &str = "/ecs/ticketing/";
    /// Operational logs are kept a week.
    pub const OPERATIONAL_RETENTION_DAYS: i32 = 7;
    /// Payment logs are kept 90 days (disputes, audits).
    pub const PAYMENT_RETENTION_DAYS: i32 = 90;

    /// opsctl's audit trail of an environment (every change envelope
    /// entry, with the caller's AWS identity), kept a year.
    pub fn audit_group(env: &str) -> String {
        format!("/ops/ticketing/{env}/audit")
    }
    pub const AUDIT_RETENTION_DAYS: i32 = 365;

    /// The log group of the ops task (opsctl run inside the VPC): its
    /// output, which the opsctl that started it streams back. Operational
    /// retention (its changes are also in the audit group).
    pub fn ops_group(env: &str) -> String {
        format!("{}{}", group_prefix(env), super::ecs::OPS_CONTAINER)
    }

    /// The log groups of one environment start with this.
    pub fn group_prefix(env: &str) -> String {
        format!("{GROUP_PREFIX}{env}/")
    }

    /// The log group of a service in an environment.
    pub fn group(service: ServiceName, env: &str) -> String {
        format!("{}{}", group_prefix(env), service.as_str())
    }

    /// The log group of the combined layout's one task: all six services'
    /// lines (each names its service), so it keeps the payment logs'
    /// retention.
    pub fn combined_group(env: &str) -> String {
        format!("{}{}", group_prefix(env), super::ecs::COMBINED_SERVICE)
    }

    /// Every group a service's lines may be in, whichever the layout.
    pub fn service_groups(env: &str) -> Vec<String> {
        ServiceName::ALL
            .iter()
            .map(|s| group(*s, env))
            .chain(std::iter::once(combined_group(env)))
            .collect()
    }

    /// The retention a log group should have, or `None` when it is not ours
    /// (outside the prefix).
    pub fn retention_days(group: &str) -> Option<i32> {
        let rest = group.strip_prefix(GROUP_PREFIX)?;
        let service = rest.rsplit('/').next()?;
        Some(
            if service.starts_with(ServiceName::PaymentService.as_str())
                || service == super::ecs::COMBINED_SERVICE
            {
                PAYMENT_RETENTION_DAYS
            } else {
                OPERATIONAL_RETENTION_DAYS
            },
        )
    }
}

/// The application secret every task reads (`ticketing/<env>/app`, JSON):
/// its name and keys. The task definitions name the keys
/// (`...:secret:ticketing/<env>/app:<KEY>::`), the services read them from
/// the environment under the same names, and `opsctl secrets apply` makes
/// the secret before the first deploy.
pub mod secrets {
    pub fn app_secret_name(env: &str) -> String {
        format!("ticketing/{env}/app")
    }

    pub const JWT_SIGNING_KEY: &str = "JWT_SIGNING_KEY";
    pub const QUEUE_TOKEN_SIGNING_KEY: &str = "QUEUE_TOKEN_SIGNING_KEY";
    pub const IDENTITY_HASH_KEY: &str = "IDENTITY_HASH_KEY";
    pub const RECAPTCHA_SECRET: &str = "RECAPTCHA_SECRET";

    /// Keys that are ours to make: random signing keys (opsctl asks
    /// Secrets Manager's GetRandomPassword for them; never printed).
    pub const GENERATED_APP_KEYS: [&str; 3] =
        [JWT_SIGNING_KEY, QUEUE_TOKEN_SIGNING_KEY, IDENTITY_HASH_KEY];
    /// Keys someone else issues (Google's reCAPTCHA secret): taken from
    /// the environment of whoever runs opsctl, under the same name.
    pub const PROVIDED_APP_KEYS: [&str; 1] = [RECAPTCHA_SECRET];
    /// Length of a generated key (the services refuse keys under 32).
    pub const GENERATED_KEY_LENGTH: i64 = 64;

    /// The PortOne secret's keys (`ticketing/<env>/portone`), and the
    /// environment variables `opsctl secrets apply` takes them from. PortOne
    /// V1's REST API keys (`imp_key`/`imp_secret`, issued per store in the
    /// console) do not say whether the channel they pay through is in test
    /// mode, so the secret says it: `mode` is `test` or `production`
    /// ([`super::portone::MODES`]).
    pub const PORTONE_KEYS: [(&str, &str); 4] = [
        ("imp_code", "PORTONE_IMP_CODE"),
        ("api_key", "PORTONE_API_KEY"),
        ("api_secret", "PORTONE_API_SECRET"),
        ("mode", "PORTONE_MODE"),
    ];
    /// The test-mode keys kept ready for `opsctl portone rollback
    /// --test-keys` (`ticketing/<env>/portone-test`, `mode` always `test`),
    /// and the variables `opsctl secrets apply` takes them from.
    pub const PORTONE_TEST_KEYS: [(&str, &str); 3] = [
        ("imp_code", "PORTONE_TEST_IMP_CODE"),
        ("api_key", "PORTONE_TEST_API_KEY"),
        ("api_secret", "PORTONE_TEST_API_SECRET"),
    ];
}

/// PortOne's secret and the payment service's place on ECS, per environment.
pub mod portone {
    /// The modes a PortOne secret's `mode` may name.
    pub const MODES: [&str; 2] = ["test", "production"];

    /// `ticketing/<env>/portone`: JSON with `imp_code`, `api_key`,
    /// `api_secret` and `mode`.
    pub fn secret_name(env: &str) -> String {
        format!("ticketing/{env}/portone")
    }

    /// The test-mode keys kept ready for an emergency switch (same JSON).
    pub fn test_keys_secret_name(env: &str) -> String {
        format!("ticketing/{env}/portone-test")
    }

    /// Where the live keys are kept while the test keys are in use, for the
    /// switch back.
    pub fn live_keys_secret_name(env: &str) -> String {
        format!("ticketing/{env}/portone-live")
    }

    /// What the payment task's IAM policy grants, as the end of a secret
    /// ARN: the main secret only (its name, `-` and Secrets Manager's six
    /// random characters), never the live and test key backups.
    pub fn secret_arn_pattern(env: &str) -> String {
        format!("{}-??????", secret_name(env))
    }

    /// The payment service's ECS service name.
    pub const SERVICE: &str = "payment-service";
}

/// Where the services run on ECS and where their image lives, per
/// environment. `infra/templates/compute.yaml` names the same (checked by
/// `opsctl/tests/testsuite/fast/infra_consistency.rs`); `opsctl deploy` and `opsctl portone
/// rollback` find them here.
pub mod ecs {
    use super::ServiceName;

    /// The tag on a task definition that records how its rollout ended
    /// (`COMPLETED` or `FAILED`); written by `opsctl deploy` and by `opsctl
    /// portone rollback`, read to find the last known-good revision.
    pub const ROLLOUT_TAG: &str = "ticketing:rollout";
    /// The rollout tag's values.
    pub const ROLLOUT_COMPLETED: &str = "COMPLETED";
    pub const ROLLOUT_FAILED: &str = "FAILED";

    /// The ECS cluster of an environment.
    pub fn cluster(env: &str) -> String {
        format!("ticketing-{env}")
    }

    /// A service's task definition family, per environment.
    pub fn task_family(service: ServiceName, env: &str) -> String {
        format!("{service}-{env}")
    }

    /// The combined layout's ECS service and its one container: all six
    /// services in one `ticketing serve` (footprint `ComputeLayout`).
    pub const COMBINED_SERVICE: &str = "ticketing";

    /// The combined task's family, per environment.
    pub fn combined_family(env: &str) -> String {
        format!("{COMBINED_SERVICE}-{env}")
    }

    /// One ECS service of the compute layer: a service's own (split
    /// layout) or the combined one that runs all six. Its name is also
    /// its container's.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum EcsService {
        Own(ServiceName),
        Combined,
    }

    impl EcsService {
        pub const fn name(self) -> &'static str {
            match self {
                EcsService::Own(service) => service.as_str(),
                EcsService::Combined => COMBINED_SERVICE,
            }
        }

        /// Its task definition family.
        pub fn family(self, env: &str) -> String {
            match self {
                EcsService::Own(service) => task_family(service, env),
                EcsService::Combined => combined_family(env),
            }
        }

        /// The platform's services it runs.
        pub fn serves(self) -> Vec<ServiceName> {
            match self {
                EcsService::Own(service) => vec![service],
                EcsService::Combined => ServiceName::ALL.to_vec(),
            }
        }

        /// The one that runs `service` in `layout`.
        pub const fn of(service: ServiceName, layout: crate::footprint::ComputeLayout) -> Self {
            match layout {
                crate::footprint::ComputeLayout::Split => EcsService::Own(service),
                crate::footprint::ComputeLayout::Combined => EcsService::Combined,
            }
        }

        /// The ECS services of `layout`, in deploy order.
        pub fn of_layout(layout: crate::footprint::ComputeLayout) -> Vec<EcsService> {
            match layout {
                crate::footprint::ComputeLayout::Split => {
                    DEPLOY_ORDER.into_iter().map(EcsService::Own).collect()
                }
                crate::footprint::ComputeLayout::Combined => vec![EcsService::Combined],
            }
        }
    }

    impl std::fmt::Display for EcsService {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.name())
        }
    }

    impl serde::Serialize for EcsService {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(self.name())
        }
    }

    /// The ops task's family: opsctl in the platform's image, run once per
    /// data-plane command inside the VPC (`opsctl --env dev|prod` starts
    /// it from outside).
    pub fn ops_family(env: &str) -> String {
        format!("ticketing-ops-{env}")
    }
    /// The ops task's one container, and its awslogs stream prefix: the
    /// stream of a task is `<prefix>/<container>/<task id>`.
    pub const OPS_CONTAINER: &str = "opsctl";
    pub const OPS_STREAM_PREFIX: &str = "ops";
    /// Set (to `1`) in the ops task: opsctl is inside the VPC and connects
    /// to the data plane itself instead of starting another task.
    pub const OPS_IN_VPC_VAR: &str = "OPSCTL_IN_VPC";
    /// Where the image carries opsctl (beside the services' binary).
    pub const OPSCTL_PATH: &str = "/usr/local/bin/opsctl";

    /// The ECR repository the platform's one image is pushed to.
    pub fn image_repository(env: &str) -> String {
        format!("ticketing-{env}")
    }

    /// Images the repository keeps (its lifecycle policy expires the rest;
    /// network.yaml).
    pub const IMAGES_KEPT: u32 = 50;
    /// The platform image's compressed size, GB, for the cost model's ECR
    /// storage: measured 2026-12-02 as gzip of the release binary (9.7 MB),
    /// its libraries (1.5 MB) and the CA bundle, rounded up.
    pub const IMAGE_GB: f64 = 0.012;

    /// The order `opsctl deploy` updates services in: the payment service
    /// last (money moves there; a failure before it stops the rest), the
    /// gateway just before it.
    pub const DEPLOY_ORDER: [ServiceName; 6] = [
        ServiceName::UserService,
        ServiceName::EventService,
        ServiceName::QueueService,
        ServiceName::ReservationService,
        ServiceName::ApiGateway,
        ServiceName::PaymentService,
    ];
}

/// The waiting room's Redis keys that another service touches.
pub mod queue {
    use std::fmt::Display;

    /// Holds the admission (`qr_` token) of `user` for `performance` while
    /// it is valid; re-entering the queue hands it back. When the admission
    /// is used for an order, the reservation service replaces it with
    /// [`held_value`] until that hold ends (confirmed, cancelled, expired:
    /// then it deletes it), so re-entering hands back neither a fresh
    /// admission nor a place in the queue while a hold is open; the next
    /// order starts with a new place. (Under the service's Redis key
    /// prefix.)
    pub fn admitted_key(performance: impl Display, user: impl Display) -> String {
        format!("admitted:{performance}:{user}")
    }

    /// What [`admitted_key`] holds while an order made with the admission
    /// is held: `held:<reservation>:<hold expiry, Unix ms>`.
    pub const HELD_PREFIX: &str = "held:";

    pub fn held_value(reservation: impl Display, expires_at_ms: i64) -> String {
        format!("{HELD_PREFIX}{reservation}:{expires_at_ms}")
    }
}
