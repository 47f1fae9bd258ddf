//! The design's figures, line by line, each with what it is checked
//! against.

use super::{
    check, row, Causes, Entry, How, Inputs, Models, Rates, COMBINED, DESIGN_ROWS, DESIGN_SAVINGS,
};
use crate::error::OpsError;
use crate::ops::cost::Prices;

/// The free-tier months.
pub(super) fn free_tier(i: &Inputs) -> Vec<Entry> {
    let &Inputs {
        m: Models { fargate, alb, .. },
        c:
            Causes {
                ref fargate_cause,
                ref alb_cause,
                ..
            },
        ..
    } = i;
    vec![
    ("**총 비용**: $12-17/month", "$12-17", 17.0, 0.005, check(Some(0.0 + 12.17 + 16.20 + 2.0), None, "its own items add up to $29.37-30.37 (Fargate $12.17 + ALB $16.20 + other $1-2): the range leaves out the ALB")),
    ("RDS PostgreSQL (db.t3.micro, 750시간/월 무료): $0", "$0", 0.0, 0.005, check(Some(0.0), None, "")),
    ("ElastiCache Redis (cache.t2.micro, 750시간/월 무료): $0", "$0", 0.0, 0.005, check(Some(0.0), None, "")),
    ("EC2 Kafka (t2.micro, 750시간/월 무료): $0", "$0", 0.0, 0.005, check(Some(0.0), None, "")),
    ("ECS Fargate (6 서비스 × 1 vCPU, 0.5GB): $12.17", "$12.17", 12.17, 0.005, check(None, Some(fargate), fargate_cause)),
    ("- Application Load Balancer: $16.20", "$16.20", 16.20, 0.005, check(Some(0.0225 * 720.0), Some(alb), alb_cause)),
    ("기타 (CloudWatch, S3): $1-2/month", "$1-2", 2.0, 0.005, How::Cannot("the design's estimate for CloudWatch and S3 during the free tier; it gives no usage")),
    ]
}

/// After the free tier.
pub(super) fn after_free_tier(p: &Prices, i: &Inputs) -> Result<Vec<Entry>, OpsError> {
    let &Inputs {
        m:
            Models {
                ref mvp,
                fargate,
                alb,
                ..
            },
        r:
            Rates {
                rds_rate,
                cache_rate,
                t2,
                route53_check,
                ..
            },
        c:
            Causes {
                ref fargate_cause,
                ref alb_cause,
                ref total_cause,
                ..
            },
        ..
    } = i;
    Ok(vec![
    ("| **RDS PostgreSQL** | db.t3.micro, Single-AZ, 20GB SSD | $17.89", "$17.89", 17.89, 0.005, check(Some(0.017 * 730.0 + 2.30), Some(row(mvp, "RDS PostgreSQL")), &format!("its own formula gives ${:.2}; and $0.017 is MySQL's rate, PostgreSQL's is ${rds_rate}", 0.017 * 730.0 + 2.30))),
    ("무료티어 종료 ($0.017/시간 × 730시간 + $2.30", "$0.017", 0.017, 0.0005, check(None, Some(rds_rate), "db.t3.micro for MySQL; PostgreSQL's rate is higher")),
    ("× 730시간 + $2.30 스토리지", "$2.30", 2.30, 0.005, check(Some(20.0 * 0.115), Some(20.0 * p.monthly("rds:storage_gb")?), "")),
    ("| **ElastiCache Redis** | cache.t2.micro, Single-AZ | $11.52", "$11.52", 11.52, 0.005, check(Some(0.017 * 730.0), Some(row(mvp, "ElastiCache Redis")), &format!("its own formula gives ${:.2} ($11.52 is $0.016 x 720 h); cache.t2.micro can no longer be created: cache.t3.micro, same rate", 0.017 * 730.0))),
    ("무료티어 종료 ($0.017/시간 × 730시간) |", "$0.017", 0.017, 0.0005, check(None, Some(cache_rate), "")),
    ("| **EC2 Kafka** | t2.micro, Single-AZ, 20GB EBS | $8.93", "$8.93", 8.93, 0.005, check(Some(0.0116 * 730.0 + 2.0), Some(row(mvp, "EC2 Kafka")), &format!("its own formula gives ${:.2}; the model prices the gp3 volume the template builds", 0.0116 * 730.0 + 2.0))),
    ("($0.0116/시간 × 730시간", "$0.0116", 0.0116, 0.00005, check(None, Some(t2), "")),
    ("+ $2 EBS", "$2", 2.0, 0.005, check(Some(20.0 * 0.10), Some(20.0 * p.monthly("ebs:gp3_gb")?), "gp2's $0.10/GB; the broker's volume is gp3 ($0.08/GB)")),
    ("| **ECS Fargate** | 6 서비스 × 1 vCPU × 0.5GB | $12.17", "$12.17", 12.17, 0.005, check(None, Some(fargate), fargate_cause)),
    ("| **Application Load Balancer** | Single ALB | $16.20", "$16.20", 16.20, 0.005, check(Some(0.0225 * 720.0), Some(alb), alb_cause)),
    ("동일 ($0.0225/시간", "$0.0225", 0.0225, 0.00005, check(None, Some(p.hourly("alb")?), "")),
    ("| **CloudWatch Logs** | 5GB/월 (무료 5GB 종료) | $2.50", "$2.50", 2.50, 0.005, check(Some(0.50 * 5.0), Some(row(mvp, "CloudWatch Logs")), "the first 5 GB of logs a month are always free, not only for 12 months: ingestion $0, 5 GB stored x $0.03")),
    ("$0.50/GB × 5GB", "$0.50", 0.50, 0.005, check(None, Some(p.monthly("cloudwatch:logs_gb")?), "")),
    ("| $0.50/hosted zone", "$0.50", 0.50, 0.005, check(None, Some(p.monthly("route53:hosted_zone")?), "")),
    ("+ $0.50/health check", "$0.50", 0.50, 0.005, check(None, Some(route53_check), "a basic check of an AWS endpoint is $0.50, but the first 50 are free; the template's check is HTTPS, an optional feature at $1.00")),
    ("| Hosted Zone 1개 + Health Check 1개 | $1.00", "$1.00", 1.00, 0.005, check(Some(0.50 + 0.50), Some(row(mvp, "Route 53")), "the zone, a free basic check and the HTTPS feature ($1.00) the template's check uses")),
    ("| **기타 (S3, Data Transfer)** | - | $1.18", "$1.18", 1.18, 0.005, How::Cannot("the design's estimate of S3 and data transfer; it gives no usage (the model keeps it as an input)")),
    ("| **합계** | - | **$71.39**", "$71.39", 71.39, 0.005, check(Some(DESIGN_ROWS), Some(mvp.total), total_cause)),
    ("5.9배 증가", "5.9배", 5.9, 0.05, check(Some(71.39 / 12.17), Some(mvp.total / 12.17), "the base is the Fargate row alone, not the free-tier bill ($12-17 by the design, $29.37-30.37 by its own items)")),
    ("5.9배 증가 ($12.17", "$12.17", 12.17, 0.005, check(None, Some(fargate), fargate_cause)),
    ("→ $71.39)", "$71.39", 71.39, 0.005, check(Some(DESIGN_ROWS), Some(mvp.total), total_cause)),
    ])
}

