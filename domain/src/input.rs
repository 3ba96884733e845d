//! Checks of input values (SPEC S7: exact money, bounded text): a value
//! that fails one is refused with the input field at fault.
use chrono::{DateTime, NaiveDate, Utc};

use crate::money::MAX_FEN;
use crate::refusal::Refusal;
use crate::{Fen, MoneyError};

fn bad_input(path: &[&str], message: impl Into<String>) -> Refusal {
    Refusal::bad_input(path, message)
}

pub fn text(path: &[&str], value: &str, max: usize) -> Result<String, Refusal> {
    let v = value.trim();
    if v.is_empty() {
        return Err(bad_input(path, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(bad_input(
            path,
            format!("must have at most {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

pub fn opt_text(path: &[&str], value: Option<&str>, max: usize) -> Result<Option<String>, Refusal> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => text(path, v, max).map(Some),
    }
}

/// A decimal amount in yuan ("1234.50") → fen. `positive` refuses zero.
pub fn money(path: &[&str], value: &str, positive: bool) -> Result<Fen, Refusal> {
    let fen = Fen::parse(value).map_err(|e| match e {
        MoneyError::Malformed(_) => bad_input(
            path,
            "must be a decimal amount with at most 2 decimals, e.g. \"1234.50\"",
        ),
        MoneyError::Negative => bad_input(path, "must not be negative"),
        MoneyError::TooLarge => bad_input(path, "is too large"),
    })?;
    if positive && fen.0 == 0 {
        return Err(bad_input(path, "must be greater than zero"));
    }
    Ok(fen)
}

pub fn quantity(path: &[&str], q: i64) -> Result<i64, Refusal> {
    if q <= 0 {
        return Err(bad_input(path, "must be a positive whole number"));
    }
    if q > 1_000_000 {
        return Err(bad_input(path, "must be at most 1000000"));
    }
    Ok(q)
}

pub fn checked_amount(path: &[&str], qty: i64, unit: Fen) -> Result<i64, Refusal> {
    qty.checked_mul(unit.0)
        .filter(|v| *v <= MAX_FEN)
        .ok_or_else(|| bad_input(path, "line amount is too large"))
}

pub fn not_in_future(
    path: &[&str],
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Refusal> {
    match at {
        None => Ok(now),
        Some(t) if t > now + chrono::Duration::minutes(5) => {
            Err(bad_input(path, "must not be in the future"))
        }
        Some(t) => Ok(t),
    }
}

pub fn date_not_in_future(
    path: &[&str],
    d: NaiveDate,
    today: NaiveDate,
) -> Result<NaiveDate, Refusal> {
    if d > today {
        return Err(bad_input(path, "must not be in the future"));
    }
    Ok(d)
}
