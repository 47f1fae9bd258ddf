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
use crate::args::SizeProfile;
use crate::error::CliError;

/// The design's cost section, verbatim.
pub const SECTION: &str = include_str!("../../../../infra/prices/design-cost-section.txt");

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

/// Checks every figure (prices from `p`).
pub fn ledger(p: &Prices) -> Result<Vec<Checked>, CliError> {
    let mvp = model(p, SizeProfile::Mvp, false, 0.5)?;
    let opt = model(p, SizeProfile::Mvp, true, 0.5)?;
    let big = model(p, SizeProfile::Scale10x, false, 0.5)?;
    let h = p.hours_per_month;
    let fargate_stated = 6.0 * (p.hourly("fargate:vcpu")? + 0.5 * p.hourly("fargate:gb")?) * h;
    let fargate = row(&mvp, "ECS Fargate");
    let alb = row(&mvp, "Application Load Balancer");
    let rds_rate = p.hourly("rds:db.t3.micro")?;
    let cache_rate = p.hourly("elasticache:cache.t3.micro")?;
    let t2 = p.hourly("ec2:t2.micro")?;
    // The design's own flat rates: inputs of its arithmetic, not prices.
    let (ri, spot, sp) = (0.41, 0.70, 0.40);
    // The price file's committed rates for the same classes.
    let rds_off = p.reserved_off("rds:db.t3.micro")?.fraction;
    let cache_off = p.reserved_off("elasticache:cache.t3.micro")?.fraction;
    let ri_saving = (rds_off * rds_rate + cache_off * cache_rate) * h;
    let ri_share = ri_saving / ((rds_rate + cache_rate) * h);
    let spot_rate = p.spot.get("ec2:t2.micro").map_or(0.0, |s| s.usd);
    let spot_as_of = p.spot.get("ec2:t2.micro").map_or("", |s| s.as_of.as_str());
    let spot_off = p.spot_off("ec2:t2.micro")?.fraction;
    let route53_check = (1.0 - p.monthly("route53:health_checks_free")?).max(0.0)
        * p.monthly("route53:health_check")?
        + p.monthly("route53:health_check_feature")?;
    let sp_off = p.savings_plan_off_for(SizeProfile::Mvp)?.fraction;
    let ri_cause = format!(
        "the design's flat rate; 1-year No Upfront reservations take {:.1} % off db.t3.micro and {:.1} % off cache.t3.micro ({:.1} % of the two): the price file's rates; `cost model --optimized --offerings` reads the Region's offerings",
        rds_off * 100.0,
        cache_off * 100.0,
        ri_share * 100.0
    );
    let spot_cause = format!(
        "the design's average; t2.micro's Spot price on {spot_as_of} (${spot_rate}/h) takes {:.1} %, and it moves by the hour",
        spot_off * 100.0
    );
    let sp_cause = format!(
        "the design's flat rate; the Compute Savings Plan's 1-year No Upfront rates take {:.1} % off the MVP's task (40 % is not a 1-year No Upfront rate)",
        sp_off * 100.0
    );
    let logs_saving = row(&mvp, "CloudWatch Logs") - row(&opt, "CloudWatch Logs");
    let extras = mvp.total
        - [
            "RDS PostgreSQL",
            "ElastiCache Redis",
            "EC2 Kafka",
            "ECS Fargate",
            "Application Load Balancer",
            "CloudWatch Logs",
            "Route 53",
            "Other (S3, data transfer)",
        ]
        .iter()
        .map(|i| row(&mvp, i))
        .sum::<f64>();
    let design_rows = 17.89 + 11.52 + 8.93 + 12.17 + 16.20 + 2.50 + 1.00 + 1.18;
    let design_savings = 12.17 + 4.90 + 4.87 + 1.88;
    let split = mvp
        .other_layout
        .as_ref()
        .map_or(0.0, |o| o.total - mvp.total);
    let fargate_cause = format!(
        "not its own size: 6 x 1 vCPU x 0.5 GB would be ${fargate_stated:.2} (and is not a Fargate size); the MVP runs the six in one task ({} layout, 1 vCPU x 2 GB): ${fargate:.2}; six tasks of 0.25 vCPU x 0.5 GB, the nearest valid split, would add ${split:.2} a month with their public IPv4 addresses",
        mvp.layout
    );
    let alb_cause =
        format!("$0.0225 x 720 h; a month is {h} h on average (${alb:.2}), before capacity units");
    let total_cause = format!(
        "the design's rows add up to its total; the model's are higher and it adds ${extras:.2} of charges the design leaves out (public IPv4 of the broker, tasks and ALB, ALB capacity units, Cloud Map, KMS, Secrets Manager, ECR, alarms)"
    );
    let forecast = opt.total;
    let alarm_cause = |design: f64| {
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
    };
    let check = |arithmetic: Option<f64>, model: Option<f64>, cause: &str| How::Check {
        arithmetic,
        model,
        cause: cause.to_owned(),
    };
    let big_rds = row(&big, "RDS PostgreSQL");
    let big_cache = row(&big, "ElastiCache Redis");
    let big_kafka = row(&big, "EC2 Kafka");
    let big_fargate = row(&big, "ECS Fargate");
    let big_alb = row(&big, "Application Load Balancer") + row(&big, "ALB capacity units");
    let combined = 283.80 * 0.6 + (234.60 + 223.20) * (1.0 - 0.62) + 73.02 * 0.4 + 21.60;
    let entries: Vec<(&'static str, &'static str, f64, f64, How)> = vec![
        // The free-tier months.
        ("**총 비용**: $12-17/month", "$12-17", 17.0, 0.005, check(Some(0.0 + 12.17 + 16.20 + 2.0), None, "its own items add up to $29.37-30.37 (Fargate $12.17 + ALB $16.20 + other $1-2): the range leaves out the ALB")),
        ("RDS PostgreSQL (db.t3.micro, 750시간/월 무료): $0", "$0", 0.0, 0.005, check(Some(0.0), None, "")),
        ("ElastiCache Redis (cache.t2.micro, 750시간/월 무료): $0", "$0", 0.0, 0.005, check(Some(0.0), None, "")),
        ("EC2 Kafka (t2.micro, 750시간/월 무료): $0", "$0", 0.0, 0.005, check(Some(0.0), None, "")),
        ("ECS Fargate (6 서비스 × 1 vCPU, 0.5GB): $12.17", "$12.17", 12.17, 0.005, check(None, Some(fargate), &fargate_cause)),
        ("- Application Load Balancer: $16.20", "$16.20", 16.20, 0.005, check(Some(0.0225 * 720.0), Some(alb), &alb_cause)),
        ("기타 (CloudWatch, S3): $1-2/month", "$1-2", 2.0, 0.005, How::Cannot("the design's estimate for CloudWatch and S3 during the free tier; it gives no usage")),
        // After the free tier.
        ("| **RDS PostgreSQL** | db.t3.micro, Single-AZ, 20GB SSD | $17.89", "$17.89", 17.89, 0.005, check(Some(0.017 * 730.0 + 2.30), Some(row(&mvp, "RDS PostgreSQL")), &format!("its own formula gives ${:.2}; and $0.017 is MySQL's rate, PostgreSQL's is ${rds_rate}", 0.017 * 730.0 + 2.30))),
        ("무료티어 종료 ($0.017/시간 × 730시간 + $2.30", "$0.017", 0.017, 0.0005, check(None, Some(rds_rate), "db.t3.micro for MySQL; PostgreSQL's rate is higher")),
        ("× 730시간 + $2.30 스토리지", "$2.30", 2.30, 0.005, check(Some(20.0 * 0.115), Some(20.0 * p.monthly("rds:storage_gb")?), "")),
        ("| **ElastiCache Redis** | cache.t2.micro, Single-AZ | $11.52", "$11.52", 11.52, 0.005, check(Some(0.017 * 730.0), Some(row(&mvp, "ElastiCache Redis")), &format!("its own formula gives ${:.2} ($11.52 is $0.016 x 720 h); cache.t2.micro can no longer be created: cache.t3.micro, same rate", 0.017 * 730.0))),
        ("무료티어 종료 ($0.017/시간 × 730시간) |", "$0.017", 0.017, 0.0005, check(None, Some(cache_rate), "")),
        ("| **EC2 Kafka** | t2.micro, Single-AZ, 20GB EBS | $8.93", "$8.93", 8.93, 0.005, check(Some(0.0116 * 730.0 + 2.0), Some(row(&mvp, "EC2 Kafka")), &format!("its own formula gives ${:.2}; the model prices the gp3 volume the template builds", 0.0116 * 730.0 + 2.0))),
        ("($0.0116/시간 × 730시간", "$0.0116", 0.0116, 0.00005, check(None, Some(t2), "")),
        ("+ $2 EBS", "$2", 2.0, 0.005, check(Some(20.0 * 0.10), Some(20.0 * p.monthly("ebs:gp3_gb")?), "gp2's $0.10/GB; the broker's volume is gp3 ($0.08/GB)")),
        ("| **ECS Fargate** | 6 서비스 × 1 vCPU × 0.5GB | $12.17", "$12.17", 12.17, 0.005, check(None, Some(fargate), &fargate_cause)),
        ("| **Application Load Balancer** | Single ALB | $16.20", "$16.20", 16.20, 0.005, check(Some(0.0225 * 720.0), Some(alb), &alb_cause)),
        ("동일 ($0.0225/시간", "$0.0225", 0.0225, 0.00005, check(None, Some(p.hourly("alb")?), "")),
        ("| **CloudWatch Logs** | 5GB/월 (무료 5GB 종료) | $2.50", "$2.50", 2.50, 0.005, check(Some(0.50 * 5.0), Some(row(&mvp, "CloudWatch Logs")), "the first 5 GB of logs a month are always free, not only for 12 months: ingestion $0, 5 GB stored x $0.03")),
        ("$0.50/GB × 5GB", "$0.50", 0.50, 0.005, check(None, Some(p.monthly("cloudwatch:logs_gb")?), "")),
        ("| $0.50/hosted zone", "$0.50", 0.50, 0.005, check(None, Some(p.monthly("route53:hosted_zone")?), "")),
        ("+ $0.50/health check", "$0.50", 0.50, 0.005, check(None, Some(route53_check), "a basic check of an AWS endpoint is $0.50, but the first 50 are free; the template's check is HTTPS, an optional feature at $1.00")),
        ("| Hosted Zone 1개 + Health Check 1개 | $1.00", "$1.00", 1.00, 0.005, check(Some(0.50 + 0.50), Some(row(&mvp, "Route 53")), "the zone, a free basic check and the HTTPS feature ($1.00) the template's check uses")),
        ("| **기타 (S3, Data Transfer)** | - | $1.18", "$1.18", 1.18, 0.005, How::Cannot("the design's estimate of S3 and data transfer; it gives no usage (the model keeps it as an input)")),
        ("| **합계** | - | **$71.39**", "$71.39", 71.39, 0.005, check(Some(design_rows), Some(mvp.total), &total_cause)),
        ("5.9배 증가", "5.9배", 5.9, 0.05, check(Some(71.39 / 12.17), Some(mvp.total / 12.17), "the base is the Fargate row alone, not the free-tier bill ($12-17 by the design, $29.37-30.37 by its own items)")),
        ("5.9배 증가 ($12.17", "$12.17", 12.17, 0.005, check(None, Some(fargate), &fargate_cause)),
        ("→ $71.39)", "$71.39", 71.39, 0.005, check(Some(design_rows), Some(mvp.total), &total_cause)),
        // The optimisations.
        ("| RDS, ElastiCache | -$12.17", "$12.17", 12.17, 0.005, check(Some(ri * (17.89 + 11.52)), Some(ri_saving), &format!("41 % of the two rows is ${:.2} ($12.17 is the Fargate figure); a reservation discounts instance hours, not storage, and the 1-year No Upfront rates save ${ri_saving:.2}", ri * (17.89 + 11.52)))),
        ("-$12.17 (41% 할인)", "41%", 41.0, 0.05, check(None, Some(ri_share * 100.0), &ri_cause)),
        ("(41% 할인) | $17.24", "$17.24", 17.24, 0.005, check(Some(17.89 + 11.52 - ri * (17.89 + 11.52)), None, "follows the copied $12.17; 41 % off the two rows leaves $17.35")),
        ("| EC2 Kafka (t2.micro) | -$4.90", "$4.90", 4.90, 0.005, check(Some(spot * (8.93 - 2.0)), Some(spot_off * t2 * h), &format!("Spot discounts instance hours, not the volume: 70 % of $6.93 is $4.85 (of the whole row, $6.25); at the dated Spot price the saving is ${:.2}", spot_off * t2 * h))),
        ("-$4.90 (70% 할인)", "70%", 70.0, 0.05, check(None, Some(spot_off * 100.0), &spot_cause)),
        ("(70% 할인) | $4.03", "$4.03", 4.03, 0.005, check(Some(8.93 - 4.90), None, "")),
        ("| ECS Fargate (1년 약정) | -$4.87", "$4.87", 4.87, 0.005, check(Some(sp * 12.17), Some(sp_off * fargate), &format!("the Savings Plan rates take ${:.2} off the model's Fargate row, which the design prices far below Fargate's list price", sp_off * fargate))),
        ("-$4.87 (40% 할인)", "40%", 40.0, 0.05, check(None, Some(sp_off * 100.0), &sp_cause)),
        ("(40% 할인) | $7.30", "$7.30", 7.30, 0.005, check(Some(12.17 - 4.87), Some(fargate - sp_off * fargate), "follows the Fargate row and the Savings Plan rates")),
        ("| 7일 보존 (기존 30일) | -$1.88", "$1.88", 1.88, 0.005, check(Some(0.75 * 2.50), Some(logs_saving), "retention cuts stored bytes, not ingestion (and 5 GB a month is always free): the saving is the storage of 30 days against 7")),
        ("-$1.88 (75% 절감)", "75%", 75.0, 0.05, check(Some(100.0 * (1.0 - 7.0 / 30.0)), None, "7 days kept of 30 is 76.7 % less, and only of the stored bytes")),
        ("(75% 절감) | $0.62", "$0.62", 0.62, 0.005, check(Some(2.50 - 1.88), Some(row(&opt, "CloudWatch Logs")), "follows the logs row")),
        ("NAT Gateway 제거로 이미 최적화 | $0", "$0", 0.0, 0.005, check(Some(0.0), Some(0.0), "")),
        ("NAT Gateway 제거로 이미 최적화 | $0 | $16.20", "$16.20", 16.20, 0.005, check(Some(0.0225 * 720.0), Some(alb), &alb_cause)),
        ("| **합계 절감액** | - | **-$23.40**", "$23.40", 23.40, 0.005, check(Some(design_savings), Some(mvp.total - opt.total), &format!("its own savings add up to ${design_savings:.2}"))),
        ("| **최적화 후 월 비용** | - | - | **$47.99**", "$47.99", 47.99, 0.005, check(Some(71.39 - design_savings), Some(opt.total), &format!("with its own savings ${:.2}; the model's optimised total is ${:.2}", 71.39 - design_savings, opt.total))),
        ("**최적화 전**: $71.39", "$71.39", 71.39, 0.005, check(Some(design_rows), Some(mvp.total), &total_cause)),
        ("**최적화 후**: $47.99", "$47.99", 47.99, 0.005, check(Some(71.39 - design_savings), Some(opt.total), "as above")),
        ("**절감액**: $23.40", "$23.40", 23.40, 0.005, check(Some(design_savings), Some(mvp.total - opt.total), "as above")),
        ("(32.8% 절감)", "32.8%", 32.8, 0.05, check(Some(100.0 * 23.40 / 71.39), Some(100.0 * (mvp.total - opt.total) / mvp.total), "the model's totals give another share")),
        ("**연간 절감액**: $280.80", "$280.80", 280.80, 0.005, check(Some(23.40 * 12.0), Some(12.0 * (mvp.total - opt.total)), "twelve of the model's monthly saving")),
        ("**할인율**: 41%", "41%", 41.0, 0.05, check(None, Some(ri_share * 100.0), &ri_cause)),
        ("**할인율**: 평균 70%", "70%", 70.0, 0.05, check(None, Some(spot_off * 100.0), &spot_cause)),
        ("평균 중단률 < 5%", "5%", 5.0, 0.05, How::Cannot("Spot interruption frequency is published per type and Region by the Spot Instance Advisor; it is not a price")),
        ("**할인율**: 40%", "40%", 40.0, 0.05, check(None, Some(sp_off * 100.0), &sp_cause)),
        ("**절감액**: 75% (5GB → 1.25GB)", "75%", 75.0, 0.05, check(Some(100.0 * (1.0 - 1.25 / 5.0)), Some(100.0 * (1.0 - 7.0 / 30.0)), "1.25 of 5 GB is what 7.5 of 30 days keeps; 7 days keep 1.17 GB")),
        ("($50/월 임계값)", "$50", 50.0, 0.005, How::Threshold { forecast, cause: alarm_cause(50.0) }),
        // Ten times the traffic.
        ("10배", "10배", 10.0, 0.05, How::Cannot("the scenario's premise, not a result")),
        ("Read Replica 1대 | $283.80", "$283.80", 283.80, 0.005, check(Some(2.0 * 0.25 * 730.0 + 2.0 * 20.0 * 0.115), Some(big_rds), "db.r5.large x 2 at $0.25/h is $365.00 before storage; the design's figure is not derived from its rates")),
        ("Replica 1대 | $234.60", "$234.60", 234.60, 0.005, check(Some(2.0 * 0.216 * 730.0), Some(big_cache), "cache.r5.large x 2 at $0.216/h is $315.36")),
        ("m5.large × 3 (3-broker cluster) | $223.20", "$223.20", 223.20, 0.005, check(Some(3.0 * 0.096 * 730.0 + 3.0 * 20.0 * 0.10), Some(big_kafka), "m5.large x 3 at $0.096/h is $210.24, plus the volumes")),
        ("× 3 인스턴스 | $73.02", "$73.02", 73.02, 0.005, check(Some(18.0 * (2.0 * 0.04048 + 1.0 * 0.004445) * 730.0), Some(big_fargate), "18 tasks of 2 vCPU x 1 GB (not a Fargate size) would be $1,122.22; 2 vCPU x 4 GB, the nearest valid, is the model's")),
        ("Single ALB (데이터 전송 증가) | $21.60", "$21.60", 21.60, 0.005, check(None, Some(big_alb), "ALB hours plus capacity units at the assumed 10 LCU; the design adds $5.40 for data with no usage given")),
        ("| **합계** | - | - | **$836.22**", "$836.22", 836.22, 0.005, check(Some(283.80 + 234.60 + 223.20 + 73.02 + 21.60), Some(big.total), "the design's rows add up to its total; the model's rows are higher")),
        ("62% 할인", "62%", 62.0, 0.05, How::Cannot("a 3-year rate; the price file has none (it would come from the offerings: opsctl reserved plan reads 1-year ones)")),
        ("62% 할인 → $517", "$517", 517.0, 0.5, check(Some((283.80 + 234.60 + 223.20) * (1.0 - 0.62) + 73.02 + 21.60), None, "62 % off the reservable rows (database, cache, brokers) leaves $376.43, off everything $317.76: $517 follows from neither")),
        ("RDS 비용 40% 절감", "40%", 40.0, 0.05, How::Cannot("Aurora Serverless v2 is billed per ACU-hour by load; the design gives no load")),
        ("40% 절감 → $170", "$170", 170.0, 0.5, check(Some(283.80 * 0.6), None, "")),
        ("Fargate 비용 60% 절감", "60%", 60.0, 0.05, How::Cannot("Lambda is billed per request and GB-second; the design gives no traffic")),
        ("60% 절감 → $29", "$29", 29.0, 0.5, check(Some(73.02 * 0.4), None, "")),
        ("~$500/월", "$500", 500.0, 0.5, check(Some(combined), None, &format!("the strategies together (Aurora for the database, 62 % off cache and brokers, Lambda for the services) give ${combined:.2}; $500 is not derived"))),
        ("월 $50 초과 시", "$50", 50.0, 0.005, How::Threshold { forecast, cause: alarm_cause(50.0) }),
        ("exceeds $50", "$50", 50.0, 0.005, How::Threshold { forecast, cause: alarm_cause(50.0) }),
        ("월 $100 초과 시", "$100", 100.0, 0.005, How::Threshold { forecast, cause: alarm_cause(100.0) }),
        ("무료티어 최대 활용 ($12-17/월)", "$12-17", 17.0, 0.005, check(Some(0.0 + 12.17 + 16.20 + 2.0), None, "as above: the range leaves out the ALB")),
        ("구매로 $47.99/월 목표", "$47.99", 47.99, 0.005, check(Some(71.39 - design_savings), Some(opt.total), "as above")),
        ("$500/월 예상", "$500", 500.0, 0.5, check(Some(combined), None, "as above")),
    ];
    Ok(entries
        .into_iter()
        .map(|(at, figure, design, tolerance, how)| {
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
        })
        .collect())
}
