//! `opsctl reserved` with the AWS SDK's own test tooling (aws-smithy-mocks)
//! standing in for RDS, ElastiCache and Cost Explorer: moto server, our AWS
//! emulator, implements neither reserved offerings nor purchases nor Cost
//! Explorer recommendations. The stand-in keeps state (a purchase shows up
//! in the inventory), so "never twice" is tested through the real command
//! code, not assumed.

use std::sync::{Arc, Mutex};

use aws_sdk_elasticache::operation::describe_reserved_cache_nodes::DescribeReservedCacheNodesOutput;
use aws_sdk_elasticache::operation::describe_reserved_cache_nodes_offerings::DescribeReservedCacheNodesOfferingsOutput;
use aws_sdk_elasticache::operation::purchase_reserved_cache_nodes_offering::{
    PurchaseReservedCacheNodesOfferingError, PurchaseReservedCacheNodesOfferingOutput,
};
use aws_sdk_elasticache::types::error::{
    ReservedCacheNodeAlreadyExistsFault, ReservedCacheNodeQuotaExceededFault,
};
use aws_sdk_rds::operation::describe_reserved_db_instances::DescribeReservedDbInstancesOutput;
use aws_sdk_rds::operation::describe_reserved_db_instances_offerings::DescribeReservedDbInstancesOfferingsOutput;
use aws_sdk_rds::operation::purchase_reserved_db_instances_offering::{
    PurchaseReservedDBInstancesOfferingError, PurchaseReservedDbInstancesOfferingOutput,
};
use aws_sdk_rds::types::error::ReservedDbInstanceAlreadyExistsFault;
use aws_smithy_mocks::{mock, mock_client, MockResponse, Rule, RuleMode};
use chrono::{DateTime, Utc};
use opsctl::args::SizeProfile;
use opsctl::change::ExecuteArgs;
use opsctl::commands::reserved::{self, Clients, PlanArgs, PurchaseArgs};
use opsctl::context::Context;
use opsctl::context::{EnvArg, GlobalArgs};
use opsctl::output::OutputFormat;

/// One held reservation.
#[derive(Debug, Clone, PartialEq)]
struct HeldRes {
    id: String,
    class: String,
    count: i32,
    product: String,
    multi_az: bool,
    state: String,
}

impl HeldRes {
    fn new(id: &str, class: &str, count: i32, product: &str) -> HeldRes {
        HeldRes {
            id: id.into(),
            class: class.into(),
            count,
            product: product.into(),
            multi_az: false,
            state: "active".into(),
        }
    }
}

type Held = Arc<Mutex<Vec<HeldRes>>>;

/// An offering id that says what it is for: `kind|class|product|multi-az`.
fn offering_id(kind: &str, class: &str, product: &str, multi_az: bool) -> String {
    format!("{kind}|{class}|{product}|{multi_az}")
}

fn from_offering_id(id: &str) -> (String, String, bool) {
    let parts: Vec<&str> = id.split('|').collect();
    (parts[1].into(), parts[2].into(), parts[3] == "true")
}

#[derive(Default, Clone)]
struct FakeAws {
    rds: Held,
    cache: Held,
    /// The next ElastiCache purchase fails (a quota, say).
    cache_fails: Arc<Mutex<bool>>,
    /// ElastiCache offers nothing (as for T2 node types now).
    no_cache_offering: bool,
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn started() -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(now().timestamp())
}

