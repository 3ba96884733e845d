//! The `metrics` query for analysts and dashboards (docs/metrics.md).
use std::collections::{BTreeMap, HashMap};

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::NaiveDate;

use salesguard_entities::model::{agent, product, region, user};

use salesguard_domain::Capability;

use super::enums as gql;
use super::loaders;
use super::query::{actor, app};
use super::scalars::{Date, Money};
use super::types::{Agent, Product, Region, User};
use crate::error::AppError;
use salesguard_analytics::metrics::engine::Periods;
use salesguard_analytics::metrics::{
    self, Dimension, Metric, MetricError, MetricFilter, MetricQuery, MetricRow,
};

/// What a metric's values are measured in.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum MetricUnit {
    /// Yuan (money metrics also carry the exact `amount`).
    Yuan,
    /// Units of product.
    Units,
    /// Days.
    Days,
    /// Weeks.
    Weeks,
    /// A ratio (0.25 = 25%).
    Ratio,
    /// An index, 100 = the list price.
    Index,
    /// A number of things (e.g. risk signals).
    Count,
}

pub fn unit(m: Metric) -> MetricUnit {
    use Metric::*;
    match m {
        Sales | Collections | Ar | ArCurrent | ArPastDue1To30 | ArPastDue31To60
        | ArPastDue61To90 | ArPastDue91To120 | ArPastDueOver120 => MetricUnit::Yuan,
        UnitsSold | ForecastUnits | SellThroughUnits | ChannelStockUnits => MetricUnit::Units,
        Dso | BestPossibleDso | AverageDaysDelinquent => MetricUnit::Days,
        WeeksOfSupply => MetricUnit::Weeks,
        ForecastWape | ForecastBias | DiversionRate => MetricUnit::Ratio,
        PriceIndex => MetricUnit::Index,
        SignalsOpen | SignalsRaised => MetricUnit::Count,
    }
}

/// The definition of a metric in words (the same as docs/metrics.md).
pub fn definition(m: Metric) -> &'static str {
    use Metric::*;
    match m {
        Sales => "Σ total of the orders shipped in the period (by the business day of shipment); by product: Σ of the order lines' amounts",
        UnitsSold => "Σ quantity of the order lines of the orders shipped in the period",
        Collections => "Σ payments received in the period (by the day received)",
        Ar => "AR(t) at the period's end t: Σ over orders shipped on or before t of max(0, total − payments received on or before t)",
        Dso => "DSO at the period's end t: AR(t) / Sales of the W days up to t × W (W = signals.ar_window_days, default 90)",
        BestPossibleDso => "AR not yet due at t / Sales of the W days up to t × W",
        AverageDaysDelinquent => "DSO − best possible DSO",
        ArCurrent => "Receivables not yet due at the period's end (due_on ≥ t)",
        ArPastDue1To30 => "Receivables 1–30 days past due at the period's end",
        ArPastDue31To60 => "Receivables 31–60 days past due at the period's end",
        ArPastDue61To90 => "Receivables 61–90 days past due at the period's end",
        ArPastDue91To120 => "Receivables 91–120 days past due at the period's end",
        ArPastDueOver120 => "Receivables more than 120 days past due at the period's end",
        ForecastUnits => "Σ forecast units of the months starting in the period",
        ForecastWape => "WAPE = Σ|A−F| / ΣA over the cells (month × region × product, × salesperson when grouped by salesperson) that have a forecast; A = units shipped that month on the region's orders of the product",
        ForecastBias => "bias = Σ(F−A) / ΣA over the same cells as WAPE (positive: forecasts above actuals)",
        SellThroughUnits => "Σ units the agents reported sold through in the period (by the day sold; region = the agent's region)",
        ChannelStockUnits => "At the period's end t: units shipped to the agents up to t − units they reported sold through up to t",
        WeeksOfSupply => "Channel stock at t / (units sold through in the 28 days up to t / 4); infinite (value null, isInfinite) when nothing sold through",
        PriceIndex => "100 × Σ observed prices / Σ list prices of their tier, over the period's price observations of listed products",
        DiversionRate => "Units located outside the agent's region (serials sold through or sighted, each once; serial-less sell-through by quantity) / units located, in the period",
        SignalsOpen => "Risk signals open at the period's end (raised on or before it, not cleared by then)",
        SignalsRaised => "Risk signals raised in the period",
    }
}

