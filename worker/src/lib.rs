//! The Salesguard background worker (apalis 1.0): one job, "recompute risk
//! signals", fed by
//! - the transactional outbox (`outbox` rows written in the business
//!   transaction; the relay moves them into the job queue every second,
//!   deduplicated by their key), and
//! - cron schedules from the settings (`signals_cron`, in the business time
//!   zone), which enqueue one job per tick, keyed on the tick.
//!
//! Jobs are at-least-once; the handler is idempotent per dedup key (a key
//! with a finished, successful `job_runs` row is not run again).
//!
//! The queue lives in the business database's PostgreSQL (schema `apalis`,
//! own pool) or, on SQLite, in a file of its own next to the business
//! database (`<db>.jobs.db`, own pool: `SqliteStorage::setup` turns
//! `synchronous` off on its pool).
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use apalis::layers::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
use apalis::layers::retry::{HasherRng, RetryPolicy};
use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use apalis_postgres::{PgPool, PostgresStorage};
use apalis_sqlite::SqliteStorage;
use chrono_tz::Tz;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tokio::sync::watch;
use ulid::Ulid;

use salesguard_entities::model::outbox::RECOMPUTE_SIGNALS;
use salesguard_entities::model::{job_run, outbox};

mod context;
pub mod report;
pub mod signals;

pub use context::Ctx;

/// The job: recompute the channel risk signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecomputeSignals {
    /// What asked for it: the mutation (`shipmentShip`, …) or `cron:<expr>`.
    pub trigger: String,
    /// Identifies the change (or the tick) the run is for.
    pub dedup_key: String,
    /// When the job was queued (after the change committed): a successful
    /// run that started later covers it.
    #[serde(default)]
    pub requested_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The business day to compute for (default: today).
    #[serde(default)]
    pub as_of: Option<chrono::NaiveDate>,
}

impl RecomputeSignals {
    /// The queue name, stable across refactorings (apalis would default to
    /// the Rust type path).
    pub const QUEUE: &'static str = "salesguard.recompute_signals";
    /// The `job_runs.job` value.
    pub const JOB: &'static str = "recompute_signals";
}

/// In-process retries after the first attempt (with exponential backoff).
pub const RETRIES: usize = 3;
/// Set on every pushed task: the storage re-fetches failed tasks without
/// delay up to `max_attempts` (default 25), so it is the retry count + 1.
pub const MAX_ATTEMPTS: usize = RETRIES + 1;
/// How often the relay looks at the outbox.
pub const RELAY_INTERVAL: Duration = Duration::from_secs(1);
/// How often a storage worker polls the queue.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Outbox rows relayed per round.
const RELAY_BATCH: u64 = 100;

/// The job queue: a pool of its own, on the backend of the business data.
#[derive(Clone)]
pub enum Queue {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Where the SQLite job queue of a business database lives: a file next to
/// it (`<db>.jobs.db`); `None` for an in-memory database.
/// The process's peak resident memory so far in MiB (Linux `VmHWM`; NaN
/// where unknown): the debug log of the signals parts and the benchmarks.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Caps glibc's malloc arenas at `n` (by default up to 8 per core, one per
/// thread that allocates). The signals computation allocates on many
/// threads (polars), and memory freed into one thread's arena is not reused
/// by another: on the 1M-order benchmark the cap at 2 lowers the peak by
/// about 60 MiB at no measurable cost. Call first in `main`, before other
/// threads start. Does nothing off glibc.
pub fn limit_malloc_arenas(n: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // the process starts other threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, n);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = n;
}

pub fn sqlite_queue_path(database_url: &str) -> Option<String> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") || database_url.contains("mode=memory") {
        return None;
    }
    Some(format!("{path}.jobs.db"))
}

/// Heartbeats a worker may miss before its jobs are run again.
const MISSED_HEARTBEATS: usize = 3;

