//! The signal definitions of docs/signals.md (default thresholds) evaluated
//! directly on a plan: what the risk worker should raise on the demo data.
//! Used to prove that the clean data raises nothing and every planted
//! anomaly fires (see `tests/demo.rs` and `salesguard demo --check`).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Duration, NaiveDate};

use super::scenario::{add_months, month_start, Activity, Order, World, TIER_DEALER, TIER_RETAIL};

#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    pub kind: &'static str,
    pub rule: &'static str,
    pub subject: String,
    pub product: Option<String>,
    pub severity: &'static str,
    pub value: f64,
}

fn sev3(v: f64, watch: f64, warning: f64, critical: f64) -> Option<&'static str> {
    if v > critical {
        Some("CRITICAL")
    } else if v > warning {
        Some("WARNING")
    } else if v > watch {
        Some("WATCH")
    } else {
        None
    }
}

fn median(v: &mut [i64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    })
}

/// Every signal the definitions raise on the plan, as of its as-of day.
pub fn expected_signals(w: &World, act: &Activity) -> Vec<Expected> {
    let mut out = vec![];
    receivables_growth(w, act, &mut out);
    receivables_overdue(w, act, &mut out);
    forecasts(w, act, &mut out);
    below_purchase(w, act, &mut out);
    for ri in 0..w.regions.len() {
        for p in 0..w.products.len() {
            below_floor(w, act, ri, p, &mut out);
            out.extend(tier_inversion(w, act, ri, p));
        }
    }
    let mut serial_agent: HashMap<&str, usize> = HashMap::new();
    for o in &act.orders {
        for (_, s) in &o.serials {
            serial_agent.insert(s.as_str(), o.agent);
        }
    }
    for ai in 0..w.agents.len() {
        out.extend(diversion(w, act, ai, &serial_agent));
        out.extend(over_capacity(w, act, ai));
    }
    for ai in 0..w.agents.len() {
        channel_stock(w, act, ai, &mut out);
    }
    out
}

/// Whether `day` is among the `days` days up to the as-of day.
fn in_window(w: &World, day: NaiveDate, days: i64) -> bool {
    let d = w.cfg.as_of;
    day <= d && (d - day).num_days() < days
}

fn sku(w: &World, p: usize) -> Option<String> {
    Some(w.products[p].sku.clone())
}

/// AR at `t` and sales of the 90 days up to `t` of these orders.
fn ar_at(orders: &mut dyn Iterator<Item = &Order>, t: NaiveDate) -> (i64, i64) {
    let (mut ar, mut sales) = (0i64, 0i64);
    for o in orders {
        let Some(s) = o.ship_on else { continue };
        if s <= t {
            ar += (o.total_fen() - o.paid_by(t)).max(0);
            if (t - s).num_days() < 90 {
                sales += o.total_fen();
            }
        }
    }
    (ar, sales)
}

/// DSRI per agent, per region (with its sub-areas) and for the company.
fn receivables_growth(w: &World, act: &Activity, out: &mut Vec<Expected>) {
    let d = w.cfg.as_of;
    type Member = Box<dyn Fn(usize) -> bool>;
    let mut subjects: Vec<(String, Member)> = vec![];
    for (ai, a) in w.agents.iter().enumerate() {
        subjects.push((a.code.clone(), Box::new(move |x| x == ai)));
    }
    for (ri, r) in w.regions.iter().enumerate() {
        let fam = w.region_family(ri);
        let agents: BTreeSet<usize> = w
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| fam.contains(&a.region))
            .map(|(i, _)| i)
            .collect();
        subjects.push((r.code.clone(), Box::new(move |x| agents.contains(&x))));
    }
    subjects.push(("company".into(), Box::new(|_| true)));
    for (name, has) in &subjects {
        let (ar_d, s_d) = ar_at(&mut act.orders.iter().filter(|o| has(o.agent)), d);
        let (ar_p, s_p) = ar_at(
            &mut act.orders.iter().filter(|o| has(o.agent)),
            d - Duration::days(90),
        );
        if ar_d > 0 && ar_p > 0 && s_d > 0 && s_p > 0 && ar_d >= 1_000_000 {
            let dsri = (ar_d as f64 / s_d as f64) / (ar_p as f64 / s_p as f64);
            if let Some(sev) = sev3(dsri, 1.15, 1.3, 2.0) {
                out.push(Expected {
                    kind: "RECEIVABLES_GROWTH",
                    rule: "DSRI",
                    subject: name.clone(),
                    product: None,
                    severity: sev,
                    value: dsri,
                });
            }
        }
    }
}

