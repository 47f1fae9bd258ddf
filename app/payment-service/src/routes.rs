//! The HTTP routes: preparing an order and PortOne's webhook.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use ticketing_events::{Envelope, Event, PaymentFailed, PaymentRefunded, PaymentSucceeded};
use ticketing_http::{ApiError, AuthUser, Json};
use ticketing_money::Money;
use ticketing_portone::{merchant_uid, CancelRequest, PaymentStatus, PortOneError, WebhookNotice};
use ticketing_tokens::PaymentClaims;
use uuid::Uuid;

use crate::domain::{mismatches, Expected, FailureCode, OrderStatus, CURRENCY};
use crate::repository::{self, Settlement};
use crate::AppState;

/// The service's routes over `state`.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/payments/prepare", post(prepare))
        .route("/webhooks/portone", post(webhook))
        .with_state(state)
}

fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> ApiError {
    move |e| ApiError::internal(anyhow::Error::new(e).context(what))
}

fn portone_down(e: PortOneError) -> ApiError {
    ApiError::bad_gateway(
        "portone_unavailable",
        format!("PortOne could not be reached or refused the request: {e}; try again shortly"),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrepareRequest {
    payment_token: String,
}

#[derive(Debug, Serialize)]
struct Prepared {
    merchant_uid: String,
    amount: Money,
    currency: &'static str,
    imp_code: String,
    reservation_id: Uuid,
}

/// `POST /api/payments/prepare`.
async fn prepare(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(request): Json<PrepareRequest>,
) -> Result<Json<Prepared>, ApiError> {
    let claims: PaymentClaims =
        ticketing_tokens::verify(&state.keys, &request.payment_token, chrono::Utc::now()).map_err(
            |e| {
                ApiError::forbidden(
                    "invalid_payment_token",
                    format!("{e}; hold the seats again to get a new payment token"),
                )
            },
        )?;
    if claims.sub != user {
        return Err(ApiError::forbidden(
            "foreign_payment_token",
            "this payment token was issued to another user",
        ));
    }
    let merchant = merchant_uid(claims.reservation_id);
    let status = repository::open_order(
        &state.db,
        &merchant,
        claims.reservation_id,
        claims.amount,
        user,
    )
    .await
    .map_err(db_error("recording an order"))?;
    if let Some(settled) = status.filter(|s| *s != OrderStatus::Ready) {
        return Err(ApiError::conflict(
            "already_processed",
            format!("the payment of this reservation is already {settled}"),
        ));
    }
    state
        .portone
        .prepare(&merchant, claims.amount)
        .await
        .map_err(portone_down)?;
    Ok(Json(Prepared {
        merchant_uid: merchant,
        amount: claims.amount,
        currency: CURRENCY,
        imp_code: state.imp_code.to_string(),
        reservation_id: claims.reservation_id,
    }))
}

/// What the webhook answers: the outcome only. Anyone may post a notice,
/// so the answer names no order (an imp_uid must not tell whose it is).
#[derive(Debug, Serialize)]
struct WebhookAnswer {
    outcome: &'static str,
}

/// `POST /webhooks/portone`.
async fn webhook(
    State(state): State<AppState>,
    Json(notice): Json<WebhookNotice>,
) -> Result<Json<WebhookAnswer>, ApiError> {
    // The body only says where to look; PortOne says what happened. A burst
    // of notices for one payment shares look-ups (`lookups`).
    let (portone, imp_uid) = (state.portone.clone(), notice.imp_uid.clone());
    let looked = state
        .lookups
        .get(&notice.imp_uid, || async move {
            portone.payment(&imp_uid).await
        })
        .await;
    let payment = match looked {
        Ok(p) => p,
        Err(PortOneError::NotFound { .. }) => {
            tracing::warn!(imp_uid = %notice.imp_uid, "webhook for a payment PortOne does not know; rejected");
            return Err(ApiError::not_found(
                "unknown_payment",
                format!("PortOne has no payment {}", notice.imp_uid),
            ));
        }
        Err(e) => return Err(portone_down(e)),
    };
    if notice.merchant_uid != payment.merchant_uid {
        // Only the imp_uid of a notice is used: PortOne's record says which
        // order it pays. A notice naming another order is someone else's
        // mistake or a forgery, never a reason to cancel this payment.
        tracing::warn!(imp_uid = %payment.imp_uid, notice_merchant_uid = %notice.merchant_uid, merchant_uid = %payment.merchant_uid, "webhook notice names another order than PortOne's record; judged by PortOne's record");
    }
    let outcome = judge(&state, payment).await?;
    Ok(Json(WebhookAnswer { outcome }))
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

/// Settles the order a PortOne payment belongs to, from PortOne's record
/// alone: what the webhook does, and what the sweep of orders whose
/// webhook never came does. Returns the outcome.
pub(crate) async fn judge(
    state: &AppState,
    payment: ticketing_portone::Payment,
) -> Result<&'static str, ApiError> {
    let mut tx = state
        .db
        .begin()
        .await
        .map_err(db_error("starting a transaction"))?;
    let order = repository::lock_order(&mut tx, &payment.merchant_uid)
        .await
        .map_err(db_error("reading an order"))?;
    let Some(order) = order else {
        // Paid for one of our reservations without /payments/prepare (a
        // client that skipped it): no order holds it, so nothing would ever
        // give the money back. It is refunded in full.
        if let (Some(reservation), PaymentStatus::Paid) = (
            ticketing_portone::reservation_of(&payment.merchant_uid),
            payment.status,
        ) {
            let refund = CancelRequest {
                imp_uid: Some(payment.imp_uid.clone()),
                checksum: Some(
                    Money::refundable(payment.amount, payment.cancel_amount)
                        .map_err(|e| ApiError::internal(e.into()))?,
                ),
                reason: "paid without a prepared order; refunded".into(),
                ..CancelRequest::default()
            };
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
            return Ok("refunded_unprepared");
        }
        tracing::warn!(merchant_uid = %payment.merchant_uid, "webhook for an order this service never prepared; rejected");
        return Err(ApiError::not_found(
            "unknown_order",
            "no order for this payment was prepared here",
        ));
    };
    let answer = |outcome: &'static str| outcome;
    if order.status != OrderStatus::Ready {
        // The first payment decided the order. A repeated delivery of it
        // changes nothing; another payment that went through for the same
        // order (paid after a declined attempt, after a mismatch cancel,
        // twice) would leave the customer charged with no ticket: it is
        // refunded at PortOne. Its next delivery finds it cancelled.
        let another = order.imp_uid.as_deref() != Some(payment.imp_uid.as_str());
        if another && payment.status == PaymentStatus::Paid {
            let refund = CancelRequest {
                imp_uid: Some(payment.imp_uid.clone()),
                checksum: Some(
                    Money::refundable(payment.amount, payment.cancel_amount)
                        .map_err(|e| ApiError::internal(e.into()))?,
                ),
                reason: format!(
                    "order {} was already settled ({}); this second payment is refunded",
                    payment.merchant_uid, order.status
                ),
                ..CancelRequest::default()
            };
            state.portone.cancel(&refund).await.map_err(portone_down)?;
            // The customer's reservation says why their money came back.
            let reason = format!(
                "a second payment ({}) after the order was settled ({}) was refunded in full",
                payment.imp_uid, order.status
            );
            append_in(&mut tx, &refunded(&order, &payment, reason)).await?;
            tx.commit()
                .await
                .map_err(db_error("recording a second payment's refund"))?;
            tracing::warn!(merchant_uid = %payment.merchant_uid, imp_uid = %payment.imp_uid, settled = %order.status, "a second payment for a settled order; refunded");
            metrics::counter!("payment.refunded").increment(1);
            return Ok(answer("refunded_second_payment"));
        }
        // A refund made at PortOne (its console, its API) after we
        // confirmed: the customer has money back, so the ticket goes too.
        // A partial refund takes the rest back as well: every payment ends
        // in a ticket or a full refund.
        let refunded_outside = !another
            && order.status == OrderStatus::Paid
            && (payment.status == PaymentStatus::Cancelled || payment.cancel_amount.is_positive());
        if refunded_outside {
            let rest = Money::refundable(payment.amount, payment.cancel_amount)
                .map_err(|e| ApiError::internal(e.into()))?;
            if payment.status == PaymentStatus::Paid && rest.is_positive() {
                let cancel = CancelRequest {
                    imp_uid: Some(payment.imp_uid.clone()),
                    checksum: Some(rest),
                    reason: "partly refunded at PortOne: the rest is refunded and the reservation cancelled".into(),
                    ..CancelRequest::default()
                };
                state.portone.cancel(&cancel).await.map_err(portone_down)?;
            }
            repository::mark_refunded(&mut tx, &payment.merchant_uid)
                .await
                .map_err(db_error("recording a refund"))?;
            append_in(
                &mut tx,
                &refunded(&order, &payment, "refunded at PortOne".into()),
            )
            .await?;
            tx.commit().await.map_err(db_error("committing a refund"))?;
            tracing::warn!(merchant_uid = %payment.merchant_uid, imp_uid = %payment.imp_uid, "refunded at PortOne after confirmation; the reservation is cancelled");
            metrics::counter!("payment.refunded").increment(1);
            return Ok(answer("refunded_at_portone"));
        }
        return Ok(answer("already_processed"));
    }
    // A declined or cancelled attempt is not the order's last word while
    // another payment for it went through (paid in one tab, declined in
    // another; the paid one's webhook lost): settle by the paid one, which
    // confirms the reservation, instead of failing the order and keeping
    // that money with no ticket.
    let payment = if matches!(
        payment.status,
        PaymentStatus::Failed | PaymentStatus::Cancelled
    ) {
        match state
            .portone
            .find_by_merchant_uid_in(&payment.merchant_uid, PaymentStatus::Paid)
            .await
            .map_err(portone_down)?
        {
            Some(paid) if paid.imp_uid != payment.imp_uid => {
                tracing::warn!(merchant_uid = %payment.merchant_uid, declined = %payment.imp_uid, paid = %paid.imp_uid, "a declined attempt for an order another payment paid; settling by the paid one");
                paid
            }
            _ => payment,
        }
    } else {
        payment
    };
    let pg = payment.pg_provider.clone();
    let expected = Expected {
        amount: order.amount,
        currency: &order.currency,
    };
    let mismatches = mismatches(&expected, &payment);
    let outcome = match payment.status {
        PaymentStatus::Ready => return Ok(answer("awaiting_payment")),
        PaymentStatus::Paid if mismatches.is_empty() => {
            let settled = Settlement {
                merchant_uid: &payment.merchant_uid,
                imp_uid: &payment.imp_uid,
                status: OrderStatus::Paid,
                pg_provider: &pg,
                failure: None,
            };
            repository::settle(&mut tx, &settled)
                .await
                .map_err(db_error("recording a payment"))?;
            append_in(
                &mut tx,
                &PaymentSucceeded {
                    reservation_id: order.reservation_id,
                    merchant_uid: payment.merchant_uid.clone(),
                    imp_uid: payment.imp_uid.clone(),
                    amount: payment.amount,
                    pg_provider: pg.clone(),
                },
            )
            .await?;
            metrics::counter!("payment.success", "pg_provider" => pg.clone(), "environment" => state.environment).increment(1);
            "paid"
        }
        PaymentStatus::Paid => {
            let reason = mismatches.join("; ");
            tracing::warn!(merchant_uid = %payment.merchant_uid, %reason, "payment does not match its order; cancelling it");
            let refund = CancelRequest {
                imp_uid: Some(payment.imp_uid.clone()),
                checksum: Some(
                    Money::refundable(payment.amount, payment.cancel_amount)
                        .map_err(|e| ApiError::internal(e.into()))?,
                ),
                reason: format!("verification failed: {reason}"),
                ..CancelRequest::default()
            };
            state.portone.cancel(&refund).await.map_err(portone_down)?;
            fail(
                &mut tx,
                &payment,
                order.reservation_id,
                FailureCode::AmountMismatch,
                &reason,
            )
            .await?;
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
                order.reservation_id,
                FailureCode::PgFailed,
                &reason,
            )
            .await?;
            "failed"
        }
        PaymentStatus::Cancelled => {
            fail(
                &mut tx,
                &payment,
                order.reservation_id,
                FailureCode::CancelledAtPg,
                "cancelled at PortOne",
            )
            .await?;
            "cancelled"
        }
    };
    tx.commit()
        .await
        .map_err(db_error("committing a payment"))?;
    Ok(answer(outcome))
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

async fn append_in<E: Event>(tx: &mut PgConnection, event: &E) -> Result<(), ApiError> {
    let envelope = Envelope::new(event).map_err(|e| ApiError::internal(e.into()))?;
    ticketing_messaging::outbox::append_envelope(tx, E::TOPIC, &envelope)
        .await
        .map_err(|e| ApiError::internal(e.into()))
}
