//! Inputs of the risk signals (SPEC S1.1, S4): salespeople's forecasts per
//! month, region and product; the serial number of every unit shipped, tied
//! to the agent and region it was shipped to.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DDL: &[&str] = &[
    "CREATE TABLE forecasts (
        id {pk},
        period TEXT NOT NULL,
        region_id BIGINT NOT NULL REFERENCES regions(id),
        product_id BIGINT NOT NULL REFERENCES products(id),
        salesperson_id BIGINT NOT NULL REFERENCES users(id),
        quantity BIGINT NOT NULL CHECK (quantity >= 0),
        submitted_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        UNIQUE (period, region_id, product_id, salesperson_id)
    )",
    "CREATE INDEX forecasts_region_period ON forecasts(region_id, period)",
    "CREATE TABLE serial_units (
        id {pk},
        serial TEXT NOT NULL UNIQUE,
        product_id BIGINT NOT NULL REFERENCES products(id),
        order_id BIGINT NOT NULL REFERENCES sales_orders(id),
        shipment_id BIGINT NOT NULL REFERENCES shipments(id),
        agent_id BIGINT NOT NULL REFERENCES agents(id),
        region_id BIGINT NOT NULL REFERENCES regions(id),
        shipped_at {ts} NOT NULL
    )",
    "CREATE INDEX serial_units_order ON serial_units(order_id)",
    "CREATE INDEX serial_units_agent ON serial_units(agent_id)",
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
