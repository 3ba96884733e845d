use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A job to run after the business transaction that wrote it committed;
/// the worker relays it to the job queue.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    #[sea_orm(unique)]
    pub dedup_key: String,
    /// JSON.
    pub payload: String,
    pub created_at: DateTimeUtc,
    pub relayed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The outbox kind of the risk-signal recomputation (written by the API's
/// steps, relayed to the job queue by the worker).
pub const RECOMPUTE_SIGNALS: &str = "recompute_signals";
