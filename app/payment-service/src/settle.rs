//! Settling an order from PortOne's record of a payment: what the webhook
//! does, and what the sweep of orders whose webhook never came does. Every
//! payment ends in exactly one ticket or a full refund, whatever order its
//! notices arrive in.

use sqlx::{PgConnection, Postgres, Transaction};
use ticketing_events::{Envelope, Event, PaymentFailed, PaymentRefunded, PaymentSucceeded};
use ticketing_http::ApiError;
use ticketing_money::Money;
use ticketing_portone::{CancelRequest, Payment, PaymentStatus};
use uuid::Uuid;

use crate::domain::{mismatches, Expected, FailureCode, OrderStatus};
use crate::problems::{db_error, portone_down};
use crate::repository::{self, Order, Settlement};
use crate::AppState;

type Tx = Transaction<'static, Postgres>;

/// Settles the order a PortOne payment belongs to, from PortOne's record
/// alone. Returns the outcome.
pub(crate) async fn judge(state: &AppState, payment: Payment) -> Result<&'static str, ApiError> {
    let mut tx = state
        .db
        .begin()
        .await
        .map_err(db_error("starting a transaction"))?;
    let order = repository::lock_order(&mut tx, &payment.merchant_uid)
        .await
        .map_err(db_error("reading an order"))?;
    match order {
        None => unprepared(state, tx, &payment).await,
        Some(order) if order.status != OrderStatus::Ready => {
            already_settled(state, tx, &order, &payment).await
        }
        Some(order) => {
            let payment = by_the_paid_one(state, payment).await?;
            settle(state, tx, &order, payment).await
        }
    }
}

/// A cancellation of everything `payment` has not had refunded yet.
fn full_refund(payment: &Payment, reason: String) -> Result<CancelRequest, ApiError> {
    Ok(CancelRequest {
        imp_uid: Some(payment.imp_uid.clone()),
        checksum: Some(
            Money::refundable(payment.amount, payment.cancel_amount)
                .map_err(|e| ApiError::internal(e.into()))?,
        ),
        reason,
        ..CancelRequest::default()
    })
}

/// Paid for one of our reservations without /payments/prepare (a client
/// that skipped it): no order holds it, so nothing would ever give the
/// money back. It is refunded in full.
async fn unprepared(
    state: &AppState,
    mut tx: Tx,
    payment: &Payment,
) -> Result<&'static str, ApiError> {
    let reservation = ticketing_portone::reservation_of(&payment.merchant_uid);
    let (Some(reservation), PaymentStatus::Paid) = (reservation, payment.status) else {
        tracing::warn!(merchant_uid = %payment.merchant_uid, "webhook for an order this service never prepared; rejected");
        return Err(ApiError::not_found(
            "unknown_order",
            "no order for this payment was prepared here",
        ));
    };
    let refund = full_refund(payment, "paid without a prepared order; refunded".into())?;
    state.portone.cancel(&refund).await.map_err(portone_down)?;
    let event = PaymentRefunded {
        reservation_id: reservation,
        merchant_uid: payment.merchant_uid.clone(),
        imp_uid: payment.imp_uid.clone(),
        amount: payment.amount,
        reason: format!(
            "a payment ({}) made without a prepared order was refunded in full",
            payment.imp_uid
        ),
    };
    append_in(&mut tx, &event).await?;
    tx.commit()
        .await
        .map_err(db_error("recording an unprepared payment's refund"))?;
    tracing::warn!(merchant_uid = %payment.merchant_uid, imp_uid = %payment.imp_uid, "a payment for an order never prepared; refunded");
    metrics::counter!("payment.refunded").increment(1);
    Ok("refunded_unprepared")
}

