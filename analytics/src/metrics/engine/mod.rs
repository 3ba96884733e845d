//! How the metrics are computed: the database sums the facts per period (or
//! per day where a trailing window needs it) and per key in one grouped
//! query each; the figures at a period's end (receivables, stock) and the
//! ratios are assembled here from those sums.
//!
//! `run` checks the query and picks the computation by metric, each in a
//! module of its own: `flows` (sales, units, collections, sell-through),
//! `receivables` (AR, aging, DSO), `forecast`, `stock` (channel stock,
//! weeks of supply), `prices` (price index), `diversion` and `signals`.
//! They share `periods` (the calendar periods of the range), `sql`
//! (building the statements and reading their rows), `facts` (sums of the
//! facts per period and key) and `grid` (the rows of the answer).
use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use sea_orm::{DatabaseConnection, DbBackend};

use super::{Dimension, Metric, MetricError, MetricQuery, MetricRow, Period, Source};

mod diversion;
mod facts;
mod flows;
mod forecast;
mod grid;
mod periods;
mod prices;
mod receivables;
mod signals;
mod sql;
mod stock;

pub use periods::{period_start, Periods};

/// The most rows one query may return.
pub const MAX_ROWS: usize = 100_000;
/// The longest range (days).
const MAX_RANGE_DAYS: i64 = 366 * 25;

/// A group: the values of the grouped dimensions (`None` when not grouped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    r: Option<i64>,
    a: Option<i64>,
    s: Option<i64>,
    p: Option<i64>,
}

/// The SQL expressions of a fact's dimensions (`None`: not available).
#[derive(Clone, Copy)]
struct Cols {
    region: &'static str,
    agent: Option<&'static str>,
    salesperson: Option<&'static str>,
    product: Option<&'static str>,
}

/// The dimensions a metric supports.
fn supported(m: Metric) -> &'static [Dimension] {
    use Dimension::*;
    match m {
        Metric::Sales | Metric::UnitsSold | Metric::SignalsOpen | Metric::SignalsRaised => {
            &[Region, Agent, Salesperson, Product]
        }
        Metric::Collections
        | Metric::Ar
        | Metric::Dso
        | Metric::BestPossibleDso
        | Metric::AverageDaysDelinquent
        | Metric::ArCurrent
        | Metric::ArPastDue1To30
        | Metric::ArPastDue31To60
        | Metric::ArPastDue61To90
        | Metric::ArPastDue91To120
        | Metric::ArPastDueOver120 => &[Region, Agent, Salesperson],
        Metric::ForecastUnits | Metric::ForecastWape | Metric::ForecastBias => {
            &[Region, Salesperson, Product]
        }
        Metric::SellThroughUnits
        | Metric::ChannelStockUnits
        | Metric::WeeksOfSupply
        | Metric::DiversionRate => &[Region, Agent, Product],
        Metric::PriceIndex => &[Region, Product],
    }
}

/// Money metrics carry their exact amount in fen.
pub fn is_money(m: Metric) -> bool {
    matches!(
        m,
        Metric::Sales
            | Metric::Collections
            | Metric::Ar
            | Metric::ArCurrent
            | Metric::ArPastDue1To30
            | Metric::ArPastDue31To60
            | Metric::ArPastDue61To90
            | Metric::ArPastDue91To120
            | Metric::ArPastDueOver120
    )
}

struct Ctx<'a> {
    src: &'a Source<'a>,
    db: &'a DatabaseConnection,
    be: DbBackend,
    q: &'a MetricQuery,
    /// Regions to count (with sub-areas); `None`: all.
    regions: Option<Vec<i64>>,
    periods: Periods,
}

