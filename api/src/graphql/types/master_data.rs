//! Master data as clients read it: users, regions, agents, products,
//! warehouses and stock levels.
use async_graphql::{Context, Object, ID};

use salesguard_domain::Position;
use salesguard_entities::model::*;

use super::*;
use crate::error::AppError;
use crate::graphql::ids::encode;
use crate::graphql::loaders;
use crate::graphql::scalars::Money;

/// A person using the system, in one position.
pub struct User(pub user::Model);

/// A person using the system, in one position. `users` lists them, and
/// `node(id:)` fetches any of them, only for company-wide readers (others
/// fetch only themselves); every reader meets the users on the documents
/// they see, e.g. an order's salesperson.
#[Object]
impl User {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("User", self.0.id)
    }
    /// The sign-in name, unique.
    async fn username(&self) -> &str {
        &self.0.username
    }
    /// The name to show people.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    /// The position held; it fixes what the user may do.
    async fn position(&self) -> Result<crate::graphql::enums::Position, AppError> {
        self.0
            .position
            .parse::<Position>()
            .map(Into::into)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("user {}: {e}", self.0.id)))
    }
    /// Sees every region (a company-wide scope); otherwise the user sees
    /// only the regions assigned, with their sub-areas.
    async fn all_regions(&self) -> bool {
        self.0.global_scope
    }
    /// False once deactivated: the user can no longer sign in.
    async fn active(&self) -> bool {
        self.0.active
    }
}

/// A sales region or a sub-area of one.
pub struct Region(pub region::Model);

/// A sales region or a sub-area of one. Readers see the regions assigned to
/// them and their sub-areas; company-wide readers see all.
#[Object]
impl Region {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("Region", self.0.id)
    }
    /// The short code, unique, e.g. NORTH or NORTH-EAST.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// The name to show people.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Market capacity recorded by the region's salesperson (units a year).
    async fn market_capacity(&self) -> Option<i64> {
        self.0.market_capacity
    }
    /// The region this is a sub-area of; null for a top-level region.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        match self.0.parent_id {
            Some(p) => Ok(loaders::one::<region::Entity>(ctx, p).await?.map(Region)),
            None => Ok(None),
        }
    }
}

/// A distributor selling in one region.
pub struct Agent(pub agent::Model);

/// A distributor (agent) selling in one region; orders are filed for agents.
/// Seen by readers of its region.
#[Object]
impl Agent {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("Agent", self.0.id)
    }
    /// The agent's code, unique.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// The agent's company name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The region the agent sells in; its orders belong to this region.
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
    /// The agent's address; the default delivery address of its orders.
    async fn address(&self) -> &str {
        &self.0.address
    }
    /// The person to contact at the agent.
    async fn contact_name(&self) -> &str {
        &self.0.contact_name
    }
    /// The contact's phone number, as entered.
    async fn phone(&self) -> &str {
        &self.0.phone
    }
}

/// A product the company sells.
pub struct Product(pub product::Model);

/// A product the company sells. Every signed-in user sees every product.
#[Object]
impl Product {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("Product", self.0.id)
    }
    /// The stock-keeping unit code, unique.
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    /// The product's name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The catalogue price of one unit; channel tiers have their own prices in
    /// `priceList`.
    async fn list_price(&self) -> Money {
        Money(self.0.list_price_fen)
    }
    /// False once withdrawn: new orders may not include it.
    async fn active(&self) -> bool {
        self.0.active
    }
}

/// A warehouse goods ship from.
pub struct Warehouse(pub warehouse::Model);

/// A warehouse goods ship from. Every signed-in user sees every warehouse.
#[Object]
impl Warehouse {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("Warehouse", self.0.id)
    }
    /// The warehouse's code, unique.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// The warehouse's name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What the warehouse holds.
    async fn kind(&self) -> Result<crate::graphql::enums::WarehouseKind, AppError> {
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

/// Units on hand of a product in a warehouse; always equals the sum of its
/// stock movements (goods received minus goods shipped).
#[Object]
impl StockLevel {
    /// The warehouse holding the units.
    async fn warehouse(&self, ctx: &Context<'_>) -> Result<Warehouse, AppError> {
        loaders::one::<warehouse::Entity>(ctx, self.0.warehouse_id)
            .await?
            .map(Warehouse)
            .ok_or_else(|| missing("warehouse", self.0.warehouse_id))
    }
    /// The product counted.
    async fn product(&self, ctx: &Context<'_>) -> Result<Product, AppError> {
        loaders::one::<product::Entity>(ctx, self.0.product_id)
            .await?
            .map(Product)
            .ok_or_else(|| missing("product", self.0.product_id))
    }
    /// Units on hand now; never negative.
    async fn on_hand(&self) -> i64 {
        self.0.on_hand
    }
}

// ------------------------------------------------------------ documents
