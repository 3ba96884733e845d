//! Database pools. On SQLite the business data runs in WAL mode with
//! `synchronous = FULL` (a committed payment survives a power loss), and all
//! writes go through one connection (SQLite has one writer anyway; queueing in
//! the pool is cheaper than busy-waiting on the file lock). Reads use a pool
//! of their own. On PostgreSQL both are the same pool.
pub mod group_commit;
pub mod pgcopy;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use salesguard_migrations::MigratorTrait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, SqlxPostgresConnector, SqlxSqliteConnector, Statement,
    TransactionOptions, TransactionTrait,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use group_commit::{GroupCommit, Member};

/// A pooled PostgreSQL connection idle at least this long is pinged before
/// it is handed out.
const PING_IDLE_AFTER: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Db {
    pub read: DatabaseConnection,
    pub write: DatabaseConnection,
    /// SQLite: the workflow's steps commit in groups (`group_commit.rs`).
    group: Option<Arc<GroupCommit>>,
    /// SQLite in memory: `read` is the write connection.
    shared_read: bool,
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
                shared_read: in_memory,
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
                shared_read: false,
            })
        }
    }

    /// The same database with SQLite's group commit off: every step
    /// commits on its own.
    pub fn without_group_commit(mut self) -> Db {
        self.group = None;
        self
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

    /// Where a step whose only write is its deferred statement
    /// (one the domain decides, `workflow::Written`) reads, when it runs without a
    /// transaction of its own (`StepConn::Single`): PostgreSQL's pool;
    /// SQLite's read pool, its write going to the open group in one trip
    /// ([`Db::write_step`]). `None`: SQLite in memory, whose read handle is
    /// the write connection (a read there would wait for the group).
    pub fn single_step_reads(&self) -> Option<DatabaseConnection> {
        match (self.backend(), self.shared_read) {
            (DbBackend::Sqlite, true) => None,
            (DbBackend::Sqlite, false) => Some(self.read.clone()),
            _ => Some(self.write.clone()),
        }
    }

    /// Runs a single-statement step's write on SQLite: `check` returns a
    /// row when every guard of the step holds, then `batch` writes;
    /// `Ok(None)` when a guard missed and nothing was written. In the open
    /// group ([`GroupCommit::write`]), answered once the group's commit is
    /// on disk; without group commit, in a write transaction of its own.
    /// In a task of its own: a request that goes away half-way cannot leave
    /// the connection in the middle of the step.
    pub async fn write_step(
        &self,
        check: Statement,
        batch: Statement,
    ) -> Result<Option<Vec<QueryResult>>, DbErr> {
        let db = self.clone();
        let Some(group) = self.group.clone() else {
            return tokio::spawn(async move {
                let txn = db.begin().await?;
                if txn.query_one_raw(check).await?.is_none() {
                    txn.rollback().await?;
                    return Ok(None);
                }
                let rows = txn.query_all_raw(batch).await?;
                txn.commit().await?;
                Ok(Some(rows))
            })
            .await
            .map_err(|e| DbErr::Custom(format!("the step's write stopped: {e}")))?;
        };
        tokio::spawn(async move {
            group
                .write(move || async move { db.begin().await }, check, batch)
                .await
        })
        .await
        .map_err(|e| DbErr::Custom(format!("the step's write stopped: {e}")))?
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

/// Where a workflow step's statements go.
pub enum StepConn {
    /// Its transaction (on SQLite a savepoint in a group).
    Txn(DatabaseTransaction),
    /// PostgreSQL, a step whose only write is its deferred statement
    /// (`deferred.rs`): no `BEGIN`, no `COMMIT`, no lock. It reads what it
    /// needs as committed, and its one write statement is its own
    /// transaction, guarded: it takes effect only if the order and the audit
    /// stream are still at the versions read, else nothing of it stays
    /// (`sg_guard`). Anything else that would write is refused.
    Single(DatabaseConnection),
}

impl StepConn {
    pub fn is_single(&self) -> bool {
        matches!(self, StepConn::Single(_))
    }

    /// Refuses, in a single-statement step, a statement that is not a plain
    /// read: it would commit on its own, apart from the step's write.
    fn read_only(&self, sql: &str) -> Result<(), DbErr> {
        let head = sql.trim_start().get(..6).unwrap_or_default();
        if self.is_single() && !head.eq_ignore_ascii_case("SELECT") {
            return Err(DbErr::Custom(format!(
                "a single-statement step may only read before its write: {}",
                sql.chars().take(60).collect::<String>()
            )));
        }
        Ok(())
    }
}

#[sea_orm::prelude::async_trait::async_trait]
impl ConnectionTrait for StepConn {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            StepConn::Txn(t) => t.get_database_backend(),
            StepConn::Single(c) => c.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.read_only(&stmt.sql)?;
        match self {
            StepConn::Txn(t) => t.execute_raw(stmt).await,
            StepConn::Single(c) => c.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.read_only(sql)?;
        match self {
            StepConn::Txn(t) => t.execute_unprepared(sql).await,
            StepConn::Single(c) => c.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.read_only(&stmt.sql)?;
        match self {
            StepConn::Txn(t) => t.query_one_raw(stmt).await,
            StepConn::Single(c) => c.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.read_only(&stmt.sql)?;
        match self {
            StepConn::Txn(t) => t.query_all_raw(stmt).await,
            StepConn::Single(c) => c.query_all_raw(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        match self {
            StepConn::Txn(t) => t.support_returning(),
            StepConn::Single(c) => c.support_returning(),
        }
    }
}

/// The SQLSTATE of a database error, if it has one.
pub fn sqlstate(err: &DbErr) -> Option<String> {
    match err {
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => match &**e {
            sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// Raised by `sg_guard` when a single-statement step's guarded write missed.
pub const GUARD_MISSED: &str = "SG409";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_single_statement_step_may_only_read_on_its_own() {
        let db = Db::connect("sqlite::memory:", 1).await.expect("db");
        let conn = StepConn::Single(db.write.clone());
        for sql in [
            "INSERT INTO t VALUES (1)",
            "  update t SET n = 2",
            "DELETE FROM t",
            "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
        ] {
            let err = conn.execute_unprepared(sql).await.err();
            assert!(
                err.is_some_and(|e| e.to_string().contains("may only read")),
                "{sql} refused"
            );
        }
        let row = conn
            .query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT 1 AS n"))
            .await
            .expect("a read runs")
            .expect("a row");
        assert_eq!(row.try_get::<i64>("", "n").expect("n"), 1);
    }
}
