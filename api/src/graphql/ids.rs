//! Opaque global IDs (Relay): base64url of `<Type>:<id>`.
use async_graphql::ID;
use base64::Engine;

use crate::error::{bad_input, ServiceError};

pub fn encode(kind: &str, id: i64) -> ID {
    ID(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{id}")))
}

/// Decodes any global ID into its type name and database id.
pub fn parse(id: &str) -> Option<(String, i64)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.as_bytes())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (kind, num) = s.split_once(':')?;
    let n: i64 = num.parse().ok()?;
    (n > 0).then(|| (kind.to_owned(), n))
}

/// Decodes an ID that must be of type `kind`; `field` names the input field.
pub fn decode(kind: &str, id: &ID, field: &str) -> Result<i64, ServiceError> {
    match parse(id) {
        Some((k, n)) if k == kind => Ok(n),
        _ => Err(bad_input(&[field], format!("is not a valid {kind} ID"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_type_check() {
        let id = encode("SalesOrder", 42);
        assert_eq!(parse(&id), Some(("SalesOrder".into(), 42)));
        assert!(decode("SalesOrder", &id, "orderId").is_ok());
        assert!(decode("Agent", &id, "agentId").is_err());
        assert!(parse("not base64!").is_none());
    }
}
