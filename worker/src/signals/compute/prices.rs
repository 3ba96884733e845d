//! Price inversion (docs/signals.md §3): an agent selling through below its
//! own purchase price, observed prices below the floor of their tier, and a
//! downstream tier priced below an upstream one.
use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;

use super::super::load::date_of;
use super::super::{Evidence, Kind, Severity, Signal, SubjectType};
use super::helpers::{between, cap, f64s, i64s, inner, join, qty_if, strs, yuan};
use super::Ctx;

const TIERS: [&str; 3] = ["AGENT", "DEALER", "RETAIL"];

/// Below the purchase price, below the floor, then tier inversions, over
/// the price window.
pub(super) fn signals(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let d = ctx.d;
    let start = d - ctx.th.price_window_days as i32 + 1;
    below_purchase(ctx, start, out)?;
    let obs = ctx
        .inp
        .prices
        .clone()
        .lazy()
        .filter(between("day", start, d))
        .collect()?;
    let docs = Observations::of(&obs)?;
    below_floor(ctx, start, &obs, &docs, out)?;
    tier_inversion(ctx, start, &obs, &docs, out)?;
    Ok(())
}

/// The price observations of the window, cited as evidence.
struct Observations {
    id: Vec<i64>,
    region: Vec<i64>,
    product: Vec<i64>,
    tier: Vec<String>,
    price: Vec<i64>,
}

impl Observations {
    fn of(obs: &DataFrame) -> anyhow::Result<Observations> {
        Ok(Observations {
            id: i64s(obs, "id")?,
            region: i64s(obs, "region_id")?,
            product: i64s(obs, "product_id")?,
            tier: strs(obs, "tier")?,
            price: i64s(obs, "price_fen")?,
        })
    }

    /// The observations of a product in a region, for these tiers.
    fn docs(&self, region: i64, product: i64, tiers: &[&str]) -> (Vec<Evidence>, usize) {
        cap((0..self.id.len())
            .filter(|&j| {
                self.region[j] == region
                    && self.product[j] == product
                    && tiers.contains(&self.tier[j].as_str())
            })
            .map(|j| Evidence {
                kind: "PRICE_OBSERVATION",
                id: Some(self.id[j]),
                reference: format!("{} {}", self.tier[j], yuan(self.price[j] as f64)),
            })
            .collect())
    }
}

