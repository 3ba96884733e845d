//! Forecast accuracy: forecast units, WAPE and bias.
use std::collections::{BTreeSet, HashMap};

use chrono::{Duration, Months, NaiveDate};
use salesguard_domain::figures;

use super::super::{Dimension, Metric, MetricError, MetricRow, Period};
use super::grid::grid;
use super::sql::{bucket_sql, date_at, db_err, filters, grouped, lit, query};
use super::{period_start, Cols, Ctx, Key};

/// Forecast accuracy (docs/signals.md §2): errors per month × region ×
/// product (× salesperson when grouped by salesperson), over the cells that
/// have a forecast, summed per period and group.
pub(super) async fn forecast(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
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
