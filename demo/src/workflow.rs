//! The workflow sink: every document of the plan goes through the real
//! GraphQL mutations, executed in-process on the API's schema as the user
//! whose position takes the step (each demo user signs in once with
//! `sessionCreate`). So the demo data carries the workflow's checks,
//! document numbers, audit trail, notifications and outbox jobs.
//!
//! Dates: the business dates of the plan are passed where the API takes
//! them (`shippedAt`, `receivedOn`, `soldOn`, `seenOn`, `observedOn`,
//! `signedAt`, `deliveredAt`); everything else (document numbers,
//! `created_at`) is stamped now, as the workflow does. Forecasts are taken
//! by `forecastSubmit` from last month on (what the API accepts); the older
//! months of the history are written directly into `forecasts`.
use std::collections::HashMap;

use anyhow::{anyhow, bail, Context};
use async_graphql::{Request, Variables};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{json, Value};

use salesguard_api::auth::{actor_from_token, create_session, Actor};
use salesguard_api::graphql::{self, AppSchema};
use salesguard_api::services::admin::{insert_user, NewUser};
use salesguard_api::{audit, AppState};
use salesguard_entities::model::{forecast, user};

use super::scenario::{Activity, Order, Stage, World, DEMO_PASSWORD};
use super::Report;

/// Formats fen as a decimal amount in yuan.
pub fn yuan(fen: i64) -> String {
    salesguard_domain::Fen(fen).to_string()
}

/// An in-process GraphQL client on the API's schema.
pub struct Gql {
    pub app: AppState,
    schema: AppSchema,
    pub mutations: u64,
}

impl Gql {
    pub fn new(app: &AppState) -> Gql {
        Gql {
            schema: graphql::build(Some(app.clone()), app.settings.mode),
            app: app.clone(),
            mutations: 0,
        }
    }

    /// Executes a request as `actor`; GraphQL errors become errors.
    pub async fn exec(
        &mut self,
        actor: Option<&Actor>,
        query: &str,
        vars: Value,
    ) -> anyhow::Result<Value> {
        let mut req = Request::new(query).variables(Variables::from_json(vars));
        if let Some(a) = actor {
            req = req.data(a.clone());
        }
        let req =
            graphql::loaders::attach(req, &self.app.db.read, self.app.settings.loader_window());
        let resp = self.schema.execute(req).await;
        self.mutations += 1;
        if !resp.errors.is_empty() {
            let msgs: Vec<String> = resp.errors.iter().map(|e| e.message.clone()).collect();
            bail!("GraphQL errors: {}", msgs.join("; "));
        }
        Ok(resp.data.into_json()?)
    }

    /// Runs `mutation(input: $input) { <fields> userErrors {...} }` and
    /// fails on user errors; returns the payload.
    pub async fn mutate(
        &mut self,
        actor: &Actor,
        mutation: &str,
        input_type: &str,
        fields: &str,
        input: Value,
    ) -> anyhow::Result<Value> {
        let q = format!(
            "mutation($input:{input_type}!){{{mutation}(input:$input){{{fields} userErrors{{field message code}}}}}}"
        );
        let d = self
            .exec(Some(actor), &q, json!({ "input": input }))
            .await?;
        let p = d[mutation].clone();
        if p["userErrors"].as_array().is_some_and(|a| !a.is_empty()) {
            bail!(
                "{mutation} as {} refused: {}",
                actor.username,
                p["userErrors"]
            );
        }
        Ok(p)
    }

    /// A workflow step; returns the order.
    pub async fn step(
        &mut self,
        actor: &Actor,
        mutation: &str,
        input: Value,
    ) -> anyhow::Result<Value> {
        let input_type = salesguard_api::graphql::step_input_type(mutation);
        let p = self
            .mutate(
                actor,
                mutation,
                input_type,
                "salesOrder{id status balanceDue shippingNotice{number verificationCode}}",
                input,
            )
            .await?;
        Ok(p["salesOrder"].clone())
    }

