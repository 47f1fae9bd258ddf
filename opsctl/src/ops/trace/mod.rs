//! One booking followed across every layer, for "I paid but my ticket is
//! not confirmed": the reservation and its orders (the services' own
//! repositories), each outbox row of the saga (sent or not, the messaging
//! crate), where each event sits in Kafka (topic, partition, offset),
//! which groups processed it and when, the dead letters it left, and
//! PortOne's record of each payment; then a verdict.

mod subject;
mod timeline;
pub mod verdict;

pub use subject::{resolve, Subject};
pub use timeline::Entry;

use chrono::{DateTime, Utc};
use payment_service::repository::OrderRecord;
use reservation_service::repository::Reservation;
use serde::Serialize;
use ticketing_catalog::ServiceName;
use ticketing_events::Envelope;
use ticketing_messaging::dead_letters::{self, LetterId};
use ticketing_messaging::outbox::OutboxRow;
use ticketing_portone::{Payment, PortOneError};
use uuid::Uuid;

use crate::environment::Environment;
use crate::error::OpsError;
use verdict::{EventFacts, Facts, Verdict};

#[derive(Debug, Serialize)]
pub struct TracedEvent {
    pub publisher: String,
    #[serde(flatten)]
    pub row: OutboxRow,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub processed: Vec<(String, DateTime<Utc>)>,
    pub dead_letters: Vec<(String, LetterId, String)>,
}

#[derive(Debug, Serialize)]
pub struct Trace {
    pub reservation_id: Uuid,
    pub reservation: Option<Reservation>,
    pub orders: Vec<OrderRecord>,
    pub portone: Vec<Payment>,
    /// Why PortOne was not asked, or did not answer.
    pub portone_error: Option<String>,
    /// Why Kafka could not be read (the events' places and the dead
    /// letters are then unknown).
    pub kafka_error: Option<String>,
    pub events: Vec<TracedEvent>,
    pub timeline: Vec<Entry>,
    pub verdict: Verdict,
}

pub(crate) fn db_error(what: &str) -> impl Fn(sqlx::Error) -> OpsError + '_ {
    move |e| {
        OpsError::Failed(anyhow::anyhow!(
            "reading {what} failed: {e}; is PostgreSQL up? (opsctl status)"
        ))
    }
}

/// Where event `row` sits in its topic: searched from shortly before it
/// was written, at most 1,000 records a partition.
async fn locate(ctx: &Environment, row: &OutboxRow) -> Result<Option<(i32, i64)>, OpsError> {
    let kafka = &ctx.settings.kafka;
    let topic = kafka.topic(&row.topic);
    let from = row.created_at - chrono::Duration::seconds(5);
    let unreachable = |e| crate::ops::kafka::unreachable(ctx, e);
    let starts = ticketing_kafka::offsets_for_time(kafka, std::slice::from_ref(&topic), from)
        .await
        .map_err(unreachable)?;
    for (topic, partition, start) in starts {
        let records = ticketing_kafka::read_partition(kafka, &topic, partition, start, None, 1000)
            .await
            .map_err(unreachable)?;
        if let Some(r) = records
            .iter()
            .find(|r| Envelope::from_slice(&r.payload).is_ok_and(|e| e.event_id == row.event_id))
        {
            return Ok(Some((r.partition, r.offset)));
        }
    }
    Ok(None)
}