/// The first payment decided the order. A repeated delivery of it changes
/// nothing; another payment that went through for the same order (paid
/// after a declined attempt, after a mismatch cancel, twice) would leave
/// the customer charged with no ticket: it is refunded at PortOne. Its next
/// delivery finds it cancelled.
async fn already_settled(
    state: &AppState,
    mut tx: Tx,
    order: &Order,
    payment: &Payment,
) -> Result<&'static str, ApiError> {
    let another = order.imp_uid.as_deref() != Some(payment.imp_uid.as_str());
    if another && payment.status == PaymentStatus::Paid {
        let reason = format!(
            "order {} was already settled ({}); this second payment is refunded",
            payment.merchant_uid, order.status
        );
        state
            .portone
            .cancel(&full_refund(payment, reason)?)
            .await
            .map_err(portone_down)?;
        // The customer's reservation says why their money came back.
        let reason = format!(
            "a second payment ({}) after the order was settled ({}) was refunded in full",
            payment.imp_uid, order.status
        );
        append_in(&mut tx, &refunded(order, payment, reason)).await?;
        tx.commit()
            .await
            .map_err(db_error("recording a second payment's refund"))?;
        tracing::warn!(merchant_uid = %payment.merchant_uid, imp_uid = %payment.imp_uid, settled = %order.status, "a second payment for a settled order; refunded");
        metrics::counter!("payment.refunded").increment(1);
        return Ok("refunded_second_payment");
    }
    // A refund made at PortOne (its console, its API) after we confirmed:
    // the customer has money back, so the ticket goes too.
    let refunded_outside = !another
        && order.status == OrderStatus::Paid
        && (payment.status == PaymentStatus::Cancelled || payment.cancel_amount.is_positive());
    if refunded_outside {
        return refunded_at_portone(state, tx, order, payment).await;
    }
    Ok("already_processed")
}

/// Refunded at PortOne after we confirmed. A partial refund takes the rest
/// back as well: every payment ends in a ticket or a full refund.
async fn refunded_at_portone(
    state: &AppState,
    mut tx: Tx,
    order: &Order,
    payment: &Payment,
) -> Result<&'static str, ApiError> {
    let rest = Money::refundable(payment.amount, payment.cancel_amount)
        .map_err(|e| ApiError::internal(e.into()))?;
    if payment.status == PaymentStatus::Paid && rest.is_positive() {
        let cancel = CancelRequest {
            imp_uid: Some(payment.imp_uid.clone()),
            checksum: Some(rest),
            reason:
                "partly refunded at PortOne: the rest is refunded and the reservation cancelled"
                    .into(),
            ..CancelRequest::default()
        };
        state.portone.cancel(&cancel).await.map_err(portone_down)?;
    }
    repository::mark_refunded(&mut tx, &payment.merchant_uid)
        .await
        .map_err(db_error("recording a refund"))?;
    append_in(
        &mut tx,
        &refunded(order, payment, "refunded at PortOne".into()),
    )
    .await?;
    tx.commit().await.map_err(db_error("committing a refund"))?;
    tracing::warn!(merchant_uid = %payment.merchant_uid, imp_uid = %payment.imp_uid, "refunded at PortOne after confirmation; the reservation is cancelled");
    metrics::counter!("payment.refunded").increment(1);
    Ok("refunded_at_portone")
}

/// A declined or cancelled attempt is not the order's last word while
/// another payment for it went through (paid in one tab, declined in
/// another; the paid one's webhook lost): the order is settled by the paid
/// one, which confirms the reservation, instead of failing the order and
/// keeping that money with no ticket.
async fn by_the_paid_one(state: &AppState, payment: Payment) -> Result<Payment, ApiError> {
    if !matches!(
        payment.status,
        PaymentStatus::Failed | PaymentStatus::Cancelled
    ) {
        return Ok(payment);
    }
    let paid = state
        .portone
        .find_by_merchant_uid_in(&payment.merchant_uid, PaymentStatus::Paid)
        .await
        .map_err(portone_down)?;
    Ok(match paid {
        Some(paid) if paid.imp_uid != payment.imp_uid => {
            tracing::warn!(merchant_uid = %payment.merchant_uid, declined = %payment.imp_uid, paid = %paid.imp_uid, "a declined attempt for an order another payment paid; settling by the paid one");
            paid
        }
        _ => payment,
    })
}

