//! The movements of accounts receivable (`ar_entries`), one narrow table the
//! metrics sum for AR, aging and DSO at any day without re-reading every
//! order and payment (docs/metrics.md). Written in the same transaction as
//! the shipment and the payments of an order that has a receivable; entries
//! of orders shipped before this migration are filled in by the application
//! at start (after their business day of shipment is known).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DDL: &[&str] = &[
    "CREATE TABLE ar_entries (
        id {pk},
        order_id BIGINT NOT NULL REFERENCES sales_orders(id),
        region_id BIGINT NOT NULL REFERENCES regions(id),
        agent_id BIGINT NOT NULL REFERENCES agents(id),
        salesperson_id BIGINT NOT NULL REFERENCES users(id),
        due_on {date} NOT NULL,
        entry_on {date} NOT NULL,
        amount_fen BIGINT NOT NULL
    )",
    "CREATE INDEX ar_entries_order ON ar_entries(order_id)",
    "CREATE INDEX ar_entries_entry_on ON ar_entries(entry_on)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(manager, DDL).await
    }
}
