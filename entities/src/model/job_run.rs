use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One run of a background job.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job: String,
    pub trigger: String,
    pub dedup_key: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub rows_read: Option<i64>,
    pub signals_raised: Option<i64>,
    pub signals_cleared: Option<i64>,
    pub error: Option<String>,
    pub worker: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
