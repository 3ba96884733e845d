//! Flows: sales, units sold, collections and sell-through, summed over
//! each period.
use std::collections::{BTreeSet, HashMap};

use super::super::{Dimension, Metric, MetricError, MetricQuery, MetricRow};
use super::facts::{sums, PAYMENTS, SALES, SALES_LINES, SELL_THROUGH};
use super::grid::grid;
use super::sql::grouped;
use super::{is_money, Ctx, Key, Periods};

/// Flows (sums over the period), zero-filled over every period for each key.
pub(super) async fn flow_metric(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
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
