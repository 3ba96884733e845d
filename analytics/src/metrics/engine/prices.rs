//! The price index: observed market prices against the list price.
use std::collections::BTreeMap;

use super::super::{MetricError, MetricRow};
use super::facts::{sums, Fact};
use super::grid::{check_size, row};
use super::{Cols, Ctx, Key};

/// Observed market prices against the list price of their tier:
/// 100 × Σ observed / Σ list, over observations whose product and tier
/// are in the price list.
pub(super) async fn price_index(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
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
