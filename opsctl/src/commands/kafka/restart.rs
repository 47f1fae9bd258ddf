//! `opsctl kafka restart`: restart the broker (SSM in AWS, the configured
//! command locally) and wait until it answers (`ops::kafka_restart`).

use std::process::ExitCode;
use std::time::Duration;

use super::RestartArgs;
use crate::context::Context;
use crate::driver;
use crate::error::OpsError;
use crate::ops::kafka_restart::Restart;

pub async fn restart(ctx: &Context, args: RestartArgs) -> Result<ExitCode, OpsError> {
    let restart = Restart::plan(ctx, Duration::from_secs(args.timeout))?;
    driver::run(ctx, &restart, &args.execute).await
}