    /// A bulk input (sell-through, sightings, prices): all rows must be saved.
    pub async fn bulk(
        &mut self,
        actor: &Actor,
        mutation: &str,
        input_type: &str,
        input: Value,
    ) -> anyhow::Result<()> {
        let rows = input["rows"].as_array().map(|a| a.len()).unwrap_or(0);
        let p = self
            .mutate(
                actor,
                mutation,
                input_type,
                "result{accepted rejected{row field message}}",
                input,
            )
            .await?;
        let accepted = p["result"]["accepted"].as_u64().unwrap_or(0) as usize;
        if accepted != rows {
            bail!(
                "{mutation}: {accepted} of {rows} rows saved: {}",
                p["result"]["rejected"]
            );
        }
        Ok(())
    }

    async fn create(
        &mut self,
        actor: &Actor,
        mutation: &str,
        field: &str,
        input: Value,
    ) -> anyhow::Result<String> {
        let mut c = mutation.chars();
        let input_type = match c.next() {
            Some(f) => format!("{}{}Input", f.to_uppercase(), c.as_str()),
            None => String::new(),
        };
        let p = self
            .mutate(
                actor,
                mutation,
                &input_type,
                &format!("{field}{{id}}"),
                input,
            )
            .await?;
        p[field]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{mutation}: no id in {p}"))
    }
}

/// The actor of the administrator: `admin` as it exists, or created the
/// way `salesguard user create` does (password [`DEMO_PASSWORD`]).
pub async fn admin_actor(app: &AppState) -> anyhow::Result<Actor> {
    let existing = user::Entity::find()
        .filter(user::Column::Username.eq("admin"))
        .one(&app.db.read)
        .await?;
    let id = match existing {
        Some(u) => u.id,
        None => {
            let txn = app.db.begin().await?;
            let (id, record) = insert_user(
                &txn,
                NewUser {
                    username: "admin".into(),
                    display_name: "Administrator".into(),
                    email: None,
                    position: salesguard_domain::Position::Admin,
                    password: DEMO_PASSWORD.into(),
                    region_ids: vec![],
                    all_regions: true,
                },
            )
            .await
            .map_err(|e| anyhow!("creating admin: {e:?}"))?;
            audit::append(
                &txn,
                audit::Entry {
                    stream: audit::stream_for("User", id),
                    action: "userCreate".into(),
                    outcome: "OK".into(),
                    entity_type: Some("User".into()),
                    entity_id: Some(id),
                    after: Some(record.to_string()),
                    detail: Some("created by `salesguard demo`".into()),
                    ..audit::Entry::default()
                },
            )
            .await?;
            txn.commit().await?;
            id
        }
    };
    // The administrator's own password is not known here: a session is
    // opened for it directly.
    let (token, _) = create_session(&app.db.write, id, 60)
        .await
        .map_err(|e| anyhow!("admin session: {e:?}"))?;
    actor_from_token(app, &token)
        .await
        .map_err(|e| anyhow!("admin session: {e:?}"))?
        .context("admin session not found")
}

/// An instant on a business day (10:00 plus `hour` hours, local), never
/// later than now.
fn at(app: &AppState, day: NaiveDate, hour: i64) -> DateTime<Utc> {
    let local = day.and_hms_opt(10, 0, 0).unwrap_or_default() + Duration::hours(hour);
    let t = app
        .tz
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local));
    t.min(Utc::now() - Duration::minutes(1))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Order(usize),
    Payment(usize),
    SellThrough(usize),
    Sightings(usize),
    Prices(usize),
}

struct Ids {
    regions: Vec<String>,
    agents: Vec<String>,
    products: Vec<String>,
    warehouse: String,
    actors: Vec<Actor>,
}

