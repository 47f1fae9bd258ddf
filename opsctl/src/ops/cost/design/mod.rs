//! Every figure of the design's cost section, checked: the design's own
//! arithmetic from its own inputs, and the model's figure for the same
//! thing from the price file. A figure either agrees (within its printed
//! precision), or says which input or which arithmetic makes it differ,
//! or says why it cannot be recomputed. The section is kept verbatim in
//! `infra/prices/design-cost-section.txt` (the design document in
//! `../shared/seed/`, lines "#### 무료티어 종료 후 비용 계획" to
//! "현재 결론"); `opsctl/tests/testsuite/fast/cost.rs` checks that every money figure,
//! percentage and multiplier in it is covered here.

use serde::Serialize;

use super::{check_alarms, model, round2, Model, Prices};

/// A figure for printing: cents, or four places for unit prices under $1.
fn shown(x: f64) -> f64 {
    if x.abs() < 1.0 {
        (x * 10_000.0).round() / 10_000.0
    } else {
        round2(x)
    }
}
use crate::error::OpsError;
use crate::ops::profile::SizeProfile;

/// The design's cost section, verbatim.
pub const SECTION: &str = include_str!("../../../../../infra/prices/design-cost-section.txt");

/// One figure as the design prints it, where, and what we make of it.
#[derive(Debug, Serialize, Clone)]
pub struct Checked {
    /// A piece of the design's line that holds the figure.
    pub at: &'static str,
    /// The figure as printed (`$17.89`, `41%`, `5.9배`).
    pub figure: &'static str,
    pub design: f64,
    /// The design's own formula on its own inputs, where it gives one.
    pub arithmetic: Option<f64>,
    /// The model's figure for the same thing.
    pub model: Option<f64>,
    pub agrees: bool,
    /// Why it differs, or why it cannot be recomputed (empty when it agrees).
    pub cause: String,
}

