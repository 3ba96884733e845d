use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A movement of accounts receivable (docs/metrics.md): `+` the order total
/// on the day an order with a receivable shipped, `−` each payment of it on
/// the later of its receipt and the shipment. The AR of a group at a day is
/// the sum of its entries up to that day.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "ar_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub region_id: i64,
    pub agent_id: i64,
    pub salesperson_id: i64,
    pub due_on: Date,
    pub entry_on: Date,
    pub amount_fen: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
