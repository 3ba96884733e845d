//! How the metrics are computed: the database sums the facts per period (or
//! per day where a trailing window needs it) and per key in one grouped
//! query each; the figures at a period's end (receivables, stock) and the
//! ratios are assembled here from those sums.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement};

use super::{Dimension, Metric, MetricError, MetricQuery, MetricRow, Period, Source};
use salesguard_domain::figures;

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

/// The calendar periods of the range, clipped to it.
pub struct Periods {
    unit: Option<Period>,
    /// Calendar start of each period.
    starts: Vec<NaiveDate>,
    /// The part of each period inside the range.
    pub spans: Vec<(NaiveDate, NaiveDate)>,
    from: NaiveDate,
    to: NaiveDate,
}

/// The calendar start of the period holding `d`.
pub fn period_start(p: Period, d: NaiveDate) -> NaiveDate {
    match p {
        Period::Day => d,
        Period::Week => d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
        Period::Month => d.with_day(1).unwrap_or(d),
        Period::Quarter => {
            NaiveDate::from_ymd_opt(d.year(), (d.month0() / 3) * 3 + 1, 1).unwrap_or(d)
        }
    }
}

fn next_start(p: Period, start: NaiveDate) -> NaiveDate {
    match p {
        Period::Day => start + Duration::days(1),
        Period::Week => start + Duration::days(7),
        Period::Month => start + Months::new(1),
        Period::Quarter => start + Months::new(3),
    }
}

impl Periods {
    pub fn new(unit: Option<Period>, from: NaiveDate, to: NaiveDate) -> Periods {
        let (mut starts, mut spans) = (Vec::new(), Vec::new());
        match unit {
            None => {
                starts.push(from);
                spans.push((from, to));
            }
            Some(p) => {
                let mut s = period_start(p, from);
                while s <= to {
                    let n = next_start(p, s);
                    starts.push(s);
                    spans.push((s.max(from), (n - Duration::days(1)).min(to)));
                    s = n;
                }
            }
        }
        Periods {
            unit,
            starts,
            spans,
            from,
            to,
        }
    }

    /// The period holding day `d`, if `d` is in the range.
    pub fn index(&self, d: NaiveDate) -> Option<usize> {
        if d < self.from || d > self.to {
            return None;
        }
        if self.unit.is_none() {
            return Some(0);
        }
        self.starts.partition_point(|s| *s <= d).checked_sub(1)
    }

    fn ends(&self) -> impl Iterator<Item = (usize, NaiveDate)> + '_ {
        self.spans.iter().map(|s| s.1).enumerate()
    }
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
            flow_metric(&ctx).await?
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
        | Metric::ArPastDueOver120 => receivables(&ctx).await?,
        Metric::ForecastUnits | Metric::ForecastWape | Metric::ForecastBias => {
            forecast(&ctx).await?
        }
        Metric::ChannelStockUnits | Metric::WeeksOfSupply => channel_stock(&ctx).await?,
        Metric::PriceIndex => price_index(&ctx).await?,
        Metric::DiversionRate => diversion(&ctx, all).await?,
        Metric::SignalsOpen | Metric::SignalsRaised => signals(&ctx).await?,
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

fn grouped(q: &MetricQuery, d: Dimension) -> bool {
    q.group_by.contains(&d)
}

