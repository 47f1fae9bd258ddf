//! `opsctl alarms plan|apply` against moto server's CloudWatch and SNS.
//! Billing alarms must live in us-east-1 (no other test in this crate uses
//! CloudWatch or SNS there); the payment and Kafka alarms go to a region of
//! this test's own.

use crate::common;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
use ticketing_catalog::alarms::{for_env, KAFKA_METRICS_MISSING_NAME, PAYMENT_FAILURE_RATE_NAME};

/// The environment opsctl runs in here (no `--env`): the local one.
const ENV: &str = "local";

const REGION: &str = "eu-north-1";
const BILLING: &str = "us-east-1";

async fn clean(region: &str) -> (aws_sdk_cloudwatch::Client, aws_sdk_sns::Client) {
    let sdk = common::moto_sdk(region).await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let names = vec![
        "ticketing-billing-alert-50".to_owned(),
        "ticketing-billing-critical-100".to_owned(),
        for_env(PAYMENT_FAILURE_RATE_NAME, ENV),
        for_env(KAFKA_METRICS_MISSING_NAME, ENV),
        for_env(ticketing_catalog::alarms::CONSUMER_LAG_NAME, ENV),
    ];
    cw.delete_alarms()
        .set_alarm_names(Some(names))
        .send()
        .await
        .expect("delete alarms");
    let topics = sns.list_topics().send().await.expect("topics");
    for t in topics.topics() {
        if let Some(arn) = t.topic_arn() {
            sns.delete_topic()
                .topic_arn(arn)
                .send()
                .await
                .expect("delete topic");
        }
    }
    (cw, sns)
}

async fn opsctl(args: &[&str], audit: &std::path::Path) -> common::Run {
    let audit = audit.display().to_string();
    common::opsctl(
        args,
        &[("OPSCTL_AUDIT_LOG", audit.as_str()), ("AWS_REGION", REGION)],
    )
    .await
}

