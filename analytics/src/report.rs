//! The weekly risk report's model: the headline figures stored with each
//! report, its images, its delivery statuses and its download paths. The
//! worker builds and mails reports; the API serves them.
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The headline figures of a report, stored with it as JSON (money in fen).
/// `None` where a figure could not be computed (see `metrics_error`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportFigures {
    pub sales_fen: Option<i64>,
    pub sales_last_week_fen: Option<i64>,
    /// The weekly average over the 13 weeks before the report's week.
    pub sales_quarter_avg_fen: Option<i64>,
    pub collections_fen: Option<i64>,
    pub collections_last_week_fen: Option<i64>,
    pub collections_quarter_avg_fen: Option<i64>,
    /// At the week's end.
    pub ar_fen: Option<i64>,
    pub ar_last_week_fen: Option<i64>,
    /// The average of the 13 week-end values before the report's week.
    pub ar_quarter_avg_fen: Option<i64>,
    pub dso: Option<f64>,
    pub dso_last_week: Option<f64>,
    pub dso_quarter_avg: Option<f64>,
    pub open_watch: i64,
    pub open_warning: i64,
    pub open_critical: i64,
    pub new_signals: i64,
    pub escalated_signals: i64,
    pub cleared_signals: i64,
    /// Check-points (SPEC S2) that need a decision.
    pub checkpoints: i64,
    /// Why figures of the metrics engine are missing, if they are.
    pub metrics_error: Option<String>,
}

impl ReportFigures {
    pub fn parse(json: &str) -> Result<ReportFigures, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// A chart of a report, referenced from its HTML as `cid:<cid>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportImage {
    pub cid: String,
    pub content_type: String,
    pub base64: String,
}

impl ReportImage {
    pub fn new(cid: &str, content_type: &str, bytes: &[u8]) -> ReportImage {
        ReportImage {
            cid: cid.to_owned(),
            content_type: content_type.to_owned(),
            base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    pub fn bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(self.base64.as_bytes())
    }

    pub fn parse_all(json: &str) -> Result<Vec<ReportImage>, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// The HTML of a report for a browser: the `cid:` references of the e-mail
/// replaced by the images themselves (data URLs).
pub fn html_for_browser(html: &str, images: &[ReportImage]) -> String {
    let mut out = html.to_owned();
    for img in images {
        out = out.replace(
            &format!("\"cid:{}\"", img.cid),
            &format!("\"data:{};base64,{}\"", img.content_type, img.base64),
        );
    }
    out
}

/// The delivery states of a report's e-mail.
pub mod status {
    /// Not tried yet.
    pub const PENDING: &str = "PENDING";
    /// A sender is trying it now.
    pub const SENDING: &str = "SENDING";
    /// Failed; tried again at `next_attempt_at`.
    pub const RETRYING: &str = "RETRYING";
    pub const SENT: &str = "SENT";
    /// Given up after the last attempt (or no address); kept with its error.
    pub const FAILED: &str = "FAILED";
}

/// Where a report is downloaded (bearer token required).
pub fn html_path(id: i64) -> String {
    format!("/reports/{id}.html")
}

pub fn csv_path(id: i64) -> String {
    format!("/reports/{id}/signals.csv")
}
