//! The GraphQL object types, designed for front-end readers (not the
//! database rows): money as decimal strings, relations as fields, each
//! document with its history and related documents.
use async_graphql::{Context, Interface, SimpleObject, ID};

use salesguard_entities::model::*;

use super::loaders;
use super::report::WeeklyReport;
use super::risk::RiskSignal;
use crate::error::AppError;

mod activity;
mod market;
mod master_data;
mod orders;

pub use activity::*;
pub use market::*;
pub use master_data::*;
pub use orders::*;

// ------------------------------------------------------------ connections

/// Where a page is in its list (Relay cursor connections): whether more
/// items follow or precede it, and the cursors of its first and last items.
#[derive(SimpleObject, Clone)]
pub struct PageInfo {
    /// More items follow this page: ask again with `after: endCursor`.
    pub has_next_page: bool,
    /// Items precede this page (it was asked for with `after`).
    pub has_previous_page: bool,
    /// The cursor of the page's first item; null for an empty page.
    pub start_cursor: Option<String>,
    /// The cursor of the page's last item, to pass as `after` for the next
    /// page; null for an empty page.
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
        #[doc = concat!("One `", stringify!($node), "` of a page, with its cursor.")]
        #[derive(SimpleObject)]
        pub struct $edge {
            /// An opaque string marking the item's place in the list: pass it
            /// as `after` to get the items that follow it. Valid for the same
            /// field with the same arguments.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        #[doc = concat!("A page of `", stringify!($node), "` items.")]
        /// Ask for up to 100 with `first` (default 20); get the next page with
        /// `after: pageInfo.endCursor`.
        #[derive(SimpleObject)]
        pub struct $conn {
            /// The page's items in the list's order, each with its cursor.
            pub edges: Vec<$edge>,
            /// Whether more items follow, and the cursors to page on with.
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
connection!(RegionConnection, RegionEdge, Region);
connection!(WarehouseConnection, WarehouseEdge, Warehouse);
connection!(StockLevelConnection, StockLevelEdge, StockLevel);
connection!(ForecastConnection, ForecastEdge, Forecast);
connection!(ForecastTotalConnection, ForecastTotalEdge, ForecastTotal);
connection!(PriceListEntryConnection, PriceListEntryEdge, PriceListEntry);

// ------------------------------------------------------------ node

/// An object with a global ID that `node(id:)` fetches again (Relay). IDs
/// are opaque strings: store and send them back as they are.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "The object's global ID: opaque, stable, unique over all types."
))]
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
