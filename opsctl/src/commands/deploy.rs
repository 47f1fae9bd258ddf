//! `opsctl deploy [SERVICE...] --image REF`: the deploy pipeline's
//! command. Pushes the image to the environment's ECR repository (once),
//! then for each service in the catalog's order (the payment service last)
//! registers the next revision of its task definition with only the image
//! changed (by digest), updates the service with the circuit breaker on,
//! waits until it is stable and tags the revision `ticketing:rollout=
//! COMPLETED`, or `FAILED` when the circuit breaker rolled it back or the
//! wait timed out. The first service that does not deploy stops the rest.
//!
//! Output: a progress line per service for people; with `--output json`,
//! one document on stdout (the `plan` of a dry run, or the `result`, which
//! holds the plan) and the progress as JSON lines on stderr (`plan`,
//! `pushed`, `registered`, `waiting`, `finished`) for CI's log. Exit 0 when every service is
//! stable, 1 when a rollout failed (tagged FAILED), 3 when the push or an
//! AWS call failed.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ticketing_catalog::ServiceName;

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::OpsError;
use crate::ops::deploy::runbook::Deploy;
use crate::ops::deploy::{observe, valid_tag, Request};

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The services to deploy (default: all six). They always go in the
    /// catalog's order, the payment service last.
    pub services: Vec<ServiceName>,
    /// The image to deploy, as skopeo reads it: a bare name is in the local
    /// image store buildah builds into (`ticketing:latest`); or give a
    /// transport (`oci-archive:PATH`, `docker://REF`, ...).
    #[arg(long)]
    pub image: String,
    /// The tag to push under (the task definitions name the digest, not
    /// the tag). Default: the image's revision label, else `deploy-<UTC time>`.
    #[arg(long, value_parser = parse_tag)]
    pub tag: Option<String>,
    /// How long to wait for each service to become stable, in seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Only push the image and print its reference by digest: the first
    /// deploy of an environment, before the compute layer exists, gives it
    /// as `infra deploy compute --param ImageUri=...`.
    #[arg(long, conflicts_with = "services")]
    pub push_only: bool,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

/// A tag as OCI registries accept it: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn parse_tag(s: &str) -> Result<String, String> {
    valid_tag(s).ok_or_else(|| {
        "a tag is 1-128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`".into()
    })
}

pub async fn exec(ctx: &Context, args: DeployArgs) -> Result<ExitCode, OpsError> {
    let request = Request {
        services: &args.services,
        image: &args.image,
        tag: args.tag.clone(),
        timeout_seconds: args.timeout,
        push_only: args.push_only,
    };
    let d = observe(ctx, request).await?;
    let deploy = Deploy::new(d, Duration::from_secs(args.timeout), args.push_only);
    driver::run(ctx, &deploy, &args.execute).await
}
