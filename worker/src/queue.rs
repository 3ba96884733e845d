//! The job queue: on PostgreSQL in the business database (schema
//! `apalis`, own pool), on SQLite in a file of its own next to the business
//! database.
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use apalis::prelude::*;
use apalis_postgres::{PgPool, PostgresStorage};
use apalis_sqlite::SqliteStorage;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use ulid::Ulid;

use crate::{Ctx, RecomputeSignals, MAX_ATTEMPTS};

/// The job queue: a pool of its own, on the backend of the business data.
#[derive(Clone)]
pub enum Queue {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Where the SQLite job queue of a business database lives: a file next to
/// it (`<db>.jobs.db`); `None` for an in-memory database.
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

pub(crate) fn pg_config(heartbeat: Duration) -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(RecomputeSignals::QUEUE)
        .batch_size(4)
        .heartbeat_interval(heartbeat)
        // A crashed worker's jobs go back to the queue after 3 heartbeats.
        .missed_heartbeats(MISSED_HEARTBEATS)
}

pub(crate) fn sqlite_config(heartbeat: Duration) -> apalis_sqlite::Config {
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

pub(crate) fn pg_unique_violation(e: &apalis_postgres::Error) -> bool {
    match e {
        apalis_postgres::Error::Database(sqlx::Error::Database(d)) => d.is_unique_violation(),
        _ => false,
    }
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
}
