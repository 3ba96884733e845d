use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "forecasts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The month forecast, `YYYY-MM`.
    pub period: String,
    pub region_id: i64,
    pub product_id: i64,
    pub salesperson_id: i64,
    pub quantity: i64,
    pub submitted_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
