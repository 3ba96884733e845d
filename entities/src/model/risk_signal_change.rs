use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The history of a risk signal: raised, a change of severity, cleared.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "risk_signal_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub signal_id: i64,
    /// `RAISED`, `ESCALATED`, `DEESCALATED`, `CLEARED`.
    pub change: String,
    /// The severity after the change (for `CLEARED`: the last one).
    pub severity: String,
    pub value: f64,
    pub at: DateTimeUtc,
    pub run_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
