use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub invoice_number: String,
    pub amount_fen: i64,
    pub issued_by: i64,
    pub issued_at: DateTimeUtc,
    pub mailed_by: Option<i64>,
    pub mailed_at: Option<DateTimeUtc>,
    pub mail_carrier: Option<String>,
    pub mail_tracking: Option<String>,
    pub expected_arrival_on: Option<Date>,
    pub receipt_confirmed_by: Option<i64>,
    pub receipt_confirmed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