/// (a) The agent's sell-through below its own purchase price.
fn below_purchase(ctx: &Ctx, start: i32, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let d = ctx.d;
    let purchase = ctx
        .lo
        .clone()
        .lazy()
        .filter(between("ship_day", d - 364, d))
        .group_by([col("agent_id"), col("product_id")])
        .agg([
            (col("price_fen") * col("qty")).sum().alias("value"),
            col("qty").sum().alias("bought"),
        ])
        .with_column(
            (col("value").cast(DataType::Float64) / col("bought").cast(DataType::Float64))
                .alias("purchase"),
        );
    let sold = join(
        ctx.inp.sell.clone().lazy().filter(between("day", start, d)),
        purchase,
        inner(&["agent_id", "product_id"]),
    )
    .with_column(
        col("price_fen")
            .cast(DataType::Float64)
            .lt(col("purchase"))
            .alias("below"),
    )
    .collect()?;
    let per = sold
        .clone()
        .lazy()
        .group_by([col("agent_id"), col("product_id")])
        .agg([
            col("qty").sum().alias("units"),
            qty_if(col("below")).sum().alias("below_units"),
            col("price_fen").min().alias("min_price"),
            col("purchase").first().alias("purchase"),
        ])
        .filter(col("below_units").gt(lit(0i64)))
        .collect()?;
    let below_rows = sold.lazy().filter(col("below")).collect()?;
    let (b_id, b_agent, b_product, b_price) = (
        i64s(&below_rows, "id")?,
        i64s(&below_rows, "agent_id")?,
        i64s(&below_rows, "product_id")?,
        i64s(&below_rows, "price_fen")?,
    );
    let (agents, products, units, below, min_price, purchase) = (
        i64s(&per, "agent_id")?,
        i64s(&per, "product_id")?,
        f64s(&per, "units")?,
        f64s(&per, "below_units")?,
        f64s(&per, "min_price")?,
        f64s(&per, "purchase")?,
    );
    for i in 0..per.height() {
        let (agent, product) = (agents[i], products[i]);
        let share = below[i] / units[i].max(1.0);
        let (severity, threshold) = if share >= th.inversion_critical_share {
            (Severity::Critical, th.inversion_critical_share)
        } else {
            (Severity::Warning, 0.0)
        };
        let mut s = ctx.base(
            Kind::PriceInversion,
            "BELOW_PURCHASE_PRICE",
            ctx.agent_subject(agent),
        );
        s.region_id = ctx.agent_region(agent);
        s.agent_id = Some(agent);
        s.product_id = Some(product);
        s.period_start = date_of(start);
        s.severity = severity;
        s.value = share;
        s.threshold = threshold;
        s.unit = "SHARE";
        s.formula = "share = units sold through below the agent's average purchase price (last 365 days) / units sold through, in the window";
        s.summary = format!(
            "{}: sells {} below its purchase price: {} of {} units, lowest {} against {} paid",
            s.subject_label,
            ctx.inp.product_label(product),
            below[i],
            units[i],
            yuan(min_price[i]),
            yuan(purchase[i])
        );
        s.metrics = vec![
            ("share_below_purchase", share),
            ("units_below_purchase", below[i]),
            ("units_sold", units[i]),
            ("lowest_price_yuan", min_price[i] / 100.0),
            ("purchase_price_yuan", purchase[i] / 100.0),
        ];
        (s.evidence, s.more) = cap((0..b_id.len())
            .filter(|&j| b_agent[j] == agent && b_product[j] == product)
            .map(|j| Evidence {
                kind: "SELL_THROUGH",
                id: Some(b_id[j]),
                reference: format!("sold at {}", yuan(b_price[j] as f64)),
            })
            .collect());
        out.push(s);
    }
    Ok(())
}

/// (b) Observed prices below the floor of their tier.
fn below_floor(
    ctx: &Ctx,
    start: i32,
    obs: &DataFrame,
    docs: &Observations,
    out: &mut Vec<Signal>,
) -> anyhow::Result<()> {
    let floors = join(
        obs.clone().lazy(),
        ctx.inp.floors.clone().lazy(),
        inner(&["product_id", "tier"]),
    )
    .group_by([col("region_id"), col("product_id"), col("tier")])
    .agg([
        col("price_fen")
            .cast(DataType::Float64)
            .median()
            .alias("median"),
        col("price_fen").min().alias("min"),
        col("floor_fen").first().alias("floor"),
        col("price_fen").count().alias("n"),
    ])
    .collect()?;
    let (f_region, f_product, f_tier, f_median, f_min, f_floor, f_n) = (
        i64s(&floors, "region_id")?,
        i64s(&floors, "product_id")?,
        strs(&floors, "tier")?,
        f64s(&floors, "median")?,
        f64s(&floors, "min")?,
        f64s(&floors, "floor")?,
        f64s(&floors, "n")?,
    );
    for i in 0..floors.height() {
        let floor = f_floor[i];
        if floor <= 0.0 {
            continue;
        }
        let (severity, value) = if f_median[i] < floor {
            (Severity::Warning, f_median[i] / floor)
        } else if f_min[i] < floor {
            (Severity::Watch, f_min[i] / floor)
        } else {
            continue;
        };
        let (region, product) = (f_region[i], f_product[i]);
        let mut s = ctx.base(
            Kind::PriceInversion,
            "BELOW_FLOOR",
            (
                SubjectType::Region,
                Some(region),
                ctx.inp.region_label(region),
            ),
        );
        s.detail = Some(f_tier[i].clone());
        s.region_id = Some(region);
        s.product_id = Some(product);
        s.period_start = date_of(start);
        s.severity = severity;
        s.value = value;
        s.threshold = 1.0;
        s.formula = "ratio = median (WARNING) or lowest (WATCH) price observed for the tier / the tier's floor price";
        s.summary = format!(
            "{}: {} {} prices below the floor {}: median {}, lowest {} ({} observations)",
            s.subject_label,
            ctx.inp.product_label(product),
            f_tier[i],
            yuan(floor),
            yuan(f_median[i]),
            yuan(f_min[i]),
            f_n[i]
        );
        s.metrics = vec![
            ("ratio_to_floor", value),
            ("median_price_yuan", f_median[i] / 100.0),
            ("lowest_price_yuan", f_min[i] / 100.0),
            ("floor_yuan", floor / 100.0),
            ("observations", f_n[i]),
        ];
        (s.evidence, s.more) = docs.docs(region, product, &[f_tier[i].as_str()]);
        out.push(s);
    }
    Ok(())
}