/// The optimisations.
pub(super) fn optimisations(i: &Inputs) -> Vec<Entry> {
    let &Inputs {
        m:
            Models {
                h,
                fargate,
                logs_saving,
                ref opt,
                alb,
                ref mvp,
                forecast,
                ..
            },
        r:
            Rates {
                ri,
                ri_saving,
                ri_share,
                spot,
                spot_off,
                t2,
                sp,
                sp_off,
                ..
            },
        c:
            Causes {
                ref ri_cause,
                ref spot_cause,
                ref sp_cause,
                ref alb_cause,
                ref total_cause,
                ref alarm_50,
                ..
            },
        ..
    } = i;
    vec![
    ("| RDS, ElastiCache | -$12.17", "$12.17", 12.17, 0.005, check(Some(ri * (17.89 + 11.52)), Some(ri_saving), &format!("41 % of the two rows is ${:.2} ($12.17 is the Fargate figure); a reservation discounts instance hours, not storage, and the 1-year No Upfront rates save ${ri_saving:.2}", ri * (17.89 + 11.52)))),
    ("-$12.17 (41% 할인)", "41%", 41.0, 0.05, check(None, Some(ri_share * 100.0), ri_cause)),
    ("(41% 할인) | $17.24", "$17.24", 17.24, 0.005, check(Some(17.89 + 11.52 - ri * (17.89 + 11.52)), None, "follows the copied $12.17; 41 % off the two rows leaves $17.35")),
    ("| EC2 Kafka (t2.micro) | -$4.90", "$4.90", 4.90, 0.005, check(Some(spot * (8.93 - 2.0)), Some(spot_off * t2 * h), &format!("Spot discounts instance hours, not the volume: 70 % of $6.93 is $4.85 (of the whole row, $6.25); at the dated Spot price the saving is ${:.2}", spot_off * t2 * h))),
    ("-$4.90 (70% 할인)", "70%", 70.0, 0.05, check(None, Some(spot_off * 100.0), spot_cause)),
    ("(70% 할인) | $4.03", "$4.03", 4.03, 0.005, check(Some(8.93 - 4.90), None, "")),
    ("| ECS Fargate (1년 약정) | -$4.87", "$4.87", 4.87, 0.005, check(Some(sp * 12.17), Some(sp_off * fargate), &format!("the Savings Plan rates take ${:.2} off the model's Fargate row, which the design prices far below Fargate's list price", sp_off * fargate))),
    ("-$4.87 (40% 할인)", "40%", 40.0, 0.05, check(None, Some(sp_off * 100.0), sp_cause)),
    ("(40% 할인) | $7.30", "$7.30", 7.30, 0.005, check(Some(12.17 - 4.87), Some(fargate - sp_off * fargate), "follows the Fargate row and the Savings Plan rates")),
    ("| 7일 보존 (기존 30일) | -$1.88", "$1.88", 1.88, 0.005, check(Some(0.75 * 2.50), Some(logs_saving), "retention cuts stored bytes, not ingestion (and 5 GB a month is always free): the saving is the storage of 30 days against 7")),
    ("-$1.88 (75% 절감)", "75%", 75.0, 0.05, check(Some(100.0 * (1.0 - 7.0 / 30.0)), None, "7 days kept of 30 is 76.7 % less, and only of the stored bytes")),
    ("(75% 절감) | $0.62", "$0.62", 0.62, 0.005, check(Some(2.50 - 1.88), Some(row(opt, "CloudWatch Logs")), "follows the logs row")),
    ("NAT Gateway 제거로 이미 최적화 | $0", "$0", 0.0, 0.005, check(Some(0.0), Some(0.0), "")),
    ("NAT Gateway 제거로 이미 최적화 | $0 | $16.20", "$16.20", 16.20, 0.005, check(Some(0.0225 * 720.0), Some(alb), alb_cause)),
    ("| **합계 절감액** | - | **-$23.40**", "$23.40", 23.40, 0.005, check(Some(DESIGN_SAVINGS), Some(mvp.total - opt.total), &format!("its own savings add up to ${DESIGN_SAVINGS:.2}"))),
    ("| **최적화 후 월 비용** | - | - | **$47.99**", "$47.99", 47.99, 0.005, check(Some(71.39 - DESIGN_SAVINGS), Some(opt.total), &format!("with its own savings ${:.2}; the model's optimised total is ${:.2}", 71.39 - DESIGN_SAVINGS, opt.total))),
    ("**최적화 전**: $71.39", "$71.39", 71.39, 0.005, check(Some(DESIGN_ROWS), Some(mvp.total), total_cause)),
    ("**최적화 후**: $47.99", "$47.99", 47.99, 0.005, check(Some(71.39 - DESIGN_SAVINGS), Some(opt.total), "as above")),
    ("**절감액**: $23.40", "$23.40", 23.40, 0.005, check(Some(DESIGN_SAVINGS), Some(mvp.total - opt.total), "as above")),
    ("(32.8% 절감)", "32.8%", 32.8, 0.05, check(Some(100.0 * 23.40 / 71.39), Some(100.0 * (mvp.total - opt.total) / mvp.total), "the model's totals give another share")),
    ("**연간 절감액**: $280.80", "$280.80", 280.80, 0.005, check(Some(23.40 * 12.0), Some(12.0 * (mvp.total - opt.total)), "twelve of the model's monthly saving")),
    ("**할인율**: 41%", "41%", 41.0, 0.05, check(None, Some(ri_share * 100.0), ri_cause)),
    ("**할인율**: 평균 70%", "70%", 70.0, 0.05, check(None, Some(spot_off * 100.0), spot_cause)),
    ("평균 중단률 < 5%", "5%", 5.0, 0.05, How::Cannot("Spot interruption frequency is published per type and Region by the Spot Instance Advisor; it is not a price")),
    ("**할인율**: 40%", "40%", 40.0, 0.05, check(None, Some(sp_off * 100.0), sp_cause)),
    ("**절감액**: 75% (5GB → 1.25GB)", "75%", 75.0, 0.05, check(Some(100.0 * (1.0 - 1.25 / 5.0)), Some(100.0 * (1.0 - 7.0 / 30.0)), "1.25 of 5 GB is what 7.5 of 30 days keeps; 7 days keep 1.17 GB")),
    ("($50/월 임계값)", "$50", 50.0, 0.005, How::Threshold { forecast, cause: alarm_50.clone() }),
    ]
}