/// What to measure, how to break it down, over which business days.
#[derive(InputObject)]
pub struct MetricsInput {
    /// The metric to compute.
    pub metric: gql::Metric,
    /// Periods of the series; none: one value for the whole range.
    pub period: Option<gql::Period>,
    /// Breakdowns besides the period (each metric supports some of them;
    /// others are a BAD_USER_INPUT error).
    #[graphql(default)]
    pub group_by: Vec<gql::Dimension>,
    /// First business day of the range.
    pub from: Date,
    /// Last business day of the range; figures at a period's end are taken
    /// at this day for the last period.
    pub to: Date,
    /// Only these regions (each with its sub-areas).
    #[graphql(default)]
    pub region_ids: Vec<ID>,
    /// Only these agents.
    #[graphql(default)]
    pub agent_ids: Vec<ID>,
    /// Only these salespeople (`User` IDs).
    #[graphql(default)]
    pub salesperson_ids: Vec<ID>,
    /// Only these products.
    #[graphql(default)]
    pub product_ids: Vec<ID>,
    /// Keep only the `top` groups with the largest values (the sum over the
    /// range for sums, the value at the last period's end otherwise): for a
    /// dashboard over thousands of agents.
    #[graphql(validator(minimum = 1, maximum = 10000))]
    pub top: Option<i32>,
}

/// A metric's values, one point per period and group.
pub struct MetricSeries {
    query: MetricQuery,
    rows: Vec<MetricRow>,
}

/// A metric's values over a range of business days, by period and group: as
/// `points` (one per period and group) or as a table (`periods` × `groups`).
#[Object]
impl MetricSeries {
    /// The metric computed.
    async fn metric(&self) -> gql::Metric {
        self.query.metric.into()
    }
    /// What the values are measured in.
    async fn unit(&self) -> MetricUnit {
        unit(self.query.metric)
    }
    /// The metric's definition (docs/metrics.md).
    async fn definition(&self) -> &'static str {
        definition(self.query.metric)
    }
    /// The length of the periods; null for one value over the whole range.
    async fn period(&self) -> Option<gql::Period> {
        self.query.period.map(Into::into)
    }
    /// The breakdowns besides the period, as asked (sorted, without repeats).
    async fn group_by(&self) -> Vec<gql::Dimension> {
        self.query.group_by.iter().map(|d| (*d).into()).collect()
    }
    /// The first business day of the range.
    async fn from(&self) -> Date {
        self.query.from.into()
    }
    /// The last business day of the range.
    async fn to(&self) -> Date {
        self.query.to.into()
    }
    /// Points ordered by period, then region, agent, salesperson, product.
    async fn points(&self) -> Vec<MetricPoint> {
        self.rows.iter().cloned().map(MetricPoint).collect()
    }
    /// The periods, in order (one spanning `from`…`to` without `period`):
    /// the columns of `groups`.
    async fn periods(&self) -> Vec<MetricPeriod> {
        Periods::new(self.query.period, self.query.from, self.query.to)
            .spans
            .into_iter()
            .map(|(start, end)| MetricPeriod {
                start: start.into(),
                end: end.into(),
            })
            .collect()
    }
    /// The same values as `points`, one row per group with a value per
    /// period (aligned with `periods`): the compact shape for a table or a
    /// chart of many groups. Ordered by region, agent, salesperson, product.
    async fn groups(&self) -> Vec<MetricGroup> {
        let periods = Periods::new(self.query.period, self.query.from, self.query.to);
        let column: HashMap<NaiveDate, usize> = periods
            .spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.0, i))
            .collect();
        let n = periods.spans.len();
        let mut groups: BTreeMap<GroupKey, MetricGroup> = BTreeMap::new();
        for r in &self.rows {
            let key = (r.region_id, r.agent_id, r.salesperson_id, r.product_id);
            let Some(i) = r.period_start.map_or(Some(0), |d| column.get(&d).copied()) else {
                continue;
            };
            let g = groups.entry(key).or_insert_with(|| MetricGroup {
                key,
                values: vec![None; n],
                amount_fen: vec![None; n],
            });
            if let (Some(v), Some(a)) = (g.values.get_mut(i), g.amount_fen.get_mut(i)) {
                *v = r.value;
                *a = r.amount_fen;
            }
        }
        groups.into_values().collect()
    }
}

