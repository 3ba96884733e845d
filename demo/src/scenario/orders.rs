//! The orders of an agent: when they are filed and shipped, their lines,
//! payments (late or missing for the planted cases) and serials.
use chrono::Duration;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{round_yuan, season, Agent, AgentRole, Line, Order, Payment, Stage, World};

impl World {
    pub(super) fn agent_orders(
        &self,
        ai: usize,
        agent: &Agent,
        rng: &mut ChaCha8Rng,
        out: &mut Vec<Order>,
    ) {
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
}
