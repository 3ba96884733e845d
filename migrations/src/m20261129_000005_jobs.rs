//! Background jobs: the transactional outbox (rows written in the business
//! transaction, relayed to the job queue by the worker) and the record of
//! every job run.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DDL: &[&str] = &[
    "CREATE TABLE outbox (
        id {pk},
        kind TEXT NOT NULL,
        dedup_key TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        created_at {ts} NOT NULL,
        relayed_at {ts} NULL
    )",
    "CREATE INDEX outbox_unrelayed ON outbox(id) WHERE relayed_at IS NULL",
    "CREATE TABLE job_runs (
        id {pk},
        job TEXT NOT NULL,
        trigger TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        started_at {ts} NOT NULL,
        finished_at {ts} NULL,
        rows_read BIGINT NULL,
        signals_raised BIGINT NULL,
        signals_cleared BIGINT NULL,
        error TEXT NULL,
        worker TEXT NOT NULL
    )",
    // A job's work is done once per key: at most one successful run.
    "CREATE UNIQUE INDEX job_runs_done ON job_runs(job, dedup_key)
        WHERE finished_at IS NOT NULL AND error IS NULL",
    "CREATE INDEX job_runs_key ON job_runs(dedup_key)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let conn = manager.get_connection();
        for ddl in DDL {
            conn.execute_unprepared(&crate::render_ddl(backend, ddl))
                .await?;
        }
        Ok(())
    }
}
