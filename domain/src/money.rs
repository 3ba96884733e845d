//! Money is exact: integer fen (1/100 yuan). Parsing and formatting of the
//! decimal strings the API speaks ("1234.50").
use std::fmt;

/// An amount in fen.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fen(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount `{0}` is not a decimal number with at most 2 decimals")]
    Malformed(String),
    #[error("amount must not be negative")]
    Negative,
    #[error("amount is too large")]
    TooLarge,
}

/// The largest amount accepted anywhere: 10^13 fen (100 billion yuan), far
/// below i64 so that sums of many amounts cannot overflow.
pub const MAX_FEN: i64 = 10_000_000_000_000;

impl Fen {
    /// Parses "123", "123.4", "123.45" (optionally "-" prefixed, refused as
    /// negative). Anything else is malformed: exponents, three decimals,
    /// spaces, empty strings.
    pub fn parse(s: &str) -> Result<Fen, MoneyError> {
        let malformed = || MoneyError::Malformed(s.chars().take(40).collect());
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty()
            || int.len() > 14
            || !int.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 2
            || (body.contains('.') && frac.is_empty())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(malformed());
        }
        let yuan: i64 = int.parse().map_err(|_| malformed())?;
        let mut fen: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            let d = i64::from(b - b'0');
            fen += if i == 0 { d * 10 } else { d };
        }
        let total = yuan
            .checked_mul(100)
            .and_then(|v| v.checked_add(fen))
            .ok_or(MoneyError::TooLarge)?;
        if neg && total != 0 {
            return Err(MoneyError::Negative);
        }
        if total > MAX_FEN {
            return Err(MoneyError::TooLarge);
        }
        Ok(Fen(total))
    }
}

impl Fen {
    /// Yuan with two decimals and thousands separators: `-123456789` →
    /// `-1,234,567.89` (for people; [`Display`](fmt::Display) gives the
    /// plain form machines read).
    pub fn grouped(&self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let digits = (abs / 100).to_string();
        let mut whole = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                whole.push(',');
            }
            whole.push(c);
        }
        format!("{sign}{whole}.{:02}", abs % 100)
    }

    /// The nearest whole fen of a computed amount (a sum or an average).
    pub fn round(fen: f64) -> Fen {
        Fen(fen.round() as i64)
    }
}

/// Yuan with exactly two decimals, no separators: `-150` → `-1.50`. The one
/// format of money in the API, the exports, messages and summaries.
impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{}{}.{:02}", sign, abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(Fen::parse("0"), Ok(Fen(0)));
        assert_eq!(Fen::parse("12.3"), Ok(Fen(1230)));
        assert_eq!(Fen::parse("12.34"), Ok(Fen(1234)));
        assert_eq!(Fen::parse("100000000000"), Ok(Fen(MAX_FEN)));
        assert_eq!(Fen(123456).to_string(), "1234.56");
        assert_eq!(Fen(5).to_string(), "0.05");
    }

    #[test]
    fn formats_negative_and_large_amounts() {
        assert_eq!(Fen(-150).to_string(), "-1.50");
        assert_eq!(Fen(-5).to_string(), "-0.05");
        assert_eq!(Fen(199950).to_string(), "1999.50");
        assert_eq!(Fen(-123456789).grouped(), "-1,234,567.89");
        assert_eq!(Fen(99).grouped(), "0.99");
        assert_eq!(Fen(100000).grouped(), "1,000.00");
        assert_eq!(Fen::round(12.5).0, 13);
    }

    #[test]
    fn refuses_bad_input() {
        for bad in ["", ".5", "1.", "1.234", "1e5", " 1", "1,00", "abc", "0x10"] {
            assert!(
                matches!(Fen::parse(bad), Err(MoneyError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(Fen::parse("-1.00"), Err(MoneyError::Negative));
        assert_eq!(Fen::parse("100000000000.01"), Err(MoneyError::TooLarge));
    }
}
