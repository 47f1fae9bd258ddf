//! Seat states follow the reservation events (held, sold, released); each
//! change drops the performance's cached seat map after commit.

use sqlx::PgConnection;
use ticketing_events::{
    Envelope, Event, ReservationCancelled, ReservationConfirmed, ReservationCreated,
    ReservationExpired, SeatsReleased,
};
use ticketing_messaging::consumer::{Handler, HandlerError};
use uuid::Uuid;

use crate::cache::SeatMapCache;
use crate::domain::SeatStatus;
use crate::repository;

/// Keeps seat states in step with reservation events.
pub(crate) struct SeatStates {
    pub cache: SeatMapCache,
}

/// What a reservation event does to seats.
struct SeatChange {
    performance: Uuid,
    seats: Vec<Uuid>,
    reservation: Uuid,
    status: SeatStatus,
}

/// The performance and seats an event is about, and the state it sets.
fn seat_change(envelope: &Envelope) -> Result<Option<SeatChange>, HandlerError> {
    let bad = |e: ticketing_events::EventError| HandlerError::Permanent(e.to_string());
    let (performance, seats, reservation, status) = match envelope.event_type.as_str() {
        ReservationCreated::EVENT_TYPE => {
            let e: ReservationCreated = envelope.decode().map_err(bad)?;
            (
                e.performance_id,
                e.seat_ids,
                e.reservation_id,
                SeatStatus::Held,
            )
        }
        ReservationConfirmed::EVENT_TYPE => {
            let e: ReservationConfirmed = envelope.decode().map_err(bad)?;
            (
                e.performance_id,
                e.seat_ids,
                e.reservation_id,
                SeatStatus::Sold,
            )
        }
        ReservationCancelled::EVENT_TYPE => {
            let e: ReservationCancelled = envelope.decode().map_err(bad)?;
            (
                e.performance_id,
                e.seat_ids,
                e.reservation_id,
                SeatStatus::Available,
            )
        }
        ReservationExpired::EVENT_TYPE => {
            let e: ReservationExpired = envelope.decode().map_err(bad)?;
            (
                e.performance_id,
                e.seat_ids,
                e.reservation_id,
                SeatStatus::Available,
            )
        }
        SeatsReleased::EVENT_TYPE => {
            let e: SeatsReleased = envelope.decode().map_err(bad)?;
            (
                e.performance_id,
                e.seat_ids,
                e.reservation_id,
                SeatStatus::Available,
            )
        }
        _ => return Ok(None),
    };
    Ok(Some(SeatChange {
        performance,
        seats,
        reservation,
        status,
    }))
}

impl Handler for SeatStates {
    fn supports(&self, event_type: &str) -> Option<u32> {
        [
            ReservationCreated::EVENT_TYPE,
            ReservationConfirmed::EVENT_TYPE,
            ReservationCancelled::EVENT_TYPE,
            ReservationExpired::EVENT_TYPE,
            SeatsReleased::EVENT_TYPE,
        ]
        .contains(&event_type)
        .then_some(1)
    }

    async fn handle(&self, tx: &mut PgConnection, envelope: &Envelope) -> Result<(), HandlerError> {
        let Some(SeatChange {
            seats,
            reservation,
            status,
            ..
        }) = seat_change(envelope)?
        else {
            return Ok(());
        };
        repository::set_seats(tx, &seats, reservation, status)
            .await
            .map_err(|e| HandlerError::Transient(format!("updating seats: {e}")))?;
        Ok(())
    }

    async fn after_commit(&self, envelope: &Envelope) {
        if let Ok(Some(change)) = seat_change(envelope) {
            self.cache.invalidate(change.performance).await;
        }
    }
}
