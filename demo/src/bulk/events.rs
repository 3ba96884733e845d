//! The rows of a region group's market data: sell-through, unit sightings,
//! price observations and forecasts.
use chrono::Duration;

use salesguard_api::AppState;

use super::super::scenario::{Activity, World};
use super::master::Master;
use super::sink::Sink;
use super::{at, Tally};

/// Writes the sell-through, sightings, price observations and forecasts of
/// `act`.
pub(super) fn event_rows(
    s: &mut Sink,
    app: &AppState,
    w: &World,
    m: &Master,
    act: &Activity,
    tally: &mut Tally,
) {
    for st in &act.sell_through {
        let agent = &w.agents[st.agent];
        let recorder = m.users[w.teams[w.regions[agent.region].group].assistant];
        let id = s.id("sell_through");
        s.buf("sell_through")
            .begin()
            .int(id)
            .int(m.agents[st.agent])
            .int(m.products[st.product])
            .opt_text(st.serial.as_deref())
            .int(st.qty)
            .int(st.price_fen)
            .int(m.regions[st.region])
            .date(st.sold_on)
            .int(recorder)
            .ts(at(app, st.sold_on + Duration::days(1), 0))
            .end();
    }
    tally.report.sell_through += act.sell_through.len() as u64;
    let cc = m.users[w.staff.call_center];
    for si in &act.sightings {
        let id = s.id("unit_sightings");
        s.buf("unit_sightings")
            .begin()
            .int(id)
            .text(&si.serial)
            .text(si.kind)
            .int(m.regions[si.region])
            .date(si.seen_on)
            .null()
            .int(cc)
            .ts(at(app, si.seen_on, 6))
            .end();
    }
    tally.report.sightings += act.sightings.len() as u64;
    let market = m.users[w.staff.market];
    for p in &act.prices {
        let id = s.id("price_observations");
        s.buf("price_observations")
            .begin()
            .int(id)
            .int(m.products[p.product])
            .int(m.regions[p.region])
            .text(p.tier)
            .int(p.price_fen)
            .date(p.observed_on)
            .text(p.channel)
            .int(market)
            .ts(at(app, p.observed_on, 7))
            .end();
    }
    tally.report.price_observations += act.prices.len() as u64;
    for f in &act.forecasts {
        let id = s.id("forecasts");
        let submitted = at(app, f.month - Duration::days(5), 0);
        let period = f.month.format("%Y-%m").to_string();
        s.buf("forecasts")
            .begin()
            .int(id)
            .text(&period)
            .int(m.regions[f.region])
            .int(m.products[f.product])
            .int(m.users[f.salesperson])
            .int(f.qty)
            .ts(submitted)
            .ts(submitted)
            .end();
    }
    tally.report.forecasts += act.forecasts.len() as u64;
}
