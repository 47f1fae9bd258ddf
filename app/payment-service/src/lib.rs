//! payment-service: PortOne (V1) payments.
//!
//! * `POST /api/payments/prepare` (with the `qp_` payment token): records the
//!   order (`merchant_uid` = `res_<reservation id>`) and pre-registers its
//!   amount with PortOne, so a checkout for another amount fails there.
//! * `POST /webhooks/portone`: trusts nothing in the body. It re-reads the
//!   payment from PortOne (`GET /payments/{imp_uid}`) and compares amount,
//!   currency, status and `merchant_uid` with the order; a mismatch is
//!   cancelled at PortOne (with `checksum`) and recorded; repeated deliveries
//!   have one effect. Outcomes go out as `PaymentSucceeded` /
//!   `PaymentFailed` through the outbox.
//! * `RefundRequested` (a payment that arrived after its reservation ended)
//!   is refunded and announced as `PaymentRefunded`.
//!
//! Counters `payment.success` (`pg_provider`, `environment`) and
//! `payment.failure` (`pg_provider`, `error_code`). Mode `test` or
//! `production` comes from `portone.mode`; production is announced loudly at
//! start.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use ticketing_catalog::ServiceName;
use ticketing_config::PortOneMode;
use ticketing_events::{
    Envelope, Event, PaymentFailed, PaymentRefunded, PaymentSucceeded, RefundRequested,
};
use ticketing_http::{ApiError, AuthUser, Authenticator, Json, ServiceApp};
use ticketing_messaging::consumer::{Handler, HandlerError};
use ticketing_portone::{CancelRequest, PaymentStatus, PortOne, PortOneError, WebhookNotice};
use ticketing_runtime::{RuntimeError, ServiceContext};
use ticketing_tokens::{Keyring, PaymentClaims};
use uuid::Uuid;

/// Migrations of this service's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

const CURRENCY: &str = "KRW";

#[derive(Clone, FromRef)]
struct AppState {
    db: PgPool,
    auth: Authenticator,
    keys: Keyring,
    portone: Arc<PortOne>,
    imp_code: Arc<String>,
    environment: &'static str,
}

/// Builds the service from its context.
pub fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    let portone = Arc::new(ctx.portone());
    match ctx.settings.portone.mode {
        PortOneMode::Production => tracing::warn!(
            imp_code = %ctx.settings.portone.imp_code,
            "PortOne PRODUCTION MODE ENABLED - real payments are processed"
        ),
        PortOneMode::Test => tracing::info!(
            imp_code = %ctx.settings.portone.imp_code,
            base_url = %ctx.settings.portone.base_url,
            "PortOne test mode: no real money moves"
        ),
    }
    let environment = ctx.settings.profile.as_str();
    let state = AppState {
        db: ctx.db()?.clone(),
        auth: ctx.authenticator(),
        keys: ctx.queue_keys(),
        portone: portone.clone(),
        imp_code: Arc::new(ctx.settings.portone.imp_code.clone()),
        environment,
    };
    let refunds = ctx.event_consumer(Refunds { portone })?;
    Ok(ServiceApp::new(
        ServiceName::PaymentService,
        Router::new()
            .route("/api/payments/prepare", post(prepare))
            .route("/webhooks/portone", post(webhook))
            .with_state(state),
        vec![ctx.postgres_probe()?, ctx.kafka_probe()],
    )
    .with_openapi(include_str!("../openapi.json"))
    .with_task("outbox-relay", ctx.outbox_relay()?)
    .with_task("refunds", refunds))
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
    amount: i64,
    currency: &'static str,
    imp_code: String,
    reservation_id: Uuid,
}

