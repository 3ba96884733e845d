//! The sales forecasts of a region group, with the planted chronic over-
//! and under-forecasting.
use std::collections::BTreeMap;

use super::{
    add_months, month_index, month_start, season, Agent, Forecast, Order, SalesRole, World,
};

impl World {
    /// Forecasts from 11 months back to 2 months ahead, per salesperson x
    /// region x product. Clean: actuals with errors of +-10% that cancel in
    /// pairs of months (so the tracking signal stays near 0); planted:
    /// +60% or -20% every month.
    pub(super) fn group_forecasts(&self, group: usize, orders: &[Order], out: &mut Vec<Forecast>) {
        let d = self.cfg.as_of;
        let this_month = month_start(d);
        let members = &self.groups[group];
        // actual units per (salesperson, region, product, month index)
        let mut actual: BTreeMap<(usize, usize, usize, i32), i64> = BTreeMap::new();
        for o in orders {
            let Some(s) = o.ship_on else { continue };
            let region = self.agents[o.agent].region;
            for l in &o.lines {
                *actual
                    .entry((o.salesperson, region, l.product, month_index(s)))
                    .or_default() += l.qty;
            }
        }
        let team = &self.teams[group];
        for &sp in &team.salespeople {
            for &r in members {
                let agents: Vec<&Agent> = self.group_agents[group]
                    .iter()
                    .map(|a| &self.agents[*a])
                    .filter(|a| a.salesperson == sp && a.region == r)
                    .collect();
                if agents.is_empty() {
                    continue;
                }
                let weekly: f64 = agents.iter().map(|a| a.weekly_units).sum();
                for p in 0..self.products.len() {
                    for back in (-2..=11).rev() {
                        let m = add_months(this_month, -back);
                        let mi = month_index(m);
                        let qty = if back <= 0 {
                            // This month and ahead: the plan, from the run rate.
                            let share = [0.31, 0.23, 0.15, 0.08, 0.23][p.min(4)];
                            (weekly * 4.3 * share * season(m)).round() as i64
                        } else {
                            let a = actual.get(&(sp, r, p, mi)).copied().unwrap_or(0);
                            match &self.users[sp].role {
                                SalesRole::OverForecast { product }
                                    if *product == p && r == team.region =>
                                {
                                    ((a as f64) * 1.6).round() as i64 + 1
                                }
                                SalesRole::UnderForecast { product }
                                    if *product == p && r == team.region =>
                                {
                                    ((a as f64) * 0.8).floor() as i64
                                }
                                _ => {
                                    // Months pair up from the month before D's:
                                    // (1,2), (3,4), (5,6), ...
                                    let pair_first = back % 2 == 1;
                                    let other = if pair_first { mi - 1 } else { mi + 1 };
                                    let b = actual.get(&(sp, r, p, other)).copied().unwrap_or(0);
                                    let lo = a.min(b);
                                    let dev = if lo >= 1 {
                                        ((lo as f64) * 0.1).round().max(1.0) as i64
                                    } else {
                                        0
                                    };
                                    if pair_first {
                                        a + dev
                                    } else {
                                        a - dev
                                    }
                                }
                            }
                        };
                        out.push(Forecast {
                            month: m,
                            region: r,
                            product: p,
                            salesperson: sp,
                            qty: qty.max(0),
                        });
                    }
                }
            }
        }
    }
}
