//! The worker's columnar copy of the data the signals read, kept between
//! runs and brought up to date by reading only what was appended since the
//! last run.
//!
//! The large tables are append-only (a row, once committed, is never
//! changed or deleted): shipped orders with their lines and units (all
//! written by the shipment), payments, sell-through, unit sightings and
//! price observations. A sync reads their rows after each table's `Mark`
//! (the highest key read, and the keys below it not seen yet, which a
//! transaction still open at the last read may commit later). The small or
//! revised tables (regions, agents, people, products, open receivables,
//! forecasts, the price list) are read whole on every run.
//!
//! A run reads everything when there is no copy yet, when the copy is older
//! than `FULL_RELOAD_AFTER`, or when the last sync failed. Each worker
//! process keeps one copy per database. With a `DiskCopy` the copy is also
//! saved to disk, and a process that has none in memory yet starts from the
//! one on disk (`disk`).
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use polars::prelude::*;
use sea_orm::DatabaseConnection;

use super::disk::{appended_rows, DiskCopy};
use super::load::{read, EventTable, Inputs, Marks, Read, Unresolved};
use super::serials::SerialIndex;

/// A copy older than this is read again in full.
pub const FULL_RELOAD_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The data of the last run and how far each table was read.
pub struct Snapshot {
    pub inputs: Inputs,
    pub(super) marks: Marks,
    /// Serial events whose serial was no shipped unit when read.
    pub(super) unresolved: Vec<Unresolved>,
    /// When the full read this copy grew from was made.
    loaded_at: Instant,
    pub(super) read_at: DateTime<Utc>,
    /// Rows of the appended tables when last saved to disk (`None`: not
    /// saved by this process).
    saved_rows: Option<usize>,
}

/// A save of the copy to disk.
#[derive(Debug, Clone, Copy)]
pub struct Saved {
    pub bytes: u64,
    pub took: Duration,
}

/// What a refresh read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Everything.
    Full { rows: usize },
    /// The rows appended since the last run, and the small tables.
    Sync { rows: usize },
    /// The copy saved on disk, then the rows appended since it was saved
    /// and the small tables (`rows`: those read from the database).
    Restored { rows: usize },
}

impl Refresh {
    pub fn rows(self) -> usize {
        match self {
            Refresh::Full { rows } | Refresh::Sync { rows } | Refresh::Restored { rows } => rows,
        }
    }
}

impl Snapshot {
    /// Reads everything.
    pub async fn load(db: &DatabaseConnection, tz: Tz) -> anyhow::Result<Snapshot> {
        let (loaded_at, read_at) = (Instant::now(), Utc::now());
        let r = read(db, tz, None, SerialIndex::new(), (0, 0)).await?;
        Ok(Snapshot {
            inputs: r.inputs,
            marks: r.marks,
            unresolved: r.unresolved,
            loaded_at,
            read_at,
            saved_rows: None,
        })
    }

    /// The copy saved in `disk`, if there is one that may be used (see
    /// `disk`), not yet brought up to date.
    pub async fn restore(
        disk: &DiskCopy,
        db: &DatabaseConnection,
        tz: Tz,
    ) -> anyhow::Result<Option<Snapshot>> {
        let d = disk.clone();
        let Some(r) = tokio::task::spawn_blocking(move || d.restore(tz))
            .await
            .context("reading the copy on disk panicked")??
        else {
            return Ok(None);
        };
        if !disk.matches(db, &r.marks).await? {
            return Ok(None);
        }
        let saved_rows = Some(appended_rows(&r.inputs));
        Ok(Some(Snapshot {
            inputs: r.inputs,
            marks: r.marks,
            unresolved: r.unresolved,
            loaded_at: r.loaded_at,
            read_at: r.read_at,
            saved_rows,
        }))
    }

    /// Writes the copy to `disk` (blocking) when it is due: not written by
    /// this process yet, or a quarter more rows than when last written (a
    /// worker that starts again then reads at most that much from the
    /// database). `None`: no disk, or not due.
    pub fn save_if_due(
        &mut self,
        disk: Option<&DiskCopy>,
        tz: Tz,
    ) -> Option<anyhow::Result<Saved>> {
        let disk = disk?;
        let rows = appended_rows(&self.inputs);
        if self.saved_rows.is_some_and(|n| rows <= n + n / 4) {
            return None;
        }
        let t = Instant::now();
        Some(disk.save(self, tz).map(|bytes| {
            self.saved_rows = Some(rows);
            Saved {
                bytes,
                took: t.elapsed(),
            }
        }))
    }

    /// Reads what was appended since the last read and the small tables,
    /// and merges them in. Returns the rows read. On an error the copy is
    /// left as it was, except for the serial index, which is gone: the
    /// caller drops the copy.
    pub async fn sync(&mut self, db: &DatabaseConnection, tz: Tz) -> anyhow::Result<usize> {
        let serials = std::mem::take(&mut self.inputs.serials);
        let first_rows = (self.inputs.sell.height(), self.inputs.sightings.height());
        let r = read(db, tz, Some(&self.marks), serials, first_rows).await?;
        let rows = r.inputs.rows();
        self.merge(r)?;
        Ok(rows)
    }

