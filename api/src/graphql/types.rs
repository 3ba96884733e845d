//! The GraphQL object types, designed for front-end readers (not the
//! database rows): money as decimal strings, relations as fields, each
//! document with its history and related documents.
use async_graphql::{Context, Interface, Object, Scalar, ScalarType, SimpleObject, Value, ID};
use chrono::{DateTime, NaiveDate, Utc};

use salesguard_domain::{Fen, OrderStatus, Position};
use salesguard_entities::model::*;

use super::ids::encode;
use super::loaders;
use super::report::WeeklyReport;
use super::risk::RiskSignal;
use crate::error::AppError;

/// An amount of money in yuan as an exact decimal string with two decimals,
/// e.g. "1234.50". Never a float.
#[derive(Clone, Copy, Debug)]
pub struct Money(pub i64);

#[Scalar]
impl ScalarType for Money {
    fn parse(value: Value) -> async_graphql::InputValueResult<Self> {
        match &value {
            Value::String(s) => Fen::parse(s)
                .map(|f| Money(f.0))
                .map_err(|e| async_graphql::InputValueError::custom(e.to_string())),
            _ => Err(async_graphql::InputValueError::expected_type(value)),
        }
    }
    fn to_value(&self) -> Value {
        Value::String(Fen(self.0).to_string())
    }
}

// ------------------------------------------------------------ connections

#[derive(SimpleObject, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// One page of a list, before it is given its GraphQL connection type.
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub page_info: PageInfo,
    pub total: u64,
}

macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        #[derive(SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[derive(SimpleObject)]
        pub struct $conn {
            pub edges: Vec<$edge>,
            pub page_info: PageInfo,
            /// How many items match, over all pages.
            pub total_count: u64,
        }

        impl From<Page<$node>> for $conn {
            fn from(p: Page<$node>) -> Self {
                $conn {
                    edges: p
                        .items
                        .into_iter()
                        .map(|(cursor, node)| $edge { cursor, node })
                        .collect(),
                    page_info: p.page_info,
                    total_count: p.total,
                }
            }
        }
    };
}

connection!(SalesOrderConnection, SalesOrderEdge, SalesOrder);
connection!(AgentConnection, AgentEdge, Agent);
connection!(ProductConnection, ProductEdge, Product);
connection!(NotificationConnection, NotificationEdge, Notification);
connection!(UserConnection, UserEdge, User);
connection!(RiskSignalConnection, RiskSignalEdge, RiskSignal);
connection!(WeeklyReportConnection, WeeklyReportEdge, WeeklyReport);

// ------------------------------------------------------------ node

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    SalesOrder(SalesOrder),
    Contract(Contract),
    Payment(Payment),
    ShippingNotice(ShippingNotice),
    Shipment(Shipment),
    Invoice(Invoice),
    Agent(Agent),
    Region(Region),
    Product(Product),
    Warehouse(Warehouse),
    User(User),
    RiskSignal(RiskSignal),
    WeeklyReport(WeeklyReport),
}

fn missing(what: &str, id: i64) -> AppError {
    AppError::Internal(anyhow::anyhow!("{what} {id} referenced but missing"))
}

async fn user_ref(ctx: &Context<'_>, id: Option<i64>) -> Result<Option<User>, AppError> {
    match id {
        Some(id) => Ok(loaders::one::<user::Entity>(ctx, id).await?.map(User)),
        None => Ok(None),
    }
}

async fn order_ref(ctx: &Context<'_>, id: i64) -> Result<SalesOrder, AppError> {
    loaders::one::<sales_order::Entity>(ctx, id)
        .await?
        .map(SalesOrder)
        .ok_or_else(|| missing("order", id))
}

// ------------------------------------------------------------ people, places