/// A period of a series: first and last day (clipped to the range).
#[derive(SimpleObject)]
pub struct MetricPeriod {
    /// The period's first day (the range's first day for the first period).
    start: Date,
    /// The period's last day (the range's last day for the last period).
    end: Date,
}

/// (region, agent, salesperson, product) of a group.
type GroupKey = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

/// One group's values, one per period of the series.
pub struct MetricGroup {
    key: GroupKey,
    values: Vec<Option<f64>>,
    amount_fen: Vec<Option<i64>>,
}

/// One group's values, one per period of the series (aligned with
/// `MetricSeries.periods`).
#[Object]
impl MetricGroup {
    /// The value per period in the series' unit; null when undefined (a
    /// ratio over zero) or infinite.
    async fn values(&self) -> Vec<Option<f64>> {
        self.values
            .iter()
            .map(|v| v.filter(|v| v.is_finite()))
            .collect()
    }
    /// Per period: the value is infinite (weeks of supply with no
    /// sell-through).
    async fn is_infinite(&self) -> Vec<bool> {
        self.values
            .iter()
            .map(|v| v.is_some_and(|v| v.is_infinite()))
            .collect()
    }
    /// Money metrics: the exact amount per period.
    async fn amounts(&self) -> Vec<Option<Money>> {
        self.amount_fen.iter().map(|a| a.map(Money)).collect()
    }
    /// The group's region ID; null unless grouped by REGION.
    async fn region_id(&self) -> Option<ID> {
        self.key.0.map(|i| super::ids::encode("Region", i))
    }
    /// The group's region; null unless grouped by REGION.
    async fn region(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        dim::<region::Entity, _>(ctx, self.key.0, Region).await
    }
    /// The group's agent ID; null unless grouped by AGENT.
    async fn agent_id(&self) -> Option<ID> {
        self.key.1.map(|i| super::ids::encode("Agent", i))
    }
    /// The group's agent; null unless grouped by AGENT.
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, AppError> {
        dim::<agent::Entity, _>(ctx, self.key.1, Agent).await
    }
    /// The group's salesperson (`User`) ID; null unless grouped by SALESPERSON.
    async fn salesperson_id(&self) -> Option<ID> {
        self.key.2.map(|i| super::ids::encode("User", i))
    }
    /// The group's salesperson; null unless grouped by SALESPERSON.
    async fn salesperson(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        dim::<user::Entity, _>(ctx, self.key.2, User).await
    }
    /// The group's product ID; null unless grouped by PRODUCT.
    async fn product_id(&self) -> Option<ID> {
        self.key.3.map(|i| super::ids::encode("Product", i))
    }
    /// The group's product; null unless grouped by PRODUCT.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        dim::<product::Entity, _>(ctx, self.key.3, Product).await
    }
}

/// One value: the period and the groups it is for.
pub struct MetricPoint(MetricRow);

