//! The risk overview's figures over the stored signals: which were open at
//! a time and at what severity, the worst first, and the summaries of a
//! scope (open counts by kind, the trend over past periods).
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use salesguard_domain::risk::{
    Period, RiskChangeType, RiskSeverity, RiskSignalKind, SeverityCounts,
};
use salesguard_entities::model::{risk_signal, risk_signal_change};

/// Whether a signal was open at `t`: raised at or before `t` and not
/// cleared by then.
pub fn open_at(s: &risk_signal::Model, t: DateTime<Utc>) -> bool {
    s.raised_at <= t && s.cleared_at.is_none_or(|c| c > t)
}

/// A signal's severity at `t`: that of its last raise or change of severity
/// at or before `t` (`changes` oldest first), else its current severity.
pub fn severity_at(
    s: &risk_signal::Model,
    changes: &[risk_signal_change::Model],
    t: DateTime<Utc>,
) -> Option<RiskSeverity> {
    changes
        .iter()
        .rfind(|c| c.at <= t && c.change != RiskChangeType::Cleared.as_str())
        .and_then(|c| RiskSeverity::parse(&c.severity))
        .or_else(|| RiskSeverity::parse(&s.severity))
}

/// How many worst signals a summary lists.
pub const WORST: usize = 5;

/// The open signals and the trend of one scope (the whole overview, a region
/// or an agent).
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub open: SeverityCounts,
    pub by_kind: BTreeMap<RiskSignalKind, SeverityCounts>,
    /// The worst open signals: by severity, then value, highest first.
    pub worst: Vec<risk_signal::Model>,
    /// Per period of the trend, the signals open at its `at`.
    pub trend: Vec<SeverityCounts>,
}

impl Summary {
    /// Whether the scope had any signal, open now or in the trend.
    pub fn is_empty(&self) -> bool {
        self.open.total() == 0 && self.trend.iter().all(|c| c.total() == 0)
    }
}

/// Orders signals worst first: severity, then value, then the latest raised.
pub fn worst_first(a: &risk_signal::Model, b: &risk_signal::Model) -> std::cmp::Ordering {
    let sev = |s: &risk_signal::Model| RiskSeverity::parse(&s.severity);
    sev(b)
        .cmp(&sev(a))
        .then(b.value.total_cmp(&a.value))
        .then(b.raised_at.cmp(&a.raised_at))
        .then(b.id.cmp(&a.id))
}