/// A person using the system, in one position.
pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        encode("User", self.0.id)
    }
    async fn username(&self) -> &str {
        &self.0.username
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn position(&self) -> Result<super::enums::Position, AppError> {
        self.0
            .position
            .parse::<Position>()
            .map(Into::into)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("user {}: {e}", self.0.id)))
    }
    /// Sees every region.
    async fn all_regions(&self) -> bool {
        self.0.global_scope
    }
    async fn active(&self) -> bool {
        self.0.active
    }
}

/// A sales region or a sub-area of one.
pub struct Region(pub region::Model);

#[Object]
impl Region {
    async fn id(&self) -> ID {
        encode("Region", self.0.id)
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Market capacity recorded by the region's salesperson (units a year).
    async fn market_capacity(&self) -> Option<i64> {
        self.0.market_capacity
    }
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        match self.0.parent_id {
            Some(p) => Ok(loaders::one::<region::Entity>(ctx, p).await?.map(Region)),
            None => Ok(None),
        }
    }
}

/// A distributor selling in one region.
pub struct Agent(pub agent::Model);

#[Object]
impl Agent {
    async fn id(&self) -> ID {
        encode("Agent", self.0.id)
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn region(&self, ctx: &Context<'_>) -> Result<Region, AppError> {
        loaders::one::<region::Entity>(ctx, self.0.region_id)
            .await?
            .map(Region)
            .ok_or_else(|| missing("region", self.0.region_id))
    }
    /// The most the agent's unpaid shipped orders may total.
    async fn credit_limit(&self) -> Money {
        Money(self.0.credit_limit_fen)
    }
    /// Receivables outstanding now (goods shipped on exceptions, unpaid).
    async fn outstanding_receivables(&self) -> Money {
        Money(self.0.ar_outstanding_fen)
    }
    /// Credit still available: limit minus outstanding.
    async fn available_credit(&self) -> Money {
        Money((self.0.credit_limit_fen - self.0.ar_outstanding_fen).max(0))
    }
    async fn address(&self) -> &str {
        &self.0.address
    }
    async fn contact_name(&self) -> &str {
        &self.0.contact_name
    }
    async fn phone(&self) -> &str {
        &self.0.phone
    }
}

pub struct Product(pub product::Model);

#[Object]
impl Product {
    async fn id(&self) -> ID {
        encode("Product", self.0.id)
    }
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn list_price(&self) -> Money {
        Money(self.0.list_price_fen)
    }
    async fn active(&self) -> bool {
        self.0.active
    }
}

pub struct Warehouse(pub warehouse::Model);

#[Object]
impl Warehouse {
    async fn id(&self) -> ID {
        encode("Warehouse", self.0.id)
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn kind(&self) -> Result<super::enums::WarehouseKind, AppError> {
        salesguard_domain::warehouse::WarehouseKind::parse(&self.0.kind)
            .map(Into::into)
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "warehouse {}: unknown kind `{}`",
                    self.0.id,
                    self.0.kind
                ))
            })
    }
}

/// Units on hand of a product in a warehouse; always equals the sum of its
/// stock movements.
pub struct StockLevel(pub stock_level::Model);

#[Object]
impl StockLevel {
    async fn warehouse(&self, ctx: &Context<'_>) -> Result<Warehouse, AppError> {
        loaders::one::<warehouse::Entity>(ctx, self.0.warehouse_id)
            .await?
            .map(Warehouse)
            .ok_or_else(|| missing("warehouse", self.0.warehouse_id))
    }
    async fn product(&self, ctx: &Context<'_>) -> Result<Product, AppError> {
        loaders::one::<product::Entity>(ctx, self.0.product_id)
            .await?
            .map(Product)
            .ok_or_else(|| missing("product", self.0.product_id))
    }
    async fn on_hand(&self) -> i64 {
        self.0.on_hand
    }
}

// ------------------------------------------------------------ documents

/// A sales order and, through its fields, every document of its chain.
pub struct SalesOrder(pub sales_order::Model);

