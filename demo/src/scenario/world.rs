//! The master data of the plan: products, regions, agents, users and the
//! sales teams, with the anomalies planted in them.
use chrono::NaiveDate;

use super::{round_yuan, Config, TIER_AGENT};

#[derive(Clone, Debug)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub retail_fen: i64,
    pub spare: bool,
}

impl Product {
    pub fn tier_fen(&self, tier: (f64, f64)) -> (i64, i64) {
        (
            round_yuan(self.retail_fen as f64 * tier.0),
            round_yuan(self.retail_fen as f64 * tier.1),
        )
    }
    pub fn agent_fen(&self) -> i64 {
        self.tier_fen(TIER_AGENT).0
    }
}

#[derive(Clone, Debug)]
pub struct Region {
    pub code: String,
    pub name: String,
    pub parent: Option<usize>,
    /// Units a year.
    pub capacity: i64,
    /// Index of the region group (top-level region with its sub-areas).
    pub group: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AgentRole {
    Clean,
    /// Ships more and more on exception over the last 90 days, pays late,
    /// and leaves one receivable unpaid, now over 90 days past due.
    ReceivablesGrowth,
    /// Sells one product through below its purchase price (last 30 days).
    BelowPurchase {
        product: usize,
    },
    /// A third of the units it sold in the last 90 days turn up in another
    /// region.
    Diverting {
        to_region: usize,
    },
    /// Buys about 3x its region's market capacity.
    OverCapacity,
    /// Stopped reporting sell-through 6+ weeks ago; shipments continue.
    StockPiling,
    /// Sell-in up 50% in the last 4 weeks, sell-through flat.
    SellInSurge,
}

#[derive(Clone, Debug)]
pub struct Agent {
    pub code: String,
    pub name: String,
    pub region: usize,
    pub salesperson: usize,
    pub credit_limit_fen: i64,
    pub role: AgentRole,
    /// Units a week, before seasonality.
    pub weekly_units: f64,
    /// Days between orders (7, 14 or 28: windows of 28 days always hold
    /// the same number of orders).
    pub cadence: i64,
    pub phase: i64,
    /// Days from filing to shipping (fixed per agent, so that every 4-week
    /// window holds the same number of shipments).
    pub ship_lag: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Position {
    Salesperson,
    SalesAssistant,
    Supervisor,
    Finance,
    Warehouse,
    Management,
    MarketSpecialist,
    CallCenter,
    Analyst,
}

impl Position {
    /// The GraphQL enum value.
    pub fn gql(&self) -> &'static str {
        match self {
            Position::Salesperson => "SALESPERSON",
            Position::SalesAssistant => "SALES_ASSISTANT",
            Position::Supervisor => "SUPERVISOR",
            Position::Finance => "FINANCE",
            Position::Warehouse => "WAREHOUSE",
            Position::Management => "MANAGEMENT",
            Position::MarketSpecialist => "MARKET_SPECIALIST",
            Position::CallCenter => "CALL_CENTER",
            Position::Analyst => "ANALYST",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SalesRole {
    Clean,
    /// Forecasts ~60% above actuals every month for one product.
    OverForecast {
        product: usize,
    },
    /// Forecasts 20% below actuals every month for one product.
    UnderForecast {
        product: usize,
    },
}

#[derive(Clone, Debug)]
pub struct User {
    pub username: String,
    pub display_name: String,
    pub position: Position,
    /// Region indexes (empty with `all_regions`).
    pub regions: Vec<usize>,
    pub all_regions: bool,
    pub role: SalesRole,
}

impl User {
    /// A mailbox that exists nowhere (example.com is reserved), so the
    /// weekly reports of the demo reach the local mail catcher.
    pub fn email(&self) -> String {
        format!("{}@example.com", self.username)
    }
}

/// The sales side of a region group.
#[derive(Clone, Debug)]
pub struct Team {
    pub region: usize,
    pub salespeople: Vec<usize>,
    pub assistant: usize,
    pub supervisor: usize,
}

/// Company-wide users.
#[derive(Clone, Debug)]
pub struct Staff {
    pub finance: usize,
    pub warehouse: usize,
    pub management: usize,
    pub market: usize,
    pub call_center: usize,
    pub analyst: usize,
}

/// What was planted where, and the signal it must raise
/// (kind, rule, subject, product, severity).
#[derive(Clone, Debug, PartialEq)]
pub struct Planted {
    pub anomaly: String,
    pub kind: &'static str,
    pub rule: &'static str,
    /// Agent code, region code, salesperson username or `company`.
    pub subject: String,
    pub product: Option<String>,
    pub severity: &'static str,
    pub note: String,
}

#[derive(Clone, Debug)]
pub struct World {
    pub cfg: Config,
    pub start: NaiveDate,
    pub products: Vec<Product>,
    pub regions: Vec<Region>,
    /// Region groups: the top-level region and its sub-areas.
    pub groups: Vec<Vec<usize>>,
    pub agents: Vec<Agent>,
    /// Agent indexes per region group.
    pub group_agents: Vec<Vec<usize>>,
    pub users: Vec<User>,
    pub teams: Vec<Team>,
    pub staff: Staff,
    pub planted: Vec<Planted>,
}

impl World {
    pub fn agent_by_role(&self, f: impl Fn(&AgentRole) -> bool) -> Option<usize> {
        self.agents.iter().position(|a| f(&a.role))
    }

    /// The data set's suffix, letters and digits only ("" for the first).
    pub fn tag(&self) -> String {
        self.cfg
            .suffix
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect()
    }

    /// The agent's address (the default delivery address of its orders).
    pub fn agent_address(&self, a: &Agent) -> String {
        format!("{} Road 1, {}", a.name, self.regions[a.region].name)
    }

    /// The region and all its sub-areas.
    pub fn region_family(&self, r: usize) -> Vec<usize> {
        let mut out = vec![r];
        let mut i = 0;
        while i < out.len() {
            let cur = out[i];
            for (j, reg) in self.regions.iter().enumerate() {
                if reg.parent == Some(cur) {
                    out.push(j);
                }
            }
            i += 1;
        }
        out
    }
}
