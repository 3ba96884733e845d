//! The demo scenario: a deterministic plan, from a seed, of a year of
//! business (master data, orders, payments, shipments with serials,
//! sell-through, sightings, price observations, forecasts) with anomalies
//! planted on purpose. Pure: no database. Both sinks (`workflow`, `bulk`)
//! write exactly this plan; `check` evaluates the signal definitions of
//! docs/signals.md on it.
//!
//! The plan is built in two layers so that the bulk sink can stream it:
//! [`World`] (regions, agents, products, users: small) and, per region group
//! (a top-level region with its sub-areas), [`World::activity`], generated on
//! demand from its own random stream.
use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The password of every demo user (documented in the README).
pub const DEMO_PASSWORD: &str = "demo-password-1";

/// Days of history before the as-of day.
pub const HISTORY_DAYS: i64 = 365;

/// Price tiers as fractions of the retail list price: (list, floor).
pub const TIER_AGENT: (f64, f64) = (0.60, 0.55);
pub const TIER_DEALER: (f64, f64) = (0.75, 0.68);
pub const TIER_RETAIL: (f64, f64) = (1.00, 0.80);

#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    pub as_of: NaiveDate,
    /// 1.0 = about 1,000 orders over the year.
    pub size: f64,
    /// Appended to every code and username (to load a second demo data set
    /// next to a first one).
    pub suffix: String,
    pub company_code: String,
}

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

