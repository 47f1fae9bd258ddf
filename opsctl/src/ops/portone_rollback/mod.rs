//! What `portone rollback` finds before it changes anything: where the
//! payment service runs, the revision it runs, and the last known-good one
//! to restore; the report both procedures print (`report.rs`) and the
//! procedures themselves (`runbook.rs`).

pub mod report;
pub mod runbook;

use aws_sdk_ecs::types::DeploymentRolloutState;
use ticketing_catalog::portone as names;

use crate::aws::failed;
use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::ecs::{choose, describe, revisions, Choice};
use crate::ops::portone::{payment_service, read_keys, PaymentService};

/// What was asked for.
pub struct Request {
    /// A revision to restore instead of the last known-good one.
    pub to_revision: Option<i32>,
    /// Also switch to the test keys (read before anything is touched).
    pub test_keys: bool,
    /// Guard sales (checked before anything is touched).
    pub guard_sales: bool,
}

/// What a rollback acts on, as found before anything changes.
pub struct Target {
    pub ecs: aws_sdk_ecs::Client,
    pub sm: aws_sdk_secretsmanager::Client,
    pub env: &'static str,
    pub cluster: String,
    pub host: ticketing_catalog::ecs::EcsService,
    /// The task definition running now.
    pub from: String,
    pub choice: Choice,
    /// The test keys, read before anything is touched (`--test-keys`).
    pub test_keys: Option<String>,
}

/// Reads the payment service's revisions and picks the one to restore.
pub async fn observe(ctx: &Environment, args: &Request) -> Result<Target, OpsError> {
    let PaymentService {
        env,
        ecs,
        sm,
        cluster,
        host,
    } = payment_service(ctx).await?;
    let family = host.family(env);
    let service = describe(&ecs, &cluster, host.name()).await?;
    let from = service.task_definition().unwrap_or_default().to_owned();
    let current = crate::ops::ecs::revision_of(&from).ok_or_else(|| {
        failed(
            "reading the running task definition",
            format!("`{from}` has no revision"),
        )
    })?;
    let failed_deployments: Vec<i32> = service
        .deployments()
        .iter()
        .filter(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed))
        .filter_map(|d| crate::ops::ecs::revision_of(d.task_definition()?))
        .collect();
    let all = revisions(&ecs, &family).await?;
    let choice = choose(&all, current, &failed_deployments, args.to_revision).map_err(|e| {
        OpsError::usage(
            format!("{family}: {e}; nothing was changed"),
            "name a revision with --to-revision N after checking it, or tag a good one ticketing:rollout=COMPLETED",
        )
    })?;
    if args.guard_sales {
        crate::ops::guard::check(ctx)?;
    }
    // Check the keys before touching anything.
    let test_keys = match args.test_keys {
        true => Some(read_keys(&sm, &names::test_keys_secret_name(env), "test").await?),
        false => None,
    };
    Ok(Target {
        ecs,
        sm,
        env,
        cluster,
        host,
        from,
        choice,
        test_keys,
    })
}