/// Loads the plan through the workflow.
pub async fn load(app: &AppState, w: &World) -> anyhow::Result<Report> {
    let started = std::time::Instant::now();
    let mut g = Gql::new(app);
    let admin = admin_actor(app).await?;
    let act = w.all_activity();
    println!(
        "plan: {} orders, {} sell-through rows, {} sightings, {} price observations, {} forecasts",
        act.orders.len(),
        act.sell_through.len(),
        act.sightings.len(),
        act.prices.len(),
        act.forecasts.len()
    );
    let ids = master_data(&mut g, &admin, w, &act).await?;
    println!(
        "master data: {} regions, {} agents, {} users signed in",
        ids.regions.len(),
        ids.agents.len(),
        ids.actors.len()
    );

    // Chronological events: the credit limit sees receivables grow and
    // shrink in the order they happened.
    let mut events: Vec<(NaiveDate, Event)> = vec![];
    for (i, o) in act.orders.iter().enumerate() {
        events.push((o.ship_on.unwrap_or(o.filed_on), Event::Order(i)));
        if o.exception {
            if let Some(p) = o.payments.first() {
                events.push((p.on, Event::Payment(i)));
            }
        }
    }
    // Sell-through: one report per agent and week (batches of rows).
    let mut st_batches: Vec<Vec<usize>> = vec![];
    {
        let mut by: HashMap<(usize, i64), Vec<usize>> = HashMap::new();
        for (i, s) in act.sell_through.iter().enumerate() {
            let week = (s.sold_on - w.start).num_days() / 7;
            by.entry((s.agent, week)).or_default().push(i);
        }
        let mut keys: Vec<_> = by.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            if let Some(rows) = by.remove(&k) {
                let day = rows
                    .iter()
                    .map(|r| act.sell_through[*r].sold_on)
                    .max()
                    .unwrap_or(w.start);
                events.push((day, Event::SellThrough(st_batches.len())));
                st_batches.push(rows);
            }
        }
    }
    let mut sight_batches: Vec<Vec<usize>> = vec![];
    {
        let mut by: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
        for (i, s) in act.sightings.iter().enumerate() {
            by.entry((s.seen_on - w.start).num_days() / 7)
                .or_default()
                .push(i);
        }
        for (_, rows) in by {
            let day = rows
                .iter()
                .map(|r| act.sightings[*r].seen_on)
                .max()
                .unwrap_or(w.start);
            events.push((day, Event::Sightings(sight_batches.len())));
            sight_batches.push(rows);
        }
    }
    let mut price_batches: Vec<Vec<usize>> = vec![];
    {
        let mut by: std::collections::BTreeMap<NaiveDate, Vec<usize>> = Default::default();
        for (i, p) in act.prices.iter().enumerate() {
            by.entry(super::scenario::month_start(p.observed_on))
                .or_default()
                .push(i);
        }
        for (_, rows) in by {
            for chunk in rows.chunks(5000) {
                let day = chunk
                    .iter()
                    .map(|r| act.prices[*r].observed_on)
                    .max()
                    .unwrap_or(w.start);
                events.push((day, Event::Prices(price_batches.len())));
                price_batches.push(chunk.to_vec());
            }
        }
    }
    events.sort();
    let total = events.len();
    let mut last_pct = 0;
    let mut order_ids: HashMap<usize, Value> = HashMap::new();
    for (n, (day, ev)) in events.iter().enumerate() {
        match *ev {
            Event::Order(i) => {
                let id = run_order(&mut g, app, w, &ids, &act.orders[i])
                    .await
                    .with_context(|| {
                        format!(
                            "order {} of agent {} filed {}",
                            i, w.agents[act.orders[i].agent].code, act.orders[i].filed_on
                        )
                    })?;
                order_ids.insert(i, id);
            }
            Event::Payment(i) => {
                let id = order_ids
                    .get(&i)
                    .cloned()
                    .context("payment before its order")?;
                late_payment(&mut g, w, &ids, &act.orders[i], &id).await?
            }
            Event::SellThrough(b) => {
                let rows = &st_batches[b];
                let agent = act.sell_through[rows[0]].agent;
                let assistant =
                    &ids.actors[w.teams[w.regions[w.agents[agent].region].group].assistant];
                let rows: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        let s = &act.sell_through[*r];
                        json!({"productId": ids.products[s.product], "serial": s.serial, "quantity": s.qty,
                               "salePrice": yuan(s.price_fen), "regionId": ids.regions[s.region], "soldOn": s.sold_on})
                    })
                    .collect();
                g.bulk(
                    assistant,
                    "sellThroughRecord",
                    "SellThroughRecordInput",
                    json!({"agentId": ids.agents[agent], "rows": rows}),
                )
                .await?;
            }
            Event::Sightings(b) => {
                let rows: Vec<Value> = sight_batches[b]
                    .iter()
                    .map(|r| {
                        let s = &act.sightings[*r];
                        json!({"serial": s.serial, "kind": s.kind, "regionId": ids.regions[s.region], "seenOn": s.seen_on})
                    })
                    .collect();
                g.bulk(
                    &ids.actors[w.staff.call_center],
                    "unitSightingRecord",
                    "UnitSightingRecordInput",
                    json!({"rows": rows}),
                )
                .await?;
            }
            Event::Prices(b) => {
                let rows: Vec<Value> = price_batches[b]
                    .iter()
                    .map(|r| {
                        let p = &act.prices[*r];
                        json!({"productId": ids.products[p.product], "regionId": ids.regions[p.region], "tier": p.tier,
                               "price": yuan(p.price_fen), "observedOn": p.observed_on, "channel": p.channel})
                    })
                    .collect();
                g.bulk(
                    &ids.actors[w.staff.market],
                    "priceObservationRecord",
                    "PriceObservationRecordInput",
                    json!({"rows": rows}),
                )
                .await?;
            }
        }
        let pct = (n + 1) * 10 / total.max(1);
        if pct > last_pct {
            last_pct = pct;
            println!(
                "  {:>3}% up to {day}: {} mutations in {:.1} s",
                pct * 10,
                g.mutations,
                started.elapsed().as_secs_f64()
            );
        }
    }
    forecasts(&mut g, app, w, &ids, &act).await?;
    Ok(Report {
        orders: act.orders.len() as u64,
        shipped: act.orders.iter().filter(|o| o.ship_on.is_some()).count() as u64,
        serials: act.orders.iter().map(|o| o.serials.len() as u64).sum(),
        sell_through: act.sell_through.len() as u64,
        sightings: act.sightings.len() as u64,
        price_observations: act.prices.len() as u64,
        forecasts: act.forecasts.len() as u64,
        rows: 0,
        mutations: g.mutations,
        elapsed: started.elapsed(),
    })
}

