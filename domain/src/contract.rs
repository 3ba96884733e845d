//! The sales contract (SPEC S5.2–S5.4): drafted from the order, submitted,
//! approved or rejected by the supervisor, then signed.
use crate::Step;

stored_enum!(
    /// Where a sales contract stands.
    ContractStatus {
        /// Drafted, or sent back after a rejection; not yet submitted.
        Draft = "DRAFT",
        /// Submitted for approval.
        PendingApproval = "PENDING_APPROVAL",
        /// Approved by the supervisor.
        Approved = "APPROVED",
        /// Rejected; the drafter revises and submits again.
        Rejected = "REJECTED",
        /// Signed on site or by fax and courier.
        Signed = "SIGNED",
    }
);

impl ContractStatus {
    /// The status a step leaves the order's contract in, for the steps that
    /// change it.
    pub fn after(step: Step) -> Option<ContractStatus> {
        match step {
            Step::ContractDraft => Some(ContractStatus::Draft),
            Step::ContractSubmit => Some(ContractStatus::PendingApproval),
            Step::ContractApprove => Some(ContractStatus::Approved),
            Step::ContractReject => Some(ContractStatus::Rejected),
            Step::ContractSign => Some(ContractStatus::Signed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_and_nothing_else_parses() {
        for s in ContractStatus::ALL {
            assert_eq!(ContractStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(ContractStatus::parse("draft"), None);
        assert_eq!(ContractStatus::parse(""), None);
    }
}
