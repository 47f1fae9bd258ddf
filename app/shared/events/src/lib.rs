//! Events between services.
//!
//! Every message on Kafka is an [`Envelope`] in JSON: an id (UUID v7, so ids
//! sort by time), the event type and its schema version, the aggregate it is
//! about, when it happened, correlation and causation ids, and the payload.
//! The Kafka key is the aggregate id, so one reservation's events stay in
//! order on one partition.
//!
//! The typed events of the booking flow, with their topics:
//!
//! | event | topic | published by | consumed by |
//! |---|---|---|---|
//! | `PaymentSucceeded` | `payment.events` | payment-service | reservation-service |
//! | `PaymentFailed` | `payment.events` | payment-service | reservation-service |
//! | `PaymentRefunded` | `payment.events` | payment-service | reservation-service |
//! | `ReservationCreated` | `reservation.events` | reservation-service | event-service |
//! | `ReservationConfirmed` | `reservation.events` | reservation-service | event-service (seats sold) |
//! | `ReservationCancelled` | `reservation.events` | reservation-service | event-service, payment-service |
//! | `ReservationExpired` | `reservation.events` | reservation-service | event-service |
//! | `SeatsReleased` | `reservation.events` | reservation-service | event-service |

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ticketing_catalog::topics;
use ticketing_money::Money;
use uuid::Uuid;

/// The wire form of every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub occurred_at: DateTime<Utc>,
    /// The business flow this event belongs to (for example one booking).
    pub correlation_id: Option<Uuid>,
    /// The event (or request) that caused this one.
    pub causation_id: Option<Uuid>,
    pub payload: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the message is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the message is JSON but not an event envelope: {0}")]
    NotEnvelope(#[source] serde_json::Error),
    #[error("the payload of {event_type} v{version} does not deserialize: {source}")]
    BadPayload {
        event_type: String,
        version: u32,
        #[source]
        source: serde_json::Error,
    },
    #[error("{event_type} was expected, got {got}")]
    WrongType {
        event_type: &'static str,
        got: String,
    },
    #[error("the event could not be encoded: {0}")]
    Encode(#[source] serde_json::Error),
}

/// A typed event: its name, schema version, topic and aggregate.
pub trait Event: Serialize + DeserializeOwned {
    const EVENT_TYPE: &'static str;
    const SCHEMA_VERSION: u32;
    const TOPIC: &'static str;
    const AGGREGATE_TYPE: &'static str;
    /// The aggregate id, which is also the Kafka key.
    fn aggregate_id(&self) -> String;
}

impl Envelope {
    /// Wraps a typed event with a fresh UUID v7 id.
    pub fn new<E: Event>(event: &E) -> Result<Envelope, EventError> {
        Ok(Envelope {
            event_id: Uuid::now_v7(),
            event_type: E::EVENT_TYPE.to_owned(),
            schema_version: E::SCHEMA_VERSION,
            aggregate_type: E::AGGREGATE_TYPE.to_owned(),
            aggregate_id: event.aggregate_id(),
            occurred_at: Utc::now(),
            correlation_id: None,
            causation_id: None,
            payload: serde_json::to_value(event).map_err(EventError::Encode)?,
        })
    }

    pub fn with_correlation(mut self, correlation_id: Uuid) -> Envelope {
        self.correlation_id = Some(correlation_id);
        self
    }

    /// Marks this event as caused by `cause` (and in the same flow).
    pub fn caused_by(mut self, cause: &Envelope) -> Envelope {
        self.causation_id = Some(cause.event_id);
        self.correlation_id = cause.correlation_id.or(Some(cause.event_id));
        self
    }

    /// Parses raw message bytes, saying precisely what is wrong.
    pub fn from_slice(bytes: &[u8]) -> Result<Envelope, EventError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(EventError::NotJson)?;
        serde_json::from_value(value).map_err(EventError::NotEnvelope)
    }

    pub fn to_vec(&self) -> Result<Vec<u8>, EventError> {
        serde_json::to_vec(self).map_err(EventError::Encode)
    }

    /// The typed payload, when this envelope holds an `E`.
    pub fn decode<E: Event>(&self) -> Result<E, EventError> {
        if self.event_type != E::EVENT_TYPE {
            return Err(EventError::WrongType {
                event_type: E::EVENT_TYPE,
                got: self.event_type.clone(),
            });
        }
        serde_json::from_value(self.payload.clone()).map_err(|source| EventError::BadPayload {
            event_type: self.event_type.clone(),
            version: self.schema_version,
            source,
        })
    }
}

