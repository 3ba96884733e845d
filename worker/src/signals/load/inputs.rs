//! What the computation reads: the frames and the dimensions, with the
//! labels the signals use.
use std::collections::HashMap;

use polars::prelude::*;

use super::super::serials::SerialIndex;

/// A region: its parent and what people call it.
#[derive(Debug, Clone)]
pub struct RegionDim {
    pub parent: Option<i64>,
    pub label: String,
    /// Units a year, as researched.
    pub capacity: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct AgentDim {
    pub region: i64,
    pub label: String,
}

/// Everything the computation reads.
pub struct Inputs {
    /// Shipped orders: order_id, agent_id, region_id, salesperson_id,
    /// total_fen, ship_day, ship_month.
    pub orders: DataFrame,
    /// Lines of shipped orders with their order's figures: product_id,
    /// qty, price_fen, agent_id, region_id, salesperson_id, ship_day,
    /// ship_month.
    pub lo: DataFrame,
    /// order_id, amount_fen, day.
    pub payments: DataFrame,
    /// Open receivables: order_id, agent_id, outstanding_fen, due_day.
    pub receivables: DataFrame,
    /// Sell-through: id, agent_id, product_id, has_serial, unit (the
    /// serial's unit number; null without a serial or for a serial never
    /// shipped), qty, price_fen, region_id, day.
    pub sell: DataFrame,
    /// Unit sightings: id, unit (null for a serial never shipped),
    /// region_id, day.
    pub sightings: DataFrame,
    /// Shipped units: unit (number), owner_agent_id.
    pub units: DataFrame,
    /// The shipped units' serials, by unit number.
    pub serials: SerialIndex,
    /// Forecasts: id, month, region_id, product_id, salesperson_id, qty.
    pub forecasts: DataFrame,
    /// Price observations: id, product_id, region_id, tier, price_fen, day.
    pub prices: DataFrame,
    /// Price list: product_id, tier, floor_fen.
    pub floors: DataFrame,
    pub regions: HashMap<i64, RegionDim>,
    pub agents: HashMap<i64, AgentDim>,
    pub people: HashMap<i64, String>,
    pub products: HashMap<i64, String>,
    /// Order id → order number, for the orders cited as evidence.
    pub order_numbers: HashMap<i64, String>,
}

impl Inputs {
    /// Rows read, for the run record.
    pub fn rows(&self) -> usize {
        [
            &self.orders,
            &self.lo,
            &self.payments,
            &self.receivables,
            &self.sell,
            &self.sightings,
            &self.units,
            &self.forecasts,
            &self.prices,
            &self.floors,
        ]
        .iter()
        .map(|d| d.height())
        .sum()
    }

    /// The region and all its ancestors.
    pub fn ancestors(&self, region: i64) -> Vec<i64> {
        let mut out = vec![region];
        let mut at = region;
        while let Some(p) = self.regions.get(&at).and_then(|r| r.parent) {
            if out.contains(&p) {
                break;
            }
            out.push(p);
            at = p;
        }
        out
    }

    /// Whether a unit of an agent of region `home` found in region `seen`
    /// is in its own territory: the same region, a sub-area of it, or a
    /// region above it.
    pub fn same_territory(&self, home: i64, seen: i64) -> bool {
        self.ancestors(home).contains(&seen) || self.ancestors(seen).contains(&home)
    }

    pub fn region_label(&self, id: i64) -> String {
        self.regions
            .get(&id)
            .map(|r| r.label.clone())
            .unwrap_or_else(|| format!("region {id}"))
    }
    pub fn agent_label(&self, id: i64) -> String {
        self.agents
            .get(&id)
            .map(|a| a.label.clone())
            .unwrap_or_else(|| format!("agent {id}"))
    }
    pub fn person_label(&self, id: i64) -> String {
        self.people
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("user {id}"))
    }
    pub fn product_label(&self, id: i64) -> String {
        self.products
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("product {id}"))
    }
}
