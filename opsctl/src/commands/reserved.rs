//! `opsctl reserved plan|purchase|savings-plan`: Reserved Instances for the
//! database and the cache (1 year, No Upfront), and the Compute Savings Plan
//! recommendation for Fargate.
//!
//! What to reserve comes from the size profile's footprint
//! (`ticketing_catalog::footprint`); what is already reserved from the live
//! inventory. A reservation is never bought twice: active and
//! payment-pending reservations of the class count as coverage, and every
//! purchase carries a deterministic id (`ticketing-rds-ri-2027`), so a run
//! repeated after a partial failure finds what the first one bought.

use std::process::ExitCode;

use chrono::{DateTime, Datelike, Duration, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::args::SizeProfile;
use crate::aws::failed;
use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::ops::cost::Prices;
use crate::output;

/// One year, as the APIs spell durations.
pub const ONE_YEAR_SECONDS: i64 = 31_536_000;
pub const OFFERING_TYPE: &str = "No Upfront";

#[derive(Subcommand, Debug)]
pub enum ReservedCommand {
    /// Offerings, current inventory and the before/after monthly cost;
    /// exit 1 when something is not covered.
    Plan(PlanArgs),
    /// Buy what the plan says is missing (with --execute), never twice.
    Purchase(PurchaseArgs),
    /// Cost Explorer's Compute Savings Plan recommendation for Fargate
    /// (1 year, No Upfront) and its effect on the monthly bill.
    SavingsPlan(PlanArgs),
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[arg(long, value_enum, default_value = "mvp")]
    pub profile: SizeProfile,
}

#[derive(Args, Debug)]
pub struct PurchaseArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Rds,
    Elasticache,
}

impl Engine {
    fn short(self) -> &'static str {
        match self {
            Engine::Rds => "rds",
            Engine::Elasticache => "redis",
        }
    }

    fn price_key(self, class: &str) -> String {
        match self {
            Engine::Rds => format!("rds:{class}"),
            Engine::Elasticache => format!("elasticache:{class}"),
        }
    }
}

/// What the footprint needs reserved.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub engine: Engine,
    pub class: String,
    pub count: i32,
    /// The MVP's class is the design's; others get the class in the id.
    pub mvp_class: bool,
}

pub fn targets(profile: SizeProfile) -> Vec<Target> {
    let fp = profile.footprint();
    let mvp = ticketing_catalog::footprint::MVP;
    vec![
        Target {
            engine: Engine::Rds,
            class: fp.rds_class.into(),
            count: fp.rds_instances as i32,
            mvp_class: fp.rds_class == mvp.rds_class,
        },
        Target {
            engine: Engine::Elasticache,
            class: fp.redis_node_type.into(),
            count: fp.redis_nodes as i32,
            mvp_class: fp.redis_node_type == mvp.redis_node_type,
        },
    ]
}

/// `ticketing-rds-ri-2027`: the year the reservation ends.
pub fn reservation_id(target: &Target, now: DateTime<Utc>) -> String {
    let ends = (now + Duration::seconds(ONE_YEAR_SECONDS)).year();
    if target.mvp_class {
        format!("ticketing-{}-ri-{ends}", target.engine.short())
    } else {
        let class = target
            .class
            .trim_start_matches("db.")
            .trim_start_matches("cache.")
            .replace('.', "-");
        format!("ticketing-{}-{class}-ri-{ends}", target.engine.short())
    }
}

/// An offering, as both APIs describe one.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Offering {
    pub id: String,
    pub class: String,
    pub duration_seconds: i64,
    pub offering_type: String,
    pub fixed_price: f64,
    /// The recurring hourly charge (No Upfront: all of the price).
    pub hourly: f64,
}

/// A reservation held now.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Reservation {
    pub id: String,
    pub class: String,
    pub count: i32,
    pub state: String,
    pub ends: Option<DateTime<Utc>>,
}

