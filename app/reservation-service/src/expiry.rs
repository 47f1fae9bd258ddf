//! The expiry sweep: cancels holds past their time, a batch per sweep, and
//! frees their seats' Redis markers.

use std::time::Duration;

use sqlx::PgPool;
use ticketing_events::ReservationExpired;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::locks::SeatLocks;
use crate::repository;

/// Holds ended per sweep at most.
const BATCH: i64 = 100;

/// Sweeps every `every` until `shutdown`.
pub(crate) async fn expiry_loop(
    db: PgPool,
    locks: SeatLocks,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
        match expire_batch(&db).await {
            Ok(expired) => {
                for hold in expired {
                    locks
                        .release(hold.performance, &hold.seats, hold.reservation)
                        .await;
                    metrics::counter!("reservations.expired").increment(1);
                }
            }
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed; retrying"),
        }
    }
}

/// A hold the sweep ended.
struct Expired {
    reservation: Uuid,
    performance: Uuid,
    seats: Vec<Uuid>,
}

/// Ends up to [`BATCH`] expired holds and writes `ReservationExpired` for
/// each, in one transaction.
async fn expire_batch(db: &PgPool) -> Result<Vec<Expired>, anyhow::Error> {
    let mut tx = db.begin().await?;
    let due = repository::lock_expired(&mut tx, BATCH).await?;
    let mut expired = Vec::new();
    for reservation in due {
        if let Some((performance, seats)) =
            repository::end_hold(&mut tx, reservation, "expired").await?
        {
            let event = ReservationExpired {
                reservation_id: reservation,
                performance_id: performance,
                seat_ids: seats.clone(),
            };
            ticketing_messaging::append(&mut tx, &event).await?;
            expired.push(Expired {
                reservation,
                performance,
                seats,
            });
        }
    }
    tx.commit().await?;
    Ok(expired)
}
