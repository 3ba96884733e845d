use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "shipments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub notice_id: i64,
    pub warehouse_id: i64,
    pub carrier: String,
    pub tracking_number: String,
    pub shipped_at: DateTimeUtc,
    pub shipped_by: i64,
    pub delivered_at: Option<DateTimeUtc>,
    pub delivery_confirmed_by: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
