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
        /// When to ask again: the server paces the polling, as a CDN's
        /// waiting room does with its refresh interval. A customer is told
        /// to come back when their round is due (the estimated wait), a
        /// customer far back in a 100,000-strong queue every few tens of
        /// seconds until then.
        refresh_after_seconds: u64,
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

/// How the admission is paced: `per_interval` customers every
/// `interval_ms`, and the longest a waiting customer is told to wait before
/// asking again.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub per_interval: u32,
    pub interval_ms: u64,
    pub refresh_max_seconds: u64,
}

impl Pace {
    /// `per_interval` (the rate in force, `controls::effective`) with the
    /// interval and the refresh bound of `settings`.
    pub fn of(per_interval: u32, settings: &ticketing_config::BookingSettings) -> Pace {
        Pace {
            per_interval,
            interval_ms: settings.queue_admit_interval_ms,
            refresh_max_seconds: settings.queue_refresh_max_seconds,
        }
    }
}

/// The standing of a customer with `rank` customers ahead (`-1`: not
/// waiting) at `pace`: their position, the wait until the round that
/// admits them (rounded up to whole seconds), and when to ask again.
pub fn waiting_at(rank: i64, pace: Pace) -> Option<QueueStatus> {
    let ahead = u64::try_from(rank).ok()?;
    let per_interval = u64::from(pace.per_interval.max(1));
    let rounds = ahead / per_interval + 1;
    let wait = rounds.saturating_mul(pace.interval_ms).div_ceil(1000);
    Some(QueueStatus::Waiting {
        position: ahead + 1,
        ahead,
        estimated_wait_seconds: wait,
        refresh_after_seconds: refresh_after(wait, pace.refresh_max_seconds),
    })
}

/// The estimated wait, at least a second and at most `max_seconds`.
///
/// The wait is rounded up to the end of the round that admits the
/// customer, so asking then finds them admitted: one answer where halving
/// the wait took several (at 1,000 admitted a second, the front 3,000 of
/// the queue asked every second, and most were told to wait). If the rate
/// is lowered or paused meanwhile, the answer is a new estimate; if it is
/// raised, they are admitted sooner and learn it within the bound, which is
/// below the admission token's lifetime, so the admission waits for them.
pub fn refresh_after(wait_seconds: u64, max_seconds: u64) -> u64 {
    wait_seconds.clamp(1, max_seconds.max(1))
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

    fn pace(per_interval: u32, interval_ms: u64) -> Pace {
        Pace {
            per_interval,
            interval_ms,
            refresh_max_seconds: 20,
        }
    }

    #[test]
    fn the_wait_counts_the_rounds_until_ones_turn() {
        // 100 admitted per second: the first 100 go in the next round.
        assert_eq!(wait(waiting_at(0, pace(100, 1000))), Some((1, 1)));
        assert_eq!(wait(waiting_at(99, pace(100, 1000))), Some((100, 1)));
        assert_eq!(wait(waiting_at(100, pace(100, 1000))), Some((101, 2)));
        // Sub-second rounds round up to whole seconds.
        assert_eq!(wait(waiting_at(0, pace(7, 10))), Some((1, 1)));
        // Not waiting.
        assert_eq!(waiting_at(-1, pace(100, 1000)), None);
        // A zero admission rate is read as one, never a division by zero.
        assert_eq!(wait(waiting_at(4, pace(0, 1000))), Some((5, 5)));
    }

    #[test]
    fn the_far_end_of_the_queue_is_told_to_ask_rarely_the_front_every_second() {
        let refresh = |rank| match waiting_at(rank, pace(100, 100)) {
            Some(QueueStatus::Waiting {
                refresh_after_seconds,
                ..
            }) => refresh_after_seconds,
            other => panic!("not waiting: {other:?}"),
        };
        // 1,000 admitted a second: the next thousand ask again in a second.
        assert_eq!(refresh(0), 1);
        assert_eq!(refresh(999), 1);
        // Ten seconds out: in ten, when their round is due.
        assert_eq!(refresh(9_999), 10);
        // A hundred seconds out: at the bound, never more.
        assert_eq!(refresh(99_999), 20);
        assert_eq!(
            refresh_after(1_000, 0),
            1,
            "a zero bound reads as one second"
        );
    }

    #[test]
    fn asking_again_when_told_finds_the_round_that_admits_one_passed() {
        // Rounds of 100 every 100 ms (1,000 a second) and of 7 every 330 ms:
        // within the bound, the refresh is never earlier than the end of
        // the customer's round, so the next answer is the admission.
        for pace in [pace(100, 100), pace(7, 330)] {
            for rank in [0_i64, 1, 99, 100, 999, 1_000, 4_321, 12_345] {
                let Some(QueueStatus::Waiting {
                    estimated_wait_seconds,
                    refresh_after_seconds,
                    ..
                }) = waiting_at(rank, pace)
                else {
                    panic!("rank {rank} is waiting");
                };
                let ahead = u64::try_from(rank).unwrap_or(0);
                let due_ms = (ahead / u64::from(pace.per_interval) + 1) * pace.interval_ms;
                if estimated_wait_seconds <= pace.refresh_max_seconds {
                    assert!(
                        refresh_after_seconds * 1000 >= due_ms,
                        "rank {rank}: asked again after {refresh_after_seconds} s, due after {due_ms} ms"
                    );
                } else {
                    assert_eq!(refresh_after_seconds, pace.refresh_max_seconds);
                }
            }
        }
    }
}
