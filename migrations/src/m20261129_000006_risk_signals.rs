//! The risk signals (SPEC S1.1, docs/signals.md): one row per signal, open
//! while its condition holds (at most one open row per fingerprint), cleared
//! with the time it stopped holding; every raise, change of severity and
//! clearing is kept in `risk_signal_changes`.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DDL: &[&str] = &[
    "CREATE TABLE risk_signals (
        id {pk},
        fingerprint TEXT NOT NULL,
        kind TEXT NOT NULL,
        rule TEXT NOT NULL,
        subject_type TEXT NOT NULL,
        subject_id BIGINT NULL,
        subject_label TEXT NOT NULL,
        region_id BIGINT NULL REFERENCES regions(id),
        agent_id BIGINT NULL REFERENCES agents(id),
        salesperson_id BIGINT NULL REFERENCES users(id),
        product_id BIGINT NULL REFERENCES products(id),
        period_start {date} NOT NULL,
        period_end {date} NOT NULL,
        severity TEXT NOT NULL,
        peak_severity TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        threshold DOUBLE PRECISION NOT NULL,
        unit TEXT NOT NULL,
        formula TEXT NOT NULL,
        summary TEXT NOT NULL,
        evidence TEXT NOT NULL,
        raised_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        cleared_at {ts} NULL,
        run_id BIGINT NULL
    )",
    "CREATE UNIQUE INDEX risk_signals_open ON risk_signals(fingerprint) WHERE cleared_at IS NULL",
    "CREATE INDEX risk_signals_region ON risk_signals(region_id, raised_at)",
    "CREATE INDEX risk_signals_kind ON risk_signals(kind, severity)",
    "CREATE TABLE risk_signal_changes (
        id {pk},
        signal_id BIGINT NOT NULL REFERENCES risk_signals(id),
        change TEXT NOT NULL,
        severity TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        at {ts} NOT NULL,
        run_id BIGINT NULL
    )",
    "CREATE INDEX risk_signal_changes_signal ON risk_signal_changes(signal_id, id)",
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
