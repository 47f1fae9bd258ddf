//! The HTTP routes: preparing an order and PortOne's webhook.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use ticketing_http::{ApiError, AuthUser, Json};
use ticketing_money::Money;
use ticketing_portone::{merchant_uid, PortOneError, WebhookNotice};
use ticketing_tokens::PaymentClaims;
use uuid::Uuid;

use crate::domain::{OrderStatus, CURRENCY};
use crate::problems::{db_error, portone_down};
use crate::repository;
use crate::settle::judge;
use crate::AppState;

/// The service's routes over `state`.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/payments/prepare", post(prepare))
        .route("/webhooks/portone", post(webhook))
        .with_state(state)
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
