//! The worker's copy of the data, kept on disk as well (setting
//! `worker_copy_dir`), so that a worker that starts again — a deploy, a
//! crash, a second process on the same machine — brings its copy up to date
//! by reading what changed since it was saved, instead of reading every row
//! of the database again.
//!
//! One directory per database, named by the random token the database got
//! when it was created (`database_identity`), so a copy is never applied to
//! another database, nor to one dropped and created again under the same
//! name. It holds the append-only tables as Arrow IPC files, the serial
//! arena, and `meta.json`: the marks (how far each table was read), the
//! serial events not numbered yet, when the full read it started from was
//! made, and the row counts. The small tables read whole on every run are
//! not saved.
//!
//! A copy is written to a directory of its own and then renamed into place,
//! so a reader sees the old copy or the new one, never half of one. A copy
//! is not used — and the run reads everything — when its format or the
//! program's version differ, when it is for another time zone, when its
//! full read is older than `FULL_RELOAD_AFTER`, when a file does not match
//! `meta.json`, or when a table holds fewer keys than the copy says were
//! read (the database was restored from an older backup). Each save also
//! removes the copies beside it that no worker will use again (`sweep`):
//! those of databases whose full read is a day old, as a dropped
//! database's copy soon is, and what killed saves left.
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use polars::prelude::DataFrame;
use polars_io::ipc::{IpcReader, IpcWriter};
use polars_io::{SerReader, SerWriter};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde::{Deserialize, Serialize};

use super::load::{Inputs, Mark, Marks, Unresolved};
use super::serials::SerialIndex;
use super::snapshot::{Snapshot, FULL_RELOAD_AFTER};

/// Bumped whenever what is saved changes shape.
const FORMAT: u32 = 1;
const SERIALS_MAGIC: &[u8; 8] = b"SGSER01\n";

/// Where the copy of one database is kept.
#[derive(Clone, Debug)]
pub struct DiskCopy {
    dir: PathBuf,
}

/// A mark as saved: the gaps with their age instead of an `Instant`.
#[derive(Serialize, Deserialize)]
struct SavedMark {
    max: i64,
    /// (key, milliseconds it had been watched when saved).
    gaps: Vec<(i64, u64)>,
}

impl SavedMark {
    fn of(m: &Mark, now: Instant) -> SavedMark {
        SavedMark {
            max: m.max,
            gaps: m
                .gaps
                .iter()
                .map(|(k, at)| (*k, now.duration_since(*at).as_millis() as u64))
                .collect(),
        }
    }

