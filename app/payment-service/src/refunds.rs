//! Refunds of payments whose reservation ended before they arrived
//! (`RefundRequested`), announced as `PaymentRefunded`.

use std::sync::Arc;

use sqlx::PgConnection;
use ticketing_events::{Envelope, Event, PaymentRefunded, RefundRequested};
use ticketing_messaging::consumer::{Handler, HandlerError};
use ticketing_money::Money;
use ticketing_portone::{CancelRequest, PaymentStatus, PortOne};

use crate::domain::OrderStatus;
use crate::repository;

pub(crate) struct Refunds {
    pub portone: Arc<PortOne>,
}

impl Handler for Refunds {
    fn supports(&self, event_type: &str) -> Option<u32> {
        (event_type == RefundRequested::EVENT_TYPE).then_some(1)
    }

    async fn handle(&self, tx: &mut PgConnection, envelope: &Envelope) -> Result<(), HandlerError> {
        let permanent = |e: &dyn std::fmt::Display| HandlerError::Permanent(e.to_string());
        let transient = |e: &dyn std::fmt::Display| HandlerError::Transient(e.to_string());
        let request: RefundRequested = envelope.decode().map_err(|e| permanent(&e))?;
        let status = repository::lock_status(tx, &request.merchant_uid)
            .await
            .map_err(|e| transient(&format!("database: {e}")))?;
        if status != Some(OrderStatus::Paid) {
            tracing::info!(merchant_uid = %request.merchant_uid, ?status, "nothing to refund");
            return Ok(());
        }
        let payment = self
            .portone
            .payment(&request.imp_uid)
            .await
            .map_err(|e| transient(&e))?;
        let refundable =
            Money::refundable(payment.amount, payment.cancel_amount).map_err(|e| permanent(&e))?;
        if payment.status == PaymentStatus::Paid && refundable.is_positive() {
            let cancel = CancelRequest {
                imp_uid: Some(request.imp_uid.clone()),
                checksum: Some(refundable),
                reason: request.reason.clone(),
                ..CancelRequest::default()
            };
            self.portone
                .cancel(&cancel)
                .await
                .map_err(|e| transient(&e))?;
        }
        repository::mark_refunded(tx, &request.merchant_uid)
            .await
            .map_err(|e| transient(&format!("database: {e}")))?;
        let event = PaymentRefunded {
            reservation_id: request.reservation_id,
            merchant_uid: request.merchant_uid,
            imp_uid: request.imp_uid,
            amount: refundable,
            reason: request.reason,
        };
        let envelope = Envelope::new(&event).map_err(|e| permanent(&e))?;
        ticketing_messaging::outbox::append_envelope(tx, PaymentRefunded::TOPIC, &envelope)
            .await
            .map_err(|e| transient(&e))?;
        metrics::counter!("payment.refunded").increment(1);
        Ok(())
    }
}