fn pg_config(heartbeat: Duration) -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(RecomputeSignals::QUEUE)
        .batch_size(4)
        .heartbeat_interval(heartbeat)
        // A crashed worker's jobs go back to the queue after 3 heartbeats.
        .missed_heartbeats(MISSED_HEARTBEATS)
}

fn sqlite_config(heartbeat: Duration) -> apalis_sqlite::Config {
    apalis_sqlite::Config::default()
        .queue(RecomputeSignals::QUEUE)
        .batch_size(4)
        .heartbeat_interval(heartbeat)
        .missed_heartbeats(MISSED_HEARTBEATS)
}

impl Queue {
    /// Opens the queue for the app's database and creates its tables.
    pub async fn connect(app: &Ctx) -> anyhow::Result<Queue> {
        let url = &app.settings.database_url;
        if url.starts_with("sqlite:") {
            let opts = match sqlite_queue_path(url) {
                Some(path) => SqliteConnectOptions::new().filename(path),
                None => SqliteConnectOptions::from_str("sqlite::memory:")?,
            }
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
            let in_memory = sqlite_queue_path(url).is_none();
            let pool = SqlitePoolOptions::new()
                .max_connections(if in_memory { 1 } else { 4 })
                .connect_with(opts)
                .await
                .context("cannot open the SQLite job queue")?;
            SqliteStorage::setup(&pool)
                .await
                .context("cannot set up the SQLite job queue")?;
            Ok(Queue::Sqlite(pool))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(5)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await
                .context("cannot connect to PostgreSQL for the job queue")?;
            PostgresStorage::setup(&pool)
                .await
                .context("cannot set up the PostgreSQL job queue")?;
            Ok(Queue::Postgres(pool))
        }
    }

    /// Pushes a job keyed on its dedup key. Returns false when a job with
    /// that key was already queued (or done).
    pub async fn push(&self, job: &RecomputeSignals) -> anyhow::Result<bool> {
        let task = TaskBuilder::new(serde_json::to_vec(job)?)
            .task_id(TaskId::from_ulid(Ulid::generate()))
            .idempotency_key(&job.dedup_key)
            .max_attempts(MAX_ATTEMPTS)
            .build();
        match self {
            Queue::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                match apalis_postgres::queries::push_tasks(
                    &mut *conn,
                    RecomputeSignals::QUEUE,
                    vec![task],
                )
                .await
                {
                    Ok(()) => Ok(true),
                    Err(e) if pg_unique_violation(&e) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            Queue::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                // ON CONFLICT (job_type, idempotency_key) DO NOTHING
                apalis_sqlite::queries::push_tasks(&mut *conn, RecomputeSignals::QUEUE, &[task])
                    .await?;
                Ok(true)
            }
        }
    }
}

fn pg_unique_violation(e: &apalis_postgres::Error) -> bool {
    match e {
        apalis_postgres::Error::Database(sqlx::Error::Database(d)) => d.is_unique_violation(),
        _ => false,
    }
}

/// The job a business outbox row stands for.
fn job_of(row: &outbox::Model) -> RecomputeSignals {
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
    let trigger = payload["trigger"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| row.kind.clone());
    RecomputeSignals {
        trigger,
        dedup_key: row.dedup_key.clone(),
        requested_at: Some(salesguard_domain::clock::now()),
        as_of: None,
    }
}

/// One relay round: moves unrelayed outbox rows into the queue and marks
/// them relayed. Returns how many rows it handled.
pub async fn relay_once(app: &Ctx, queue: &Queue) -> anyhow::Result<usize> {
    match queue {
        Queue::Postgres(pool) => relay_once_pg(pool).await,
        Queue::Sqlite(_) => relay_once_sqlite(app, queue).await,
    }
}

