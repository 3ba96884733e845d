//! Risk signals open at each period's end, or raised in each period.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::super::{Dimension, Metric, MetricError, MetricRow};
use super::grid::grid;
use super::sql::{db_err, filters, grouped, query};
use super::{Cols, Ctx, Key};

/// Risk signals open at each period's end, or raised in each period, by the
/// business day of `raised_at` / `cleared_at`.
pub(super) async fn signals(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
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
