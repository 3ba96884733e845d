//! What an order step decides: the changes to the order and its documents,
//! the rows it adds, the audit detail, who gets a copy, and whether the
//! risk signals must be recomputed. A step returns these; the workflow
//! engine writes them (how: one statement, a group commit, a kept load, is
//! the engine's business).
use chrono::{DateTime, NaiveDate, Utc};

use crate::contract::ContractStatus;
use crate::Position;

/// How a contract was signed (SPEC S5.4).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SigningMethod {
    /// On site by the salesperson.
    OnSite,
    /// By fax, the original sent by courier by the assistant.
    FaxCourier,
}

impl SigningMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            SigningMethod::OnSite => "ON_SITE",
            SigningMethod::FaxCourier => "FAX_COURIER",
        }
    }

    /// Who signs this way.
    pub fn signer(&self) -> Position {
        match self {
            SigningMethod::OnSite => Position::Salesperson,
            SigningMethod::FaxCourier => Position::SalesAssistant,
        }
    }
}

/// A change of the order row besides its status and version.
#[derive(Clone, Debug, PartialEq)]
pub enum OrderChange {
    /// What has been received so far, in fen.
    PaidFen(i64),
    /// Finance confirmed full payment.
    FullyPaid {
        at: DateTime<Utc>,
        by: i64,
    },
    Archived {
        at: DateTime<Utc>,
    },
}

/// A change of the order's contract: its new status and the columns the
/// step sets (`None`: unchanged; `Some(None)`: cleared).
#[derive(Clone, Debug, PartialEq)]
pub struct ContractChange {
    pub status: ContractStatus,
    pub terms: Option<String>,
    /// Who submitted it for approval, and when.
    pub submitted: Option<Option<(i64, DateTime<Utc>)>>,
    /// Who approved or rejected it, and when.
    pub decided: Option<Option<(i64, DateTime<Utc>)>>,
    pub rejection_reason: Option<Option<String>>,
    /// Who signed it, when, how, and the courier's tracking number.
    pub signed: Option<Signed>,
}

/// How a contract was signed.
#[derive(Clone, Debug, PartialEq)]
pub struct Signed {
    pub by: i64,
    pub at: DateTime<Utc>,
    pub method: SigningMethod,
    pub courier_tracking: Option<String>,
}

impl ContractChange {
    /// The contract moves to `status`; nothing else changes yet.
    pub fn to(status: ContractStatus) -> ContractChange {
        ContractChange {
            status,
            terms: None,
            submitted: None,
            decided: None,
            rejection_reason: None,
            signed: None,
        }
    }

    pub fn terms(mut self, terms: Option<String>) -> Self {
        self.terms = terms;
        self
    }

    pub fn submitted(mut self, by: Option<(i64, DateTime<Utc>)>) -> Self {
        self.submitted = Some(by);
        self
    }

    pub fn decided(mut self, by: Option<(i64, DateTime<Utc>)>) -> Self {
        self.decided = Some(by);
        self
    }

    pub fn rejection_reason(mut self, reason: Option<String>) -> Self {
        self.rejection_reason = Some(reason);
        self
    }

    pub fn signed(mut self, signed: Signed) -> Self {
        self.signed = Some(signed);
        self
    }
}

/// A change of the order's invoice.
#[derive(Clone, Debug, PartialEq)]
pub enum InvoiceChange {
    Mailed {
        by: i64,
        at: DateTime<Utc>,
        carrier: String,
        tracking: String,
        expected_arrival_on: NaiveDate,
    },
    ReceiptConfirmed {
        by: i64,
        at: DateTime<Utc>,
    },
}

/// A change of the order's shipment.
#[derive(Clone, Debug, PartialEq)]
pub enum ShipmentChange {
    Delivered { at: DateTime<Utc>, by: i64 },
}

/// A payment that pays an order's receivable down (goods that left on an
/// exception).
#[derive(Clone, Debug, PartialEq)]
pub struct PayDown {
    pub receivable_id: i64,
    /// Paid off this time, in fen (also off the agent's outstanding).
    pub amount_fen: i64,
    /// What is left outstanding.
    pub left_fen: i64,
    /// Set when nothing is left.
    pub settled_at: Option<DateTime<Utc>>,
}

/// A row the step adds; nothing in the step needs its key.
#[derive(Clone, Debug, PartialEq)]
pub enum NewRow {
    Payment {
        amount_fen: i64,
        received_on: NaiveDate,
        reference: String,
        recorded_by: i64,
        at: DateTime<Utc>,
    },
    /// A movement of the order's accounts receivable (docs/metrics.md).
    ArEntry {
        due_on: NaiveDate,
        entry_on: NaiveDate,
        amount_fen: i64,
    },
    InvoiceInfo {
        title: String,
        tax_number: String,
        bank_name: String,
        bank_account: String,
        mailing_address: String,
        collected_by: i64,
        at: DateTime<Utc>,
    },
    Invoice {
        invoice_number: String,
        amount_fen: i64,
        issued_by: i64,
        at: DateTime<Utc>,
    },
}

/// Who gets a copy of the step: the order's parties, plus the positions
/// responsible for the order's region named here.
#[derive(Clone, Debug, PartialEq)]
pub struct Copy {
    /// The notification's kind, e.g. `CONTRACT_APPROVED`.
    pub kind: &'static str,
    pub message: String,
    pub also: &'static [Position],
}

/// Everything an order step decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Effects {
    pub order: Vec<OrderChange>,
    pub contract: Option<ContractChange>,
    pub invoice: Option<InvoiceChange>,
    pub shipment: Option<ShipmentChange>,
    pub pay_down: Option<PayDown>,
    pub rows: Vec<NewRow>,
    /// What the audit record says besides the order before and after.
    pub detail: Option<String>,
    pub copy: Copy,
    /// The change feeds the risk signals: the worker recomputes them.
    pub recompute_signals: bool,
}

impl Effects {
    /// A step that moves the order on and sends `kind` with `message` to
    /// its parties.
    pub fn copy(kind: &'static str, message: String) -> Effects {
        Effects {
            order: vec![],
            contract: None,
            invoice: None,
            shipment: None,
            pay_down: None,
            rows: vec![],
            detail: None,
            copy: Copy {
                kind,
                message,
                also: &[],
            },
            recompute_signals: false,
        }
    }

    /// The copy also goes to these positions of the order's region.
    pub fn also_to(mut self, positions: &'static [Position]) -> Effects {
        self.copy.also = positions;
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Effects {
        self.detail = Some(detail.into());
        self
    }

    pub fn order(mut self, change: OrderChange) -> Effects {
        self.order.push(change);
        self
    }

    pub fn contract(mut self, change: ContractChange) -> Effects {
        self.contract = Some(change);
        self
    }

    pub fn invoice(mut self, change: InvoiceChange) -> Effects {
        self.invoice = Some(change);
        self
    }

    pub fn shipment(mut self, change: ShipmentChange) -> Effects {
        self.shipment = Some(change);
        self
    }

    pub fn row(mut self, row: NewRow) -> Effects {
        self.rows.push(row);
        self
    }

    pub fn pay_down(mut self, p: PayDown) -> Effects {
        self.pay_down = Some(p);
        self
    }

    pub fn recompute_signals(mut self) -> Effects {
        self.recompute_signals = true;
        self
    }
}
