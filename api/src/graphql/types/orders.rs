//! An order and its documents: lines, contract, payments, the shipment
//! exception, the shipping notice, the shipment, the receivable, the
//! invoicing information and the invoice.
use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};

use salesguard_domain::OrderStatus;
use salesguard_entities::model::*;

use super::*;
use crate::error::AppError;
use crate::graphql::ids::encode;
use crate::graphql::loaders;
use crate::graphql::scalars::{Date, Money};

/// A sales order and, through its fields, every document of its chain.
pub struct SalesOrder(pub sales_order::Model);

/// A sales order and, through its fields, every document of its chain:
/// contract, payments, shipping notice, shipment, receivable, invoice and the
/// audit history. Seen by readers of its region.
#[Object]
impl SalesOrder {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("SalesOrder", self.0.id)
    }
    /// The document number, e.g. SC20140213DD0001 (SPEC S7).
    async fn number(&self) -> &str {
        &self.0.number
    }
    /// Where the order stands in the order-to-cash chain.
    async fn status(&self) -> Result<crate::graphql::enums::OrderStatus, AppError> {
        self.0
            .status
            .parse::<OrderStatus>()
            .map(Into::into)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("order {}: {e}", self.0.id)))
    }
    /// Increases with every change; clients may show it to explain a CONFLICT.
    async fn version(&self) -> i64 {
        self.0.version
    }
    /// The agent who buys.
    async fn agent(&self, ctx: &Context<'_>) -> Result<Agent, AppError> {
        loaders::one::<agent::Entity>(ctx, self.0.agent_id)
            .await?
            .map(Agent)
            .ok_or_else(|| missing("agent", self.0.agent_id))
    }
    /// The region the order belongs to: the agent's region when it was filed.
    /// Decides who sees the order.
    async fn region(&self, ctx: &Context<'_>) -> Result<Region, AppError> {
        loaders::one::<region::Entity>(ctx, self.0.region_id)
            .await?
            .map(Region)
            .ok_or_else(|| missing("region", self.0.region_id))
    }
    /// The salesperson who filed the order.
    async fn salesperson(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.salesperson_id)).await
    }
    /// Where the goods go; the agent's address unless the order gave another.
    async fn delivery_address(&self) -> &str {
        &self.0.delivery_address
    }
    /// Days the agent has to pay after shipment (0 to 365): the due day of a
    /// receivable is the shipping day plus these days.
    async fn payment_terms_days(&self) -> i32 {
        self.0.payment_terms_days
    }
    /// Sum of the lines, computed by the server.
    async fn total(&self) -> Money {
        Money(self.0.total_fen)
    }
    /// Sum of the payments recorded so far.
    async fn paid(&self) -> Money {
        Money(self.0.paid_fen)
    }
    /// Total minus paid.
    async fn balance_due(&self) -> Money {
        Money(self.0.total_fen - self.0.paid_fen)
    }
    /// When finance confirmed full payment.
    async fn fully_paid_at(&self) -> Option<DateTime<Utc>> {
        self.0.fully_paid_at
    }
    /// When the order was filed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the order last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When the order was archived; null until then.
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }
    /// The order lines, in line order.
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<OrderLine>, AppError> {
        Ok(loaders::of_order::<order_line::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .map(OrderLine)
            .collect())
    }
    /// The sales contract, once drafted.
    async fn contract(&self, ctx: &Context<'_>) -> Result<Option<Contract>, AppError> {
        Ok(loaders::of_order::<contract::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .next()
            .map(Contract))
    }
    /// Payments received, in the order recorded.
    async fn payments(&self, ctx: &Context<'_>) -> Result<Vec<Payment>, AppError> {
        Ok(loaders::of_order::<payment::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .map(Payment)
            .collect())
    }
    /// Management's approvals to ship before full payment.
    async fn shipment_exceptions(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<ShipmentException>, AppError> {
        Ok(
            loaders::of_order::<shipment_exception::Entity>(ctx, self.0.id)
                .await?
                .into_iter()
                .map(ShipmentException)
                .collect(),
        )
    }
    /// The shipping notice, once issued.
    async fn shipping_notice(&self, ctx: &Context<'_>) -> Result<Option<ShippingNotice>, AppError> {
        // Most of the chain's steps answer with an order that cannot have a
        // notice yet: no read for those.
        let status = self.0.status.parse::<OrderStatus>().ok();
        if status.is_some_and(|s| s.before_shipping_notice()) {
            return Ok(None);
        }
        // The step this mutation ran read or wrote it: no second read.
        if let Some(known) = ctx
            .data_opt::<crate::idempotency::OrderOut>()
            .and_then(|out| out.notice(self.0.id))
        {
            return Ok(known.map(ShippingNotice));
        }
        Ok(loaders::of_order::<shipping_notice::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .next()
            .map(ShippingNotice))
    }
    /// The shipment, once the warehouse shipped.
    async fn shipment(&self, ctx: &Context<'_>) -> Result<Option<Shipment>, AppError> {
        Ok(loaders::of_order::<shipment::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .next()
            .map(Shipment))
    }
    /// The receivable created when goods left before full payment.
    async fn receivable(&self, ctx: &Context<'_>) -> Result<Option<Receivable>, AppError> {
        Ok(loaders::of_order::<receivable::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .next()
            .map(Receivable))
    }
    /// The agent's invoicing information, once collected.
    async fn invoice_info(&self, ctx: &Context<'_>) -> Result<Option<InvoiceInfo>, AppError> {
        Ok(loaders::of_order::<invoice_info::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .next()
            .map(InvoiceInfo))
    }
    /// The invoice, once issued.
    async fn invoice(&self, ctx: &Context<'_>) -> Result<Option<Invoice>, AppError> {
        Ok(loaders::of_order::<invoice::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .next()
            .map(Invoice))
    }
    /// Every recorded step and refusal on this order, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<AuditEntry>, AppError> {
        Ok(loaders::history(ctx, self.0.id)
            .await?
            .into_iter()
            .map(AuditEntry)
            .collect())
    }
}

