//! A small company, created through the API: two regions (NORTH with a
//! sub-area, SOUTH), a sales team per region, company-wide finance,
//! warehouse and management, an agent per region, two products, a warehouse
//! with stock.
use anyhow::{anyhow, Context};
use serde_json::{json, Value};

use super::server::ADMIN_PASSWORD;
use super::Client;

pub const PASSWORD: &str = "password-123";

/// The sales side of one region.
#[derive(Clone)]
pub struct Team {
    pub region: String,
    pub sales: Client,
    pub assistant: Client,
    pub supervisor: Client,
    pub agent: String,
}

#[derive(Clone)]
pub struct World {
    pub base: String,
    pub admin: Client,
    pub north: Team,
    pub south: Team,
    pub north_east: String,
    pub finance: Client,
    pub warehouse_keeper: Client,
    pub management: Client,
    pub analyst_north: Client,
    pub product: String,
    pub part: String,
    pub warehouse: String,
}

async fn create(
    admin: &Client,
    mutation: &str,
    field: &str,
    input: Value,
) -> anyhow::Result<String> {
    let input_type = {
        let mut c = mutation.chars();
        match c.next() {
            Some(f) => format!("{}{}Input", f.to_uppercase(), c.as_str()),
            None => String::new(),
        }
    };
    let q = format!(
        "mutation($input:{input_type}!){{{mutation}(input:$input){{{field}{{id}} userErrors{{field message code}}}}}}"
    );
    let d = admin.data(&q, json!({ "input": input })).await?;
    d[mutation][field]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{mutation} failed: {}", d[mutation]["userErrors"]))
}

pub async fn create_user(
    admin: &Client,
    username: &str,
    position: &str,
    regions: &[&str],
    all_regions: bool,
) -> anyhow::Result<Client> {
    create(
        admin,
        "userCreate",
        "user",
        json!({
            "username": username,
            "displayName": username,
            "position": position,
            "password": PASSWORD,
            "regionIds": regions,
            "allRegions": all_regions,
        }),
    )
    .await?;
    admin.login(username, PASSWORD).await
}

impl Team {
    /// The same people, talking to the server at `base`.
    pub fn on(&self, base: &str) -> Team {
        Team {
            sales: self.sales.on(base),
            assistant: self.assistant.on(base),
            supervisor: self.supervisor.on(base),
            ..self.clone()
        }
    }
}

impl World {
    /// The same people, talking to the server at `base` (another API
    /// process on the same database, `Server::beside`).
    pub fn on(&self, base: &str) -> World {
        World {
            base: base.trim_end_matches('/').to_owned(),
            admin: self.admin.on(base),
            north: self.north.on(base),
            south: self.south.on(base),
            finance: self.finance.on(base),
            warehouse_keeper: self.warehouse_keeper.on(base),
            management: self.management.on(base),
            analyst_north: self.analyst_north.on(base),
            ..self.clone()
        }
    }

    pub async fn create(base: &str) -> anyhow::Result<World> {
        World::create_named(base, "").await
    }

    /// `suffix` makes codes and usernames unique, to build several worlds in
    /// one database (the benchmark does).
    pub async fn create_named(base: &str, suffix: &str) -> anyhow::Result<World> {
        let anon = Client::new(base);
        let admin = anon
            .login("admin", ADMIN_PASSWORD)
            .await
            .context("admin login")?;
        let s = suffix;
        let north = create(
            &admin,
            "regionCreate",
            "region",
            json!({"code": format!("NORTH{s}"), "name": "North", "marketCapacity": 50000}),
        )
        .await?;
        let north_east = create(
            &admin,
            "regionCreate",
            "region",
            json!({"code": format!("NORTH-EAST{s}"), "name": "North-East", "parentId": north}),
        )
        .await?;
        let south = create(
            &admin,
            "regionCreate",
            "region",
            json!({"code": format!("SOUTH{s}"), "name": "South"}),
        )
        .await?;
        let agent = |code: String, region: &str, limit: &str| {
            json!({"code": code, "name": format!("Agent {code}"), "regionId": region, "creditLimit": limit,
                   "address": "1 Main Street", "contactName": "Li Lei", "phone": "010-1234567"})
        };
        let agent_n = create(
            &admin,
            "agentCreate",
            "agent",
            agent(format!("AG-N{s}"), &north, "100000.00"),
        )
        .await?;
        let agent_s = create(
            &admin,
            "agentCreate",
            "agent",
            agent(format!("AG-S{s}"), &south, "50000.00"),
        )
        .await?;
        let product = create(
            &admin,
            "productCreate",
            "product",
            json!({"sku": format!("CUBE-1{s}"), "name": "CUBE", "listPrice": "2000.00"}),
        )
        .await?;
        let part = create(&admin, "productCreate", "product", json!({"sku": format!("CUBE-PART{s}"), "name": "CUBE spare part", "listPrice": "50.00"})).await?;
        let warehouse = create(
            &admin,
            "warehouseCreate",
            "warehouse",
            json!({"code": format!("WH{s}"), "name": "Main warehouse", "kind": "MAIN"}),
        )
        .await?;
        let u = |n: &str| format!("{n}{s}");
        let team = |region: String, agent: String, tag: &'static str| {
            let admin = admin.clone();
            async move {
                Ok::<Team, anyhow::Error>(Team {
                    sales: create_user(
                        &admin,
                        &u(&format!("sales.{tag}")),
                        "SALESPERSON",
                        &[&region],
                        false,
                    )
                    .await?,
                    assistant: create_user(
                        &admin,
                        &u(&format!("assistant.{tag}")),
                        "SALES_ASSISTANT",
                        &[&region],
                        false,
                    )
                    .await?,
                    supervisor: create_user(
                        &admin,
                        &u(&format!("supervisor.{tag}")),
                        "SUPERVISOR",
                        &[&region],
                        false,
                    )
                    .await?,
                    region,
                    agent,
                })
            }
        };
        let north_team = team(north.clone(), agent_n, "north").await?;
        let south_team = team(south, agent_s, "south").await?;
        let finance = create_user(&admin, &u("finance"), "FINANCE", &[], true).await?;
        let keeper = create_user(&admin, &u("keeper"), "WAREHOUSE", &[], true).await?;
        let management = create_user(&admin, &u("manager"), "MANAGEMENT", &[], true).await?;
        let analyst = create_user(&admin, &u("analyst.north"), "ANALYST", &[&north], false).await?;
        for p in [&product, &part] {
            let d = keeper
                .data(
                    "mutation($i:StockReceiveInput!){stockReceive(input:$i){stockLevel{onHand} userErrors{message}}}",
                    json!({"i": {"warehouseId": warehouse, "productId": p, "quantity": 1000}}),
                )
                .await?;
            if d["stockReceive"]["stockLevel"].is_null() {
                return Err(anyhow!("stockReceive failed: {d}"));
            }
        }
        Ok(World {
            base: base.to_owned(),
            admin,
            north: north_team,
            south: south_team,
            north_east,
            finance,
            warehouse_keeper: keeper,
            management,
            analyst_north: analyst,
            product,
            part,
            warehouse,
        })
    }
}