/// Days past due of the oldest unpaid receivable, per agent.
fn receivables_overdue(w: &World, act: &Activity, out: &mut Vec<Expected>) {
    let d = w.cfg.as_of;
    for (ai, a) in w.agents.iter().enumerate() {
        let oldest = act
            .orders
            .iter()
            .filter(|o| o.agent == ai && o.exception)
            .filter(|o| o.paid_by(d) < o.total_fen())
            .filter_map(|o| o.due_on())
            .map(|due| (d - due).num_days())
            .max();
        if let Some(days) = oldest {
            if let Some(sev) = sev3(days as f64, 30.0, 60.0, 90.0) {
                out.push(Expected {
                    kind: "RECEIVABLES_OVERDUE",
                    rule: "DAYS_PAST_DUE",
                    subject: a.code.clone(),
                    product: None,
                    severity: sev,
                    value: days as f64,
                });
            }
        }
    }
}

/// The tracking signal per salesperson and per region, for each product,
/// over the 6 complete months before the as-of day.
fn forecasts(w: &World, act: &Activity, out: &mut Vec<Expected>) {
    let d = w.cfg.as_of;
    let this_month = month_start(d);
    let first = add_months(this_month, -6);
    let month_of = |day: NaiveDate| month_start(day);
    type Key = (Option<usize>, usize, usize, NaiveDate);
    let mut actual: HashMap<Key, i64> = HashMap::new();
    let mut fc: HashMap<Key, i64> = HashMap::new();
    for o in &act.orders {
        let Some(s) = o.ship_on else { continue };
        let m = month_of(s);
        if m < first || m >= this_month {
            continue;
        }
        let r = w.agents[o.agent].region;
        for l in &o.lines {
            *actual
                .entry((Some(o.salesperson), r, l.product, m))
                .or_default() += l.qty;
            *actual.entry((None, r, l.product, m)).or_default() += l.qty;
        }
    }
    for f in &act.forecasts {
        if f.month < first || f.month >= this_month {
            continue;
        }
        *fc.entry((Some(f.salesperson), f.region, f.product, f.month))
            .or_default() += f.qty;
        *fc.entry((None, f.region, f.product, f.month)).or_default() += f.qty;
    }
    type Series = BTreeMap<(Option<usize>, usize, usize), Vec<(i64, i64)>>;
    let mut series: Series = BTreeMap::new();
    for (k, f) in &fc {
        let a = actual.get(k).copied().unwrap_or(0);
        series.entry((k.0, k.1, k.2)).or_default().push((a, *f));
    }
    for ((sp, r, p), v) in series {
        if v.len() < 3 {
            continue;
        }
        let n = v.len() as f64;
        let sum_a: i64 = v.iter().map(|x| x.0).sum();
        let sum_err: i64 = v.iter().map(|x| x.0 - x.1).sum();
        let abs: i64 = v.iter().map(|x| (x.0 - x.1).abs()).sum();
        if abs == 0 || sum_a == 0 {
            continue;
        }
        let mad = abs as f64 / n;
        let ts = sum_err as f64 / mad;
        let bias = -(sum_err as f64) / sum_a as f64;
        let sev = if ts.abs() > 4.0 && bias.abs() >= 0.5 {
            Some("CRITICAL")
        } else if ts.abs() > 4.0 {
            Some("WARNING")
        } else if ts.abs() > 3.0 {
            Some("WATCH")
        } else {
            None
        };
        if let Some(sev) = sev {
            out.push(Expected {
                kind: "FORECAST_DEVIATION",
                rule: if ts < 0.0 {
                    "CHRONIC_OVER_FORECAST"
                } else {
                    "CHRONIC_UNDER_FORECAST"
                },
                subject: match sp {
                    Some(u) => w.users[u].username.clone(),
                    None => w.regions[r].code.clone(),
                },
                product: sku(w, p),
                severity: sev,
                value: ts,
            });
        }
    }
}

