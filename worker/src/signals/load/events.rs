//! The serial events (sell-through, unit sightings) and the shipped units
//! their serials are numbered by.
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use polars::prelude::*;
use sea_orm::DatabaseConnection;

use super::super::serials::{SerialIndex, SerialList};
use super::marks::Mark;
use super::rows::{c, each, frame};
use super::statements;

/// Rows of a serial-event table with their serials as read (see
/// `with_units`), and the table's mark.
pub(super) type Events = (DataFrame, SerialList, Mark);

/// Sell-through after `since`.
pub(super) async fn load_sell(
    db: DatabaseConnection,
    since: Option<Mark>,
) -> anyhow::Result<Events> {
    let (mut id, mut agent, mut product, mut qty, mut price, mut region, mut day) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut serials = SerialList::new();
    each(&db, &statements::sell(since.as_ref()), |r| {
        id.push(r.i64(0)?);
        agent.push(r.i64(1)?);
        product.push(r.i64(2)?);
        serials.push(r.opt_bytes(3)?)?;
        qty.push(r.i64(4)?);
        price.push(r.i64(5)?);
        region.push(r.i64(6)?);
        day.push(r.day(7)?);
        Ok(())
    })
    .await?;
    let mark = Mark::advance(since.as_ref(), &id, Instant::now());
    let df = frame(vec![
        c("id", id),
        c("agent_id", agent),
        c("product_id", product),
        c("qty", qty),
        c("price_fen", price),
        c("region_id", region),
        c("day", day),
    ])?;
    Ok((df, serials, mark))
}

/// Unit sightings after `since`.
pub(super) async fn load_sightings(
    db: DatabaseConnection,
    since: Option<Mark>,
) -> anyhow::Result<Events> {
    let (mut g_id, mut g_region, mut g_day) = (vec![], vec![], vec![]);
    let mut serials = SerialList::new();
    each(&db, &statements::sightings(since.as_ref()), |r| {
        g_id.push(r.i64(0)?);
        serials.push(r.opt_bytes(1)?)?;
        g_region.push(r.i64(2)?);
        g_day.push(r.day(3)?);
        Ok(())
    })
    .await?;
    let mark = Mark::advance(since.as_ref(), &g_id, Instant::now());
    let df = frame(vec![
        c("id", g_id),
        c("region_id", g_region),
        c("day", g_day),
    ])?;
    Ok((df, serials, mark))
}

/// The tables of serial events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EventTable {
    Sell,
    Sightings,
}

impl EventTable {
    pub(super) fn name(self) -> &'static str {
        match self {
            EventTable::Sell => "sell-through",
            EventTable::Sightings => "unit sightings",
        }
    }
}

/// A serial read that is no shipped unit (yet): its table and row.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Unresolved {
    pub table: EventTable,
    pub row: usize,
    pub serial: Box<[u8]>,
}

/// Adds a table's `has_serial` and `unit` columns: its serials turned into
/// unit numbers, on a blocking thread. Also returns the rows whose serial
/// is no shipped unit, numbered from `first_row`.
pub(super) async fn with_units(
    table: EventTable,
    (mut df, serials, mark): Events,
    units: Arc<SerialIndex>,
    first_row: usize,
) -> anyhow::Result<(DataFrame, Mark, Vec<Unresolved>)> {
    tokio::task::spawn_blocking(move || {
        let (present, unit, unknown) = serials.resolve(&units);
        df.with_column(Column::new("has_serial".into(), present))?;
        df.with_column(Column::new("unit".into(), unit))?;
        let unknown = unknown
            .into_iter()
            .map(|(row, serial)| Unresolved {
                table,
                row: first_row + row,
                serial,
            })
            .collect();
        anyhow::Ok((df, mark, unknown))
    })
    .await
    .with_context(|| format!("numbering the units of {}", table.name()))?
}

/// The units frame of interned serials and their owners: unit `first + i`
/// is row `i`.
pub fn units_frame(first: usize, owners: Vec<i64>) -> anyhow::Result<DataFrame> {
    let first = u32::try_from(first).context("too many units")?;
    let n = u32::try_from(owners.len()).context("too many units")?;
    let end = first.checked_add(n).context("too many units")?;
    frame(vec![
        c("unit", (first..end).collect::<Vec<u32>>()),
        c("owner_agent_id", owners),
    ])
}

/// Shipped units after `since`: their serials interned into `serials`
/// (new ones numbered on), and the agent each went to.
pub(super) async fn load_units(
    db: DatabaseConnection,
    since: Option<Mark>,
    mut serials: SerialIndex,
) -> anyhow::Result<(DataFrame, SerialIndex, Mark)> {
    let first = serials.len();
    let mut owners = vec![];
    let mut keys = vec![];
    each(&db, &statements::units(since.as_ref()), |r| {
        let serial = r
            .opt_bytes(0)?
            .context("column 0: NULL where a value is required")?;
        let (_, new) = serials.insert(serial)?;
        if new {
            owners.push(r.i64(1)?);
        }
        keys.push(r.i64(2)?);
        Ok(())
    })
    .await?;
    serials.shrink();
    let mark = Mark::advance(since.as_ref(), &keys, Instant::now());
    Ok((units_frame(first, owners)?, serials, mark))
}
