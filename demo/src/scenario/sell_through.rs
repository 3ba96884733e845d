//! What an agent reports sold through (by serial or in bulk) and the
//! sightings of the units it sold.
use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{round_yuan, Agent, AgentRole, Order, SellThrough, Sighting, World, TIER_DEALER};

impl World {
    pub(super) fn agent_sell_through(
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