async fn master_data(g: &mut Gql, admin: &Actor, w: &World, act: &Activity) -> anyhow::Result<Ids> {
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
            ("AGENT", super::scenario::TIER_AGENT),
            ("DEALER", super::scenario::TIER_DEALER),
            ("RETAIL", super::scenario::TIER_RETAIL),
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

async fn run_order(
    g: &mut Gql,
    app: &AppState,
    w: &World,
    ids: &Ids,
    o: &Order,
) -> anyhow::Result<Value> {
    let agent = &w.agents[o.agent];
    let team = &w.teams[w.regions[agent.region].group];
    let sales = &ids.actors[o.salesperson];
    let assistant = &ids.actors[team.assistant];
    let supervisor = &ids.actors[team.supervisor];
    let finance = &ids.actors[w.staff.finance];
    let keeper = &ids.actors[w.staff.warehouse];
    let lines: Vec<Value> = o
        .lines
        .iter()
        .map(|l| json!({"productId": ids.products[l.product], "quantity": l.qty, "unitPrice": yuan(l.unit_fen)}))
        .collect();
    let order = g
        .step(
            sales,
            "salesOrderCreate",
            json!({"agentId": ids.agents[o.agent], "lines": lines, "paymentTermsDays": o.terms_days}),
        )
        .await?;
    let id = order["id"].clone();
    if o.stage == Stage::Filed {
        return Ok(id);
    }
    g.step(
        assistant,
        "contractDraft",
        json!({"orderId": id, "terms": format!("Delivery within 5 days of payment; payment due {} days after shipment.", o.terms_days)}),
    )
    .await?;
    g.step(assistant, "contractSubmit", json!({"orderId": id}))
        .await?;
    if o.stage == Stage::PendingApproval {
        return Ok(id);
    }
    g.step(supervisor, "contractApprove", json!({"orderId": id}))
        .await?;
    g.step(
        sales,
        "contractSign",
        json!({"orderId": id, "method": "ON_SITE", "signedAt": at(app, o.filed_on, 4)}),
    )
    .await?;
    g.step(
        assistant,
        "salesOrderForwardToFinance",
        json!({"orderId": id}),
    )
    .await?;
    let Some(ship_on) = o.ship_on else {
        return Ok(id);
    };
    if o.exception {
        g.step(
            &ids.actors[w.staff.management],
            "shipmentExceptionApprove",
            json!({"orderId": id, "amount": yuan(o.total_fen()), "reason": "agent's peak season: ship now, pay within terms",
                   "expiresAt": Utc::now() + Duration::days(7)}),
        )
        .await?;
    } else {
        for (k, p) in o.payments.iter().enumerate() {
            g.step(
                finance,
                "paymentRecord",
                json!({"orderId": id, "amount": yuan(p.amount_fen), "receivedOn": p.on,
                       "reference": format!("BANK-{}-{k}", o.ref_code)}),
            )
            .await?;
        }
        g.step(finance, "paymentConfirmFull", json!({"orderId": id}))
            .await?;
    }
    let order = g
        .step(
            assistant,
            "shippingNoticeIssue",
            json!({"orderId": id, "warehouseId": ids.warehouse}),
        )
        .await?;
    let serials: Vec<Value> = o
        .serials
        .iter()
        .map(|(p, s)| json!({"productId": ids.products[*p], "serial": s}))
        .collect();
    g.step(
        keeper,
        "shipmentShip",
        json!({"noticeNumber": order["shippingNotice"]["number"], "verificationCode": order["shippingNotice"]["verificationCode"],
               "carrier": "SF Express", "trackingNumber": format!("SF{}", o.ref_code), "shippedAt": at(app, ship_on, 0),
               "serials": serials}),
    )
    .await?;
    g.step(
        keeper,
        "shipmentConfirmDelivery",
        json!({"orderId": id, "deliveredAt": at(app, ship_on + Duration::days(2), 5)}),
    )
    .await?;
    if o.stage == Stage::Archived && !o.exception {
        invoice(g, w, ids, o, &id).await?;
    }
    Ok(id)
}

async fn late_payment(
    g: &mut Gql,
    w: &World,
    ids: &Ids,
    o: &Order,
    id: &Value,
) -> anyhow::Result<()> {
    let finance = &ids.actors[w.staff.finance];
    for (k, p) in o.payments.iter().enumerate() {
        g.step(
            finance,
            "paymentRecord",
            json!({"orderId": id, "amount": yuan(p.amount_fen), "receivedOn": p.on, "reference": format!("BANK-{}-{k}", o.ref_code)}),
        )
        .await?;
    }
    if o.paid_fen() == o.total_fen() {
        g.step(finance, "paymentConfirmFull", json!({"orderId": id}))
            .await?;
        if o.stage == Stage::Archived {
            invoice(g, w, ids, o, id).await?;
        }
    }
    Ok(())
}

async fn invoice(g: &mut Gql, w: &World, ids: &Ids, o: &Order, id: &Value) -> anyhow::Result<()> {
    let agent = &w.agents[o.agent];
    let team = &w.teams[w.regions[agent.region].group];
    let sales = &ids.actors[o.salesperson];
    let assistant = &ids.actors[team.assistant];
    let finance = &ids.actors[w.staff.finance];
    g.step(
        sales,
        "invoiceInfoCollect",
        json!({"orderId": id, "title": agent.name, "taxNumber": format!("91110000{:010}", o.agent),
               "bankName": "ICBC", "bankAccount": format!("0200{:012}", o.agent), "mailingAddress": format!("{} Road 1", agent.name)}),
    )
    .await?;
    g.step(
        finance,
        "invoiceIssue",
        json!({"orderId": id, "invoiceNumber": format!("INV{}", o.ref_code)}),
    )
    .await?;
    g.step(
        assistant,
        "invoiceMail",
        json!({"orderId": id, "carrier": "EMS", "trackingNumber": format!("EMS{}", o.ref_code),
               // Today in the company's time zone (the API's "today").
               "expectedArrivalOn": salesguard_domain::docnum::business_day(Utc::now(), g.app.tz)}),
    )
    .await?;
    g.step(assistant, "invoiceConfirmReceipt", json!({"orderId": id}))
        .await?;
    g.step(assistant, "salesOrderArchive", json!({"orderId": id}))
        .await?;
    Ok(())
}

/// Forecasts: through `forecastSubmit` for the months the API takes (last
/// month on); older months of the history directly.
async fn forecasts(
    g: &mut Gql,
    app: &AppState,
    w: &World,
    ids: &Ids,
    act: &Activity,
) -> anyhow::Result<()> {
    let today = salesguard_domain::docnum::business_day(Utc::now(), app.tz);
    let earliest = super::scenario::add_months(super::scenario::month_start(today), -1);
    let mut by: std::collections::BTreeMap<(usize, usize, NaiveDate), Vec<(usize, i64)>> =
        Default::default();
    for f in &act.forecasts {
        by.entry((f.salesperson, f.region, f.month))
            .or_default()
            .push((f.product, f.qty));
    }
    let mut direct = vec![];
    let user_ids: HashMap<String, i64> = user::Entity::find()
        .all(&app.db.read)
        .await?
        .into_iter()
        .map(|u| (u.username, u.id))
        .collect();
    let region_ids: HashMap<String, i64> = salesguard_entities::model::region::Entity::find()
        .all(&app.db.read)
        .await?
        .into_iter()
        .map(|r| (r.code, r.id))
        .collect();
    let product_ids: HashMap<String, i64> = salesguard_entities::model::product::Entity::find()
        .all(&app.db.read)
        .await?
        .into_iter()
        .map(|p| (p.sku, p.id))
        .collect();
    let now = salesguard_domain::clock::now();
    for ((sp, r, m), lines) in by {
        if m >= earliest {
            let lines: Vec<Value> = lines
                .iter()
                .map(|(p, q)| json!({"productId": ids.products[*p], "quantity": q}))
                .collect();
            g.mutate(
                &ids.actors[sp],
                "forecastSubmit",
                "ForecastSubmitInput",
                "forecasts{period}",
                json!({"period": m.format("%Y-%m").to_string(), "regionId": ids.regions[r], "lines": lines}),
            )
            .await?;
        } else {
            let lookup = |m: &HashMap<String, i64>, k: &str| {
                m.get(k).copied().ok_or_else(|| anyhow!("{k} not found"))
            };
            let uid = lookup(&user_ids, &w.users[sp].username)?;
            let rid = lookup(&region_ids, &w.regions[r].code)?;
            let submitted = at(app, m - Duration::days(5), 0).min(now);
            for (p, q) in lines {
                direct.push(forecast::ActiveModel {
                    period: Set(m.format("%Y-%m").to_string()),
                    region_id: Set(rid),
                    product_id: Set(lookup(&product_ids, &w.products[p].sku)?),
                    salesperson_id: Set(uid),
                    quantity: Set(q),
                    submitted_at: Set(submitted),
                    updated_at: Set(submitted),
                    ..Default::default()
                });
            }
        }
    }
    let txn = app.db.begin().await?;
    for chunk in direct.chunks(500) {
        forecast::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}