#[Object]
impl SalesOrder {
    async fn id(&self) -> ID {
        encode("SalesOrder", self.0.id)
    }
    /// The document number, e.g. SC20140213DD0001 (SPEC S7).
    async fn number(&self) -> &str {
        &self.0.number
    }
    async fn status(&self) -> Result<super::enums::OrderStatus, AppError> {
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
    async fn agent(&self, ctx: &Context<'_>) -> Result<Agent, AppError> {
        loaders::one::<agent::Entity>(ctx, self.0.agent_id)
            .await?
            .map(Agent)
            .ok_or_else(|| missing("agent", self.0.agent_id))
    }
    async fn region(&self, ctx: &Context<'_>) -> Result<Region, AppError> {
        loaders::one::<region::Entity>(ctx, self.0.region_id)
            .await?
            .map(Region)
            .ok_or_else(|| missing("region", self.0.region_id))
    }
    async fn salesperson(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.salesperson_id)).await
    }
    async fn delivery_address(&self) -> &str {
        &self.0.delivery_address
    }
    async fn payment_terms_days(&self) -> i32 {
        self.0.payment_terms_days
    }
    /// Sum of the lines, computed by the server.
    async fn total(&self) -> Money {
        Money(self.0.total_fen)
    }
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
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<OrderLine>, AppError> {
        Ok(loaders::of_order::<order_line::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .map(OrderLine)
            .collect())
    }
    async fn contract(&self, ctx: &Context<'_>) -> Result<Option<Contract>, AppError> {
        Ok(loaders::of_order::<contract::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .next()
            .map(Contract))
    }
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
    async fn invoice_info(&self, ctx: &Context<'_>) -> Result<Option<InvoiceInfo>, AppError> {
        Ok(loaders::of_order::<invoice_info::Entity>(ctx, self.0.id)
            .await?
            .into_iter()
            .next()
            .map(InvoiceInfo))
    }
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

pub struct OrderLine(pub order_line::Model);

#[Object]
impl OrderLine {
    async fn line_no(&self) -> i32 {
        self.0.line_no
    }
    async fn product(&self, ctx: &Context<'_>) -> Result<Product, AppError> {
        loaders::one::<product::Entity>(ctx, self.0.product_id)
            .await?
            .map(Product)
            .ok_or_else(|| missing("product", self.0.product_id))
    }
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    async fn unit_price(&self) -> Money {
        Money(self.0.unit_price_fen)
    }
    /// Quantity × unit price.
    async fn amount(&self) -> Money {
        Money(self.0.amount_fen)
    }
}

pub struct Contract(pub contract::Model);

#[Object]
impl Contract {
    async fn id(&self) -> ID {
        encode("Contract", self.0.id)
    }
    /// e.g. SC20140213HT0002.
    async fn number(&self) -> &str {
        &self.0.number
    }
    async fn status(&self) -> Result<super::enums::ContractStatus, AppError> {
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
    async fn terms(&self) -> &str {
        &self.0.terms
    }
    async fn drafted_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.drafted_by)).await
    }
    async fn submitted_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, self.0.submitted_by).await
    }
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.0.submitted_at
    }
    /// The supervisor (or manager) who approved or rejected it.
    async fn decided_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, self.0.decided_by).await
    }
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }
    async fn rejection_reason(&self) -> Option<&str> {
        self.0.rejection_reason.as_deref()
    }
    /// ON_SITE or FAX_COURIER.
    async fn signed_method(&self) -> Option<&str> {
        self.0.signed_method.as_deref()
    }
    async fn signed_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, self.0.signed_by).await
    }
    async fn signed_at(&self) -> Option<DateTime<Utc>> {
        self.0.signed_at
    }
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
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
}

pub struct Payment(pub payment::Model);

#[Object]
impl Payment {
    async fn id(&self) -> ID {
        encode("Payment", self.0.id)
    }
    async fn amount(&self) -> Money {
        Money(self.0.amount_fen)
    }
    async fn received_on(&self) -> NaiveDate {
        self.0.received_on
    }
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    async fn recorded_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.recorded_by)).await
    }
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
}

