//! A trace's facts as one list in time order. Pure.

use chrono::{DateTime, Utc};
use payment_service::repository::OrderRecord;
use reservation_service::repository::Reservation;
use serde::Serialize;
use ticketing_portone::Payment;

use super::TracedEvent;

#[derive(Debug, Serialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub source: String,
    pub what: String,
}

fn entry(at: DateTime<Utc>, source: &str, what: String) -> Entry {
    Entry {
        at,
        source: source.to_owned(),
        what,
    }
}

/// Every dated fact, in time order.
pub(super) fn timeline(
    reservation: Option<&Reservation>,
    orders: &[OrderRecord],
    events: &[TracedEvent],
    portone: &[Payment],
) -> Vec<Entry> {
    let mut out = Vec::new();
    if let Some(r) = reservation {
        out.push(entry(
            r.created_at,
            "reservation-service",
            format!(
                "held {} seat(s) for {}; the hold ends {}",
                r.seat_ids.len(),
                r.amount,
                r.expires_at.format("%H:%M:%S")
            ),
        ));
    }
    for o in orders {
        out.push(entry(
            o.created_at,
            "payment-service",
            format!("order {} prepared", o.merchant_uid),
        ));
        if o.updated_at > o.created_at {
            out.push(entry(
                o.updated_at,
                "payment-service",
                format!("order {} is {}", o.merchant_uid, o.status),
            ));
        }
    }
    for e in events {
        out.push(entry(
            e.row.created_at,
            &e.publisher,
            format!("{} written to the outbox", e.row.event_type),
        ));
        if let Some(sent) = e.row.sent_at {
            let at = match (e.partition, e.offset) {
                (Some(p), Some(o)) => format!("{}[{p}]@{o}", e.row.topic),
                _ => e.row.topic.clone(),
            };
            out.push(entry(
                sent,
                &e.publisher,
                format!("{} published to {at}", e.row.event_type),
            ));
        }
        for (group, at) in &e.processed {
            out.push(entry(*at, group, format!("{} processed", e.row.event_type)));
        }
    }
    for p in portone {
        for (at, what) in [
            (p.started_at, "started"),
            (p.paid_at, "paid"),
            (p.failed_at, "failed"),
            (p.cancelled_at, "cancelled"),
        ] {
            if let Some(at) = (at > 0).then(|| DateTime::from_timestamp(at, 0)).flatten() {
                out.push(entry(
                    at,
                    "portone",
                    format!(
                        "payment {} {what} ({} {})",
                        p.imp_uid,
                        p.amount,
                        p.status.as_str()
                    ),
                ));
            }
        }
    }
    out.sort_by_key(|e| e.at);
    out
}
