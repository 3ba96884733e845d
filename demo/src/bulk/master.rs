//! The master data rows: regions, users with their regions, agents,
//! products, the warehouse and the price list.
use chrono::Duration;

use super::super::scenario::{World, DEMO_PASSWORD, TIER_AGENT, TIER_DEALER, TIER_RETAIL};
use super::at;
use super::sink::Sink;

/// Ids of the master data rows, by plan index.
pub(super) struct Master {
    pub(super) regions: Vec<i64>,
    pub(super) users: Vec<i64>,
    pub(super) agents: Vec<i64>,
    pub(super) products: Vec<i64>,
    pub(super) warehouse: i64,
}

pub(super) fn master_data(s: &mut Sink, w: &World) -> anyhow::Result<Master> {
    let hash = salesguard_api::auth::hash_password(DEMO_PASSWORD)?;
    let now = salesguard_domain::clock::now();
    let created = at(&s.app.clone(), w.start - Duration::days(30), 0);
    let mut regions = vec![0i64; w.regions.len()];
    let mut order: Vec<usize> = (0..w.regions.len()).collect();
    order.sort_by_key(|r| w.regions[*r].parent.is_some());
    for r in order {
        let id = s.id("regions");
        regions[r] = id;
        let reg = &w.regions[r];
        let parent = reg.parent.map(|p| regions[p]);
        s.buf("regions")
            .begin()
            .int(id)
            .text(&reg.code)
            .text(&reg.name)
            .opt_int(parent)
            .int(reg.capacity)
            .ts(created)
            .end();
    }
    let mut users = vec![];
    for u in &w.users {
        let id = s.id("users");
        users.push(id);
        s.buf("users")
            .begin()
            .int(id)
            .text(&u.username)
            .text(&u.display_name)
            .text(&u.email())
            .text(u.position.gql())
            .text(&hash)
            .boolean(u.all_regions)
            .boolean(true)
            .ts(created)
            .end();
        for r in &u.regions {
            let rid = regions[*r];
            s.buf("user_regions").begin().int(id).int(rid).end();
        }
    }
    let mut agents = vec![];
    for a in &w.agents {
        let id = s.id("agents");
        agents.push(id);
        s.buf("agents")
            .begin()
            .int(id)
            .text(&a.code)
            .text(&a.name)
            .int(regions[a.region])
            .int(a.credit_limit_fen)
            .int(0)
            .text(&w.agent_address(a))
            .text("Wang Fang")
            .text("010-5550100")
            .ts(created)
            .end();
    }
    let mut products = vec![];
    for p in &w.products {
        let id = s.id("products");
        products.push(id);
        s.buf("products")
            .begin()
            .int(id)
            .text(&p.sku)
            .text(&p.name)
            .int(p.retail_fen)
            .boolean(true)
            .ts(created)
            .end();
    }
    let warehouse = s.id("warehouses");
    let code = format!("WH-MAIN{}", w.cfg.suffix);
    s.buf("warehouses")
        .begin()
        .int(warehouse)
        .text(&code)
        .text("Main warehouse")
        .text("MAIN")
        .end();
    let manager = users[w.staff.management];
    for (pi, p) in w.products.iter().enumerate() {
        for (tier, frac) in [
            ("AGENT", TIER_AGENT),
            ("DEALER", TIER_DEALER),
            ("RETAIL", TIER_RETAIL),
        ] {
            let (price, floor) = p.tier_fen(frac);
            s.buf("price_list")
                .begin()
                .int(products[pi])
                .text(tier)
                .int(price)
                .int(floor)
                .int(manager)
                .ts(now)
                .end();
        }
    }
    Ok(Master {
        regions,
        users,
        agents,
        products,
        warehouse,
    })
}