/// Settles an order still waiting for its payment: paid as prepared,
/// paid otherwise (cancelled at PortOne), failed or cancelled.
async fn settle(
    state: &AppState,
    mut tx: Tx,
    order: &Order,
    payment: Payment,
) -> Result<&'static str, ApiError> {
    let expected = Expected {
        amount: order.amount,
        currency: &order.currency,
    };
    let mismatches = mismatches(&expected, &payment);
    let reservation = order.reservation_id;
    let outcome = match payment.status {
        PaymentStatus::Ready => return Ok("awaiting_payment"),
        PaymentStatus::Paid if mismatches.is_empty() => {
            paid(state, &mut tx, reservation, &payment).await?;
            "paid"
        }
        PaymentStatus::Paid => {
            let reason = mismatches.join("; ");
            tracing::warn!(merchant_uid = %payment.merchant_uid, %reason, "payment does not match its order; cancelling it");
            let refund = full_refund(&payment, format!("verification failed: {reason}"))?;
            state.portone.cancel(&refund).await.map_err(portone_down)?;
            let code = FailureCode::AmountMismatch;
            fail(&mut tx, &payment, reservation, code, &reason).await?;
            "mismatch_cancelled"
        }
        PaymentStatus::Failed => {
            let reason = payment
                .fail_reason
                .clone()
                .unwrap_or_else(|| "failed at the PG".to_owned());
            fail(
                &mut tx,
                &payment,
                reservation,
                FailureCode::PgFailed,
                &reason,
            )
            .await?;
            "failed"
        }
        PaymentStatus::Cancelled => {
            let code = FailureCode::CancelledAtPg;
            fail(&mut tx, &payment, reservation, code, "cancelled at PortOne").await?;
            "cancelled"
        }
    };
    tx.commit()
        .await
        .map_err(db_error("committing a payment"))?;
    Ok(outcome)
}

/// Records a payment as prepared, announces `PaymentSucceeded` and counts
/// it under `payment.success`.
async fn paid(
    state: &AppState,
    tx: &mut PgConnection,
    reservation: Uuid,
    payment: &Payment,
) -> Result<(), ApiError> {
    let pg = payment.pg_provider.clone();
    let settled = Settlement {
        merchant_uid: &payment.merchant_uid,
        imp_uid: &payment.imp_uid,
        status: OrderStatus::Paid,
        pg_provider: &pg,
        failure: None,
    };
    repository::settle(tx, &settled)
        .await
        .map_err(db_error("recording a payment"))?;
    append_in(
        tx,
        &PaymentSucceeded {
            reservation_id: reservation,
            merchant_uid: payment.merchant_uid.clone(),
            imp_uid: payment.imp_uid.clone(),
            amount: payment.amount,
            pg_provider: pg.clone(),
        },
    )
    .await?;
    metrics::counter!("payment.success", "pg_provider" => pg, "environment" => state.environment)
        .increment(1);
    Ok(())
}

/// The event that says `payment` for `order` was refunded, and why.
fn refunded(
    order: &repository::Order,
    payment: &ticketing_portone::Payment,
    reason: String,
) -> PaymentRefunded {
    PaymentRefunded {
        reservation_id: order.reservation_id,
        merchant_uid: payment.merchant_uid.clone(),
        imp_uid: payment.imp_uid.clone(),
        amount: payment.amount,
        reason,
    }
}

/// Records a refused or failed payment, announces `PaymentFailed` and counts
/// it under `payment.failure`.
async fn fail(
    tx: &mut PgConnection,
    payment: &ticketing_portone::Payment,
    reservation: Uuid,
    code: FailureCode,
    reason: &str,
) -> Result<(), ApiError> {
    let (merchant, imp_uid, pg) = (
        payment.merchant_uid.as_str(),
        payment.imp_uid.as_str(),
        payment.pg_provider.as_str(),
    );
    let settled = Settlement {
        merchant_uid: merchant,
        imp_uid,
        status: code.order_status(),
        pg_provider: pg,
        failure: Some((code.as_str(), reason)),
    };
    repository::settle(tx, &settled)
        .await
        .map_err(db_error("recording a failed payment"))?;
    append_in(
        tx,
        &PaymentFailed {
            reservation_id: reservation,
            merchant_uid: merchant.to_owned(),
            imp_uid: Some(imp_uid.to_owned()),
            error_code: code.as_str().to_owned(),
            reason: reason.to_owned(),
        },
    )
    .await?;
    metrics::counter!("payment.failure", "pg_provider" => pg.to_owned(), "error_code" => code.as_str())
        .increment(1);
    Ok(())
}

pub(crate) async fn append_in<E: Event>(tx: &mut PgConnection, event: &E) -> Result<(), ApiError> {
    let envelope = Envelope::new(event).map_err(|e| ApiError::internal(e.into()))?;
    ticketing_messaging::outbox::append_envelope(tx, E::TOPIC, &envelope)
        .await
        .map_err(|e| ApiError::internal(e.into()))
}
