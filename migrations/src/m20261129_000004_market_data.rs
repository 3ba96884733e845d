//! Market data behind the channel signals (SPEC S1.1): agents' sell-through,
//! where units turned up (activations, warranty registrations, call-backs),
//! prices seen in the market, and the price list per channel tier with its
//! floor prices.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DDL: &[&str] = &[
    "CREATE TABLE sell_through (
        id {pk},
        agent_id BIGINT NOT NULL REFERENCES agents(id),
        product_id BIGINT NOT NULL REFERENCES products(id),
        serial TEXT NULL,
        quantity BIGINT NOT NULL CHECK (quantity > 0),
        sale_price_fen BIGINT NOT NULL CHECK (sale_price_fen >= 0),
        sold_region_id BIGINT NOT NULL REFERENCES regions(id),
        sold_on {date} NOT NULL,
        recorded_by BIGINT NOT NULL REFERENCES users(id),
        recorded_at {ts} NOT NULL
    )",
    "CREATE INDEX sell_through_agent ON sell_through(agent_id, sold_on)",
    "CREATE TABLE unit_sightings (
        id {pk},
        serial TEXT NOT NULL,
        kind TEXT NOT NULL,
        region_id BIGINT NOT NULL REFERENCES regions(id),
        seen_on {date} NOT NULL,
        note TEXT NULL,
        recorded_by BIGINT NOT NULL REFERENCES users(id),
        recorded_at {ts} NOT NULL
    )",
    "CREATE INDEX unit_sightings_serial ON unit_sightings(serial)",
    "CREATE TABLE price_observations (
        id {pk},
        product_id BIGINT NOT NULL REFERENCES products(id),
        region_id BIGINT NOT NULL REFERENCES regions(id),
        tier TEXT NOT NULL,
        price_fen BIGINT NOT NULL CHECK (price_fen >= 0),
        observed_on {date} NOT NULL,
        channel TEXT NULL,
        observed_by BIGINT NOT NULL REFERENCES users(id),
        recorded_at {ts} NOT NULL
    )",
    "CREATE INDEX price_observations_pr ON price_observations(product_id, region_id, observed_on)",
    "CREATE TABLE price_list (
        product_id BIGINT NOT NULL REFERENCES products(id),
        tier TEXT NOT NULL,
        price_fen BIGINT NOT NULL CHECK (price_fen >= 0),
        floor_fen BIGINT NOT NULL CHECK (floor_fen >= 0 AND floor_fen <= price_fen),
        updated_by BIGINT NOT NULL REFERENCES users(id),
        updated_at {ts} NOT NULL,
        PRIMARY KEY (product_id, tier)
    )",
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