impl Offering {
    /// From the fields RDS and ElastiCache both describe an offering with.
    fn new(
        id: Option<&str>,
        class: Option<&str>,
        duration: Option<i32>,
        offering_type: Option<&str>,
        fixed_price: Option<f64>,
        usage_price: Option<f64>,
        recurring: impl Iterator<Item = f64>,
    ) -> Offering {
        Offering {
            id: id.unwrap_or_default().into(),
            class: class.unwrap_or_default().into(),
            duration_seconds: duration.map_or(0, i64::from),
            offering_type: offering_type.unwrap_or_default().into(),
            fixed_price: fixed_price.unwrap_or_default(),
            hourly: recurring.sum::<f64>() + usage_price.unwrap_or_default(),
        }
    }
}

impl Reservation {
    /// From the fields RDS and ElastiCache both describe a reservation with.
    fn new(
        id: Option<&str>,
        class: Option<&str>,
        count: Option<i32>,
        state: Option<&str>,
        start: Option<&aws_smithy_types::DateTime>,
        duration: Option<i32>,
    ) -> Reservation {
        Reservation {
            id: id.unwrap_or_default().into(),
            class: class.unwrap_or_default().into(),
            count: count.unwrap_or(1),
            state: state.unwrap_or_default().into(),
            ends: to_utc(start).map(|s| s + Duration::seconds(duration.map_or(0, i64::from))),
        }
    }

