//! Reconciling with PortOne what our side still thinks is open: reservations
//! stuck in PENDING, and orders the payment service still has READY (a
//! webhook that never came leaves the order READY after the hold expired
//! and the reservation was cancelled). The plan is each one's payment as
//! PortOne knows it; applying re-announces the settled ones to the payment
//! service's webhook, which judges them by PortOne's record (a late payment
//! is refunded there).

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use ticketing_catalog::ServiceName;
use ticketing_config::Secrets;
use ticketing_portone::{PaymentStatus, PortOne, PortOneError, WebhookNotice};
use uuid::Uuid;

use crate::environment::Environment;
use crate::error::OpsError;
use ticketing_money::Money;

#[derive(Serialize, Clone)]
pub struct Line {
    /// How it was found: `pending_reservation`, `unsettled_order` or
    /// `ledger` (paid at PortOne, no order accounts for it).
    pub found: &'static str,
    pub reservation_id: Uuid,
    pub merchant_uid: String,
    pub age_seconds: i64,
    pub amount: Money,
    /// What PortOne says: paid, failed, cancelled, ready, or none.
    pub portone: String,
    pub imp_uid: Option<String>,
    /// What reconciliation does: announce (re-send the webhook) or report.
    pub action: &'static str,
    pub result: Option<String>,
}

/// The summary a reconcile run leaves (the DR runbook reports it too).
#[derive(Serialize, Default, Clone)]
pub struct Summary {
    pub pending: usize,
    pub announced: usize,
    pub unpaid: usize,
    pub failed: usize,
}

/// What a reconcile run looks at: reservations and orders open longer
/// than `older_than` (at most `limit` of them), and, with `since`, every
/// payment PortOne's ledger has paid in that window that no order accounts
/// for (payment-service's own test of it, `repository::unaccounted`).
pub struct Scope {
    pub older_than: Duration,
    pub limit: i64,
    pub since: Option<Duration>,
}

