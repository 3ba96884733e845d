//! Queries. Every read is scoped to the reader's regions.
use async_graphql::{Context, Enum, InputObject, Object, ID};
use base64::Engine;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

use salesguard_entities::model::*;

use super::enums::RiskPeriodUnit;
use super::ids;
use super::risk::{RiskOverview, RiskSignalFilter, RiskSignalOrder};
use super::types::*;
use crate::app::AppState;
use crate::auth::Actor;
use crate::error::AppError;

pub const MAX_PAGE: i32 = 100;
pub const DEFAULT_PAGE: i32 = 20;

pub fn actor<'a>(ctx: &'a Context<'_>) -> Result<&'a Actor, AppError> {
    ctx.data_opt::<Actor>().ok_or(AppError::Unauthenticated)
}

pub fn app<'a>(ctx: &'a Context<'_>) -> Result<&'a AppState, AppError> {
    ctx.data::<AppState>()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("app state missing")))
}

fn encode_cursor(offset: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_cursor(c: &str) -> Result<u64, AppError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| AppError::BadInput("invalid cursor".into()))
}

/// The page asked for: its offset in the list and its length, from `first`
/// (0 to 100, default 20) and the cursor it follows.
fn window(first: Option<i32>, after: Option<String>) -> Result<(u64, u64), AppError> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(0..=MAX_PAGE).contains(&first) {
        return Err(AppError::BadInput(format!(
            "first must be between 0 and {MAX_PAGE}"
        )));
    }
    let offset = match after {
        Some(c) => decode_cursor(&c)? + 1,
        None => 0,
    };
    Ok((offset, first as u64))
}

/// A page of `total` items: `items` from `offset` on, with their cursors.
fn page<T>(offset: u64, items: Vec<T>, total: u64) -> Page<T> {
    let n = items.len() as u64;
    let items: Vec<(String, T)> = items
        .into_iter()
        .enumerate()
        .map(|(i, x)| (encode_cursor(offset + i as u64), x))
        .collect();
    Page {
        page_info: PageInfo {
            has_next_page: offset + n < total,
            has_previous_page: offset > 0,
            start_cursor: items.first().map(|e| e.0.clone()),
            end_cursor: items.last().map(|e| e.0.clone()),
        },
        items,
        total,
    }
}

/// Pages a query: `first` (0 to 100, default 20) items after the cursor.
pub async fn paginate<E, T>(
    ctx: &Context<'_>,
    query: Select<E>,
    first: Option<i32>,
    after: Option<String>,
    wrap: impl Fn(E::Model) -> T,
) -> Result<Page<T>, AppError>
where
    E: EntityTrait,
    E::Model: Sync,
{
    let (offset, limit) = window(first, after)?;
    let db = &app(ctx)?.db.read;
    let total = query.clone().count(db).await?;
    let rows = query.offset(offset).limit(limit).all(db).await?;
    Ok(page(offset, rows.into_iter().map(wrap).collect(), total))
}