macro_rules! event {
    ($name:ident, $topic:expr, $aggregate:literal, $id:ident) => {
        impl Event for $name {
            const EVENT_TYPE: &'static str = stringify!($name);
            const SCHEMA_VERSION: u32 = 1;
            const TOPIC: &'static str = $topic;
            const AGGREGATE_TYPE: &'static str = $aggregate;
            fn aggregate_id(&self) -> String {
                self.$id.to_string()
            }
        }
    };
}

/// PortOne confirmed a payment and it matched the reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentSucceeded {
    pub reservation_id: Uuid,
    pub merchant_uid: String,
    pub imp_uid: String,
    pub amount: Money,
    pub pg_provider: String,
}
event!(
    PaymentSucceeded,
    topics::PAYMENT_EVENTS,
    "reservation",
    reservation_id
);

/// A payment failed or was rejected on verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentFailed {
    pub reservation_id: Uuid,
    pub merchant_uid: String,
    pub imp_uid: Option<String>,
    pub error_code: String,
    pub reason: String,
}
event!(
    PaymentFailed,
    topics::PAYMENT_EVENTS,
    "reservation",
    reservation_id
);

/// A payment was refunded (for example one that arrived after expiry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentRefunded {
    pub reservation_id: Uuid,
    pub merchant_uid: String,
    pub imp_uid: String,
    pub amount: Money,
    pub reason: String,
}
event!(
    PaymentRefunded,
    topics::PAYMENT_EVENTS,
    "reservation",
    reservation_id
);

/// Seats are held and a reservation awaits payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationCreated {
    pub reservation_id: Uuid,
    pub user_id: Uuid,
    pub performance_id: Uuid,
    pub seat_ids: Vec<Uuid>,
    pub amount: Money,
    pub expires_at: DateTime<Utc>,
}
event!(
    ReservationCreated,
    topics::RESERVATION_EVENTS,
    "reservation",
    reservation_id
);

/// Payment verified: the seats are sold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationConfirmed {
    pub reservation_id: Uuid,
    pub performance_id: Uuid,
    pub seat_ids: Vec<Uuid>,
}
event!(
    ReservationConfirmed,
    topics::RESERVATION_EVENTS,
    "reservation",
    reservation_id
);

/// The reservation was cancelled (payment failed, or by the user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationCancelled {
    pub reservation_id: Uuid,
    pub performance_id: Uuid,
    pub seat_ids: Vec<Uuid>,
    pub reason: String,
}
event!(
    ReservationCancelled,
    topics::RESERVATION_EVENTS,
    "reservation",
    reservation_id
);

/// The hold ran out before payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationExpired {
    pub reservation_id: Uuid,
    pub performance_id: Uuid,
    pub seat_ids: Vec<Uuid>,
}
event!(
    ReservationExpired,
    topics::RESERVATION_EVENTS,
    "reservation",
    reservation_id
);

/// Seats went back on sale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeatsReleased {
    pub reservation_id: Uuid,
    pub performance_id: Uuid,
    pub seat_ids: Vec<Uuid>,
}
event!(
    SeatsReleased,
    topics::RESERVATION_EVENTS,
    "reservation",
    reservation_id
);

/// A payment arrived for a reservation that is no longer payable (expired or
/// cancelled): the payment service refunds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundRequested {
    pub reservation_id: Uuid,
    pub merchant_uid: String,
    pub imp_uid: String,
    pub amount: Money,
    pub reason: String,
}
event!(
    RefundRequested,
    topics::RESERVATION_EVENTS,
    "reservation",
    reservation_id
);

