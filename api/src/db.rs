//! Database pools. On SQLite the business data runs in WAL mode with
//! `synchronous = FULL` (a committed payment survives a power loss), and all
//! writes go through one connection (SQLite has one writer anyway; queueing in
//! the pool is cheaper than busy-waiting on the file lock). Reads use a pool
//! of their own. On PostgreSQL both are the same pool.
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use salesguard_migrations::MigratorTrait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, SqlxPostgresConnector, SqlxSqliteConnector, TransactionOptions,
    TransactionTrait,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::group_commit::{GroupCommit, Member};

/// A pooled PostgreSQL connection idle at least this long is pinged before
/// it is handed out.
const PING_IDLE_AFTER: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Db {
    pub read: DatabaseConnection,
    pub write: DatabaseConnection,
    /// SQLite: the workflow's steps commit in groups (`group_commit.rs`).
    group: Option<Arc<GroupCommit>>,
}

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .context("invalid SQLite database URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let write_pool = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts.clone())
                .await
                .context("cannot open the SQLite database")?;
            let write = SqlxSqliteConnector::from_sqlx_sqlite_pool(write_pool);
            let read = if in_memory {
                // Every connection to :memory: is a database of its own.
                write.clone()
            } else {
                let read_pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts)
                    .await
                    .context("cannot open the SQLite database")?;
                SqlxSqliteConnector::from_sqlx_sqlite_pool(read_pool)
            };
            Ok(Db {
                read,
                write,
                group: Some(Arc::default()),
            })
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(30))
                // sqlx pings every connection it hands out: a round trip per
                // statement outside a transaction and per transaction. Ping
                // only connections that sat idle a while, which is when a
                // server restart or a dropped link goes unnoticed.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_IDLE_AFTER {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect(url)
                .await
                .context("cannot connect to PostgreSQL")?;
            let conn = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
            Ok(Db {
                read: conn.clone(),
                write: conn,
                group: None,
            })
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.write.get_database_backend()
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        salesguard_migrations::Migrator::up(&self.write, None)
            .await
            .context("database migration failed")
    }

    /// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`, so a
    /// transaction that reads and then writes cannot fail half-way on a lock.
    pub async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        match self.backend() {
            DbBackend::Sqlite => {
                self.write
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await
            }
            _ => self.write.begin().await,
        }
    }

    /// Begins a workflow step's write transaction: a transaction of its own
    /// on PostgreSQL, a savepoint in a group on SQLite. End it with
    /// [`finish_step`].
    pub async fn begin_step(&self) -> Result<(DatabaseTransaction, Option<Member>), DbErr> {
        match &self.group {
            Some(group) => {
                let (txn, member) = group.join(|| self.begin()).await?;
                Ok((txn, Some(member)))
            }
            None => Ok((self.begin().await?, None)),
        }
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.read.execute_unprepared("SELECT 1").await.map(|_| ())
    }
}

/// Ends a step begun with [`Db::begin_step`]: commits it (`keep`) or rolls
/// it back. Ok when a kept step is on disk.
pub async fn finish_step(
    txn: DatabaseTransaction,
    member: Option<Member>,
    keep: bool,
) -> Result<(), DbErr> {
    match member {
        Some(member) => member.finish(txn, keep).await,
        None if keep => txn.commit().await,
        None => txn.rollback().await,
    }
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