/// PostgreSQL: queue and outbox are in one database, so the push and the
/// `relayed_at` mark are one transaction; relays running side by side skip
/// each other's rows.
async fn relay_once_pg(pool: &PgPool) -> anyhow::Result<usize> {
    use sqlx::Row;
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT id, kind, dedup_key, payload FROM outbox WHERE relayed_at IS NULL \
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(RELAY_BATCH as i64)
    .fetch_all(&mut *tx)
    .await?;
    let n = rows.len();
    for r in rows {
        let row = outbox::Model {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            dedup_key: r.try_get("dedup_key")?,
            payload: r.try_get("payload")?,
            created_at: chrono::DateTime::<chrono::Utc>::MIN_UTC,
            relayed_at: None,
        };
        if row.kind == RECOMPUTE_SIGNALS {
            let job = job_of(&row);
            let task = TaskBuilder::new(serde_json::to_vec(&job)?)
                .task_id(TaskId::from_ulid(Ulid::generate()))
                .idempotency_key(&job.dedup_key)
                .max_attempts(MAX_ATTEMPTS)
                .build();
            // A duplicate key aborts the statement: keep it in a savepoint.
            let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
            match apalis_postgres::queries::push_tasks(
                &mut *sp,
                RecomputeSignals::QUEUE,
                vec![task],
            )
            .await
            {
                Ok(()) => sp.commit().await?,
                Err(e) if pg_unique_violation(&e) => {
                    sp.rollback().await?;
                    tracing::debug!(key = %row.dedup_key, "outbox: job already queued");
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            tracing::warn!(id = row.id, kind = %row.kind, "outbox: unknown kind, dropped");
        }
        sqlx::query("UPDATE outbox SET relayed_at = now() WHERE id = $1")
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// SQLite: the queue is another file, so push first (idempotent by key),
/// then mark relayed; a crash in between relays the row again, harmlessly.
async fn relay_once_sqlite(app: &Ctx, queue: &Queue) -> anyhow::Result<usize> {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::RelayedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .limit(RELAY_BATCH)
        .all(&app.db.read)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    for row in &rows {
        if row.kind == RECOMPUTE_SIGNALS {
            queue.push(&job_of(row)).await?;
        } else {
            tracing::warn!(id = row.id, kind = %row.kind, "outbox: unknown kind, dropped");
        }
    }
    let txn = app.db.begin().await?;
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::RelayedAt,
            Expr::value(salesguard_domain::clock::now()),
        )
        .filter(outbox::Column::Id.is_in(rows.iter().map(|r| r.id)))
        .filter(outbox::Column::RelayedAt.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(rows.len())
}

async fn relay_loop(app: Ctx, queue: Queue, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(RELAY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        match relay_once(&app, &queue).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "outbox relayed"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "outbox relay failed"),
        }
    }
}

/// What one run of the job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Ran and recorded a finished `job_runs` row with this id.
    Done(i64),
    /// The key had a finished run already.
    AlreadyDone,
    /// A run that started after the job was queued had already done the
    /// work (recorded with this `job_runs` id, reading nothing).
    Covered(i64),
}

/// The signals computed by a run, for the caller (tests, the CLI).
#[derive(Debug, Clone, Default)]
pub struct RunFigures {
    pub rows_read: i64,
    /// Whether the run read all the data (no copy of it yet in this
    /// process, or too old) rather than what changed since the last run.
    pub full_read: bool,
    /// Whether the run started from the copy saved on disk (a process
    /// with no copy in memory yet), then read what changed since.
    pub from_disk: bool,
    pub applied: signals::store::Applied,
    pub load_ms: u128,
    pub compute_ms: u128,
    pub store_ms: u128,
}

/// Where the worker's copy is saved for this database: `None` with
/// `worker_keep_copy` off or `worker_copy_dir` empty, or when the database
/// cannot be told (logged; the copy then stays in memory).
async fn disk_copy(app: &Ctx) -> Option<signals::disk::DiskCopy> {
    let dir = &app.settings.worker_copy_dir;
    if !app.settings.worker_keep_copy || dir.is_empty() {
        return None;
    }
    match signals::disk::DiskCopy::open(std::path::Path::new(dir), &app.db.read).await {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "no copy on disk for this database"
            );
            None
        }
    }
}