/// One value of a series: the period and the group it is for.
#[Object]
impl MetricPoint {
    /// First day of the period (clipped to the range); null without periods.
    async fn period_start(&self) -> Option<Date> {
        self.0.period_start.map(Date)
    }
    /// Last day of the period (clipped to the range).
    async fn period_end(&self) -> Option<Date> {
        self.0.period_end.map(Date)
    }
    /// The value in the series' unit; null when undefined (a ratio over
    /// zero) or infinite.
    async fn value(&self) -> Option<f64> {
        self.0.value.filter(|v| v.is_finite())
    }
    /// The value is infinite (weeks of supply with no sell-through).
    async fn is_infinite(&self) -> bool {
        self.0.value.is_some_and(|v| v.is_infinite())
    }
    /// Money metrics: the exact amount.
    async fn amount(&self) -> Option<Money> {
        self.0.amount_fen.map(Money)
    }
    /// The group's region ID; null unless grouped by REGION.
    async fn region_id(&self) -> Option<ID> {
        self.0.region_id.map(|i| super::ids::encode("Region", i))
    }
    /// The group's region; null unless grouped by REGION.
    async fn region(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        dim::<region::Entity, _>(ctx, self.0.region_id, Region).await
    }
    /// The group's agent ID; null unless grouped by AGENT.
    async fn agent_id(&self) -> Option<ID> {
        self.0.agent_id.map(|i| super::ids::encode("Agent", i))
    }
    /// The group's agent; null unless grouped by AGENT.
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, AppError> {
        dim::<agent::Entity, _>(ctx, self.0.agent_id, Agent).await
    }
    /// The group's salesperson (`User`) ID; null unless grouped by SALESPERSON.
    async fn salesperson_id(&self) -> Option<ID> {
        self.0.salesperson_id.map(|i| super::ids::encode("User", i))
    }
    /// The group's salesperson; null unless grouped by SALESPERSON.
    async fn salesperson(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        dim::<user::Entity, _>(ctx, self.0.salesperson_id, User).await
    }
    /// The group's product ID; null unless grouped by PRODUCT.
    async fn product_id(&self) -> Option<ID> {
        self.0.product_id.map(|i| super::ids::encode("Product", i))
    }
    /// The group's product; null unless grouped by PRODUCT.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        dim::<product::Entity, _>(ctx, self.0.product_id, Product).await
    }
}

/// The region, agent, user or product of a group, through the loader.
async fn dim<E, T>(
    ctx: &Context<'_>,
    id: Option<i64>,
    wrap: fn(E::Model) -> T,
) -> Result<Option<T>, AppError>
where
    E: loaders::Keyed + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
{
    match id {
        Some(i) => Ok(loaders::one::<E>(ctx, i).await?.map(wrap)),
        None => Ok(None),
    }
}

fn decode_all(kind: &str, v: &[ID], field: &str) -> Result<Vec<i64>, AppError> {
    v.iter()
        .map(|i| {
            super::ids::decode(kind, i, field)
                .map_err(|_| AppError::BadInput(format!("{field}: not a valid {kind} ID")))
        })
        .collect()
}

pub async fn metrics(ctx: &Context<'_>, input: MetricsInput) -> Result<MetricSeries, AppError> {
    let a = actor(ctx)?;
    if !a.position.may(Capability::ReadMetrics) {
        return Err(AppError::Forbidden(
            "this position does not read sales metrics".into(),
        ));
    }
    let app = app(ctx)?;
    let query = MetricQuery {
        metric: input.metric.into(),
        period: input.period.map(Into::into),
        group_by: {
            let mut g: Vec<Dimension> = input.group_by.into_iter().map(Into::into).collect();
            g.sort();
            g.dedup();
            g
        },
        from: input.from.into(),
        to: input.to.into(),
        filter: MetricFilter {
            region_ids: decode_all("Region", &input.region_ids, "regionIds")?,
            agent_ids: decode_all("Agent", &input.agent_ids, "agentIds")?,
            salesperson_ids: decode_all("User", &input.salesperson_ids, "salespersonIds")?,
            product_ids: decode_all("Product", &input.product_ids, "productIds")?,
            top: input.top.and_then(|t| usize::try_from(t).ok()),
        },
    };
    let scope = a.region_filter();
    let regions = app.regions.get(&app.db.read, &[]).await?;
    let src = metrics::Source {
        db: &app.db.read,
        tz: app.tz,
        ar_window_days: app.settings.signals.ar_window_days,
        regions: &regions,
    };
    let rows = metrics::compute(&src, scope.as_deref(), &query)
        .await
        .map_err(|e| match e {
            MetricError::Unsupported { .. } | MetricError::BadInput(_) => {
                AppError::BadInput(e.to_string())
            }
            MetricError::Db(e) => AppError::Internal(e),
        })?;
    Ok(MetricSeries { query, rows })
}
