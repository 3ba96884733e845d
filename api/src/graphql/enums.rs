//! The GraphQL faces of the domain's enums. Each mirrors its domain enum
//! (`remote`: the compiler checks that the variants match) and carries the
//! descriptions a client reads in the schema.
use async_graphql::Enum;

/// A position in the company (SPEC S3); it fixes what its holder may do.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(remote = "salesguard_domain::Position")]
pub enum Position {
    /// Regional salesperson: files orders, signs contracts on site, reports
    /// forecasts, collects invoicing information. Sees their regions.
    Salesperson,
    /// Sales assistant: drafts and submits contracts, forwards orders to
    /// finance, issues shipping notices, mails invoices, archives. Sees their
    /// regions.
    SalesAssistant,
    /// Supervisor (marketing director): approves or rejects contracts. Sees
    /// their regions.
    Supervisor,
    /// Finance: records and confirms payments, issues invoices.
    Finance,
    /// Warehouse keeper: checks shipping notices, ships, receives stock.
    Warehouse,
    /// Management: approves shipping before full payment, sets credit limits
    /// and prices.
    Management,
    /// Market specialist: records market prices and unit sightings.
    MarketSpecialist,
    /// Supervision department: reviews agents and risk; records unit sightings.
    Supervision,
    /// Call center: records unit sightings from call-backs.
    CallCenter,
    /// Analyst: reads metrics and exports data; sees the regions assigned or,
    /// with a company-wide scope, all.
    Analyst,
    /// Administrator: manages users, regions, agents, products and warehouses.
    Admin,
}

/// Where a sales order stands in the order-to-cash chain.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "salesguard_domain::OrderStatus", name = "SalesOrderStatus")]
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

/// What to measure.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "salesguard_analytics::metrics::Metric")]
pub enum Metric {
    /// Sales (yuan): totals of the orders shipped in the period.
    Sales,
    /// Units shipped in the period (order lines of the orders shipped).
    UnitsSold,
    /// Collections (yuan): payments received in the period.
    Collections,
    /// Accounts receivable (yuan) at the period's end.
    Ar,
    /// Days sales outstanding at the period's end.
    Dso,
    /// Best possible DSO at the period's end.
    BestPossibleDso,
    /// Average days delinquent (DSO − best possible DSO) at the period's end.
    AverageDaysDelinquent,
    /// Receivables not yet due at the period's end (yuan).
    ArCurrent,
    /// Receivables 1–30 days past due at the period's end (yuan).
    ArPastDue1To30,
    /// Receivables 31–60 days past due (yuan).
    ArPastDue31To60,
    /// Receivables 61–90 days past due (yuan).
    ArPastDue61To90,
    /// Receivables 91–120 days past due (yuan).
    ArPastDue91To120,
    /// Receivables more than 120 days past due (yuan).
    ArPastDueOver120,
    /// Forecast units of the period's months.
    ForecastUnits,
    /// Forecast WAPE = Σ|A−F| / ΣA over the period's months.
    ForecastWape,
    /// Forecast bias = Σ(F−A) / ΣA over the period's months.
    ForecastBias,
    /// Units the agents reported sold through in the period.
    SellThroughUnits,
    /// Channel stock (units shipped to agents − units sold through) at the period's end.
    ChannelStockUnits,
    /// Weeks of supply at the period's end.
    WeeksOfSupply,
    /// Price index: observed market prices against the list price (100 = list).
    PriceIndex,
    /// Diversion rate: units located outside the agent's region / units located.
    DiversionRate,
    /// Risk signals open at the period's end.
    SignalsOpen,
    /// Risk signals raised in the period.
    SignalsRaised,
}

/// The length of a period.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "salesguard_analytics::metrics::Period")]
pub enum Period {
    /// Calendar days.
    Day,
    /// Weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
    /// Calendar quarters (January to March, …).
    Quarter,
}

/// A breakdown besides the period.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "salesguard_analytics::metrics::Dimension")]
pub enum Dimension {
    /// By region.
    Region,
    /// By agent.
    Agent,
    /// By salesperson.
    Salesperson,
    /// By product.
    Product,
}

/// What a risk signal is about (docs/signals.md, sections 1 to 5).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "salesguard_domain::risk::RiskSignalKind")]
pub enum RiskSignalKind {
    /// Receivables grow faster than sales (DSRI).
    ReceivablesGrowth,
    /// An agent's oldest unpaid receivable is long past due.
    ReceivablesOverdue,
    /// Forecasts are chronically above or below actual sales (tracking signal).
    ForecastDeviation,
    /// Goods sell below the purchase price, a floor price or an upstream tier.
    PriceInversion,
    /// Units shipped to an agent turn up outside its region.
    GoodsDiversion,
    /// An agent buys more than its region's market can absorb.
    PurchaseOverCapacity,
    /// Stock piles up at an agent (weeks of supply, sell-in outpacing sell-through).
    ChannelStock,
}

/// How late a symptom a signal is (SPEC S1.1): WATCH < WARNING < CRITICAL.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "salesguard_domain::risk::RiskSeverity")]
pub enum RiskSeverity {
    /// An early sign.
    Watch,
    /// A clear sign: act on it.
    Warning,
    /// A late symptom: act now.
    Critical,
}

/// What a risk signal is about.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "salesguard_domain::risk::RiskSubjectType")]
pub enum RiskSubjectType {
    /// The whole company (company-wide signals).
    Company,
    /// A region.
    Region,
    /// An agent.
    Agent,
    /// A salesperson.
    Salesperson,
    /// A product.
    Product,
}

/// A change in a signal's history.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "salesguard_domain::risk::RiskChangeType")]
pub enum RiskChangeType {
    /// The condition started to hold.
    Raised,
    /// The severity rose.
    Escalated,
    /// The severity fell.
    Deescalated,
    /// The condition no longer holds.
    Cleared,
}

/// The kind of a document given as evidence.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "salesguard_domain::risk::RiskDocumentType")]
pub enum RiskDocumentType {
    /// A sales order (`document` is the `SalesOrder`).
    Order,
    /// An order's receivable (`ref` is the order number).
    Receivable,
    /// An invoice (`document` is the `Invoice`).
    Invoice,
    /// A shipped unit (`ref` is the serial number).
    Serial,
    /// An agent's reported sale.
    SellThrough,
    /// An activation, warranty registration or call-back of a unit.
    UnitSighting,
    /// A price seen in the market.
    PriceObservation,
    /// A salesperson's forecast.
    Forecast,
}

/// The calendar unit of the overview's trend, in the business time zone.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
#[graphql(remote = "salesguard_domain::risk::RiskPeriodUnit")]
pub enum RiskPeriodUnit {
    /// Calendar days.
    Day,
    /// Weeks from Monday to Sunday.
    #[default]
    Week,
    /// Calendar months.
    Month,
}

/// Where a sales contract stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "salesguard_domain::contract::ContractStatus")]
pub enum ContractStatus {
    /// Drafted, or sent back after a rejection; not yet submitted.
    Draft,
    /// Submitted for approval.
    PendingApproval,
    /// Approved by the supervisor.
    Approved,
    /// Rejected; the drafter revises and submits again.
    Rejected,
    /// Signed on site or by fax and courier.
    Signed,
}

/// What a warehouse holds.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(remote = "salesguard_domain::warehouse::WarehouseKind")]
pub enum WarehouseKind {
    /// Finished goods.
    Main,
    /// The spare-parts store.
    SpareParts,
}
