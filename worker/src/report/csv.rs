//! The open signals of a report as CSV (UTF-8 with a byte-order mark, so a
//! spreadsheet opens Chinese text correctly).
use std::collections::HashMap;

use chrono_tz::Tz;

use salesguard_entities::model::risk_signal;

/// The header row.
pub const HEADER: &[&str] = &[
    "id",
    "severity",
    "kind",
    "rule",
    "subject_type",
    "subject",
    "region",
    "value",
    "threshold",
    "unit",
    "period_start",
    "period_end",
    "raised_at",
    "updated_at",
    "summary",
];

/// One CSV field, quoted where it must be.
pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with([' ', '=', '+', '-', '@']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The signals, one row each, in the order given.
pub fn signals(list: &[risk_signal::Model], region_codes: &HashMap<i64, String>, tz: Tz) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&HEADER.join(","));
    out.push_str("\r\n");
    for s in list {
        let t = |d: chrono::DateTime<chrono::Utc>| {
            d.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
        };
        let row = [
            s.id.to_string(),
            s.severity.clone(),
            s.kind.clone(),
            s.rule.clone(),
            s.subject_type.clone(),
            s.subject_label.clone(),
            s.region_id
                .and_then(|r| region_codes.get(&r).cloned())
                .unwrap_or_default(),
            format!("{}", s.value),
            format!("{}", s.threshold),
            s.unit.clone(),
            s.period_start.to_string(),
            s.period_end.to_string(),
            t(s.raised_at),
            t(s.updated_at),
            s.summary.clone(),
        ];
        out.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_needs_it() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=1+1"), "\"=1+1\"");
    }
}
