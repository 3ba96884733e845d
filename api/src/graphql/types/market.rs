//! Forecasts and the price list.
use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use salesguard_entities::model::*;

use super::*;
use crate::error::AppError;
use crate::graphql::loaders;
use crate::graphql::scalars::Money;

/// A salesperson's forecast of units for one month, region and product.
pub struct Forecast(pub forecast::Model);

/// A salesperson's forecast of units for one month, region and product (SPEC
/// S4.5). Seen by readers of the region.
#[Object]
impl Forecast {
    /// The month, `YYYY-MM`.
    async fn period(&self) -> &str {
        &self.0.period
    }
    /// The region forecast for.
    async fn region(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        Ok(loaders::one::<region::Entity>(ctx, self.0.region_id)
            .await?
            .map(Region))
    }
    /// The product forecast.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        Ok(loaders::one::<product::Entity>(ctx, self.0.product_id)
            .await?
            .map(Product))
    }
    /// The salesperson who reported it.
    async fn salesperson(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, Some(self.0.salesperson_id)).await
    }
    /// Units expected to sell in the month.
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    /// When it was last reported (a new report replaces the earlier one).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// The sum of the forecasts of one month for a region and product (what the
/// sales assistant checks and reports to the supervisor, SPEC S4.6).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ForecastTotal {
    /// The month, `YYYY-MM`.
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
    /// The region summed over.
    async fn region(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        Ok(loaders::one::<region::Entity>(ctx, self.region_id)
            .await?
            .map(Region))
    }
    /// The product summed over.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        Ok(loaders::one::<product::Entity>(ctx, self.product_id)
            .await?
            .map(Product))
    }
}

/// One shipped unit, by its serial number: where it was shipped to.
pub struct SerialUnit(pub serial_unit::Model);

/// One shipped unit, by its serial number: which order shipped it, to which
/// agent and region. Seen by readers of that region.
#[Object]
impl SerialUnit {
    /// The unit's serial number.
    async fn serial(&self) -> &str {
        &self.0.serial
    }
    /// The product the unit is.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        Ok(loaders::one::<product::Entity>(ctx, self.0.product_id)
            .await?
            .map(Product))
    }
    /// The agent it was shipped to.
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
    /// The order that shipped it.
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<SalesOrder, AppError> {
        order_ref(ctx, self.0.order_id).await
    }
    /// When it was shipped.
    async fn shipped_at(&self) -> DateTime<Utc> {
        self.0.shipped_at
    }
}

/// A product's list price and floor price for one channel tier.
pub struct PriceListEntry(pub price_list_entry::Model);

/// A product's price and floor price for one channel tier, set by management.
/// Every signed-in user reads the price list.
#[Object]
impl PriceListEntry {
    /// The product priced.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        Ok(loaders::one::<product::Entity>(ctx, self.0.product_id)
            .await?
            .map(Product))
    }
    /// AGENT, DEALER or RETAIL.
    async fn tier(&self) -> &str {
        &self.0.tier
    }
    /// The tier's list price of one unit.
    async fn price(&self) -> Money {
        Money(self.0.price_fen)
    }
    /// The lowest price this tier may sell at.
    async fn floor_price(&self) -> Money {
        Money(self.0.floor_fen)
    }
    /// When management last set it.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
