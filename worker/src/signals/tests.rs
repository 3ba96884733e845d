//! Hand-checked values of every formula (docs/signals.md) on small frames.
//! The expected numbers are worked out in the comments.
use std::collections::HashMap;

use chrono::NaiveDate;
use polars::prelude::*;
use salesguard_config::SignalSettings;

use super::compute::lines_with_orders;
use super::load::{day_of, month_of_day, units_frame, AgentDim, Inputs, RegionDim};
use super::serials::SerialIndex;
use super::{compute, Severity, Signal};

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 30).unwrap_or_default()
}

/// Day number `n` days before the as-of day.
fn ago(n: i32) -> i32 {
    day_of(as_of()) - n
}

fn df(cols: Vec<Column>) -> DataFrame {
    DataFrame::new_infer_height(cols).expect("frame")
}

fn ci(name: &str, v: Vec<i64>) -> Column {
    Column::new(name.into(), v)
}

fn c32(name: &str, v: Vec<i32>) -> Column {
    Column::new(name.into(), v)
}

fn cs(name: &str, v: Vec<&str>) -> Column {
    Column::new(name.into(), v)
}

/// Regions: 1 North, 2 North-east (sub-area of 1), 3 South.
/// Agents: 11 in 2, 12 in 3.
#[derive(Default)]
#[allow(clippy::type_complexity)]
struct B {
    /// order id, agent, region, salesperson, total fen, ship day
    orders: Vec<(i64, i64, i64, i64, i64, i32)>,
    /// order id, product, qty, price fen
    lines: Vec<(i64, i64, i64, i64)>,
    /// order id, amount fen, day
    payments: Vec<(i64, i64, i32)>,
    /// order id, agent, outstanding fen, due day
    receivables: Vec<(i64, i64, i64, i32)>,
    /// id, agent, product, serial, qty, price fen, region, day
    sell: Vec<(i64, i64, i64, Option<&'static str>, i64, i64, i64, i32)>,
    /// id, serial, region, day
    sightings: Vec<(i64, &'static str, i64, i32)>,
    /// serial, owner agent
    units: Vec<(&'static str, i64)>,
    /// month, region, product, salesperson, qty
    forecasts: Vec<(i32, i64, i64, i64, i64)>,
    /// id, product, region, tier, price fen, day
    prices: Vec<(i64, i64, i64, &'static str, i64, i32)>,
    /// product, tier, floor fen
    floors: Vec<(i64, &'static str, i64)>,
    capacity: HashMap<i64, i64>,
}

impl B {
    /// An order of one line (product 100) shipped `days` ago.
    fn order(&mut self, id: i64, agent: i64, qty: i64, price: i64, days: i32) {
        let region = if agent == 11 { 2 } else { 3 };
        self.orders
            .push((id, agent, region, 7, qty * price, ago(days)));
        self.lines.push((id, 100, qty, price));
    }

    fn build(self) -> Inputs {
        // Units numbered as the loader numbers them.
        let mut serials = SerialIndex::new();
        let mut owners = vec![];
        for (serial, owner) in &self.units {
            if serials.insert(serial.as_bytes()).expect("few serials").1 {
                owners.push(*owner);
            }
        }
        let unit_of = |s: Option<&str>| s.and_then(|s| serials.get(s.as_bytes()));
        let o = &self.orders;
        let orders = df(vec![
            ci("order_id", o.iter().map(|r| r.0).collect()),
            ci("agent_id", o.iter().map(|r| r.1).collect()),
            ci("region_id", o.iter().map(|r| r.2).collect()),
            ci("salesperson_id", o.iter().map(|r| r.3).collect()),
            ci("total_fen", o.iter().map(|r| r.4).collect()),
            c32("ship_day", o.iter().map(|r| r.5).collect()),
            c32("ship_month", o.iter().map(|r| month_of_day(r.5)).collect()),
        ]);
        let l = &self.lines;
        let lines = df(vec![
            ci("order_id", l.iter().map(|r| r.0).collect()),
            ci("product_id", l.iter().map(|r| r.1).collect()),
            ci("qty", l.iter().map(|r| r.2).collect()),
            ci("price_fen", l.iter().map(|r| r.3).collect()),
        ]);
        let p = &self.payments;
        let payments = df(vec![
            ci("order_id", p.iter().map(|r| r.0).collect()),
            ci("amount_fen", p.iter().map(|r| r.1).collect()),
            c32("day", p.iter().map(|r| r.2).collect()),
        ]);
        let r = &self.receivables;
        let receivables = df(vec![
            ci("order_id", r.iter().map(|r| r.0).collect()),
            ci("agent_id", r.iter().map(|r| r.1).collect()),
            ci("outstanding_fen", r.iter().map(|r| r.2).collect()),
            c32("due_day", r.iter().map(|r| r.3).collect()),
        ]);
        let s = &self.sell;
        let sell = df(vec![
            ci("id", s.iter().map(|r| r.0).collect()),
            ci("agent_id", s.iter().map(|r| r.1).collect()),
            ci("product_id", s.iter().map(|r| r.2).collect()),
            Column::new(
                "has_serial".into(),
                s.iter().map(|r| r.3.is_some()).collect::<Vec<_>>(),
            ),
            Column::new(
                "unit".into(),
                s.iter().map(|r| unit_of(r.3)).collect::<Vec<_>>(),
            ),
            ci("qty", s.iter().map(|r| r.4).collect()),
            ci("price_fen", s.iter().map(|r| r.5).collect()),
            ci("region_id", s.iter().map(|r| r.6).collect()),
            c32("day", s.iter().map(|r| r.7).collect()),
        ]);
        let g = &self.sightings;
        let sightings = df(vec![
            ci("id", g.iter().map(|r| r.0).collect()),
            Column::new(
                "unit".into(),
                g.iter().map(|r| unit_of(Some(r.1))).collect::<Vec<_>>(),
            ),
            ci("region_id", g.iter().map(|r| r.2).collect()),
            c32("day", g.iter().map(|r| r.3).collect()),
        ]);
        let units = units_frame(0, owners).expect("units");
        let lo = lines_with_orders(lines, &orders).expect("lines joined");
        let f = &self.forecasts;
        let forecasts = df(vec![
            ci("id", (1..=f.len() as i64).collect()),
            c32("month", f.iter().map(|r| r.0).collect()),
            ci("region_id", f.iter().map(|r| r.1).collect()),
            ci("product_id", f.iter().map(|r| r.2).collect()),
            ci("salesperson_id", f.iter().map(|r| r.3).collect()),
            ci("qty", f.iter().map(|r| r.4).collect()),
        ]);
        let pr = &self.prices;
        let prices = df(vec![
            ci("id", pr.iter().map(|r| r.0).collect()),
            ci("product_id", pr.iter().map(|r| r.1).collect()),
            ci("region_id", pr.iter().map(|r| r.2).collect()),
            cs("tier", pr.iter().map(|r| r.3).collect()),
            ci("price_fen", pr.iter().map(|r| r.4).collect()),
            c32("day", pr.iter().map(|r| r.5).collect()),
        ]);
        let fl = &self.floors;
        let floors = df(vec![
            ci("product_id", fl.iter().map(|r| r.0).collect()),
            cs("tier", fl.iter().map(|r| r.1).collect()),
            ci("floor_fen", fl.iter().map(|r| r.2).collect()),
        ]);
        let region = |parent, label: &str, id| RegionDim {
            parent,
            label: label.into(),
            capacity: self.capacity.get(&id).copied(),
        };
        let regions = HashMap::from([
            (1, region(None, "N North", 1)),
            (2, region(Some(1), "NE North-east", 2)),
            (3, region(None, "S South", 3)),
        ]);
        let agents = HashMap::from([
            (
                11,
                AgentDim {
                    region: 2,
                    label: "A11".into(),
                },
            ),
            (
                12,
                AgentDim {
                    region: 3,
                    label: "A12".into(),
                },
            ),
        ]);
        Inputs {
            orders,
            lo,
            payments,
            receivables,
            sell,
            sightings,
            units,
            serials,
            forecasts,
            prices,
            floors,
            regions,
            agents,
            people: HashMap::from([(7, "Seven".into()), (8, "Eight".into())]),
            products: HashMap::new(),
            order_numbers: HashMap::new(),
        }
    }
}

fn run(b: B) -> Vec<Signal> {
    compute(&b.build(), as_of(), &SignalSettings::default()).expect("compute")
}

fn of_kind<'a>(all: &'a [Signal], kind: &str) -> Vec<&'a Signal> {
    all.iter().filter(|s| s.kind.as_str() == kind).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn metric(s: &Signal, name: &str) -> f64 {
    s.metrics
        .iter()
        .find(|m| m.0 == name)
        .map(|m| m.1)
        .unwrap_or(f64::NAN)
}

const Y: i64 = 100; // fen per yuan

#[test]
fn receivables_dsri_dso_aging_and_overdue() {
    let mut b = B::default();
    // Agent 11: order 1 (100,000 yuan) shipped 120 days ago, 60,000 paid
    // before, the other 40,000 paid 60 days ago; order 2 (200,000) shipped
    // 30 days ago with 20,000 paid: 180,000 open, due today.
    b.order(1, 11, 10, 10_000 * Y, 120);
    b.payments.push((1, 60_000 * Y, ago(125)));
    b.payments.push((1, 40_000 * Y, ago(60)));
    b.order(2, 11, 20, 10_000 * Y, 30);
    b.payments.push((2, 20_000 * Y, ago(35)));
    b.receivables.push((2, 11, 180_000 * Y, ago(0)));
    // Agent 12: order 3 (50,000) shipped 150 days ago, unpaid, due 120
    // days ago.
    b.order(3, 12, 5, 10_000 * Y, 150);
    b.receivables.push((3, 12, 50_000 * Y, ago(120)));
    let all = run(b);
    let growth = of_kind(&all, "RECEIVABLES_GROWTH");
    // Agent 11: AR(D) = 180,000, Sales(D) = 200,000 → 0.9;
    // AR(D−90) = 40,000, Sales(D−90) = 100,000 → 0.4; DSRI = 2.25.
    let a11 = growth
        .iter()
        .find(|s| s.subject_type.as_str() == "AGENT" && s.subject_id == Some(11))
        .expect("agent 11 growth");
    assert!(close(a11.value, 2.25), "{}", a11.value);
    assert_eq!(a11.severity, Severity::Critical);
    assert!(close(a11.threshold, 2.0));
    assert!(close(metric(a11, "ar_share"), 0.9));
    assert!(close(metric(a11, "dso_days"), 81.0));
    // Due today: all current, so best possible DSO = DSO, no delinquency.
    assert!(close(metric(a11, "best_possible_dso_days"), 81.0));
    assert!(close(metric(a11, "average_days_delinquent"), 0.0));
    assert!(close(metric(a11, "aging_current"), 180_000.0));
    assert_eq!(a11.region_id, Some(2));
    // The regions above agent 11 carry the same figures.
    for r in [1, 2] {
        let s = growth
            .iter()
            .find(|s| s.subject_type.as_str() == "REGION" && s.subject_id == Some(r))
            .expect("region growth");
        assert!(close(s.value, 2.25));
    }
    // Agent 12 sold nothing in the last 90 days: no DSRI, and no region 3.
    assert!(!growth
        .iter()
        .any(|s| s.subject_id == Some(12) || s.subject_id == Some(3)));
    // Company: AR 230,000 / sales 200,000 = 1.15; before 90,000 / 150,000
    // = 0.6; DSRI = 1.916667 → WARNING (above 1.3, not above 2.0).
    let co = growth
        .iter()
        .find(|s| s.subject_type.as_str() == "COMPANY")
        .expect("company growth");
    assert!(close(co.value, 1.15 / 0.6), "{}", co.value);
    assert_eq!(co.severity, Severity::Warning);
    assert_eq!(co.region_id, None);
    assert!(close(metric(co, "aging_91_120"), 50_000.0));
    // Overdue: only agent 12's receivable, 120 days past due → CRITICAL.
    let overdue = of_kind(&all, "RECEIVABLES_OVERDUE");
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].subject_id, Some(12));
    assert!(close(overdue[0].value, 120.0));
    assert_eq!(overdue[0].severity, Severity::Critical);
    assert_eq!(overdue[0].evidence.len(), 1);
    assert_eq!(overdue[0].evidence[0].id, Some(3));
}

#[test]
fn receivables_below_the_thresholds_raise_nothing() {
    let mut b = B::default();
    // The same share of sales in both windows: DSRI = 1.
    b.order(1, 11, 10, 10_000 * Y, 120);
    b.payments.push((1, 60_000 * Y, ago(125)));
    b.order(2, 11, 10, 10_000 * Y, 30);
    b.payments.push((2, 60_000 * Y, ago(35)));
    b.payments.push((1, 40_000 * Y, ago(10)));
    b.receivables.push((2, 11, 40_000 * Y, ago(-10)));
    let all = run(b);
    assert!(of_kind(&all, "RECEIVABLES_GROWTH").is_empty());
    assert!(of_kind(&all, "RECEIVABLES_OVERDUE").is_empty());
}

#[test]
fn forecast_tracking_signal_wape_and_bias() {
    let mut b = B::default();
    let m = month_of_day(day_of(as_of())); // June 2026; window Dec–May
    let mid = |k: i32| {
        // a day in month m−k
        let d = NaiveDate::from_ymd_opt(
            (m - k).div_euclid(12),
            ((m - k).rem_euclid(12) + 1) as u32,
            15,
        )
        .unwrap_or_default();
        day_of(d)
    };
    let mut id = 100;
    let mut ship = |b: &mut B, sp: i64, product: i64, qty: i64, day: i32| {
        id += 1;
        b.orders.push((id, 11, 2, sp, qty * 100, day));
        b.lines.push((id, product, qty, 100));
    };
    for k in 1..=6 {
        // Seven: forecasts 10 of product 100 every month, sells 4: errors
        // −6 each: MAD 6, TS = −36/6 = −6, bias = (60−24)/24 = 1.5.
        b.forecasts.push((m - k, 2, 100, 7, 10));
        ship(&mut b, 7, 100, 4, mid(k));
    }
    // Eight: product 101, 4 months, F 10, A 12, 13, 9, 14: errors +2 +3 −1
    // +4: MAD 2.5, TS = 8/2.5 = 3.2 (WATCH), bias = (40−48)/48.
    for (k, a) in [(1, 12), (2, 13), (3, 9), (4, 14)] {
        b.forecasts.push((m - k, 2, 101, 8, 10));
        ship(&mut b, 8, 101, a, mid(k));
    }
    // Eight, product 102: errors alternate: TS 0.
    for (k, a) in [(1, 12), (2, 8), (3, 12), (4, 8)] {
        b.forecasts.push((m - k, 2, 102, 8, 10));
        ship(&mut b, 8, 102, a, mid(k));
    }
    // A forecast outside the window (this month) is not counted.
    b.forecasts.push((m, 2, 102, 8, 1000));
    let all = run(b);
    let fc = of_kind(&all, "FORECAST_DEVIATION");
    let find = |st: &str, product: i64| {
        fc.iter()
            .find(|s| s.subject_type.as_str() == st && s.product_id == Some(product))
            .copied()
    };
    let seven = find("SALESPERSON", 100).expect("Seven's over-forecast");
    assert_eq!(seven.subject_id, Some(7));
    assert_eq!(seven.rule, "CHRONIC_OVER_FORECAST");
    assert!(close(seven.value, -6.0));
    assert!(close(metric(seven, "bias"), 1.5));
    assert!(close(metric(seven, "wape"), 1.5));
    assert_eq!(seven.severity, Severity::Critical);
    let eight = find("SALESPERSON", 101).expect("Eight's under-forecast");
    assert_eq!(eight.rule, "CHRONIC_UNDER_FORECAST");
    assert!(close(eight.value, 3.2));
    assert!(close(metric(eight, "bias"), -8.0 / 48.0));
    assert!(close(metric(eight, "wape"), 10.0 / 48.0));
    assert_eq!(eight.severity, Severity::Watch);
    // The region (one salesperson per product here) shows the same.
    assert!(close(find("REGION", 100).expect("region").value, -6.0));
    assert!(find("SALESPERSON", 102).is_none());
    assert!(find("REGION", 102).is_none());
    assert_eq!(fc.len(), 4);
}

#[test]
fn price_inversion_purchase_floor_and_tiers() {
    let mut b = B::default();
    // Agent 11 bought product 100 at 1,000 yuan, 100 days ago.
    b.order(1, 11, 10, 1_000 * Y, 100);
    // Sold 10 in the window, 4 of them below 1,000: share 0.4 → CRITICAL.
    b.sell.push((1, 11, 100, None, 2, 900 * Y, 2, ago(5)));
    b.sell.push((2, 11, 100, None, 6, 1_200 * Y, 2, ago(6)));
    b.sell.push((3, 11, 100, None, 2, 950 * Y, 2, ago(7)));
    // An old sale below cost is outside the 30-day window.
    b.sell.push((4, 11, 100, None, 9, 100 * Y, 2, ago(40)));
    b.floors.push((100, "DEALER", 1_100 * Y));
    // South: DEALER median 1,050 < floor 1,100 → WARNING 0.954545;
    // RETAIL 1,000 < DEALER 1,050 → tier inversion 0.952381.
    for (id, p) in [(10, 1_000), (11, 1_050), (12, 1_200)] {
        b.prices.push((id, 100, 3, "DEALER", p * Y, ago(3)));
    }
    b.prices.push((13, 100, 3, "RETAIL", 1_000 * Y, ago(3)));
    // North: DEALER median 1,150 ≥ floor, lowest 1,080 < floor → WATCH.
    for (id, p) in [(20, 1_080), (21, 1_150), (22, 1_180)] {
        b.prices.push((id, 100, 1, "DEALER", p * Y, ago(3)));
    }
    // North-east: DEALER 1,250 below AGENT 1,300 → 0.961538.
    b.prices.push((30, 100, 2, "AGENT", 1_300 * Y, ago(2)));
    b.prices.push((31, 100, 2, "DEALER", 1_250 * Y, ago(2)));
    let all = run(b);
    let pi = of_kind(&all, "PRICE_INVERSION");
    let get = |rule: &str, subject: i64| {
        pi.iter()
            .find(|s| s.rule == rule && s.subject_id == Some(subject))
            .copied()
    };
    let buy = get("BELOW_PURCHASE_PRICE", 11).expect("below purchase");
    assert!(close(buy.value, 0.4));
    assert_eq!(buy.severity, Severity::Critical);
    let mut ids: Vec<i64> = buy.evidence.iter().filter_map(|e| e.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 3]);
    let south = get("BELOW_FLOOR", 3).expect("south below floor");
    assert!(close(south.value, 1_050.0 / 1_100.0));
    assert_eq!(south.severity, Severity::Warning);
    let north = get("BELOW_FLOOR", 1).expect("north lowest below floor");
    assert!(close(north.value, 1_080.0 / 1_100.0));
    assert_eq!(north.severity, Severity::Watch);
    let inv = get("TIER_INVERSION", 3).expect("south tiers");
    assert!(close(inv.value, 1_000.0 / 1_050.0));
    let ne = get("TIER_INVERSION", 2).expect("north-east tiers");
    assert!(close(ne.value, 1_250.0 / 1_300.0));
    assert!(get("TIER_INVERSION", 1).is_none());
    assert_eq!(pi.len(), 5);
}

#[test]
fn diversion_rate_by_serial_and_capacity() {
    let mut b = B::default();
    const S: [&str; 10] = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10"];
    for s in S {
        b.units.push((s, 11));
    }
    // S1–S6 sold in the agent's own sub-area.
    for (i, s) in S[..6].iter().enumerate() {
        b.sell
            .push((i as i64 + 1, 11, 100, Some(s), 1, 100, 2, ago(10)));
    }
    // S7 activated in North, the region above: in territory.
    b.sightings.push((1, "S7", 1, ago(5)));
    // S8 activated in South, S9 sold in South, S10 sold in South and
    // registered back home: 3 diverted of 10 located = 0.3 → CRITICAL.
    b.sightings.push((2, "S8", 3, ago(5)));
    b.sell.push((7, 12, 100, Some("S9"), 1, 100, 3, ago(5)));
    b.sell.push((8, 11, 100, Some("S10"), 1, 100, 3, ago(5)));
    b.sightings.push((3, "S10", 2, ago(4)));
    // Old sightings outside the window do not count.
    b.sightings.push((4, "S1", 3, ago(200)));
    // Agent 12: serial-less sell-through, 2 of 52 units outside: under the
    // 3-unit minimum.
    b.sell.push((9, 12, 100, None, 50, 100, 3, ago(3)));
    b.sell.push((10, 12, 100, None, 2, 100, 1, ago(3)));
    // Capacity: South 100 units a year; agent 12 bought 60 in 90 days →
    // 60 × 365/90 / 100 = 2.43333 → WARNING.
    b.capacity.insert(3, 100);
    b.capacity.insert(1, 1_000);
    b.order(1, 12, 60, 100, 20);
    // Agent 11: 30 units against North's 1,000 (inherited): fine.
    b.order(2, 11, 30, 100, 20);
    let all = run(b);
    let dv = of_kind(&all, "GOODS_DIVERSION");
    assert_eq!(dv.len(), 1, "{dv:?}");
    assert_eq!(dv[0].subject_id, Some(11));
    assert!(close(dv[0].value, 0.3));
    assert_eq!(dv[0].severity, Severity::Critical);
    let mut serials: Vec<String> = dv[0]
        .evidence
        .iter()
        .map(|e| e.reference.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    serials.sort();
    assert_eq!(serials, vec!["S10", "S8", "S9"]);
    let cap = of_kind(&all, "PURCHASE_OVER_CAPACITY");
    assert_eq!(cap.len(), 1);
    assert_eq!(cap[0].subject_id, Some(12));
    assert!(close(cap[0].value, 60.0 * 365.0 / 90.0 / 100.0));
    assert_eq!(cap[0].severity, Severity::Warning);
}

#[test]
fn channel_stock_weeks_of_supply_and_sell_in() {
    let mut b = B::default();
    // Agent 11: 60 units shipped 200 days ago, 40 twenty days ago; sold 32
    // long ago and 8 in the last 4 weeks: stock 60, 2 a week → 30 weeks.
    b.order(1, 11, 60, 100, 200);
    b.order(2, 11, 40, 100, 20);
    b.sell.push((1, 11, 100, None, 32, 100, 2, ago(100)));
    b.sell.push((2, 11, 100, None, 8, 100, 2, ago(3)));
    // Agent 12: sell-in 20 (50 days ago) → 30 (10 days ago), +50%, while
    // sell-through stays at 20 per 4 weeks: WATCH. Stock 50 − 40 = 10, 5 a
    // week: 2 weeks of supply, fine.
    b.order(3, 12, 20, 100, 50);
    b.order(4, 12, 30, 100, 10);
    b.sell.push((3, 12, 100, None, 20, 100, 3, ago(40)));
    b.sell.push((4, 12, 100, None, 20, 100, 3, ago(5)));
    let all = run(b);
    let st = of_kind(&all, "CHANNEL_STOCK");
    assert_eq!(st.len(), 2, "{st:?}");
    let wos = st
        .iter()
        .find(|s| s.rule == "WEEKS_OF_SUPPLY")
        .expect("wos");
    assert_eq!(wos.subject_id, Some(11));
    assert!(close(wos.value, 30.0));
    assert_eq!(wos.severity, Severity::Critical);
    let sin = st
        .iter()
        .find(|s| s.rule == "SELL_IN_OUTPACING_SELL_THROUGH")
        .expect("sell-in");
    assert_eq!(sin.subject_id, Some(12));
    assert!(close(sin.value, 0.5));
    assert_eq!(sin.severity, Severity::Watch);
}

#[test]
fn empty_data_raises_nothing() {
    assert!(run(B::default()).is_empty());
}
