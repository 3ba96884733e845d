//! Receivables at each period's end: AR, aging and DSO.
use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use salesguard_domain::figures;

use super::super::{Metric, MetricError, MetricRow};
use super::facts::{at, trailing, SALES};
use super::grid::grid;
use super::sql::{date_at, db_err, filters, key_of, key_select, lit, query};
use super::{Cols, Ctx, Key};

const AR_COLS: Cols = Cols {
    region: "e.region_id",
    agent: Some("e.agent_id"),
    salesperson: Some("e.salesperson_id"),
    product: None,
};

/// Receivables at each period's end: AR, aging, DSO (docs/signals.md §1),
/// summed from the AR movements (`ar_entries`): an order's open amount at a
/// day is its total less the payments received by then, from the day it
/// shipped. (The definition's floor at zero never applies: a payment above
/// what is still due is refused.)
pub(super) async fn receivables(ctx: &Ctx<'_>) -> Result<Vec<MetricRow>, MetricError> {
    let q = ctx.q;
    let w = u32::try_from(ctx.src.ar_window_days).unwrap_or(90);
    let mut sel = key_select(q, &AR_COLS);
    sel.extend(["e.due_on AS due".to_owned(), "e.entry_on AS d".to_owned()]);
    let n = sel.len();
    sel.push("CAST(SUM(e.amount_fen) AS BIGINT) AS v".to_owned());
    let sql = format!(
        "SELECT {} FROM ar_entries e WHERE e.entry_on <= {}{} GROUP BY {}",
        sel.join(", "),
        lit(q.to),
        filters(ctx, &AR_COLS),
        (1..=n)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let ends: Vec<NaiveDate> = ctx.periods.ends().map(|(_, e)| e).collect();
    // AR and aging per (period, key): each movement counts at every period
    // end on or after its day, in the aging bucket of its due date there.
    let mut ar: HashMap<(usize, Key), [i64; 7]> = HashMap::new();
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for r in query(ctx, sql).await? {
        let key = key_of(q, &r)?;
        let (due, day) = (date_at(&r, "due")?, date_at(&r, "d")?);
        let v: i64 = r
            .try_get::<Option<i64>>("", "v")
            .map_err(db_err)?
            .unwrap_or(0);
        let first = ends.partition_point(|e| *e < day);
        for (idx, end) in ends.iter().enumerate().skip(first) {
            let e = ar.entry((idx, key)).or_default();
            e[0] += v;
            e[1 + figures::aging_bucket((*end - due).num_days())] += v;
        }
    }
    // Groups with nothing open at any end are left out.
    for ((_, key), f) in &ar {
        if f[0] != 0 {
            keys.insert(*key);
        }
    }
    let needs_sales = matches!(
        q.metric,
        Metric::Dso | Metric::BestPossibleDso | Metric::AverageDaysDelinquent
    );
    let sales = if needs_sales {
        let s = trailing(ctx, &SALES, "o.total_fen", i64::from(w)).await?;
        keys.extend(s.keys().copied());
        s
    } else {
        HashMap::new()
    };
    grid(ctx, keys, |idx, key| {
        let f = ar.get(&(idx, *key)).copied().unwrap_or_default();
        let fen = |v: i64| (Some(v as f64 / 100.0), Some(v));
        let (value, amount) = match q.metric {
            Metric::Ar => fen(f[0]),
            Metric::ArCurrent => fen(f[1]),
            Metric::ArPastDue1To30 => fen(f[2]),
            Metric::ArPastDue31To60 => fen(f[3]),
            Metric::ArPastDue61To90 => fen(f[4]),
            Metric::ArPastDue91To120 => fen(f[5]),
            Metric::ArPastDueOver120 => fen(f[6]),
            m => {
                let s = at(sales.get(key), idx) as f64;
                let dso = figures::dso(f[0] as f64, s, w);
                let best = figures::best_possible_dso(f[1] as f64, s, w);
                let v = match m {
                    Metric::Dso => dso,
                    Metric::BestPossibleDso => best,
                    _ => dso.zip(best).map(|(a, b)| a - b),
                };
                (v, None)
            }
        };
        (value, amount)
    })
}
