//! The rows of an answer: one per period and group.
use std::collections::BTreeSet;

use super::super::{MetricError, MetricRow};
use super::{Ctx, Key, MAX_ROWS};

pub(super) fn row(
    ctx: &Ctx,
    idx: usize,
    key: Key,
    value: Option<f64>,
    amount_fen: Option<i64>,
) -> MetricRow {
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
pub(super) fn grid(
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

pub(super) fn check_size(n: usize) -> Result<(), MetricError> {
    if n > MAX_ROWS {
        return Err(MetricError::BadInput(format!(
            "the answer has {n} rows, more than {MAX_ROWS}: group by less, use a longer period or filter"
        )));
    }
    Ok(())
}