/// Pages a list computed in memory (in its final order) like `paginate`,
/// with the same cursors.
pub fn paginate_list<T>(
    list: Vec<T>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Page<T>, AppError> {
    let (offset, limit) = window(first, after)?;
    let total = list.len() as u64;
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    let items: Vec<T> = list.into_iter().skip(skip).take(take).collect();
    Ok(page(offset, items, total))
}

/// Which sales orders to list; every field given must match (AND).
#[derive(InputObject, Default)]
pub struct SalesOrderFilter {
    /// Orders in any of these statuses.
    pub status: Option<Vec<super::enums::OrderStatus>>,
    /// Orders of this region and its sub-areas.
    pub region_id: Option<ID>,
    /// Orders of this agent.
    pub agent_id: Option<ID>,
    /// Orders filed by this salesperson (a `User` ID).
    pub salesperson_id: Option<ID>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// The document number, exactly.
    pub number: Option<String>,
}

/// What to sort sales orders by; ties go by the order's ID in the same
/// direction.
#[derive(Enum, Copy, Clone, PartialEq, Eq, Default)]
pub enum SalesOrderSortField {
    /// When the order was filed (the default).
    #[default]
    CreatedAt,
    /// The document number.
    Number,
    /// The order's total.
    Total,
    /// When the order last changed.
    UpdatedAt,
}

/// A sort direction.
#[derive(Enum, Copy, Clone, PartialEq, Eq, Default)]
pub enum SortDirection {
    /// Smallest, oldest or first in the alphabet first.
    Asc,
    /// Largest, newest or last in the alphabet first (the default).
    #[default]
    Desc,
}

/// The order of a sales order list.
#[derive(InputObject, Default)]
pub struct SalesOrderOrder {
    /// What to sort by; CREATED_AT when omitted.
    #[graphql(default)]
    pub field: SalesOrderSortField,
    /// The direction; DESC when omitted.
    #[graphql(default)]
    pub direction: SortDirection,
}

pub(crate) fn region_scope<C: ColumnTrait>(actor: &Actor, col: C) -> Condition {
    match actor.region_filter() {
        None => Condition::all(),
        Some(ids) => Condition::all().add(col.is_in(ids)),
    }
}

pub(crate) fn opt_id(kind: &str, id: &Option<ID>, field: &str) -> Result<Option<i64>, AppError> {
    match id {
        None => Ok(None),
        Some(i) => ids::decode(kind, i, field)
            .map(Some)
            .map_err(|_| AppError::BadInput(format!("{field} is not a valid {kind} ID"))),
    }
}

pub struct QueryRoot;

/// The entry points for reading. Every field needs a signed-in user
/// (`Authorization: Bearer <token>`); reads are scoped to the reader's
/// regions (with their sub-areas) unless the reader is company-wide. Lists
/// are cursor connections: `first` (0 to 100, default 20) and `after`.
#[Object(name = "Query")]
impl QueryRoot {
    /// The signed-in user.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<User, AppError> {
        let a = actor(ctx)?;
        user::Entity::find_by_id(a.user_id)
            .one(&app(ctx)?.db.read)
            .await?
            .map(User)
            .ok_or(AppError::Unauthenticated)
    }

    /// Any object by its global ID. Objects outside the reader's regions are
    /// NOT_FOUND, like objects that do not exist.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The object's global ID, as any `id` field returned it.")] id: ID,
    ) -> Result<Option<Node>, AppError> {
        let a = actor(ctx)?;
        let db = &app(ctx)?.db.read;
        let not_found = || AppError::NotFound("no such object".into());
        let (kind, n) = ids::parse(&id).ok_or_else(not_found)?;
        let order_visible = |o: &sales_order::Model| a.sees_region(o.region_id);
        async fn order_of(
            db: &sea_orm::DatabaseConnection,
            id: i64,
        ) -> Result<Option<sales_order::Model>, AppError> {
            Ok(sales_order::Entity::find_by_id(id).one(db).await?)
        }
        let node = match kind.as_str() {
            "SalesOrder" => order_of(db, n)
                .await?
                .filter(order_visible)
                .map(|o| Node::SalesOrder(SalesOrder(o))),
            "Contract" => match contract::Entity::find_by_id(n).one(db).await? {
                Some(c) => order_of(db, c.order_id)
                    .await?
                    .filter(order_visible)
                    .map(|_| Node::Contract(Contract(c))),
                None => None,
            },
            "Payment" => match payment::Entity::find_by_id(n).one(db).await? {
                Some(c) => order_of(db, c.order_id)
                    .await?
                    .filter(order_visible)
                    .map(|_| Node::Payment(Payment(c))),
                None => None,
            },
            "ShippingNotice" => match shipping_notice::Entity::find_by_id(n).one(db).await? {
                Some(c) => order_of(db, c.order_id)
                    .await?
                    .filter(order_visible)
                    .map(|_| Node::ShippingNotice(ShippingNotice(c))),
                None => None,
            },
            "Shipment" => match shipment::Entity::find_by_id(n).one(db).await? {
                Some(c) => order_of(db, c.order_id)
                    .await?
                    .filter(order_visible)
                    .map(|_| Node::Shipment(Shipment(c))),
                None => None,
            },
            "Invoice" => match invoice::Entity::find_by_id(n).one(db).await? {
                Some(c) => order_of(db, c.order_id)
                    .await?
                    .filter(order_visible)
                    .map(|_| Node::Invoice(Invoice(c))),
                None => None,
            },
            "Agent" => agent::Entity::find_by_id(n)
                .one(db)
                .await?
                .filter(|x| a.sees_region(x.region_id))
                .map(|x| Node::Agent(Agent(x))),
            "Region" => region::Entity::find_by_id(n)
                .one(db)
                .await?
                .filter(|x| a.sees_region(x.id))
                .map(|x| Node::Region(Region(x))),
            "Product" => product::Entity::find_by_id(n)
                .one(db)
                .await?
                .map(|x| Node::Product(Product(x))),
            "Warehouse" => warehouse::Entity::find_by_id(n)
                .one(db)
                .await?
                .map(|x| Node::Warehouse(Warehouse(x))),
            "RiskSignal" => super::risk::node(ctx, n).await?.map(Node::RiskSignal),
            "WeeklyReport" => super::report::node(ctx, n).await?.map(Node::WeeklyReport),
            "User" => user::Entity::find_by_id(n)
                .one(db)
                .await?
                .filter(|_| a.global || n == a.user_id)
                .map(|x| Node::User(User(x))),
            _ => None,
        };
        match node {
            Some(n) => Ok(Some(n)),
            None => {
                crate::audit::record_refusal(
                    &app(ctx)?.db,
                    Some(a),
                    "node",
                    "NOT_FOUND",
                    Some((
                        match kind.as_str() {
                            "SalesOrder" => "SalesOrder",
                            _ => "Object",
                        },
                        n,
                    )),
                    &format!("read of {kind} {n} refused or missing"),
                )
                .await;
                Err(not_found())
            }
        }
    }

    /// Sales orders in the reader's regions.
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn sales_orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Which orders (default: all).")] filter: Option<SalesOrderFilter>,
        #[graphql(desc = "The order of the list; newest filed first when omitted.")]
        order_by: Option<SalesOrderOrder>,
    ) -> Result<SalesOrderConnection, AppError> {
        let a = actor(ctx)?;
        let f = filter.unwrap_or_default();
        let mut q =
            sales_order::Entity::find().filter(region_scope(a, sales_order::Column::RegionId));
        if let Some(st) = &f.status {
            q = q.filter(
                sales_order::Column::Status.is_in(
                    st.iter()
                        .map(|s| salesguard_domain::OrderStatus::from(*s).as_str().to_owned()),
                ),
            );
        }
        if let Some(r) = opt_id("Region", &f.region_id, "regionId")? {
            // A region filter includes its sub-areas.
            let regions = region::Entity::find().all(&app(ctx)?.db.read).await?;
            let ids: Vec<i64> = salesguard_domain::regions::expand(&regions, &[r])
                .into_iter()
                .collect();
            q = q.filter(sales_order::Column::RegionId.is_in(ids));
        }
        if let Some(x) = opt_id("Agent", &f.agent_id, "agentId")? {
            q = q.filter(sales_order::Column::AgentId.eq(x));
        }
        if let Some(x) = opt_id("User", &f.salesperson_id, "salespersonId")? {
            q = q.filter(sales_order::Column::SalespersonId.eq(x));
        }
        if let Some(t) = f.created_from {
            q = q.filter(sales_order::Column::CreatedAt.gte(t));
        }
        if let Some(t) = f.created_to {
            q = q.filter(sales_order::Column::CreatedAt.lt(t));
        }
        if let Some(n) = f.number {
            q = q.filter(sales_order::Column::Number.eq(n));
        }
        let o = order_by.unwrap_or_default();
        let col = match o.field {
            SalesOrderSortField::CreatedAt => sales_order::Column::CreatedAt,
            SalesOrderSortField::Number => sales_order::Column::Number,
            SalesOrderSortField::Total => sales_order::Column::TotalFen,
            SalesOrderSortField::UpdatedAt => sales_order::Column::UpdatedAt,
        };
        q = match o.direction {
            SortDirection::Asc => q.order_by_asc(col).order_by_asc(sales_order::Column::Id),
            SortDirection::Desc => q.order_by_desc(col).order_by_desc(sales_order::Column::Id),
        };
        paginate(ctx, q, first, after, SalesOrder)
            .await
            .map(Into::into)
    }

    /// One sales order by its document number; null when there is none in
    /// the reader's regions.
    async fn sales_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The document number, exactly, e.g. SC20261129DD0001.")] number: String,
    ) -> Result<Option<SalesOrder>, AppError> {
        let a = actor(ctx)?;
        Ok(sales_order::Entity::find()
            .filter(sales_order::Column::Number.eq(number))
            .one(&app(ctx)?.db.read)
            .await?
            .filter(|o| a.sees_region(o.region_id))
            .map(SalesOrder))
    }

    /// Regions the reader may see (those assigned and their sub-areas;
    /// every region for company-wide readers), by code.
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn regions(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> Result<RegionConnection, AppError> {
        let a = actor(ctx)?;
        let q = region::Entity::find()
            .filter(region_scope(a, region::Column::Id))
            .order_by_asc(region::Column::Code);
        paginate(ctx, q, first, after, Region).await.map(Into::into)
    }

    /// Agents in the reader's regions, by code.
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn agents(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Only the agents of this region (not of its sub-areas).")]
        region_id: Option<ID>,
    ) -> Result<AgentConnection, AppError> {
        let a = actor(ctx)?;
        let mut q = agent::Entity::find()
            .filter(region_scope(a, agent::Column::RegionId))
            .order_by_asc(agent::Column::Code);
        if let Some(r) = opt_id("Region", &region_id, "regionId")? {
            q = q.filter(agent::Column::RegionId.eq(r));
        }
        paginate(ctx, q, first, after, Agent).await.map(Into::into)
    }

    /// Every product, active or not, by SKU (any signed-in user).
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> Result<ProductConnection, AppError> {
        actor(ctx)?;
        let q = product::Entity::find().order_by_asc(product::Column::Sku);
        paginate(ctx, q, first, after, Product)
            .await
            .map(Into::into)
    }

    /// Every warehouse, by code (any signed-in user).
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn warehouses(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> Result<WarehouseConnection, AppError> {
        actor(ctx)?;
        let q = warehouse::Entity::find().order_by_asc(warehouse::Column::Code);
        paginate(ctx, q, first, after, Warehouse)
            .await
            .map(Into::into)
    }

    /// Stock on hand per warehouse and product, optionally for one warehouse
    /// or product, by warehouse then product (any signed-in user).
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn stock_levels(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Only this warehouse's stock.")] warehouse_id: Option<ID>,
        #[graphql(desc = "Only this product's stock.")] product_id: Option<ID>,
    ) -> Result<StockLevelConnection, AppError> {
        actor(ctx)?;
        let mut q = stock_level::Entity::find()
            .order_by_asc(stock_level::Column::WarehouseId)
            .order_by_asc(stock_level::Column::ProductId);
        if let Some(w) = opt_id("Warehouse", &warehouse_id, "warehouseId")? {
            q = q.filter(stock_level::Column::WarehouseId.eq(w));
        }
        if let Some(p) = opt_id("Product", &product_id, "productId")? {
            q = q.filter(stock_level::Column::ProductId.eq(p));
        }
        paginate(ctx, q, first, after, StockLevel)
            .await
            .map(Into::into)
    }

    /// The reader's notifications, newest first.
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(default, desc = "Only the unread ones.")] unread_only: bool,
    ) -> Result<NotificationConnection, AppError> {
        let a = actor(ctx)?;
        let mut q = notification::Entity::find()
            .filter(notification::Column::UserId.eq(a.user_id))
            .order_by_desc(notification::Column::Id);
        if unread_only {
            q = q.filter(notification::Column::ReadAt.is_null());
        }
        paginate(ctx, q, first, after, Notification)
            .await
            .map(Into::into)
    }

    /// How many of the reader's notifications are unread.
    async fn unread_notification_count(&self, ctx: &Context<'_>) -> Result<u64, AppError> {
        let a = actor(ctx)?;
        Ok(notification::Entity::find()
            .filter(notification::Column::UserId.eq(a.user_id))
            .filter(notification::Column::ReadAt.is_null())
            .count(&app(ctx)?.db.read)
            .await?)
    }

    /// Users, by username (admin and company-wide readers only; others get
    /// FORBIDDEN).
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> Result<UserConnection, AppError> {
        let a = actor(ctx)?;
        if !a.global {
            return Err(AppError::Forbidden(
                "only company-wide positions list users".into(),
            ));
        }
        let q = user::Entity::find().order_by_asc(user::Column::Username);
        paginate(ctx, q, first, after, User).await.map(Into::into)
    }

    /// Forecasts of a month in the reader's regions (one row per
    /// salesperson, region and product), by region, product, then
    /// salesperson.
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn forecasts(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "The month, `YYYY-MM`.")] period: String,
        #[graphql(desc = "Only this region (not its sub-areas).")] region_id: Option<ID>,
    ) -> Result<ForecastConnection, AppError> {
        let a = actor(ctx)?;
        let mut q = forecast::Entity::find()
            .filter(region_scope(a, forecast::Column::RegionId))
            .filter(forecast::Column::Period.eq(period))
            .order_by_asc(forecast::Column::RegionId)
            .order_by_asc(forecast::Column::ProductId)
            .order_by_asc(forecast::Column::SalespersonId);
        if let Some(r) = opt_id("Region", &region_id, "regionId")? {
            q = q.filter(forecast::Column::RegionId.eq(r));
        }
        paginate(ctx, q, first, after, Forecast)
            .await
            .map(Into::into)
    }

    /// The forecasts of a month summed per region and product, in the
    /// reader's regions, by region then product.
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn forecast_summary(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "The month, `YYYY-MM`.")] period: String,
    ) -> Result<ForecastTotalConnection, AppError> {
        let a = actor(ctx)?;
        let rows = forecast::Entity::find()
            .filter(region_scope(a, forecast::Column::RegionId))
            .filter(forecast::Column::Period.eq(period.clone()))
            .all(&app(ctx)?.db.read)
            .await?;
        let mut sums: std::collections::BTreeMap<(i64, i64), (i64, i64)> = Default::default();
        for f in rows {
            let e = sums.entry((f.region_id, f.product_id)).or_default();
            e.0 += f.quantity;
            e.1 += 1;
        }
        let totals: Vec<ForecastTotal> = sums
            .into_iter()
            .map(
                |((region_id, product_id), (quantity, salespeople))| ForecastTotal {
                    period: period.clone(),
                    region_id,
                    product_id,
                    quantity,
                    salespeople,
                },
            )
            .collect();
        paginate_list(totals, first, after).map(Into::into)
    }

    /// A shipped unit by its serial number, if it went to the reader's regions.
    async fn serial_unit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The serial number; spaces around it are ignored.")] serial: String,
    ) -> Result<Option<SerialUnit>, AppError> {
        let a = actor(ctx)?;
        Ok(serial_unit::Entity::find()
            .filter(serial_unit::Column::Serial.eq(serial.trim()))
            .one(&app(ctx)?.db.read)
            .await?
            .filter(|s| a.sees_region(s.region_id))
            .map(SerialUnit))
    }

    /// Risk signals (docs/signals.md) of the reader's regions and their
    /// sub-areas; company-wide signals only for company-wide readers.
    /// Newest first unless `orderBy` says otherwise.
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn risk_signals(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Which signals (default: all).")] filter: Option<RiskSignalFilter>,
        #[graphql(desc = "The order of the list; newest raised first when omitted.")]
        order_by: Option<RiskSignalOrder>,
    ) -> Result<RiskSignalConnection, AppError> {
        super::risk::risk_signals(ctx, first, after, filter, order_by).await
    }

    /// Analysts' metrics (docs/metrics.md): a time series or breakdown of
    /// one metric by period (DAY, WEEK, MONTH, QUARTER) and by region,
    /// agent, salesperson or product, over the full history, scoped by the
    /// reader's regions. Sums over a period (sales, collections, units) or
    /// figures at the period's end (AR, DSO, aging, channel stock); DSO is
    /// the same number as in the RECEIVABLES_GROWTH signal and the weekly
    /// report. At most 100,000 points.
    async fn metrics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metric, its breakdown and the range of business days.")]
        input: super::metrics::MetricsInput,
    ) -> Result<super::metrics::MetricSeries, AppError> {
        super::metrics::metrics(ctx, input).await
    }

    /// The risk dashboard: open signals by kind and severity, the worst open
    /// signals and the trend over the last `periods` periods, for everything
    /// the reader sees or only the asked region (with its sub-areas) or
    /// agent; per region and per agent. NOT_FOUND for a region or agent the
    /// reader does not see.
    async fn risk_overview(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this region, with its sub-areas.")] region_id: Option<ID>,
        #[graphql(desc = "Only this agent.")] agent_id: Option<ID>,
        #[graphql(
            default = 8,
            desc = "How many periods the trend covers, the current one included (1 to 53).",
            validator(minimum = 1, maximum = 53)
        )]
        periods: i32,
        #[graphql(default, desc = "The length of the trend's periods.")]
        period_unit: RiskPeriodUnit,
    ) -> Result<RiskOverview, AppError> {
        let periods = u32::try_from(periods)
            .map_err(|_| AppError::BadInput("periods must be between 1 and 53".into()))?;
        super::risk::risk_overview(ctx, region_id, agent_id, periods, period_unit.into()).await
    }

    /// Weekly risk reports the reader may read (their own, and those of
    /// managers whose regions the reader all sees), newest week first.
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn weekly_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Which reports (default: every report the reader may read).")]
        filter: Option<super::report::WeeklyReportFilter>,
    ) -> Result<WeeklyReportConnection, AppError> {
        super::report::weekly_reports(ctx, first, after, filter).await
    }

    /// The price list (list and floor price per product and channel tier),
    /// by product then tier (any signed-in user).
    /// Cost: `first` × the cost of one item.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity + 1")]
    async fn price_list(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size: 0 to 100 (default 20).",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Only this product's prices.")] product_id: Option<ID>,
    ) -> Result<PriceListEntryConnection, AppError> {
        actor(ctx)?;
        let mut q = price_list_entry::Entity::find()
            .order_by_asc(price_list_entry::Column::ProductId)
            .order_by_asc(price_list_entry::Column::Tier);
        if let Some(p) = opt_id("Product", &product_id, "productId")? {
            q = q.filter(price_list_entry::Column::ProductId.eq(p));
        }
        paginate(ctx, q, first, after, PriceListEntry)
            .await
            .map(Into::into)
    }
}