    fn mark(&self, now: Instant) -> Mark {
        Mark {
            max: self.max,
            gaps: self
                .gaps
                .iter()
                .map(|(k, ms)| {
                    let at = now.checked_sub(Duration::from_millis(*ms)).unwrap_or(now);
                    (*k, at)
                })
                .collect(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
    version: String,
    time_zone: String,
    /// When the full read this copy grew from was made.
    read_at: DateTime<Utc>,
    saved_at: DateTime<Utc>,
    /// Marks, in the order of `MARKED`.
    marks: Vec<SavedMark>,
    unresolved: Vec<Unresolved>,
    /// Rows of each frame, in the order of `FRAMES`.
    heights: Vec<usize>,
    units: usize,
}

/// What `sweep` reads of another copy's `meta.json` (whatever its format).
#[derive(Deserialize)]
struct ReadAt {
    read_at: DateTime<Utc>,
}

/// The saved frames, by file name.
const FRAMES: [&str; 7] = [
    "orders",
    "lines",
    "payments",
    "sell",
    "sightings",
    "units",
    "prices",
];

fn frames(i: &Inputs) -> [&DataFrame; 7] {
    [
        &i.orders,
        &i.lo,
        &i.payments,
        &i.sell,
        &i.sightings,
        &i.units,
        &i.prices,
    ]
}

/// The tables the marks are on, with their key, in the order of the marks
/// in `meta.json`.
const MARKED: [(&str, &str); 6] = [
    ("shipments", "id"),
    ("payments", "id"),
    ("serial_units", "id"),
    ("sell_through", "id"),
    ("unit_sightings", "id"),
    ("price_observations", "id"),
];

fn marks(m: &Marks) -> [&Mark; 6] {
    [
        &m.shipments,
        &m.payments,
        &m.units,
        &m.sell,
        &m.sightings,
        &m.prices,
    ]
}

/// Rows of the tables a sync appends to, which the copy on disk holds.
pub fn appended_rows(i: &Inputs) -> usize {
    frames(i).iter().map(|d| d.height()).sum()
}

impl DiskCopy {
    /// The place under `root` for the copy of the database behind `db`.
    pub async fn open(root: &Path, db: &DatabaseConnection) -> anyhow::Result<DiskCopy> {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT token FROM database_identity WHERE id = 1",
            ))
            .await?
            .context("the database has no identity (database_identity is empty)")?;
        let token: String = row.try_get("", "token")?;
        let name: String = token
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(64)
            .collect();
        ensure!(!name.is_empty(), "the database's identity token is empty");
        Ok(DiskCopy {
            dir: root.join(format!("db-{name}")),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes the copy (best effort: logged).
    pub fn remove(&self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove the copy on disk");
            }
        }
    }

    /// Removes, beside this copy, what no worker will ever use again:
    /// - what saves that stopped half-way (a killed process) left, and old
    ///   copies moved aside: `db-*.new-*` and `db-*.old`, an hour old or
    ///   more (a save takes seconds);
    /// - the copies of other databases whose full read is
    ///   `FULL_RELOAD_AFTER` old or more: no worker restores such a copy (a
    ///   live database's worker reads everything again and saves a new one),
    ///   so they are those of databases dropped, renamed away or no longer
    ///   watched; a copy without a readable `meta.json` counts by its
    ///   directory's age.
    ///
    /// Only directories named `db-…` are touched.
    fn sweep(&self) {
        let (Some(parent), Some(own)) = (self.dir.parent(), self.dir.file_name()) else {
            return;
        };
        let own = own.to_string_lossy().into_owned();
        let Ok(entries) = fs::read_dir(parent) else {
            return;
        };
        let age_of = |p: &Path| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir || !name.starts_with("db-") || name == own {
                continue;
            }
            let path = e.path();
            let dead = if name.contains(".new-") || name.ends_with(".old") {
                age_of(&path).is_some_and(|age| age >= Duration::from_secs(3600))
            } else if name.contains('.') {
                false
            } else {
                let read_at = File::open(path.join("meta.json"))
                    .ok()
                    .and_then(|f| serde_json::from_reader::<_, ReadAt>(BufReader::new(f)).ok());
                let age = match read_at {
                    Some(r) => Utc::now().signed_duration_since(r.read_at).to_std().ok(),
                    None => age_of(&path),
                };
                age.is_some_and(|age| age >= FULL_RELOAD_AFTER)
            };
            if !dead {
                continue;
            }
            match fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(dir = %path.display(), "removed a copy on disk no worker will use");
                }
                Err(e) => {
                    tracing::warn!(dir = %path.display(), error = %e, "cannot remove a copy on disk no worker will use");
                }
            }
        }
    }

    /// Writes `s` (blocking; call off the async threads). Returns the bytes
    /// written.
    pub fn save(&self, s: &Snapshot, tz: Tz) -> anyhow::Result<u64> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        self.sweep();
        // Unique also across containers (where every process may be pid 1).
        let tmp = self
            .dir
            .with_extension(format!("new-{}", ulid::Ulid::generate()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut bytes = 0;
        let written = (|| -> anyhow::Result<()> {
            for (name, df) in FRAMES.iter().zip(frames(&s.inputs)) {
                let path = tmp.join(format!("{name}.arrow"));
                let mut w = BufWriter::new(File::create(&path)?);
                IpcWriter::new(&mut w).finish(&mut df.clone())?;
                bytes += finish(w)?;
            }
            let (arena, ends) = s.inputs.serials.parts();
            let mut w = BufWriter::new(File::create(tmp.join("serials.bin"))?);
            w.write_all(SERIALS_MAGIC)?;
            w.write_all(&(ends.len() as u64).to_le_bytes())?;
            w.write_all(&(arena.len() as u64).to_le_bytes())?;
            for e in ends {
                w.write_all(&e.to_le_bytes())?;
            }
            w.write_all(arena)?;
            bytes += finish(w)?;
            let now = Instant::now();
            let meta = Meta {
                format: FORMAT,
                version: env!("CARGO_PKG_VERSION").to_owned(),
                time_zone: tz.name().to_owned(),
                read_at: s.read_at,
                saved_at: Utc::now(),
                marks: marks(&s.marks)
                    .iter()
                    .map(|m| SavedMark::of(m, now))
                    .collect(),
                unresolved: s.unresolved.clone(),
                heights: frames(&s.inputs).iter().map(|d| d.height()).collect(),
                units: s.inputs.serials.len(),
            };
            // Written last: a directory with meta.json is complete.
            let mut w = BufWriter::new(File::create(tmp.join("meta.json"))?);
            serde_json::to_writer(&mut w, &meta)?;
            bytes += finish(w)?;
            Ok(())
        })();
        if let Err(e) = written {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e.context(format!("writing {}", tmp.display())));
        }
        let old = self.dir.with_extension("old");
        let _ = fs::remove_dir_all(&old);
        if self.dir.exists() {
            fs::rename(&self.dir, &old)
                .with_context(|| format!("moving {} aside", self.dir.display()))?;
        }
        fs::rename(&tmp, &self.dir)
            .with_context(|| format!("moving {} into place", tmp.display()))?;
        let _ = fs::remove_dir_all(&old);
        Ok(bytes)
    }

    /// Reads the copy back, if there is one that may be used: blocking
    /// (call off the async threads). `Ok(None)`: none, or one not for this
    /// program, time zone or day (logged).
    pub fn restore(&self, tz: Tz) -> anyhow::Result<Option<Restored>> {
        let meta_path = self.dir.join("meta.json");
        let meta: Meta = match File::open(&meta_path) {
            Ok(f) => serde_json::from_reader(BufReader::new(f))
                .with_context(|| format!("reading {}", meta_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context(format!("opening {}", meta_path.display())),
        };
        let age = Utc::now().signed_duration_since(meta.read_at);
        let age = age.to_std().unwrap_or(Duration::MAX);
        let why_not = if meta.format != FORMAT || meta.version != env!("CARGO_PKG_VERSION") {
            Some("it was written by another version")
        } else if meta.time_zone != tz.name() {
            Some("it is for another time zone")
        } else if age >= FULL_RELOAD_AFTER {
            Some("its full read is too old")
        } else {
            None
        };
        if let Some(why) = why_not {
            tracing::info!(dir = %self.dir.display(), "the copy on disk is not used: {why}");
            return Ok(None);
        }
        ensure!(
            meta.heights.len() == FRAMES.len(),
            "meta.json does not list every table"
        );
        // The serial index is built again on a thread of its own while the
        // frames are read.
        let (read, serials) = std::thread::scope(|scope| {
            let serials = scope.spawn(|| {
                let t = Instant::now();
                let ix = read_serials(&self.dir.join("serials.bin"));
                tracing::debug!(secs = t.elapsed().as_secs_f64(), "serials read from disk");
                ix
            });
            let t = Instant::now();
            let read = self.read_frames(&meta.heights);
            tracing::debug!(secs = t.elapsed().as_secs_f64(), "frames read from disk");
            let serials = serials
                .join()
                .map_err(|_| anyhow::anyhow!("reading the serials panicked"));
            (read, serials)
        });
        let (read, serials) = (read?, serials??);
        ensure!(
            serials.len() == meta.units,
            "serials.bin holds {} units, meta.json says {}",
            serials.len(),
            meta.units
        );
        let now = Instant::now();
        let marks: Vec<Mark> = meta.marks.iter().map(|m| m.mark(now)).collect();
        let [shipments, payments, units, sell, sightings, prices]: [Mark; 6] = marks
            .try_into()
            .map_err(|_| anyhow::anyhow!("meta.json does not list every table"))?;
        let marks = Marks {
            shipments,
            payments,
            units,
            sell,
            sightings,
            prices,
        };
        let [orders, lo, payments, sell, sightings, units, prices]: [DataFrame; 7] = read
            .try_into()
            .map_err(|_| anyhow::anyhow!("not every frame was read"))?;
        let inputs = Inputs {
            orders,
            lo,
            payments,
            sell,
            sightings,
            units,
            prices,
            serials,
            // Read whole by the sync that follows.
            receivables: DataFrame::default(),
            forecasts: DataFrame::default(),
            floors: DataFrame::default(),
            regions: Default::default(),
            agents: Default::default(),
            people: Default::default(),
            products: Default::default(),
            order_numbers: Default::default(),
        };
        Ok(Some(Restored {
            inputs,
            marks,
            unresolved: meta.unresolved,
            loaded_at: now.checked_sub(age).unwrap_or(now),
            read_at: meta.read_at,
        }))
    }

    /// The saved frames, checked against the heights in `meta.json`.
    fn read_frames(&self, heights: &[usize]) -> anyhow::Result<Vec<DataFrame>> {
        let mut read = Vec::with_capacity(FRAMES.len());
        for (name, height) in FRAMES.iter().zip(heights) {
            let path = self.dir.join(format!("{name}.arrow"));
            let df = IpcReader::new(File::open(&path)?)
                .finish()
                .with_context(|| format!("reading {}", path.display()))?;
            ensure!(
                df.height() == *height,
                "{} holds {} rows, meta.json says {height}",
                path.display(),
                df.height()
            );
            read.push(df);
        }
        Ok(read)
    }

    /// Whether every table still holds at least the keys the copy read: a
    /// database restored from an older backup does not.
    pub async fn matches(&self, db: &DatabaseConnection, m: &Marks) -> anyhow::Result<bool> {
        let sql = MARKED
            .iter()
            .enumerate()
            .map(|(i, (table, key))| format!("(SELECT MAX({key}) FROM {table}) AS m{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT {sql}"),
            ))
            .await?
            .context("no row from SELECT")?;
        for (i, mark) in marks(m).iter().enumerate() {
            let max: Option<i64> = row.try_get("", &format!("m{i}"))?;
            if max.unwrap_or(0) < mark.max {
                tracing::info!(
                    table = MARKED[i].0,
                    copy = mark.max,
                    database = max.unwrap_or(0),
                    "the copy on disk is not used: the table holds fewer keys than it read"
                );
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A copy read back from disk, before its sync.
pub struct Restored {
    pub inputs: Inputs,
    pub marks: Marks,
    pub unresolved: Vec<Unresolved>,
    pub loaded_at: Instant,
    pub read_at: DateTime<Utc>,
}

/// Flushes and syncs a file; returns its size.
fn finish(w: BufWriter<File>) -> anyhow::Result<u64> {
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    Ok(f.metadata()?.len())
}

fn read_serials(path: &Path) -> anyhow::Result<SerialIndex> {
    let mut buf = Vec::new();
    File::open(path)
        .and_then(|f| BufReader::new(f).read_to_end(&mut buf))
        .with_context(|| format!("reading {}", path.display()))?;
    let word = |at: usize| -> anyhow::Result<u64> {
        let b = buf.get(at..at + 8).context("serials.bin is cut short")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    };
    if buf.get(..8) != Some(SERIALS_MAGIC.as_slice()) {
        bail!("{} is not a serials file", path.display());
    }
    let n = usize::try_from(word(8)?)?;
    let len = usize::try_from(word(16)?)?;
    let ends_at = 24;
    let arena_at = n
        .checked_mul(4)
        .and_then(|b| b.checked_add(ends_at))
        .context("serials.bin: too many units")?;
    ensure!(
        arena_at.checked_add(len) == Some(buf.len()),
        "serials.bin has {} bytes, its header says {}",
        buf.len(),
        arena_at.saturating_add(len)
    );
    let ends: Vec<u32> = buf[ends_at..arena_at]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let arena = buf.split_off(arena_at);
    SerialIndex::from_parts(arena, ends)
}
