//! The head (last sequence number and hash) of every audit stream, one row
//! per stream. Appending locks only its stream's head row, so concurrent
//! writers of one stream queue instead of colliding, writers of different
//! streams never wait for each other, and removing the last records of a
//! stream is detected.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DDL: &[&str] = &[
    "CREATE TABLE audit_heads (
        stream TEXT NOT NULL PRIMARY KEY,
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    )",
    "INSERT INTO audit_heads (stream, seq, hash)
        SELECT a.stream, a.seq, a.hash FROM audit_log a
        WHERE a.seq = (SELECT MAX(b.seq) FROM audit_log b WHERE b.stream = a.stream)",
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
