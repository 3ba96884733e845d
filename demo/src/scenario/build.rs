//! Builds the master data of the plan: the products, the region groups
//! (copied as the size asks) with their sales teams and agents, the
//! company-wide staff, the planted roles and the market capacities.
use chrono::Duration;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{
    rng_for, Agent, AgentRole, Config, GroupDef, Position, Product, Region, SalesRole, Staff, Team,
    User, World, GROUPS, G_DONGBEI, G_HUABEI, G_HUADONG, G_HUANAN, G_HUAZHONG, G_XINAN,
    HISTORY_DAYS, PRODUCTS, P_M, P_S,
};

impl World {
    pub fn build(cfg: Config) -> World {
        let mut rng = rng_for(cfg.seed, 1, 0);
        let start = cfg.as_of - Duration::days(HISTORY_DAYS - 1);
        let products = products(&cfg.suffix);
        let size = cfg.size.max(0.01);
        let (copies, cadence) = scale(size);
        let mut org = Org {
            sfx: cfg.suffix.clone(),
            regions: vec![],
            groups: vec![],
            agents: vec![],
            users: vec![],
            teams: vec![],
        };
        for copy in 0..copies {
            for (gi, def) in GROUPS.iter().enumerate() {
                org.group(copy, gi, def, size, cadence, &mut rng);
            }
        }
        // The diverting agent's goods turn up in South China.
        let south = org.groups[G_HUANAN][0];
        for a in org.agents.iter_mut() {
            if let AgentRole::Diverting { to_region } = &mut a.role {
                *to_region = south;
            }
        }
        let staff = org.staff();
        let over_sp = org.teams[G_DONGBEI].salespeople[0];
        org.users[over_sp].role = SalesRole::OverForecast { product: P_M };
        let huazhong = &org.teams[G_HUAZHONG].salespeople;
        let under_sp = huazhong[huazhong.len() - 1];
        org.users[under_sp].role = SalesRole::UnderForecast { product: P_S };
        let mut group_agents = vec![vec![]; org.groups.len()];
        for (ai, a) in org.agents.iter().enumerate() {
            group_agents[org.regions[a.region].group].push(ai);
        }
        let mut w = World {
            cfg,
            start,
            products,
            regions: org.regions,
            groups: org.groups,
            group_agents,
            agents: org.agents,
            users: org.users,
            teams: org.teams,
            staff,
            planted: vec![],
        };
        w.set_capacities();
        w.planted = w.planted_list();
        w
    }

    /// Market capacity: 3x what the region's agents buy in a year (no
    /// agent comes near it), except the over-capacity agent's sub-area:
    /// a third of what that agent buys.
    fn set_capacities(&mut self) {
        for r in 0..self.regions.len() {
            let agents: Vec<&Agent> = self.group_agents[self.regions[r].group]
                .iter()
                .map(|a| &self.agents[*a])
                .filter(|a| a.region == r)
                .collect();
            let yearly: f64 = agents.iter().map(|a| a.weekly_units * 52.0).sum();
            let cap = if agents.iter().any(|a| a.role == AgentRole::OverCapacity) {
                (yearly / 3.5).round() as i64
            } else {
                (((yearly * 3.0) / 100.0).ceil() as i64).max(1) * 100
            };
            self.regions[r].capacity = cap;
        }
    }
}

fn products(sfx: &str) -> Vec<Product> {
    PRODUCTS
        .iter()
        .map(|(sku, name, yuan, spare)| Product {
            sku: format!("{sku}{sfx}"),
            name: (*name).to_owned(),
            retail_fen: yuan * 100,
            spare: *spare,
        })
        .collect()
}

/// Copies of the region groups and days between orders, from the size:
/// ~20 agents and one order a week each per 1.0 of size; small sizes keep
/// the 6 region groups (the planted anomalies need them) and order less
/// often.
fn scale(size: f64) -> (usize, i64) {
    if size >= 0.75 {
        ((size).round().max(1.0) as usize, 7)
    } else if size >= 0.35 {
        (1, 14)
    } else {
        (1, 28)
    }
}

/// The master data as it is built.
struct Org {
    /// The data set's suffix of codes and usernames.
    sfx: String,
    regions: Vec<Region>,
    groups: Vec<Vec<usize>>,
    agents: Vec<Agent>,
    users: Vec<User>,
    teams: Vec<Team>,
}

impl Org {
    /// Adds a user; returns its index. No regions: sees every region.
    fn user(
        &mut self,
        name: String,
        display: String,
        position: Position,
        regions: Vec<usize>,
    ) -> usize {
        let sfx = &self.sfx;
        self.users.push(User {
            username: format!("{name}{sfx}"),
            display_name: display,
            position,
            all_regions: regions.is_empty(),
            regions,
            role: SalesRole::Clean,
        });
        self.users.len() - 1
    }

