//! `opsctl kafka reset-offsets`: move a stopped group's committed offsets,
//! saving the previous ones first (`ops::kafka_reset`).

use std::process::ExitCode;

use super::{ResetArgs, ResetTo};
use crate::context::Context;
use crate::driver;
use crate::error::OpsError;
use crate::ops::kafka_reset::{self, Reset};

pub async fn reset_offsets(ctx: &Context, args: ResetArgs) -> Result<ExitCode, OpsError> {
    let to = target(&args)?;
    let reset = Reset::observe(ctx, &args.group, to, args.save_to.clone()).await?;
    driver::run(ctx, &reset, &args.execute).await
}

/// Where the flags say the offsets go.
fn target(args: &ResetArgs) -> Result<kafka_reset::ResetTo, OpsError> {
    Ok(match (&args.from_file, args.to) {
        _ if args.from_audit => kafka_reset::ResetTo::Audit,
        (Some(path), _) => kafka_reset::ResetTo::File(path.clone()),
        (None, Some(ResetTo::Earliest)) => kafka_reset::ResetTo::Earliest,
        (None, Some(ResetTo::Latest)) => kafka_reset::ResetTo::Latest,
        (None, Some(ResetTo::Offset)) => {
            kafka_reset::ResetTo::Offset(args.offset.unwrap_or_default())
        }
        (None, Some(ResetTo::Datetime)) => {
            let raw = args.datetime.as_deref().unwrap_or_default();
            let at = chrono::DateTime::parse_from_rfc3339(raw)
                .map_err(|e| {
                    OpsError::usage(
                        format!("--datetime `{raw}` is not a time: {e}"),
                        "use RFC 3339, e.g. 2026-11-24T01:00:00Z",
                    )
                })?
                .with_timezone(&chrono::Utc);
            kafka_reset::ResetTo::Datetime(at)
        }
        (None, None) => {
            return Err(OpsError::usage(
                "nothing to reset to",
                "give --to or --from-file",
            ))
        }
    })
}
