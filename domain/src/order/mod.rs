//! The rules every step of an order obeys (SPEC S5, S6), in this order:
//! the actor's position may take the step, the order is in the actor's
//! regions (else it is "not found", revealing nothing), and the order's
//! status allows the step. Then the step's own rules: separation of duties
//! on the review, and the payment rule (`payment`).
pub mod effects;
pub mod steps;

use crate::refusal::{Refusal, RefusalCode};
use crate::{Actor, Capability, OrderStatus, Step};

/// What the order's common rules read of an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderFacts {
    pub number: String,
    pub region_id: i64,
    pub status: OrderStatus,
    /// Who filed it.
    pub salesperson_id: i64,
}

/// Who acted on the order's contract before its review.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContractParties {
    pub drafted_by: Option<i64>,
    pub submitted_by: Option<i64>,
}

/// The order the actor asked for does not exist, or is outside their
/// regions: the same answer, so that nothing is revealed.
pub fn not_found() -> Refusal {
    Refusal::new(RefusalCode::NotFound, "no such order").at(&["orderId"])
}

/// Whether `actor` may take `step` on `order` now: their position holds
/// the step (FORBIDDEN), the order is in their regions (NOT_FOUND) and its
/// status allows the step (CONFLICT).
pub fn gate(actor: &Actor, step: Step, order: &OrderFacts) -> Result<(), Refusal> {
    actor.require(Capability::Step(step))?;
    if !actor.sees_region(order.region_id) {
        return Err(not_found());
    }
    if !step.may_start_from(order.status) {
        let allowed: Vec<&str> = step.transition().0.iter().map(|s| s.as_str()).collect();
        return Err(Refusal::new(
            RefusalCode::Conflict,
            format!(
                "order {} is {}; {} needs it to be {}",
                order.number,
                order.status,
                step.as_str(),
                allowed.join(" or ")
            ),
        ));
    }
    Ok(())
}