impl FakeAws {
    fn rds_rules(&self) -> Vec<Rule> {
        // Like AWS's filter on "postgresql", the stand-in also answers with
        // Aurora PostgreSQL, and with Multi-AZ offerings, both cheaper here:
        // only the Single-AZ PostgreSQL one may be chosen.
        let offerings = mock!(aws_sdk_rds::Client::describe_reserved_db_instances_offerings)
            .then_compute_output(|req| {
                let class = req.db_instance_class().unwrap_or_default().to_owned();
                let offer = |product: &str, multi_az: bool, hourly: f64| {
                    aws_sdk_rds::types::ReservedDbInstancesOffering::builder()
                        .reserved_db_instances_offering_id(offering_id(
                            "rds", &class, product, multi_az,
                        ))
                        .db_instance_class(&class)
                        .duration(31_536_000)
                        .offering_type("No Upfront")
                        .product_description(product)
                        .multi_az(multi_az)
                        .fixed_price(0.0)
                        .usage_price(0.0)
                        .recurring_charges(
                            aws_sdk_rds::types::RecurringCharge::builder()
                                .recurring_charge_amount(hourly)
                                .recurring_charge_frequency("Hourly")
                                .build(),
                        )
                        .build()
                };
                DescribeReservedDbInstancesOfferingsOutput::builder()
                    .reserved_db_instances_offerings(offer("aurora-postgresql", false, 0.004))
                    .reserved_db_instances_offerings(offer("postgresql", true, 0.005))
                    .reserved_db_instances_offerings(offer("postgresql", false, 0.01))
                    .build()
            });
        let held = self.rds.clone();
        let inventory = mock!(aws_sdk_rds::Client::describe_reserved_db_instances)
            .then_compute_output(move |_| {
                let list = held.lock().expect("state").clone();
                DescribeReservedDbInstancesOutput::builder()
                    .set_reserved_db_instances(Some(
                        list.into_iter()
                            .map(|r| {
                                aws_sdk_rds::types::ReservedDbInstance::builder()
                                    .reserved_db_instance_id(r.id)
                                    .db_instance_class(r.class)
                                    .db_instance_count(r.count)
                                    .product_description(r.product)
                                    .multi_az(r.multi_az)
                                    .state(r.state)
                                    .start_time(started())
                                    .duration(31_536_000)
                                    .build()
                            })
                            .collect(),
                    ))
                    .build()
            });
        let held = self.rds.clone();
        let buy = mock!(aws_sdk_rds::Client::purchase_reserved_db_instances_offering)
            .then_compute_response(move |req| {
                let id = req.reserved_db_instance_id().unwrap_or_default().to_owned();
                let mut list = held.lock().expect("state");
                if list.iter().any(|r| r.id == id) {
                    return MockResponse::Error(
                        PurchaseReservedDBInstancesOfferingError::ReservedDbInstanceAlreadyExistsFault(
                            ReservedDbInstanceAlreadyExistsFault::builder().build(),
                        ),
                    );
                }
                let (class, product, multi_az) =
                    from_offering_id(req.reserved_db_instances_offering_id().unwrap_or_default());
                list.push(HeldRes {
                    multi_az,
                    state: "payment-pending".into(),
                    ..HeldRes::new(&id, &class, req.db_instance_count().unwrap_or(1), &product)
                });
                MockResponse::Output(PurchaseReservedDbInstancesOfferingOutput::builder().build())
            });
        vec![offerings, inventory, buy]
    }

