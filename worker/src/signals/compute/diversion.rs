//! Goods diversion (docs/signals.md §4): the share of an agent's units
//! located (sold through, activated, under warranty, called back) outside
//! its territory.
use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;

use super::super::load::date_of;
use super::super::{grade_above, Evidence, Kind, Signal};
use super::helpers::{between, cap, f64s, i64s, inner, join, left, pct, qty_if, strs};
use super::Ctx;

/// A diverted unit: serial, owner agent, region seen in, source table.
type Diverted<'a> = (&'a str, i64, i64, String);

/// (home region, seen region) pairs that are the same territory.
fn territory(ctx: &Ctx) -> anyhow::Result<LazyFrame> {
    // The pairs for which `same_territory` holds: a region with each of its
    // ancestors, both ways (itself once). Linear in regions × depth (testing
    // every pair would be quadratic: 64M pairs at 8,000 regions).
    let mut pairs: BTreeSet<(i64, i64)> = BTreeSet::new();
    for r in ctx.inp.regions.keys() {
        for a in ctx.inp.ancestors(*r) {
            pairs.insert((*r, a));
            pairs.insert((a, *r));
        }
    }
    let (home, seen): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
    let n = home.len();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("home".into(), home),
        Column::new("region_id".into(), seen),
        Column::new("inside".into(), vec![true; n]),
    ])?
    .lazy())
}

/// Each agent (column `key`) with its home region.
fn homes(ctx: &Ctx, key: &str) -> anyhow::Result<LazyFrame> {
    let (mut a, mut r) = (vec![], vec![]);
    for (id, dim) in &ctx.inp.agents {
        a.push(*id);
        r.push(dim.region);
    }
    Ok(DataFrame::new_infer_height(vec![
        Column::new(key.into(), a),
        Column::new("home".into(), r),
    ])?
    .lazy())
}

/// Units located and diverted per agent, then the signals.
pub(super) fn signals(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let start = ctx.d - th.diversion_window_days as i32 + 1;
    let terr = territory(ctx)?;
    let per_serial = per_serial(ctx, start, terr.clone())?;
    let mut fig = serial_counts(&per_serial)?;
    for ((a, l), dv) in bulk_counts(ctx, start, terr)? {
        let e = fig.entry(a).or_default();
        e.0 += l;
        e.1 += dv;
    }
    let units_out = diverted_units(ctx, per_serial)?;
    for (agent, (located, diverted)) in fig {
        if diverted < th.diversion_min_units as f64 || located <= 0.0 {
            continue;
        }
        out.extend(signal(ctx, start, agent, located, diverted, &units_out));
    }
    Ok(())
}

/// One row per located unit (owner agent, unit): diverted (`out` = 1) when
/// any event of the window was outside the territory, with where and how
/// it was first seen outside.
fn per_serial(ctx: &Ctx, start: i32, terr: LazyFrame) -> anyhow::Result<DataFrame> {
    let d = ctx.d;
    let events = concat(
        [
            ctx.inp
                .sell
                .clone()
                .lazy()
                .filter(between("day", start, d).and(col("unit").is_not_null()))
                .select([
                    col("unit"),
                    col("region_id"),
                    lit("SELL_THROUGH").alias("src"),
                    col("id"),
                ]),
            ctx.inp
                .sightings
                .clone()
                .lazy()
                .filter(between("day", start, d).and(col("unit").is_not_null()))
                .select([
                    col("unit"),
                    col("region_id"),
                    lit("UNIT_SIGHTING").alias("src"),
                    col("id"),
                ]),
        ],
        UnionArgs::default(),
    )?;
    let located = join(
        join(
            join(events, ctx.inp.units.clone().lazy(), inner(&["unit"])),
            homes(ctx, "owner_agent_id")?,
            inner(&["owner_agent_id"]),
        ),
        terr,
        left(&["home", "region_id"]),
    )
    .with_column(
        when(col("inside").is_null())
            .then(lit(1i64))
            .otherwise(lit(0i64))
            .alias("out"),
    );
    Ok(located
        .group_by([col("owner_agent_id"), col("unit")])
        .agg([
            col("out").max().alias("out"),
            col("region_id")
                .filter(col("out").eq(lit(1i64)))
                .first()
                .alias("seen_region"),
            col("src")
                .filter(col("out").eq(lit(1i64)))
                .first()
                .alias("src"),
        ])
        .collect()?)
}

