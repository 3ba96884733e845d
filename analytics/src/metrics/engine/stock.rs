//! Channel stock and weeks of supply at each period's end.
use std::collections::{BTreeSet, HashMap};

use salesguard_domain::figures;

use super::super::{Metric, MetricError, MetricRow};
use super::facts::{at, cumulative, trailing, SELL_THROUGH, SHIPPED_UNITS};
use super::grid::grid;
use super::{Ctx, Key};

/// Channel stock and weeks of supply at each period's end (docs/signals.md §5).
pub(super) async fn channel_stock(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
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