    fn cache_rules(&self) -> Vec<Rule> {
        let none = self.no_cache_offering;
        let offerings = mock!(aws_sdk_elasticache::Client::describe_reserved_cache_nodes_offerings)
            .then_compute_output(move |req| {
                let class = req.cache_node_type().unwrap_or_default().to_owned();
                let offer = |product: &str, hourly: f64| {
                    aws_sdk_elasticache::types::ReservedCacheNodesOffering::builder()
                        .reserved_cache_nodes_offering_id(offering_id(
                            "cache", &class, product, false,
                        ))
                        .cache_node_type(&class)
                        .duration(31_536_000)
                        .offering_type("No Upfront")
                        .product_description(product)
                        .fixed_price(0.0)
                        .usage_price(0.0)
                        .recurring_charges(
                            aws_sdk_elasticache::types::RecurringCharge::builder()
                                .recurring_charge_amount(hourly)
                                .recurring_charge_frequency("Hourly")
                                .build(),
                        )
                        .build()
                };
                let out = DescribeReservedCacheNodesOfferingsOutput::builder();
                if none {
                    out.build()
                } else {
                    out.reserved_cache_nodes_offerings(offer("memcached", 0.005))
                        .reserved_cache_nodes_offerings(offer("redis", 0.011))
                        .build()
                }
            });
        let held = self.cache.clone();
        let inventory = mock!(aws_sdk_elasticache::Client::describe_reserved_cache_nodes)
            .then_compute_output(move |_| {
                let list = held.lock().expect("state").clone();
                DescribeReservedCacheNodesOutput::builder()
                    .set_reserved_cache_nodes(Some(
                        list.into_iter()
                            .map(|r| {
                                aws_sdk_elasticache::types::ReservedCacheNode::builder()
                                    .reserved_cache_node_id(r.id)
                                    .cache_node_type(r.class)
                                    .cache_node_count(r.count)
                                    .product_description(r.product)
                                    .state(r.state)
                                    .start_time(started())
                                    .duration(31_536_000)
                                    .build()
                            })
                            .collect(),
                    ))
                    .build()
            });
        let held = self.cache.clone();
        let fails = self.cache_fails.clone();
        let buy = mock!(aws_sdk_elasticache::Client::purchase_reserved_cache_nodes_offering)
            .then_compute_response(move |req| {
                if std::mem::take(&mut *fails.lock().expect("state")) {
                    return MockResponse::Error(
                        PurchaseReservedCacheNodesOfferingError::ReservedCacheNodeQuotaExceededFault(
                            ReservedCacheNodeQuotaExceededFault::builder()
                                .message("quota exceeded")
                                .build(),
                        ),
                    );
                }
                let id = req.reserved_cache_node_id().unwrap_or_default().to_owned();
                let mut list = held.lock().expect("state");
                if list.iter().any(|r| r.id == id) {
                    return MockResponse::Error(
                        PurchaseReservedCacheNodesOfferingError::ReservedCacheNodeAlreadyExistsFault(
                            ReservedCacheNodeAlreadyExistsFault::builder().build(),
                        ),
                    );
                }
                let (class, product, _) =
                    from_offering_id(req.reserved_cache_nodes_offering_id().unwrap_or_default());
                list.push(HeldRes::new(&id, &class, req.cache_node_count().unwrap_or(1), &product));
                MockResponse::Output(PurchaseReservedCacheNodesOfferingOutput::builder().build())
            });
        vec![offerings, inventory, buy]
    }

    fn clients(&self) -> Clients {
        let rds = self.rds_rules();
        let cache = self.cache_rules();
        Clients {
            rds: mock_client!(aws_sdk_rds, RuleMode::MatchAny, &rds),
            elasticache: mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, &cache),
        }
    }
}

/// Every test of this file writes to one audit log of its own run.
fn audit_file() -> &'static std::path::Path {
    static AUDIT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    AUDIT.get_or_init(|| {
        std::env::temp_dir().join(format!("reserved-{}.jsonl", uuid::Uuid::new_v4().simple()))
    })
}

fn context() -> Context {
    let mut ctx = Context::load(&GlobalArgs {
        env: EnvArg::Dev,
        region: Some("us-east-1".into()),
        output: OutputFormat::Json,
        // Other tests of this file buy in the same region's dev at once.
        lock_wait: std::time::Duration::from_secs(300),
        verbose: false,
    })
    .expect("dev settings");
    // The context carries the audit file and the credentials: nothing in
    // this test binary's process environment changes (other tests run in
    // the same process).
    ctx.audit_file = audit_file().to_path_buf();
    // dev's audit trail is in CloudWatch Logs: moto server's here (the
    // stand-ins above take only RDS and ElastiCache calls), with moto's
    // test credentials.
    ctx.settings.aws.endpoint_url = ticketing_config::load(ticketing_config::Profile::Local)
        .expect("local settings")
        .aws
        .endpoint_url;
    ctx.credentials = Some(aws_credential_types::Credentials::new(
        "testing", "testing", None, None, "moto",
    ));
    ctx
}

fn args(profile: SizeProfile, execute: bool) -> PurchaseArgs {
    PurchaseArgs {
        plan: PlanArgs { profile },
        execute: ExecuteArgs {
            execute,
            yes: false,
        },
    }
}

