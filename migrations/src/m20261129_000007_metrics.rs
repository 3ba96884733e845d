//! The business day an order shipped (`sales_orders.shipped_on`, in the
//! company's time zone), so that the metrics sum sales by day, week, month
//! and quarter from the orders alone, in SQL on both databases. Orders
//! shipped before this migration are filled in by the application at start
//! (it knows the time zone).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DDL: &[&str] = &[
    "ALTER TABLE sales_orders ADD COLUMN shipped_on {date} NULL",
    "CREATE INDEX sales_orders_shipped_on ON sales_orders(shipped_on)",
    "CREATE INDEX payments_received_on ON payments(received_on, order_id)",
    "CREATE INDEX sell_through_sold_on ON sell_through(sold_on, agent_id)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(manager, DDL).await
    }
}
