//! Reserved capacity as RDS, ElastiCache and Cost Explorer have it: the
//! offerings and reservations found, the plan over them, and the Savings
//! Plan recommendation.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::plan::{
    plan_line, targets, Engine, Offering, Plan, Reservation, OFFERING_TYPE, ONE_YEAR_SECONDS,
};
use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::cost::round2;
use crate::ops::cost::Prices;
use crate::ops::profile::SizeProfile;

/// The clients reservations need (built from the environment, or mocked in
/// tests: moto server implements none of these operations).
pub struct Clients {
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
}

impl Clients {
    pub async fn from_context(ctx: &Environment) -> Result<Clients, OpsError> {
        let sdk = crate::aws::sdk_config(ctx).await?;
        Ok(Clients {
            rds: aws_sdk_rds::Client::new(&sdk),
            elasticache: aws_sdk_elasticache::Client::new(&sdk),
        })
    }
}

impl Clients {
    /// Buys `count` of `offering` under our own reservation id (a second
    /// purchase under it is refused with `...AlreadyExists`).
    pub async fn buy(
        &self,
        engine: crate::ops::reserved::plan::Engine,
        offering: &str,
        reservation_id: &str,
        count: i32,
    ) -> Result<(), String> {
        use crate::ops::reserved::plan::Engine;
        match engine {
            Engine::Rds => self
                .rds
                .purchase_reserved_db_instances_offering()
                .reserved_db_instances_offering_id(offering)
                .reserved_db_instance_id(reservation_id)
                .db_instance_count(count)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws::sdk_error(&e).to_string()),
            Engine::Elasticache => self
                .elasticache
                .purchase_reserved_cache_nodes_offering()
                .reserved_cache_nodes_offering_id(offering)
                .reserved_cache_node_id(reservation_id)
                .cache_node_count(count)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws::sdk_error(&e).to_string()),
        }
    }
}

pub async fn rds_state(
    rds: &aws_sdk_rds::Client,
    class: &str,
) -> Result<(Vec<Offering>, Vec<Reservation>), OpsError> {
    let offered = rds
        .describe_reserved_db_instances_offerings()
        .db_instance_class(class)
        .duration(ONE_YEAR_SECONDS.to_string())
        .offering_type(OFFERING_TYPE)
        .product_description(Engine::Rds.product())
        .multi_az(false)
        .send()
        .await
        .map_err(crate::aws::call(
            "RDS DescribeReservedDBInstancesOfferings failed",
        ))?;
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
            .of(o.product_description(), o.multi_az())
        })
        .collect();
    let held = rds
        .describe_reserved_db_instances()
        .send()
        .await
        .map_err(crate::aws::call("RDS DescribeReservedDBInstances failed"))?;
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
            .of(r.product_description(), r.multi_az())
        })
        .collect();
    Ok((offerings, reservations))
}

pub async fn cache_state(
    cache: &aws_sdk_elasticache::Client,
    class: &str,
) -> Result<(Vec<Offering>, Vec<Reservation>), OpsError> {
    let offered = cache
        .describe_reserved_cache_nodes_offerings()
        .cache_node_type(class)
        .duration(ONE_YEAR_SECONDS.to_string())
        .offering_type(OFFERING_TYPE)
        .product_description(Engine::Elasticache.product())
        .send()
        .await
        .map_err(crate::aws::call(
            "ElastiCache DescribeReservedCacheNodesOfferings failed",
        ))?;
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
            .of(o.product_description(), None)
        })
        .collect();
    let held = cache
        .describe_reserved_cache_nodes()
        .send()
        .await
        .map_err(crate::aws::call(
            "ElastiCache DescribeReservedCacheNodes failed",
        ))?;
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
            .of(r.product_description(), None)
        })
        .collect();
    Ok((offerings, reservations))
}

/// Reads offerings and inventory and computes the plan.
pub async fn plan(
    clients: &Clients,
    profile: SizeProfile,
    now: DateTime<Utc>,
) -> Result<Plan, OpsError> {
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

/// The outcome of a purchase run.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Purchased {
    pub bought: Vec<String>,
    pub already_covered: Vec<String>,
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

pub fn num(v: Option<&str>) -> f64 {
    v.and_then(|s| s.parse().ok()).unwrap_or(0.0)
}

pub async fn savings_plan(
    ce: &aws_sdk_costexplorer::Client,
    model_fargate_monthly: f64,
    model_discount: f64,
) -> Result<SavingsPlanReport, OpsError> {
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
        .map_err(crate::aws::call(
            "Cost Explorer GetSavingsPlansPurchaseRecommendation failed",
        ))?;
    let summary = answer
        .savings_plans_purchase_recommendation()
        .and_then(|r| r.savings_plans_purchase_recommendation_summary())
        .ok_or_else(|| {
            OpsError::Failed(anyhow::anyhow!(
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

/// A Cost Explorer client. Its one endpoint is in us-east-1
/// (`https://ce.us-east-1.amazonaws.com`: "Using the AWS Cost Explorer
/// API", AWS Cost Management User Guide), whatever the environment's Region.
pub async fn cost_explorer(ctx: &Environment) -> Result<aws_sdk_costexplorer::Client, OpsError> {
    let region = ticketing_catalog::alarms::BILLING_REGION;
    let sdk = crate::aws::sdk_config_in(ctx, region).await?;
    Ok(aws_sdk_costexplorer::Client::new(&sdk))
}

/// Cost Explorer's Savings Plan recommendation, against the model's
/// Fargate row for `profile`.
pub async fn savings_plan_for(
    ctx: &Environment,
    prices: &Prices,
    profile: SizeProfile,
) -> Result<SavingsPlanReport, OpsError> {
    let fargate = crate::ops::cost::model(prices, profile, false, 0.5)?
        .rows
        .iter()
        .find(|r| r.item == "ECS Fargate")
        .map_or(0.0, |r| r.monthly);
    let discount = prices.savings_plan_off_for(profile)?.fraction;
    savings_plan(&cost_explorer(ctx).await?, fargate, discount).await
}

/// The reservation discounts this Region's offerings give the profile's
/// database and cache classes, and the Savings Plan's share off Fargate
/// that Cost Explorer recommends for this account's usage; the notes say
/// where the price file's rates stay.
pub async fn offering_discounts(
    ctx: &Environment,
    prices: &Prices,
    profile: SizeProfile,
) -> Result<(crate::ops::cost::Discounts, Vec<String>), OpsError> {
    use super::plan::{offering_discount, Engine};
    let clients = Clients::from_context(ctx).await?;
    let plan = plan(&clients, profile, Utc::now()).await?;
    let mut out = crate::ops::cost::Discounts::default();
    for line in &plan.lines {
        let hourly = prices.hourly(&line.engine.price_key(&line.class))?;
        let found = offering_discount(line, hourly);
        match line.engine {
            Engine::Rds => out.rds = found,
            Engine::Elasticache => out.cache = found,
        }
    }
    // None for an account without some days of usage.
    let mut notes = Vec::new();
    match savings_plan_for(ctx, prices, profile).await {
        Ok(report) if report.estimated_savings_percent > 0.0 => {
            out.fargate = Some((
                "Cost Explorer's Compute Savings Plan recommendation (1 year, No Upfront)".into(),
                report.estimated_savings_percent / 100.0,
            ));
        }
        Ok(_) => notes.push("Cost Explorer recommends no Savings Plan yet: the price file's Savings Plan rates stay for Fargate".to_owned()),
        Err(e) => notes.push(format!("no Savings Plan rate from Cost Explorer ({e}): the price file's Savings Plan rates stay for Fargate")),
    }
    Ok((out, notes))
}