    fn merge(&mut self, r: Read) -> anyhow::Result<()> {
        let Read {
            inputs: d,
            marks,
            unresolved,
        } = r;
        let old = &mut self.inputs;
        // Appended.
        for (mine, new, what) in [
            (&mut old.orders, d.orders, "orders"),
            (&mut old.lo, d.lo, "order lines"),
            (&mut old.payments, d.payments, "payments"),
            (&mut old.sell, d.sell, "sell-through"),
            (&mut old.sightings, d.sightings, "unit sightings"),
            (&mut old.units, d.units, "units"),
            (&mut old.prices, d.prices, "price observations"),
        ] {
            append(mine, &new).with_context(|| format!("adding the new {what}"))?;
        }
        old.serials = d.serials;
        // Replaced.
        old.receivables = d.receivables;
        old.order_numbers = d.order_numbers;
        old.forecasts = d.forecasts;
        old.floors = d.floors;
        old.regions = d.regions;
        old.agents = d.agents;
        old.people = d.people;
        old.products = d.products;
        self.marks = marks;
        // Serials that were no unit may be one now (a sighting recorded
        // before the shipment's serials, say).
        self.unresolved.extend(unresolved);
        self.resolve_pending()?;
        Ok(())
    }

    /// Numbers the serial events whose unit has shipped since they were read.
    fn resolve_pending(&mut self) -> anyhow::Result<()> {
        let serials = &self.inputs.serials;
        let (mut found, mut still): (Vec<(EventTable, usize, u32)>, Vec<Unresolved>) =
            (vec![], vec![]);
        for u in self.unresolved.drain(..) {
            match serials.get(&u.serial) {
                Some(unit) => found.push((u.table, u.row, unit)),
                None => still.push(u),
            }
        }
        self.unresolved = still;
        for (table, df) in [
            (EventTable::Sell, &mut self.inputs.sell),
            (EventTable::Sightings, &mut self.inputs.sightings),
        ] {
            let mine: Vec<(usize, u32)> = found
                .iter()
                .filter(|f| f.0 == table)
                .map(|f| (f.1, f.2))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut unit: Vec<Option<u32>> = df.column("unit")?.u32()?.iter().collect();
            for (row, u) in mine {
                if let Some(slot) = unit.get_mut(row) {
                    *slot = Some(u);
                }
            }
            df.with_column(Column::new("unit".into(), unit))?;
        }
        Ok(())
    }
}

/// Appends `new` to `df`, packing the columns into one chunk now and then.
/// The columns must be the same, also when nothing was appended: a copy
/// read back from disk that another build of the worker wrote does not fit.
fn append(df: &mut DataFrame, new: &DataFrame) -> anyhow::Result<()> {
    if new.width() > 0 && df.schema() != new.schema() {
        anyhow::bail!(
            "the copy's columns {:?} are not those read: {:?}",
            df.schema(),
            new.schema()
        );
    }
    if new.height() == 0 {
        return Ok(());
    }
    df.vstack_mut(new)?;
    if df.first_col_n_chunks() > 32 {
        df.rechunk_mut();
    }
    Ok(())
}

type Slot = Arc<tokio::sync::Mutex<Option<Snapshot>>>;

/// This process's copies, by database URL.
static COPIES: LazyLock<Mutex<HashMap<String, Slot>>> = LazyLock::new(Default::default);

/// The copy of the database at `url` (empty until the first run).
pub fn slot(url: &str) -> Slot {
    let mut copies = COPIES.lock().unwrap_or_else(|e| e.into_inner());
    copies.entry(url.to_owned()).or_default().clone()
}

/// Brings the copy in `slot` up to date: from the copy on disk when there
/// is none in memory (and `disk` holds one that may be used), then a sync; a
/// full read when there is none or it is too old (a failed sync drops the
/// copy, and the next run reads everything).
pub async fn refresh(
    copy: &mut Option<Snapshot>,
    db: &DatabaseConnection,
    tz: Tz,
    disk: Option<&DiskCopy>,
) -> anyhow::Result<Refresh> {
    let mut restored = false;
    if let (None, Some(d)) = (copy.as_ref(), disk) {
        match Snapshot::restore(d, db, tz).await {
            Ok(Some(s)) => {
                *copy = Some(s);
                restored = true;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(
                dir = %d.dir().display(),
                error = format!("{e:#}"),
                "the copy on disk cannot be read; reading everything"
            ),
        }
    }
    if let Some(s) = copy.as_mut() {
        if s.loaded_at.elapsed() < FULL_RELOAD_AFTER {
            match s.sync(db, tz).await {
                Ok(rows) if restored => return Ok(Refresh::Restored { rows }),
                Ok(rows) => return Ok(Refresh::Sync { rows }),
                // A copy from disk that does not fit (another build of the
                // worker wrote it) is removed, and this run reads
                // everything.
                Err(e) if restored => {
                    if let Some(d) = disk {
                        tracing::warn!(
                            dir = %d.dir().display(),
                            error = format!("{e:#}"),
                            "the copy on disk does not fit; removing it and reading everything"
                        );
                        d.remove();
                    }
                }
                Err(e) => {
                    *copy = None;
                    return Err(e.context("bringing the worker's copy up to date"));
                }
            }
        }
    }
    *copy = None;
    let s = Snapshot::load(db, tz).await?;
    let rows = s.inputs.rows();
    *copy = Some(s);
    Ok(Refresh::Full { rows })
}