#[tokio::test]
async fn alarms_are_planned_created_once_and_drift_is_shown_and_repaired() {
    let (billing_cw, billing_sns) = clean(BILLING).await;
    let (cw, sns) = clean(REGION).await;
    let audit = common::temp_audit_log("alarms");

    // Nothing exists: the plan lists every topic and alarm to create.
    let plan = opsctl(&["--output", "json", "alarms", "plan"], &audit).await;
    assert_eq!(
        plan.code, 1,
        "drift is a finding: {}{}",
        plan.stdout, plan.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).expect("json");
    let actions: Vec<(String, String, String)> = json["alarms"]
        .as_array()
        .expect("alarms")
        .iter()
        .map(|a| {
            (
                a["alarm"].as_str().unwrap_or_default().to_owned(),
                a["region"].as_str().unwrap_or_default().to_owned(),
                a["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(actions.contains(&(
        "ticketing-billing-alert-50".into(),
        BILLING.into(),
        "create".into()
    )));
    assert!(actions.contains(&(
        for_env(PAYMENT_FAILURE_RATE_NAME, ENV),
        REGION.into(),
        "create".into()
    )));
    assert_eq!(json["topics"].as_array().map(Vec::len), Some(4));

    // Without --execute nothing changes.
    let dry = opsctl(&["alarms", "apply"], &audit).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stderr.contains("dry run"), "{}", dry.stderr);
    let none = cw.describe_alarms().send().await.expect("describe");
    assert!(none.metric_alarms().is_empty());
    assert_eq!(
        common::audit_phases(&audit),
        ["planned"],
        "a dry run records only its plan"
    );

    let applied = opsctl(&["alarms", "apply", "--execute"], &audit).await;
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    // The billing alarms are the account's: a local apply leaves them out,
    // names the prod change that applies them, and refuses them alone.
    assert!(
        applied
            .stderr
            .contains("`opsctl --env prod alarms apply billing --execute`"),
        "{}",
        applied.stderr
    );
    let untouched = billing_cw.describe_alarms().send().await.expect("describe");
    assert!(
        untouched.metric_alarms().is_empty(),
        "no billing alarm from local"
    );
    let refused = opsctl(&["alarms", "apply", "billing", "--execute"], &audit).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("the AWS account's"),
        "{}",
        refused.stderr
    );
    // The prod change that applies them.
    let billing_in_prod = || {
        opsctl(
            &[
                "--env",
                "prod",
                "alarms",
                "apply",
                "billing",
                "--execute",
                "--yes",
            ],
            &audit,
        )
    };
    let account = billing_in_prod().await;
    assert_eq!(account.code, 0, "{}{}", account.stdout, account.stderr);

    // The billing alarms exactly as the design specifies, in us-east-1.
    let billing = billing_cw
        .describe_alarms()
        .alarm_names("ticketing-billing-alert-50")
        .send()
        .await
        .expect("describe");
    let warn = billing
        .metric_alarms()
        .first()
        .expect("billing alarm in us-east-1");
    assert_eq!(warn.namespace(), Some("AWS/Billing"));
    assert_eq!(warn.metric_name(), Some("EstimatedCharges"));
    assert_eq!(warn.statistic(), Some(&Statistic::Maximum));
    assert_eq!(warn.period(), Some(21_600));
    assert_eq!(warn.evaluation_periods(), Some(1));
    assert_eq!(warn.threshold(), Some(125.0));
    assert_eq!(
        warn.comparison_operator(),
        Some(&ComparisonOperator::GreaterThanThreshold)
    );
    assert_eq!(warn.dimensions()[0].value(), Some("USD"));
    assert!(
        warn.alarm_actions()[0].ends_with(":us-east-1:123456789012:billing-alerts")
            || warn.alarm_actions()[0].ends_with(":billing-alerts")
    );
    let topics = billing_sns.list_topics().send().await.expect("topics");
    assert_eq!(
        topics.topics().len(),
        2,
        "billing-alerts and billing-critical"
    );

    // The payment alarm is metric math over failures and successes.
    let payment = cw
        .describe_alarms()
        .alarm_names(for_env(PAYMENT_FAILURE_RATE_NAME, ENV))
        .send()
        .await
        .expect("describe");
    let rate = payment.metric_alarms().first().expect("payment alarm");
    let expressions: Vec<&str> = rate
        .metrics()
        .iter()
        .filter_map(|m| m.expression())
        .collect();
    assert_eq!(expressions, vec!["100 * failures / (failures + successes)"]);
    let inputs: Vec<&str> = rate
        .metrics()
        .iter()
        .filter_map(|m| m.metric_stat()?.metric()?.metric_name())
        .collect();
    assert_eq!(inputs, vec!["payment.failure", "payment.success"]);
    assert_eq!(
        (rate.threshold(), rate.evaluation_periods()),
        (Some(5.0), Some(2))
    );
    let kafka = cw
        .describe_alarms()
        .alarm_names(for_env(KAFKA_METRICS_MISSING_NAME, ENV))
        .send()
        .await
        .expect("describe");
    assert_eq!(
        kafka
            .metric_alarms()
            .first()
            .and_then(|a| a.treat_missing_data()),
        Some("breaching")
    );

    // Every alarm is right, but no topic has a confirmed subscriber: a
    // firing alarm would reach nobody, and the plan says so.
    let unheard = opsctl(&["--output", "json", "alarms", "plan"], &audit).await;
    assert_eq!(unheard.code, 1, "{}{}", unheard.stdout, unheard.stderr);
    assert!(
        unheard.stderr.contains("no confirmed subscriber on")
            && unheard.stderr.contains("payment-alerts-local"),
        "{}",
        unheard.stderr
    );
    for client in [&sns, &billing_sns] {
        for topic in client.list_topics().send().await.expect("topics").topics() {
            client
                .subscribe()
                .topic_arn(topic.topic_arn().unwrap_or_default())
                .protocol("email")
                .endpoint("oncall@example.com")
                .send()
                .await
                .expect("subscribe");
        }
    }

    // Idempotent: a second plan is clean and a second apply changes nothing.
    let clean_plan = opsctl(&["alarms", "plan"], &audit).await;
    assert_eq!(
        clean_plan.code, 0,
        "{}{}",
        clean_plan.stdout, clean_plan.stderr
    );
    let again = opsctl(
        &["--output", "json", "alarms", "apply", "--execute"],
        &audit,
    )
    .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to change"),
        "{}",
        again.stderr
    );

    // Someone edits the warning alarm: a higher threshold, no action.
    billing_cw
        .put_metric_alarm()
        .alarm_name("ticketing-billing-alert-50")
        .alarm_description(warn.alarm_description().unwrap_or_default())
        .namespace("AWS/Billing")
        .metric_name("EstimatedCharges")
        .statistic(Statistic::Maximum)
        .period(21_600)
        .evaluation_periods(1)
        .threshold(80.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("Currency")
                .value("USD")
                .build(),
        )
        .send()
        .await
        .expect("edit");
    let drift = opsctl(&["alarms", "plan", "billing"], &audit).await;
    assert_eq!(drift.code, 1, "{}", drift.stdout);
    assert!(
        drift.stdout.contains("threshold: 80 -> 125"),
        "{}",
        drift.stdout
    );
    assert!(
        drift.stdout.contains("actions:  -> billing-alerts"),
        "{}",
        drift.stdout
    );
    let repaired = billing_in_prod().await;
    assert_eq!(repaired.code, 0, "{}", repaired.stderr);
    let after = billing_cw
        .describe_alarms()
        .alarm_names("ticketing-billing-alert-50")
        .send()
        .await
        .expect("describe");
    assert_eq!(after.metric_alarms()[0].threshold(), Some(125.0));
    assert_eq!(
        after.metric_alarms()[0].alarm_actions().len(),
        1,
        "{:?}",
        after.metric_alarms()[0].alarm_actions()
    );

    let log = std::fs::read_to_string(&audit).expect("audit log");
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(
        entries.iter().filter(|e| e["phase"] == "done").count(),
        3,
        "three applies changed something (one local, two prod: billing): {log}"
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["phase"] == "done" && e["env"] == "prod")
            .count(),
        2,
        "the billing alarms' changes are prod's: {log}"
    );
}