/// An agent's sell-through below its average purchase price of the last
/// year, per product.
fn below_purchase(w: &World, act: &Activity, out: &mut Vec<Expected>) {
    let d = w.cfg.as_of;
    let year_ago = d - Duration::days(364);
    for (ai, a) in w.agents.iter().enumerate() {
        for p in 0..w.products.len() {
            let (mut units, mut fen) = (0i64, 0i64);
            for o in act.orders.iter().filter(|o| o.agent == ai) {
                if o.ship_on.is_some_and(|s| s >= year_ago && s <= d) {
                    for l in o.lines.iter().filter(|l| l.product == p) {
                        units += l.qty;
                        fen += l.qty * l.unit_fen;
                    }
                }
            }
            if units == 0 {
                continue;
            }
            let avg = fen as f64 / units as f64;
            let (mut below, mut all) = (0i64, 0i64);
            for s in act
                .sell_through
                .iter()
                .filter(|s| s.agent == ai && s.product == p && in_window(w, s.sold_on, 30))
            {
                all += s.qty;
                if (s.price_fen as f64) < avg {
                    below += s.qty;
                }
            }
            if below > 0 {
                let share = below as f64 / all as f64;
                out.push(Expected {
                    kind: "PRICE_INVERSION",
                    rule: "BELOW_PURCHASE_PRICE",
                    subject: a.code.clone(),
                    product: sku(w, p),
                    severity: if share >= 0.25 { "CRITICAL" } else { "WARNING" },
                    value: share,
                });
            }
        }
    }
}

/// DEALER and RETAIL prices of a product in region `ri` below the tier's
/// floor: the median (WARNING) or the lowest (WATCH).
fn below_floor(w: &World, act: &Activity, ri: usize, p: usize, out: &mut Vec<Expected>) {
    let (r, prod) = (&w.regions[ri], &w.products[p]);
    for (tier, frac) in [("DEALER", TIER_DEALER), ("RETAIL", TIER_RETAIL)] {
        let floor = prod.tier_fen(frac).1 as f64;
        let obs: Vec<i64> = act
            .prices
            .iter()
            .filter(|o| {
                o.region == ri
                    && o.product == p
                    && o.tier == tier
                    && in_window(w, o.observed_on, 30)
            })
            .map(|o| o.price_fen)
            .collect();
        let mut v = obs.clone();
        if let Some(m) = median(&mut v) {
            let low = *v.first().unwrap_or(&0) as f64;
            if m < floor {
                out.push(Expected {
                    kind: "PRICE_INVERSION",
                    rule: "BELOW_FLOOR",
                    subject: r.code.clone(),
                    product: sku(w, p),
                    severity: "WARNING",
                    value: m / floor,
                });
            } else if low < floor {
                out.push(Expected {
                    kind: "PRICE_INVERSION",
                    rule: "BELOW_FLOOR",
                    subject: r.code.clone(),
                    product: sku(w, p),
                    severity: "WATCH",
                    value: low / floor,
                });
            }
        }
    }
}

/// The median of a downstream tier below that of an upstream one, for a
/// product in region `ri`; the AGENT tier is the agents' purchase prices.
fn tier_inversion(w: &World, act: &Activity, ri: usize, p: usize) -> Option<Expected> {
    let mut tiers: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for o in act
        .orders
        .iter()
        .filter(|o| w.agents[o.agent].region == ri)
        .filter(|o| o.ship_on.is_some_and(|s| in_window(w, s, 30)))
    {
        for l in o.lines.iter().filter(|l| l.product == p) {
            tiers.entry("AGENT").or_default().push(l.unit_fen);
        }
    }
    for o in act
        .prices
        .iter()
        .filter(|o| o.region == ri && o.product == p && in_window(w, o.observed_on, 30))
    {
        tiers.entry(o.tier).or_default().push(o.price_fen);
    }
    let med: Vec<Option<f64>> = ["AGENT", "DEALER", "RETAIL"]
        .iter()
        .map(|t| tiers.get_mut(t).and_then(|v| median(v)))
        .collect();
    let mut worst: Option<f64> = None;
    for up in 0..3 {
        for down in up + 1..3 {
            if let (Some(u), Some(dn)) = (med[up], med[down]) {
                if dn < u {
                    let ratio = dn / u;
                    worst = Some(worst.map_or(ratio, |x: f64| x.min(ratio)));
                }
            }
        }
    }
    worst.map(|ratio| Expected {
        kind: "PRICE_INVERSION",
        rule: "TIER_INVERSION",
        subject: w.regions[ri].code.clone(),
        product: sku(w, p),
        severity: "WARNING",
        value: ratio,
    })
}

