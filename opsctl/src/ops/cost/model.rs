//! The model itself: unit prices times the footprint, row by row.

use super::{instances, round2, Model, Off, Prices, Row};
use ticketing_catalog::footprint::{ComputeLayout, Footprint};

use crate::args::SizeProfile;
use crate::error::CliError;

/// Reservation discounts read from the offerings (`opsctl reserved plan`'s
/// 1-year No Upfront offering for each class: its recurring and fixed
/// charges against the on-demand rate), replacing the price file's committed
/// rate for that class.
#[derive(Debug, Default, Clone)]
pub struct Discounts {
    /// (where it comes from, fraction off) for the database's class.
    pub rds: Option<(String, f64)>,
    /// The same for the cache's node type.
    pub cache: Option<(String, f64)>,
    /// The Compute Savings Plan's share off Fargate (Cost Explorer's
    /// recommendation for this account's usage, 1 year, No Upfront).
    pub fargate: Option<(String, f64)>,
}

/// The rows of one footprint in its own layout.
pub(super) fn rows_for(
    p: &Prices,
    profile: SizeProfile,
    fp: &Footprint<'_>,
    optimized: bool,
    tolerance: f64,
    measured: &Discounts,
) -> Result<Model, CliError> {
    let ecs = fp.ecs_tasks(fp.layout);
    let rds_key = format!("rds:{}", fp.rds_class);
    let cache_key = format!("elasticache:{}", fp.redis_node_type);
    let broker_key = format!("ec2:{}", fp.broker_instance_type);
    let cpu = f64::from(ecs.cpu) / 1024.0;
    let mem = f64::from(ecs.memory_mib) / 1024.0;
    // Optimised: a measured rate where there is one, else the price file's
    // committed rate for that class.
    let pick = |m: &Option<(String, f64)>,
                from_file: &dyn Fn() -> Result<Off, CliError>|
     -> Result<Option<Off>, CliError> {
        if !optimized {
            return Ok(None);
        }
        match m {
            Some((name, fraction)) => Ok(Some(Off {
                name: name.clone(),
                fraction: *fraction,
            })),
            None => from_file().map(Some),
        }
    };
    let rds_off = pick(&measured.rds, &|| p.reserved_off(&rds_key))?;
    let cache_off = pick(&measured.cache, &|| p.reserved_off(&cache_key))?;
    let spot = pick(&None, &|| p.spot_off(&broker_key))?;
    let sp = pick(&measured.fargate, &|| p.savings_plan_off(cpu, mem))?;
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
        match &sp {
            Some(off) => (
                gross * (1.0 - off.fraction),
                format!("{tasks} tasks x ({cpu} vCPU x ${vcpu} + {mem} GB x ${gb}) x {} h x (1 - {:.3} {})", p.hours_per_month, off.fraction, off.name),
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
    let big = profile == SizeProfile::Scale10x;
    let rds_gb = f64::from(fp.rds_storage_gb * fp.rds_instances);
    let (rds, f) = instances(p, &rds_key, f64::from(fp.rds_instances), rds_off.as_ref())?;
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
        instances(p, &cache_key, f64::from(fp.redis_nodes), cache_off.as_ref())?,
        design(Some(if big { 234.60 } else { 11.52 }), None),
    );
    let root_gb = ticketing_catalog::footprint::BROKER_ROOT_GB;
    let ebs_gb = f64::from((fp.broker_ebs_gb + root_gb) * fp.brokers);
    let (kafka, f) = instances(p, &broker_key, f64::from(fp.brokers), spot.as_ref())?;
    push(
        "EC2 Kafka",
        format!(
            "{} x {} broker(s), {} GB data + {root_gb} GB root EBS each",
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
    let tasks = f64::from(ecs.count);
    push(
        "ECS Fargate",
        match ecs.layout {
            ComputeLayout::Split => format!(
                "split: 6 services x {} task(s) x {cpu} vCPU x {mem} GB",
                fp.tasks_per_service
            ),
            ComputeLayout::Combined => format!(
                "combined: {} task(s) of all 6 services x {cpu} vCPU x {mem} GB",
                ecs.count
            ),
        },
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
    // observability.yaml: one hosted zone, one HTTPS health check of the
    // ALB (an AWS endpoint in this account): the basic check is among the
    // 50 free, HTTPS is an optional feature billed on its own.
    let zone = p.monthly("route53:hosted_zone")?;
    let check = p.monthly("route53:health_check")?;
    let free_checks = p.monthly("route53:health_checks_free")?;
    let https = p.monthly("route53:health_check_feature")?;
    push(
        "Route 53",
        "1 hosted zone + 1 HTTPS health check of the ALB".into(),
        (
            zone + (1.0 - free_checks).max(0.0) * check + https,
            format!(
                "${zone} + max(0, 1 - {free_checks} free) x ${check} + 1 HTTPS feature x ${https}"
            ),
        ),
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
        "3 secrets: ticketing/<env>/app, ticketing/<env>/portone, ticketing/<env>/db".into(),
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
        fp.brokers,
    )
    .iter()
    .map(|a| {
        if a.queries.is_empty() {
            1.0
        } else {
            a.queries.iter().filter(|q| q.stat.is_some()).count() as f64
        }
    })
    .sum::<f64>()
        + ticketing_catalog::alarms::TEMPLATE_ONLY_ALARMS
            .iter()
            .map(|(_, metrics)| f64::from(*metrics))
            .sum::<f64>();
    let per_metric = p.monthly("cloudwatch:alarm_metric")?;
    let free_metrics = p.monthly("cloudwatch:alarm_metrics_free")?;
    push(
        "CloudWatch alarms",
        format!(
            "{alarm_metrics} alarm metrics (billing, payment failure rate, Kafka, site health)"
        ),
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
        "ECS Fargate size: the design's {} per service is not a size Fargate offers; the model (and infra/) use {} tasks of {cpu} vCPU x {mem} GB ({} layout)",
        if big { "2 vCPU x 1 GB" } else { "1 vCPU x 0.5 GB" },
        ecs.count,
        ecs.layout,
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
        layout: fp.layout,
        other_layout: None,
    })
}
