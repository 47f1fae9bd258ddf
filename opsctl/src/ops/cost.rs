//! The monthly cost model: unit prices (the price file) times the
//! footprint, row by row, next to the design's figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::args::SizeProfile;
use crate::error::CliError;

/// The price file, compiled in.
pub const PRICES: &str = include_str!("../../../infra/prices/us-east-1.toml");

/// One price and where it comes from.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub usd: f64,
    pub source: String,
    pub as_of: String,
    /// `design` or `recalled` (see the price file's header).
    pub checked: String,
}

/// A fraction off the on-demand price, and where it comes from.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Discount {
    pub fraction: f64,
    pub source: String,
    pub as_of: String,
    pub checked: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// When the file was last reviewed as a whole.
    pub reviewed: String,
    pub hours_per_month: f64,
    pub hourly: BTreeMap<String, Price>,
    pub monthly: BTreeMap<String, Price>,
    pub discount: BTreeMap<String, Discount>,
}

impl Prices {
    pub fn load() -> Result<Prices, CliError> {
        toml::from_str(PRICES)
            .map_err(|e| CliError::Failed(anyhow::anyhow!("the price file does not parse: {e}")))
    }

    fn missing(kind: &str, key: &str) -> CliError {
        CliError::Failed(anyhow::anyhow!(
            "infra/prices/us-east-1.toml has no {kind} price `{key}`; add it with its source"
        ))
    }

    pub fn hourly(&self, key: &str) -> Result<f64, CliError> {
        self.hourly
            .get(key)
            .map(|p| p.usd)
            .ok_or_else(|| Self::missing("hourly", key))
    }

    pub fn monthly(&self, key: &str) -> Result<f64, CliError> {
        self.monthly
            .get(key)
            .map(|p| p.usd)
            .ok_or_else(|| Self::missing("monthly", key))
    }

    pub fn discount(&self, key: &str) -> Result<f64, CliError> {
        self.discount
            .get(key)
            .map(|d| d.fraction)
            .ok_or_else(|| Self::missing("discount", key))
    }

    /// Every entry as (kind, key, source, as_of, checked), for the tests
    /// and the model's header.
    pub fn provenance(&self) -> Vec<(&'static str, &str, &str, &str, &str)> {
        let mut out = Vec::new();
        for (kind, map) in [("hourly", &self.hourly), ("monthly", &self.monthly)] {
            for (k, p) in map {
                out.push((
                    kind,
                    k.as_str(),
                    p.source.as_str(),
                    p.as_of.as_str(),
                    p.checked.as_str(),
                ));
            }
        }
        for (k, d) in &self.discount {
            out.push((
                "discount",
                k.as_str(),
                d.source.as_str(),
                d.as_of.as_str(),
                d.checked.as_str(),
            ));
        }
        out
    }
}

/// The CloudFormation resource types the templates create that cost
/// money, and the model's row that prices each. `opsctl/tests/cost.rs`
/// walks infra/templates: a type in neither this list nor [`FREE_TYPES`]
/// fails it.
pub const PRICED_TYPES: &[(&str, &str)] = &[
    ("AWS::RDS::DBInstance", "RDS PostgreSQL"),
    ("AWS::ElastiCache::ReplicationGroup", "ElastiCache Redis"),
    ("AWS::EC2::Instance", "EC2 Kafka"),
    ("AWS::EC2::EIP", "Public IPv4 (Kafka)"),
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
];

/// The types the templates create that cost nothing themselves, and why.
pub const FREE_TYPES: &[(&str, &str)] = &[
    ("AWS::EC2::EIPAssociation", "associating is free; the address is priced (AWS::EC2::EIP)"),
    ("AWS::EC2::InternetGateway", "no charge; data out is in Other"),
    ("AWS::EC2::LaunchTemplate", "no charge"),
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
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "part of the ALB's hours and LCUs"),
    ("AWS::IAM::InstanceProfile", "no charge"),
    ("AWS::IAM::Role", "no charge"),
    ("AWS::KMS::Alias", "no charge"),
    ("AWS::SNS::Topic", "publishes within the always-free first million a month"),
    (
        "AWS::SNS::Subscription",
        "e-mail and HTTPS deliveries within the free tier; SMS is billed per message (alerts are rare; not modelled)",
    ),
];

