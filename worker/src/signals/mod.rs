//! The risk signals of SPEC S1.1, computed with polars (docs/signals.md is
//! the definition of every figure and threshold).
//!
//! - [`load`] reads the business data into frames,
//! - [`compute`] turns frames into the signals that hold as of a day (pure:
//!   no database, so the formulas are tested on hand-made frames),
//! - [`store`] writes them: new ones raised, held ones updated, the others
//!   cleared, in the transaction that records the run.
use chrono::NaiveDate;
use serde::Serialize;

pub mod compute;
pub mod disk;
pub mod load;
pub mod serials;
pub mod snapshot;
pub mod store;
#[cfg(test)]
mod tests;

pub use compute::compute;
pub use load::{load, Inputs};

/// How late in S1.1's early → late scale a symptom is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Severity {
    Watch,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Watch => "WATCH",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "WATCH" => Some(Severity::Watch),
            "WARNING" => Some(Severity::Warning),
            "CRITICAL" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// The kinds of signal (docs/signals.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Kind {
    ReceivablesGrowth,
    ReceivablesOverdue,
    ForecastDeviation,
    PriceInversion,
    GoodsDiversion,
    PurchaseOverCapacity,
    ChannelStock,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::ReceivablesGrowth,
        Kind::ReceivablesOverdue,
        Kind::ForecastDeviation,
        Kind::PriceInversion,
        Kind::GoodsDiversion,
        Kind::PurchaseOverCapacity,
        Kind::ChannelStock,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ReceivablesGrowth => "RECEIVABLES_GROWTH",
            Kind::ReceivablesOverdue => "RECEIVABLES_OVERDUE",
            Kind::ForecastDeviation => "FORECAST_DEVIATION",
            Kind::PriceInversion => "PRICE_INVERSION",
            Kind::GoodsDiversion => "GOODS_DIVERSION",
            Kind::PurchaseOverCapacity => "PURCHASE_OVER_CAPACITY",
            Kind::ChannelStock => "CHANNEL_STOCK",
        }
    }
}

/// What a signal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SubjectType {
    Company,
    Region,
    Agent,
    Salesperson,
    Product,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Company => "COMPANY",
            SubjectType::Region => "REGION",
            SubjectType::Agent => "AGENT",
            SubjectType::Salesperson => "SALESPERSON",
            SubjectType::Product => "PRODUCT",
        }
    }
}

/// A document or row behind a signal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// `ORDER`, `RECEIVABLE`, `SERIAL`, `SELL_THROUGH`, `UNIT_SIGHTING`,
    /// `PRICE_OBSERVATION`, `FORECAST`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: Option<i64>,
    /// What people call it: the order number, the serial, …
    #[serde(rename = "ref")]
    pub reference: String,
}

/// Documents cited per signal, at most.
pub const MAX_EVIDENCE: usize = 25;

/// A signal that holds as of a day.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub kind: Kind,
    pub rule: &'static str,
    pub subject_type: SubjectType,
    pub subject_id: Option<i64>,
    pub subject_label: String,
    /// Part of the identity besides the subject (e.g. the price tier).
    pub detail: Option<String>,
    pub region_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub salesperson_id: Option<i64>,
    pub product_id: Option<i64>,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub severity: Severity,
    pub value: f64,
    pub threshold: f64,
    pub unit: &'static str,
    pub formula: &'static str,
    pub summary: String,
    pub metrics: Vec<(&'static str, f64)>,
    pub evidence: Vec<Evidence>,
    /// Documents left out beyond [`MAX_EVIDENCE`].
    pub more: usize,
}

impl Signal {
    /// The identity of a signal: one open row per fingerprint.
    pub fn fingerprint(&self) -> String {
        let id = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        format!(
            "{}|{}|{}|{}|{}|{}",
            self.kind.as_str(),
            self.rule,
            self.subject_type.as_str(),
            id(self.subject_id),
            id(self.product_id),
            self.detail.as_deref().unwrap_or_default()
        )
    }

    /// The `evidence` column: metrics, documents and how many were left out.
    pub fn evidence_json(&self) -> String {
        let metrics: serde_json::Map<String, serde_json::Value> = self
            .metrics
            .iter()
            .map(|(k, v)| {
                let v = if v.is_finite() {
                    serde_json::json!(round6(*v))
                } else {
                    serde_json::Value::Null
                };
                ((*k).to_owned(), v)
            })
            .collect();
        serde_json::json!({
            "metrics": metrics,
            "documents": self.evidence,
            "more": self.more,
        })
        .to_string()
    }
}

/// Six decimals: what is stored and shown.
pub fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// The severity whose threshold `value` is above (strictly), with that
/// threshold.
pub fn grade_above(value: f64, watch: f64, warning: f64, critical: f64) -> Option<(Severity, f64)> {
    if value > critical {
        Some((Severity::Critical, critical))
    } else if value > warning {
        Some((Severity::Warning, warning))
    } else if value > watch {
        Some((Severity::Watch, watch))
    } else {
        None
    }
}
