//! The workflow mutations' inputs, as GraphQL takes them.

use async_graphql::{Enum, InputObject, ID};
use chrono::{DateTime, Utc};

use crate::graphql::scalars::Date;
use serde::Serialize;

/// One line of a sales order: a product, a quantity and the agreed price.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct OrderLineInput {
    /// The product; it must be active.
    pub product_id: ID,
    /// Units, a positive whole number (at most 1,000,000).
    pub quantity: i64,
    /// Agreed unit price in yuan, a decimal string, e.g. "1999.00" (0 or more).
    pub unit_price: String,
}

/// A new sales order for an agent (salesperson only); it belongs to the agent's
/// region.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct SalesOrderCreateInput {
    /// The agent ordering; one outside the caller's regions is NOT_FOUND.
    pub agent_id: ID,
    /// The order lines, 1 to 200.
    pub lines: Vec<OrderLineInput>,
    /// Where the goods go, at most 500 characters; the agent's address when omitted.
    pub delivery_address: Option<String>,
    /// Days after shipment within which payment is due (0 to 365).
    pub payment_terms_days: i32,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// The input of steps that need only the order.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct OrderStepInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Drafts the contract of a filed order (sales assistant or management).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ContractDraftInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// The contract's terms as drafted from the order, 1 to 20,000 characters.
    pub terms: String,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Submits a drafted contract and its order for approval (sales assistant or
/// management).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ContractSubmitInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// Revised terms (after a rejection), at most 20,000 characters; unchanged when
    /// omitted.
    pub terms: Option<String>,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Approves or rejects a contract pending approval (supervisor or management);
/// not by whoever filed the order or drafted or submitted the contract.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ContractDecisionInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// Required when rejecting: why, for the drafter; optional when approving. At
    /// most 2000 characters.
    pub reason: Option<String>,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// How a contract is signed.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[graphql(remote = "salesguard_domain::order::effects::SigningMethod")]
pub enum SigningMethod {
    /// Signed on site by the salesperson.
    OnSite,
    /// Signed by fax, original sent by courier by the assistant.
    FaxCourier,
}

/// Records the signing of an approved contract: ON_SITE by the salesperson,
/// FAX_COURIER by the sales assistant.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ContractSignInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// How it was signed; it fixes who may record it.
    pub method: SigningMethod,
    /// Courier tracking number of the original, at most 100 characters (required
    /// for FAX_COURIER).
    pub courier_tracking: Option<String>,
    /// When it was signed, not in the future; now when omitted.
    pub signed_at: Option<DateTime<Utc>>,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// A payment received for an order (finance only).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct PaymentRecordInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// Amount received in yuan, a decimal string, e.g. "5000.00": more than zero,
    /// at most what is still due.
    pub amount: String,
    /// The day the money arrived, not in the future.
    pub received_on: Date,
    /// Bank reference of the transfer, 1 to 200 characters.
    pub reference: String,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Management's approval to ship an order before full payment (management
/// only); used by the order's next shipment.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ShipmentExceptionApproveInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// The unpaid amount that may ship, in yuan (a decimal string): more than zero,
    /// at most what is unpaid.
    pub amount: String,
    /// Why shipping before payment is allowed, 1 to 2000 characters.
    pub reason: String,
    /// When the approval lapses if unused: in the future, at most 90 days ahead.
    pub expires_at: DateTime<Utc>,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Issues the shipping notice of a paid order, or of one covered by a
/// management exception, to a warehouse (sales assistant only).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ShippingNoticeIssueInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// The warehouse to ship from.
    pub warehouse_id: ID,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// The serial number of one unit shipped.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct SerialInput {
    /// The unit's product.
    pub product_id: ID,
    /// The unit's serial number, 1 to 64 characters; never shipped before.
    pub serial: String,
}

/// Ships the goods of a shipping notice (warehouse keeper only): checks the
/// notice is genuine and unused, and takes the stock out of its warehouse.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ShipmentShipInput {
    /// The number printed on the shipping notice, e.g. SC20261129FHTZ0001.
    pub notice_number: String,
    /// The verification code printed on the notice.
    pub verification_code: String,
    /// The carrier, 1 to 100 characters.
    pub carrier: String,
    /// The carrier's tracking number, 1 to 100 characters.
    pub tracking_number: String,
    /// When the goods left, not in the future; now when omitted.
    pub shipped_at: Option<DateTime<Utc>>,
    /// The serial number of every unit shipped (one per unit, per product
    /// exactly the quantity shipped). Optional: none are recorded when omitted.
    pub serials: Option<Vec<SerialInput>>,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Confirms, once, that a shipped order's goods arrived (warehouse keeper or
/// sales assistant).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ShipmentConfirmDeliveryInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// When they arrived: not in the future nor before the shipment; now when
    /// omitted.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// The agent's invoicing information for a shipped, fully paid order
/// (salesperson only).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct InvoiceInfoCollectInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// Invoice title (the agent's legal name), 1 to 200 characters.
    pub title: String,
    /// The agent's tax number, 1 to 40 characters.
    pub tax_number: String,
    /// The agent's bank, 1 to 200 characters.
    pub bank_name: String,
    /// The agent's bank account number, 1 to 60 characters.
    pub bank_account: String,
    /// Where the invoice is mailed to, 1 to 500 characters.
    pub mailing_address: String,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Issues the tax invoice for the order's total (finance only); the order must
/// be fully paid.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct InvoiceIssueInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// The number of the tax invoice issued, 1 to 60 characters.
    pub invoice_number: String,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Records that the invoice was mailed to the agent (sales assistant only).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct InvoiceMailInput {
    /// The order; one outside the caller's regions is NOT_FOUND.
    pub order_id: ID,
    /// The carrier, 1 to 100 characters.
    pub carrier: String,
    /// The carrier's tracking number, 1 to 100 characters.
    pub tracking_number: String,
    /// The day the invoice should arrive, not in the past.
    pub expected_arrival_on: Date,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}