/// Saves `snap` to `disk` when due (see `Snapshot::save_if_due`), off the
/// async threads; a failure is logged, not returned: the copy in memory and
/// the run's results stand without it. `None`: the save panicked and the
/// copy is lost (the next run reads everything).
async fn save_copy(
    mut snap: signals::snapshot::Snapshot,
    disk: Option<signals::disk::DiskCopy>,
    tz: chrono_tz::Tz,
) -> Option<signals::snapshot::Snapshot> {
    let dir = disk.as_ref().map(|d| d.dir().display().to_string());
    let (snap, saved) = match tokio::task::spawn_blocking(move || {
        let saved = snap.save_if_due(disk.as_ref(), tz);
        (snap, saved)
    })
    .await
    {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "saving the worker's copy panicked; the next run reads everything");
            return None;
        }
    };
    match saved {
        Some(Ok(s)) => tracing::info!(
            dir = dir.unwrap_or_default(),
            mib = s.bytes / (1 << 20),
            ms = s.took.as_millis() as u64,
            "the worker's copy was saved to disk"
        ),
        Some(Err(e)) => tracing::warn!(
            error = format!("{e:#}"),
            "the worker's copy could not be saved to disk"
        ),
        None => {}
    }
    Some(snap)
}

/// Loads, computes and stores the signals as of `as_of` inside one
/// transaction that also records the run. Returns the run id and figures.
pub async fn recompute_now(
    app: &Ctx,
    job: &RecomputeSignals,
    worker: &str,
) -> anyhow::Result<(i64, RunFigures)> {
    let started_at = salesguard_domain::clock::now();
    let as_of = job
        .as_of
        .unwrap_or_else(|| started_at.with_timezone(&app.tz).date_naive());
    // This process's copy of the data, brought up to date (one run at a
    // time per database; the copy moves to the computing thread and back).
    let slot = signals::snapshot::slot(&app.settings.database_url);
    let mut copy = slot.lock().await;
    let t0 = std::time::Instant::now();
    let disk = disk_copy(app).await;
    let read = signals::snapshot::refresh(&mut copy, &app.db.read, app.tz, disk.as_ref()).await?;
    let load_ms = t0.elapsed().as_millis();
    let t1 = std::time::Instant::now();
    let th = app.settings.signals.clone();
    let snap = copy.take().context("no copy of the data after a refresh")?;
    let (snap, computed, compute_time) = tokio::task::spawn_blocking(move || {
        let computed = signals::compute(&snap.inputs, as_of, &th);
        (snap, computed, t1.elapsed())
    })
    .await
    .context("the computation panicked")?;
    let compute_ms = compute_time.as_millis();
    let rows_read = i64::try_from(read.rows()).unwrap_or(i64::MAX);
    let t2 = std::time::Instant::now();
    let stored = match computed {
        Ok(computed) => store_run(app, job, worker, started_at, rows_read, &computed).await,
        Err(e) => Err(e),
    };
    let store_ms = t2.elapsed().as_millis();
    // The copy is saved to disk only once the signals are stored, so they
    // are not held up by it (seconds at 1M orders); the next run on this
    // database waits for it. The copy is kept whether or not the run's
    // results could be stored.
    let snap = match &stored {
        Ok(_) => save_copy(snap, disk, app.tz).await,
        Err(_) => Some(snap),
    };
    if app.settings.worker_keep_copy {
        *copy = snap;
    }
    drop(copy);
    let (run_id, applied) = stored?;
    let full_read = matches!(read, signals::snapshot::Refresh::Full { .. });
    let from_disk = matches!(read, signals::snapshot::Refresh::Restored { .. });
    tracing::info!(
        run = run_id,
        full_read,
        from_disk,
        rows_read,
        read_ms = load_ms,
        compute_ms,
        raised = applied.raised,
        cleared = applied.cleared,
        "signals computed"
    );
    Ok((
        run_id,
        RunFigures {
            rows_read,
            full_read,
            from_disk,
            applied,
            load_ms,
            compute_ms,
            store_ms,
        },
    ))
}

