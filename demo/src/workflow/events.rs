//! The plan's events in the order they happened: orders (by the day they
//! shipped, or were filed), the late payments of orders shipped on
//! exception, and the market data in batches (sell-through per agent and
//! week, sightings per week, price observations per month).
use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::super::scenario::{month_start, Activity, World};
use super::{yuan, Gql, Ids};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Event {
    Order(usize),
    Payment(usize),
    SellThrough(usize),
    Sightings(usize),
    Prices(usize),
}

/// The events by day, with the batches of rows (indexes into the plan's
/// lists) the market events stand for.
pub(super) struct Schedule {
    pub(super) events: Vec<(NaiveDate, Event)>,
    pub(super) sell_through: Vec<Vec<usize>>,
    pub(super) sightings: Vec<Vec<usize>>,
    pub(super) prices: Vec<Vec<usize>>,
}

impl Schedule {
    /// Chronological events: the credit limit sees receivables grow and
    /// shrink in the order they happened.
    pub(super) fn of(w: &World, act: &Activity) -> Schedule {
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
            let mut by: BTreeMap<i64, Vec<usize>> = Default::default();
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
            let mut by: BTreeMap<NaiveDate, Vec<usize>> = Default::default();
            for (i, p) in act.prices.iter().enumerate() {
                by.entry(month_start(p.observed_on)).or_default().push(i);
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
        Schedule {
            events,
            sell_through: st_batches,
            sightings: sight_batches,
            prices: price_batches,
        }
    }
}

/// One agent's sell-through report, by its region group's assistant.
pub(super) async fn sell_through(
    g: &mut Gql,
    w: &World,
    ids: &Ids,
    act: &Activity,
    rows: &[usize],
) -> anyhow::Result<()> {
    let agent = act.sell_through[rows[0]].agent;
    let assistant = &ids.actors[w.teams[w.regions[w.agents[agent].region].group].assistant];
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
    .await
}

/// A week's unit sightings, by the call center.
pub(super) async fn sightings(
    g: &mut Gql,
    w: &World,
    ids: &Ids,
    act: &Activity,
    rows: &[usize],
) -> anyhow::Result<()> {
    let rows: Vec<Value> = rows
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
    .await
}

/// A batch of a month's price observations, by the market specialist.
pub(super) async fn prices(
    g: &mut Gql,
    w: &World,
    ids: &Ids,
    act: &Activity,
    rows: &[usize],
) -> anyhow::Result<()> {
    let rows: Vec<Value> = rows
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
    .await
}