/// One line of a sales order.
pub struct OrderLine(pub order_line::Model);

/// One line of a sales order: a product, a quantity and a unit price.
#[Object]
impl OrderLine {
    /// The line's number in the order, from 1.
    async fn line_no(&self) -> i32 {
        self.0.line_no
    }
    /// The product ordered.
    async fn product(&self, ctx: &Context<'_>) -> Result<Product, AppError> {
        loaders::one::<product::Entity>(ctx, self.0.product_id)
            .await?
            .map(Product)
            .ok_or_else(|| missing("product", self.0.product_id))
    }
    /// Units ordered.
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    /// The agreed price of one unit.
    async fn unit_price(&self) -> Money {
        Money(self.0.unit_price_fen)
    }
    /// Quantity × unit price.
    async fn amount(&self) -> Money {
        Money(self.0.amount_fen)
    }
}

/// The sales contract of an order.
pub struct Contract(pub contract::Model);

/// The sales contract of an order: drafted by the sales assistant, approved or
/// rejected by the supervisor, then signed.
#[Object]
impl Contract {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("Contract", self.0.id)
    }
    /// e.g. SC20140213HT0002.
    async fn number(&self) -> &str {
        &self.0.number
    }
    /// Where the contract stands.
    async fn status(&self) -> Result<crate::graphql::enums::ContractStatus, AppError> {
        salesguard_domain::contract::ContractStatus::parse(&self.0.status)
            .map(Into::into)
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "contract {}: unknown status `{}`",
                    self.0.id,
                    self.0.status
                ))
            })
    }
    /// The contract's terms, as drafted (free text).
    async fn terms(&self) -> &str {
        &self.0.terms
    }
    /// The sales assistant who drafted it.
    async fn drafted_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.drafted_by)).await
    }
    /// Who submitted it for approval; null until submitted.
    async fn submitted_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, self.0.submitted_by).await
    }
    /// When it was last submitted for approval.
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.0.submitted_at
    }
    /// The supervisor (or manager) who approved or rejected it.
    async fn decided_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, self.0.decided_by).await
    }
    /// When it was approved or rejected.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }
    /// Why it was rejected; null unless rejected.
    async fn rejection_reason(&self) -> Option<&str> {
        self.0.rejection_reason.as_deref()
    }
    /// ON_SITE or FAX_COURIER.
    async fn signed_method(&self) -> Option<&str> {
        self.0.signed_method.as_deref()
    }
    /// Who recorded the signing.
    async fn signed_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, self.0.signed_by).await
    }
    /// When it was signed.
    async fn signed_at(&self) -> Option<DateTime<Utc>> {
        self.0.signed_at
    }
    /// The courier's tracking number of the signed original (FAX_COURIER
    /// signing).
    async fn courier_tracking(&self) -> Option<&str> {
        self.0.courier_tracking.as_deref()
    }
    /// The order's audit entries (every step and refusal on its chain).
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<AuditEntry>, AppError> {
        Ok(loaders::history(ctx, self.0.order_id)
            .await?
            .into_iter()
            .map(AuditEntry)
            .collect())
    }
    /// The order the contract is for.
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
}