/// Stores `computed` and records the run, in one transaction. Returns the
/// run's id and what was applied.
async fn store_run(
    app: &Ctx,
    job: &RecomputeSignals,
    worker: &str,
    started_at: chrono::DateTime<chrono::Utc>,
    rows_read: i64,
    computed: &[signals::Signal],
) -> anyhow::Result<(i64, signals::store::Applied)> {
    let txn = app.db.begin().await?;
    let run = job_run::ActiveModel {
        job: Set(RecomputeSignals::JOB.into()),
        trigger: Set(job.trigger.clone()),
        dedup_key: Set(job.dedup_key.clone()),
        started_at: Set(started_at),
        finished_at: Set(None),
        worker: Set(worker.to_owned()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let now = salesguard_domain::clock::now();
    let applied = signals::store::apply(&txn, computed, now, Some(run.id)).await?;
    let mut am: job_run::ActiveModel = run.into();
    am.finished_at = Set(Some(salesguard_domain::clock::now()));
    am.rows_read = Set(Some(rows_read));
    am.signals_raised = Set(Some(applied.raised));
    am.signals_cleared = Set(Some(applied.cleared));
    let run = am.update(&txn).await?;
    txn.commit().await?;
    Ok((run.id, applied))
}

/// The job: recomputes the risk signals for `job.dedup_key`, recorded in
/// `job_runs` in the same transaction as the signals. Idempotent per dedup
/// key; a job queued before a later successful run started is covered by
/// it.
pub async fn recompute_signals(
    app: &Ctx,
    job: &RecomputeSignals,
    worker: &str,
) -> anyhow::Result<RunOutcome> {
    let finished = || {
        job_run::Entity::find()
            .filter(job_run::Column::Job.eq(RecomputeSignals::JOB))
            .filter(job_run::Column::FinishedAt.is_not_null())
            .filter(job_run::Column::Error.is_null())
    };
    if finished()
        .filter(job_run::Column::DedupKey.eq(job.dedup_key.clone()))
        .count(&app.db.read)
        .await?
        > 0
    {
        return Ok(RunOutcome::AlreadyDone);
    }
    if let (Some(at), None) = (job.requested_at, job.as_of) {
        let later = finished()
            .filter(job_run::Column::StartedAt.gt(at))
            .filter(job_run::Column::RowsRead.gt(0))
            .order_by_asc(job_run::Column::Id)
            .one(&app.db.read)
            .await?;
        if let Some(later) = later {
            let now = salesguard_domain::clock::now();
            let covered = job_run::ActiveModel {
                job: Set(RecomputeSignals::JOB.into()),
                trigger: Set(format!("{} (covered by run {})", job.trigger, later.id)),
                dedup_key: Set(job.dedup_key.clone()),
                started_at: Set(now),
                finished_at: Set(Some(now)),
                rows_read: Set(Some(0)),
                signals_raised: Set(Some(0)),
                signals_cleared: Set(Some(0)),
                worker: Set(worker.to_owned()),
                ..Default::default()
            };
            return match covered.insert(&app.db.write).await {
                Ok(m) => Ok(RunOutcome::Covered(m.id)),
                Err(e) if salesguard_entities::db::is_unique_violation(&e) => {
                    Ok(RunOutcome::AlreadyDone)
                }
                Err(e) => Err(e.into()),
            };
        }
    }
    match recompute_now(app, job, worker).await {
        Ok((id, _)) => Ok(RunOutcome::Done(id)),
        Err(e) => {
            // Another worker finished the same key meanwhile (unique index
            // `job_runs_done`).
            if let Some(db) = e.downcast_ref::<sea_orm::DbErr>() {
                if salesguard_entities::db::is_unique_violation(db) {
                    return Ok(RunOutcome::AlreadyDone);
                }
            }
            let failed = job_run::ActiveModel {
                job: Set(RecomputeSignals::JOB.into()),
                trigger: Set(job.trigger.clone()),
                dedup_key: Set(job.dedup_key.clone()),
                started_at: Set(salesguard_domain::clock::now()),
                finished_at: Set(Some(salesguard_domain::clock::now())),
                error: Set(Some(format!("{e:#}"))),
                worker: Set(worker.to_owned()),
                ..Default::default()
            };
            if let Err(e2) = failed.insert(&app.db.write).await {
                tracing::warn!(error = %e2, "cannot record the failed job run");
            }
            Err(e.context("recompute_signals"))
        }
    }
}

async fn handle(
    job: RecomputeSignals,
    attempt: Attempt,
    wrk: WorkerContext,
    app: Data<Ctx>,
) -> Result<(), BoxDynError> {
    match recompute_signals(&app, &job, wrk.name()).await {
        Ok(RunOutcome::Done(id)) => {
            tracing::info!(key = %job.dedup_key, trigger = %job.trigger, run = id, "signals recomputed");
            Ok(())
        }
        Ok(RunOutcome::Covered(id)) => {
            tracing::info!(key = %job.dedup_key, run = id, "covered by a later run");
            Ok(())
        }
        Ok(RunOutcome::AlreadyDone) => {
            tracing::info!(key = %job.dedup_key, "signals already recomputed for this key");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(key = %job.dedup_key, attempt = attempt.current(), error = %format!("{e:#}"), "recompute_signals failed");
            Err(format!("{e:#}").into())
        }
    }
}

/// A cron schedule of the job.
#[derive(Clone, Debug)]
pub struct CronLabel(pub String);

async fn on_tick(
    tick: Tick<Tz>,
    queue: Data<Queue>,
    label: Data<CronLabel>,
) -> Result<(), BoxDynError> {
    let label: &CronLabel = &label;
    // Every replica fires every tick; the key makes it one job.
    let job = RecomputeSignals {
        trigger: format!("cron:{}", label.0),
        dedup_key: format!("signals:tick:{}", tick.get_timestamp()),
        requested_at: Some(salesguard_domain::clock::now()),
        as_of: None,
    };
    match queue.push(&job).await {
        Ok(true) => tracing::info!(key = %job.dedup_key, "scheduled signal recomputation queued"),
        Ok(false) => {
            tracing::debug!(key = %job.dedup_key, "tick already queued by another replica")
        }
        Err(e) => {
            tracing::warn!(key = %job.dedup_key, error = %format!("{e:#}"), "cannot queue the scheduled job");
            return Err(format!("{e:#}").into());
        }
    }
    Ok(())
}

/// Parses the cron expressions (seconds first: `sec min hour dom month dow`).
pub fn schedules(exprs: &[String]) -> anyhow::Result<Vec<(String, cron::Schedule)>> {
    exprs
        .iter()
        .map(|e| {
            let s = cron::Schedule::from_str(e.trim())
                .with_context(|| format!("invalid cron expression `{e}` in signals_cron"))?;
            Ok((e.trim().to_owned(), s))
        })
        .collect()
}

/// A worker name unique per process start: a restarted process must not
/// take over the name (and so the locked jobs) of the one that crashed.
fn worker_name(role: &str) -> String {
    format!(
        "salesguard-{role}-{}-{}",
        std::process::id(),
        Ulid::generate().to_string().to_lowercase()
    )
}

/// Runs the outbox relay, the cron schedules and the job worker until
/// `shutdown` completes; in-flight jobs get 30 s to finish.
pub async fn run<F>(app: Ctx, shutdown: F) -> anyhow::Result<()>
where
    F: Future + Send,
{
    let schedules = schedules(&app.settings.signals_cron)?;
    let queue = Queue::connect(&app).await?;
    let tz = app.tz;
    let heartbeat = Duration::from_secs(app.settings.worker_heartbeat_secs);
    let backoff = ExponentialBackoffMaker::new(
        Duration::from_millis(500),
        Duration::from_secs(30),
        0.1,
        HasherRng::default(),
    )
    .map_err(|e| anyhow::anyhow!("retry backoff: {e}"))?;
    let policy = move || RetryPolicy::retries(RETRIES).with_backoff(backoff.clone().make_backoff());

    let mut monitor = Monitor::new();
    let name = worker_name("signals");
    tracing::info!(worker = %name, queue = RecomputeSignals::QUEUE, "job worker starting");
    match &queue {
        Queue::Postgres(pool) => {
            let storage =
                PostgresStorage::<RecomputeSignals>::new(pool).with_config(pg_config(heartbeat));
            let app = app.clone();
            monitor = monitor.register(move |_| {
                WorkerBuilder::new(name.clone())
                    .backend(
                        storage
                            .clone()
                            .with_pubsub()
                            .poll_with_strategy(Strategy::new().interval(POLL_INTERVAL)),
                    )
                    .concurrency(2)
                    .retry(policy())
                    .data(app.clone())
                    .build(handle)
            });
        }
        Queue::Sqlite(pool) => {
            let storage =
                SqliteStorage::<RecomputeSignals>::new(pool).with_config(sqlite_config(heartbeat));
            let app = app.clone();
            monitor = monitor.register(move |_| {
                WorkerBuilder::new(name.clone())
                    .backend(storage.clone().poll_with_interval(POLL_INTERVAL))
                    .concurrency(2)
                    .retry(policy())
                    .data(app.clone())
                    .build(handle)
            });
        }
    }
    for (i, (expr, schedule)) in schedules.into_iter().enumerate() {
        let name = worker_name(&format!("cron{i}"));
        let queue = queue.clone();
        tracing::info!(schedule = %expr, timezone = %tz, "signal recomputation scheduled");
        monitor = monitor.register(move |_| {
            WorkerBuilder::new(name.clone())
                .backend(CronScheduler::new(schedule.clone()).with_timezone(tz))
                .data(queue.clone())
                .data(CronLabel(expr.clone()))
                .build(on_tick)
        });
    }
    if app.settings.report.enabled {
        let expr = app.settings.report.cron.trim().to_owned();
        let schedule = cron::Schedule::from_str(&expr)
            .with_context(|| format!("invalid cron expression `{expr}` in report.cron"))?;
        let name = worker_name("report");
        let app = app.clone();
        tracing::info!(schedule = %expr, timezone = %tz, "weekly risk report scheduled");
        monitor = monitor.register(move |_| {
            WorkerBuilder::new(name.clone())
                .backend(CronScheduler::new(schedule.clone()).with_timezone(tz))
                .data(app.clone())
                .build(report::on_tick)
        });
    }
    let monitor = monitor.shutdown_timeout(Duration::from_secs(30));

    let (stop_tx, stop_rx) = watch::channel(false);
    let deliveries = tokio::spawn(report::delivery_loop(app.clone(), stop_rx.clone()));
    let relay = tokio::spawn(relay_loop(app.clone(), queue.clone(), stop_rx));
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        Ok(())
    };
    let result = monitor.run_with_signal(signal).await;
    let _ = relay.await;
    let _ = deliveries.await;
    result.map_err(|e| anyhow::anyhow!("job worker: {e}"))?;
    tracing::info!("job worker stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_file_sits_next_to_the_database() {
        assert_eq!(
            sqlite_queue_path("sqlite://salesguard.db?mode=rwc").as_deref(),
            Some("salesguard.db.jobs.db")
        );
        assert_eq!(
            sqlite_queue_path("sqlite:///var/lib/sg/data.db").as_deref(),
            Some("/var/lib/sg/data.db.jobs.db")
        );
        assert_eq!(sqlite_queue_path("sqlite::memory:"), None);
    }

    #[test]
    fn default_schedules_parse() {
        let s = schedules(&["0 */15 * * * *".into(), "0 0 7 * * *".into()]).unwrap();
        assert_eq!(s.len(), 2);
        assert!(schedules(&["every day".into()]).is_err());
    }
}