/// The booking's events, and why Kafka could not be read (then the
/// outbox and the processed events still tell most of the story: a broker
/// that is down is when a trace is needed most).
async fn events(
    ctx: &Environment,
    reservation: Uuid,
) -> Result<(Vec<TracedEvent>, Option<String>), OpsError> {
    let mut rows = Vec::new();
    for service in ServiceName::ALL
        .into_iter()
        .filter(|s| s.publishes_events())
    {
        let pool = crate::ops::db::pool(ctx, service)?;
        let found = ticketing_messaging::outbox::rows_of(&pool, &reservation.to_string())
            .await
            .map_err(db_error("the outbox"))?;
        pool.close().await;
        rows.extend(found.into_iter().map(|r| (service, r)));
    }
    let ids: Vec<Uuid> = rows.iter().map(|(_, r)| r.event_id).collect();
    let mut processed: Vec<(String, Uuid, DateTime<Utc>)> = Vec::new();
    for service in ServiceName::ALL
        .into_iter()
        .filter(|s| !s.consumes().is_empty())
    {
        let group = ctx.settings.kafka.topic(service.as_str());
        let pool = crate::ops::db::pool(ctx, service)?;
        let found = dead_letters::processed_at(&pool, &group, &ids)
            .await
            .map_err(db_error("the processed events"))?;
        pool.close().await;
        processed.extend(found.into_iter().map(|(id, at)| (group.clone(), id, at)));
    }
    let (letters, mut kafka_error) = match crate::ops::dlq::letters(ctx, 10_000).await {
        Ok(letters) => (letters, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let mut out = Vec::with_capacity(rows.len());
    for (service, row) in rows {
        let position = match (row.sent_at, &kafka_error) {
            (Some(_), None) => match locate(ctx, &row).await {
                Ok(found) => found,
                Err(e) => {
                    kafka_error = Some(e.to_string());
                    None
                }
            },
            _ => None,
        };
        out.push(TracedEvent {
            publisher: service.as_str().to_owned(),
            partition: position.map(|p| p.0),
            offset: position.map(|p| p.1),
            processed: processed
                .iter()
                .filter(|(_, id, _)| *id == row.event_id)
                .map(|(g, _, at)| (g.clone(), *at))
                .collect(),
            dead_letters: letters
                .iter()
                .filter(|l| l.event_id == Some(row.event_id))
                .map(|l| (l.group.clone(), l.id, l.error.clone()))
                .collect(),
            row,
        });
    }
    Ok((out, kafka_error))
}

/// PortOne's record of each payment of the booking's orders.
async fn portone(
    ctx: &Environment,
    reservation: Uuid,
    orders: &[OrderRecord],
) -> (Vec<Payment>, Option<String>) {
    let client = match crate::ops::reconcile::portone(ctx) {
        Ok(c) => c,
        Err(e) => return (Vec::new(), Some(format!("PortOne not asked: {e}"))),
    };
    let mut merchants: Vec<String> = orders.iter().map(|o| o.merchant_uid.clone()).collect();
    merchants.push(ticketing_portone::merchant_uid(reservation));
    merchants.dedup();
    let mut payments: Vec<Payment> = Vec::new();
    let mut error = None;
    for m in merchants {
        match client.find_by_merchant_uid(&m).await {
            Ok(p) => payments.push(p),
            Err(PortOneError::NotFound { .. }) => {}
            Err(e) => error = Some(format!("PortOne did not answer for {m}: {e}")),
        }
    }
    for imp in orders.iter().filter_map(|o| o.imp_uid.as_deref()) {
        if payments.iter().any(|p| p.imp_uid == imp) {
            continue;
        }
        match client.payment(imp).await {
            Ok(p) => payments.push(p),
            Err(PortOneError::NotFound { .. }) => {}
            Err(e) => error = Some(format!("PortOne did not answer for {imp}: {e}")),
        }
    }
    (payments, error)
}

/// Everything about booking `reservation_id`, with its verdict.
pub async fn trace(ctx: &Environment, reservation_id: Uuid) -> Result<Trace, OpsError> {
    let pool = crate::ops::db::pool(ctx, ServiceName::ReservationService)?;
    let reservation = reservation_service::repository::by_id(&pool, reservation_id)
        .await
        .map_err(db_error("the reservations"))?;
    pool.close().await;
    let pool = crate::ops::db::pool(ctx, ServiceName::PaymentService)?;
    let orders = payment_service::repository::orders_of(&pool, reservation_id)
        .await
        .map_err(db_error("the orders"))?;
    pool.close().await;
    let (events, kafka_error) = events(ctx, reservation_id).await?;
    let (portone, portone_error) = portone(ctx, reservation_id, &orders).await;
    let opsctl = ctx.command_line::<&str>(&[]);
    let status = reservation.as_ref().map(|r| r.status.as_str().to_owned());
    let facts = Facts {
        now: Utc::now(),
        opsctl: &opsctl,
        reservation: reservation
            .as_ref()
            .zip(status.as_deref())
            .map(|(r, s)| (s, r.expires_at)),
        orders: orders
            .iter()
            .map(|o| {
                (
                    o.merchant_uid.as_str(),
                    o.status.as_str(),
                    o.imp_uid.as_deref(),
                )
            })
            .collect(),
        portone: portone
            .iter()
            .map(|p| (p.imp_uid.as_str(), p.status, p.paid_at))
            .collect(),
        events: events
            .iter()
            .map(|e| EventFacts {
                event_type: &e.row.event_type,
                created_at: e.row.created_at,
                sent_at: e.row.sent_at,
                processed_by: e.processed.iter().map(|(g, _)| g.as_str()).collect(),
                dead_letters: e
                    .dead_letters
                    .iter()
                    .map(|(g, id, _)| (g.as_str(), id.to_string()))
                    .collect(),
            })
            .collect(),
    };
    let verdict = verdict::verdict(&facts);
    let timeline = timeline::timeline(reservation.as_ref(), &orders, &events, &portone);
    Ok(Trace {
        reservation_id,
        reservation,
        orders,
        portone,
        portone_error,
        kafka_error,
        events,
        timeline,
        verdict,
    })
}