fn audit_lines(id: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(audit_file())
        .unwrap_or_default()
        .lines()
        // The id as a JSON string: `ticketing-rds-ri-2027` must not match
        // `ticketing-rds-ri-2027-2`.
        .filter(|l| l.contains(&format!("\"{id}\"")))
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[tokio::test]
async fn the_mvp_reservations_are_planned_bought_on_execute_and_never_twice() {
    let aws = FakeAws::default();
    let clients = aws.clients();
    let ctx = context();

    let plan = reserved::plan(&clients, SizeProfile::Mvp, now())
        .await
        .expect("plan");
    let ids: Vec<&str> = plan
        .lines
        .iter()
        .map(|l| l.reservation_id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec!["ticketing-rds-ri-2027", "ticketing-redis-ri-2027"]
    );
    assert!(plan.lines.iter().all(|l| l.to_buy == 1));
    // db.t3.micro (PostgreSQL): $0.018/h on demand -> $0.01/h reserved, x 730 h.
    assert_eq!(plan.lines[0].on_demand_monthly, 13.14);
    assert_eq!(plan.lines[0].after_monthly, 7.3);
    assert!(plan.after_monthly < plan.before_monthly);

    // Without --execute nothing is bought.
    let (_, outcome) = reserved::purchase(&ctx, &clients, &args(SizeProfile::Mvp, false), now())
        .await
        .expect("dry run");
    assert!(outcome.is_none());
    assert!(aws.rds.lock().expect("state").is_empty());
    let phases: Vec<String> = audit_lines("ticketing-rds-ri-2027")
        .iter()
        .filter_map(|e| e["phase"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(phases, ["planned"], "a dry run records only its plan");

    let (_, outcome) = reserved::purchase(&ctx, &clients, &args(SizeProfile::Mvp, true), now())
        .await
        .expect("purchase");
    let bought = outcome.expect("executed").bought;
    assert_eq!(
        bought,
        vec!["ticketing-rds-ri-2027", "ticketing-redis-ri-2027"]
    );
    let held = aws.rds.lock().expect("state").clone();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (
            held[0].id.as_str(),
            held[0].class.as_str(),
            held[0].count,
            held[0].product.as_str(),
            held[0].multi_az
        ),
        (
            "ticketing-rds-ri-2027",
            "db.t3.micro",
            1,
            "postgresql",
            false
        ),
        "the Single-AZ PostgreSQL offering, not Aurora's or a Multi-AZ one"
    );

    // Run again: covered, nothing bought, the inventory unchanged.
    let (plan, outcome) = reserved::purchase(&ctx, &clients, &args(SizeProfile::Mvp, true), now())
        .await
        .expect("second run");
    assert!(outcome.expect("ran").bought.is_empty());
    assert!(plan.lines.iter().all(|l| l.to_buy == 0 && l.covered == 1));
    assert_eq!(aws.rds.lock().expect("state").len(), 1);
    assert_eq!(aws.cache.lock().expect("state").len(), 1);
    let entries = audit_lines("ticketing-rds-ri-2027");
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["phase"] == "progress" && e["detail"]["action"] == "bought")
            .count(),
        1,
        "{entries:?}"
    );
}

#[tokio::test]
async fn a_run_repeated_after_a_partial_failure_buys_only_what_is_missing() {
    let aws = FakeAws::default();
    *aws.cache_fails.lock().expect("state") = true;
    let clients = aws.clients();
    let ctx = context();

    let err = reserved::purchase(&ctx, &clients, &args(SizeProfile::Scale10x, true), now())
        .await
        .expect_err("the cache purchase fails");
    let message = err.to_string();
    assert!(
        message.contains("ticketing-redis-r5-large-ri-2027")
            && message.contains("run the command again"),
        "{message}"
    );
    let held = aws.rds.lock().expect("state").clone();
    assert_eq!(
        held.iter()
            .map(|r| (r.id.as_str(), r.class.as_str(), r.count))
            .collect::<Vec<_>>(),
        vec![("ticketing-rds-r5-large-ri-2027", "db.r5.large", 2)]
    );
    assert!(aws.cache.lock().expect("state").is_empty());
    assert_eq!(
        audit_lines("ticketing-redis-r5-large-ri-2027")
            .iter()
            .filter(|e| e["phase"] == "failed")
            .count(),
        1
    );

    let (_, outcome) =
        reserved::purchase(&ctx, &clients, &args(SizeProfile::Scale10x, true), now())
            .await
            .expect("second run");
    assert_eq!(
        outcome.expect("ran").bought,
        vec!["ticketing-redis-r5-large-ri-2027"]
    );
    assert_eq!(
        aws.rds.lock().expect("state").len(),
        1,
        "the database was not bought twice"
    );
    assert_eq!(aws.cache.lock().expect("state")[0].count, 2);
    assert_eq!(aws.cache.lock().expect("state")[0].product, "redis");
}