pub use ticketing_portone::merchant_uid;

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
    let status: Option<String> = sqlx::query_scalar(
        "INSERT INTO payments (merchant_uid, reservation_id, amount, status, user_id, currency) \
         VALUES ($1, $2, $3, 'READY', $4, $5) \
         ON CONFLICT (merchant_uid) DO UPDATE SET updated_at = now() RETURNING status",
    )
    .bind(&merchant)
    .bind(claims.reservation_id)
    .bind(claims.amount)
    .bind(user)
    .bind(CURRENCY)
    .fetch_optional(&state.db)
    .await
    .map_err(db_error("recording an order"))?;
    if status.as_deref().is_some_and(|s| s != "READY") {
        return Err(ApiError::conflict(
            "already_processed",
            format!(
                "the payment of this reservation is already {}",
                status.unwrap_or_default()
            ),
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

#[derive(Debug, Serialize)]
struct WebhookAnswer {
    merchant_uid: String,
    outcome: &'static str,
}

#[derive(sqlx::FromRow)]
struct Order {
    reservation_id: Uuid,
    amount: i64,
    currency: String,
    status: String,
    imp_uid: Option<String>,
}

/// `POST /webhooks/portone`.
async fn webhook(
    State(state): State<AppState>,
    Json(notice): Json<WebhookNotice>,
) -> Result<Json<WebhookAnswer>, ApiError> {
    // The body only says where to look; PortOne says what happened.
    let payment = match state.portone.payment(&notice.imp_uid).await {
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
    let mut tx = state
        .db
        .begin()
        .await
        .map_err(db_error("starting a transaction"))?;
    let order: Option<Order> = sqlx::query_as(
        "SELECT reservation_id, amount, currency, status, imp_uid FROM payments \
         WHERE merchant_uid = $1 FOR UPDATE",
    )
    .bind(&payment.merchant_uid)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_error("reading an order"))?;
    let Some(order) = order else {
        tracing::warn!(merchant_uid = %payment.merchant_uid, "webhook for an order this service never prepared; rejected");
        return Err(ApiError::not_found(
            "unknown_order",
            format!("no order {} was prepared here", payment.merchant_uid),
        ));
    };
    let answer = |outcome| {
        Json(WebhookAnswer {
            merchant_uid: payment.merchant_uid.clone(),
            outcome,
        })
    };
    if order.status != "READY" {
        // A repeated delivery: the first one decided.
        if order.imp_uid.as_deref() != Some(payment.imp_uid.as_str()) {
            tracing::warn!(merchant_uid = %payment.merchant_uid, imp_uid = %payment.imp_uid, "a second payment for a settled order");
        }
        return Ok(answer("already_processed"));
    }
    let pg = payment.pg_provider.clone();
    let mut mismatches = Vec::new();
    if notice.merchant_uid != payment.merchant_uid {
        mismatches.push(format!(
            "webhook merchant_uid {} but PortOne says {}",
            notice.merchant_uid, payment.merchant_uid
        ));
    }
    if payment.amount != order.amount {
        mismatches.push(format!(
            "paid {} but the order is {}",
            payment.amount, order.amount
        ));
    }
    if payment.currency != order.currency {
        mismatches.push(format!(
            "paid in {} but the order is in {}",
            payment.currency, order.currency
        ));
    }
    let outcome = match payment.status {
        PaymentStatus::Ready => return Ok(answer("awaiting_payment")),
        PaymentStatus::Paid if mismatches.is_empty() => {
            record(
                &mut tx,
                &payment.merchant_uid,
                &payment.imp_uid,
                "PAID",
                &pg,
                None,
            )
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
                checksum: Some(payment.amount - payment.cancel_amount),
                reason: format!("verification failed: {reason}"),
                ..CancelRequest::default()
            };
            state.portone.cancel(&refund).await.map_err(portone_down)?;
            fail(
                &mut tx,
                &payment,
                order.reservation_id,
                "amount_mismatch",
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
                "pg_failed",
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
                "cancelled_at_pg",
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

async fn record(
    tx: &mut PgConnection,
    merchant: &str,
    imp_uid: &str,
    status: &str,
    pg: &str,
    failure: Option<(&str, &str)>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = $2, imp_uid = $3, pg_provider = $4, failure_code = $5, \
         failure_reason = $6, updated_at = now() WHERE merchant_uid = $1",
    )
    .bind(merchant)
    .bind(status)
    .bind(imp_uid)
    .bind(pg)
    .bind(failure.map(|f| f.0))
    .bind(failure.map(|f| f.1))
    .execute(tx)
    .await
    .map(|_| ())
}

/// Records a refused or failed payment, announces `PaymentFailed` and counts
/// it under `payment.failure`.
async fn fail(
    tx: &mut PgConnection,
    payment: &ticketing_portone::Payment,
    reservation: Uuid,
    code: &str,
    reason: &str,
) -> Result<(), ApiError> {
    let (merchant, imp_uid, pg) = (
        payment.merchant_uid.as_str(),
        payment.imp_uid.as_str(),
        payment.pg_provider.as_str(),
    );
    let status = if code == "pg_failed" {
        "FAILED"
    } else {
        "CANCELLED"
    };
    record(tx, merchant, imp_uid, status, pg, Some((code, reason)))
        .await
        .map_err(db_error("recording a failed payment"))?;
    append_in(
        tx,
        &PaymentFailed {
            reservation_id: reservation,
            merchant_uid: merchant.to_owned(),
            imp_uid: Some(imp_uid.to_owned()),
            error_code: code.to_owned(),
            reason: reason.to_owned(),
        },
    )
    .await?;
    metrics::counter!("payment.failure", "pg_provider" => pg.to_owned(), "error_code" => code.to_owned())
        .increment(1);
    Ok(())
}

async fn append_in<E: Event>(tx: &mut PgConnection, event: &E) -> Result<(), ApiError> {
    let envelope = Envelope::new(event).map_err(|e| ApiError::internal(e.into()))?;
    ticketing_messaging::outbox::append_envelope(tx, E::TOPIC, &envelope)
        .await
        .map_err(|e| ApiError::internal(e.into()))
}

/// Refunds payments whose reservation ended before they arrived.
struct Refunds {
    portone: Arc<PortOne>,
}

impl Handler for Refunds {
    fn supports(&self, event_type: &str) -> Option<u32> {
        (event_type == RefundRequested::EVENT_TYPE).then_some(1)
    }

    async fn handle(&self, tx: &mut PgConnection, envelope: &Envelope) -> Result<(), HandlerError> {
        let request: RefundRequested = envelope
            .decode()
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let db = |e: sqlx::Error| HandlerError::Transient(format!("database: {e}"));
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM payments WHERE merchant_uid = $1 FOR UPDATE")
                .bind(&request.merchant_uid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if status.as_deref() != Some("PAID") {
            tracing::info!(merchant_uid = %request.merchant_uid, ?status, "nothing to refund");
            return Ok(());
        }
        let payment = self
            .portone
            .payment(&request.imp_uid)
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        let refundable = payment.amount - payment.cancel_amount;
        if payment.status == PaymentStatus::Paid && refundable > 0 {
            let cancel = CancelRequest {
                imp_uid: Some(request.imp_uid.clone()),
                checksum: Some(refundable),
                reason: request.reason.clone(),
                ..CancelRequest::default()
            };
            self.portone
                .cancel(&cancel)
                .await
                .map_err(|e| HandlerError::Transient(e.to_string()))?;
        }
        sqlx::query(
            "UPDATE payments SET status = 'REFUNDED', refunded = amount, updated_at = now() \
             WHERE merchant_uid = $1",
        )
        .bind(&request.merchant_uid)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let event = PaymentRefunded {
            reservation_id: request.reservation_id,
            merchant_uid: request.merchant_uid,
            imp_uid: request.imp_uid,
            amount: refundable.max(0),
            reason: request.reason,
        };
        let envelope = Envelope::new(&event).map_err(|e| HandlerError::Permanent(e.to_string()))?;
        ticketing_messaging::outbox::append_envelope(tx, PaymentRefunded::TOPIC, &envelope)
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        metrics::counter!("payment.refunded").increment(1);
        Ok(())
    }
}