enum How {
    /// Recomputed: the design's arithmetic and/or the model's figure, with
    /// the cause to show when they differ from the design.
    Check {
        arithmetic: Option<f64>,
        model: Option<f64>,
        cause: String,
    },
    /// A threshold against the forecast: agrees while above it.
    Threshold { forecast: f64, cause: String },
    /// Cannot be recomputed from anything the model has.
    Cannot(&'static str),
}

fn row(m: &Model, item: &str) -> f64 {
    m.rows
        .iter()
        .find(|r| r.item == item)
        .map_or(0.0, |r| r.monthly)
}

mod figures;
use figures::{after_free_tier, free_tier, optimisations, ten_times};

/// Checks every figure (prices from `p`).
pub fn ledger(p: &Prices) -> Result<Vec<Checked>, OpsError> {
    let m = models(p)?;
    let r = rates(p)?;
    let c = causes(p, &m, &r)?;
    let i = Inputs { m, r, c };
    let mut entries = free_tier(&i);
    entries.extend(after_free_tier(p, &i)?);
    entries.extend(optimisations(&i));
    entries.extend(ten_times(&i));
    Ok(entries.into_iter().map(judge).collect())
}

/// A figure: a piece of the design's line that holds it, the figure as
/// printed, its value, the precision it is printed to, and how to check it.
type Entry = (&'static str, &'static str, f64, f64, How);

/// The design's own sums, as it prints them: its MVP rows, its savings,
/// and the 10x strategies together.
const DESIGN_ROWS: f64 = 17.89 + 11.52 + 8.93 + 12.17 + 16.20 + 2.50 + 1.00 + 1.18;
const DESIGN_SAVINGS: f64 = 12.17 + 4.90 + 4.87 + 1.88;
const COMBINED: f64 = 283.80 * 0.6 + (234.60 + 223.20) * (1.0 - 0.62) + 73.02 * 0.4 + 21.60;

/// What the figures are checked against.
struct Inputs {
    m: Models,
    r: Rates,
    c: Causes,
}

/// The model's figures (MVP, optimised, 10x).
struct Models {
    mvp: Model,
    opt: Model,
    big: Model,
    h: f64,
    fargate: f64,
    alb: f64,
    logs_saving: f64,
    forecast: f64,
    big_rds: f64,
    big_cache: f64,
    big_kafka: f64,
    big_fargate: f64,
    big_alb: f64,
}

fn models(p: &Prices) -> Result<Models, OpsError> {
    let mvp = model(p, SizeProfile::Mvp, false, 0.5)?;
    let opt = model(p, SizeProfile::Mvp, true, 0.5)?;
    let big = model(p, SizeProfile::Scale10x, false, 0.5)?;
    Ok(Models {
        h: p.hours_per_month,
        fargate: row(&mvp, "ECS Fargate"),
        alb: row(&mvp, "Application Load Balancer"),
        logs_saving: row(&mvp, "CloudWatch Logs") - row(&opt, "CloudWatch Logs"),
        forecast: opt.total,
        big_rds: row(&big, "RDS PostgreSQL"),
        big_cache: row(&big, "ElastiCache Redis"),
        big_kafka: row(&big, "EC2 Kafka"),
        big_fargate: row(&big, "ECS Fargate"),
        big_alb: row(&big, "Application Load Balancer") + row(&big, "ALB capacity units"),
        mvp,
        opt,
        big,
    })
}

/// The unit prices and discount rates, the design's and the price file's.
struct Rates {
    rds_rate: f64,
    cache_rate: f64,
    t2: f64,
    ri: f64,
    spot: f64,
    sp: f64,
    rds_off: f64,
    cache_off: f64,
    ri_saving: f64,
    ri_share: f64,
    spot_off: f64,
    route53_check: f64,
    sp_off: f64,
}

fn rates(p: &Prices) -> Result<Rates, OpsError> {
    let h = p.hours_per_month;
    let rds_rate = p.hourly("rds:db.t3.micro")?;
    let cache_rate = p.hourly("elasticache:cache.t3.micro")?;
    // The price file's committed rates for the same classes.
    let rds_off = p.reserved_off("rds:db.t3.micro")?.fraction;
    let cache_off = p.reserved_off("elasticache:cache.t3.micro")?.fraction;
    let ri_saving = (rds_off * rds_rate + cache_off * cache_rate) * h;
    Ok(Rates {
        t2: p.hourly("ec2:t2.micro")?,
        // The design's own flat rates: inputs of its arithmetic, not prices.
        ri: 0.41,
        spot: 0.70,
        sp: 0.40,
        ri_share: ri_saving / ((rds_rate + cache_rate) * h),
        spot_off: p.spot_off("ec2:t2.micro")?.fraction,
        route53_check: (1.0 - p.monthly("route53:health_checks_free")?).max(0.0)
            * p.monthly("route53:health_check")?
            + p.monthly("route53:health_check_feature")?,
        sp_off: p.savings_plan_off_for(SizeProfile::Mvp)?.fraction,
        rds_rate,
        cache_rate,
        rds_off,
        cache_off,
        ri_saving,
    })
}

/// Why figures differ, said once for the several lines that print them.
struct Causes {
    ri_cause: String,
    spot_cause: String,
    sp_cause: String,
    fargate_cause: String,
    alb_cause: String,
    total_cause: String,
    alarm_50: String,
    alarm_100: String,
}

fn causes(p: &Prices, m: &Models, r: &Rates) -> Result<Causes, OpsError> {
    let (h, fargate, alb) = (m.h, m.fargate, m.alb);
    let fargate_stated = 6.0 * (p.hourly("fargate:vcpu")? + 0.5 * p.hourly("fargate:gb")?) * h;
    let spot_rate = p.spot.get("ec2:t2.micro").map_or(0.0, |s| s.usd);
    let spot_as_of = p.spot.get("ec2:t2.micro").map_or("", |s| s.as_of.as_str());
    let priced = [
        "RDS PostgreSQL",
        "ElastiCache Redis",
        "EC2 Kafka",
        "ECS Fargate",
        "Application Load Balancer",
        "CloudWatch Logs",
        "Route 53",
        "Other (S3, data transfer)",
    ];
    let extras = m.mvp.total - priced.iter().map(|i| row(&m.mvp, i)).sum::<f64>();
    let split = m
        .mvp
        .other_layout
        .as_ref()
        .map_or(0.0, |o| o.total - m.mvp.total);
    Ok(Causes {
        ri_cause: format!(
            "the design's flat rate; 1-year No Upfront reservations take {:.1} % off db.t3.micro and {:.1} % off cache.t3.micro ({:.1} % of the two): the price file's rates; `cost model --optimized --offerings` reads the Region's offerings",
            r.rds_off * 100.0,
            r.cache_off * 100.0,
            r.ri_share * 100.0
        ),
        spot_cause: format!(
            "the design's average; t2.micro's Spot price on {spot_as_of} (${spot_rate}/h) takes {:.1} %, and it moves by the hour",
            r.spot_off * 100.0
        ),
        sp_cause: format!(
            "the design's flat rate; the Compute Savings Plan's 1-year No Upfront rates take {:.1} % off the MVP's task (40 % is not a 1-year No Upfront rate)",
            r.sp_off * 100.0
        ),
        fargate_cause: format!(
            "not its own size: 6 x 1 vCPU x 0.5 GB would be ${fargate_stated:.2} (and is not a Fargate size); the MVP runs the six in one task ({} layout, 1 vCPU x 2 GB): ${fargate:.2}; six tasks of 0.25 vCPU x 0.5 GB, the nearest valid split, would add ${split:.2} a month with their public IPv4 addresses",
            m.mvp.layout
        ),
        alb_cause: format!(
            "$0.0225 x 720 h; a month is {h} h on average (${alb:.2}), before capacity units"
        ),
        total_cause: format!(
            "the design's rows add up to its total; the model's are higher and it adds ${extras:.2} of charges the design leaves out (public IPv4 of the broker, tasks and ALB, ALB capacity units, Cloud Map, KMS, Secrets Manager, ECR, alarms)"
        ),
        alarm_50: alarm_cause(m.forecast, 50.0),
        alarm_100: alarm_cause(m.forecast, 100.0),
    })
}

/// Why the design's alarm at `design` dollars fires every month.
fn alarm_cause(forecast: f64, design: f64) -> String {
    check_alarms(forecast)
        .iter()
        .find(|a| a.design_usd == design)
        .map_or(String::new(), |a| {
            format!(
                "fires every month below the forecast ${forecast:.2}; the catalog's {} threshold is ${:.0}, the forecast + {:.0} %",
                a.severity,
                a.threshold_usd,
                (a.threshold_usd / forecast - 1.0) * 100.0
            )
        })
}

fn check(arithmetic: Option<f64>, model: Option<f64>, cause: &str) -> How {
    How::Check {
        arithmetic,
        model,
        cause: cause.to_owned(),
    }
}

/// One figure against its checks: agrees within its printed precision, or
/// says why not.
fn judge((at, figure, design, tolerance, how): Entry) -> Checked {
    let close = |x: f64| (x - design).abs() <= tolerance + 1e-9;
    match how {
        How::Check {
            arithmetic,
            model,
            cause,
        } => {
            let agrees = arithmetic.is_none_or(close) && model.is_none_or(close);
            Checked {
                at,
                figure,
                design,
                arithmetic: arithmetic.map(shown),
                model: model.map(shown),
                agrees,
                cause: if agrees { String::new() } else { cause },
            }
        }
        How::Threshold { forecast, cause } => {
            let agrees = design > forecast;
            Checked {
                at,
                figure,
                design,
                arithmetic: None,
                model: Some(round2(forecast)),
                agrees,
                cause: if agrees { String::new() } else { cause },
            }
        }
        How::Cannot(reason) => Checked {
            at,
            figure,
            design,
            arithmetic: None,
            model: None,
            agrees: false,
            cause: format!("cannot be recomputed: {reason}"),
        },
    }
}
