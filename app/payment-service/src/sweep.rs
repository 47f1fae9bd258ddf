//! Orders whose webhook never came: the customer may have paid and the
//! notice been lost. Orders still READY a while after they were prepared
//! are looked up at PortOne by `merchant_uid` and settled exactly as the
//! webhook would have settled them (`routes::judge`), before their hold
//! ends. One not paid (yet) is looked at again after the same while.

use std::time::Duration;

use ticketing_portone::{PaymentStatus, PortOneError};
use tokio_util::sync::CancellationToken;

use crate::repository;
use crate::routes::judge;
use crate::AppState;

/// Orders looked up per sweep at most.
const BATCH: i64 = 50;

/// Sweeps every `every` until `shutdown`.
pub(crate) async fn sweep_loop(
    state: AppState,
    after_seconds: i64,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
        if let Err(e) = sweep(&state, after_seconds).await {
            tracing::warn!(error = %e, "the sweep of orders without a webhook failed; retrying");
        }
    }
}

async fn sweep(state: &AppState, after_seconds: i64) -> Result<(), String> {
    let waiting = repository::unsettled(&state.db, after_seconds, BATCH)
        .await
        .map_err(|e| format!("database: {e}"))?;
    for merchant_uid in waiting {
        match state.portone.find_by_merchant_uid(&merchant_uid).await {
            Ok(payment) if payment.status != PaymentStatus::Ready => {
                let imp_uid = payment.imp_uid.clone();
                match judge(state, payment).await {
                    Ok(outcome) => {
                        tracing::warn!(%merchant_uid, %imp_uid, outcome, "settled an order whose webhook never came")
                    }
                    Err(e) => {
                        tracing::warn!(%merchant_uid, error = ?e, "an order without a webhook could not be settled; next sweep")
                    }
                }
            }
            Ok(_) | Err(PortOneError::NotFound { .. }) => {}
            Err(e) => return Err(format!("PortOne: {e}")),
        }
        repository::mark_checked(&state.db, &merchant_uid)
            .await
            .map_err(|e| format!("database: {e}"))?;
    }
    Ok(())
}
