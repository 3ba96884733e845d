use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "serial_units")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub serial: String,
    pub product_id: i64,
    pub order_id: i64,
    pub shipment_id: i64,
    pub agent_id: i64,
    pub region_id: i64,
    pub shipped_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