pub async fn run(
    src: &Source<'_>,
    scope: Option<&[i64]>,
    q: &MetricQuery,
) -> Result<Vec<MetricRow>, MetricError> {
    validate(q)?;
    let db = src.db;
    let all = src.regions;
    let asked: Option<HashSet<i64>> = (!q.filter.region_ids.is_empty())
        .then(|| salesguard_domain::regions::expand(all, &q.filter.region_ids));
    let regions: Option<Vec<i64>> = match (scope, asked) {
        (None, None) => None,
        (Some(s), None) => Some(s.to_vec()),
        (None, Some(a)) => Some(a.into_iter().collect()),
        (Some(s), Some(a)) => Some(s.iter().copied().filter(|r| a.contains(r)).collect()),
    };
    if regions.as_ref().is_some_and(|r| r.is_empty()) {
        return Ok(Vec::new());
    }
    let ctx = Ctx {
        src,
        db,
        be: db.get_database_backend(),
        q,
        regions: regions.map(|mut r| {
            r.sort_unstable();
            r
        }),
        periods: Periods::new(q.period, q.from, q.to),
    };
    let mut rows = match q.metric {
        Metric::Sales | Metric::UnitsSold | Metric::Collections | Metric::SellThroughUnits => {
            flows::flow_metric(&ctx).await?
        }
        Metric::Ar
        | Metric::Dso
        | Metric::BestPossibleDso
        | Metric::AverageDaysDelinquent
        | Metric::ArCurrent
        | Metric::ArPastDue1To30
        | Metric::ArPastDue31To60
        | Metric::ArPastDue61To90
        | Metric::ArPastDue91To120
        | Metric::ArPastDueOver120 => receivables::receivables(&ctx).await?,
        Metric::ForecastUnits | Metric::ForecastWape | Metric::ForecastBias => {
            forecast::forecast(&ctx).await?
        }
        Metric::ChannelStockUnits | Metric::WeeksOfSupply => stock::channel_stock(&ctx).await?,
        Metric::PriceIndex => prices::price_index(&ctx).await?,
        Metric::DiversionRate => diversion::diversion(&ctx, all).await?,
        Metric::SignalsOpen | Metric::SignalsRaised => signals::signals(&ctx).await?,
    };
    if let (Some(n), false) = (q.filter.top, q.group_by.is_empty()) {
        rows = keep_top(rows, n, is_flow(q.metric));
    }
    rows.sort_by(|a, b| {
        (
            a.period_start,
            a.region_id,
            a.agent_id,
            a.salesperson_id,
            a.product_id,
        )
            .cmp(&(
                b.period_start,
                b.region_id,
                b.agent_id,
                b.salesperson_id,
                b.product_id,
            ))
    });
    Ok(rows)
}

/// Sums over a period (as opposed to figures at the period's end or ratios).
fn is_flow(m: Metric) -> bool {
    matches!(
        m,
        Metric::Sales
            | Metric::UnitsSold
            | Metric::Collections
            | Metric::SellThroughUnits
            | Metric::ForecastUnits
            | Metric::SignalsRaised
    )
}

fn row_key(r: &MetricRow) -> Key {
    Key {
        r: r.region_id,
        a: r.agent_id,
        s: r.salesperson_id,
        p: r.product_id,
    }
}

/// The rows of the `n` groups with the largest values: the sum over the
/// periods for flows, else the value at the last period (undefined last).
fn keep_top(rows: Vec<MetricRow>, n: usize, flow: bool) -> Vec<MetricRow> {
    let mut rank: HashMap<Key, (Option<NaiveDate>, f64)> = HashMap::new();
    for r in &rows {
        let v = r.value.filter(|v| !v.is_nan()).unwrap_or(f64::NEG_INFINITY);
        let e = rank
            .entry(row_key(r))
            .or_insert((r.period_start, if flow { 0.0 } else { v }));
        if flow {
            e.1 += r.value.unwrap_or(0.0);
        } else if r.period_start >= e.0 {
            *e = (r.period_start, v);
        }
    }
    let mut keys: Vec<(Key, f64)> = rank.into_iter().map(|(k, v)| (k, v.1)).collect();
    keys.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let keep: HashSet<Key> = keys.into_iter().take(n).map(|k| k.0).collect();
    rows.into_iter()
        .filter(|r| keep.contains(&row_key(r)))
        .collect()
}

fn validate(q: &MetricQuery) -> Result<(), MetricError> {
    if q.from > q.to {
        return Err(MetricError::BadInput("from is after to".into()));
    }
    if (q.to - q.from).num_days() > MAX_RANGE_DAYS {
        return Err(MetricError::BadInput(
            "the range is longer than 25 years".into(),
        ));
    }
    let ok = supported(q.metric);
    let f = &q.filter;
    let filtered = [
        (Dimension::Region, !f.region_ids.is_empty()),
        (Dimension::Agent, !f.agent_ids.is_empty()),
        (Dimension::Salesperson, !f.salesperson_ids.is_empty()),
        (Dimension::Product, !f.product_ids.is_empty()),
    ];
    for d in q
        .group_by
        .iter()
        .copied()
        .chain(filtered.iter().filter(|x| x.1).map(|x| x.0))
    {
        if !ok.contains(&d) {
            return Err(MetricError::Unsupported {
                metric: q.metric,
                dimension: d,
            });
        }
    }
    if matches!(
        q.metric,
        Metric::ForecastUnits | Metric::ForecastWape | Metric::ForecastBias
    ) && matches!(q.period, Some(Period::Day | Period::Week))
    {
        return Err(MetricError::BadInput(
            "forecasts are monthly: use MONTH, QUARTER or no period".into(),
        ));
    }
    if let Some(p) = q.period {
        let n = Periods::new(Some(p), q.from, q.to).spans.len();
        if n > MAX_ROWS {
            return Err(MetricError::BadInput(format!(
                "{n} periods: use a longer period or a shorter range"
            )));
        }
    }
    Ok(())
}