/// A payment received for an order.
pub struct Payment(pub payment::Model);

/// A payment received for an order, recorded by finance.
#[Object]
impl Payment {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("Payment", self.0.id)
    }
    /// The amount received.
    async fn amount(&self) -> Money {
        Money(self.0.amount_fen)
    }
    /// The business day the money arrived.
    async fn received_on(&self) -> Date {
        self.0.received_on.into()
    }
    /// The bank reference of the transfer.
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    /// The finance user who recorded it.
    async fn recorded_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.recorded_by)).await
    }
    /// When it was recorded.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The order paid for.
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
}

/// Management's approval to ship an order before full payment.
pub struct ShipmentException(pub shipment_exception::Model);

/// Management's approval to ship an order before full payment: an amount, a
/// reason and an expiry. Used once, by the shipment made on it.
#[Object]
impl ShipmentException {
    /// The unpaid amount allowed to ship.
    async fn amount(&self) -> Money {
        Money(self.0.amount_fen)
    }
    /// Why management allowed it.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// After this instant it can no longer be used.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    /// The manager who approved it.
    async fn approved_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.approved_by)).await
    }
    /// When it was approved.
    async fn approved_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When a shipment used it; null while unused.
    async fn used_at(&self) -> Option<DateTime<Utc>> {
        self.0.used_at
    }
}

/// The notice the assistant sends to the warehouse. The warehouse checks its
/// number and verification code before shipping.
pub struct ShippingNotice(pub shipping_notice::Model);

/// The notice the sales assistant sends to the warehouse. The warehouse keeper
/// checks its number and verification code before shipping; a notice ships
/// once.
#[Object]
impl ShippingNotice {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("ShippingNotice", self.0.id)
    }
    /// e.g. SC20140213FHTZ0003.
    async fn number(&self) -> &str {
        &self.0.number
    }
    /// Printed on the notice; the warehouse keeper enters it to prove the
    /// notice is genuine.
    async fn verification_code(&self) -> &str {
        &self.0.verification_code
    }
    /// The warehouse asked to ship.
    async fn warehouse(&self, ctx: &Context<'_>) -> Result<Option<Warehouse>, AppError> {
        Ok(loaders::one::<warehouse::Entity>(ctx, self.0.warehouse_id)
            .await?
            .map(Warehouse))
    }
    /// Issued on a management exception (shipping before full payment).
    async fn on_exception(&self) -> bool {
        self.0.exception_id.is_some()
    }
    /// The sales assistant who issued it.
    async fn issued_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.issued_by)).await
    }
    /// When it was issued.
    async fn issued_at(&self) -> DateTime<Utc> {
        self.0.issued_at
    }
    /// When a shipment used it; a notice ships once.
    async fn used_at(&self) -> Option<DateTime<Utc>> {
        self.0.used_at
    }
    /// The order's audit entries (every step and refusal on its chain).
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<AuditEntry>, AppError> {
        Ok(loaders::history(ctx, self.0.order_id)
            .await?
            .into_iter()
            .map(AuditEntry)
            .collect())
    }
    /// The order to ship.
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
}

/// The goods of an order leaving the warehouse.
pub struct Shipment(pub shipment::Model);

