//! What happens over the year: orders with their payments and serials,
//! sell-through, sightings, price observations and forecasts, generated
//! per region group.
use chrono::{Duration, NaiveDate};

use super::{rng_for, World};

#[derive(Clone, Debug)]
pub struct Line {
    pub product: usize,
    pub qty: i64,
    pub unit_fen: i64,
}

/// How far an order got by the as-of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Filed,
    PendingApproval,
    AtFinance,
    Shipped,
    /// Invoiced, mailed, receipt confirmed, archived.
    Archived,
}

#[derive(Clone, Debug)]
pub struct Payment {
    pub on: NaiveDate,
    pub amount_fen: i64,
}

#[derive(Clone, Debug)]
pub struct Order {
    /// Unique within the plan.
    pub key: u64,
    /// Unique across data sets (the key with the data set's suffix): for
    /// tracking, invoice and bank reference numbers.
    pub ref_code: String,
    pub agent: usize,
    pub salesperson: usize,
    pub filed_on: NaiveDate,
    pub lines: Vec<Line>,
    pub terms_days: i64,
    pub ship_on: Option<NaiveDate>,
    /// Shipped on a management exception, unpaid.
    pub exception: bool,
    pub payments: Vec<Payment>,
    pub stage: Stage,
    /// (product, serial), one per unit; empty when not shipped.
    pub serials: Vec<(usize, String)>,
}

impl Order {
    pub fn total_fen(&self) -> i64 {
        self.lines.iter().map(|l| l.qty * l.unit_fen).sum()
    }
    pub fn units(&self) -> i64 {
        self.lines.iter().map(|l| l.qty).sum()
    }
    pub fn paid_by(&self, day: NaiveDate) -> i64 {
        self.payments
            .iter()
            .filter(|p| p.on <= day)
            .map(|p| p.amount_fen)
            .sum()
    }
    pub fn paid_fen(&self) -> i64 {
        self.payments.iter().map(|p| p.amount_fen).sum()
    }
    pub fn due_on(&self) -> Option<NaiveDate> {
        self.ship_on.map(|s| s + Duration::days(self.terms_days))
    }
}

#[derive(Clone, Debug)]
pub struct SellThrough {
    pub agent: usize,
    pub product: usize,
    pub serial: Option<String>,
    pub qty: i64,
    pub price_fen: i64,
    pub region: usize,
    pub sold_on: NaiveDate,
}

#[derive(Clone, Debug)]
pub struct Sighting {
    pub serial: String,
    pub kind: &'static str,
    pub region: usize,
    pub seen_on: NaiveDate,
}

#[derive(Clone, Debug)]
pub struct PriceObs {
    pub product: usize,
    pub region: usize,
    pub tier: &'static str,
    pub price_fen: i64,
    pub observed_on: NaiveDate,
    pub channel: &'static str,
}

#[derive(Clone, Debug)]
pub struct Forecast {
    /// First day of the month.
    pub month: NaiveDate,
    pub region: usize,
    pub product: usize,
    pub salesperson: usize,
    pub qty: i64,
}

/// Everything that happens in one region group over the year.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    pub orders: Vec<Order>,
    pub sell_through: Vec<SellThrough>,
    pub sightings: Vec<Sighting>,
    pub prices: Vec<PriceObs>,
    pub forecasts: Vec<Forecast>,
}

impl World {
    /// Generates one region group's year.
    pub fn activity(&self, group: usize) -> Activity {
        let mut act = Activity::default();
        let d = self.cfg.as_of;
        let members = &self.groups[group];
        for &ai in &self.group_agents[group] {
            let agent = &self.agents[ai];
            let mut rng = rng_for(self.cfg.seed, 2, ai as u64);
            self.agent_orders(ai, agent, &mut rng, &mut act.orders);
        }
        for &ai in &self.group_agents[group] {
            let agent = &self.agents[ai];
            let mut rng = rng_for(self.cfg.seed, 3, ai as u64);
            let orders: Vec<&Order> = act.orders.iter().filter(|o| o.agent == ai).collect();
            let (st, si) = self.agent_sell_through(ai, agent, &orders, &mut rng);
            act.sell_through.extend(st);
            act.sightings.extend(si);
        }
        let mut rng = rng_for(self.cfg.seed, 4, group as u64);
        for &r in members {
            self.region_prices(r, &mut rng, &mut act.prices);
        }
        self.group_forecasts(group, &act.orders, &mut act.forecasts);
        act.sell_through.sort_by_key(|s| s.sold_on);
        act.sightings.sort_by_key(|s| s.seen_on);
        let _ = d;
        act
    }

    /// The whole plan in memory (small sizes: the workflow sink, tests).
    pub fn all_activity(&self) -> Activity {
        let mut all = Activity::default();
        for g in 0..self.groups.len() {
            let a = self.activity(g);
            all.orders.extend(a.orders);
            all.sell_through.extend(a.sell_through);
            all.sightings.extend(a.sightings);
            all.prices.extend(a.prices);
            all.forecasts.extend(a.forecasts);
        }
        all
    }
}