    /// Copy `copy` of region group `gi`: its regions, sales team and
    /// agents (the planted ones in copy 0).
    fn group(
        &mut self,
        copy: usize,
        gi: usize,
        (code, name, sub): &GroupDef,
        size: f64,
        cadence: i64,
        rng: &mut ChaCha8Rng,
    ) {
        let sfx = self.sfx.clone();
        let g = self.groups.len();
        let tag = if copy == 0 {
            String::new()
        } else {
            format!("{}", copy + 1)
        };
        let top = self.regions.len();
        self.regions.push(Region {
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
            members.push(self.regions.len());
            self.regions.push(Region {
                code: format!("{code}{tag}-{sc}{sfx}"),
                name: (*sn).to_owned(),
                parent: Some(top),
                capacity: 0,
                group: g,
            });
        }
        self.groups.push(members.clone());
        let n_top = if size < 0.35 {
            1
        } else {
            rng.random_range(2..=4usize)
        };
        let n_sales = if n_top + members.len() > 4 { 2 } else { 1 };
        let salespeople = self.team(top, code, name, &tag, n_sales);
        let planted_here = copy == 0;
        let mut k = 0;
        for a in 0..n_top {
            let role = match (planted_here, gi, a) {
                (true, G_HUABEI, 0) => AgentRole::ReceivablesGrowth,
                (true, G_HUADONG, 0) => AgentRole::Diverting { to_region: 0 },
                (true, G_HUANAN, 0) => AgentRole::BelowPurchase { product: P_M },
                (true, G_HUAZHONG, 0) => AgentRole::StockPiling,
                (true, G_XINAN, 0) => AgentRole::SellInSurge,
                _ => AgentRole::Clean,
            };
            self.agent(top, k, &salespeople, role, cadence, rng);
            k += 1;
        }
        for &sub_region in &members[1..] {
            let role = if planted_here && gi == G_HUABEI {
                AgentRole::OverCapacity
            } else {
                AgentRole::Clean
            };
            self.agent(sub_region, k, &salespeople, role, cadence, rng);
            k += 1;
        }
    }

    /// The sales team of a region group; returns its salespeople.
    fn team(
        &mut self,
        top: usize,
        code: &str,
        name: &str,
        tag: &str,
        n_sales: usize,
    ) -> Vec<usize> {
        let lower = code.to_lowercase();
        let mut salespeople = vec![];
        for s in 0..n_sales {
            salespeople.push(self.user(
                format!("sales{}.{lower}{tag}", s + 1),
                format!("Salesperson {} {name}", s + 1),
                Position::Salesperson,
                vec![top],
            ));
        }
        let assistant = self.user(
            format!("assistant.{lower}{tag}"),
            format!("Sales assistant {name}"),
            Position::SalesAssistant,
            vec![top],
        );
        let supervisor = self.user(
            format!("supervisor.{lower}{tag}"),
            format!("Supervisor {name}"),
            Position::Supervisor,
            vec![top],
        );
        self.teams.push(Team {
            region: top,
            salespeople: salespeople.clone(),
            assistant,
            supervisor,
        });
        salespeople
    }

    /// Agent number `k` (from 0) of its region group, in `region`.
    fn agent(
        &mut self,
        region: usize,
        k: usize,
        salespeople: &[usize],
        role: AgentRole,
        cadence: i64,
        rng: &mut ChaCha8Rng,
    ) {
        let sfx = &self.sfx;
        let regions = &self.regions;
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
        self.agents.push(Agent {
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
    }

    /// The company-wide users.
    fn staff(&mut self) -> Staff {
        Staff {
            finance: self.user(
                "finance".into(),
                "Finance".into(),
                Position::Finance,
                vec![],
            ),
            warehouse: self.user(
                "keeper".into(),
                "Warehouse keeper".into(),
                Position::Warehouse,
                vec![],
            ),
            management: self.user(
                "manager".into(),
                "Management".into(),
                Position::Management,
                vec![],
            ),
            market: self.user(
                "market".into(),
                "Market specialist".into(),
                Position::MarketSpecialist,
                vec![],
            ),
            call_center: self.user(
                "callcenter".into(),
                "Call center".into(),
                Position::CallCenter,
                vec![],
            ),
            analyst: self.user(
                "analyst".into(),
                "Analyst".into(),
                Position::Analyst,
                vec![],
            ),
        }
    }
}