/// Rounds fen to whole yuan.
pub fn round_yuan(fen: f64) -> i64 {
    ((fen / 100.0).round() as i64) * 100
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

// ------------------------------------------------------------- activity

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

// ------------------------------------------------------------- helpers

fn rng_for(seed: u64, tag: u64, idx: u64) -> ChaCha8Rng {
    // splitmix64 of the three, so that streams are independent.
    let mut z = seed
        .wrapping_add(tag.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(idx.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

/// Seasonal factor of a day: +-15% over the year, smooth.
pub fn season(d: NaiveDate) -> f64 {
    1.0 + 0.15 * (2.0 * std::f64::consts::PI * (d.ordinal() as f64 - 80.0) / 365.25).sin()
}

pub fn month_start(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d)
}

pub fn add_months(m: NaiveDate, n: i32) -> NaiveDate {
    let idx = m.year() * 12 + m.month0() as i32 + n;
    NaiveDate::from_ymd_opt(idx.div_euclid(12), idx.rem_euclid(12) as u32 + 1, 1).unwrap_or(m)
}

fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

/// (code, name, sub-area (code suffix, name)).
type GroupDef = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

const GROUPS: &[GroupDef] = &[
    ("HUABEI", "North China", Some(("TJ", "Tianjin"))),
    ("HUADONG", "East China", Some(("ZJ", "Zhejiang"))),
    ("HUANAN", "South China", None),
    ("HUAZHONG", "Central China", None),
    ("XINAN", "Southwest", None),
    ("DONGBEI", "Northeast", None),
];

const PRODUCTS: &[(&str, &str, i64, bool)] = &[
    ("CUBE-S", "CUBE S", 1_999, false),
    ("CUBE-M", "CUBE M", 3_999, false),
    ("CUBE-L", "CUBE L", 6_999, false),
    ("CUBE-PRO", "CUBE Pro", 12_999, false),
    ("CUBE-PART", "CUBE spare part kit", 199, true),
];

// Fixed places of the planted anomalies (copy 0 of the region groups).
const G_HUABEI: usize = 0;
const G_HUADONG: usize = 1;
const G_HUANAN: usize = 2;
const G_HUAZHONG: usize = 3;
const G_XINAN: usize = 4;
const G_DONGBEI: usize = 5;
const P_S: usize = 0;
const P_M: usize = 1;
const P_L: usize = 2;
const P_PRO: usize = 3;

impl World {
    pub fn build(cfg: Config) -> World {
        let mut rng = rng_for(cfg.seed, 1, 0);
        let sfx = cfg.suffix.clone();
        let start = cfg.as_of - Duration::days(HISTORY_DAYS - 1);
        let products = PRODUCTS
            .iter()
            .map(|(sku, name, yuan, spare)| Product {
                sku: format!("{sku}{sfx}"),
                name: (*name).to_owned(),
                retail_fen: yuan * 100,
                spare: *spare,
            })
            .collect();
        // Cadence and agent count from the size: ~20 agents and one order a
        // week each per 1.0 of size; small sizes keep the 6 region groups
        // (the planted anomalies need them) and order less often.
        let size = cfg.size.max(0.01);
        let (copies, cadence) = if size >= 0.75 {
            ((size).round().max(1.0) as usize, 7)
        } else if size >= 0.35 {
            (1, 14)
        } else {
            (1, 28)
        };
        let mut regions: Vec<Region> = vec![];
        let mut groups: Vec<Vec<usize>> = vec![];
        let mut agents: Vec<Agent> = vec![];
        let mut users: Vec<User> = vec![];
        let mut teams: Vec<Team> = vec![];
        let user = |users: &mut Vec<User>,
                    name: String,
                    display: String,
                    position: Position,
                    regions: Vec<usize>| {
            users.push(User {
                username: format!("{name}{sfx}"),
                display_name: display,
                position,
                all_regions: regions.is_empty(),
                regions,
                role: SalesRole::Clean,
            });
            users.len() - 1
        };
        for copy in 0..copies {
            for (gi, (code, name, sub)) in GROUPS.iter().enumerate() {
                let g = groups.len();
                let tag = if copy == 0 {
                    String::new()
                } else {
                    format!("{}", copy + 1)
                };
                let top = regions.len();
                regions.push(Region {
                    code: format!("{code}{tag}{sfx}"),
                    name: if copy == 0 {
                        (*name).to_owned()
                    } else {
                        format!("{name} {}", copy + 1)
                    },
                    parent: None,
                    capacity: 0,
                    group: g,
                });
                let mut members = vec![top];
                if let Some((sc, sn)) = sub {
                    members.push(regions.len());
                    regions.push(Region {
                        code: format!("{code}{tag}-{sc}{sfx}"),
                        name: (*sn).to_owned(),
                        parent: Some(top),
                        capacity: 0,
                        group: g,
                    });
                }
                groups.push(members.clone());
                let lower = code.to_lowercase();
                let n_top = if size < 0.35 {
                    1
                } else {
                    rng.random_range(2..=4usize)
                };
                let n_sales = if n_top + members.len() > 4 { 2 } else { 1 };
                let mut salespeople = vec![];
                for s in 0..n_sales {
                    salespeople.push(user(
                        &mut users,
                        format!("sales{}.{lower}{tag}", s + 1),
                        format!("Salesperson {} {name}", s + 1),
                        Position::Salesperson,
                        vec![top],
                    ));
                }
                let assistant = user(
                    &mut users,
                    format!("assistant.{lower}{tag}"),
                    format!("Sales assistant {name}"),
                    Position::SalesAssistant,
                    vec![top],
                );
                let supervisor = user(
                    &mut users,
                    format!("supervisor.{lower}{tag}"),
                    format!("Supervisor {name}"),
                    Position::Supervisor,
                    vec![top],
                );
                teams.push(Team {
                    region: top,
                    salespeople: salespeople.clone(),
                    assistant,
                    supervisor,
                });
                let mut k = 0;
                let mut add_agent = |region: usize, role: AgentRole, rng: &mut ChaCha8Rng| {
                    let n = agents.len();
                    let weekly = match role {
                        AgentRole::OverCapacity => 10.0,
                        AgentRole::ReceivablesGrowth => 7.0,
                        _ => rng.random_range(4.0..9.0),
                    };
                    let agent_cadence = match role {
                        AgentRole::ReceivablesGrowth | AgentRole::SellInSurge => 7,
                        AgentRole::Clean => cadence,
                        _ => cadence.min(14),
                    };
                    agents.push(Agent {
                        code: format!(
                            "AG-{}-{:02}{sfx}",
                            regions[region]
                                .code
                                .strip_suffix(sfx.as_str())
                                .unwrap_or(&regions[region].code),
                            k + 1
                        ),
                        name: format!("{} Trading Co. #{}", regions[region].name, k + 1),
                        region,
                        salesperson: salespeople[k % salespeople.len()],
                        credit_limit_fen: if role == AgentRole::ReceivablesGrowth {
                            500_000_000
                        } else {
                            50_000_000
                        },
                        role,
                        weekly_units: weekly,
                        cadence: agent_cadence,
                        phase: rng.random_range(0..7),
                        ship_lag: rng.random_range(2..=5),
                    });
                    k += 1;
                    n
                };
                let planted_here = copy == 0;
                for a in 0..n_top {
                    let role = match (planted_here, gi, a) {
                        (true, G_HUABEI, 0) => AgentRole::ReceivablesGrowth,
                        (true, G_HUADONG, 0) => AgentRole::Diverting { to_region: 0 },
                        (true, G_HUANAN, 0) => AgentRole::BelowPurchase { product: P_M },
                        (true, G_HUAZHONG, 0) => AgentRole::StockPiling,
                        (true, G_XINAN, 0) => AgentRole::SellInSurge,
                        _ => AgentRole::Clean,
                    };
                    add_agent(top, role, &mut rng);
                }
                for &sub_region in &members[1..] {
                    let role = if planted_here && gi == G_HUABEI {
                        AgentRole::OverCapacity
                    } else {
                        AgentRole::Clean
                    };
                    add_agent(sub_region, role, &mut rng);
                }
            }
        }
        // The diverting agent's goods turn up in South China.
        let south = groups[G_HUANAN][0];
        for a in agents.iter_mut() {
            if let AgentRole::Diverting { to_region } = &mut a.role {
                *to_region = south;
            }
        }
        let staff = Staff {
            finance: user(
                &mut users,
                "finance".into(),
                "Finance".into(),
                Position::Finance,
                vec![],
            ),
            warehouse: user(
                &mut users,
                "keeper".into(),
                "Warehouse keeper".into(),
                Position::Warehouse,
                vec![],
            ),
            management: user(
                &mut users,
                "manager".into(),
                "Management".into(),
                Position::Management,
                vec![],
            ),
            market: user(
                &mut users,
                "market".into(),
                "Market specialist".into(),
                Position::MarketSpecialist,
                vec![],
            ),
            call_center: user(
                &mut users,
                "callcenter".into(),
                "Call center".into(),
                Position::CallCenter,
                vec![],
            ),
            analyst: user(
                &mut users,
                "analyst".into(),
                "Analyst".into(),
                Position::Analyst,
                vec![],
            ),
        };
        let over_sp = teams[G_DONGBEI].salespeople[0];
        users[over_sp].role = SalesRole::OverForecast { product: P_M };
        let under_sp = teams[G_HUAZHONG].salespeople[teams[G_HUAZHONG].salespeople.len() - 1];
        users[under_sp].role = SalesRole::UnderForecast { product: P_S };
        let mut group_agents = vec![vec![]; groups.len()];
        for (ai, a) in agents.iter().enumerate() {
            group_agents[regions[a.region].group].push(ai);
        }
        let mut w = World {
            cfg,
            start,
            products,
            regions,
            groups,
            group_agents,
            agents,
            users,
            teams,
            staff,
            planted: vec![],
        };
        // Market capacity: 3x what the region's agents buy in a year (no
        // agent comes near it), except the over-capacity agent's sub-area:
        // a third of what that agent buys.
        for r in 0..w.regions.len() {
            let agents: Vec<&Agent> = w.group_agents[w.regions[r].group]
                .iter()
                .map(|a| &w.agents[*a])
                .filter(|a| a.region == r)
                .collect();
            let yearly: f64 = agents.iter().map(|a| a.weekly_units * 52.0).sum();
            let cap = if agents.iter().any(|a| a.role == AgentRole::OverCapacity) {
                (yearly / 3.5).round() as i64
            } else {
                (((yearly * 3.0) / 100.0).ceil() as i64).max(1) * 100
            };
            w.regions[r].capacity = cap;
        }
        w.planted = w.planted_list();
        w
    }

    pub fn agent_by_role(&self, f: impl Fn(&AgentRole) -> bool) -> Option<usize> {
        self.agents.iter().position(|a| f(&a.role))
    }

    fn planted_list(&self) -> Vec<Planted> {
        let mut out = vec![];
        let mut p = |anomaly: &str,
                     kind: &'static str,
                     rule: &'static str,
                     subject: String,
                     product: Option<usize>,
                     severity: &'static str,
                     note: String| {
            out.push(Planted {
                anomaly: anomaly.to_owned(),
                kind,
                rule,
                subject,
                product: product.map(|i| self.products[i].sku.clone()),
                severity,
                note,
            })
        };
        for a in &self.agents {
            let region = &self.regions[a.region];
            match &a.role {
                AgentRole::Clean => {}
                AgentRole::ReceivablesGrowth => {
                    p("(a) receivables growth", "RECEIVABLES_GROWTH", "DSRI", a.code.clone(), None, "CRITICAL",
                      "ships more and more on exception over the last 90 days and pays 40 days late".into());
                    p(
                        "(a) receivables growth (roll-up)",
                        "RECEIVABLES_GROWTH",
                        "DSRI",
                        region.code.clone(),
                        None,
                        "",
                        format!("the region of {}", a.code),
                    );
                    p(
                        "(a) receivables growth (roll-up)",
                        "RECEIVABLES_GROWTH",
                        "DSRI",
                        "company".into(),
                        None,
                        "",
                        format!("the only receivables of the company are {}'s", a.code),
                    );
                    p(
                        "(a) overdue receivable",
                        "RECEIVABLES_OVERDUE",
                        "DAYS_PAST_DUE",
                        a.code.clone(),
                        None,
                        "CRITICAL",
                        "one receivable unpaid for more than 90 days past its due date".into(),
                    );
                }
                AgentRole::BelowPurchase { product } => {
                    p(
                        "(c) price inversion",
                        "PRICE_INVERSION",
                        "BELOW_PURCHASE_PRICE",
                        a.code.clone(),
                        Some(*product),
                        "CRITICAL",
                        "sells through at 7% below its purchase price (last 30 days)".into(),
                    );
                }
                AgentRole::Diverting { to_region } => {
                    p(
                        "(d) diversion",
                        "GOODS_DIVERSION",
                        "CROSS_REGION",
                        a.code.clone(),
                        None,
                        "CRITICAL",
                        format!(
                            "a third of the units located in the last 90 days turn up in {}",
                            self.regions[*to_region].code
                        ),
                    );
                }
                AgentRole::OverCapacity => {
                    p(
                        "(d) purchases over capacity",
                        "PURCHASE_OVER_CAPACITY",
                        "ABOVE_MARKET_CAPACITY",
                        a.code.clone(),
                        None,
                        "CRITICAL",
                        format!(
                            "buys ~3x the capacity of {} ({} units/year)",
                            region.code, region.capacity
                        ),
                    );
                }
                AgentRole::StockPiling => {
                    p(
                        "(e) channel stock",
                        "CHANNEL_STOCK",
                        "WEEKS_OF_SUPPLY",
                        a.code.clone(),
                        None,
                        "CRITICAL",
                        "no sell-through for the last 45 days while shipments continue".into(),
                    );
                }
                AgentRole::SellInSurge => {
                    p(
                        "(e) sell-in outpacing sell-through",
                        "CHANNEL_STOCK",
                        "SELL_IN_OUTPACING_SELL_THROUGH",
                        a.code.clone(),
                        None,
                        "WATCH",
                        "sell-in +50% in the last 4 weeks, sell-through flat".into(),
                    );
                }
            }
        }
        for (ui, u) in self.users.iter().enumerate() {
            if u.role == SalesRole::Clean {
                continue;
            }
            let regions: Vec<usize> = self
                .agents
                .iter()
                .filter(|a| a.salesperson == ui)
                .map(|a| a.region)
                .collect();
            let top = regions
                .iter()
                .copied()
                .find(|r| self.regions[*r].parent.is_none());
            match (&u.role, top) {
                (SalesRole::OverForecast { product }, Some(r)) => {
                    p(
                        "(b) chronic over-forecasting",
                        "FORECAST_DEVIATION",
                        "CHRONIC_OVER_FORECAST",
                        u.username.clone(),
                        Some(*product),
                        "CRITICAL",
                        format!(
                            "forecasts 60% above actuals every month in {}",
                            self.regions[r].code
                        ),
                    );
                    p(
                        "(b) chronic over-forecasting (roll-up)",
                        "FORECAST_DEVIATION",
                        "CHRONIC_OVER_FORECAST",
                        self.regions[r].code.clone(),
                        Some(*product),
                        "",
                        format!("the region of {}", u.username),
                    );
                }
                (SalesRole::UnderForecast { product }, Some(r)) => {
                    p(
                        "(b) chronic under-forecasting",
                        "FORECAST_DEVIATION",
                        "CHRONIC_UNDER_FORECAST",
                        u.username.clone(),
                        Some(*product),
                        "WARNING",
                        format!(
                            "forecasts 20% below actuals every month in {}",
                            self.regions[r].code
                        ),
                    );
                    p(
                        "(b) chronic under-forecasting (roll-up)",
                        "FORECAST_DEVIATION",
                        "CHRONIC_UNDER_FORECAST",
                        self.regions[r].code.clone(),
                        Some(*product),
                        "",
                        format!("the region of {}", u.username),
                    );
                }
                _ => {}
            }
        }
        let xinan = self.groups[G_XINAN][0];
        let dongbei = self.groups[G_DONGBEI][0];
        p(
            "(c) below the floor",
            "PRICE_INVERSION",
            "BELOW_FLOOR",
            self.regions[xinan].code.clone(),
            Some(P_L),
            "WARNING",
            "DEALER prices observed at 91% of the DEALER floor (last 30 days)".into(),
        );
        p(
            "(c) tier inversion",
            "PRICE_INVERSION",
            "TIER_INVERSION",
            self.regions[dongbei].code.clone(),
            Some(P_PRO),
            "WARNING",
            "DEALER prices observed above RETAIL prices (last 30 days)".into(),
        );
        out
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

    fn agent_orders(&self, ai: usize, agent: &Agent, rng: &mut ChaCha8Rng, out: &mut Vec<Order>) {
        let d = self.cfg.as_of;
        let mut day = self.start + Duration::days(agent.phase);
        let mut n = 0u64;
        let mut serial_no = 0u64;
        // The order of the receivables-growth agent shipped nearest D-150
        // is never paid.
        let mut never_paid_done = false;
        while day <= d {
            let filed_on = day;
            day += Duration::days(agent.cadence);
            let ship_on = filed_on + Duration::days(agent.ship_lag);
            let days_to_d = (d - ship_on).num_days();
            // Units: smooth, with little noise in the last 8 weeks so that
            // a clean agent's sell-in never jumps 30% from one 4-week window
            // to the next.
            let noise = if days_to_d < 70 { 0.05 } else { 0.15 };
            let mut units = agent.weekly_units * agent.cadence as f64 / 7.0
                * season(filed_on)
                * rng.random_range(1.0 - noise..1.0 + noise);
            if agent.role == AgentRole::SellInSurge && (0..28).contains(&days_to_d) {
                units *= 1.5;
            }
            let units = (units.round() as i64).max(1);
            let lines = self.make_lines(units, rng);
            let key = ((ai as u64) << 20) | n;
            n += 1;
            let mut o = Order {
                key,
                ref_code: format!("{}{key:012}", self.tag()),
                agent: ai,
                salesperson: agent.salesperson,
                filed_on,
                lines,
                terms_days: 30,
                ship_on: None,
                exception: false,
                payments: vec![],
                stage: Stage::Filed,
                serials: vec![],
            };
            let total = o.total_fen();
            if ship_on > d {
                // Still in the workflow on the as-of day.
                o.stage = match (d - filed_on).num_days() {
                    0 => Stage::Filed,
                    1 => Stage::PendingApproval,
                    _ => Stage::AtFinance,
                };
                out.push(o);
                continue;
            }
            o.ship_on = Some(ship_on);
            let due = ship_on + Duration::days(o.terms_days);
            let ship_age = (d - ship_on).num_days();
            let exception = match agent.role {
                AgentRole::ReceivablesGrowth => {
                    if ship_age < 90 {
                        rng.random_bool(0.8)
                    } else if ship_age <= 200 {
                        n.is_multiple_of(4) || (!never_paid_done && ship_age <= 155)
                    } else {
                        false
                    }
                }
                // Clean agents: now and then, long ago, paid on time.
                _ => ship_age > 140 && rng.random_bool(0.05),
            };
            if exception {
                o.exception = true;
                let pay_on = if agent.role == AgentRole::ReceivablesGrowth {
                    if !never_paid_done && ship_age <= 155 {
                        never_paid_done = true;
                        None
                    } else if ship_age < 90 {
                        Some(due + Duration::days(40))
                    } else {
                        Some(due + Duration::days(5))
                    }
                } else {
                    Some(due - Duration::days(rng.random_range(0..10)))
                };
                if let Some(p) = pay_on.filter(|p| *p <= d) {
                    o.payments.push(Payment {
                        on: p,
                        amount_fen: total,
                    });
                }
            } else {
                let paid_on =
                    filed_on + Duration::days(rng.random_range(0..(ship_on - filed_on).num_days()));
                o.payments.push(Payment {
                    on: paid_on,
                    amount_fen: total,
                });
            }
            let fully_paid = o.paid_fen() == total;
            o.stage = if fully_paid && ship_age >= 14 {
                Stage::Archived
            } else {
                Stage::Shipped
            };
            for l in &o.lines {
                for _ in 0..l.qty {
                    serial_no += 1;
                    let sku = &self.products[l.product].sku;
                    let base = sku.strip_suffix(self.cfg.suffix.as_str()).unwrap_or(sku);
                    let prefix: String = base
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric())
                        .take(8)
                        .chain(self.tag().chars())
                        .collect();
                    o.serials
                        .push((l.product, format!("{prefix}-{ai:05}-{serial_no:06}")));
                }
            }
            out.push(o);
        }
    }

    fn make_lines(&self, units: i64, rng: &mut ChaCha8Rng) -> Vec<Line> {
        // 4 or 5 distinct products (about 5 lines an order at larger
        // quantities), weighted toward the cheaper models.
        let k = if units >= 5 {
            if rng.random_bool(0.75) {
                5
            } else {
                4
            }
        } else {
            units as usize
        };
        let mut picks: Vec<usize> = (0..self.products.len()).collect();
        // Shuffle then keep k.
        for i in (1..picks.len()).rev() {
            let j = rng.random_range(0..=i);
            picks.swap(i, j);
        }
        picks.truncate(k);
        picks.sort_unstable();
        let mut qty: Vec<i64> = vec![1; k];
        let weights = [4.0, 3.0, 2.0, 1.0, 2.0];
        let wsum: f64 = picks.iter().map(|p| weights[*p]).sum();
        let mut left = units - k as i64;
        while left > 0 {
            let mut x = rng.random_range(0.0..wsum);
            for (i, p) in picks.iter().enumerate() {
                x -= weights[*p];
                if x <= 0.0 || i == picks.len() - 1 {
                    qty[i] += 1;
                    break;
                }
            }
            left -= 1;
        }
        picks
            .iter()
            .zip(qty)
            .map(|(p, q)| {
                let list = self.products[*p].agent_fen();
                let discount = [0.0, 0.0, 0.02, 0.03][rng.random_range(0..4)];
                Line {
                    product: *p,
                    qty: q,
                    unit_fen: round_yuan(list as f64 * (1.0 - discount)),
                }
            })
            .collect()
    }

    fn agent_sell_through(
        &self,
        ai: usize,
        agent: &Agent,
        orders: &[&Order],
        rng: &mut ChaCha8Rng,
    ) -> (Vec<SellThrough>, Vec<Sighting>) {
        let d = self.cfg.as_of;
        let mut st = vec![];
        let mut si = vec![];
        // serial-less units, aggregated per (product, day)
        let mut bulk: BTreeMap<(usize, NaiveDate), (i64, i64)> = BTreeMap::new();
        for o in orders {
            let Some(ship_on) = o.ship_on else { continue };
            for (ui, (product, serial)) in o.serials.iter().enumerate() {
                let lag = match (&agent.role, agent.cadence) {
                    (AgentRole::SellInSurge, _) => rng.random_range(4..=16),
                    (_, 7) => rng.random_range(5..=30),
                    (_, 14) => rng.random_range(5..=28),
                    _ => rng.random_range(3..=21),
                };
                let sold_on = ship_on + Duration::days(lag);
                if sold_on > d {
                    continue;
                }
                if agent.role == AgentRole::StockPiling && (d - sold_on).num_days() < 45 {
                    continue;
                }
                let prod = &self.products[*product];
                let (dealer, _) = prod.tier_fen(TIER_DEALER);
                let mut price = round_yuan(dealer as f64 * rng.random_range(1.0..1.15));
                let mut region = agent.region;
                let recent = (d - sold_on).num_days();
                match &agent.role {
                    AgentRole::BelowPurchase { product: bp } if bp == product && recent < 30 => {
                        price = round_yuan(prod.agent_fen() as f64 * 0.93);
                    }
                    AgentRole::Diverting { to_region } if recent < 90 && ui % 3 == 0 => {
                        region = *to_region;
                    }
                    _ => {}
                }
                let by_serial =
                    matches!(agent.role, AgentRole::Diverting { .. }) || rng.random_bool(0.85);
                if by_serial {
                    st.push(SellThrough {
                        agent: ai,
                        product: *product,
                        serial: Some(serial.clone()),
                        qty: 1,
                        price_fen: price,
                        region,
                        sold_on,
                    });
                    if !prod.spare && rng.random_bool(0.4) {
                        let seen_on = sold_on + Duration::days(rng.random_range(0..20));
                        if seen_on <= d {
                            si.push(Sighting {
                                serial: serial.clone(),
                                kind: if rng.random_bool(0.8) {
                                    "ACTIVATION"
                                } else {
                                    "WARRANTY"
                                },
                                region,
                                seen_on,
                            });
                        }
                    }
                } else {
                    let e = bulk.entry((*product, sold_on)).or_insert((0, price));
                    e.0 += 1;
                }
            }
        }
        if agent.role == AgentRole::SellInSurge {
            flatten_sell_through(d, &mut st, &mut si, &mut bulk);
        }
        for ((product, sold_on), (qty, price)) in bulk {
            st.push(SellThrough {
                agent: ai,
                product,
                serial: None,
                qty,
                price_fen: price,
                region: agent.region,
                sold_on,
            });
        }
        (st, si)
    }

    fn region_prices(&self, r: usize, rng: &mut ChaCha8Rng, out: &mut Vec<PriceObs>) {
        let d = self.cfg.as_of;
        let xinan = self.groups[G_XINAN][0];
        let dongbei = self.groups[G_DONGBEI][0];
        let planted_floor = r == xinan;
        let planted_tier = r == dongbei;
        let mut m = month_start(self.start);
        while m <= d {
            for (pi, prod) in self.products.iter().enumerate() {
                for (tier, lo, hi) in [("DEALER", 0.98, 1.06), ("RETAIL", 0.93, 1.0)] {
                    let base = if tier == "DEALER" {
                        TIER_DEALER.0
                    } else {
                        TIER_RETAIL.0
                    };
                    for k in 0..2 {
                        let day = m + Duration::days(rng.random_range(0..28));
                        if day > d || day < self.start {
                            continue;
                        }
                        let recent = (d - day).num_days() < 30;
                        let mut f = base * rng.random_range(lo..hi);
                        if recent && tier == "DEALER" && planted_floor && pi == P_L {
                            // 91% of the DEALER floor.
                            f = TIER_DEALER.1 * 0.91;
                        }
                        if recent && tier == "DEALER" && planted_tier && pi == P_PRO {
                            f = 1.03 + 0.01 * k as f64;
                        }
                        out.push(PriceObs {
                            product: pi,
                            region: r,
                            tier,
                            price_fen: round_yuan(prod.retail_fen as f64 * f),
                            observed_on: day,
                            channel: if tier == "DEALER" {
                                "dealer visit"
                            } else {
                                "retail shop"
                            },
                        });
                    }
                }
            }
            m = add_months(m, 1);
        }
        // Make sure each planted case has observations in the last 30 days.
        for k in 0..3 {
            let day = d - Duration::days(3 + 7 * k);
            if planted_floor {
                let prod = &self.products[P_L];
                out.push(PriceObs {
                    product: P_L,
                    region: r,
                    tier: "DEALER",
                    price_fen: round_yuan(prod.retail_fen as f64 * TIER_DEALER.1 * 0.91),
                    observed_on: day,
                    channel: "dealer visit",
                });
            }
            if planted_tier {
                let prod = &self.products[P_PRO];
                out.push(PriceObs {
                    product: P_PRO,
                    region: r,
                    tier: "DEALER",
                    price_fen: round_yuan(prod.retail_fen as f64 * 1.04),
                    observed_on: day,
                    channel: "dealer visit",
                });
            }
        }
        out.sort_by_key(|p| p.observed_on);
    }

    /// Forecasts from 11 months back to 2 months ahead, per salesperson x
    /// region x product. Clean: actuals with errors of +-10% that cancel in
    /// pairs of months (so the tracking signal stays near 0); planted:
    /// +60% or -20% every month.
    fn group_forecasts(&self, group: usize, orders: &[Order], out: &mut Vec<Forecast>) {
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

/// Keeps an agent's sell-through of the last 4 weeks no higher than in the
/// 4 weeks before (units not reported stay in its stock).
fn flatten_sell_through(
    d: NaiveDate,
    st: &mut Vec<SellThrough>,
    si: &mut Vec<Sighting>,
    bulk: &mut BTreeMap<(usize, NaiveDate), (i64, i64)>,
) {
    let age = |day: NaiveDate| (d - day).num_days();
    let sum = |st: &Vec<SellThrough>,
               bulk: &BTreeMap<(usize, NaiveDate), (i64, i64)>,
               from: i64,
               to: i64| {
        st.iter()
            .filter(|s| (from..to).contains(&age(s.sold_on)))
            .map(|s| s.qty)
            .sum::<i64>()
            + bulk
                .iter()
                .filter(|((_, day), _)| (from..to).contains(&age(*day)))
                .map(|(_, (q, _))| *q)
                .sum::<i64>()
    };
    let before = sum(st, bulk, 28, 56);
    let mut now = sum(st, bulk, 0, 28);
    while now > before && now > 0 {
        // Drop the latest report of the window.
        let serial_pos = st
            .iter()
            .enumerate()
            .filter(|(_, s)| age(s.sold_on) < 28)
            .max_by_key(|(_, s)| s.sold_on)
            .map(|(i, _)| i);
        let bulk_key = bulk
            .iter()
            .filter(|((_, day), (q, _))| age(*day) < 28 && *q > 0)
            .map(|(k, _)| *k)
            .max_by_key(|k| k.1);
        match (serial_pos, bulk_key) {
            (Some(i), Some(k)) if k.1 > st[i].sold_on => {
                if let Some(e) = bulk.get_mut(&k) {
                    e.0 -= 1;
                    if e.0 == 0 {
                        bulk.remove(&k);
                    }
                }
            }
            (Some(i), _) => {
                let gone = st.remove(i);
                if let Some(serial) = gone.serial {
                    si.retain(|x| x.serial != serial);
                }
            }
            (None, Some(k)) => {
                if let Some(e) = bulk.get_mut(&k) {
                    e.0 -= 1;
                    if e.0 == 0 {
                        bulk.remove(&k);
                    }
                }
            }
            (None, None) => break,
        }
        now -= 1;
    }
}