/// Ten times the traffic, and the plan's closing figures.
pub(super) fn ten_times(i: &Inputs) -> Vec<Entry> {
    let &Inputs {
        m:
            Models {
                big_rds,
                big_cache,
                big_kafka,
                big_fargate,
                big_alb,
                ref big,
                forecast,
                ref opt,
                ..
            },
        c: Causes {
            ref alarm_50,
            ref alarm_100,
            ..
        },
        ..
    } = i;
    vec![
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
    ("~$500/월", "$500", 500.0, 0.5, check(Some(COMBINED), None, &format!("the strategies together (Aurora for the database, 62 % off cache and brokers, Lambda for the services) give ${COMBINED:.2}; $500 is not derived"))),
    ("월 $50 초과 시", "$50", 50.0, 0.005, How::Threshold { forecast, cause: alarm_50.clone() }),
    ("exceeds $50", "$50", 50.0, 0.005, How::Threshold { forecast, cause: alarm_50.clone() }),
    ("월 $100 초과 시", "$100", 100.0, 0.005, How::Threshold { forecast, cause: alarm_100.clone() }),
    ("무료티어 최대 활용 ($12-17/월)", "$12-17", 17.0, 0.005, check(Some(0.0 + 12.17 + 16.20 + 2.0), None, "as above: the range leaves out the ALB")),
    ("구매로 $47.99/월 목표", "$47.99", 47.99, 0.005, check(Some(71.39 - DESIGN_SAVINGS), Some(opt.total), "as above")),
    ("$500/월 예상", "$500", 500.0, 0.5, check(Some(COMBINED), None, "as above")),
    ]
}