/// Summarizes `signals` (open ones and those cleared during the trend):
/// `changes` holds each signal's raises and changes of severity, oldest first.
pub fn summarize<'a>(
    signals: impl IntoIterator<Item = &'a risk_signal::Model>,
    changes: &HashMap<i64, Vec<risk_signal_change::Model>>,
    periods: &[Period],
) -> Summary {
    let mut out = Summary {
        by_kind: RiskSignalKind::ALL
            .iter()
            .map(|k| (*k, SeverityCounts::default()))
            .collect(),
        trend: vec![SeverityCounts::default(); periods.len()],
        ..Default::default()
    };
    let none = Vec::new();
    for s in signals {
        let history = changes.get(&s.id).unwrap_or(&none);
        if s.cleared_at.is_none() {
            if let Some(sev) = RiskSeverity::parse(&s.severity) {
                out.open.add(sev);
                if let Some(k) = RiskSignalKind::parse(&s.kind) {
                    out.by_kind.entry(k).or_default().add(sev);
                }
                out.worst.push(s.clone());
            }
        }
        for (p, counts) in periods.iter().zip(out.trend.iter_mut()) {
            if open_at(s, p.at) {
                if let Some(sev) = severity_at(s, history, p.at) {
                    counts.add(sev);
                }
            }
        }
    }
    out.worst.sort_by(worst_first);
    out.worst.truncate(WORST);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use salesguard_domain::risk::{periods, Evidence, RiskPeriodUnit};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    fn signal(
        id: i64,
        sev: &str,
        value: f64,
        raised: &str,
        cleared: Option<&str>,
    ) -> risk_signal::Model {
        risk_signal::Model {
            id,
            fingerprint: format!("f{id}"),
            kind: "CHANNEL_STOCK".into(),
            rule: "WEEKS_OF_SUPPLY".into(),
            subject_type: "AGENT".into(),
            subject_id: Some(1),
            subject_label: "A".into(),
            region_id: Some(1),
            agent_id: Some(1),
            salesperson_id: None,
            product_id: None,
            period_start: NaiveDate::default(),
            period_end: NaiveDate::default(),
            severity: sev.into(),
            peak_severity: sev.into(),
            value,
            threshold: 1.0,
            unit: "WEEKS".into(),
            formula: String::new(),
            summary: String::new(),
            evidence: String::new(),
            raised_at: at(raised),
            updated_at: at(raised),
            cleared_at: cleared.map(at),
            run_id: None,
        }
    }

    #[test]
    fn weeks_run_monday_to_sunday_in_the_business_time_zone() {
        // Wednesday 2026-12-02 10:00 in Shanghai.
        let now = at("2026-12-02T02:00:00Z");
        let p = periods(now, chrono_tz::Asia::Shanghai, RiskPeriodUnit::Week, 3);
        assert_eq!(p.len(), 3);
        assert_eq!(p[2].start.to_string(), "2026-11-30");
        assert_eq!(p[2].at, now);
        assert_eq!(p[1].start.to_string(), "2026-11-23");
        assert_eq!(p[1].end.to_string(), "2026-11-29");
        // Monday 00:00 in Shanghai is Sunday 16:00 UTC.
        assert_eq!(p[1].at, at("2026-11-29T16:00:00Z"));
        assert_eq!(p[0].at, at("2026-11-22T16:00:00Z"));
        let m = periods(now, chrono_tz::Asia::Shanghai, RiskPeriodUnit::Month, 2);
        assert_eq!(m[0].start.to_string(), "2026-11-01");
        assert_eq!(m[0].at, at("2026-11-30T16:00:00Z"));
    }

    #[test]
    fn trend_counts_signals_open_at_each_end_with_the_severity_then() {
        let p = vec![
            Period {
                start: NaiveDate::default(),
                end: NaiveDate::default(),
                at: at("2026-11-10T00:00:00Z"),
            },
            Period {
                start: NaiveDate::default(),
                end: NaiveDate::default(),
                at: at("2026-11-20T00:00:00Z"),
            },
        ];
        let escalated = signal(1, "CRITICAL", 9.0, "2026-11-01T00:00:00Z", None);
        let cleared = signal(
            2,
            "WARNING",
            3.0,
            "2026-11-01T00:00:00Z",
            Some("2026-11-15T00:00:00Z"),
        );
        let late = signal(3, "WATCH", 1.0, "2026-11-20T00:00:01Z", None);
        let change = |id, sig, sev: &str, t: &str| risk_signal_change::Model {
            id,
            signal_id: sig,
            change: "X".into(),
            severity: sev.into(),
            value: 0.0,
            at: at(t),
            run_id: None,
        };
        let changes = HashMap::from([(
            1,
            vec![
                change(1, 1, "WATCH", "2026-11-01T00:00:00Z"),
                change(2, 1, "CRITICAL", "2026-11-12T00:00:00Z"),
            ],
        )]);
        let s = summarize([&escalated, &cleared, &late], &changes, &p);
        assert_eq!(
            s.trend,
            vec![
                SeverityCounts {
                    watch: 1,
                    warning: 1,
                    critical: 0
                },
                SeverityCounts {
                    watch: 0,
                    warning: 0,
                    critical: 1
                },
            ]
        );
        assert_eq!(
            s.open,
            SeverityCounts {
                watch: 1,
                warning: 0,
                critical: 1
            }
        );
        assert_eq!(s.worst.iter().map(|w| w.id).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(s.by_kind[&RiskSignalKind::ChannelStock].total(), 2);
    }

    #[test]
    fn evidence_reads_metrics_and_documents() {
        let e = Evidence::parse(
            r#"{"metrics":{"dso":42.5,"wos":null},"documents":[{"type":"ORDER","id":7,"ref":"SC1"}],"more":3}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            e.metrics(),
            vec![("dso".to_owned(), Some(42.5)), ("wos".to_owned(), None)]
        );
        assert_eq!(e.documents[0].id, Some(7));
        assert_eq!(e.more, Some(3));
        assert!(Evidence::parse("").is_ok());
        assert!(Evidence::parse("{").is_err());
    }
}