/// Units located and diverted per agent, by serial.
fn serial_counts(per_serial: &DataFrame) -> anyhow::Result<BTreeMap<i64, (f64, f64)>> {
    let per_agent = per_serial
        .clone()
        .lazy()
        .group_by([col("owner_agent_id")])
        .agg([
            col("unit").count().alias("located"),
            col("out").sum().alias("diverted"),
        ])
        .collect()?;
    let mut fig: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for ((a, l), dv) in i64s(&per_agent, "owner_agent_id")?
        .into_iter()
        .zip(f64s(&per_agent, "located")?)
        .zip(f64s(&per_agent, "diverted")?)
    {
        fig.insert(a, (l, dv));
    }
    Ok(fig)
}

/// Serial-less sell-through, by quantity: ((agent, located), diverted).
fn bulk_counts(
    ctx: &Ctx,
    start: i32,
    terr: LazyFrame,
) -> anyhow::Result<impl Iterator<Item = ((i64, f64), f64)>> {
    let bulk = join(
        join(
            ctx.inp
                .sell
                .clone()
                .lazy()
                .filter(between("day", start, ctx.d).and(col("has_serial").not())),
            homes(ctx, "agent_id")?,
            inner(&["agent_id"]),
        ),
        terr,
        left(&["home", "region_id"]),
    )
    .group_by([col("agent_id")])
    .agg([
        col("qty").sum().alias("located"),
        qty_if(col("inside").is_null()).sum().alias("diverted"),
    ])
    .collect()?;
    Ok(i64s(&bulk, "agent_id")?
        .into_iter()
        .zip(f64s(&bulk, "located")?)
        .zip(f64s(&bulk, "diverted")?))
}

/// The diverted units, by serial.
fn diverted_units<'a>(ctx: &Ctx<'a>, per_serial: DataFrame) -> anyhow::Result<Vec<Diverted<'a>>> {
    let diverted_rows = per_serial
        .lazy()
        .filter(col("out").eq(lit(1i64)))
        .collect()?;
    let mut units_out: Vec<Diverted> = i64s(&diverted_rows, "unit")?
        .into_iter()
        .map(|u| ctx.inp.serials.serial(u32::try_from(u).unwrap_or(u32::MAX)))
        .zip(i64s(&diverted_rows, "owner_agent_id")?)
        .zip(i64s(&diverted_rows, "seen_region")?)
        .zip(strs(&diverted_rows, "src")?)
        .map(|(((s, a), r), src)| (s, a, r, src))
        .collect();
    units_out.sort();
    Ok(units_out)
}

/// The signal of one agent, if its diversion rate is above a threshold.
fn signal(
    ctx: &Ctx,
    start: i32,
    agent: i64,
    located: f64,
    diverted: f64,
    units_out: &[Diverted],
) -> Option<Signal> {
    let th = ctx.th;
    let rate = diverted / located;
    let (severity, threshold) = grade_above(
        rate,
        th.diversion_watch,
        th.diversion_warning,
        th.diversion_critical,
    )?;
    let mut s = ctx.base(
        Kind::GoodsDiversion,
        "CROSS_REGION",
        ctx.agent_subject(agent),
    );
    s.region_id = ctx.agent_region(agent);
    s.agent_id = Some(agent);
    s.period_start = date_of(start);
    s.severity = severity;
    s.value = rate;
    s.threshold = threshold;
    s.unit = "SHARE";
    s.formula = "diversion rate = units of the agent found outside its region (sell-through or activation, warranty, call-back) / units located, in the window";
    let mut where_found: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, region, _) in units_out.iter().filter(|x| x.1 == agent) {
        *where_found
            .entry(ctx.inp.region_label(*region))
            .or_default() += 1;
    }
    s.summary = format!(
        "{}: {} of {} units located turned up outside its region ({}){}",
        s.subject_label,
        diverted,
        located,
        pct(rate),
        if where_found.is_empty() {
            String::new()
        } else {
            format!(
                ", in {}",
                where_found
                    .iter()
                    .map(|(r, n)| format!("{r} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    s.metrics = vec![
        ("diversion_rate", rate),
        ("units_diverted", diverted),
        ("units_located", located),
    ];
    (s.evidence, s.more) = cap(units_out
        .iter()
        .filter(|x| x.1 == agent)
        .map(|(serial, _, region, src)| Evidence {
            kind: "SERIAL",
            id: None,
            reference: format!(
                "{serial} found in {} ({src})",
                ctx.inp.region_label(*region),
            ),
        })
        .collect());
    Some(s)
}
