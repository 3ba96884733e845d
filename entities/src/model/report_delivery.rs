use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The e-mail delivery of a weekly report: retried with backoff until sent;
/// every attempt is counted and the last error kept.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "report_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub report_id: i64,
    /// The recipient's address when the report was built (none: the user
    /// has no e-mail address, and the delivery is FAILED).
    pub email: Option<String>,
    /// `PENDING`, `SENDING`, `RETRYING`, `SENT`, `FAILED`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// When a PENDING or RETRYING delivery is tried next.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// A SENDING delivery belongs to its sender until then (a sender that
    /// died leaves it to be tried again after).
    pub lease_until: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
