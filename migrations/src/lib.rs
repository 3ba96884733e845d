//! Database migrations. Append-only: never edit a migration that has been applied;
//! add a new one instead.
pub use sea_orm_migration::prelude::*;

mod m20261129_000001_foundation;
mod m20261129_000002_audit_heads;
mod m20261129_000003_forecasts_serials;
mod m20261129_000004_market_data;
mod m20261129_000005_jobs;
mod m20261129_000006_risk_signals;
mod m20261129_000007_metrics;
mod m20261129_000008_reports;
mod m20261129_000009_ar_entries;
mod m20261129_000010_database_identity;
mod m20261129_000011_lean_steps;
mod m20261130_000012_step_guard;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_foundation::Migration),
            Box::new(m20261129_000002_audit_heads::Migration),
            Box::new(m20261129_000003_forecasts_serials::Migration),
            Box::new(m20261129_000004_market_data::Migration),
            Box::new(m20261129_000005_jobs::Migration),
            Box::new(m20261129_000006_risk_signals::Migration),
            Box::new(m20261129_000007_metrics::Migration),
            Box::new(m20261129_000008_reports::Migration),
            Box::new(m20261129_000009_ar_entries::Migration),
            Box::new(m20261129_000010_database_identity::Migration),
            Box::new(m20261129_000011_lean_steps::Migration),
            Box::new(m20261130_000012_step_guard::Migration),
        ]
    }
}

/// Runs portable DDL statements (see [`render_ddl`]) in order.
pub(crate) async fn run_ddl(manager: &SchemaManager<'_>, ddl: &[&str]) -> Result<(), DbErr> {
    let backend = manager.get_database_backend();
    let conn = manager.get_connection();
    for d in ddl {
        conn.execute_unprepared(&render_ddl(backend, d)).await?;
    }
    Ok(())
}

/// Renders portable DDL for the connected backend. The DDL uses four placeholders:
/// `{pk}` an auto-increment 64-bit primary key, `{ts}` a UTC timestamp,
/// `{date}` a calendar date and `{bool}` a boolean.
pub(crate) fn render_ddl(backend: sea_orm_migration::sea_orm::DbBackend, ddl: &str) -> String {
    use sea_orm_migration::sea_orm::DbBackend;
    let (pk, ts, date) = match backend {
        DbBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "TIMESTAMPTZ", "DATE"),
        _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT", "TEXT"),
    };
    ddl.replace("{pk}", pk)
        .replace("{ts}", ts)
        .replace("{date}", date)
        .replace("{bool}", "BOOLEAN")
}
