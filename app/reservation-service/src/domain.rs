//! The reservation's domain: its states, the seats a hold may ask for, and
//! what a payment does to a reservation. Pure: no I/O, unit-tested here.

use serde::{Deserialize, Serialize};
use ticketing_money::Money;
use uuid::Uuid;

ticketing_db::text_enum! {
    /// Where a reservation is in its life: `PENDING` until paid (`CONFIRMED`)
    /// or ended (`CANCELLED`: expired, payment failed). The table's `CHECK`
    /// constraint holds the same three words (migration 0001).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "UPPERCASE")]
    pub enum ReservationStatus / UnknownStatus ("reservation status") {
        Pending = "PENDING",
        Confirmed = "CONFIRMED",
        Cancelled = "CANCELLED",
    }
}

/// The seats of a hold request: 1 to `max` different seats, sorted (every
/// hold takes its Redis markers in the same order). `None` when the request
/// is empty, too long or names a seat twice.
pub fn seats_to_hold(requested: &[Uuid], max: usize) -> Option<Vec<Uuid>> {
    let mut seats = requested.to_vec();
    seats.sort();
    seats.dedup();
    let valid = !seats.is_empty() && seats.len() <= max && seats.len() == requested.len();
    valid.then_some(seats)
}

/// What a `PaymentSucceeded` does to a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Pending and paid in full: confirm it.
    Confirm,
    /// Already confirmed (a redelivered event): nothing to do.
    AlreadyConfirmed,
    /// Not payable any more, or paid another amount: the money goes back.
    Refund { reason: String },
}

/// Decides what a payment of `paid` does to a reservation in `status` that
/// costs `due`.
pub fn on_payment(status: ReservationStatus, due: Money, paid: Money) -> PaymentOutcome {
    match status {
        ReservationStatus::Pending if paid == due => PaymentOutcome::Confirm,
        ReservationStatus::Pending => PaymentOutcome::Refund {
            reason: format!("paid {paid} but the reservation costs {due}"),
        },
        ReservationStatus::Confirmed => PaymentOutcome::AlreadyConfirmed,
        ReservationStatus::Cancelled => PaymentOutcome::Refund {
            reason: "payment arrived after the reservation was cancelled".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_words() {
        for status in ReservationStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{status}\""));
        }
        let unknown = "EXPIRED".parse::<ReservationStatus>();
        assert_eq!(unknown, Err(UnknownStatus("EXPIRED".into())));
        assert!("pending".parse::<ReservationStatus>().is_err());
    }

    #[test]
    fn holds_take_one_to_max_different_seats_in_order() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(seats_to_hold(&[c, a, b], 4), Some(vec![a, b, c]));
        assert_eq!(seats_to_hold(&[], 4), None);
        assert_eq!(seats_to_hold(&[a, a], 4), None);
        assert_eq!(seats_to_hold(&[a, b, c], 2), None);
    }

    #[test]
    fn a_payment_confirms_only_a_pending_reservation_paid_in_full() {
        let due = Money::won(132_000);
        use ReservationStatus::*;
        assert_eq!(on_payment(Pending, due, due), PaymentOutcome::Confirm);
        assert_eq!(
            on_payment(Confirmed, due, due),
            PaymentOutcome::AlreadyConfirmed
        );
        let short = on_payment(Pending, due, Money::won(1_000));
        assert_eq!(
            short,
            PaymentOutcome::Refund {
                reason: "paid 1,000 KRW but the reservation costs 132,000 KRW".into()
            }
        );
        assert!(matches!(
            on_payment(Cancelled, due, due),
            PaymentOutcome::Refund { reason } if reason.contains("after the reservation was cancelled")
        ));
    }
}
