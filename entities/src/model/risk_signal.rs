use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A risk signal (docs/signals.md): open while `cleared_at` is null.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "risk_signals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// kind|rule|subject_type|subject_id|product_id: one open row each.
    pub fingerprint: String,
    /// `RECEIVABLES_GROWTH`, `FORECAST_DEVIATION`, … (`signals::Kind`).
    pub kind: String,
    /// The rule within the kind, e.g. `DSRI`, `BELOW_FLOOR`.
    pub rule: String,
    /// `COMPANY`, `REGION`, `AGENT`, `SALESPERSON`, `PRODUCT`.
    pub subject_type: String,
    /// Id of the subject row (none for the company).
    pub subject_id: Option<i64>,
    pub subject_label: String,
    /// The region the signal belongs to, for scoping (none: company-wide,
    /// seen by readers with global scope only).
    pub region_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub salesperson_id: Option<i64>,
    pub product_id: Option<i64>,
    pub period_start: Date,
    pub period_end: Date,
    /// `WATCH`, `WARNING`, `CRITICAL`.
    pub severity: String,
    /// The highest severity the signal reached while open.
    pub peak_severity: String,
    pub value: f64,
    /// The threshold the value crossed for its severity.
    pub threshold: f64,
    /// `RATIO`, `DAYS`, `WEEKS`, `SHARE`.
    pub unit: String,
    /// The formula, in words.
    pub formula: String,
    /// One line for people: what is wrong, with the figures.
    pub summary: String,
    /// JSON: `{"metrics": {name: number}, "documents": [{"type", "id", "ref"}], "more": n}`.
    pub evidence: String,
    pub raised_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub cleared_at: Option<DateTimeUtc>,
    /// The job run that last wrote it.
    pub run_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