/// (c) A downstream tier below an upstream one; the AGENT tier includes
/// the purchase prices of the region's agents.
fn tier_inversion(
    ctx: &Ctx,
    start: i32,
    obs: &DataFrame,
    docs: &Observations,
    out: &mut Vec<Signal>,
) -> anyhow::Result<()> {
    let agent_prices = ctx
        .lo
        .clone()
        .lazy()
        .filter(between("ship_day", start, ctx.d))
        .select([
            col("region_id"),
            col("product_id"),
            lit("AGENT").alias("tier"),
            col("price_fen"),
        ]);
    let medians = concat(
        [
            obs.clone().lazy().select([
                col("region_id"),
                col("product_id"),
                col("tier"),
                col("price_fen"),
            ]),
            agent_prices,
        ],
        UnionArgs::default(),
    )?
    .group_by([col("region_id"), col("product_id"), col("tier")])
    .agg([col("price_fen")
        .cast(DataType::Float64)
        .median()
        .alias("median")])
    .collect()?;
    let mut by_rp: BTreeMap<(i64, i64), HashMap<String, f64>> = BTreeMap::new();
    for ((r, p), (t, m)) in i64s(&medians, "region_id")?
        .into_iter()
        .zip(i64s(&medians, "product_id")?)
        .zip(
            strs(&medians, "tier")?
                .into_iter()
                .zip(f64s(&medians, "median")?),
        )
    {
        by_rp.entry((r, p)).or_default().insert(t, m);
    }
    for ((region, product), m) in by_rp {
        let mut worst: Option<(f64, &str, &str)> = None;
        let mut pairs = vec![];
        for (ui, up) in TIERS.iter().enumerate() {
            for down in &TIERS[ui + 1..] {
                if let (Some(u), Some(dn)) = (m.get(*up), m.get(*down)) {
                    if *u > 0.0 && dn < u {
                        let ratio = dn / u;
                        pairs.push(format!("{down} {} < {up} {}", yuan(*dn), yuan(*u)));
                        if worst.is_none_or(|w| ratio < w.0) {
                            worst = Some((ratio, up, down));
                        }
                    }
                }
            }
        }
        let Some((ratio, _, _)) = worst else {
            continue;
        };
        let mut s = ctx.base(
            Kind::PriceInversion,
            "TIER_INVERSION",
            (
                SubjectType::Region,
                Some(region),
                ctx.inp.region_label(region),
            ),
        );
        s.region_id = Some(region);
        s.product_id = Some(product);
        s.period_start = date_of(start);
        s.severity = Severity::Warning;
        s.value = ratio;
        s.threshold = 1.0;
        s.formula = "ratio = median price of a downstream tier / median price of an upstream tier (AGENT → DEALER → RETAIL)";
        s.summary = format!(
            "{}: {} prices inverted between channel tiers: {}",
            s.subject_label,
            ctx.inp.product_label(product),
            pairs.join("; ")
        );
        let mut metrics = vec![("worst_ratio", ratio)];
        for (t, name) in TIERS.iter().zip([
            "agent_median_yuan",
            "dealer_median_yuan",
            "retail_median_yuan",
        ]) {
            if let Some(v) = m.get(*t) {
                metrics.push((name, v / 100.0));
            }
        }
        s.metrics = metrics;
        (s.evidence, s.more) = docs.docs(region, product, &TIERS);
        out.push(s);
    }
    Ok(())
}
