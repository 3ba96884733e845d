//! Workflow steps: which position may take each step (SPEC S5/S6, "fixed
//! positions, fixed powers") and which status transition it makes.
use crate::{Capability, OrderStatus, Position};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    OrderFile,
    ContractDraft,
    ContractSubmit,
    ContractApprove,
    ContractReject,
    ContractSign,
    OrderForwardToFinance,
    PaymentRecord,
    PaymentConfirmFull,
    ShipmentExceptionApprove,
    ShippingNoticeIssue,
    ShipmentShip,
    ShipmentConfirmDelivery,
    InvoiceInfoCollect,
    InvoiceIssue,
    InvoiceMail,
    InvoiceConfirmReceipt,
    OrderArchive,
}

impl Step {
    pub const ALL: [Step; 18] = [
        Step::OrderFile,
        Step::ContractDraft,
        Step::ContractSubmit,
        Step::ContractApprove,
        Step::ContractReject,
        Step::ContractSign,
        Step::OrderForwardToFinance,
        Step::PaymentRecord,
        Step::PaymentConfirmFull,
        Step::ShipmentExceptionApprove,
        Step::ShippingNoticeIssue,
        Step::ShipmentShip,
        Step::ShipmentConfirmDelivery,
        Step::InvoiceInfoCollect,
        Step::InvoiceIssue,
        Step::InvoiceMail,
        Step::InvoiceConfirmReceipt,
        Step::OrderArchive,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Step::OrderFile => "salesOrderCreate",
            Step::ContractDraft => "contractDraft",
            Step::ContractSubmit => "contractSubmit",
            Step::ContractApprove => "contractApprove",
            Step::ContractReject => "contractReject",
            Step::ContractSign => "contractSign",
            Step::OrderForwardToFinance => "salesOrderForwardToFinance",
            Step::PaymentRecord => "paymentRecord",
            Step::PaymentConfirmFull => "paymentConfirmFull",
            Step::ShipmentExceptionApprove => "shipmentExceptionApprove",
            Step::ShippingNoticeIssue => "shippingNoticeIssue",
            Step::ShipmentShip => "shipmentShip",
            Step::ShipmentConfirmDelivery => "shipmentConfirmDelivery",
            Step::InvoiceInfoCollect => "invoiceInfoCollect",
            Step::InvoiceIssue => "invoiceIssue",
            Step::InvoiceMail => "invoiceMail",
            Step::InvoiceConfirmReceipt => "invoiceConfirmReceipt",
            Step::OrderArchive => "salesOrderArchive",
        }
    }

    /// The positions that may take this step (the capability table).
    pub fn allowed_positions(&self) -> &'static [Position] {
        Capability::Step(*self).holders()
    }

    pub fn allows(&self, position: Position) -> bool {
        position.may(Capability::Step(*self))
    }

    /// The statuses this step may start from and the status it leaves the
    /// order in. `None` as target means the step does not change the status.
    pub fn transition(&self) -> (&'static [OrderStatus], Option<OrderStatus>) {
        use OrderStatus::*;
        match self {
            Step::OrderFile => (&[], Some(Filed)),
            Step::ContractDraft => (&[Filed], Some(ContractDrafted)),
            Step::ContractSubmit => (&[ContractDrafted], Some(PendingApproval)),
            Step::ContractApprove => (&[PendingApproval], Some(Approved)),
            Step::ContractReject => (&[PendingApproval], Some(ContractDrafted)),
            Step::ContractSign => (&[Approved], Some(Signed)),
            Step::OrderForwardToFinance => (&[Signed], Some(AtFinance)),
            // Payments are recorded while at finance and after shipment
            // (an order shipped on an exception is paid later).
            Step::PaymentRecord => (
                &[AtFinance, NoticeIssued, Shipped, InvoiceInfoCollected],
                None,
            ),
            // At finance it moves the order to PAID; after a shipment on an
            // exception it records that the rest has arrived.
            Step::PaymentConfirmFull => (
                &[AtFinance, NoticeIssued, Shipped, InvoiceInfoCollected],
                Some(Paid),
            ),
            Step::ShipmentExceptionApprove => (&[Signed, AtFinance], None),
            // From PAID, or from AT_FINANCE on a management exception.
            Step::ShippingNoticeIssue => (&[Paid, AtFinance], Some(NoticeIssued)),
            Step::ShipmentShip => (&[NoticeIssued], Some(Shipped)),
            Step::ShipmentConfirmDelivery => (
                &[
                    Shipped,
                    InvoiceInfoCollected,
                    Invoiced,
                    InvoiceMailed,
                    ReceiptConfirmed,
                ],
                None,
            ),
            Step::InvoiceInfoCollect => (&[Shipped], Some(InvoiceInfoCollected)),
            Step::InvoiceIssue => (&[InvoiceInfoCollected], Some(Invoiced)),
            Step::InvoiceMail => (&[Invoiced], Some(InvoiceMailed)),
            Step::InvoiceConfirmReceipt => (&[InvoiceMailed], Some(ReceiptConfirmed)),
            Step::OrderArchive => (&[ReceiptConfirmed], Some(Archived)),
        }
    }

    /// The status an order in `from` is left in by this step.
    pub fn target_from(&self, from: OrderStatus) -> OrderStatus {
        match (self, from) {
            (Step::PaymentConfirmFull, OrderStatus::AtFinance) => OrderStatus::Paid,
            (Step::PaymentConfirmFull, other) => other,
            _ => self.transition().1.unwrap_or(from),
        }
    }

    pub fn may_start_from(&self, status: OrderStatus) -> bool {
        self.transition().0.contains(&status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statuses an order can be in once its shipping notice exists:
    /// everything the steps reach from NOTICE_ISSUED.
    #[test]
    fn no_step_leads_back_to_before_the_shipping_notice() {
        let mut reach = vec![OrderStatus::NoticeIssued];
        let mut i = 0;
        while i < reach.len() {
            let from = reach[i];
            for step in Step::ALL {
                let (froms, to) = step.transition();
                if let (true, Some(to)) = (froms.contains(&from), to) {
                    if !reach.contains(&to) {
                        reach.push(to);
                    }
                }
            }
            i += 1;
        }
        for s in OrderStatus::ALL {
            assert_eq!(s.before_shipping_notice(), !reach.contains(&s), "{s}");
        }
    }

    #[test]
    fn the_main_chain_is_connected() {
        use OrderStatus::*;
        let chain = [
            (Step::ContractDraft, Filed, ContractDrafted),
            (Step::ContractSubmit, ContractDrafted, PendingApproval),
            (Step::ContractApprove, PendingApproval, Approved),
            (Step::ContractSign, Approved, Signed),
            (Step::OrderForwardToFinance, Signed, AtFinance),
            (Step::PaymentConfirmFull, AtFinance, Paid),
            (Step::ShippingNoticeIssue, Paid, NoticeIssued),
            (Step::ShipmentShip, NoticeIssued, Shipped),
            (Step::InvoiceInfoCollect, Shipped, InvoiceInfoCollected),
            (Step::InvoiceIssue, InvoiceInfoCollected, Invoiced),
            (Step::InvoiceMail, Invoiced, InvoiceMailed),
            (Step::InvoiceConfirmReceipt, InvoiceMailed, ReceiptConfirmed),
            (Step::OrderArchive, ReceiptConfirmed, Archived),
        ];
        for (step, from, to) in chain {
            assert!(step.may_start_from(from), "{step:?} from {from}");
            assert_eq!(step.target_from(from), to);
        }
        assert!(!Step::ShipmentShip.may_start_from(Paid));
        assert_eq!(Step::PaymentConfirmFull.target_from(Shipped), Shipped);
        assert_eq!(Step::PaymentRecord.target_from(AtFinance), AtFinance);
    }
}

/// The steps table of `docs/workflow.md`: a test fails when the document
/// and this table differ.
pub fn steps_table() -> String {
    let mut out = String::from("| mutation | who may take it | from | to |\n|---|---|---|---|\n");
    for step in Step::ALL {
        let who: Vec<&str> = step
            .allowed_positions()
            .iter()
            .map(|p| p.as_str())
            .collect();
        let (from, to) = step.transition();
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let to = match (step, to) {
            (Step::PaymentConfirmFull, _) => "PAID from AT_FINANCE, else unchanged".to_owned(),
            (_, Some(s)) => s.as_str().to_owned(),
            (_, None) => "unchanged".to_owned(),
        };
        let from = if from.is_empty() {
            "(new order)".to_owned()
        } else {
            from.join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            step.as_str(),
            who.join(", "),
            from,
            to
        ));
    }
    out
}

#[cfg(test)]
mod doc_tests {
    #[test]
    fn docs_workflow_md_lists_the_steps_as_the_code_defines_them() {
        let doc = include_str!("../../docs/workflow.md");
        let table = doc
            .split("<!-- steps:begin -->\n")
            .nth(1)
            .and_then(|rest| rest.split("<!-- steps:end -->").next())
            .unwrap_or_default();
        let want = super::steps_table();
        assert!(
            table == want,
            "docs/workflow.md's steps table differs from the code; it should read:\n{want}"
        );
    }
}
