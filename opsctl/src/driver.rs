//! The driver of every [`Operation`]: prints the plan (on stderr, so
//! stdout keeps the one document), records it, stops on an empty plan or a
//! dry run, confirms in prod, takes the change lock, applies the changes in
//! order (the first failure stops the rest and is recorded), and prints
//! the result (`{"changed": n}` or the operation's summary).

use std::process::ExitCode;

use crate::change::{self, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::OpsError;
use crate::ops::operation::Operation;

/// Runs an observed operation through the change envelope.
pub async fn drive<O: Operation>(
    ctx: &Context,
    op: &O,
    execute: &ExecuteArgs,
) -> Result<ExitCode, OpsError> {
    eprint!("{}", op.render());
    let changes = op.changes();
    let Some(applying) =
        Change::new(ctx, op.command(), execute).begin(&op.doing(), &changes, changes.len())?
    else {
        return Ok(change::unchanged(ctx.output));
    };
    for (done, item) in changes.iter().enumerate() {
        if let Err(error) = op.apply(item).await {
            return Err(applying.failed(
                serde_json::json!({"change": item, "error": error, "done_before": done}),
                O::failure(item, &error),
            ));
        }
        if let Some((detail, line)) = O::applied(item) {
            applying.progress(detail)?;
            eprintln!("{line}");
        }
    }
    applying.finish(ctx.output, changes.len(), op.summary(changes.len()))
}
