//! What a trace was asked about, and the reservation it names.

use ticketing_catalog::ServiceName;
use uuid::Uuid;

use super::db_error;
use crate::environment::Environment;
use crate::error::OpsError;

/// What was asked about.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// A reservation id or an event id.
    Id(Uuid),
    MerchantUid(String),
    ImpUid(String),
}

impl Subject {
    pub fn parse(raw: &str) -> Result<Subject, OpsError> {
        let raw = raw.trim();
        if let Ok(id) = Uuid::parse_str(raw) {
            return Ok(Subject::Id(id));
        }
        if ticketing_portone::reservation_of(raw).is_some() {
            return Ok(Subject::MerchantUid(raw.to_owned()));
        }
        if raw.starts_with("imp_") {
            return Ok(Subject::ImpUid(raw.to_owned()));
        }
        Err(OpsError::usage(
            format!("`{raw}` is not a reservation id, event id, merchant_uid or imp_uid"),
            "give the reservation's id (a UUID), its order's merchant_uid, PortOne's imp_uid, or an event id",
        ))
    }
}

/// The reservation `subject` names.
pub async fn resolve(ctx: &Environment, subject: &Subject) -> Result<Uuid, OpsError> {
    match subject {
        Subject::MerchantUid(m) => ticketing_portone::reservation_of(m).ok_or_else(|| {
            OpsError::usage(
                format!("`{m}` names no reservation"),
                "check the merchant_uid",
            )
        }),
        Subject::ImpUid(imp) => {
            let pool = crate::ops::db::pool(ctx, ServiceName::PaymentService)?;
            let found = payment_service::repository::reservation_of_payment(&pool, imp)
                .await
                .map_err(db_error("the orders"))?;
            pool.close().await;
            if let Some(found) = found {
                return Ok(found);
            }
            // A payment no order recorded (a lost webhook): PortOne knows
            // which order it paid.
            let payment = crate::ops::reconcile::portone(ctx)?
                .payment(imp)
                .await
                .map_err(|e| {
                    OpsError::usage(
                        format!("no order records {imp}, and PortOne did not find it: {e}"),
                        "check the imp_uid",
                    )
                })?;
            ticketing_portone::reservation_of(&payment.merchant_uid).ok_or_else(|| {
                OpsError::usage(
                    format!(
                        "{imp} paid order {}, which is not ours",
                        payment.merchant_uid
                    ),
                    "check the imp_uid",
                )
            })
        }
        Subject::Id(id) => {
            let pool = crate::ops::db::pool(ctx, ServiceName::ReservationService)?;
            let found = reservation_service::repository::by_id(&pool, *id)
                .await
                .map_err(db_error("the reservations"))?;
            pool.close().await;
            if found.is_some() {
                return Ok(*id);
            }
            for service in ServiceName::ALL
                .into_iter()
                .filter(|s| s.publishes_events())
            {
                let pool = crate::ops::db::pool(ctx, service)?;
                let row = ticketing_messaging::outbox::row_of_event(&pool, *id)
                    .await
                    .map_err(db_error("the outbox"))?;
                pool.close().await;
                if let Some(key) = row.and_then(|r| Uuid::parse_str(&r.partition_key).ok()) {
                    return Ok(key);
                }
            }
            Err(OpsError::usage(
                format!("no reservation and no event has the id {id}"),
                "check the id; a merchant_uid or imp_uid works too",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_an_id_an_order_or_a_payment() {
        let id = Uuid::now_v7();
        assert_eq!(Subject::parse(&id.to_string()).ok(), Some(Subject::Id(id)));
        let m = ticketing_portone::merchant_uid(id);
        assert_eq!(Subject::parse(&m).ok(), Some(Subject::MerchantUid(m)));
        assert_eq!(
            Subject::parse("imp_123").ok(),
            Some(Subject::ImpUid("imp_123".into()))
        );
        assert!(Subject::parse("nonsense").is_err());
    }
}
