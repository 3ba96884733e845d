//! The job itself: load, compute and store the signals in the transaction
//! that records the run, idempotent per dedup key.
use anyhow::Context;
use apalis::prelude::*;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use salesguard_entities::model::job_run;

use crate::{signals, Ctx, RecomputeSignals};

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

pub(crate) async fn handle(
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
