//! Orders whose webhook never came: the customer may have paid and the
//! notice been lost. Orders still READY a while after they were prepared
//! are looked up at PortOne by `merchant_uid` and settled exactly as the
//! webhook would have settled them (`settle::judge`), before their hold
//! ends. One not paid (yet) is looked at again after the same while.

use std::time::Duration;

use ticketing_portone::{PaymentStatus, PortOneError};
use tokio_util::sync::CancellationToken;

use crate::repository;
use crate::settle::judge;
use crate::AppState;

/// Orders looked up per sweep at most.
const BATCH: i64 = 50;

/// How often, and how far back, the ledger is walked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LedgerWalk {
    pub every: Duration,
    pub window_seconds: i64,
}

/// Sweeps every `every`, and walks the ledger every `ledger.every`, until
/// `shutdown`.
/// An order READY longer than `hold_seconds` (and the check's wait) with
/// nothing paid has ended with its hold.
pub(crate) async fn sweep_loop(
    state: AppState,
    after_seconds: i64,
    hold_seconds: i64,
    every: Duration,
    ledger: LedgerWalk,
    shutdown: CancellationToken,
) {
    let mut walked = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(every.min(ledger.every)) => {}
        }
        if let Err(e) = sweep(&state, after_seconds, hold_seconds).await {
            tracing::warn!(error = %e, "the sweep of orders without a webhook failed; retrying");
        }
        if walked.elapsed() >= ledger.every {
            walked = tokio::time::Instant::now();
            match walk_ledger(&state, ledger.window_seconds).await {
                Ok(settled) if settled > 0 => {
                    tracing::warn!(settled, "the ledger walk settled payments nothing else had")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the ledger walk failed; next walk"),
            }
        }
    }
}

/// Walks PortOne's own list of paid payments started in the last
/// `window_seconds` and settles every one that names a reservation of ours
/// and that no order accounts for (the order READY, FAILED, settled by
/// another payment, or never prepared) exactly as its webhook would have
/// (`settle::judge`): a paid payment ends confirming its reservation or
/// refunded. The invariant, from PortOne's record of the money rather than
/// from our orders. Returns how many it settled.
pub(crate) async fn walk_ledger(state: &AppState, window_seconds: i64) -> Result<usize, String> {
    let to = chrono::Utc::now().timestamp();
    let paid = state
        .portone
        .payments_between(
            Some(PaymentStatus::Paid),
            to - window_seconds,
            to,
            repository::LEDGER_PAGES,
        )
        .await
        .map_err(|e| format!("PortOne: {e}"))?;
    let unaccounted = repository::unaccounted(&state.db, paid)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let mut settled = 0;
    for payment in unaccounted {
        let (merchant_uid, imp_uid) = (payment.merchant_uid.clone(), payment.imp_uid.clone());
        match judge(state, payment).await {
            Ok(outcome) => {
                settled += 1;
                tracing::warn!(%merchant_uid, %imp_uid, outcome, "settled a paid payment from PortOne's ledger");
            }
            Err(e) => {
                tracing::warn!(%merchant_uid, %imp_uid, error = ?e, "a paid payment from the ledger could not be settled; next walk")
            }
        }
    }
    Ok(settled)
}

/// One pass over the orders still READY: each is looked up at PortOne and
/// settled by what it finds; one with nothing paid whose hold has ended
/// (`hold_seconds` after the check's wait) is ended, so orders never paid
/// do not stay READY for ever, crowding the sweep.
async fn sweep(state: &AppState, after_seconds: i64, hold_seconds: i64) -> Result<(), String> {
    let waiting = repository::unsettled(&state.db, after_seconds, BATCH)
        .await
        .map_err(|e| format!("database: {e}"))?;
    for (merchant_uid, age) in waiting {
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
            Ok(_) | Err(PortOneError::NotFound { .. }) => {
                if age > hold_seconds + after_seconds {
                    let ended = repository::expire_unpaid(&state.db, &merchant_uid)
                        .await
                        .map_err(|e| format!("database: {e}"))?;
                    if ended {
                        tracing::info!(%merchant_uid, age, "an order never paid ended with its hold");
                    }
                }
            }
            Err(e) => return Err(format!("PortOne: {e}")),
        }
        repository::mark_checked(&state.db, &merchant_uid)
            .await
            .map_err(|e| format!("database: {e}"))?;
    }
    Ok(())
}
