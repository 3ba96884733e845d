use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "sales_orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub number: String,
    pub agent_id: i64,
    pub region_id: i64,
    pub salesperson_id: i64,
    pub status: String,
    pub delivery_address: String,
    pub payment_terms_days: i32,
    pub total_fen: i64,
    pub paid_fen: i64,
    pub fully_paid_at: Option<DateTimeUtc>,
    pub payment_confirmed_by: Option<i64>,
    pub archived_at: Option<DateTimeUtc>,
    /// The business day the order shipped (company time zone).
    pub shipped_on: Option<Date>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