/// An open reservation or order: where it was found, the reservation, its
/// order, when it was made and its amount.
type Open = (&'static str, Uuid, String, chrono::DateTime<Utc>, Money);

pub async fn plan(ctx: &Environment, scope: &Scope) -> Result<Vec<Line>, OpsError> {
    let db = |what: &str, e: sqlx::Error| {
        OpsError::Failed(anyhow::anyhow!(
            "reading {what}: {e}; is PostgreSQL up? (opsctl status)"
        ))
    };
    let (older_than, limit) = (scope.older_than, scope.limit);
    let pool = crate::ops::db::pool(ctx, ServiceName::ReservationService)?;
    let pending = reservation_service::repository::pending_older_than(&pool, older_than, limit)
        .await
        .map_err(|e| db("pending reservations", e))?;
    pool.close().await;
    let payments = crate::ops::db::pool(ctx, ServiceName::PaymentService)?;
    let orders = payment_service::repository::ready_older_than(&payments, older_than, limit)
        .await
        .map_err(|e| db("unsettled orders", e))?;
    let portone = portone(ctx)?;
    let ledger = match scope.since {
        Some(since) => {
            let paid = paid_at_portone(&portone, since).await?;
            payment_service::repository::unaccounted(&payments, paid)
                .await
                .map_err(|e| db("the orders of PortOne's payments", e))?
        }
        None => Vec::new(),
    };
    payments.close().await;
    let mut open: Vec<Open> = pending
        .into_iter()
        .map(|p| {
            let merchant = ticketing_portone::merchant_uid(p.id);
            (
                "pending_reservation",
                p.id,
                merchant,
                p.created_at,
                p.amount,
            )
        })
        .collect();
    for order in orders {
        if !open.iter().any(|(_, _, m, _, _)| *m == order.merchant_uid) {
            let (id, at, amount) = (order.reservation_id, order.created_at, order.amount);
            open.push(("unsettled_order", id, order.merchant_uid, at, amount));
        }
    }
    // `limit` bounds the run, not each source: the oldest first.
    open.sort_by_key(|(_, _, _, created_at, _)| *created_at);
    open.truncate(usize::try_from(limit.max(1)).unwrap_or(usize::MAX));
    let mut lines = Vec::new();
    for item in open {
        lines.push(asked(&portone, item).await?);
    }
    add_ledger(&mut lines, ledger);
    Ok(lines)
}

/// The payments PortOne's ledger says were paid in the last `since`.
async fn paid_at_portone(
    portone: &PortOne,
    since: Duration,
) -> Result<Vec<ticketing_portone::Payment>, OpsError> {
    let to = Utc::now().timestamp();
    let from = to - i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let pages = payment_service::repository::LEDGER_PAGES;
    portone
        .payments_between(Some(PaymentStatus::Paid), from, to, pages)
        .await
        .map_err(|e| {
            OpsError::Failed(anyhow::anyhow!(
                "PortOne's list of paid payments could not be read: {e}; check `opsctl portone mode` and the keys"
            ))
        })
}

/// One open reservation or order, with what PortOne knows of its order.
async fn asked(portone: &PortOne, open: Open) -> Result<Line, OpsError> {
    let (found, reservation_id, merchant, created_at, amount) = open;
    let (state, imp_uid, action) = match portone.find_by_merchant_uid(&merchant).await {
        Ok(payment) => {
            let action = match payment.status {
                PaymentStatus::Ready => "report",
                _ => "announce",
            };
            (payment.status.as_str().to_owned(), Some(payment.imp_uid), action)
        }
        Err(PortOneError::NotFound { .. }) => ("none".to_owned(), None, "report"),
        Err(e) => {
            return Err(OpsError::Failed(anyhow::anyhow!(
                "PortOne could not be asked about {merchant}: {e}; check `opsctl portone mode` and the keys"
            )))
        }
    };
    Ok(Line {
        found,
        reservation_id,
        merchant_uid: merchant,
        age_seconds: (Utc::now() - created_at).num_seconds(),
        amount,
        portone: state,
        imp_uid,
        action,
        result: None,
    })
}

/// Paid at PortOne, accounted for by no order: announced, so the payment
/// service confirms or refunds it as its webhook would have.
fn add_ledger(lines: &mut Vec<Line>, ledger: Vec<ticketing_portone::Payment>) {
    for payment in ledger {
        if lines
            .iter()
            .any(|l| l.imp_uid.as_deref() == Some(payment.imp_uid.as_str()))
        {
            continue;
        }
        let Some(reservation_id) = ticketing_portone::reservation_of(&payment.merchant_uid) else {
            continue;
        };
        lines.push(Line {
            found: "ledger",
            reservation_id,
            merchant_uid: payment.merchant_uid,
            age_seconds: Utc::now().timestamp() - payment.started_at,
            amount: payment.amount,
            portone: payment.status.as_str().to_owned(),
            imp_uid: Some(payment.imp_uid),
            action: "announce",
            result: None,
        });
    }
}

pub fn portone(ctx: &Environment) -> Result<PortOne, OpsError> {
    // Only the PortOne keys: an operator's shell need not hold the others.
    let (key, secret) = Secrets::portone_from_env(ctx.profile)?;
    Ok(PortOne::new(
        reqwest::Client::new(),
        &ctx.settings.portone,
        key,
        secret,
    ))
}

/// Re-announces each `announce` line to the webhook behind the gateway.
pub async fn apply(ctx: &Environment, lines: &mut [Line]) -> Result<Summary, OpsError> {
    let url = ctx
        .settings
        .services
        .api_gateway
        .url
        .join("/webhooks/portone")
        .map_err(|e| OpsError::Failed(e.into()))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| OpsError::Failed(e.into()))?;
    let mut summary = Summary {
        pending: lines.len(),
        ..Summary::default()
    };
    for line in lines.iter_mut() {
        let Some(imp_uid) = line.imp_uid.clone().filter(|_| line.action == "announce") else {
            summary.unpaid += 1;
            continue;
        };
        let notice = WebhookNotice {
            imp_uid,
            merchant_uid: line.merchant_uid.clone(),
            status: line.portone.clone(),
        };
        let answer = http.post(url.clone()).json(&notice).send().await;
        line.result = Some(match answer {
            Ok(r) if r.status().is_success() => {
                summary.announced += 1;
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                body["outcome"].as_str().unwrap_or("accepted").to_owned()
            }
            Ok(r) => {
                summary.failed += 1;
                format!("HTTP {}", r.status())
            }
            Err(e) => {
                summary.failed += 1;
                format!("unreachable: {e}")
            }
        });
    }
    Ok(summary)
}
