//! The sales order's state machine (SPEC S5, S6). Every workflow step moves an
//! order from exactly one status to the next; `Step::transition` is the only
//! place that says which.
use std::fmt;
use std::str::FromStr;

/// Where a sales order stands in the order-to-cash chain.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Filed by the salesperson, waiting for the assistant to draft a contract.
    Filed,
    /// Contract drafted (or sent back after a rejection); not yet submitted.
    ContractDrafted,
    /// Contract and order submitted to the supervisor.
    PendingApproval,
    /// Approved by the supervisor; waiting to be signed.
    Approved,
    /// Contract signed (on site or by fax + courier).
    Signed,
    /// Forwarded to finance; payments are recorded here.
    AtFinance,
    /// Finance confirmed full payment.
    Paid,
    /// Shipping notice issued to the warehouse.
    NoticeIssued,
    /// Goods shipped by the warehouse.
    Shipped,
    /// Invoicing information collected from the agent.
    InvoiceInfoCollected,
    /// Invoice issued by finance.
    Invoiced,
    /// Invoice mailed to the agent.
    InvoiceMailed,
    /// The agent confirmed the invoice arrived.
    ReceiptConfirmed,
    /// Archived: the sales process for the order has ended.
    Archived,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 14] = [
        OrderStatus::Filed,
        OrderStatus::ContractDrafted,
        OrderStatus::PendingApproval,
        OrderStatus::Approved,
        OrderStatus::Signed,
        OrderStatus::AtFinance,
        OrderStatus::Paid,
        OrderStatus::NoticeIssued,
        OrderStatus::Shipped,
        OrderStatus::InvoiceInfoCollected,
        OrderStatus::Invoiced,
        OrderStatus::InvoiceMailed,
        OrderStatus::ReceiptConfirmed,
        OrderStatus::Archived,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::Filed => "FILED",
            OrderStatus::ContractDrafted => "CONTRACT_DRAFTED",
            OrderStatus::PendingApproval => "PENDING_APPROVAL",
            OrderStatus::Approved => "APPROVED",
            OrderStatus::Signed => "SIGNED",
            OrderStatus::AtFinance => "AT_FINANCE",
            OrderStatus::Paid => "PAID",
            OrderStatus::NoticeIssued => "NOTICE_ISSUED",
            OrderStatus::Shipped => "SHIPPED",
            OrderStatus::InvoiceInfoCollected => "INVOICE_INFO_COLLECTED",
            OrderStatus::Invoiced => "INVOICED",
            OrderStatus::InvoiceMailed => "INVOICE_MAILED",
            OrderStatus::ReceiptConfirmed => "RECEIPT_CONFIRMED",
            OrderStatus::Archived => "ARCHIVED",
        }
    }

    /// Whether an order in this status cannot have a shipping notice yet: it
    /// has not been issued, and no step leads back here once it has (a
    /// payment confirmed after a shipment on an exception leaves the order
    /// PAID, so PAID is not one of these).
    pub fn before_shipping_notice(&self) -> bool {
        matches!(
            self,
            OrderStatus::Filed
                | OrderStatus::ContractDrafted
                | OrderStatus::PendingApproval
                | OrderStatus::Approved
                | OrderStatus::Signed
                | OrderStatus::AtFinance
        )
    }

    /// Whether the goods of an order in this status have left the warehouse.
    pub fn is_shipped(&self) -> bool {
        matches!(
            self,
            OrderStatus::Shipped
                | OrderStatus::InvoiceInfoCollected
                | OrderStatus::Invoiced
                | OrderStatus::InvoiceMailed
                | OrderStatus::ReceiptConfirmed
                | OrderStatus::Archived
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown order status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for OrderStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}