pub struct ShipmentException(pub shipment_exception::Model);

#[Object]
impl ShipmentException {
    /// The unpaid amount allowed to ship.
    async fn amount(&self) -> Money {
        Money(self.0.amount_fen)
    }
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    async fn approved_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.approved_by)).await
    }
    async fn approved_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn used_at(&self) -> Option<DateTime<Utc>> {
        self.0.used_at
    }
}

/// The notice the assistant sends to the warehouse. The warehouse checks its
/// number and verification code before shipping.
pub struct ShippingNotice(pub shipping_notice::Model);

#[Object]
impl ShippingNotice {
    async fn id(&self) -> ID {
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
    async fn warehouse(&self, ctx: &Context<'_>) -> Result<Option<Warehouse>, AppError> {
        Ok(loaders::one::<warehouse::Entity>(ctx, self.0.warehouse_id)
            .await?
            .map(Warehouse))
    }
    /// Issued on a management exception (shipping before full payment).
    async fn on_exception(&self) -> bool {
        self.0.exception_id.is_some()
    }
    async fn issued_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.issued_by)).await
    }
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
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
}

pub struct Shipment(pub shipment::Model);

#[Object]
impl Shipment {
    async fn id(&self) -> ID {
        encode("Shipment", self.0.id)
    }
    async fn carrier(&self) -> &str {
        &self.0.carrier
    }
    async fn tracking_number(&self) -> &str {
        &self.0.tracking_number
    }
    async fn shipped_at(&self) -> DateTime<Utc> {
        self.0.shipped_at
    }
    async fn shipped_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.shipped_by)).await
    }
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
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
}

pub struct Receivable(pub receivable::Model);

#[Object]
impl Receivable {
    async fn amount(&self) -> Money {
        Money(self.0.amount_fen)
    }
    async fn outstanding(&self) -> Money {
        Money(self.0.outstanding_fen)
    }
    async fn due_on(&self) -> NaiveDate {
        self.0.due_on
    }
    async fn settled_at(&self) -> Option<DateTime<Utc>> {
        self.0.settled_at
    }
}

pub struct InvoiceInfo(pub invoice_info::Model);

#[Object]
impl InvoiceInfo {
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn tax_number(&self) -> &str {
        &self.0.tax_number
    }
    async fn bank_name(&self) -> &str {
        &self.0.bank_name
    }
    async fn bank_account(&self) -> &str {
        &self.0.bank_account
    }
    async fn mailing_address(&self) -> &str {
        &self.0.mailing_address
    }
    async fn collected_at(&self) -> DateTime<Utc> {
        self.0.collected_at
    }
}

pub struct Invoice(pub invoice::Model);

#[Object]
impl Invoice {
    async fn id(&self) -> ID {
        encode("Invoice", self.0.id)
    }
    async fn invoice_number(&self) -> &str {
        &self.0.invoice_number
    }
    async fn amount(&self) -> Money {
        Money(self.0.amount_fen)
    }
    async fn issued_by(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.issued_by)).await
    }
    async fn issued_at(&self) -> DateTime<Utc> {
        self.0.issued_at
    }
    async fn mailed_at(&self) -> Option<DateTime<Utc>> {
        self.0.mailed_at
    }
    async fn mail_carrier(&self) -> Option<&str> {
        self.0.mail_carrier.as_deref()
    }
    async fn mail_tracking(&self) -> Option<&str> {
        self.0.mail_tracking.as_deref()
    }
    async fn expected_arrival_on(&self) -> Option<NaiveDate> {
        self.0.expected_arrival_on
    }
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
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
}

/// One record of the audit trail: who, in which position, did what, when,
/// with the document before and after. Refused requests are recorded too.
pub struct AuditEntry(pub audit_log::Model);

