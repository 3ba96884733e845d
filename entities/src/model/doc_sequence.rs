use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "doc_sequences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub doc_type: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub business_day: String,
    pub last_value: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
