use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A manager's weekly risk report: one per recipient and week.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "weekly_reports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The Monday of the week reported on (business time zone).
    pub week_start: Date,
    /// The Sunday of that week.
    pub week_end: Date,
    pub recipient_id: i64,
    /// The recipient sees every region: the report covers the whole company.
    pub all_regions: bool,
    /// `zh-CN` or `en`.
    pub language: String,
    pub subject: String,
    /// JSON: the headline figures (`salesguard_api::reports::ReportFigures`).
    pub figures: String,
    /// The HTML body; its charts are referenced as `cid:<name>`.
    pub html: String,
    /// JSON: `[{"cid", "content_type", "base64"}]`, the charts.
    pub images: String,
    /// The open signals of the report's regions as CSV.
    pub signals_csv: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
