//! The facts (rows with a business date, dimension columns and values)
//! and their sums per period and key: over the period, over a trailing
//! window up to each period's end, and cumulated from the beginning.
use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};

use super::super::{MetricError, Period};
use super::sql::{bucket_sql, date_at, db_err, filters, key_of, key_select, lit, query};
use super::{Cols, Ctx, Key};

/// A fact: rows with a business date, dimension columns and values.
pub(super) struct Fact {
    pub(super) from_where: &'static str,
    pub(super) date: &'static str,
    pub(super) cols: Cols,
}

/// Σ of `values` per (bucket start, key) for dates in `lo..=hi` (`lo` None:
/// from the beginning). `bucket` None: one bucket (`None` date).
pub(super) async fn sums(
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

pub(super) const SALES: Fact = Fact {
    from_where: "sales_orders o WHERE o.shipped_on IS NOT NULL",
    date: "o.shipped_on",
    cols: ORDER_COLS,
};

pub(super) const SALES_LINES: Fact = Fact {
    from_where:
        "sales_orders o JOIN order_lines l ON l.order_id = o.id WHERE o.shipped_on IS NOT NULL",
    date: "o.shipped_on",
    cols: Cols {
        product: Some("l.product_id"),
        ..ORDER_COLS
    },
};

pub(super) const PAYMENTS: Fact = Fact {
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

pub(super) const SELL_THROUGH: Fact = Fact {
    from_where: "sell_through t JOIN agents a ON a.id = t.agent_id WHERE 1 = 1",
    date: "t.sold_on",
    cols: Cols {
        product: Some("t.product_id"),
        ..AGENT_COLS
    },
};

pub(super) const SHIPPED_UNITS: Fact = Fact {
    from_where: "sales_orders o JOIN order_lines l ON l.order_id = o.id JOIN agents a ON a.id = o.agent_id WHERE o.shipped_on IS NOT NULL",
    date: "o.shipped_on",
    cols: Cols {
        product: Some("l.product_id"),
        ..AGENT_COLS
    },
};

/// The most period ends whose trailing windows are summed in one scan
/// (one conditional sum each); more are summed from daily sums.
const MAX_WINDOW_COLUMNS: usize = 64;

/// Σ `value` over the `len` days up to each period's end, per key (index:
/// the period).
pub(super) async fn trailing(
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

pub(super) fn at(v: Option<&Vec<i64>>, idx: usize) -> i64 {
    v.and_then(|v| v.get(idx).copied()).unwrap_or(0)
}

/// Cumulative sums up to each period's end (from the beginning of history).
pub(super) async fn cumulative(
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