/// The goods of an order leaving the warehouse, on a checked shipping notice.
#[Object]
impl Shipment {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("Shipment", self.0.id)
    }
    /// The carrier, e.g. SF Express.
    async fn carrier(&self) -> &str {
        &self.0.carrier
    }
    /// The carrier's tracking number.
    async fn tracking_number(&self) -> &str {
        &self.0.tracking_number
    }
    /// When the goods left.
    async fn shipped_at(&self) -> DateTime<Utc> {
        self.0.shipped_at
    }
    /// The warehouse keeper who shipped.
    async fn shipped_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.shipped_by)).await
    }
    /// When delivery was confirmed; null until then.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    /// Serial numbers of the units shipped, if recorded.
    async fn serials(&self, ctx: &Context<'_>) -> Result<Vec<String>, AppError> {
        Ok(
            loaders::of_order::<serial_unit::Entity>(ctx, self.0.order_id)
                .await?
                .into_iter()
                .filter(|s| s.shipment_id == self.0.id)
                .map(|s| s.serial)
                .collect(),
        )
    }
    /// The warehouse shipped from.
    async fn warehouse(&self, ctx: &Context<'_>) -> Result<Option<Warehouse>, AppError> {
        Ok(loaders::one::<warehouse::Entity>(ctx, self.0.warehouse_id)
            .await?
            .map(Warehouse))
    }
    /// The order's audit entries (every step and refusal on its chain).
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<AuditEntry>, AppError> {
        Ok(loaders::history(ctx, self.0.order_id)
            .await?
            .into_iter()
            .map(AuditEntry)
            .collect())
    }
    /// The order shipped.
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
}

/// What an agent owes for goods shipped before full payment.
pub struct Receivable(pub receivable::Model);

/// What an agent owes for an order shipped before full payment (on a management
/// exception); counts against the agent's credit limit until settled.
#[Object]
impl Receivable {
    /// The unpaid amount when the goods shipped.
    async fn amount(&self) -> Money {
        Money(self.0.amount_fen)
    }
    /// The amount still unpaid now.
    async fn outstanding(&self) -> Money {
        Money(self.0.outstanding_fen)
    }
    /// The business day payment is due: the shipping day plus the order's
    /// payment terms.
    async fn due_on(&self) -> Date {
        self.0.due_on.into()
    }
    /// When it was paid in full; null while outstanding.
    async fn settled_at(&self) -> Option<DateTime<Utc>> {
        self.0.settled_at
    }
}

/// The agent's invoicing information.
pub struct InvoiceInfo(pub invoice_info::Model);

/// The agent's invoicing information for an order, collected by the salesperson
/// after shipment; finance issues the invoice from it.
#[Object]
impl InvoiceInfo {
    /// The invoice title (the agent's legal name).
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The agent's taxpayer identification number.
    async fn tax_number(&self) -> &str {
        &self.0.tax_number
    }
    /// The agent's bank.
    async fn bank_name(&self) -> &str {
        &self.0.bank_name
    }
    /// The agent's bank account number.
    async fn bank_account(&self) -> &str {
        &self.0.bank_account
    }
    /// Where the invoice is mailed.
    async fn mailing_address(&self) -> &str {
        &self.0.mailing_address
    }
    /// When it was recorded.
    async fn collected_at(&self) -> DateTime<Utc> {
        self.0.collected_at
    }
}

/// The invoice of an order.
pub struct Invoice(pub invoice::Model);

/// The invoice of an order: issued by finance once the order is fully paid,
/// then mailed by the sales assistant.
#[Object]
impl Invoice {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("Invoice", self.0.id)
    }
    /// The number of the tax invoice issued.
    async fn invoice_number(&self) -> &str {
        &self.0.invoice_number
    }
    /// The invoiced amount (the order's total).
    async fn amount(&self) -> Money {
        Money(self.0.amount_fen)
    }
    /// The finance user who issued it.
    async fn issued_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.issued_by)).await
    }
    /// When it was issued.
    async fn issued_at(&self) -> DateTime<Utc> {
        self.0.issued_at
    }
    /// When it was mailed; null until then.
    async fn mailed_at(&self) -> Option<DateTime<Utc>> {
        self.0.mailed_at
    }
    /// The carrier it was mailed with.
    async fn mail_carrier(&self) -> Option<&str> {
        self.0.mail_carrier.as_deref()
    }
    /// The mail's tracking number.
    async fn mail_tracking(&self) -> Option<&str> {
        self.0.mail_tracking.as_deref()
    }
    /// The business day the invoice is expected to arrive.
    async fn expected_arrival_on(&self) -> Option<Date> {
        self.0.expected_arrival_on.map(Date)
    }
    /// When the agent confirmed it arrived; null until then.
    async fn receipt_confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.0.receipt_confirmed_at
    }
    /// The order's audit entries (every step and refusal on its chain).
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<AuditEntry>, AppError> {
        Ok(loaders::history(ctx, self.0.order_id)
            .await?
            .into_iter()
            .map(AuditEntry)
            .collect())
    }
    /// The order invoiced.
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
}