/// One row of the model.
#[derive(Debug, Serialize, Clone)]
pub struct Row {
    pub item: &'static str,
    pub spec: String,
    pub formula: String,
    pub monthly: f64,
    /// The design document's figure for the same row, where it gives one.
    pub design: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Model {
    pub profile: SizeProfile,
    pub optimized: bool,
    pub prices_reviewed: String,
    /// Prices taken as the design or this team recalls them, not read from
    /// AWS on their date: re-read these first.
    pub prices_unread: usize,
    pub rows: Vec<Row>,
    pub total: f64,
    pub design_total: Option<f64>,
    pub disagreements: Vec<String>,
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Instance-hours at `rate` for `count` instances, with an optional discount.
pub fn instances(
    p: &Prices,
    key: &str,
    count: f64,
    off: Option<(&str, f64)>,
) -> Result<(f64, String), CliError> {
    let rate = p.hourly(key)?;
    let gross = rate * p.hours_per_month * count;
    Ok(match off {
        Some((name, d)) => (
            gross * (1.0 - d),
            format!(
                "{count} x ${rate}/h x {} h x (1 - {d} {name})",
                p.hours_per_month
            ),
        ),
        None => (
            gross,
            format!("{count} x ${rate}/h x {} h", p.hours_per_month),
        ),
    })
}

/// Computes the monthly model: pure, from the price file alone.
pub fn model(
    p: &Prices,
    profile: SizeProfile,
    optimized: bool,
    tolerance: f64,
) -> Result<Model, CliError> {
    let ri = optimized
        .then(|| ("RI", p.discount("reserved_1y_no_upfront")))
        .map(|(n, d)| d.map(|d| (n, d)))
        .transpose()?;
    let spot = optimized
        .then(|| ("Spot", p.discount("spot")))
        .map(|(n, d)| d.map(|d| (n, d)))
        .transpose()?;
    let sp = optimized
        .then(|| ("Savings Plan", p.discount("savings_plan_1y")))
        .map(|(n, d)| d.map(|d| (n, d)))
        .transpose()?;
    let mut rows = Vec::new();
    let mut push = |item: &'static str,
                    spec: String,
                    (monthly, formula): (f64, String),
                    design: Option<f64>| {
        rows.push(Row {
            item,
            spec,
            formula,
            monthly: round2(monthly),
            design,
        })
    };
    let storage = p.monthly("rds:storage_gb")?;
    let ebs = p.monthly("ebs:gp3_gb")?;
    let (vcpu, gb) = (p.hourly("fargate:vcpu")?, p.hourly("fargate:gb")?);
    let fargate = |tasks: f64, cpu: f64, mem: f64| {
        let gross = tasks * (cpu * vcpu + mem * gb) * p.hours_per_month;
        match sp {
            Some((n, d)) => (
                gross * (1.0 - d),
                format!("{tasks} tasks x ({cpu} vCPU x ${vcpu} + {mem} GB x ${gb}) x {} h x (1 - {d} {n})", p.hours_per_month),
            ),
            None => (
                gross,
                format!("{tasks} tasks x ({cpu} vCPU x ${vcpu} + {mem} GB x ${gb}) x {} h", p.hours_per_month),
            ),
        }
    };
    let alb = p.hourly("alb")? * p.hours_per_month;
    // The design's figure for a row: plain, and with its optimisations.
    let design = |plain: Option<f64>, opt: Option<f64>| if optimized { opt } else { plain };
    let fp = profile.footprint();
    let big = profile == SizeProfile::Scale10x;
    let rds_gb = f64::from(fp.rds_storage_gb * fp.rds_instances);
    let (rds, f) = instances(
        p,
        &format!("rds:{}", fp.rds_class),
        f64::from(fp.rds_instances),
        ri,
    )?;
    push(
        "RDS PostgreSQL",
        format!(
            "{} x {} ({}), {} GB each",
            fp.rds_class,
            fp.rds_instances,
            if big {
                "primary + read replica"
            } else {
                "Single-AZ"
            },
            fp.rds_storage_gb
        ),
        (
            rds + rds_gb * storage,
            format!("{f} + {rds_gb} GB x ${storage}"),
        ),
        design(Some(if big { 283.80 } else { 17.89 }), None),
    );
    push(
        "ElastiCache Redis",
        format!("{} x {}", fp.redis_node_type, fp.redis_nodes),
        instances(
            p,
            &format!("elasticache:{}", fp.redis_node_type),
            f64::from(fp.redis_nodes),
            ri,
        )?,
        design(Some(if big { 234.60 } else { 11.52 }), None),
    );
    let ebs_gb = f64::from(fp.broker_ebs_gb * fp.brokers);
    let (kafka, f) = instances(
        p,
        &format!("ec2:{}", fp.broker_instance_type),
        f64::from(fp.brokers),
        spot,
    )?;
    push(
        "EC2 Kafka",
        format!(
            "{} x {} broker(s), {} GB EBS each",
            fp.broker_instance_type, fp.brokers, fp.broker_ebs_gb
        ),
        (kafka + ebs_gb * ebs, format!("{f} + {ebs_gb} GB x ${ebs}")),
        design(
            Some(if big { 223.20 } else { 8.93 }),
            (!big).then_some(4.03),
        ),
    );
    // The broker's way out (no NAT gateway): one public IPv4 address each
    // (infra/README.md, "How the broker reaches the internet"). The design
    // has no such row.
    let ipv4 = p.hourly("ipv4:public")?;
    let brokers = f64::from(fp.brokers);
    push(
        "Public IPv4 (Kafka)",
        format!("{} address(es), one per broker", fp.brokers),
        (
            ipv4 * p.hours_per_month * brokers,
            format!("{brokers} x ${ipv4}/h x {} h", p.hours_per_month),
        ),
        None,
    );
    let tasks = f64::from(fp.tasks_per_service * 6);
    let cpu = f64::from(fp.task_cpu) / 1024.0;
    let mem = f64::from(fp.task_memory_mib) / 1024.0;
    push(
        "ECS Fargate",
        format!(
            "6 services x {} task(s) x {cpu} vCPU x {mem} GB",
            fp.tasks_per_service
        ),
        fargate(tasks, cpu, mem),
        design(
            Some(if big { 73.02 } else { 12.17 }),
            (!big).then_some(7.30),
        ),
    );
    push(
        "Application Load Balancer",
        "one ALB (hours)".into(),
        (
            alb,
            format!("${}/h x {} h", p.hourly("alb")?, p.hours_per_month),
        ),
        design(
            Some(if profile == SizeProfile::Mvp {
                16.20
            } else {
                21.60
            }),
            (profile == SizeProfile::Mvp).then_some(16.20),
        ),
    );
    let hours = p.hours_per_month;
    let lcu = p.hourly("alb:lcu")?;
    let lcus = f64::from(fp.alb_average_lcu);
    push(
        "ALB capacity units",
        format!("{lcus} LCU on average (assumed: footprint alb_average_lcu)"),
        (
            lcus * lcu * hours,
            format!("{lcus} LCU x ${lcu}/h x {hours} h"),
        ),
        None,
    );
    // Every Fargate task has a public IPv4 address (AssignPublicIp: no NAT
    // gateway), and an internet-facing ALB one per Availability Zone.
    push(
        "Public IPv4 (tasks, ALB)",
        format!("{tasks} task(s) + 2 ALB nodes (two AZs)"),
        (
            (tasks + 2.0) * ipv4 * hours,
            format!("({tasks} + 2) x ${ipv4}/h x {hours} h"),
        ),
        None,
    );
    let logs_gb = f64::from(fp.logs_ingested_gb);
    let ingest = p.monthly("cloudwatch:logs_gb")?;
    let free = p.monthly("cloudwatch:logs_free_gb")?;
    let stored_price = p.monthly("cloudwatch:logs_storage_gb")?;
    // Retention cuts what is stored, never what is ingested: the design's
    // 30 days before, 7 days after its optimisation.
    let days = if optimized { 7.0 } else { 30.0 };
    let stored = logs_gb * days / 30.0;
    push(
        "CloudWatch Logs",
        format!("{logs_gb} GB/month ingested, {days} days kept"),
        (
            (logs_gb - free).max(0.0) * ingest + stored * stored_price,
            format!(
                "max(0, {logs_gb} - {free} free) GB x ${ingest} + {stored:.2} GB stored x ${stored_price}"
            ),
        ),
        design((!big).then_some(2.50), (!big).then_some(0.62)),
    );
    let zone = p.monthly("route53:hosted_zone")?;
    let check = p.monthly("route53:health_check")?;
    push(
        "Route 53",
        "1 hosted zone + 1 health check".into(),
        (zone + check, format!("${zone} + ${check}")),
        design((!big).then_some(1.00), None),
    );
    let namespace = p.monthly("cloudmap:namespace")?;
    let instance = p.monthly("cloudmap:instance")?;
    push(
        "Cloud Map",
        format!("a private DNS namespace, {tasks} registered task(s)"),
        (
            namespace + tasks * instance,
            format!("${namespace} + {tasks} x ${instance}"),
        ),
        None,
    );
    let key = p.monthly("kms:key")?;
    push(
        "KMS key",
        "the alert topics' customer managed key".into(),
        (key, format!("1 x ${key}")),
        None,
    );
    let secret = p.monthly("secretsmanager:secret")?;
    push(
        "Secrets Manager",
        "3 secrets: ticketing/<env>/app, ticketing/<env>/portone, the RDS master password".into(),
        (3.0 * secret, format!("3 x ${secret}")),
        None,
    );
    let ecr = p.monthly("ecr:storage_gb")?;
    let kept = f64::from(ticketing_catalog::ecs::IMAGES_KEPT);
    let image = ticketing_catalog::ecs::IMAGE_GB;
    push(
        "ECR storage",
        format!("the newest {kept} images of {image} GB"),
        (kept * image * ecr, format!("{kept} x {image} GB x ${ecr}")),
        None,
    );
    let alarm_metrics = crate::ops::alarms::spec::wanted(
        crate::ops::alarms::spec::Group::All,
        ticketing_catalog::alarms::BILLING_REGION,
        "prod",
    )
    .iter()
    .map(|a| {
        if a.queries.is_empty() {
            1.0
        } else {
            a.queries.iter().filter(|q| q.stat.is_some()).count() as f64
        }
    })
    .sum::<f64>();
    let per_metric = p.monthly("cloudwatch:alarm_metric")?;
    let free_metrics = p.monthly("cloudwatch:alarm_metrics_free")?;
    push(
        "CloudWatch alarms",
        format!("{alarm_metrics} alarm metrics (billing, payment failure rate, Kafka)"),
        (
            (alarm_metrics - free_metrics).max(0.0) * per_metric,
            format!("max(0, {alarm_metrics} - {free_metrics} free) x ${per_metric}"),
        ),
        None,
    );
    let other = p.monthly("other:s3_and_transfer")?;
    push(
        "Other (S3, data transfer)",
        "the design's estimate".into(),
        (other, format!("${other} (estimate)")),
        design((!big).then_some(1.18), None),
    );
    let total = round2(rows.iter().map(|r| r.monthly).sum());
    let design_total = match (profile, optimized) {
        (SizeProfile::Mvp, false) => Some(71.39),
        (SizeProfile::Mvp, true) => Some(47.99),
        (SizeProfile::Scale10x, false) => Some(836.22),
        (SizeProfile::Scale10x, true) => None,
    };
    let mut disagreements: Vec<String> = Vec::new();
    disagreements.push(format!(
        "ECS Fargate size: the design's {} is not a size Fargate offers; the model (and infra/) use {} vCPU x {} GB",
        if big { "2 vCPU x 1 GB" } else { "1 vCPU x 0.5 GB" },
        f64::from(fp.task_cpu) / 1024.0,
        f64::from(fp.task_memory_mib) / 1024.0
    ));
    disagreements.extend(rows.iter().filter_map(|r| {
        let d = r.design?;
        ((r.monthly - d).abs() > tolerance).then(|| {
            format!(
                "{}: the design says ${d:.2}, the unit prices give ${:.2} ({})",
                r.item, r.monthly, r.formula
            )
        })
    }));
    if let Some(d) = design_total {
        let rows_sum: f64 = rows.iter().filter_map(|r| r.design).sum();
        if (total - d).abs() > tolerance {
            disagreements.push(format!(
                "total: the design says ${d:.2}, the unit prices give ${total:.2}"
            ));
        }
        if !optimized && (rows_sum - d).abs() > tolerance && rows.iter().all(|r| r.design.is_some())
        {
            disagreements.push(format!(
                "the design's own rows add up to ${rows_sum:.2}, not its total ${d:.2}"
            ));
        }
    }
    Ok(Model {
        profile,
        optimized,
        prices_reviewed: p.reviewed.clone(),
        prices_unread: p.provenance().iter().filter(|e| e.4 != "read").count(),
        rows,
        total,
        design_total,
        disagreements,
    })
}

/// One billing alarm against the model's monthly forecast.
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct AlarmCheck {
    pub alarm: &'static str,
    pub threshold_usd: f64,
    pub forecast_usd: f64,
    /// The forecast reaches the threshold: the alarm would fire every month.
    pub fires_every_month: bool,
    /// Room left below the threshold, in percent of it (negative: over).
    pub headroom_percent: f64,
    pub recommendation: String,
}

/// The catalog's billing alarms against `forecast` (USD a month): which
/// would fire every month, and thresholds that leave room (warning at 120 %
/// and critical at 150 % of the forecast, rounded up to $5).
pub fn check_alarms(forecast: f64) -> Vec<AlarmCheck> {
    let up5 = |x: f64| (x / 5.0).ceil() * 5.0;
    ticketing_catalog::alarms::BILLING
        .iter()
        .map(|b| {
            let (factor, kind) = if b.severity == "critical" {
                (1.5, "critical")
            } else {
                (1.2, "warning")
            };
            let fires = forecast >= b.threshold_usd;
            let wanted = up5(forecast * factor);
            let recommendation = if fires {
                format!(
                    "fires every month: the forecast ${forecast:.2} is above ${:.0}; raise the {kind} threshold to ${wanted:.0} (BillingAlarm in ticketing_catalog::alarms) or cut the cost",
                    b.threshold_usd
                )
            } else if b.threshold_usd > wanted * 2.0 {
                format!(
                    "far above the forecast: a ${wanted:.0} threshold would warn of a doubling sooner"
                )
            } else {
                "leaves room above the forecast".to_owned()
            };
            AlarmCheck {
                alarm: b.name,
                threshold_usd: b.threshold_usd,
                forecast_usd: round2(forecast),
                fires_every_month: fires,
                headroom_percent: round2((b.threshold_usd - forecast) / b.threshold_usd * 100.0),
                recommendation,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_billing_alarm_below_the_forecast_is_said_to_fire_every_month() {
        let checks = check_alarms(70.0);
        let warning = &checks[0];
        assert_eq!(warning.threshold_usd, 50.0);
        assert!(warning.fires_every_month);
        assert!(
            warning.recommendation.contains("$85"),
            "{}",
            warning.recommendation
        );
        let critical = &checks[1];
        assert!(!critical.fires_every_month);
        assert_eq!(critical.headroom_percent, 30.0);
        assert!(check_alarms(20.0).iter().all(|c| !c.fires_every_month));
    }

    #[test]
    fn rows_are_unit_prices_times_hours_plus_storage() {
        let p = Prices::load().expect("prices");
        let m = model(&p, SizeProfile::Mvp, false, 0.5).expect("model");
        let rds = m
            .rows
            .iter()
            .find(|r| r.item == "RDS PostgreSQL")
            .expect("rds");
        assert_eq!(rds.monthly, round2(0.018 * 730.0 + 20.0 * 0.115));
        let total: f64 = m.rows.iter().map(|r| r.monthly).sum();
        assert_eq!(m.total, round2(total));
        // Retention cuts stored bytes, never the ingestion (5 GB a month
        // are always free).
        let logs = m
            .rows
            .iter()
            .find(|r| r.item == "CloudWatch Logs")
            .expect("logs");
        assert_eq!(logs.monthly, round2(5.0 * 0.03));
        // The design's Fargate figure cannot be had at Fargate's list price.
        assert!(
            m.disagreements.iter().any(|d| d.starts_with("ECS Fargate")),
            "{:?}",
            m.disagreements
        );
    }

    #[test]
    fn optimisations_lower_the_bill_and_the_big_profile_costs_more() {
        let p = Prices::load().expect("prices");
        let plain = model(&p, SizeProfile::Mvp, false, 0.5).expect("plain");
        let optimized = model(&p, SizeProfile::Mvp, true, 0.5).expect("optimized");
        let big = model(&p, SizeProfile::Scale10x, false, 0.5).expect("big");
        assert!(optimized.total < plain.total);
        assert!(big.total > plain.total * 5.0);
    }
}
