//! The diversion rate: units located outside the agent's region.
use std::collections::{BTreeMap, HashMap, HashSet};

use super::super::{Dimension, MetricError, MetricRow};
use super::grid::{check_size, row};
use super::sql::{date_at, db_err, filters, grouped, lit, query};
use super::{Cols, Ctx, Key};

/// Diversion rate (docs/signals.md §4): per period, units located (serials
/// sold through or sighted, each counted once; serial-less sell-through by
/// quantity) and those located outside the agent's region.
pub(super) async fn diversion(
    ctx: &Ctx<'_>,
    all: &[salesguard_entities::model::region::Model],
) -> Result<Vec<MetricRow>, MetricError> {
    let q = ctx.q;
    let cols = Cols {
        region: "a.region_id",
        agent: Some("su.agent_id"),
        salesperson: None,
        product: Some("su.product_id"),
    };
    let mut sqls = Vec::new();
    for (table, loc, day) in [
        ("sell_through x", "x.sold_region_id", "x.sold_on"),
        ("unit_sightings x", "x.region_id", "x.seen_on"),
    ] {
        sqls.push(format!(
            "SELECT su.agent_id AS ag, a.region_id AS ar, su.product_id AS p, {loc} AS loc, {day} AS d, \
             su.serial AS serial, 1 AS qty FROM {table} JOIN serial_units su ON su.serial = x.serial \
             JOIN agents a ON a.id = su.agent_id WHERE {day} >= {} AND {day} <= {}{}",
            lit(q.from),
            lit(q.to),
            filters(ctx, &cols)
        ));
    }
    sqls.push(format!(
        "SELECT t.agent_id AS ag, a.region_id AS ar, t.product_id AS p, t.sold_region_id AS loc, \
         t.sold_on AS d, NULL AS serial, t.quantity AS qty FROM sell_through t \
         JOIN agents a ON a.id = t.agent_id WHERE t.serial IS NULL AND t.sold_on >= {} AND t.sold_on <= {}{}",
        lit(q.from),
        lit(q.to),
        filters(ctx, &Cols { agent: Some("t.agent_id"), product: Some("t.product_id"), ..cols })
    ));
    let mut territory: HashMap<i64, HashSet<i64>> = HashMap::new();
    // (period, key) → (located, diverted, serial → diverted)
    type Acc = (i64, i64, HashMap<String, bool>);
    let mut agg: BTreeMap<(usize, Key), Acc> = BTreeMap::new();
    for sql in sqls {
        for r in query(ctx, sql).await? {
            let agent: i64 = r.try_get("", "ag").map_err(db_err)?;
            let region: i64 = r.try_get("", "ar").map_err(db_err)?;
            let product: i64 = r.try_get("", "p").map_err(db_err)?;
            let loc: i64 = r.try_get("", "loc").map_err(db_err)?;
            let Some(idx) = ctx.periods.index(date_at(&r, "d")?) else {
                continue;
            };
            let home = territory
                .entry(region)
                .or_insert_with(|| salesguard_domain::regions::expand(all, &[region]));
            let out_of_region = !home.contains(&loc);
            let key = Key {
                r: grouped(q, Dimension::Region).then_some(region),
                a: grouped(q, Dimension::Agent).then_some(agent),
                s: None,
                p: grouped(q, Dimension::Product).then_some(product),
            };
            let e = agg.entry((idx, key)).or_default();
            match r.try_get::<Option<String>>("", "serial").map_err(db_err)? {
                Some(serial) => {
                    let d = e.2.entry(serial).or_default();
                    *d |= out_of_region;
                }
                None => {
                    let qty: i64 = r.try_get("", "qty").map_err(db_err)?;
                    e.0 += qty;
                    if out_of_region {
                        e.1 += qty;
                    }
                }
            }
        }
    }
    check_size(agg.len())?;
    Ok(agg
        .into_iter()
        .map(|((idx, key), (located, diverted, serials))| {
            let located = located + serials.len() as i64;
            let diverted = diverted + serials.values().filter(|d| **d).count() as i64;
            row(
                ctx,
                idx,
                key,
                (located > 0).then(|| diverted as f64 / located as f64),
                None,
            )
        })
        .collect())
}
