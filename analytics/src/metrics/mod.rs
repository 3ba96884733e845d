//! The analysts' metrics (docs/metrics.md defines each one): time series and
//! breakdowns of sales, collections, receivables, forecast accuracy,
//! sell-through, channel stock, prices, diversion and signals, grouped by
//! period and by region, agent, salesperson or product, over the full
//! history, scoped by the reader's regions.
//!
//! The same definitions serve the `metrics` query, the weekly report and the
//! risk worker (a DSO is the same number in all three).
pub mod engine;

use chrono::NaiveDate;

use chrono_tz::Tz;
use sea_orm::DatabaseConnection;

use salesguard_entities::model::region;

/// What to measure.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
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
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    Day,
    /// Monday to Sunday.
    Week,
    Month,
    Quarter,
}

/// A breakdown besides the period.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Region,
    Agent,
    Salesperson,
    Product,
}

/// What the metrics read: the database, the business time zone, the
/// receivables' trailing window and every region (for the region filter
/// and the diversion rate's territories).
pub struct Source<'a> {
    pub db: &'a DatabaseConnection,
    pub tz: Tz,
    /// The trailing window of DSO, in days (`[signals] ar_window_days`).
    pub ar_window_days: i64,
    pub regions: &'a [region::Model],
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
    src: &Source<'_>,
    scope: Option<&[i64]>,
    q: &MetricQuery,
) -> Result<Vec<MetricRow>, MetricError> {
    engine::run(src, scope, q).await
}
