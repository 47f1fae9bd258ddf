//! The payment's domain: an order's states and how a PortOne payment is
//! judged against its order. Pure: no I/O, unit-tested here.

use ticketing_money::Money;
use ticketing_portone::Payment;

/// The currency every order is in.
pub const CURRENCY: &str = "KRW";

ticketing_db::text_enum! {
    /// Where an order (`payments` row) is: `READY` once prepared, then what
    /// the first decisive webhook said. The table's `CHECK` constraint holds
    /// the same words (migration 0002).
    #[derive(serde::Serialize)]
    #[serde(rename_all = "UPPERCASE")]
    pub enum OrderStatus / UnknownOrderStatus ("order status") {
        Ready = "READY",
        Paid = "PAID",
        Failed = "FAILED",
        Cancelled = "CANCELLED",
        Refunded = "REFUNDED",
    }
}

/// Why a payment was refused, as `PaymentFailed.error_code` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// Paid, but not what the order asked for: cancelled at PortOne.
    AmountMismatch,
    /// The PG refused the payment.
    PgFailed,
    /// Cancelled at PortOne before the webhook was read.
    CancelledAtPg,
}

impl FailureCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureCode::AmountMismatch => "amount_mismatch",
            FailureCode::PgFailed => "pg_failed",
            FailureCode::CancelledAtPg => "cancelled_at_pg",
        }
    }

    /// The order's state after this failure.
    pub const fn order_status(self) -> OrderStatus {
        match self {
            FailureCode::PgFailed => OrderStatus::Failed,
            FailureCode::AmountMismatch | FailureCode::CancelledAtPg => OrderStatus::Cancelled,
        }
    }
}

/// The order as prepared: what PortOne's record must match. (It is the order
/// PortOne's record names, so its `merchant_uid` agrees by construction.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    pub amount: Money,
    pub currency: &'a str,
}

/// Where PortOne's record of a payment disagrees with the order it pays;
/// empty when they agree. Only PortOne's record is judged: the webhook's
/// body names an `imp_uid` to look up and nothing more (anyone can post a
/// notice, so a notice naming another order must never cancel this payment).
/// A payment partly refunded at PortOne already is not the order's amount
/// any more, so it never confirms a reservation.
pub fn mismatches(order: &Expected<'_>, payment: &Payment) -> Vec<String> {
    let mut found = Vec::new();
    if payment.amount != order.amount {
        found.push(format!(
            "paid {} but the order is {}",
            payment.amount.as_won(),
            order.amount.as_won()
        ));
    }
    if payment.cancel_amount.is_positive() {
        found.push(format!(
            "{} of it was already refunded at PortOne",
            payment.cancel_amount.as_won()
        ));
    }
    if payment.currency != order.currency {
        found.push(format!(
            "paid in {} but the order is in {}",
            payment.currency, order.currency
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use ticketing_portone::PaymentStatus;

    use super::*;

    fn payment(merchant_uid: &str, amount: i64, currency: &str) -> Payment {
        Payment {
            imp_uid: "imp_1".into(),
            merchant_uid: merchant_uid.into(),
            amount: Money::won(amount),
            cancel_amount: Money::ZERO,
            currency: currency.into(),
            status: PaymentStatus::Paid,
            pg_provider: "html5_inicis".into(),
            pay_method: None,
            fail_reason: None,
            started_at: 0,
            paid_at: 0,
            failed_at: 0,
            cancelled_at: 0,
        }
    }

    #[test]
    fn order_statuses_round_trip_through_their_words() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert!("PENDING".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn a_payment_matching_its_order_has_no_mismatch() {
        let order = Expected {
            amount: Money::won(55_000),
            currency: CURRENCY,
        };
        assert!(mismatches(&order, &payment("res_1", 55_000, "KRW")).is_empty());
        let all = mismatches(&order, &payment("res_2", 1_000, "USD"));
        assert_eq!(
            all,
            [
                "paid 1000 but the order is 55000",
                "paid in USD but the order is in KRW",
            ]
        );
        let mut partly_refunded = payment("res_1", 55_000, "KRW");
        partly_refunded.cancel_amount = Money::won(5_000);
        assert_eq!(
            mismatches(&order, &partly_refunded),
            ["5000 of it was already refunded at PortOne"]
        );
    }

    #[test]
    fn only_a_pg_refusal_leaves_the_order_failed() {
        assert_eq!(FailureCode::PgFailed.order_status(), OrderStatus::Failed);
        assert_eq!(
            FailureCode::AmountMismatch.order_status(),
            OrderStatus::Cancelled
        );
        assert_eq!(
            FailureCode::CancelledAtPg.order_status(),
            OrderStatus::Cancelled
        );
        assert_eq!(FailureCode::AmountMismatch.as_str(), "amount_mismatch");
    }
}