fn ids(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

fn lit(d: NaiveDate) -> String {
    format!("'{}'", d.format("%Y-%m-%d"))
}

/// The SQL expression of the calendar start of `p` holding date column `c`.
fn bucket_sql(be: DbBackend, p: Period, c: &str) -> String {
    match (be, p) {
        (_, Period::Day) => c.to_owned(),
        (DbBackend::Postgres, Period::Week) => format!("CAST(date_trunc('week', {c}) AS DATE)"),
        (DbBackend::Postgres, Period::Month) => format!("CAST(date_trunc('month', {c}) AS DATE)"),
        (DbBackend::Postgres, Period::Quarter) => {
            format!("CAST(date_trunc('quarter', {c}) AS DATE)")
        }
        (_, Period::Week) => format!(
            "date({c}, '-' || ((CAST(strftime('%w', {c}) AS INTEGER) + 6) % 7) || ' days')"
        ),
        (_, Period::Month) => format!("strftime('%Y-%m-01', {c})"),
        (_, Period::Quarter) => format!(
            "printf('%s-%02d-01', strftime('%Y', {c}), ((CAST(strftime('%m', {c}) AS INTEGER) - 1) / 3) * 3 + 1)"
        ),
    }
}

/// The filters of the query (regions, agents, salespeople, products) on a
/// fact with these columns, as ` AND …`.
fn filters(ctx: &Ctx, c: &Cols) -> String {
    let mut w = String::new();
    let f = &ctx.q.filter;
    if let Some(r) = &ctx.regions {
        w.push_str(&format!(" AND {} IN ({})", c.region, ids(r)));
    }
    for (col, v) in [
        (c.agent, &f.agent_ids),
        (c.salesperson, &f.salesperson_ids),
        (c.product, &f.product_ids),
    ] {
        if let (Some(col), false) = (col, v.is_empty()) {
            w.push_str(&format!(" AND {col} IN ({})", ids(v)));
        }
    }
    w
}

/// The grouped key columns of a fact (`k_r`, `k_a`, `k_s`, `k_p`).
fn key_select(q: &MetricQuery, c: &Cols) -> Vec<String> {
    let mut out = Vec::new();
    for (d, col, alias) in [
        (Dimension::Region, Some(c.region), "k_r"),
        (Dimension::Agent, c.agent, "k_a"),
        (Dimension::Salesperson, c.salesperson, "k_s"),
        (Dimension::Product, c.product, "k_p"),
    ] {
        if let (true, Some(col)) = (grouped(q, d), col) {
            out.push(format!("{col} AS {alias}"));
        }
    }
    out
}

fn key_of(q: &MetricQuery, row: &QueryResult) -> Result<Key, MetricError> {
    let get = |d: Dimension, alias: &str| -> Result<Option<i64>, MetricError> {
        if grouped(q, d) {
            Ok(row.try_get::<Option<i64>>("", alias).map_err(db_err)?)
        } else {
            Ok(None)
        }
    };
    Ok(Key {
        r: get(Dimension::Region, "k_r")?,
        a: get(Dimension::Agent, "k_a")?,
        s: get(Dimension::Salesperson, "k_s")?,
        p: get(Dimension::Product, "k_p")?,
    })
}

fn db_err(e: sea_orm::DbErr) -> MetricError {
    MetricError::Db(anyhow::Error::new(e).context("metrics query"))
}

/// Reads a date column (a DATE on PostgreSQL, ISO text on SQLite).
fn date_at(row: &QueryResult, col: &str) -> Result<NaiveDate, MetricError> {
    if let Ok(d) = row.try_get::<NaiveDate>("", col) {
        return Ok(d);
    }
    let s: String = row.try_get("", col).map_err(db_err)?;
    NaiveDate::parse_from_str(s.get(..10).unwrap_or(&s), "%Y-%m-%d")
        .map_err(|e| MetricError::Db(anyhow::anyhow!("bad date {s:?} in {col}: {e}")))
}

async fn query(ctx: &Ctx<'_>, sql: String) -> Result<Vec<QueryResult>, MetricError> {
    ctx.db
        .query_all_raw(Statement::from_string(ctx.be, sql))
        .await
        .map_err(db_err)
}

/// A fact: rows with a business date, dimension columns and values.
struct Fact {
    from_where: &'static str,
    date: &'static str,
    cols: Cols,
}

/// Σ of `values` per (bucket start, key) for dates in `lo..=hi` (`lo` None:
/// from the beginning). `bucket` None: one bucket (`None` date).
async fn sums(
    ctx: &Ctx<'_>,
    f: &Fact,
    values: &[&str],
    bucket: Option<Period>,
    lo: Option<NaiveDate>,
    hi: NaiveDate,
) -> Result<Vec<(Option<NaiveDate>, Key, Vec<i64>)>, MetricError> {
    let mut sel = key_select(ctx.q, &f.cols);
    if let Some(p) = bucket {
        sel.push(format!("{} AS b", bucket_sql(ctx.be, p, f.date)));
    }
    let ngroup = sel.len();
    for (i, v) in values.iter().enumerate() {
        sel.push(format!("CAST(SUM({v}) AS BIGINT) AS v{i}"));
    }
    let mut sql = format!(
        "SELECT {} FROM {} AND {} <= {}",
        sel.join(", "),
        f.from_where,
        f.date,
        lit(hi)
    );
    if let Some(lo) = lo {
        sql.push_str(&format!(" AND {} >= {}", f.date, lit(lo)));
    }
    sql.push_str(&filters(ctx, &f.cols));
    if ngroup > 0 {
        let pos: Vec<String> = (1..=ngroup).map(|i| i.to_string()).collect();
        sql.push_str(&format!(" GROUP BY {}", pos.join(", ")));
    }
    let mut out = Vec::new();
    for row in query(ctx, sql).await? {
        let key = key_of(ctx.q, &row)?;
        let b = match bucket {
            Some(_) => Some(date_at(&row, "b")?),
            None => None,
        };
        let mut vals = Vec::with_capacity(values.len());
        for i in 0..values.len() {
            vals.push(
                row.try_get::<Option<i64>>("", &format!("v{i}"))
                    .map_err(db_err)?
                    .unwrap_or(0),
            );
        }
        out.push((b, key, vals));
    }
    Ok(out)
}

const ORDER_COLS: Cols = Cols {
    region: "o.region_id",
    agent: Some("o.agent_id"),
    salesperson: Some("o.salesperson_id"),
    product: None,
};

const SALES: Fact = Fact {
    from_where: "sales_orders o WHERE o.shipped_on IS NOT NULL",
    date: "o.shipped_on",
    cols: ORDER_COLS,
};

const SALES_LINES: Fact = Fact {
    from_where:
        "sales_orders o JOIN order_lines l ON l.order_id = o.id WHERE o.shipped_on IS NOT NULL",
    date: "o.shipped_on",
    cols: Cols {
        product: Some("l.product_id"),
        ..ORDER_COLS
    },
};

const PAYMENTS: Fact = Fact {
    from_where: "payments p JOIN sales_orders o ON o.id = p.order_id WHERE 1 = 1",
    date: "p.received_on",
    cols: ORDER_COLS,
};

const AGENT_COLS: Cols = Cols {
    region: "a.region_id",
    agent: Some("a.id"),
    salesperson: None,
    product: None,
};

const SELL_THROUGH: Fact = Fact {
    from_where: "sell_through t JOIN agents a ON a.id = t.agent_id WHERE 1 = 1",
    date: "t.sold_on",
    cols: Cols {
        product: Some("t.product_id"),
        ..AGENT_COLS
    },
};

const SHIPPED_UNITS: Fact = Fact {
    from_where: "sales_orders o JOIN order_lines l ON l.order_id = o.id JOIN agents a ON a.id = o.agent_id WHERE o.shipped_on IS NOT NULL",
    date: "o.shipped_on",
    cols: Cols {
        product: Some("l.product_id"),
        ..AGENT_COLS
    },
};

fn row(ctx: &Ctx, idx: usize, key: Key, value: Option<f64>, amount_fen: Option<i64>) -> MetricRow {
    let (start, end) = ctx.periods.spans[idx];
    let periodic = ctx.q.period.is_some();
    MetricRow {
        period_start: periodic.then_some(start),
        period_end: periodic.then_some(end),
        region_id: key.r,
        agent_id: key.a,
        salesperson_id: key.s,
        product_id: key.p,
        value,
        amount_fen,
    }
}

/// One row per period and group, every group in every period (one group
/// without `groupBy`); `value` gives (value, amount in fen).
fn grid(
    ctx: &Ctx,
    mut keys: BTreeSet<Key>,
    mut value: impl FnMut(usize, &Key) -> (Option<f64>, Option<i64>),
) -> Result<Vec<MetricRow>, MetricError> {
    if ctx.q.group_by.is_empty() {
        keys.insert(Key::default());
    }
    let n = ctx.periods.spans.len();
    check_size(keys.len() * n)?;
    let mut out = Vec::with_capacity(keys.len() * n);
    for idx in 0..n {
        for key in &keys {
            let (v, amount) = value(idx, key);
            out.push(row(ctx, idx, *key, v, amount));
        }
    }
    Ok(out)
}

fn check_size(n: usize) -> Result<(), MetricError> {
    if n > MAX_ROWS {
        return Err(MetricError::BadInput(format!(
            "the answer has {n} rows, more than {MAX_ROWS}: group by less, use a longer period or filter"
        )));
    }
    Ok(())
}

/// Flows (sums over the period), zero-filled over every period for each key.
async fn flow_metric(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
    let q = ctx.q;
    let (fact, value) = match q.metric {
        Metric::Sales if grouped(q, Dimension::Product) || !q.filter.product_ids.is_empty() => {
            (&SALES_LINES, "l.amount_fen")
        }
        Metric::Sales => (&SALES, "o.total_fen"),
        Metric::UnitsSold => (&SALES_LINES, "l.quantity"),
        Metric::Collections => (&PAYMENTS, "p.amount_fen"),
        _ => (&SELL_THROUGH, "t.quantity"),
    };
    // With `top`, find the top groups first (one sum per group), then the
    // series of those groups only.
    let narrowed: Option<(MetricQuery, Option<Vec<i64>>)> =
        match (q.filter.top, q.group_by.is_empty()) {
            (Some(n), false) => {
                let mut totals = sums(ctx, fact, &[value], None, Some(q.from), q.to).await?;
                totals.sort_by(|a, b| b.2[0].cmp(&a.2[0]).then(a.1.cmp(&b.1)));
                totals.truncate(n);
                let only = |f: fn(&Key) -> Option<i64>| -> Vec<i64> {
                    let mut v: Vec<i64> = totals.iter().filter_map(|t| f(&t.1)).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                };
                let mut nq = q.clone();
                if grouped(q, Dimension::Agent) {
                    nq.filter.agent_ids = only(|k| k.a);
                }
                if grouped(q, Dimension::Salesperson) {
                    nq.filter.salesperson_ids = only(|k| k.s);
                }
                if grouped(q, Dimension::Product) {
                    nq.filter.product_ids = only(|k| k.p);
                }
                let regions = if grouped(q, Dimension::Region) {
                    Some(only(|k| k.r))
                } else {
                    ctx.regions.clone()
                };
                Some((nq, regions))
            }
            _ => None,
        };
    let nctx = narrowed.as_ref().map(|(nq, regions)| Ctx {
        src: ctx.src,
        db: ctx.db,
        be: ctx.be,
        q: nq,
        regions: regions.clone(),
        periods: Periods::new(q.period, q.from, q.to),
    });
    let ctx = nctx.as_ref().unwrap_or(ctx);
    let got = sums(ctx, fact, &[value], q.period, Some(q.from), q.to).await?;
    let mut per: HashMap<(usize, Key), i64> = HashMap::new();
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for (b, key, v) in got {
        let idx = match b {
            Some(b) => ctx.periods.index(b.max(q.from)),
            None => Some(0),
        };
        if let Some(idx) = idx {
            *per.entry((idx, key)).or_default() += v[0];
            keys.insert(key);
        }
    }
    let money = is_money(q.metric);
    grid(ctx, keys, |idx, key| {
        let v = per.get(&(idx, *key)).copied().unwrap_or(0);
        if money {
            (Some(v as f64 / 100.0), Some(v))
        } else {
            (Some(v as f64), None)
        }
    })
}

/// The most period ends whose trailing windows are summed in one scan
/// (one conditional sum each); more are summed from daily sums.
const MAX_WINDOW_COLUMNS: usize = 64;

/// Σ `value` over the `len` days up to each period's end, per key (index:
/// the period).
async fn trailing(
    ctx: &Ctx<'_>,
    fact: &Fact,
    value: &str,
    len: i64,
) -> Result<HashMap<Key, Vec<i64>>, MetricError> {
    let ends: Vec<NaiveDate> = ctx.periods.spans.iter().map(|s| s.1).collect();
    let n = ends.len();
    let Some(lo) = ends.first().map(|e| *e - Duration::days(len - 1)) else {
        return Ok(HashMap::new());
    };
    let mut out: HashMap<Key, Vec<i64>> = HashMap::new();
    if n <= MAX_WINDOW_COLUMNS {
        let cases: Vec<String> = ends
            .iter()
            .map(|e| {
                format!(
                    "CASE WHEN {d} >= {} AND {d} <= {} THEN {value} ELSE 0 END",
                    lit(*e - Duration::days(len - 1)),
                    lit(*e),
                    d = fact.date
                )
            })
            .collect();
        let cases: Vec<&str> = cases.iter().map(String::as_str).collect();
        for (_, key, v) in sums(ctx, fact, &cases, None, Some(lo), ctx.q.to).await? {
            let e = out.entry(key).or_insert_with(|| vec![0; n]);
            for (i, x) in v.into_iter().enumerate() {
                e[i] += x;
            }
        }
        return Ok(out);
    }
    let mut days: HashMap<Key, BTreeMap<NaiveDate, i64>> = HashMap::new();
    for (b, key, v) in sums(ctx, fact, &[value], Some(Period::Day), Some(lo), ctx.q.to).await? {
        if let Some(d) = b {
            *days.entry(key).or_default().entry(d).or_default() += v[0];
        }
    }
    for (key, m) in days {
        let sums = ends
            .iter()
            .map(|e| {
                m.range(*e - Duration::days(len - 1)..=*e)
                    .map(|x| x.1)
                    .sum()
            })
            .collect();
        out.insert(key, sums);
    }
    Ok(out)
}

fn at(v: Option<&Vec<i64>>, idx: usize) -> i64 {
    v.and_then(|v| v.get(idx).copied()).unwrap_or(0)
}

const AR_COLS: Cols = Cols {
    region: "e.region_id",
    agent: Some("e.agent_id"),
    salesperson: Some("e.salesperson_id"),
    product: None,
};

/// Receivables at each period's end: AR, aging, DSO (docs/signals.md §1),
/// summed from the AR movements (`ar_entries`): an order's open amount at a
/// day is its total less the payments received by then, from the day it
/// shipped. (The definition's floor at zero never applies: a payment above
/// what is still due is refused.)
async fn receivables(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
    let q = ctx.q;
    let w = u32::try_from(ctx.src.ar_window_days).unwrap_or(90);
    let mut sel = key_select(q, &AR_COLS);
    sel.extend(["e.due_on AS due".to_owned(), "e.entry_on AS d".to_owned()]);
    let n = sel.len();
    sel.push("CAST(SUM(e.amount_fen) AS BIGINT) AS v".to_owned());
    let sql = format!(
        "SELECT {} FROM ar_entries e WHERE e.entry_on <= {}{} GROUP BY {}",
        sel.join(", "),
        lit(q.to),
        filters(ctx, &AR_COLS),
        (1..=n)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let ends: Vec<NaiveDate> = ctx.periods.ends().map(|(_, e)| e).collect();
    // AR and aging per (period, key): each movement counts at every period
    // end on or after its day, in the aging bucket of its due date there.
    let mut ar: HashMap<(usize, Key), [i64; 7]> = HashMap::new();
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for r in query(ctx, sql).await? {
        let key = key_of(q, &r)?;
        let (due, day) = (date_at(&r, "due")?, date_at(&r, "d")?);
        let v: i64 = r
            .try_get::<Option<i64>>("", "v")
            .map_err(db_err)?
            .unwrap_or(0);
        let first = ends.partition_point(|e| *e < day);
        for (idx, end) in ends.iter().enumerate().skip(first) {
            let e = ar.entry((idx, key)).or_default();
            e[0] += v;
            e[1 + figures::aging_bucket((*end - due).num_days())] += v;
        }
    }
    // Groups with nothing open at any end are left out, as before.
    for ((_, key), f) in &ar {
        if f[0] != 0 {
            keys.insert(*key);
        }
    }
    let needs_sales = matches!(
        q.metric,
        Metric::Dso | Metric::BestPossibleDso | Metric::AverageDaysDelinquent
    );
    let sales = if needs_sales {
        let s = trailing(ctx, &SALES, "o.total_fen", i64::from(w)).await?;
        keys.extend(s.keys().copied());
        s
    } else {
        HashMap::new()
    };
    grid(ctx, keys, |idx, key| {
        let f = ar.get(&(idx, *key)).copied().unwrap_or_default();
        let fen = |v: i64| (Some(v as f64 / 100.0), Some(v));
        let (value, amount) = match q.metric {
            Metric::Ar => fen(f[0]),
            Metric::ArCurrent => fen(f[1]),
            Metric::ArPastDue1To30 => fen(f[2]),
            Metric::ArPastDue31To60 => fen(f[3]),
            Metric::ArPastDue61To90 => fen(f[4]),
            Metric::ArPastDue91To120 => fen(f[5]),
            Metric::ArPastDueOver120 => fen(f[6]),
            m => {
                let s = at(sales.get(key), idx) as f64;
                let dso = figures::dso(f[0] as f64, s, w);
                let best = figures::best_possible_dso(f[1] as f64, s, w);
                let v = match m {
                    Metric::Dso => dso,
                    Metric::BestPossibleDso => best,
                    _ => dso.zip(best).map(|(a, b)| a - b),
                };
                (v, None)
            }
        };
        (value, amount)
    })
}

/// Forecast accuracy (docs/signals.md §2): errors per month × region ×
/// product (× salesperson when grouped by salesperson), over the cells that
/// have a forecast, summed per period and group.
async fn forecast(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
    let q = ctx.q;
    let by_sp = grouped(q, Dimension::Salesperson);
    let first_month = period_start(Period::Month, q.from);
    let cols = Cols {
        region: "f.region_id",
        agent: None,
        salesperson: Some("f.salesperson_id"),
        product: Some("f.product_id"),
    };
    let sql = format!(
        "SELECT f.period AS m, f.region_id AS r, f.product_id AS p, f.salesperson_id AS s, \
         CAST(SUM(f.quantity) AS BIGINT) AS v FROM forecasts f \
         WHERE f.period >= '{}' AND f.period <= '{}'{} GROUP BY 1, 2, 3, 4",
        first_month.format("%Y-%m"),
        q.to.format("%Y-%m"),
        filters(ctx, &cols)
    );
    // Cell: (month, region, product, salesperson if grouped) → (F, A).
    type Cell = (NaiveDate, i64, i64, Option<i64>);
    let mut cells: HashMap<Cell, (i64, i64)> = HashMap::new();
    for r in query(ctx, sql).await? {
        let m: String = r.try_get("", "m").map_err(db_err)?;
        let Ok(month) = NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d") else {
            continue;
        };
        let s: i64 = r.try_get("", "s").map_err(db_err)?;
        let cell = (
            month,
            r.try_get("", "r").map_err(db_err)?,
            r.try_get("", "p").map_err(db_err)?,
            by_sp.then_some(s),
        );
        cells.entry(cell).or_default().0 += r.try_get::<i64>("", "v").map_err(db_err)?;
    }
    if !cells.is_empty() {
        let mut sql = format!(
            "SELECT {} AS m, o.region_id AS r, l.product_id AS p, o.salesperson_id AS s, \
             CAST(SUM(l.quantity) AS BIGINT) AS v FROM sales_orders o \
             JOIN order_lines l ON l.order_id = o.id \
             WHERE o.shipped_on >= {} AND o.shipped_on <= {}",
            bucket_sql(ctx.be, Period::Month, "o.shipped_on"),
            lit(first_month),
            lit((period_start(Period::Month, q.to) + Months::new(1)) - Duration::days(1)),
        );
        sql.push_str(&filters(
            ctx,
            &Cols {
                region: "o.region_id",
                agent: None,
                salesperson: Some("o.salesperson_id"),
                product: Some("l.product_id"),
            },
        ));
        sql.push_str(" GROUP BY 1, 2, 3, 4");
        for r in query(ctx, sql).await? {
            let s: i64 = r.try_get("", "s").map_err(db_err)?;
            let cell = (
                date_at(&r, "m")?,
                r.try_get("", "r").map_err(db_err)?,
                r.try_get("", "p").map_err(db_err)?,
                by_sp.then_some(s),
            );
            if let Some(c) = cells.get_mut(&cell) {
                c.1 += r.try_get::<i64>("", "v").map_err(db_err)?;
            }
        }
    }
    // Σ F, Σ A, Σ |A−F|, Σ (F−A) per (period, key).
    let mut agg: HashMap<(usize, Key), [i64; 4]> = HashMap::new();
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for ((month, region, product, sp), (f, a)) in cells {
        let Some(idx) = ctx.periods.index(month.max(q.from)) else {
            continue;
        };
        let key = Key {
            r: grouped(q, Dimension::Region).then_some(region),
            a: None,
            s: sp,
            p: grouped(q, Dimension::Product).then_some(product),
        };
        let e = agg.entry((idx, key)).or_default();
        e[0] += f;
        e[1] += a;
        e[2] += (a - f).abs();
        e[3] += f - a;
        keys.insert(key);
    }
    grid(ctx, keys, |idx, key| {
        let e = agg.get(&(idx, *key)).copied().unwrap_or_default();
        let v = match q.metric {
            Metric::ForecastUnits => Some(e[0] as f64),
            Metric::ForecastWape => figures::wape(e[2] as f64, e[1] as f64),
            _ => figures::bias(e[3] as f64, e[1] as f64),
        };
        (v, None)
    })
}

/// Cumulative sums up to each period's end (from the beginning of history).
async fn cumulative(
    ctx: &Ctx<'_>,
    fact: &Fact,
    value: &str,
) -> Result<HashMap<(usize, Key), i64>, MetricError> {
    let q = ctx.q;
    let n = ctx.periods.spans.len();
    let mut flows: HashMap<Key, Vec<i64>> = HashMap::new();
    for (b, key, v) in sums(ctx, fact, &[value], q.period, None, q.to).await? {
        let idx = b.map_or(0, |b| ctx.periods.index(b.max(q.from)).unwrap_or(0));
        flows.entry(key).or_insert_with(|| vec![0; n])[idx] += v[0];
    }
    let mut out = HashMap::new();
    for (key, f) in flows {
        let mut acc = 0;
        for (idx, v) in f.into_iter().enumerate() {
            acc += v;
            out.insert((idx, key), acc);
        }
    }
    Ok(out)
}

/// Channel stock and weeks of supply at each period's end (docs/signals.md §5).
async fn channel_stock(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
    let q = ctx.q;
    let shipped = cumulative(ctx, &SHIPPED_UNITS, "l.quantity").await?;
    let sold = cumulative(ctx, &SELL_THROUGH, "t.quantity").await?;
    let keys: BTreeSet<Key> = shipped.keys().chain(sold.keys()).map(|k| k.1).collect();
    let recent = if q.metric == Metric::WeeksOfSupply {
        trailing(
            ctx,
            &SELL_THROUGH,
            "t.quantity",
            figures::SELL_THROUGH_WINDOW_DAYS,
        )
        .await?
    } else {
        HashMap::new()
    };
    grid(ctx, keys, |idx, key| {
        let stock = shipped.get(&(idx, *key)).copied().unwrap_or(0)
            - sold.get(&(idx, *key)).copied().unwrap_or(0);
        let v = if q.metric == Metric::ChannelStockUnits {
            Some(stock as f64)
        } else {
            let s = at(recent.get(key), idx);
            figures::weeks_of_supply(stock as f64, s as f64)
        };
        (v, None)
    })
}

/// Observed market prices against the list price of their tier:
/// 100 × Σ observed / Σ list, over observations whose product and tier
/// are in the price list.
async fn price_index(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
    let q = ctx.q;
    let fact = Fact {
        from_where: "price_observations po JOIN price_list_entries pl \
                     ON pl.product_id = po.product_id AND pl.tier = po.tier WHERE pl.price_fen > 0",
        date: "po.observed_on",
        cols: Cols {
            region: "po.region_id",
            agent: None,
            salesperson: None,
            product: Some("po.product_id"),
        },
    };
    let got = sums(
        ctx,
        &fact,
        &["po.price_fen", "pl.price_fen"],
        q.period,
        Some(q.from),
        q.to,
    )
    .await?;
    let mut agg: BTreeMap<(usize, Key), (i64, i64)> = BTreeMap::new();
    for (b, key, v) in got {
        let idx = b.map_or(Some(0), |b| ctx.periods.index(b.max(q.from)));
        if let Some(idx) = idx {
            let e = agg.entry((idx, key)).or_default();
            e.0 += v[0];
            e.1 += v[1];
        }
    }
    check_size(agg.len())?;
    Ok(agg
        .into_iter()
        .map(|((idx, key), (obs, list))| {
            row(
                ctx,
                idx,
                key,
                (list > 0).then(|| 100.0 * obs as f64 / list as f64),
                None,
            )
        })
        .collect())
}

/// Diversion rate (docs/signals.md §4): per period, units located (serials
/// sold through or sighted, each counted once; serial-less sell-through by
/// quantity) and those located outside the agent's region.
async fn diversion(
    ctx: &Ctx<'_>,
    all: &[salesguard_entities::model::region::Model],
) -> Result<Vec<MetricRow>, MetricError> {
    let q = ctx.q;
    let cols = Cols {
        region: "a.region_id",
        agent: Some("su.agent_id"),
        salesperson: None,
        product: Some("su.product_id"),
    };
    let mut sqls = Vec::new();
    for (table, loc, day) in [
        ("sell_through x", "x.sold_region_id", "x.sold_on"),
        ("unit_sightings x", "x.region_id", "x.seen_on"),
    ] {
        sqls.push(format!(
            "SELECT su.agent_id AS ag, a.region_id AS ar, su.product_id AS p, {loc} AS loc, {day} AS d, \
             su.serial AS serial, 1 AS qty FROM {table} JOIN serial_units su ON su.serial = x.serial \
             JOIN agents a ON a.id = su.agent_id WHERE {day} >= {} AND {day} <= {}{}",
            lit(q.from),
            lit(q.to),
            filters(ctx, &cols)
        ));
    }
    sqls.push(format!(
        "SELECT t.agent_id AS ag, a.region_id AS ar, t.product_id AS p, t.sold_region_id AS loc, \
         t.sold_on AS d, NULL AS serial, t.quantity AS qty FROM sell_through t \
         JOIN agents a ON a.id = t.agent_id WHERE t.serial IS NULL AND t.sold_on >= {} AND t.sold_on <= {}{}",
        lit(q.from),
        lit(q.to),
        filters(ctx, &Cols { agent: Some("t.agent_id"), product: Some("t.product_id"), ..cols })
    ));
    let mut territory: HashMap<i64, HashSet<i64>> = HashMap::new();
    // (period, key) → (located, diverted, serial → diverted)
    type Acc = (i64, i64, HashMap<String, bool>);
    let mut agg: BTreeMap<(usize, Key), Acc> = BTreeMap::new();
    for sql in sqls {
        for r in query(ctx, sql).await? {
            let agent: i64 = r.try_get("", "ag").map_err(db_err)?;
            let region: i64 = r.try_get("", "ar").map_err(db_err)?;
            let product: i64 = r.try_get("", "p").map_err(db_err)?;
            let loc: i64 = r.try_get("", "loc").map_err(db_err)?;
            let Some(idx) = ctx.periods.index(date_at(&r, "d")?) else {
                continue;
            };
            let home = territory
                .entry(region)
                .or_insert_with(|| salesguard_domain::regions::expand(all, &[region]));
            let out_of_region = !home.contains(&loc);
            let key = Key {
                r: grouped(q, Dimension::Region).then_some(region),
                a: grouped(q, Dimension::Agent).then_some(agent),
                s: None,
                p: grouped(q, Dimension::Product).then_some(product),
            };
            let e = agg.entry((idx, key)).or_default();
            match r.try_get::<Option<String>>("", "serial").map_err(db_err)? {
                Some(serial) => {
                    let d = e.2.entry(serial).or_default();
                    *d |= out_of_region;
                }
                None => {
                    let qty: i64 = r.try_get("", "qty").map_err(db_err)?;
                    e.0 += qty;
                    if out_of_region {
                        e.1 += qty;
                    }
                }
            }
        }
    }
    check_size(agg.len())?;
    Ok(agg
        .into_iter()
        .map(|((idx, key), (located, diverted, serials))| {
            let located = located + serials.len() as i64;
            let diverted = diverted + serials.values().filter(|d| **d).count() as i64;
            row(
                ctx,
                idx,
                key,
                (located > 0).then(|| diverted as f64 / located as f64),
                None,
            )
        })
        .collect())
}

/// Risk signals open at each period's end, or raised in each period, by the
/// business day of `raised_at` / `cleared_at`.
async fn signals(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
    let q = ctx.q;
    let cols = Cols {
        region: "region_id",
        agent: Some("agent_id"),
        salesperson: Some("salesperson_id"),
        product: Some("product_id"),
    };
    let sql = format!(
        "SELECT region_id, agent_id, salesperson_id, product_id, raised_at, cleared_at \
         FROM risk_signals WHERE 1 = 1{}",
        filters(ctx, &cols)
    );
    let tz = ctx.src.tz;
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let mut agg: BTreeMap<(usize, Key), i64> = BTreeMap::new();
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for r in query(ctx, sql).await? {
        let get = |d: Dimension, c: &str| -> Result<Option<i64>, MetricError> {
            Ok(if grouped(q, d) {
                r.try_get::<Option<i64>>("", c).map_err(db_err)?
            } else {
                None
            })
        };
        let key = Key {
            r: get(Dimension::Region, "region_id")?,
            a: get(Dimension::Agent, "agent_id")?,
            s: get(Dimension::Salesperson, "salesperson_id")?,
            p: get(Dimension::Product, "product_id")?,
        };
        let raised = day(r.try_get("", "raised_at").map_err(db_err)?);
        let cleared = r
            .try_get::<Option<DateTime<Utc>>>("", "cleared_at")
            .map_err(db_err)?
            .map(day);
        keys.insert(key);
        if q.metric == Metric::SignalsRaised {
            if let Some(idx) = ctx.periods.index(raised) {
                *agg.entry((idx, key)).or_default() += 1;
            }
        } else {
            for (idx, end) in ctx.periods.ends() {
                if raised <= end && cleared.is_none_or(|c| c > end) {
                    *agg.entry((idx, key)).or_default() += 1;
                }
            }
        }
    }
    grid(ctx, keys, |idx, key| {
        let v = agg.get(&(idx, *key)).copied().unwrap_or(0);
        (Some(v as f64), None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_are_calendar_aligned_and_clipped() {
        let p = Periods::new(Some(Period::Week), d("2026-11-04"), d("2026-11-20"));
        // Wed 4 Nov → weeks starting Mon 2, 9, 16 Nov.
        assert_eq!(
            p.spans,
            vec![
                (d("2026-11-04"), d("2026-11-08")),
                (d("2026-11-09"), d("2026-11-15")),
                (d("2026-11-16"), d("2026-11-20")),
            ]
        );
        assert_eq!(p.index(d("2026-11-10")), Some(1));
        assert_eq!(p.index(d("2026-11-21")), None);
        let q = Periods::new(Some(Period::Quarter), d("2026-02-10"), d("2026-08-01"));
        assert_eq!(q.spans.len(), 3);
        assert_eq!(q.spans[1], (d("2026-04-01"), d("2026-06-30")));
        assert_eq!(
            period_start(Period::Quarter, d("2026-12-31")),
            d("2026-10-01")
        );
    }
}
