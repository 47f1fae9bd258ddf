//! Where a customer stands in the waiting room. Pure: unit-tested here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum QueueStatus {
    Waiting {
        position: u64,
        ahead: u64,
        estimated_wait_seconds: u64,
    },
    Admitted {
        reservation_token: String,
        expires_at: DateTime<Utc>,
    },
    /// The customer's admission made an order whose hold is still open:
    /// no place in the queue and no fresh admission until it ends (paid,
    /// cancelled, or expired at `hold_expires_at`).
    Holding {
        reservation_id: Uuid,
        hold_expires_at: DateTime<Utc>,
    },
}

/// What the admitted key holds after its admission made an order (the
/// reservation service's mark, `ticketing_catalog::queue::held_value`): the
/// open hold, or `None` when `value` is not such a mark.
pub fn holding(value: &str) -> Option<QueueStatus> {
    let rest = value.strip_prefix(ticketing_catalog::queue::HELD_PREFIX)?;
    let (reservation, ms) = rest.split_once(':')?;
    Some(QueueStatus::Holding {
        reservation_id: Uuid::parse_str(reservation).ok()?,
        hold_expires_at: DateTime::from_timestamp_millis(ms.parse().ok()?)?,
    })
}

/// The standing of a customer with `rank` customers ahead (`-1`: not
/// waiting), when `per_interval` are admitted every `interval_ms`: their
/// position and the wait until the round that admits them, rounded up to
/// whole seconds.
pub fn waiting_at(rank: i64, per_interval: u32, interval_ms: u64) -> Option<QueueStatus> {
    let ahead = u64::try_from(rank).ok()?;
    let per_interval = u64::from(per_interval.max(1));
    let rounds = ahead / per_interval + 1;
    Some(QueueStatus::Waiting {
        position: ahead + 1,
        ahead,
        estimated_wait_seconds: rounds.saturating_mul(interval_ms).div_ceil(1000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(status: Option<QueueStatus>) -> Option<(u64, u64)> {
        match status? {
            QueueStatus::Waiting {
                position,
                estimated_wait_seconds,
                ..
            } => Some((position, estimated_wait_seconds)),
            QueueStatus::Admitted { .. } | QueueStatus::Holding { .. } => None,
        }
    }

    #[test]
    fn a_used_admission_reads_as_its_open_hold() {
        let reservation = Uuid::now_v7();
        let mark = ticketing_catalog::queue::held_value(reservation, 1_795_000_000_123);
        assert_eq!(
            holding(&mark),
            Some(QueueStatus::Holding {
                reservation_id: reservation,
                hold_expires_at: DateTime::from_timestamp_millis(1_795_000_000_123).expect("time"),
            })
        );
        assert_eq!(holding("qr_abc.def"), None);
        assert_eq!(holding("held:not-a-uuid:1"), None);
    }

    #[test]
    fn the_wait_counts_the_rounds_until_ones_turn() {
        // 100 admitted per second: the first 100 go in the next round.
        assert_eq!(wait(waiting_at(0, 100, 1000)), Some((1, 1)));
        assert_eq!(wait(waiting_at(99, 100, 1000)), Some((100, 1)));
        assert_eq!(wait(waiting_at(100, 100, 1000)), Some((101, 2)));
        // Sub-second rounds round up to whole seconds.
        assert_eq!(wait(waiting_at(0, 7, 10)), Some((1, 1)));
        // Not waiting.
        assert_eq!(waiting_at(-1, 100, 1000), None);
        // A zero admission rate is read as one, never a division by zero.
        assert_eq!(wait(waiting_at(4, 0, 1000)), Some((5, 5)));
    }
}