#[tokio::test]
async fn billing_alarms_in_another_region_and_missing_credentials_are_refused() {
    let audit = common::temp_audit_log("alarms");
    let wrong = opsctl(
        &[
            "--region",
            "eu-west-1",
            "alarms",
            "apply",
            "billing",
            "--execute",
        ],
        &audit,
    )
    .await;
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("only in us-east-1"),
        "{}",
        wrong.stderr
    );

    let no_creds = common::opsctl(
        &["alarms", "plan"],
        &[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_REGION", REGION),
        ],
    )
    .await;
    assert_eq!(no_creds.code, 2, "{}{}", no_creds.stdout, no_creds.stderr);
    assert!(
        no_creds.stderr.contains("no AWS credentials"),
        "{}",
        no_creds.stderr
    );
    assert!(!audit.exists());
}

/// At 10x the metrics-missing alarm wants a sample a minute from each of the
/// three brokers, so one silent broker fires it: opsctl reads the size from
/// the environment's kafka stack (here a stand-in with only its
/// `SizeProfile`, made with CreateStack in a region of this test's own).
#[tokio::test]
async fn the_kafka_alarm_expects_every_broker_of_the_stack_s_size() {
    const SIZED: &str = "eu-south-2";
    let (cw, _) = clean(SIZED).await;
    let cfn = aws_sdk_cloudformation::Client::new(&common::moto_sdk(SIZED).await);
    let stack = format!("ticketing-{ENV}-kafka");
    let audit = common::temp_audit_log("alarms-size");
    let audit_path = audit.display().to_string();
    let applied_threshold = || async {
        let run = common::opsctl(
            &["alarms", "apply", "kafka", "--execute"],
            &[
                ("OPSCTL_AUDIT_LOG", audit_path.as_str()),
                ("AWS_REGION", SIZED),
            ],
        )
        .await;
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        cw.describe_alarms()
            .alarm_names(for_env(KAFKA_METRICS_MISSING_NAME, ENV))
            .send()
            .await
            .expect("describe")
            .metric_alarms()
            .first()
            .and_then(|a| a.threshold())
    };
    let _ = cfn.delete_stack().stack_name(&stack).send().await;
    assert_eq!(
        applied_threshold().await,
        Some(1.0),
        "no kafka stack: the MVP's one broker"
    );
    cfn.create_stack()
        .stack_name(&stack)
        .template_body(
            r#"{"Parameters": {"SizeProfile": {"Type": "String"}},
                "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}"#,
        )
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("SizeProfile")
                .parameter_value("scale-10x")
                .build(),
        )
        .send()
        .await
        .expect("the stand-in kafka stack");
    let threshold = applied_threshold().await;
    let _ = cfn.delete_stack().stack_name(&stack).send().await;
    clean(SIZED).await;
    assert_eq!(
        threshold,
        Some(3.0),
        "three brokers, three samples a minute"
    );
}
