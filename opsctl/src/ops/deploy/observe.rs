//! What a deploy finds before it changes anything: the image to push, the
//! environment's repository and the services to roll, as a [`Plan`].

use ticketing_catalog::ecs as names;
use ticketing_catalog::ServiceName;

use super::{found, order, steps, Plan};
use crate::aws::aws_env;
use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::ecs::layout;
use crate::ops::image;

/// What was asked for: the command's options.
pub struct Request<'a> {
    pub services: &'a [ServiceName],
    pub image: &'a str,
    pub tag: Option<String>,
    pub timeout_seconds: u64,
    pub push_only: bool,
}

/// The environment a deploy acts on, and its plan.
pub struct Deployment {
    pub ecs: aws_sdk_ecs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub env: &'static str,
    pub repository: String,
    pub repository_uri: String,
    pub registry_url: Option<url::Url>,
    pub tag: String,
    pub plan: Plan,
}

/// Reads the image, the repository and the services (reads only).
pub async fn observe(ctx: &Environment, request: Request<'_>) -> Result<Deployment, OpsError> {
    let env = aws_env(ctx)?;
    let sdk = crate::aws::sdk_config(ctx).await?;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let cluster = names::cluster(env);
    let repository = names::image_repository(env);
    let repository_uri = image::repository_uri(&ecr, &repository).await?;
    let registry_url = ctx.settings.aws.registry_url.clone();
    let reference = image::source_reference(request.image);
    let (host, _) = image::registry_host(&repository_uri, registry_url.as_ref());
    // A rollback by digest reads the environment's own repository: with its
    // login (a read; nothing changes).
    let login = match image::in_registry(&reference, &host) {
        true => Some(image::registry(&ecr, &repository_uri, registry_url.as_ref()).await?),
        false => None,
    };
    let source = image::inspect(&reference, login.as_ref()).await?;
    let tag = request
        .tag
        .or_else(|| source.revision.clone().and_then(|r| valid_tag(&r)))
        .unwrap_or_else(|| format!("deploy-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let order = match request.push_only {
        true => vec![],
        false => order(request.services, layout(&ecs, &cluster).await?),
    };
    let found = found(&ecs, &cluster, &order).await?;
    let services = steps(&order, &found).map_err(|e| {
        OpsError::usage(
            format!("{e}; nothing was changed"),
            "check --env and --region, and that the compute layer is deployed",
        )
    })?;
    let plan = Plan {
        env: env.into(),
        cluster,
        source,
        destination: format!("{host}/{repository}:{tag}"),
        timeout_seconds: request.timeout_seconds,
        services,
    };
    Ok(Deployment {
        logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
        ecs,
        ecr,
        env,
        repository,
        repository_uri,
        registry_url,
        tag,
        plan,
    })
}

/// A tag as OCI registries accept it: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn valid_tag(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(['.', '-'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    ok.then(|| s.to_owned())
}
