//! The schema's own scalars: `Date` (a calendar day) and `Money` (an exact
//! amount in yuan). Both travel as strings.
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use salesguard_domain::Fen;

/// A calendar day, `chrono::NaiveDate` on the Rust side and `Date` in the
/// schema. Serializes like `NaiveDate` (`"2026-11-29"`), so inputs that are
/// hashed for idempotency keys keep their hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Date(pub NaiveDate);

/// A calendar day without time or time zone: an ISO 8601 string
/// `YYYY-MM-DD`, e.g. "2026-11-29". Days of the business (order, payment,
/// shipment and report days) are days in the company's time zone (the
/// `timezone` setting), not UTC.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Date(NaiveDate::parse_from_str(&s, "%Y-%m-%d")?)),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Self {
        Date(d)
    }
}

impl From<Date> for NaiveDate {
    fn from(d: Date) -> Self {
        d.0
    }
}

/// An amount in fen (1/100 yuan) on the Rust side; `Money` in the schema.
#[derive(Clone, Copy, Debug)]
pub struct Money(pub i64);

/// An amount of money in yuan (CNY): an exact decimal string with at most
/// two decimals, never a float. The API writes exactly two decimals
/// ("1999.50"); it reads zero to two ("1999", "1999.5", "1999.50"), never
/// negative, without exponent, spaces or thousands separators, up to
/// 100,000,000,000 yuan.
#[Scalar(name = "Money")]
impl ScalarType for Money {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => Fen::parse(s)
                .map(|f| Money(f.0))
                .map_err(|e| InputValueError::custom(e.to_string())),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(Fen(self.0).to_string())
    }
}

impl From<Fen> for Money {
    fn from(f: Fen) -> Self {
        Money(f.0)
    }
}

impl From<Money> for Fen {
    fn from(m: Money) -> Self {
        Fen(m.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_speaks_yyyy_mm_dd() {
        let d = Date::parse(Value::String("2026-11-29".into())).expect("a valid day");
        assert_eq!(
            NaiveDate::from(d),
            NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default()
        );
        assert_eq!(d.to_value(), Value::String("2026-11-29".into()));
        assert!(Date::parse(Value::String("2026-11-29T00:00:00Z".into())).is_err());
        assert!(Date::parse(Value::String("29/11/2026".into())).is_err());
        assert!(Date::parse(Value::Number(20261129.into())).is_err());
        assert_eq!(
            serde_json::to_string(&d).ok(),
            serde_json::to_string(&d.0).ok(),
            "serialized like NaiveDate"
        );
    }

    #[test]
    fn money_is_a_decimal_string_in_yuan() {
        let m = Money::parse(Value::String("1999.5".into())).expect("a valid amount");
        assert_eq!(m.0, 199950);
        assert_eq!(m.to_value(), Value::String("1999.50".into()));
        assert!(Money::parse(Value::String("1.234".into())).is_err());
        assert!(Money::parse(Value::String("-1".into())).is_err());
        assert!(Money::parse(Value::Number(5.into())).is_err());
    }
}
