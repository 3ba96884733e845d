//! The analysts' metrics (docs/metrics.md defines each one): time series and
//! breakdowns of sales, collections, receivables, forecast accuracy,
//! sell-through, channel stock, prices, diversion and signals, grouped by
//! period and by region, agent, salesperson or product, over the full
//! history, scoped by the reader's regions.
//!
//! The same definitions serve the `metrics` query, the weekly report and the
//! risk worker (a DSO is the same number in all three).
pub mod defs;
pub mod engine;

use async_graphql::Enum;
use chrono::NaiveDate;

use crate::app::AppState;

/// What to measure.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
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
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    Day,
    /// Monday to Sunday.
    Week,
    Month,
    Quarter,
}

/// A breakdown besides the period.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Region,
    Agent,
    Salesperson,
    Product,
}

/// Filters; an empty list means no filter on that dimension.
#[derive(Clone, Debug, Default)]
pub struct MetricFilter {
    /// Regions, each with its sub-areas.
    pub region_ids: Vec<i64>,
    pub agent_ids: Vec<i64>,
    pub salesperson_ids: Vec<i64>,
    pub product_ids: Vec<i64>,
    /// Keep only the `top` groups with the largest values (sums over the
    /// range, or the value at the last period's end), for dashboards over
    /// thousands of agents.
    pub top: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct MetricQuery {
    pub metric: Metric,
    /// `None`: one value for the whole range.
    pub period: Option<Period>,
    pub group_by: Vec<Dimension>,
    /// First business day of the range (inclusive).
    pub from: NaiveDate,
    /// Last business day of the range (inclusive); stock figures of the
    /// last period are taken at this day when the period ends later.
    pub to: NaiveDate,
    pub filter: MetricFilter,
}

/// One value of a metric; the keys that are not grouped by are `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricRow {
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    pub region_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub salesperson_id: Option<i64>,
    pub product_id: Option<i64>,
    /// The value (yuan for money metrics); `None` when undefined (a ratio
    /// over zero).
    pub value: Option<f64>,
    /// Money metrics: the exact amount in fen.
    pub amount_fen: Option<i64>,
}

/// Why a metric query was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("{} cannot be broken down by {}", gql_name(.metric), gql_name(.dimension))]
    Unsupported {
        metric: Metric,
        dimension: Dimension,
    },
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Db(#[from] anyhow::Error),
}

/// An enum value as GraphQL spells it (`ArPastDue1To30` → `AR_PAST_DUE_1_TO_30`).
pub fn gql_name(v: &impl std::fmt::Debug) -> String {
    let s = format!("{v:?}");
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if let Some(p) = prev {
            let boundary = (c.is_ascii_uppercase()
                && (p.is_ascii_lowercase() || p.is_ascii_digit()))
                || (c.is_ascii_digit() && !p.is_ascii_digit());
            if boundary {
                out.push('_');
            }
        }
        out.push(c.to_ascii_uppercase());
        prev = Some(c);
    }
    out
}

/// Computes a metric. `scope` is the reader's visible regions (with their
/// sub-areas), `None` for a reader who sees every region.
pub async fn compute(
    app: &AppState,
    scope: Option<&[i64]>,
    q: &MetricQuery,
) -> Result<Vec<MetricRow>, MetricError> {
    engine::run(app, scope, q).await
}

/// Fills in `sales_orders.shipped_on` (the business day of the order's
/// shipment) for orders shipped before it existed. Returns how many.
pub async fn backfill_shipped_on(app: &AppState) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    use salesguard_entities::model::{sales_order, shipment};
    use sea_orm::{
        ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    };

    let mut done = 0u64;
    let mut after = 0i64;
    loop {
        let batch: Vec<(i64, i64, chrono::DateTime<chrono::Utc>)> = shipment::Entity::find()
            .select_only()
            .column(shipment::Column::Id)
            .column(shipment::Column::OrderId)
            .column(shipment::Column::ShippedAt)
            .filter(shipment::Column::Id.gt(after))
            .filter(
                shipment::Column::OrderId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(sales_order::Column::Id)
                        .from(sales_order::Entity)
                        .and_where(sales_order::Column::ShippedOn.is_null())
                        .to_owned(),
                ),
            )
            .order_by_asc(shipment::Column::Id)
            .limit(5_000)
            .into_tuple()
            // Read on the read pool: the write connection is taken only
            // when there is something to fill in.
            .all(&app.db.read)
            .await
            .context("orders shipped without shipped_on")?;
        let Some(last) = batch.last() else {
            return Ok(done);
        };
        after = last.0;
        let txn = app.db.write.begin().await?;
        for (_, order_id, at) in &batch {
            sales_order::Entity::update_many()
                .col_expr(
                    sales_order::Column::ShippedOn,
                    sea_orm::sea_query::Expr::value(at.with_timezone(&app.tz).date_naive()),
                )
                // A change of the order like any other: a step that read it
                // before (or kept what the last step left, `step_cache`)
                // misses its write and reads it again.
                .col_expr(
                    sales_order::Column::Version,
                    sea_orm::sea_query::ExprTrait::add(
                        sea_orm::sea_query::Expr::col(sales_order::Column::Version),
                        1,
                    ),
                )
                .filter(sales_order::Column::Id.eq(*order_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        done += batch.len() as u64;
    }
}

/// Writes the AR movements (`ar_entries`) of the orders with a receivable
/// that have none: orders shipped before the table existed, or loaded in
/// bulk. Same entries as the shipment and payment steps write: `+` the
/// total on the day of shipment, `−` each payment on the later of its
/// receipt and the shipment. Returns the orders filled in.
pub async fn backfill_ar_entries(db: &crate::db::Db) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    use sea_orm::{ConnectionTrait, Statement};

    const MISSING: &str = "FROM receivables r JOIN sales_orders o ON o.id = r.order_id \
        WHERE o.shipped_on IS NOT NULL \
        AND NOT EXISTS (SELECT 1 FROM ar_entries e WHERE e.order_id = r.order_id)";
    let be = db.write.get_database_backend();
    let count = db
        .read
        .query_one_raw(Statement::from_string(
            be,
            format!("SELECT COUNT(*) AS n {MISSING}"),
        ))
        .await
        .context("orders without AR entries")?;
    let n: i64 = match count {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    if n == 0 {
        return Ok(0);
    }
    // One statement: both parts see the table as it was before it.
    let sql = format!(
        "INSERT INTO ar_entries (order_id, region_id, agent_id, salesperson_id, due_on, entry_on, amount_fen) \
         SELECT o.id, o.region_id, o.agent_id, o.salesperson_id, r.due_on, o.shipped_on, o.total_fen {MISSING} \
         UNION ALL \
         SELECT o.id, o.region_id, o.agent_id, o.salesperson_id, r.due_on, \
           CASE WHEN p.received_on > o.shipped_on THEN p.received_on ELSE o.shipped_on END, -p.amount_fen \
         FROM receivables r JOIN sales_orders o ON o.id = r.order_id JOIN payments p ON p.order_id = o.id \
         WHERE o.shipped_on IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM ar_entries e WHERE e.order_id = r.order_id)"
    );
    db.write
        .execute_raw(Statement::from_string(be, sql))
        .await
        .context("filling in AR entries")?;
    Ok(n as u64)
}
