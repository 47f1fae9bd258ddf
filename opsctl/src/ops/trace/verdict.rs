//! The one line a trace ends with: where the booking is, and when it is
//! stuck, where and what to run. Pure: it reads what the trace found.

use chrono::{DateTime, Utc};
use serde::Serialize;
use ticketing_portone::PaymentStatus;

/// What the verdict reads.
pub struct Facts<'a> {
    pub now: DateTime<Utc>,
    /// How commands in the line start (`opsctl --env prod`): pasted, they
    /// land on the environment traced.
    pub opsctl: &'a str,
    /// The reservation's status (`PENDING`, `CONFIRMED`, `CANCELLED`), if
    /// it exists, and when its hold ends.
    pub reservation: Option<(&'a str, DateTime<Utc>)>,
    /// Each order: merchant_uid, status, imp_uid.
    pub orders: Vec<(&'a str, &'a str, Option<&'a str>)>,
    /// PortOne's payments: imp_uid, status, paid at (Unix s).
    pub portone: Vec<(&'a str, PaymentStatus, i64)>,
    /// The saga's events: type, created, sent, the groups that processed
    /// it, and the groups that dead-lettered it (with the letter's id).
    pub events: Vec<EventFacts<'a>>,
}

pub struct EventFacts<'a> {
    pub event_type: &'a str,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub processed_by: Vec<&'a str>,
    pub dead_letters: Vec<(&'a str, String)>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    /// Whether the booking is where it should be (no action needed).
    pub ok: bool,
    pub line: String,
}

fn ago(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let s = (now - then).num_seconds().max(0);
    if s < 120 {
        format!("{s} s")
    } else {
        format!("{} min", s / 60)
    }
}

fn stuck(line: String) -> Verdict {
    Verdict { ok: false, line }
}

fn fine(line: String) -> Verdict {
    Verdict { ok: true, line }
}

/// The verdict on one booking, its commands whole.
pub fn verdict(f: &Facts<'_>) -> Verdict {
    let mut v = judge(f);
    v.line = v.line.replace("`opsctl ", &format!("`{} ", f.opsctl));
    v
}

fn judge(f: &Facts<'_>) -> Verdict {
    let Some((status, expires_at)) = f.reservation else {
        return stuck(
            "no such reservation: check the id (a reservation, merchant_uid, imp_uid or event id)"
                .into(),
        );
    };
    // Dead letters first: whatever else, something was given up on.
    for e in &f.events {
        if let Some((group, letter)) = e.dead_letters.first() {
            if !e.processed_by.contains(group) {
                return stuck(format!(
                    "{} dead-lettered by {group} (letter {letter}): fix the cause, then `opsctl dlq replay {letter} --execute`",
                    e.event_type
                ));
            }
        }
    }
    let paid = f.portone.iter().find(|(_, s, _)| *s == PaymentStatus::Paid);
    let succeeded = f.events.iter().find(|e| e.event_type == "PaymentSucceeded");
    match (status, paid) {
        ("CONFIRMED", Some((imp, _, _))) => fine(format!("confirmed: paid at PortOne ({imp}) and ticketed")),
        ("CONFIRMED", None) => stuck("CONFIRMED, but PortOne has no paid payment for it: check `opsctl reservations reconcile --since 24h`".into()),
        (_, Some((imp, _, paid_at))) => {
            let paid_at = DateTime::from_timestamp(*paid_at, 0).unwrap_or(f.now);
            let order_paid = f
                .orders
                .iter()
                .any(|(_, s, i)| *s == "PAID" && *i == Some(*imp));
            if !order_paid {
                return stuck(format!(
                    "paid at PortOne ({imp}) {} ago, but no order records it: the webhook was lost; `opsctl reservations reconcile --older-than 1m --execute` re-announces it",
                    ago(f.now, paid_at)
                ));
            }
            match succeeded {
                None => stuck(format!(
                    "paid at PortOne ({imp}) and the order is PAID, but no PaymentSucceeded was written: see payment-service's log"
                )),
                Some(e) if e.sent_at.is_none() => stuck(format!(
                    "paid at PortOne ({imp}), PaymentSucceeded unsent for {}: outbox relay (`opsctl outbox status`, then `opsctl outbox replay --execute`)",
                    ago(f.now, e.created_at)
                )),
                Some(e) if !e.processed_by.iter().any(|g| g.ends_with("reservation-service")) => stuck(format!(
                    "paid at PortOne ({imp}), PaymentSucceeded published {} ago, reservation-service has not processed it: `opsctl kafka lag --group reservation-service`",
                    ago(f.now, e.sent_at.unwrap_or(e.created_at))
                )),
                Some(_) if status == "CANCELLED" => stuck(format!(
                    "paid at PortOne ({imp}) but the reservation is CANCELLED and the payment not refunded: `opsctl reservations reconcile --since 24h --execute`"
                )),
                Some(_) => stuck(format!(
                    "paid at PortOne ({imp}), PaymentSucceeded processed, but the reservation is {status}: see reservation-service's log"
                )),
            }
        }
        ("CANCELLED", None) => {
            let refunded = f.portone.iter().any(|(_, s, _)| *s == PaymentStatus::Cancelled);
            fine(if refunded {
                "cancelled; the payment was refunded".into()
            } else {
                "cancelled; nothing was paid".into()
            })
        }
        (_, None) if expires_at > f.now => fine(format!(
            "held, not paid; the hold ends in {}",
            ago(expires_at, f.now)
        )),
        (s, None) => stuck(format!(
            "{s} past its hold's end {} ago and not paid: the expiry sweep should have cancelled it; see reservation-service's log",
            ago(f.now, expires_at)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(t: &'a str, sent: bool, by: Vec<&'a str>) -> EventFacts<'a> {
        EventFacts {
            event_type: t,
            created_at: Utc::now() - chrono::Duration::minutes(4),
            sent_at: sent.then(Utc::now),
            processed_by: by,
            dead_letters: Vec::new(),
        }
    }

    fn facts<'a>(
        status: &'a str,
        order: &'a str,
        portone: Option<PaymentStatus>,
        events: Vec<EventFacts<'a>>,
    ) -> Facts<'a> {
        Facts {
            now: Utc::now(),
            opsctl: "opsctl --env prod",
            reservation: Some((status, Utc::now() + chrono::Duration::minutes(3))),
            orders: vec![("m1", order, Some("imp_1"))],
            portone: portone
                .map(|s| ("imp_1", s, Utc::now().timestamp() - 300))
                .into_iter()
                .collect(),
            events,
        }
    }

    #[test]
    fn each_way_a_booking_sticks_names_where_and_what_to_run() {
        let confirmed = facts(
            "CONFIRMED",
            "PAID",
            Some(PaymentStatus::Paid),
            vec![event("PaymentSucceeded", true, vec!["reservation-service"])],
        );
        assert_eq!(
            verdict(&confirmed),
            fine("confirmed: paid at PortOne (imp_1) and ticketed".into())
        );

        let unsent = facts(
            "PENDING",
            "PAID",
            Some(PaymentStatus::Paid),
            vec![event("PaymentSucceeded", false, vec![])],
        );
        let v = verdict(&unsent);
        assert!(
            !v.ok
                && v.line
                    .contains("PaymentSucceeded unsent for 4 min: outbox relay"),
            "{}",
            v.line
        );

        let lost = facts("PENDING", "READY", Some(PaymentStatus::Paid), vec![]);
        let v = verdict(&lost);
        assert!(
            !v.ok && v.line.contains("webhook was lost") && v.line.contains("5 min ago"),
            "{}",
            v.line
        );

        let mut dead = event("PaymentSucceeded", true, vec![]);
        dead.dead_letters
            .push(("reservation-service", "0:7".into()));
        let v = verdict(&facts(
            "PENDING",
            "PAID",
            Some(PaymentStatus::Paid),
            vec![dead],
        ));
        assert!(
            !v.ok
                && v.line
                    .contains("`opsctl --env prod dlq replay 0:7 --execute`"),
            "{}",
            v.line
        );

        let unprocessed = facts(
            "PENDING",
            "PAID",
            Some(PaymentStatus::Paid),
            vec![event("PaymentSucceeded", true, vec!["payment-service"])],
        );
        assert!(verdict(&unprocessed).line.contains("kafka lag"));

        let held = facts("PENDING", "READY", None, vec![]);
        assert!(verdict(&held).ok && verdict(&held).line.starts_with("held, not paid"));
        let refunded = facts(
            "CANCELLED",
            "REFUNDED",
            Some(PaymentStatus::Cancelled),
            vec![],
        );
        assert_eq!(
            verdict(&refunded).line,
            "cancelled; the payment was refunded"
        );
    }
}
