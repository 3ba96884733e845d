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
//!
//! `gql` is the client; `master` writes the master data, `events` orders
//! the plan's events in time, `orders` takes an order through the workflow
//! and `forecasts` writes the forecasts.
use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::Value;

use salesguard_api::auth::Actor;
use salesguard_api::AppState;

use super::scenario::{Activity, World};
use super::Report;

mod events;
mod forecasts;
mod gql;
mod master;
mod orders;

pub use gql::{admin_actor, Gql};

use events::{Event, Schedule};

/// Formats fen as a decimal amount in yuan.
pub fn yuan(fen: i64) -> String {
    salesguard_domain::Fen(fen).to_string()
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

/// The API's ids of the master data, by plan index, and the signed-in
/// users.
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
    let ids = master::master_data(&mut g, &admin, w, &act).await?;
    println!(
        "master data: {} regions, {} agents, {} users signed in",
        ids.regions.len(),
        ids.agents.len(),
        ids.actors.len()
    );
    let schedule = Schedule::of(w, &act);
    play(&mut g, app, w, &ids, &act, &schedule, started).await?;
    forecasts::forecasts(&mut g, app, w, &ids, &act).await?;
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

/// Runs the events in order, printing the progress every 10%.
async fn play(
    g: &mut Gql,
    app: &AppState,
    w: &World,
    ids: &Ids,
    act: &Activity,
    schedule: &Schedule,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let total = schedule.events.len();
    let mut last_pct = 0;
    let mut order_ids: HashMap<usize, Value> = HashMap::new();
    for (n, (day, ev)) in schedule.events.iter().enumerate() {
        match *ev {
            Event::Order(i) => {
                let id = orders::run_order(g, app, w, ids, &act.orders[i])
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
                orders::late_payment(g, w, ids, &act.orders[i], &id).await?
            }
            Event::SellThrough(b) => {
                events::sell_through(g, w, ids, act, &schedule.sell_through[b]).await?
            }
            Event::Sightings(b) => {
                events::sightings(g, w, ids, act, &schedule.sightings[b]).await?
            }
            Event::Prices(b) => events::prices(g, w, ids, act, &schedule.prices[b]).await?,
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
    Ok(())
}
