//! `sg_guard(hit, expected)`: PostgreSQL only. A workflow step whose only
//! write is one statement (`api::deferred`) runs it without `BEGIN` and
//! `COMMIT`: the statement is its own transaction. Its guarded updates (the
//! order at the version read, the audit stream's head at the sequence read)
//! must then all hit, or nothing of the statement may stay: the function
//! raises `SG409` when they do not, and the statement rolls back whole.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE FUNCTION sg_guard(hit BIGINT, expected BIGINT) RETURNS BIGINT \
                 LANGUAGE plpgsql VOLATILE AS $$ BEGIN \
                   IF hit IS DISTINCT FROM expected THEN \
                     RAISE EXCEPTION 'guarded write missed: % of % rows', hit, expected \
                       USING ERRCODE = 'SG409'; \
                   END IF; \
                   RETURN hit; \
                 END $$",
            )
            .await?;
        Ok(())
    }
}