/// The share of agent `ai`'s units located in the last 90 days outside its
/// region (serials once each, serial-less sell-through by quantity).
fn diversion(
    w: &World,
    act: &Activity,
    ai: usize,
    serial_agent: &HashMap<&str, usize>,
) -> Option<Expected> {
    let a = &w.agents[ai];
    let home = w.region_family(a.region);
    // serial -> diverted?
    let mut located: BTreeMap<&str, bool> = BTreeMap::new();
    let (mut bulk_in, mut bulk_out) = (0i64, 0i64);
    for s in act
        .sell_through
        .iter()
        .filter(|s| s.agent == ai && in_window(w, s.sold_on, 90))
    {
        let out_of = !home.contains(&s.region);
        match &s.serial {
            Some(serial) => {
                let e = located.entry(serial.as_str()).or_insert(false);
                *e |= out_of;
            }
            None if out_of => bulk_out += s.qty,
            None => bulk_in += s.qty,
        }
    }
    for s in act.sightings.iter().filter(|s| in_window(w, s.seen_on, 90)) {
        if serial_agent.get(s.serial.as_str()) == Some(&ai) {
            let e = located.entry(s.serial.as_str()).or_insert(false);
            *e |= !home.contains(&s.region);
        }
    }
    let diverted = located.values().filter(|x| **x).count() as i64 + bulk_out;
    let total = located.len() as i64 + bulk_in + bulk_out;
    if diverted < 3 || total <= 0 {
        return None;
    }
    let rate = diverted as f64 / total as f64;
    sev3(rate, 0.05, 0.10, 0.25).map(|sev| Expected {
        kind: "GOODS_DIVERSION",
        rule: "CROSS_REGION",
        subject: a.code.clone(),
        product: None,
        severity: sev,
        value: rate,
    })
}

/// Agent `ai`'s purchases of the last 90 days, a year's worth, against its
/// region's market capacity.
fn over_capacity(w: &World, act: &Activity, ai: usize) -> Option<Expected> {
    let a = &w.agents[ai];
    let cap = w.regions[a.region].capacity;
    if cap <= 0 {
        return None;
    }
    let units: i64 = act
        .orders
        .iter()
        .filter(|o| o.agent == ai && o.ship_on.is_some_and(|s| in_window(w, s, 90)))
        .map(|o| o.units())
        .sum();
    let ratio = units as f64 * 365.0 / 90.0 / cap as f64;
    sev3(ratio, 1.0, 1.5, 2.5).map(|sev| Expected {
        kind: "PURCHASE_OVER_CAPACITY",
        rule: "ABOVE_MARKET_CAPACITY",
        subject: a.code.clone(),
        product: None,
        severity: sev,
        value: ratio,
    })
}

/// Agent `ai`'s weeks of supply, and its sell-in outpacing sell-through.
fn channel_stock(w: &World, act: &Activity, ai: usize, out: &mut Vec<Expected>) {
    let d = w.cfg.as_of;
    let a = &w.agents[ai];
    let shipped_in = |from: i64, to: i64| -> i64 {
        act.orders
            .iter()
            .filter(|o| o.agent == ai)
            .filter_map(|o| o.ship_on.map(|s| (s, o.units())))
            .filter(|(s, _)| {
                let age = (d - *s).num_days();
                age >= from && age < to
            })
            .map(|(_, u)| u)
            .sum()
    };
    let sold_in = |from: i64, to: i64| -> i64 {
        act.sell_through
            .iter()
            .filter(|s| s.agent == ai)
            .filter(|s| {
                let age = (d - s.sold_on).num_days();
                age >= from && age < to
            })
            .map(|s| s.qty)
            .sum()
    };
    let stock = shipped_in(0, 100_000) - sold_in(0, 100_000);
    let weekly = sold_in(0, 28) as f64 / 4.0;
    if stock >= 10 {
        let wos = if weekly > 0.0 {
            stock as f64 / weekly
        } else {
            f64::INFINITY
        };
        if let Some(sev) = sev3(wos, 6.0, 8.0, 16.0) {
            out.push(Expected {
                kind: "CHANNEL_STOCK",
                rule: "WEEKS_OF_SUPPLY",
                subject: a.code.clone(),
                product: None,
                severity: sev,
                value: wos,
            });
        }
    }
    let (si_now, si_before) = (shipped_in(0, 28), shipped_in(28, 56));
    let (st_now, st_before) = (sold_in(0, 28), sold_in(28, 56));
    if si_before > 0 {
        let growth = si_now as f64 / si_before as f64 - 1.0;
        let st_growth = if st_before > 0 {
            st_now as f64 / st_before as f64 - 1.0
        } else if st_now > 0 {
            f64::INFINITY
        } else {
            0.0
        };
        if growth > 0.3 && st_growth < 0.05 {
            out.push(Expected {
                kind: "CHANNEL_STOCK",
                rule: "SELL_IN_OUTPACING_SELL_THROUGH",
                subject: a.code.clone(),
                product: None,
                severity: "WATCH",
                value: growth,
            });
        }
    }
}