#[tokio::test]
async fn other_engines_do_not_cover_and_a_class_without_offering_stops_only_its_line() {
    // Held: a MySQL and a Multi-AZ PostgreSQL reservation of our class, and
    // one of ours whose payment failed. None of them covers what we run.
    let aws = FakeAws {
        no_cache_offering: true,
        ..FakeAws::default()
    };
    aws.rds.lock().expect("state").extend([
        HeldRes::new("someone-mysql", "db.t3.micro", 1, "mysql"),
        HeldRes {
            multi_az: true,
            ..HeldRes::new("someone-multi-az", "db.t3.micro", 1, "postgresql")
        },
        HeldRes {
            state: "payment-failed".into(),
            ..HeldRes::new("ticketing-rds-ri-2028", "db.t3.micro", 1, "postgresql")
        },
    ]);
    let clients = aws.clients();
    let ctx = context();
    // A year later than the other tests (they share the audit log): ids end in 2028.
    let later = now() + chrono::Duration::days(365);
    let (plan, outcome) = reserved::purchase(&ctx, &clients, &args(SizeProfile::Mvp, true), later)
        .await
        .expect("the database is bought although the cache has no offering");
    let rds = &plan.lines[0];
    assert_eq!((rds.covered, rds.to_buy), (0, 1));
    let cache = &plan.lines[1];
    assert!(
        cache
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("no 1-year")),
        "{:?}",
        cache.problem
    );
    assert_eq!(
        outcome.expect("ran").bought,
        vec!["ticketing-rds-ri-2028-2"]
    );
    let held = aws.rds.lock().expect("state").clone();
    let bought = held
        .iter()
        .find(|r| r.id == "ticketing-rds-ri-2028-2")
        .expect("bought");
    assert_eq!(
        (bought.product.as_str(), bought.multi_az),
        ("postgresql", false)
    );
    assert!(aws.cache.lock().expect("state").is_empty());
}

#[tokio::test]
async fn the_savings_plan_recommendation_is_shown_with_its_effect() {
    use aws_sdk_costexplorer::operation::get_savings_plans_purchase_recommendation::GetSavingsPlansPurchaseRecommendationOutput;
    use aws_sdk_costexplorer::types::{
        SavingsPlansPurchaseRecommendation, SavingsPlansPurchaseRecommendationSummary,
    };
    let rule = mock!(aws_sdk_costexplorer::Client::get_savings_plans_purchase_recommendation)
        .match_requests(|req| {
            req.savings_plans_type().map(|t| t.as_str()) == Some("COMPUTE_SP")
                && req.term_in_years().map(|t| t.as_str()) == Some("ONE_YEAR")
                && req.payment_option().map(|t| t.as_str()) == Some("NO_UPFRONT")
        })
        .then_output(|| {
            GetSavingsPlansPurchaseRecommendationOutput::builder()
                .savings_plans_purchase_recommendation(
                    SavingsPlansPurchaseRecommendation::builder()
                        .savings_plans_purchase_recommendation_summary(
                            SavingsPlansPurchaseRecommendationSummary::builder()
                                .hourly_commitment_to_purchase("0.045")
                                .current_on_demand_spend("54.06")
                                .estimated_monthly_savings_amount("20.10")
                                .estimated_savings_percentage("37.2")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let ce = mock_client!(aws_sdk_costexplorer, [&rule]);
    let report = reserved::savings_plan(&ce, 54.06, 0.40)
        .await
        .expect("report");
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(report.hourly_commitment, 0.045);
    assert_eq!(report.monthly_after, 33.96);
    let text = reserved::render_savings(&report);
    assert!(
        text.contains("commit $0.045/hour") && text.contains("40 %"),
        "{text}"
    );

    // No recommendation yet: a clear message, not a zero.
    let empty = mock!(aws_sdk_costexplorer::Client::get_savings_plans_purchase_recommendation)
        .then_output(|| GetSavingsPlansPurchaseRecommendationOutput::builder().build());
    let ce = mock_client!(aws_sdk_costexplorer, [&empty]);
    let err = reserved::savings_plan(&ce, 54.06, 0.40)
        .await
        .expect_err("nothing to show");
    assert!(
        err.to_string().contains("no Savings Plans recommendation"),
        "{err}"
    );
}
