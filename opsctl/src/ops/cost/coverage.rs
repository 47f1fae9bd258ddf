//! Which resource types of the templates the model prices, and which are free.

/// The CloudFormation resource types the templates create that cost
/// money, and the model's row that prices each. `opsctl/tests/testsuite/fast/cost.rs`
/// walks infra/templates: a type in neither this list nor [`FREE_TYPES`]
/// fails it.
pub const PRICED_TYPES: &[(&str, &str)] = &[
    ("AWS::RDS::DBInstance", "RDS PostgreSQL"),
    ("AWS::ElastiCache::ReplicationGroup", "ElastiCache Redis"),
    ("AWS::EC2::Instance", "EC2 Kafka"),
    // The broker's public IPv4 address is its instance's (priced in
    // "Public IPv4 (Kafka)"); its data volume is part of the broker's EBS.
    ("AWS::EC2::Volume", "EC2 Kafka"),
    ("AWS::ECS::Service", "ECS Fargate"),
    (
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "Application Load Balancer",
    ),
    ("AWS::Logs::LogGroup", "CloudWatch Logs"),
    ("AWS::Route53::HostedZone", "Route 53"),
    ("AWS::Route53::HealthCheck", "Route 53"),
    ("AWS::ServiceDiscovery::PrivateDnsNamespace", "Cloud Map"),
    ("AWS::ServiceDiscovery::Service", "Cloud Map"),
    ("AWS::KMS::Key", "KMS key"),
    ("AWS::ECR::Repository", "ECR storage"),
    ("AWS::CloudWatch::Alarm", "CloudWatch alarms"),
    // ticketing/<env>/db (data.yaml), the third of the row's secrets.
    ("AWS::SecretsManager::Secret", "Secrets Manager"),
];

/// The types the templates create that cost nothing themselves, and why.
pub const FREE_TYPES: &[(&str, &str)] = &[
    ("AWS::EC2::InternetGateway", "no charge; data out is in Other"),
    ("AWS::EC2::LaunchTemplate", "no charge"),
    (
        "AWS::S3::Bucket",
        "the broker artifact (~50 MB a version): well under a cent a month",
    ),
    ("AWS::EC2::NetworkInterface", "no charge; its public address is priced"),
    ("AWS::EC2::Route", "no charge"),
    ("AWS::EC2::RouteTable", "no charge"),
    ("AWS::EC2::SecurityGroup", "no charge"),
    ("AWS::EC2::SecurityGroupEgress", "no charge"),
    ("AWS::EC2::SecurityGroupIngress", "no charge"),
    ("AWS::EC2::Subnet", "no charge"),
    ("AWS::EC2::SubnetRouteTableAssociation", "no charge"),
    ("AWS::EC2::VPC", "no charge"),
    ("AWS::EC2::VPCGatewayAttachment", "no charge"),
    ("AWS::ECS::Cluster", "no charge; its Fargate tasks are priced"),
    ("AWS::ECS::TaskDefinition", "no charge; running tasks are priced"),
    ("AWS::ElastiCache::SubnetGroup", "no charge"),
    ("AWS::RDS::DBSubnetGroup", "no charge"),
    ("AWS::ElasticLoadBalancingV2::Listener", "part of the ALB's hours and LCUs"),
    (
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        "rule evaluations are part of the ALB's LCUs (the first 10 rules are free)",
    ),
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "part of the ALB's hours and LCUs"),
    ("AWS::IAM::InstanceProfile", "no charge"),
    ("AWS::IAM::Role", "no charge"),
    ("AWS::IAM::ManagedPolicy", "no charge"),
    ("AWS::IAM::OIDCProvider", "no charge"),
    (
        "AWS::Route53::RecordSet",
        "an alias to the ALB: alias queries to AWS resources are not charged",
    ),
    ("AWS::KMS::Alias", "no charge"),
    ("AWS::SNS::Topic", "publishes within the always-free first million a month"),
    (
        "AWS::SNS::Subscription",
        "e-mail and HTTPS deliveries within the free tier; SMS is billed per message (alerts are rare; not modelled)",
    ),
];
