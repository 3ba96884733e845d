//! Channel stock (docs/signals.md §5): weeks of supply in the agent's
//! stock, and sell-in growing while sell-through stays flat.
use std::collections::HashMap;

use polars::prelude::*;
use salesguard_domain::figures;

use super::super::load::date_of;
use super::super::{grade_above, Kind, Severity, Signal};
use super::helpers::{between, f64s, i64s, pct, qty_if};
use super::Ctx;

/// Per agent: stock and sell-in against sell-through of the last two
/// 4-week windows.
pub(super) fn signals(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let d = ctx.d;
    let shipped = ctx
        .lo
        .clone()
        .lazy()
        .filter(col("ship_day").lt_eq(lit(d)))
        .group_by([col("agent_id")])
        .agg([
            col("qty").sum().alias("in_all"),
            qty_if(between("ship_day", d - 27, d))
                .sum()
                .alias("in_last"),
            qty_if(between("ship_day", d - 55, d - 28))
                .sum()
                .alias("in_prev"),
        ])
        .collect()?;
    let sold = ctx
        .inp
        .sell
        .clone()
        .lazy()
        .filter(col("day").lt_eq(lit(d)))
        .group_by([col("agent_id")])
        .agg([
            col("qty").sum().alias("st_all"),
            qty_if(between("day", d - 27, d)).sum().alias("st_last"),
            qty_if(between("day", d - 55, d - 28))
                .sum()
                .alias("st_prev"),
        ])
        .collect()?;
    let mut st: HashMap<i64, (f64, f64, f64)> = HashMap::new();
    for (((a, all), last), prev) in i64s(&sold, "agent_id")?
        .into_iter()
        .zip(f64s(&sold, "st_all")?)
        .zip(f64s(&sold, "st_last")?)
        .zip(f64s(&sold, "st_prev")?)
    {
        st.insert(a, (all, last, prev));
    }
    let (agents, in_all, in_last, in_prev) = (
        i64s(&shipped, "agent_id")?,
        f64s(&shipped, "in_all")?,
        f64s(&shipped, "in_last")?,
        f64s(&shipped, "in_prev")?,
    );
    for i in 0..agents.len() {
        let agent = agents[i];
        let (st_all, st_last, st_prev) = st.get(&agent).copied().unwrap_or_default();
        let stock = in_all[i] - st_all;
        let weekly = st_last / 4.0;
        let wos = figures::weeks_of_supply(stock, st_last).unwrap_or(f64::INFINITY);
        let metrics = vec![
            ("weeks_of_supply", wos),
            ("channel_stock_units", stock),
            ("avg_weekly_sell_through", weekly),
            ("sell_in_last_4_weeks", in_last[i]),
            ("sell_in_prior_4_weeks", in_prev[i]),
            ("sell_through_last_4_weeks", st_last),
            ("sell_through_prior_4_weeks", st_prev),
        ];
        if stock >= th.stock_min_units as f64 {
            if let Some((severity, threshold)) =
                grade_above(wos, th.wos_watch, th.wos_warning, th.wos_critical)
            {
                let mut s = ctx.base(
                    Kind::ChannelStock,
                    "WEEKS_OF_SUPPLY",
                    ctx.agent_subject(agent),
                );
                s.region_id = ctx.agent_region(agent);
                s.agent_id = Some(agent);
                s.period_start = date_of(d - 27);
                s.severity = severity;
                // Nothing sold through in 4 weeks: reported as 999 weeks.
                s.value = wos.min(999.0);
                s.threshold = threshold;
                s.unit = "WEEKS";
                s.formula = "weeks of supply = (units shipped to the agent − units it sold through) / average weekly sell-through of the last 4 weeks";
                s.summary = format!(
                    "{}: {} units in channel stock, {} of supply at {:.1} units a week sold through",
                    s.subject_label,
                    stock,
                    if wos.is_finite() {
                        format!("{wos:.1} weeks")
                    } else {
                        "endless weeks".into()
                    },
                    weekly
                );
                s.metrics = metrics.clone();
                out.push(s);
            }
        }
        if in_prev[i] > 0.0 {
            let growth = in_last[i] / in_prev[i] - 1.0;
            let st_change = if st_prev > 0.0 {
                st_last / st_prev - 1.0
            } else if st_last > 0.0 {
                f64::INFINITY
            } else {
                0.0
            };
            if growth > th.sell_in_growth && st_change < th.sell_through_flat {
                let mut s = ctx.base(
                    Kind::ChannelStock,
                    "SELL_IN_OUTPACING_SELL_THROUGH",
                    ctx.agent_subject(agent),
                );
                s.region_id = ctx.agent_region(agent);
                s.agent_id = Some(agent);
                s.period_start = date_of(d - 55);
                s.severity = Severity::Watch;
                s.value = growth;
                s.threshold = th.sell_in_growth;
                s.formula = "sell-in growth = units shipped in the last 28 days / the 28 days before − 1, while sell-through changed by less than the flat threshold";
                s.summary = format!(
                    "{}: sell-in up {} in 4 weeks ({} → {} units) while sell-through changed {} ({} → {})",
                    s.subject_label,
                    pct(growth),
                    in_prev[i],
                    in_last[i],
                    pct(st_change),
                    st_prev,
                    st_last
                );
                let mut m = metrics.clone();
                m.push(("sell_in_growth", growth));
                m.push(("sell_through_change", st_change));
                s.metrics = m;
                out.push(s);
            }
        }
    }
    Ok(())
}
