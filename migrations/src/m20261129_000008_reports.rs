//! The weekly risk reports for managers: one report per manager
//! and week (the HTML with its charts, the open signals as CSV, the headline
//! figures), the regions each report covers, and its e-mail delivery with
//! every attempt counted and the last error kept (a delivery is never lost
//! silently: it stays PENDING, RETRYING or FAILED until it is SENT).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DDL: &[&str] = &[
    "CREATE TABLE weekly_reports (
        id {pk},
        week_start {date} NOT NULL,
        week_end {date} NOT NULL,
        recipient_id BIGINT NOT NULL REFERENCES users(id),
        all_regions {bool} NOT NULL,
        language TEXT NOT NULL,
        subject TEXT NOT NULL,
        figures TEXT NOT NULL,
        html TEXT NOT NULL,
        images TEXT NOT NULL,
        signals_csv TEXT NOT NULL,
        created_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX weekly_reports_week ON weekly_reports(recipient_id, week_start)",
    "CREATE INDEX weekly_reports_created ON weekly_reports(week_start, id)",
    "CREATE TABLE weekly_report_regions (
        report_id BIGINT NOT NULL REFERENCES weekly_reports(id),
        region_id BIGINT NOT NULL REFERENCES regions(id),
        PRIMARY KEY (report_id, region_id)
    )",
    "CREATE TABLE report_deliveries (
        id {pk},
        report_id BIGINT NOT NULL REFERENCES weekly_reports(id),
        email TEXT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT NULL,
        next_attempt_at {ts} NULL,
        lease_until {ts} NULL,
        sent_at {ts} NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX report_deliveries_report ON report_deliveries(report_id)",
    "CREATE INDEX report_deliveries_due ON report_deliveries(status, next_attempt_at)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(manager, DDL).await
    }
}