/// Separation of duties on the review (SPEC S5.3): whoever filed the order
/// or drafted or submitted its contract cannot decide on it.
pub fn require_independent_reviewer(
    actor: &Actor,
    order: &OrderFacts,
    contract: ContractParties,
) -> Result<(), Refusal> {
    let me = Some(actor.user_id);
    if Some(order.salesperson_id) == me || contract.drafted_by == me || contract.submitted_by == me
    {
        return Err(Refusal::new(
            RefusalCode::SelfApproval,
            "you filed this order or drafted or submitted its contract: someone else must decide on it",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::*;
    use crate::Position::{self, *};

    const REGION: i64 = 7;

    fn actor(id: i64, position: Position, regions: &[i64]) -> Actor {
        Actor {
            user_id: id,
            username: format!("u{id}"),
            position,
            global: false,
            regions: Arc::new(regions.iter().copied().collect::<HashSet<i64>>()),
        }
    }

    fn order(status: OrderStatus) -> OrderFacts {
        OrderFacts {
            number: "SC20261208DD0001".into(),
            region_id: REGION,
            status,
            salesperson_id: 1,
        }
    }

    fn code(r: Result<(), Refusal>) -> Option<RefusalCode> {
        r.err().map(|r| r.code)
    }

    /// One row: the step, who takes it, their regions, the order's status,
    /// and the answer.
    type Row = (
        Step,
        Position,
        &'static [i64],
        OrderStatus,
        Option<RefusalCode>,
    );

    #[test]
    fn the_gate_refuses_by_position_then_region_then_status() {
        use OrderStatus as S;
        use RefusalCode::*;
        const ELSEWHERE: &[i64] = &[REGION + 1];
        const HERE: &[i64] = &[REGION];
        let (here, elsewhere) = (HERE, ELSEWHERE);
        #[rustfmt::skip]
        let table: &[Row] = &[
            (Step::ContractDraft, SalesAssistant, here, S::Filed, None),
            (Step::ContractDraft, Management, here, S::Filed, None),
            (Step::ContractDraft, Salesperson, here, S::Filed, Some(Forbidden)),
            (Step::ContractDraft, SalesAssistant, elsewhere, S::Filed, Some(NotFound)),
            (Step::ContractDraft, SalesAssistant, here, S::Approved, Some(Conflict)),
            // Position before region, region before status.
            (Step::ContractDraft, Finance, elsewhere, S::Approved, Some(Forbidden)),
            (Step::ContractDraft, SalesAssistant, elsewhere, S::Approved, Some(NotFound)),
            (Step::ContractApprove, Supervisor, here, S::PendingApproval, None),
            (Step::ContractApprove, SalesAssistant, here, S::PendingApproval, Some(Forbidden)),
            (Step::ContractApprove, Supervisor, here, S::ContractDrafted, Some(Conflict)),
            (Step::ContractSign, Salesperson, here, S::Approved, None),
            (Step::ContractSign, SalesAssistant, here, S::Approved, None),
            (Step::ContractSign, Supervisor, here, S::Approved, Some(Forbidden)),
            (Step::PaymentRecord, Finance, here, S::AtFinance, None),
            (Step::PaymentRecord, Finance, here, S::Shipped, None),
            (Step::PaymentRecord, Management, here, S::AtFinance, Some(Forbidden)),
            (Step::PaymentRecord, Finance, here, S::Signed, Some(Conflict)),
            (Step::PaymentConfirmFull, SalesAssistant, here, S::AtFinance, Some(Forbidden)),
            (Step::ShipmentExceptionApprove, Management, here, S::AtFinance, None),
            (Step::ShipmentExceptionApprove, Supervisor, here, S::AtFinance, Some(Forbidden)),
            (Step::ShippingNoticeIssue, SalesAssistant, here, S::Paid, None),
            (Step::ShippingNoticeIssue, SalesAssistant, here, S::Signed, Some(Conflict)),
            (Step::ShipmentShip, Warehouse, here, S::NoticeIssued, None),
            (Step::ShipmentShip, Management, here, S::NoticeIssued, Some(Forbidden)),
            (Step::ShipmentShip, Warehouse, here, S::Paid, Some(Conflict)),
            (Step::ShipmentConfirmDelivery, Warehouse, here, S::Invoiced, None),
            (Step::InvoiceInfoCollect, Salesperson, here, S::Shipped, None),
            (Step::InvoiceIssue, Finance, here, S::InvoiceInfoCollected, None),
            (Step::InvoiceIssue, SalesAssistant, here, S::InvoiceInfoCollected, Some(Forbidden)),
            (Step::InvoiceIssue, Finance, here, S::Shipped, Some(Conflict)),
            (Step::OrderArchive, SalesAssistant, here, S::ReceiptConfirmed, None),
            (Step::OrderArchive, SalesAssistant, here, S::Archived, Some(Conflict)),
        ];
        for (step, position, regions, status, want) in table {
            let got = code(gate(&actor(9, *position, regions), *step, &order(*status)));
            assert_eq!(got, *want, "{step:?} by {position} on {status}");
        }
    }

    #[test]
    fn every_step_refuses_every_position_it_does_not_grant_and_every_other_status() {
        for step in Step::ALL {
            for position in Position::ALL {
                let allowed = Capability::Step(step).held_by(position);
                for status in OrderStatus::ALL {
                    let got = code(gate(&actor(9, position, &[REGION]), step, &order(status)));
                    let want = if !allowed {
                        Some(RefusalCode::Forbidden)
                    } else if !step.may_start_from(status) {
                        Some(RefusalCode::Conflict)
                    } else {
                        None
                    };
                    assert_eq!(got, want, "{step:?} by {position} on {status}");
                }
            }
        }
    }

    #[test]
    fn a_company_wide_reader_sees_every_region() {
        let mut a = actor(9, Finance, &[]);
        a.global = true;
        assert_eq!(
            code(gate(
                &a,
                Step::PaymentRecord,
                &order(OrderStatus::AtFinance)
            )),
            None
        );
    }

    #[test]
    fn whoever_filed_drafted_or_submitted_may_not_decide() {
        let o = order(OrderStatus::PendingApproval);
        let parties = ContractParties {
            drafted_by: Some(2),
            submitted_by: Some(3),
        };
        for (who, want) in [
            (1, Some(RefusalCode::SelfApproval)),
            (2, Some(RefusalCode::SelfApproval)),
            (3, Some(RefusalCode::SelfApproval)),
            (4, None),
        ] {
            let a = actor(who, Supervisor, &[REGION]);
            assert_eq!(
                code(require_independent_reviewer(&a, &o, parties)),
                want,
                "user {who}"
            );
        }
    }
}
