//! Purchases over capacity (docs/signals.md §4): what an agent buys at its
//! current pace against the market capacity of its region.
use polars::prelude::*;

use super::super::load::date_of;
use super::super::{grade_above, Kind, Signal};
use super::helpers::{between, f64s, i64s};
use super::Ctx;

/// Units shipped to each agent in the last 90 days, annualized, against
/// the capacity of the nearest region (its own or above) that has one.
pub(super) fn signals(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let d = ctx.d;
    let df = ctx
        .lo
        .clone()
        .lazy()
        .filter(between("ship_day", d - 89, d))
        .group_by([col("agent_id")])
        .agg([col("qty").sum().alias("units")])
        .collect()?;
    for (agent, units) in i64s(&df, "agent_id")?.into_iter().zip(f64s(&df, "units")?) {
        let Some(home) = ctx.agent_region(agent) else {
            continue;
        };
        let Some((region, cap_units)) = ctx
            .inp
            .ancestors(home)
            .into_iter()
            .find_map(|r| ctx.inp.regions.get(&r)?.capacity.map(|c| (r, c)))
        else {
            continue;
        };
        if cap_units <= 0 {
            continue;
        }
        let annual = units * 365.0 / 90.0;
        let ratio = annual / cap_units as f64;
        let Some((severity, threshold)) = grade_above(
            ratio,
            th.capacity_watch,
            th.capacity_warning,
            th.capacity_critical,
        ) else {
            continue;
        };
        let mut s = ctx.base(
            Kind::PurchaseOverCapacity,
            "ABOVE_MARKET_CAPACITY",
            ctx.agent_subject(agent),
        );
        s.region_id = Some(home);
        s.agent_id = Some(agent);
        s.period_start = date_of(d - 89);
        s.severity = severity;
        s.value = ratio;
        s.threshold = threshold;
        s.formula = "ratio = units shipped to the agent in the last 90 days × 365/90 / its region's market capacity (units a year)";
        s.summary = format!(
            "{}: buys {:.0} units a year at the current pace, {:.1}× the market capacity of {} ({} units a year)",
            s.subject_label,
            annual,
            ratio,
            ctx.inp.region_label(region),
            cap_units
        );
        s.metrics = vec![
            ("ratio_to_capacity", ratio),
            ("units_90_days", units),
            ("annualized_units", annual),
            ("market_capacity_units", cap_units as f64),
        ];
        out.push(s);
    }
    Ok(())
}
