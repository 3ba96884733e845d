//! A random token made once when the database is created. The risk worker
//! names its copy of the data on disk by it (with the database URL), so a
//! copy is never applied to another database, nor to a database dropped and
//! created again under the same name.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        conn.execute_unprepared(
            "CREATE TABLE database_identity (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                token TEXT NOT NULL
            )",
        )
        .await?;
        let token = match manager.get_database_backend() {
            DbBackend::Postgres => {
                "md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text)"
            }
            _ => "lower(hex(randomblob(16)))",
        };
        conn.execute_unprepared(&format!(
            "INSERT INTO database_identity (id, token) VALUES (1, {token})"
        ))
        .await?;
        Ok(())
    }
}
