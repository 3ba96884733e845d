//! The clock. Times are stored in UTC, to the microsecond.
use chrono::{DateTime, SubsecRound, Utc};

/// The current time, truncated to microseconds (what both databases keep),
/// so that a value read back equals the value written and hashed.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
