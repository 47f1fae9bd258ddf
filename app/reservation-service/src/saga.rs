//! The reservation's part of the saga: payment outcomes confirm or cancel a
//! reservation, and a payment that cannot be kept asks for a refund. Each
//! change and its event commit in the consumer's transaction (outbox), and
//! the consumer skips events it has already applied.

use sqlx::{PgConnection, PgPool};
use ticketing_events::{
    Envelope, Event, PaymentFailed, PaymentRefunded, PaymentSucceeded, RefundRequested,
    ReservationCancelled, ReservationConfirmed,
};
use ticketing_messaging::consumer::{Handler, HandlerError};

use crate::admissions::Admissions;
use crate::domain::{on_payment, PaymentOutcome};
use crate::locks::SeatLocks;
use crate::repository;

/// Applies payment outcomes to reservations.
pub(crate) struct PaymentOutcomes {
    pub db: PgPool,
    pub locks: SeatLocks,
    pub admissions: Admissions,
}

fn transient(e: sqlx::Error) -> HandlerError {
    HandlerError::Transient(format!("database: {e}"))
}

impl PaymentOutcomes {
    async fn paid(
        &self,
        tx: &mut PgConnection,
        paid: PaymentSucceeded,
    ) -> Result<(), HandlerError> {
        let Some(found) = repository::lock_payable(tx, paid.reservation_id)
            .await
            .map_err(transient)?
        else {
            return Err(HandlerError::Permanent(format!(
                "payment for unknown reservation {}",
                paid.reservation_id
            )));
        };
        match on_payment(found.status, found.amount, paid.amount) {
            PaymentOutcome::Confirm => {
                let seats = repository::confirm(tx, paid.reservation_id, &paid.imp_uid)
                    .await
                    .map_err(transient)?;
                let event = ReservationConfirmed {
                    reservation_id: paid.reservation_id,
                    performance_id: found.performance,
                    seat_ids: seats,
                };
                append_in(tx, &event).await?;
                metrics::counter!("reservations.confirmed").increment(1);
            }
            PaymentOutcome::AlreadyConfirmed => {
                tracing::info!(reservation = %paid.reservation_id, "already confirmed");
            }
            PaymentOutcome::Refund { reason } => {
                let event = RefundRequested {
                    reservation_id: paid.reservation_id,
                    merchant_uid: paid.merchant_uid,
                    imp_uid: paid.imp_uid,
                    amount: paid.amount,
                    reason,
                };
                append_in(tx, &event).await?;
            }
        }
        Ok(())
    }

    async fn failed(
        &self,
        tx: &mut PgConnection,
        failed: PaymentFailed,
    ) -> Result<(), HandlerError> {
        let reason = format!("payment failed: {}", failed.reason);
        let ended = repository::end_hold(tx, failed.reservation_id, &reason)
            .await
            .map_err(transient)?;
        if let Some((performance, seats)) = ended {
            let event = ReservationCancelled {
                reservation_id: failed.reservation_id,
                performance_id: performance,
                seat_ids: seats,
                reason: format!("payment failed: {}", failed.error_code),
            };
            append_in(tx, &event).await?;
        }
        Ok(())
    }
}

impl PaymentOutcomes {
    /// The payment that confirmed a reservation refunded (a refund at
    /// PortOne): the reservation is cancelled and its seats are free. A
    /// refund of any other payment (a second payment for a confirmed
    /// order, one to a reservation that had already ended, one after
    /// expiry) leaves the reservation as it is: a confirmed ticket stands,
    /// and an ended reservation has the refund written on it, so the
    /// customer sees why the money came back.
    async fn refunded(
        &self,
        tx: &mut PgConnection,
        refunded: PaymentRefunded,
    ) -> Result<(), HandlerError> {
        let reason = format!("payment refunded: {}", refunded.reason);
        let ended =
            repository::end_confirmed(tx, refunded.reservation_id, &refunded.imp_uid, &reason)
                .await
                .map_err(transient)?;
        if ended.is_none() {
            repository::note_on_cancelled(tx, refunded.reservation_id, &reason)
                .await
                .map_err(transient)?;
        }
        if let Some((performance, seats)) = ended {
            let event = ReservationCancelled {
                reservation_id: refunded.reservation_id,
                performance_id: performance,
                seat_ids: seats,
                reason,
            };
            append_in(tx, &event).await?;
        }
        Ok(())
    }
}

impl Handler for PaymentOutcomes {
    fn supports(&self, event_type: &str) -> Option<u32> {
        [
            PaymentSucceeded::EVENT_TYPE,
            PaymentFailed::EVENT_TYPE,
            PaymentRefunded::EVENT_TYPE,
        ]
        .contains(&event_type)
        .then_some(1)
    }

    async fn handle(&self, tx: &mut PgConnection, envelope: &Envelope) -> Result<(), HandlerError> {
        let bad = |e: ticketing_events::EventError| HandlerError::Permanent(e.to_string());
        match envelope.event_type.as_str() {
            PaymentSucceeded::EVENT_TYPE => self.paid(tx, envelope.decode().map_err(bad)?).await,
            PaymentFailed::EVENT_TYPE => self.failed(tx, envelope.decode().map_err(bad)?).await,
            PaymentRefunded::EVENT_TYPE => self.refunded(tx, envelope.decode().map_err(bad)?).await,
            _ => Ok(()),
        }
    }

    async fn after_commit(&self, envelope: &Envelope) {
        // Redis is told only once the change is committed (never of an
        // outcome a failed transaction took back).
        let reservation = match envelope.event_type.as_str() {
            PaymentSucceeded::EVENT_TYPE => envelope
                .decode::<PaymentSucceeded>()
                .map(|e| e.reservation_id),
            PaymentFailed::EVENT_TYPE => {
                envelope.decode::<PaymentFailed>().map(|e| e.reservation_id)
            }
            _ => return,
        };
        let Ok(reservation) = reservation else {
            return;
        };
        if envelope.event_type == PaymentFailed::EVENT_TYPE {
            // Seats of a cancelled hold are free again: drop their markers.
            if let Ok(Some((performance, seats))) =
                repository::seats_of(&self.db, reservation).await
            {
                self.locks.release(performance, &seats, reservation).await;
            }
        }
        // A hold that ended (paid or cancelled) frees its admission: its
        // owner may queue for the performance again. Compare-and-delete:
        // a later order's mark is left alone, so a repeat is harmless.
        match repository::ended_hold_owner(&self.db, reservation).await {
            Ok(Some((performance, user))) => {
                self.admissions.ended(performance, user, reservation).await
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%reservation, error = %e, "the ended hold stays in the queue until its expiry")
            }
        }
    }
}

async fn append_in<E: Event>(tx: &mut PgConnection, event: &E) -> Result<(), HandlerError> {
    let envelope = Envelope::new(event).map_err(|e| HandlerError::Permanent(e.to_string()))?;
    ticketing_messaging::outbox::append_envelope(tx, E::TOPIC, &envelope)
        .await
        .map_err(|e| HandlerError::Transient(format!("outbox: {e}")))
}
