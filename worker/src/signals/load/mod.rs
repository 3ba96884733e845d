//! Reads the business data the signals need into polars frames: one
//! streaming query per table, only the columns used, straight into column
//! vectors (no per-row objects). Days are `i32` days since 1970-01-01 in
//! the business time zone.
//!
//! `read` loads the tables side by side, each in a module by subject:
//! `dims` (regions, agents, users, products), `orders` (shipped orders,
//! lines, payments, receivables), `events` (serial units, sell-through,
//! sightings) and `plans` (forecasts, price list, price observations); the
//! append-only tables are read on from their `marks`, by the `statements`.
use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use sea_orm::DatabaseConnection;

use super::serials::SerialIndex;

mod days;
mod dims;
mod events;
mod inputs;
mod marks;
mod orders;
mod plans;
mod rows;
pub mod statements;

pub use days::{date_of, day_of, month_of_day, month_of_period};
pub use events::{units_frame, EventTable, Unresolved};
pub use inputs::{AgentDim, Inputs, RegionDim};
pub use marks::{Mark, Marks, GAP_TTL};

use dims::load_dims;
use events::{load_sell, load_sightings, load_units, with_units};
use orders::{load_payments, load_receivables, load_shipped};
use plans::{load_plans, load_prices};
use rows::{each, task};

/// What one load read: everything (a full load) or what changed since the
/// marks (a sync). The append-only tables hold only the rows after the
/// marks; the others are whole.
pub struct Read {
    pub inputs: Inputs,
    pub marks: Marks,
    /// Serial events whose serial is no shipped unit (yet), numbered from
    /// the first new row of their table.
    pub unresolved: Vec<Unresolved>,
}

/// Reads the inputs: all of them (`since` = `None`) or the rows appended
/// after the marks, with `serials` (the units already known) numbering the
/// new units on. Each table in a task of its own, side by side.
/// `first_rows` = (sell-through, sightings) rows already held.
pub async fn read(
    db: &DatabaseConnection,
    tz: Tz,
    since: Option<&Marks>,
    serials: SerialIndex,
    first_rows: (usize, usize),
) -> anyhow::Result<Read> {
    let m = |f: fn(&Marks) -> &Mark| since.map(|s| f(s).clone());
    // The serial events load beside the units; their serials become unit
    // numbers once all units are in.
    let events = {
        let db = db.clone();
        let (mu, ms, mg) = (m(|s| &s.units), m(|s| &s.sell), m(|s| &s.sightings));
        async move {
            let ((units, serials, units_mark), sell, sightings) = tokio::try_join!(
                task("serial units", load_units(db.clone(), mu, serials)),
                task(EventTable::Sell.name(), load_sell(db.clone(), ms)),
                task(EventTable::Sightings.name(), load_sightings(db.clone(), mg)),
            )?;
            let serials = Arc::new(serials);
            let ((sell, sell_mark, mut unknown), (sightings, sightings_mark, unknown_g)) = tokio::try_join!(
                with_units(EventTable::Sell, sell, serials.clone(), first_rows.0),
                with_units(
                    EventTable::Sightings,
                    sightings,
                    serials.clone(),
                    first_rows.1
                ),
            )?;
            unknown.extend(unknown_g);
            let serials = Arc::try_unwrap(serials)
                .map_err(|_| anyhow::anyhow!("the serial index is still shared"))?;
            anyhow::Ok((
                units,
                serials,
                sell,
                sightings,
                unknown,
                units_mark,
                sell_mark,
                sightings_mark,
            ))
        }
    };
    let (
        (regions, agents, people, products),
        (orders, lo, shipments_mark),
        (payments, payments_mark),
        (receivables, order_numbers),
        (units, serials, sell, sightings, unresolved, units_mark, sell_mark, sightings_mark),
        (forecasts, floors),
        (prices, prices_mark),
    ) = tokio::try_join!(
        task("regions, agents, users, products", load_dims(db.clone())),
        task(
            "shipped orders",
            load_shipped(db.clone(), tz, m(|s| &s.shipments))
        ),
        task("payments", load_payments(db.clone(), m(|s| &s.payments))),
        task("receivables", load_receivables(db.clone())),
        events,
        task("forecasts and the price list", load_plans(db.clone())),
        task(
            "price observations",
            load_prices(db.clone(), m(|s| &s.prices))
        ),
    )?;
    Ok(Read {
        inputs: Inputs {
            orders,
            lo,
            payments,
            receivables,
            sell,
            sightings,
            units,
            serials,
            forecasts,
            prices,
            floors,
            regions,
            agents,
            people,
            products,
            order_numbers,
        },
        marks: Marks {
            shipments: shipments_mark,
            payments: payments_mark,
            units: units_mark,
            sell: sell_mark,
            sightings: sightings_mark,
            prices: prices_mark,
        },
        unresolved,
    })
}

/// Loads all the inputs for a computation as of `as_of` (business day).
pub async fn load(db: &DatabaseConnection, tz: Tz, as_of: NaiveDate) -> anyhow::Result<Inputs> {
    let _ = as_of;
    Ok(read(db, tz, None, SerialIndex::new(), (0, 0)).await?.inputs)
}

/// Order numbers of the given orders (evidence), in one query.
pub async fn order_numbers(
    db: &DatabaseConnection,
    ids: &[i64],
) -> anyhow::Result<HashMap<i64, String>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        each(
            db,
            &format!("SELECT id, number FROM sales_orders WHERE id IN ({list})"),
            |r| {
                out.insert(r.i64(0)?, r.text(1)?);
                Ok(())
            },
        )
        .await?;
    }
    Ok(out)
}
