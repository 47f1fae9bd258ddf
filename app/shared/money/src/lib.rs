//! Money as a type.
//!
//! Every amount the platform handles is Korean won, which has no minor unit:
//! PortOne takes and reports whole won, so an amount is a whole number of
//! won (`i64`, as PostgreSQL's `BIGINT` and JSON numbers carry it). [`Money`]
//! keeps that number from mixing with counts and ids, and its arithmetic is
//! checked: a sum that would overflow is an error, never a wrapped amount.
//!
//! On the wire and in the database a `Money` is the bare number of won
//! (`#[serde(transparent)]`, `#[sqlx(transparent)]`), so events, tokens and
//! tables written before this type existed read unchanged.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount of Korean won.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct Money(i64);

/// Arithmetic on money that has no answer in `i64` won.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("the amount overflows: {0}")]
    Overflow(String),
}

impl Money {
    /// No money.
    pub const ZERO: Money = Money(0);

    /// `won` whole won.
    pub const fn won(won: i64) -> Money {
        Money(won)
    }

    /// The number of won.
    pub const fn as_won(self) -> i64 {
        self.0
    }

    /// More than nothing.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// `self + other`, or an error when it overflows.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(Money)
            .ok_or_else(|| MoneyError::Overflow(format!("{self} + {other}")))
    }

    /// `self - other`, or an error when it overflows.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.0
            .checked_sub(other.0)
            .map(Money)
            .ok_or_else(|| MoneyError::Overflow(format!("{self} - {other}")))
    }

    /// The total of `amounts`, or an error when it overflows.
    pub fn sum<I: IntoIterator<Item = Money>>(amounts: I) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::ZERO, |total, amount| total.checked_add(amount))
    }

    /// What is left to refund of a payment of `paid` after `refunded`, never
    /// below nothing.
    pub fn refundable(paid: Money, refunded: Money) -> Result<Money, MoneyError> {
        Ok(paid.checked_sub(refunded)?.max(Money::ZERO))
    }
}

/// `12,000 KRW`: grouped by thousands, as people read prices.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.unsigned_abs().to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{grouped} KRW")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_checked() {
        let prices = [Money::won(55_000), Money::won(77_000), Money::won(1)];
        assert_eq!(Money::sum(prices), Ok(Money::won(132_001)));
        assert_eq!(Money::sum([]), Ok(Money::ZERO));
        let overflow = Money::sum([Money::won(i64::MAX), Money::won(1)]);
        assert!(
            matches!(overflow, Err(MoneyError::Overflow(_))),
            "{overflow:?}"
        );
        assert!(Money::won(i64::MIN).checked_sub(Money::won(1)).is_err());
    }

    #[test]
    fn refundable_never_goes_below_nothing() {
        let paid = Money::won(10_000);
        assert_eq!(
            Money::refundable(paid, Money::won(4_000)),
            Ok(Money::won(6_000))
        );
        assert_eq!(Money::refundable(paid, paid), Ok(Money::ZERO));
        assert_eq!(Money::refundable(paid, Money::won(12_000)), Ok(Money::ZERO));
    }

    #[test]
    fn displays_grouped_won() {
        assert_eq!(Money::won(0).to_string(), "0 KRW");
        assert_eq!(Money::won(999).to_string(), "999 KRW");
        assert_eq!(Money::won(1_000).to_string(), "1,000 KRW");
        assert_eq!(Money::won(132_000).to_string(), "132,000 KRW");
        assert_eq!(Money::won(-1_234_567).to_string(), "-1,234,567 KRW");
    }

    #[test]
    fn is_a_bare_number_on_the_wire() {
        assert_eq!(
            serde_json::to_string(&Money::won(55_000)).ok(),
            Some("55000".into())
        );
        let read: Result<Money, _> = serde_json::from_str("77000");
        assert_eq!(read.ok(), Some(Money::won(77_000)));
        assert!(Money::won(1).is_positive() && !Money::ZERO.is_positive());
    }
}
