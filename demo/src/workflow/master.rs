//! The master data through the API: regions, products, the warehouse,
//! users (each signs in once), agents, the price list and the stock.
use anyhow::{anyhow, Context};
use serde_json::json;

use salesguard_api::auth::{actor_from_token, Actor};

use super::super::scenario::{
    Activity, World, DEMO_PASSWORD, TIER_AGENT, TIER_DEALER, TIER_RETAIL,
};
use super::{yuan, Gql, Ids};

pub(super) async fn master_data(
    g: &mut Gql,
    admin: &Actor,
    w: &World,
    act: &Activity,
) -> anyhow::Result<Ids> {
    let mut regions: Vec<String> = vec![String::new(); w.regions.len()];
    // Parents before sub-areas.
    let mut order: Vec<usize> = (0..w.regions.len()).collect();
    order.sort_by_key(|r| w.regions[*r].parent.is_some());
    for r in order {
        let reg = &w.regions[r];
        let mut input = json!({"code": reg.code, "name": reg.name, "marketCapacity": reg.capacity});
        if let Some(p) = reg.parent {
            input["parentId"] = json!(regions[p]);
        }
        regions[r] = g.create(admin, "regionCreate", "region", input).await?;
    }
    let mut products = vec![];
    for p in &w.products {
        products.push(
            g.create(
                admin,
                "productCreate",
                "product",
                json!({"sku": p.sku, "name": p.name, "listPrice": yuan(p.retail_fen)}),
            )
            .await?,
        );
    }
    let warehouse = g
        .create(
            admin,
            "warehouseCreate",
            "warehouse",
            json!({"code": format!("WH-MAIN{}", w.cfg.suffix), "name": "Main warehouse", "kind": "MAIN"}),
        )
        .await?;
    for u in &w.users {
        let region_ids: Vec<&String> = u.regions.iter().map(|r| &regions[*r]).collect();
        g.create(
            admin,
            "userCreate",
            "user",
            json!({"username": u.username, "displayName": u.display_name, "email": u.email(), "position": u.position.gql(),
                   "password": DEMO_PASSWORD, "regionIds": region_ids, "allRegions": u.all_regions}),
        )
        .await?;
    }
    let mut agents = vec![];
    for a in &w.agents {
        agents.push(
            g.create(
                admin,
                "agentCreate",
                "agent",
                json!({"code": a.code, "name": a.name, "regionId": regions[a.region], "creditLimit": yuan(a.credit_limit_fen),
                       "address": w.agent_address(a),
                       "contactName": "Wang Fang", "phone": "010-5550100"}),
            )
            .await?,
        );
    }
    // Every demo user signs in once.
    let mut actors = vec![];
    for u in &w.users {
        let d = g
            .exec(
                None,
                "mutation($u:String!,$p:String!){sessionCreate(input:{username:$u,password:$p}){token userErrors{code message}}}",
                json!({"u": u.username, "p": DEMO_PASSWORD}),
            )
            .await?;
        let token = d["sessionCreate"]["token"]
            .as_str()
            .ok_or_else(|| anyhow!("sign-in of {} failed: {d}", u.username))?;
        let actor = actor_from_token(&g.app, token)
            .await
            .map_err(|e| anyhow!("session of {}: {e:?}", u.username))?
            .context("session not found")?;
        actors.push(actor);
    }
    let manager = &actors[w.staff.management];
    for (pi, p) in w.products.iter().enumerate() {
        for (tier, frac) in [
            ("AGENT", TIER_AGENT),
            ("DEALER", TIER_DEALER),
            ("RETAIL", TIER_RETAIL),
        ] {
            let (price, floor) = p.tier_fen(frac);
            g.mutate(
                manager,
                "priceListSet",
                "PriceListSetInput",
                "entry{tier}",
                json!({"productId": products[pi], "tier": tier, "price": yuan(price), "floorPrice": yuan(floor)}),
            )
            .await?;
        }
    }
    let keeper = &actors[w.staff.warehouse];
    for (pi, _) in w.products.iter().enumerate() {
        let need: i64 = act
            .orders
            .iter()
            .flat_map(|o| o.lines.iter())
            .filter(|l| l.product == pi)
            .map(|l| l.qty)
            .sum();
        let mut left = need + need / 10 + 100;
        while left > 0 {
            let q = left.min(1_000_000);
            g.mutate(
                keeper,
                "stockReceive",
                "StockReceiveInput",
                "stockLevel{onHand}",
                json!({"warehouseId": warehouse, "productId": products[pi], "quantity": q, "note": "production lot"}),
            )
            .await?;
            left -= q;
        }
    }
    Ok(Ids {
        regions,
        agents,
        products,
        warehouse,
        actors,
    })
}