#[Object]
impl AuditEntry {
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// `OK`, or `REFUSED:<code>`.
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, self.0.actor_id).await
    }
    /// The actor's position at the time.
    async fn actor_position(&self) -> Option<&str> {
        self.0.actor_position.as_deref()
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// The document as JSON before the change.
    async fn before(&self) -> Option<&str> {
        self.0.before_json.as_deref()
    }
    /// The document as JSON after the change.
    async fn after(&self) -> Option<&str> {
        self.0.after_json.as_deref()
    }
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
    /// The record's hash in its chain.
    async fn hash(&self) -> &str {
        &self.0.hash
    }
}

/// A copy of a message about a document, for one person.
pub struct Notification(pub notification::Model);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        encode("Notification", self.0.id)
    }
    /// e.g. CONTRACT_SUBMITTED, SHIPPED.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn message(&self) -> &str {
        &self.0.message
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<Option<SalesOrder>, AppError> {
        match self.0.order_id {
            Some(id) => Ok(loaders::one::<sales_order::Entity>(ctx, id)
                .await?
                .map(SalesOrder)),
            None => Ok(None),
        }
    }
}

/// A salesperson's forecast of units for one month, region and product.
pub struct Forecast(pub forecast::Model);

#[Object]
impl Forecast {
    /// The month, `YYYY-MM`.
    async fn period(&self) -> &str {
        &self.0.period
    }
    async fn region(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        Ok(loaders::one::<region::Entity>(ctx, self.0.region_id)
            .await?
            .map(Region))
    }
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        Ok(loaders::one::<product::Entity>(ctx, self.0.product_id)
            .await?
            .map(Product))
    }
    async fn salesperson(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.salesperson_id)).await
    }
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// The sum of the forecasts of one month for a region and product (what the
/// sales assistant checks and reports to the supervisor, SPEC S4.6).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ForecastTotal {
    pub period: String,
    #[graphql(skip)]
    pub region_id: i64,
    #[graphql(skip)]
    pub product_id: i64,
    /// Units, summed over the salespeople who reported.
    pub quantity: i64,
    /// How many salespeople reported.
    pub salespeople: i64,
}

#[async_graphql::ComplexObject]
impl ForecastTotal {
    async fn region(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        Ok(loaders::one::<region::Entity>(ctx, self.region_id)
            .await?
            .map(Region))
    }
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        Ok(loaders::one::<product::Entity>(ctx, self.product_id)
            .await?
            .map(Product))
    }
}

/// One shipped unit, by its serial number: where it was shipped to.
pub struct SerialUnit(pub serial_unit::Model);

#[Object]
impl SerialUnit {
    async fn serial(&self) -> &str {
        &self.0.serial
    }
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        Ok(loaders::one::<product::Entity>(ctx, self.0.product_id)
            .await?
            .map(Product))
    }
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, AppError> {
        Ok(loaders::one::<agent::Entity>(ctx, self.0.agent_id)
            .await?
            .map(Agent))
    }
    /// The region of the agent it was shipped to.
    async fn region(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        Ok(loaders::one::<region::Entity>(ctx, self.0.region_id)
            .await?
            .map(Region))
    }
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
    async fn shipped_at(&self) -> DateTime<Utc> {
        self.0.shipped_at
    }
}

/// A product's list price and floor price for one channel tier.
pub struct PriceListEntry(pub price_list_entry::Model);

#[Object]
impl PriceListEntry {
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        Ok(loaders::one::<product::Entity>(ctx, self.0.product_id)
            .await?
            .map(Product))
    }
    /// AGENT, DEALER or RETAIL.
    async fn tier(&self) -> &str {
        &self.0.tier
    }
    async fn price(&self) -> Money {
        Money(self.0.price_fen)
    }
    /// The lowest price this tier may sell at.
    async fn floor_price(&self) -> Money {
        Money(self.0.floor_fen)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
