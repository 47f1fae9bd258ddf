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
        let changed = repository::set_seats(tx, &seats, reservation, status)
            .await
            .map_err(|e| HandlerError::Transient(format!("updating seats: {e}")))?;
        if changed < seats.len() as u64 {
            // Detected, not silent: a newer reservation owns these seats
            // (this event arrived late), or the seats are unknown here.
            tracing::warn!(
                %reservation,
                ?status,
                wanted = seats.len(),
                changed,
                "seat event applied to fewer seats than it names: a newer reservation holds the rest"
            );
        }
        Ok(())
    }

    async fn after_commit(&self, envelope: &Envelope) {
        if let Ok(Some(change)) = seat_change(envelope) {
            self.cache.invalidate(change.performance).await;
        }
    }
}

/// On the local stack (`infra/local/test.sh` runs `on_the_stack` modules
/// after starting it).
#[cfg(test)]
mod on_the_stack {
    use sqlx::PgPool;
    use ticketing_testkit::TestEnv;
    use uuid::Uuid;

    use crate::domain::SeatStatus;
    use crate::repository::set_seats;

    /// (reservation, the state its event sets)
    type SeatEvent = (Uuid, SeatStatus);

    async fn seat(db: &PgPool) -> Uuid {
        let performance = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO performances (id, title, venue, starts_at) VALUES ($1, 't', 'v', now())",
        )
        .bind(performance)
        .execute(db)
        .await
        .expect("performance");
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO seats (id, performance_id, section, row_label, number, price) VALUES ($1, $2, 'A', '1', 1, 1000)",
        )
        .bind(id)
        .bind(performance)
        .execute(db)
        .await
        .expect("seat");
        id
    }

    fn orders(events: &[SeatEvent]) -> Vec<Vec<SeatEvent>> {
        if events.len() <= 1 {
            return vec![events.to_vec()];
        }
        let mut out = Vec::new();
        for i in 0..events.len() {
            let mut rest = events.to_vec();
            let first = rest.remove(i);
            for mut tail in orders(&rest) {
                tail.insert(0, first);
                out.push(tail);
            }
        }
        out
    }

    /// Reservation A held the seat and let it go; B then held and bought
    /// it. Each reservation's own events stay in order (one Kafka key); the
    /// two reservations' events interleave in every possible way. The seat
    /// always ends SOLD to B, as the reservation table says.
    #[tokio::test]
    async fn a_seat_follows_its_newest_reservation_whatever_the_order() {
        let env = TestEnv::new().await;
        let db = env.pool(Some("event_service"));
        ticketing_db::migrate(
            &db,
            &env.settings.database,
            "event_service",
            &crate::MIGRATOR,
            std::time::Duration::from_secs(30),
        )
        .await
        .expect("migrations");
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert!(a < b, "UUIDv7 ids are time-ordered");
        let a_events = [(a, SeatStatus::Held), (a, SeatStatus::Available)];
        let b_events = [(b, SeatStatus::Held), (b, SeatStatus::Sold)];
        let all: Vec<SeatEvent> = a_events.iter().chain(&b_events).copied().collect();
        let mut tried = 0;
        for order in orders(&all) {
            // Keep each reservation's own order.
            let pos = |e: &SeatEvent| order.iter().position(|x| x == e).expect("in");
            if pos(&a_events[0]) > pos(&a_events[1]) || pos(&b_events[0]) > pos(&b_events[1]) {
                continue;
            }
            tried += 1;
            let id = seat(&db).await;
            for (reservation, status) in &order {
                let mut tx = db.begin().await.expect("tx");
                set_seats(&mut tx, &[id], *reservation, *status)
                    .await
                    .expect("set");
                tx.commit().await.expect("commit");
            }
            let (status, owner): (SeatStatus, Option<Uuid>) =
                sqlx::query_as("SELECT status, reservation_id FROM seats WHERE id = $1")
                    .bind(id)
                    .fetch_one(&db)
                    .await
                    .expect("seat");
            assert_eq!(
                (status, owner),
                (SeatStatus::Sold, Some(b)),
                "order {order:?}"
            );
        }
        assert_eq!(tried, 6, "every interleaving of two ordered pairs");
        env.cleanup().await;
    }
}
