//! The agent's credit limit (SPEC S2, S5): goods that leave unpaid, on a
//! management exception, become a receivable of the agent; the agent's
//! outstanding receivables may never exceed its credit limit. The database
//! applies the same rule atomically when it books the receivable.
use crate::refusal::{Refusal, RefusalCode};
use crate::Fen;

/// What an agent owes and may owe, in fen.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Credit {
    pub limit_fen: i64,
    pub outstanding_fen: i64,
}

impl Credit {
    /// Whether `unpaid` more fen stay within the limit.
    pub fn allows(&self, unpaid: i64) -> bool {
        self.outstanding_fen
            .checked_add(unpaid)
            .is_some_and(|total| total <= self.limit_fen)
    }

    /// Refuses shipping `unpaid` fen unless the limit allows it.
    pub fn require(&self, unpaid: i64) -> Result<(), Refusal> {
        if self.allows(unpaid) {
            return Ok(());
        }
        Err(self.exceeded(unpaid))
    }

    /// The refusal of shipping `unpaid` fen over the limit.
    pub fn exceeded(&self, unpaid: i64) -> Refusal {
        Refusal::new(
            RefusalCode::CreditLimitExceeded,
            format!(
                "shipping {} unpaid would exceed the agent's credit limit ({} of {} in use)",
                Fen(unpaid),
                Fen(self.outstanding_fen),
                Fen(self.limit_fen)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_to_the_fen() {
        let c = Credit {
            limit_fen: 1000,
            outstanding_fen: 600,
        };
        for (unpaid, ok) in [(0, true), (400, true), (401, false), (i64::MAX, false)] {
            assert_eq!(c.allows(unpaid), ok, "{unpaid}");
            assert_eq!(
                c.require(unpaid).err().map(|r| r.code),
                (!ok).then_some(RefusalCode::CreditLimitExceeded),
                "{unpaid}"
            );
        }
    }
}