/// Every event type this build knows, with its current schema version and topic.
pub const KNOWN_EVENTS: [(&str, u32, &str); 9] = [
    (
        PaymentSucceeded::EVENT_TYPE,
        PaymentSucceeded::SCHEMA_VERSION,
        PaymentSucceeded::TOPIC,
    ),
    (
        PaymentFailed::EVENT_TYPE,
        PaymentFailed::SCHEMA_VERSION,
        PaymentFailed::TOPIC,
    ),
    (
        PaymentRefunded::EVENT_TYPE,
        PaymentRefunded::SCHEMA_VERSION,
        PaymentRefunded::TOPIC,
    ),
    (
        ReservationCreated::EVENT_TYPE,
        ReservationCreated::SCHEMA_VERSION,
        ReservationCreated::TOPIC,
    ),
    (
        ReservationConfirmed::EVENT_TYPE,
        ReservationConfirmed::SCHEMA_VERSION,
        ReservationConfirmed::TOPIC,
    ),
    (
        ReservationCancelled::EVENT_TYPE,
        ReservationCancelled::SCHEMA_VERSION,
        ReservationCancelled::TOPIC,
    ),
    (
        ReservationExpired::EVENT_TYPE,
        ReservationExpired::SCHEMA_VERSION,
        ReservationExpired::TOPIC,
    ),
    (
        SeatsReleased::EVENT_TYPE,
        SeatsReleased::SCHEMA_VERSION,
        SeatsReleased::TOPIC,
    ),
    (
        RefundRequested::EVENT_TYPE,
        RefundRequested::SCHEMA_VERSION,
        RefundRequested::TOPIC,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmed() -> ReservationConfirmed {
        ReservationConfirmed {
            reservation_id: Uuid::now_v7(),
            performance_id: Uuid::now_v7(),
            seat_ids: vec![Uuid::now_v7()],
        }
    }

    #[test]
    fn an_envelope_round_trips_and_decodes() {
        let event = confirmed();
        let envelope = Envelope::new(&event).expect("encode");
        assert_eq!(envelope.aggregate_id, event.reservation_id.to_string());
        assert_eq!(envelope.event_type, "ReservationConfirmed");
        let bytes = envelope.to_vec().expect("bytes");
        let back = Envelope::from_slice(&bytes).expect("parse");
        assert_eq!(back, envelope);
        assert_eq!(
            back.decode::<ReservationConfirmed>().expect("decode"),
            event
        );
        assert!(back.decode::<PaymentFailed>().is_err());
    }

    #[test]
    fn bad_input_is_told_apart() {
        assert!(matches!(
            Envelope::from_slice(b"{nope"),
            Err(EventError::NotJson(_))
        ));
        assert!(matches!(
            Envelope::from_slice(br#"{"hello":"world"}"#),
            Err(EventError::NotEnvelope(_))
        ));
        let mut envelope = Envelope::new(&confirmed()).expect("encode");
        envelope.payload = serde_json::json!({"reservation_id": 5});
        assert!(matches!(
            envelope.decode::<ReservationConfirmed>(),
            Err(EventError::BadPayload { .. })
        ));
    }

    #[test]
    fn causation_carries_the_correlation() {
        let first = Envelope::new(&confirmed())
            .expect("encode")
            .with_correlation(Uuid::now_v7());
        let second = Envelope::new(&confirmed())
            .expect("encode")
            .caused_by(&first);
        assert_eq!(second.causation_id, Some(first.event_id));
        assert_eq!(second.correlation_id, first.correlation_id);
    }

    #[test]
    fn every_event_goes_to_a_catalog_topic() {
        for (name, version, topic) in KNOWN_EVENTS {
            assert!(topics::ALL.contains(&topic), "{name} -> {topic}");
            assert!(version >= 1);
        }
    }
}
