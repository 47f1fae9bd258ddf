//! The model's rows, group by group: each a unit price times the
//! footprint, with its formula and the design's figure beside it.

use ticketing_catalog::footprint::{ComputeLayout, Footprint};

use super::{instances, round2, Off, Prices, Row};
use crate::error::OpsError;
use crate::ops::profile::SizeProfile;

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

/// What every row is priced from: the price file, the footprint and
/// whether the optimisations apply; the rows priced so far.
pub(super) struct Pricer<'a> {
    pub(super) p: &'a Prices,
    pub(super) fp: &'a Footprint<'a>,
    pub(super) optimized: bool,
    pub(super) big: bool,
    pub(super) ecs: ticketing_catalog::footprint::EcsTasks,
    pub(super) tasks: f64,
    pub(super) cpu: f64,
    pub(super) mem: f64,
    pub(super) rows: Vec<Row>,
}

impl Pricer<'_> {
    fn push(
        &mut self,
        item: &'static str,
        spec: String,
        (monthly, formula): (f64, String),
        design: Option<f64>,
    ) {
        self.rows.push(Row {
            item,
            spec,
            formula,
            monthly: round2(monthly),
            design,
        });
    }

    /// The design's figure for a row: plain, and with its optimisations.
    fn design(&self, plain: Option<f64>, opt: Option<f64>) -> Option<f64> {
        if self.optimized {
            opt
        } else {
            plain
        }
    }

    /// Optimised: a measured rate where there is one, else the price
    /// file's committed rate for that class.
    fn off(
        &self,
        measured: &Option<(String, f64)>,
        from_file: impl FnOnce() -> Result<Off, OpsError>,
    ) -> Result<Option<Off>, OpsError> {
        if !self.optimized {
            return Ok(None);
        }
        match measured {
            Some((name, fraction)) => Ok(Some(Off {
                name: name.clone(),
                fraction: *fraction,
            })),
            None => from_file().map(Some),
        }
    }

    /// The database, the cache, the broker and the broker's address.
    pub(super) fn data_rows(&mut self, measured: &Discounts) -> Result<(), OpsError> {
        let (p, fp, big) = (self.p, self.fp, self.big);
        let rds_key = format!("rds:{}", fp.rds_class);
        let cache_key = format!("elasticache:{}", fp.redis_node_type);
        let broker_key = format!("ec2:{}", fp.broker_instance_type);
        let rds_off = self.off(&measured.rds, || p.reserved_off(&rds_key))?;
        let cache_off = self.off(&measured.cache, || p.reserved_off(&cache_key))?;
        let spot = self.off(&None, || p.spot_off(&broker_key))?;
        let storage = p.monthly("rds:storage_gb")?;
        let ebs = p.monthly("ebs:gp3_gb")?;
        let rds_gb = f64::from(fp.rds_storage_gb * fp.rds_instances);
        let (rds, f) = instances(p, &rds_key, f64::from(fp.rds_instances), rds_off.as_ref())?;
        let setup = if big {
            "primary + read replica"
        } else {
            "Single-AZ"
        };
        self.push(
            "RDS PostgreSQL",
            format!(
                "{} x {} ({setup}), {} GB each",
                fp.rds_class, fp.rds_instances, fp.rds_storage_gb
            ),
            (
                rds + rds_gb * storage,
                format!("{f} + {rds_gb} GB x ${storage}"),
            ),
            self.design(Some(if big { 283.80 } else { 17.89 }), None),
        );
        let cache = instances(p, &cache_key, f64::from(fp.redis_nodes), cache_off.as_ref())?;
        self.push(
            "ElastiCache Redis",
            format!("{} x {}", fp.redis_node_type, fp.redis_nodes),
            cache,
            self.design(Some(if big { 234.60 } else { 11.52 }), None),
        );
        let root_gb = ticketing_catalog::footprint::BROKER_ROOT_GB;
        let ebs_gb = f64::from((fp.broker_ebs_gb + root_gb) * fp.brokers);
        let (kafka, f) = instances(p, &broker_key, f64::from(fp.brokers), spot.as_ref())?;
        self.push(
            "EC2 Kafka",
            format!(
                "{} x {} broker(s), {} GB data + {root_gb} GB root EBS each",
                fp.broker_instance_type, fp.brokers, fp.broker_ebs_gb
            ),
            (kafka + ebs_gb * ebs, format!("{f} + {ebs_gb} GB x ${ebs}")),
            self.design(
                Some(if big { 223.20 } else { 8.93 }),
                (!big).then_some(4.03),
            ),
        );
        // The broker's way out (no NAT gateway): one public IPv4 address
        // each (infra/README.md, "How the broker reaches the internet").
        // The design has no such row.
        let ipv4 = p.hourly("ipv4:public")?;
        let brokers = f64::from(fp.brokers);
        self.push(
            "Public IPv4 (Kafka)",
            format!("{} address(es), one per broker", fp.brokers),
            (
                ipv4 * p.hours_per_month * brokers,
                format!("{brokers} x ${ipv4}/h x {} h", p.hours_per_month),
            ),
            None,
        );
        Ok(())
    }

    /// The tasks, the load balancer and their addresses.
    pub(super) fn compute_rows(
        &mut self,
        profile: SizeProfile,
        measured: &Discounts,
    ) -> Result<(), OpsError> {
        let (p, fp) = (self.p, self.fp);
        let (tasks, cpu, mem) = (self.tasks, self.cpu, self.mem);
        let sp = self.off(&measured.fargate, || p.savings_plan_off(cpu, mem))?;
        let (vcpu, gb) = (p.hourly("fargate:vcpu")?, p.hourly("fargate:gb")?);
        let hours = p.hours_per_month;
        let gross = tasks * (cpu * vcpu + mem * gb) * hours;
        let each = format!("{tasks} tasks x ({cpu} vCPU x ${vcpu} + {mem} GB x ${gb}) x {hours} h");
        let fargate = match &sp {
            Some(off) => (
                gross * (1.0 - off.fraction),
                format!("{each} x (1 - {:.3} {})", off.fraction, off.name),
            ),
            None => (gross, each),
        };
        let spec = match self.ecs.layout {
            ComputeLayout::Split => format!(
                "split: 6 services x {} task(s) x {cpu} vCPU x {mem} GB",
                fp.tasks_per_service
            ),
            ComputeLayout::Combined => format!(
                "combined: {} task(s) of all 6 services x {cpu} vCPU x {mem} GB",
                self.ecs.count
            ),
        };
        let big = self.big;
        let design = self.design(
            Some(if big { 73.02 } else { 12.17 }),
            (!big).then_some(7.30),
        );
        self.push("ECS Fargate", spec, fargate, design);
        let alb = p.hourly("alb")?;
        let mvp = profile == SizeProfile::Mvp;
        let design = self.design(Some(if mvp { 16.20 } else { 21.60 }), mvp.then_some(16.20));
        self.push(
            "Application Load Balancer",
            "one ALB (hours)".into(),
            (alb * hours, format!("${alb}/h x {hours} h")),
            design,
        );
        let lcu = p.hourly("alb:lcu")?;
        let lcus = f64::from(fp.alb_average_lcu);
        self.push(
            "ALB capacity units",
            format!("{lcus} LCU on average (assumed: footprint alb_average_lcu)"),
            (
                lcus * lcu * hours,
                format!("{lcus} LCU x ${lcu}/h x {hours} h"),
            ),
            None,
        );
        // Every Fargate task has a public IPv4 address (AssignPublicIp: no
        // NAT gateway), and an internet-facing ALB one per Availability Zone.
        let ipv4 = p.hourly("ipv4:public")?;
        self.push(
            "Public IPv4 (tasks, ALB)",
            format!("{tasks} task(s) + 2 ALB nodes (two AZs)"),
            (
                (tasks + 2.0) * ipv4 * hours,
                format!("({tasks} + 2) x ${ipv4}/h x {hours} h"),
            ),
            None,
        );
        Ok(())
    }

    /// Logs, DNS and its health check, service discovery.
    pub(super) fn observability_rows(&mut self) -> Result<(), OpsError> {
        let (p, big, tasks) = (self.p, self.big, self.tasks);
        let logs_gb = f64::from(self.fp.logs_ingested_gb);
        let ingest = p.monthly("cloudwatch:logs_gb")?;
        let free = p.monthly("cloudwatch:logs_free_gb")?;
        let stored_price = p.monthly("cloudwatch:logs_storage_gb")?;
        // Retention cuts what is stored, never what is ingested: the
        // design's 30 days before, 7 days after its optimisation.
        let days = if self.optimized { 7.0 } else { 30.0 };
        let stored = logs_gb * days / 30.0;
        self.push(
            "CloudWatch Logs",
            format!("{logs_gb} GB/month ingested, {days} days kept"),
            (
                (logs_gb - free).max(0.0) * ingest + stored * stored_price,
                format!(
                    "max(0, {logs_gb} - {free} free) GB x ${ingest} + {stored:.2} GB stored x ${stored_price}"
                ),
            ),
            self.design((!big).then_some(2.50), (!big).then_some(0.62)),
        );
        // observability.yaml: one hosted zone, one HTTPS health check of
        // the ALB (an AWS endpoint in this account): the basic check is
        // among the 50 free, HTTPS is an optional feature billed on its own.
        let zone = p.monthly("route53:hosted_zone")?;
        let check = p.monthly("route53:health_check")?;
        let free_checks = p.monthly("route53:health_checks_free")?;
        let https = p.monthly("route53:health_check_feature")?;
        self.push(
            "Route 53",
            "1 hosted zone + 1 HTTPS health check of the ALB".into(),
            (
                zone + (1.0 - free_checks).max(0.0) * check + https,
                format!(
                    "${zone} + max(0, 1 - {free_checks} free) x ${check} + 1 HTTPS feature x ${https}"
                ),
            ),
            self.design((!big).then_some(1.00), None),
        );
        let namespace = p.monthly("cloudmap:namespace")?;
        let instance = p.monthly("cloudmap:instance")?;
        self.push(
            "Cloud Map",
            format!("a private DNS namespace, {tasks} registered task(s)"),
            (
                namespace + tasks * instance,
                format!("${namespace} + {tasks} x ${instance}"),
            ),
            None,
        );
        Ok(())
    }

    /// What the account holds besides: the key, the secrets, the images,
    /// the alarms, and the design's estimate of the rest.
    pub(super) fn account_rows(&mut self) -> Result<(), OpsError> {
        let p = self.p;
        let key = p.monthly("kms:key")?;
        self.push(
            "KMS key",
            "the alert topics' customer managed key".into(),
            (key, format!("1 x ${key}")),
            None,
        );
        let secret = p.monthly("secretsmanager:secret")?;
        self.push(
            "Secrets Manager",
            "3 secrets: ticketing/<env>/app, ticketing/<env>/portone, ticketing/<env>/db".into(),
            (3.0 * secret, format!("3 x ${secret}")),
            None,
        );
        let ecr = p.monthly("ecr:storage_gb")?;
        let kept = f64::from(ticketing_catalog::ecs::IMAGES_KEPT);
        let image = ticketing_catalog::ecs::IMAGE_GB;
        self.push(
            "ECR storage",
            format!("the newest {kept} images of {image} GB"),
            (kept * image * ecr, format!("{kept} x {image} GB x ${ecr}")),
            None,
        );
        let alarm_metrics = alarm_metrics(self.fp.brokers);
        let per_metric = p.monthly("cloudwatch:alarm_metric")?;
        let free_metrics = p.monthly("cloudwatch:alarm_metrics_free")?;
        self.push(
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
        let design = self.design((!self.big).then_some(1.18), None);
        self.push(
            "Other (S3, data transfer)",
            "the design's estimate".into(),
            (other, format!("${other} (estimate)")),
            design,
        );
        Ok(())
    }
}

/// The metrics the alarms watch (each alarm's, each input of a metric
/// math alarm), opsctl's and the templates' own.
fn alarm_metrics(brokers: u32) -> f64 {
    let managed: f64 = crate::ops::alarms::spec::wanted(
        crate::ops::alarms::spec::Group::All,
        ticketing_catalog::alarms::BILLING_REGION,
        "prod",
        brokers,
    )
    .iter()
    .map(|a| {
        if a.queries.is_empty() {
            1.0
        } else {
            a.queries.iter().filter(|q| q.stat.is_some()).count() as f64
        }
    })
    .sum();
    managed
        + ticketing_catalog::alarms::TEMPLATE_ONLY_ALARMS
            .iter()
            .map(|(_, metrics)| f64::from(*metrics))
            .sum::<f64>()
}