    /// Active and payment-pending ones cover; retired ones do not.
    fn covers(&self, now: DateTime<Utc>) -> bool {
        matches!(self.state.as_str(), "active" | "payment-pending")
            && self.ends.is_none_or(|e| e > now)
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct Line {
    pub engine: Engine,
    pub class: String,
    pub needed: i32,
    pub covered: i32,
    pub to_buy: i32,
    pub reservation_id: String,
    pub offering: Option<Offering>,
    pub held: Vec<Reservation>,
    pub on_demand_monthly: f64,
    pub after_monthly: f64,
    pub problem: Option<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Plan {
    pub profile: SizeProfile,
    pub lines: Vec<Line>,
    pub before_monthly: f64,
    pub after_monthly: f64,
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The plan for one target: pure.
pub fn plan_line(
    target: &Target,
    offerings: &[Offering],
    held: &[Reservation],
    on_demand_hourly: f64,
    hours_per_month: f64,
    now: DateTime<Utc>,
) -> Line {
    let id = reservation_id(target, now);
    let mine: Vec<Reservation> = held
        .iter()
        .filter(|r| r.class == target.class || r.id == id)
        .cloned()
        .collect();
    // Our own id in any state but retired means this run's purchase was
    // already made (perhaps by a run that failed afterwards).
    let covered: i32 = mine
        .iter()
        .filter(|r| r.covers(now) || (r.id == id && r.state != "retired"))
        .map(|r| r.count)
        .sum();
    let to_buy = (target.count - covered).max(0);
    let offering = offerings
        .iter()
        .filter(|o| {
            o.class == target.class
                && o.duration_seconds == ONE_YEAR_SECONDS
                && o.offering_type == OFFERING_TYPE
        })
        .min_by(|a, b| a.hourly.total_cmp(&b.hourly))
        .cloned();
    let on_demand = on_demand_hourly * hours_per_month * f64::from(target.count);
    let reserved_count = covered.min(target.count) + if offering.is_some() { to_buy } else { 0 };
    let reserved_hourly = offering.as_ref().map_or(on_demand_hourly, |o| {
        o.hourly + o.fixed_price / (ONE_YEAR_SECONDS as f64 / 3600.0)
    });
    let after = reserved_hourly * hours_per_month * f64::from(reserved_count)
        + on_demand_hourly * hours_per_month * f64::from(target.count - reserved_count);
    let problem = (to_buy > 0 && offering.is_none()).then(|| {
        format!(
            "no 1-year {OFFERING_TYPE} offering for {} in this region",
            target.class
        )
    });
    Line {
        engine: target.engine,
        class: target.class.clone(),
        needed: target.count,
        covered,
        to_buy,
        reservation_id: id,
        offering,
        held: mine,
        on_demand_monthly: round2(on_demand),
        after_monthly: round2(after),
        problem,
    }
}

/// The clients reservations need (built from the environment, or mocked in
/// tests: moto server implements none of these operations).
pub struct Clients {
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
}

impl Clients {
    pub async fn from_context(ctx: &Context) -> Result<Clients, CliError> {
        let sdk = crate::aws::sdk_config(ctx).await?;
        Ok(Clients {
            rds: aws_sdk_rds::Client::new(&sdk),
            elasticache: aws_sdk_elasticache::Client::new(&sdk),
        })
    }
}

fn to_utc(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

async fn rds_state(
    rds: &aws_sdk_rds::Client,
    class: &str,
) -> Result<(Vec<Offering>, Vec<Reservation>), CliError> {
    let offered = rds
        .describe_reserved_db_instances_offerings()
        .db_instance_class(class)
        .duration(ONE_YEAR_SECONDS.to_string())
        .offering_type(OFFERING_TYPE)
        .product_description("postgresql")
        .multi_az(false)
        .send()
        .await
        .map_err(|e| {
            failed(
                "RDS DescribeReservedDBInstancesOfferings failed",
                aws_sdk_rds::error::DisplayErrorContext(e),
            )
        })?;
    let offerings = offered
        .reserved_db_instances_offerings()
        .iter()
        .map(|o| {
            Offering::new(
                o.reserved_db_instances_offering_id(),
                o.db_instance_class(),
                o.duration(),
                o.offering_type(),
                o.fixed_price(),
                o.usage_price(),
                o.recurring_charges()
                    .iter()
                    .filter_map(|c| c.recurring_charge_amount()),
            )
        })
        .collect();
    let held = rds
        .describe_reserved_db_instances()
        .send()
        .await
        .map_err(|e| {
            failed(
                "RDS DescribeReservedDBInstances failed",
                aws_sdk_rds::error::DisplayErrorContext(e),
            )
        })?;
    let reservations = held
        .reserved_db_instances()
        .iter()
        .map(|r| {
            Reservation::new(
                r.reserved_db_instance_id(),
                r.db_instance_class(),
                r.db_instance_count(),
                r.state(),
                r.start_time(),
                r.duration(),
            )
        })
        .collect();
    Ok((offerings, reservations))
}

async fn cache_state(
    cache: &aws_sdk_elasticache::Client,
    class: &str,
) -> Result<(Vec<Offering>, Vec<Reservation>), CliError> {
    let offered = cache
        .describe_reserved_cache_nodes_offerings()
        .cache_node_type(class)
        .duration(ONE_YEAR_SECONDS.to_string())
        .offering_type(OFFERING_TYPE)
        .product_description("redis")
        .send()
        .await
        .map_err(|e| {
            failed(
                "ElastiCache DescribeReservedCacheNodesOfferings failed",
                aws_sdk_elasticache::error::DisplayErrorContext(e),
            )
        })?;
    let offerings = offered
        .reserved_cache_nodes_offerings()
        .iter()
        .map(|o| {
            Offering::new(
                o.reserved_cache_nodes_offering_id(),
                o.cache_node_type(),
                o.duration(),
                o.offering_type(),
                o.fixed_price(),
                o.usage_price(),
                o.recurring_charges()
                    .iter()
                    .filter_map(|c| c.recurring_charge_amount()),
            )
        })
        .collect();
    let held = cache
        .describe_reserved_cache_nodes()
        .send()
        .await
        .map_err(|e| {
            failed(
                "ElastiCache DescribeReservedCacheNodes failed",
                aws_sdk_elasticache::error::DisplayErrorContext(e),
            )
        })?;
    let reservations = held
        .reserved_cache_nodes()
        .iter()
        .map(|r| {
            Reservation::new(
                r.reserved_cache_node_id(),
                r.cache_node_type(),
                r.cache_node_count(),
                r.state(),
                r.start_time(),
                r.duration(),
            )
        })
        .collect();
    Ok((offerings, reservations))
}

/// Reads offerings and inventory and computes the plan.
pub async fn plan(
    clients: &Clients,
    profile: SizeProfile,
    now: DateTime<Utc>,
) -> Result<Plan, CliError> {
    let prices = Prices::load()?;
    let mut lines = Vec::new();
    for target in targets(profile) {
        let (offerings, held) = match target.engine {
            Engine::Rds => rds_state(&clients.rds, &target.class).await?,
            Engine::Elasticache => cache_state(&clients.elasticache, &target.class).await?,
        };
        let key = target.engine.price_key(&target.class);
        let hourly = prices.hourly(&key)?;
        lines.push(plan_line(
            &target,
            &offerings,
            &held,
            hourly,
            prices.hours_per_month,
            now,
        ));
    }
    let before = round2(lines.iter().map(|l| l.on_demand_monthly).sum());
    let after = round2(lines.iter().map(|l| l.after_monthly).sum());
    Ok(Plan {
        profile,
        lines,
        before_monthly: before,
        after_monthly: after,
    })
}

fn render(plan: &Plan) -> String {
    let rows: Vec<Vec<String>> = plan
        .lines
        .iter()
        .map(|l| {
            vec![
                format!("{:?}", l.engine).to_lowercase(),
                l.class.clone(),
                format!("{}/{}", l.covered.min(l.needed), l.needed),
                if l.to_buy > 0 {
                    format!("BUY {} as {}", l.to_buy, l.reservation_id)
                } else {
                    "covered".into()
                },
                l.offering
                    .as_ref()
                    .map_or("-".into(), |o| format!("{} (${}/h)", o.id, o.hourly)),
                format!("{:.2}", l.on_demand_monthly),
                format!("{:.2}", l.after_monthly),
                l.problem.clone().unwrap_or_default(),
            ]
        })
        .collect();
    format!(
        "{}monthly: ${:.2} on demand -> ${:.2} with the reservations\n",
        output::table(
            &[
                "ENGINE",
                "CLASS",
                "COVERED",
                "ACTION",
                "OFFERING",
                "ON-DEMAND $/MO",
                "RESERVED $/MO",
                "PROBLEM"
            ],
            &rows
        ),
        plan.before_monthly,
        plan.after_monthly
    )
}

/// The outcome of a purchase run.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Purchased {
    pub bought: Vec<String>,
    pub already_covered: Vec<String>,
}

/// Buys what `plan` is missing. Stops at the first failure; what was bought
/// before it is in the audit log and covered on the next run.
pub async fn purchase(
    ctx: &Context,
    clients: &Clients,
    args: &PurchaseArgs,
    now: DateTime<Utc>,
) -> Result<(Plan, Option<Purchased>), CliError> {
    let plan = plan(clients, args.plan.profile, now).await?;
    eprint!("{}", render(&plan));
    if let Some(p) = plan.lines.iter().find_map(|l| l.problem.clone()) {
        return Err(CliError::usage(
            format!("{p}; nothing was bought"),
            "check the region (--region) and the instance class in the footprint",
        ));
    }
    let buys: Vec<&Line> = plan.lines.iter().filter(|l| l.to_buy > 0).collect();
    let covered: Vec<String> = plan
        .lines
        .iter()
        .filter(|l| l.to_buy == 0)
        .map(|l| l.class.clone())
        .collect();
    let Some(applying) = Change::new(ctx, "reserved purchase", &args.execute).begin(
        "buying reserved capacity",
        &buys,
        buys.len(),
    )?
    else {
        // Nothing to buy is an outcome (everything covered); a dry run is not.
        let outcome = buys.is_empty().then_some(Purchased {
            bought: vec![],
            already_covered: covered,
        });
        return Ok((plan, outcome));
    };
    let mut bought = Vec::new();
    for line in buys {
        let Some(offering) = &line.offering else {
            continue;
        };
        let result = match line.engine {
            Engine::Rds => clients
                .rds
                .purchase_reserved_db_instances_offering()
                .reserved_db_instances_offering_id(&offering.id)
                .reserved_db_instance_id(&line.reservation_id)
                .db_instance_count(line.to_buy)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_sdk_rds::error::DisplayErrorContext(e).to_string()),
            Engine::Elasticache => clients
                .elasticache
                .purchase_reserved_cache_nodes_offering()
                .reserved_cache_nodes_offering_id(&offering.id)
                .reserved_cache_node_id(&line.reservation_id)
                .cache_node_count(line.to_buy)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_sdk_elasticache::error::DisplayErrorContext(e).to_string()),
        };
        match result {
            Ok(()) => {
                applying.progress(serde_json::json!({"action": "bought", "id": line.reservation_id, "class": line.class, "count": line.to_buy, "offering": offering.id}))?;
                bought.push(line.reservation_id.clone());
            }
            // Our id already taken: the purchase was made before.
            Err(e) if e.contains("AlreadyExists") => {
                applying.progress(
                    serde_json::json!({"action": "already-bought", "id": line.reservation_id}),
                )?;
            }
            Err(e) => {
                let message = format!(
                    "buying {} ({}) failed after buying {:?}; run the command again: what was bought is covered: {e}; check the AWS credentials and region",
                    line.reservation_id, line.class, bought
                );
                return Err(applying.failed(
                    serde_json::json!({"id": line.reservation_id, "error": e, "bought_before": bought}),
                    message,
                ));
            }
        }
    }
    applying.done(serde_json::json!({"bought": bought}))?;
    Ok((
        plan,
        Some(Purchased {
            bought,
            already_covered: covered,
        }),
    ))
}

/// Cost Explorer's Compute Savings Plan recommendation, and its effect.
#[derive(Serialize, Debug, Clone)]
pub struct SavingsPlanReport {
    pub term: &'static str,
    pub payment_option: &'static str,
    pub hourly_commitment: f64,
    pub current_on_demand_monthly: f64,
    pub estimated_monthly_savings: f64,
    pub estimated_savings_percent: f64,
    pub monthly_after: f64,
    /// The model's Fargate line for the chosen profile, for comparison.
    pub model_fargate_monthly: f64,
    pub model_discount_percent: f64,
}

fn num(v: Option<&str>) -> f64 {
    v.and_then(|s| s.parse().ok()).unwrap_or(0.0)
}

pub async fn savings_plan(
    ce: &aws_sdk_costexplorer::Client,
    model_fargate_monthly: f64,
    model_discount: f64,
) -> Result<SavingsPlanReport, CliError> {
    use aws_sdk_costexplorer::types::{
        LookbackPeriodInDays, PaymentOption, SupportedSavingsPlansType, TermInYears,
    };
    let answer = ce
        .get_savings_plans_purchase_recommendation()
        .savings_plans_type(SupportedSavingsPlansType::ComputeSp)
        .term_in_years(TermInYears::OneYear)
        .payment_option(PaymentOption::NoUpfront)
        .lookback_period_in_days(LookbackPeriodInDays::ThirtyDays)
        .send()
        .await
        .map_err(|e| {
            failed(
                "Cost Explorer GetSavingsPlansPurchaseRecommendation failed",
                aws_sdk_costexplorer::error::DisplayErrorContext(e),
            )
        })?;
    let summary = answer
        .savings_plans_purchase_recommendation()
        .and_then(|r| r.savings_plans_purchase_recommendation_summary())
        .ok_or_else(|| {
            CliError::Failed(anyhow::anyhow!(
                "Cost Explorer has no Savings Plans recommendation yet (it needs some days of usage); run again later"
            ))
        })?;
    let on_demand = num(summary.current_on_demand_spend());
    let savings = num(summary.estimated_monthly_savings_amount());
    Ok(SavingsPlanReport {
        term: "1 year",
        payment_option: "No Upfront",
        hourly_commitment: num(summary.hourly_commitment_to_purchase()),
        current_on_demand_monthly: on_demand,
        estimated_monthly_savings: savings,
        estimated_savings_percent: num(summary.estimated_savings_percentage()),
        monthly_after: round2(on_demand - savings),
        model_fargate_monthly,
        model_discount_percent: model_discount * 100.0,
    })
}

pub async fn exec(ctx: &Context, command: ReservedCommand) -> Result<ExitCode, CliError> {
    match command {
        ReservedCommand::Plan(args) => {
            let clients = Clients::from_context(ctx).await?;
            let plan = plan(&clients, args.profile, Utc::now()).await?;
            output::emit(ctx.output, &plan, || render(&plan));
            Ok(if plan.lines.iter().any(|l| l.to_buy > 0) {
                ExitCode::from(EXIT_PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
        ReservedCommand::Purchase(args) => {
            let clients = Clients::from_context(ctx).await?;
            let (_, outcome) = purchase(ctx, &clients, &args, Utc::now()).await?;
            if let Some(outcome) = outcome {
                output::emit(ctx.output, &outcome, || {
                    format!(
                        "bought: {}\nalready covered: {}\n",
                        if outcome.bought.is_empty() {
                            "nothing".into()
                        } else {
                            outcome.bought.join(", ")
                        },
                        outcome.already_covered.join(", ")
                    )
                });
            }
            Ok(ExitCode::SUCCESS)
        }
        ReservedCommand::SavingsPlan(args) => {
            let sdk = crate::aws::sdk_config(ctx).await?;
            let ce = aws_sdk_costexplorer::Client::new(&sdk);
            let prices = Prices::load()?;
            let model = crate::ops::cost::model(&prices, args.profile, false, 0.5)?;
            let fargate = model
                .rows
                .iter()
                .find(|r| r.item == "ECS Fargate")
                .map_or(0.0, |r| r.monthly);
            let discount = prices.discount("savings_plan_1y")?;
            let report = savings_plan(&ce, fargate, discount).await?;
            output::emit(ctx.output, &report, || render_savings(&report));
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn render_savings(r: &SavingsPlanReport) -> String {
    format!(
        "Compute Savings Plan ({}, {}): commit ${:.3}/hour\n\
         on-demand compute now     ${:.2}/month\n\
         estimated saving          ${:.2}/month ({:.1} %)\n\
         after the commitment      ${:.2}/month\n\
         the cost model assumes {:.0} % off Fargate's ${:.2}/month\n\
         buying a Savings Plan is done in the console or by the CI pipeline after review; opsctl only reads the recommendation\n",
        r.term,
        r.payment_option,
        r.hourly_commitment,
        r.current_on_demand_monthly,
        r.estimated_monthly_savings,
        r.estimated_savings_percent,
        r.monthly_after,
        r.model_discount_percent,
        r.model_fargate_monthly
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn offering(class: &str, hourly: f64) -> Offering {
        Offering {
            id: format!("off-{class}"),
            class: class.into(),
            duration_seconds: ONE_YEAR_SECONDS,
            offering_type: OFFERING_TYPE.into(),
            fixed_price: 0.0,
            hourly,
        }
    }

    #[test]
    fn ids_name_the_year_the_reservation_ends() {
        let now = at("2026-11-25T00:00:00Z");
        let t = &targets(SizeProfile::Mvp);
        assert_eq!(reservation_id(&t[0], now), "ticketing-rds-ri-2027");
        assert_eq!(reservation_id(&t[1], now), "ticketing-redis-ri-2027");
        let big = &targets(SizeProfile::Scale10x);
        assert_eq!(
            reservation_id(&big[0], now),
            "ticketing-rds-r5-large-ri-2027"
        );
        assert_eq!(big[0].count, 2);
    }

    #[test]
    fn active_reservations_cover_and_expired_or_retired_ones_do_not() {
        let now = at("2026-11-25T00:00:00Z");
        let t = &targets(SizeProfile::Mvp)[0];
        let offers = [offering("db.t3.micro", 0.01)];
        let fresh = plan_line(t, &offers, &[], 0.017, 730.0, now);
        assert_eq!((fresh.covered, fresh.to_buy), (0, 1));
        assert_eq!(fresh.on_demand_monthly, 12.41);
        assert_eq!(fresh.after_monthly, 7.3);
        let active = Reservation {
            id: "someone-elses".into(),
            class: "db.t3.micro".into(),
            count: 1,
            state: "active".into(),
            ends: Some(at("2027-06-01T00:00:00Z")),
        };
        assert_eq!(
            plan_line(t, &offers, std::slice::from_ref(&active), 0.017, 730.0, now).to_buy,
            0
        );
        let expired = Reservation {
            ends: Some(at("2026-01-01T00:00:00Z")),
            ..active.clone()
        };
        assert_eq!(
            plan_line(t, &offers, &[expired], 0.017, 730.0, now).to_buy,
            1
        );
        let retired = Reservation {
            state: "retired".into(),
            ..active.clone()
        };
        assert_eq!(
            plan_line(t, &offers, &[retired], 0.017, 730.0, now).to_buy,
            1
        );
        // Our own id, still being paid for, counts.
        let ours = Reservation {
            id: "ticketing-rds-ri-2027".into(),
            state: "payment-pending".into(),
            ends: None,
            ..active
        };
        assert_eq!(plan_line(t, &offers, &[ours], 0.017, 730.0, now).to_buy, 0);
        let no_offer = plan_line(t, &[], &[], 0.017, 730.0, now);
        assert!(no_offer.problem.is_some());
    }
}
