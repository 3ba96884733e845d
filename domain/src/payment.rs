//! The payment rule (SPEC S5): goods leave, and invoices are issued, only
//! for an order that is fully paid, that is, every fen received and
//! confirmed by finance; or, for shipping, under a management exception
//! that is still valid and covers what is unpaid. Written once here; every
//! step asks these functions.
use chrono::{DateTime, Utc};

use crate::refusal::{Refusal, RefusalCode};
use crate::Fen;

/// What an order owes and what finance has confirmed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PaymentState {
    pub total_fen: i64,
    pub paid_fen: i64,
    /// Finance confirmed full payment.
    pub confirmed: bool,
}

/// A management exception for shipping before full payment (tied to one
/// order, an amount and an expiry), not yet used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShipmentException {
    pub id: i64,
    pub amount_fen: i64,
    pub expires_at: DateTime<Utc>,
}

impl PaymentState {
    /// What is still to be received (never negative: a payment above what
    /// is due is refused).
    pub fn unpaid(&self) -> i64 {
        self.total_fen - self.paid_fen
    }

    /// Every fen received (confirmed or not).
    pub fn all_received(&self) -> bool {
        self.paid_fen >= self.total_fen
    }

    /// Fully paid: every fen received and confirmed by finance.
    pub fn fully_paid(&self) -> bool {
        self.confirmed && self.all_received()
    }

    /// Refuses a payment of `amount` fen above what is still due.
    pub fn accept(&self, amount: i64) -> Result<(), Refusal> {
        if amount > self.unpaid() {
            return Err(Refusal::bad_input(
                &["amount"],
                format!(
                    "exceeds what is still due on the order ({})",
                    Fen(self.unpaid())
                ),
            ));
        }
        Ok(())
    }

    /// Finance may confirm full payment of order `number` only once, and
    /// only when every fen has arrived.
    pub fn require_confirmable(&self, number: &str) -> Result<(), Refusal> {
        if self.confirmed {
            return Err(Refusal::new(
                RefusalCode::Conflict,
                format!("full payment of order {number} is already confirmed"),
            ));
        }
        if !self.all_received() {
            return Err(Refusal::new(
                RefusalCode::PaymentIncomplete,
                format!(
                    "order {number}: {} of {} received",
                    Fen(self.paid_fen),
                    Fen(self.total_fen)
                ),
            ));
        }
        Ok(())
    }

    /// Invoicing needs the order fully paid.
    pub fn require_fully_paid(&self, number: &str) -> Result<(), Refusal> {
        if self.fully_paid() {
            return Ok(());
        }
        Err(Refusal::new(
            RefusalCode::PaymentIncomplete,
            format!(
                "order {number}: full payment is not confirmed ({} of {} received)",
                Fen(self.paid_fen),
                Fen(self.total_fen)
            ),
        ))
    }

    /// Whether goods of order `number` may leave now: `Ok(None)` when it is
    /// fully paid, `Ok(Some(e))` under the exception `e` (the newest valid
    /// one that covers what is unpaid), else why not. `unused` are the
    /// order's exceptions not yet used, newest first.
    pub fn clearance<'a>(
        &self,
        number: &str,
        unused: &'a [ShipmentException],
        now: DateTime<Utc>,
    ) -> Result<Option<&'a ShipmentException>, Refusal> {
        if self.fully_paid() {
            return Ok(None);
        }
        if unused.is_empty() {
            return Err(Refusal::new(
                RefusalCode::PaymentIncomplete,
                format!(
                    "order {number} is not fully paid ({} of {}) and management approved no exception",
                    Fen(self.paid_fen),
                    Fen(self.total_fen)
                ),
            ));
        }
        let unpaid = self.unpaid();
        let mut live = unused.iter().filter(|e| e.expires_at > now).peekable();
        if live.peek().is_none() {
            return Err(Refusal::new(
                RefusalCode::ExceptionInvalid,
                format!("the shipment exception for order {number} has expired"),
            ));
        }
        match live.find(|e| e.amount_fen >= unpaid) {
            Some(e) => Ok(Some(e)),
            None => Err(Refusal::new(
                RefusalCode::ExceptionInvalid,
                format!(
                    "the shipment exception for order {number} does not cover the unpaid {}",
                    Fen(unpaid)
                ),
            )),
        }
    }

    /// Management may approve an exception of `amount` fen only for an
    /// order with something unpaid, and not for more than that.
    pub fn require_exception_needed(&self, amount: i64) -> Result<(), Refusal> {
        let unpaid = self.unpaid();
        if unpaid == 0 {
            return Err(Refusal::bad_input(
                &["orderId"],
                "the order is fully paid; no exception is needed",
            ));
        }
        if amount > unpaid {
            return Err(Refusal::bad_input(
                &["amount"],
                format!("exceeds the unpaid amount ({})", Fen(unpaid)),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn state(total: i64, paid: i64, confirmed: bool) -> PaymentState {
        PaymentState {
            total_fen: total,
            paid_fen: paid,
            confirmed,
        }
    }

    fn exc(id: i64, amount: i64, expires_in_h: i64, now: DateTime<Utc>) -> ShipmentException {
        ShipmentException {
            id,
            amount_fen: amount,
            expires_at: now + Duration::hours(expires_in_h),
        }
    }

    #[test]
    fn fully_paid_means_every_fen_received_and_confirmed() {
        assert!(state(100, 100, true).fully_paid());
        assert!(!state(100, 100, false).fully_paid());
        assert!(!state(100, 99, true).fully_paid());
        assert_eq!(state(100, 30, false).unpaid(), 70);
    }

    #[test]
    fn confirming_needs_every_fen_and_happens_once() {
        let code = |s: PaymentState| s.require_confirmable("X").err().map(|r| r.code);
        assert_eq!(code(state(100, 100, false)), None);
        assert_eq!(
            code(state(100, 99, false)),
            Some(RefusalCode::PaymentIncomplete)
        );
        assert_eq!(code(state(100, 100, true)), Some(RefusalCode::Conflict));
    }

    #[test]
    fn goods_leave_paid_or_under_a_valid_covering_exception() {
        let now = Utc::now();
        let paid = state(100, 100, true);
        assert_eq!(paid.clearance("X", &[], now), Ok(None));
        let unpaid = state(100, 40, false);
        let code = |r: Result<Option<&ShipmentException>, Refusal>| r.err().map(|r| r.code);
        assert_eq!(
            code(unpaid.clearance("X", &[], now)),
            Some(RefusalCode::PaymentIncomplete)
        );
        let expired = [exc(1, 60, -1, now)];
        assert_eq!(
            code(unpaid.clearance("X", &expired, now)),
            Some(RefusalCode::ExceptionInvalid)
        );
        let short = [exc(2, 59, 1, now)];
        assert_eq!(
            code(unpaid.clearance("X", &short, now)),
            Some(RefusalCode::ExceptionInvalid)
        );
        let several = [exc(4, 50, 1, now), exc(3, 60, 1, now), exc(2, 70, 1, now)];
        assert_eq!(
            unpaid
                .clearance("X", &several, now)
                .ok()
                .flatten()
                .map(|e| e.id),
            Some(3)
        );
    }

    #[test]
    fn an_exception_is_for_an_unpaid_amount_at_most() {
        assert!(state(100, 100, true).require_exception_needed(1).is_err());
        assert!(state(100, 40, false).require_exception_needed(61).is_err());
        assert!(state(100, 40, false).require_exception_needed(60).is_ok());
        assert!(state(100, 40, false).accept(61).is_err());
        assert!(state(100, 40, false).accept(60).is_ok());
    }
}
