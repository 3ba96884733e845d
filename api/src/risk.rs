//! The risk signals as the API serves them (docs/signals.md defines each
//! figure): their kinds, severities and subjects, the evidence the worker
//! writes as JSON, who may see a signal, and the figures of the risk
//! overview (open counts, the worst signals, the trend over past periods).
//!
//! The worker writes the rows (`risk_signals`, `risk_signal_changes`); the
//! API only reads them.
use std::collections::{BTreeMap, HashMap};

use async_graphql::Enum;
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use salesguard_entities::model::{risk_signal, risk_signal_change};

use crate::auth::Actor;

/// An enum stored as its SCREAMING_SNAKE_CASE name, also a GraphQL enum.
macro_rules! stored_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$v),)* _ => None }
            }
        }
    };
}

stored_enum!(
    /// What a risk signal is about (docs/signals.md, sections 1 to 5).
    RiskSignalKind {
        /// Receivables grow faster than sales (DSRI).
        ReceivablesGrowth = "RECEIVABLES_GROWTH",
        /// An agent's oldest unpaid receivable is long past due.
        ReceivablesOverdue = "RECEIVABLES_OVERDUE",
        /// Forecasts are chronically above or below actual sales (tracking signal).
        ForecastDeviation = "FORECAST_DEVIATION",
        /// Goods sell below the purchase price, a floor price or an upstream tier.
        PriceInversion = "PRICE_INVERSION",
        /// Units shipped to an agent turn up outside its region.
        GoodsDiversion = "GOODS_DIVERSION",
        /// An agent buys more than its region's market can absorb.
        PurchaseOverCapacity = "PURCHASE_OVER_CAPACITY",
        /// Stock piles up at an agent (weeks of supply, sell-in outpacing sell-through).
        ChannelStock = "CHANNEL_STOCK",
    }
);

stored_enum!(
    /// How late a symptom a signal is (SPEC S1.1): WATCH < WARNING < CRITICAL.
    RiskSeverity {
        /// An early sign.
        Watch = "WATCH",
        /// A clear sign: act on it.
        Warning = "WARNING",
        /// A late symptom: act now.
        Critical = "CRITICAL",
    }
);

stored_enum!(
    /// What a risk signal is about.
    RiskSubjectType {
        Company = "COMPANY",
        Region = "REGION",
        Agent = "AGENT",
        Salesperson = "SALESPERSON",
        Product = "PRODUCT",
    }
);

stored_enum!(
    /// A change in a signal's history.
    RiskChangeType {
        /// The condition started to hold.
        Raised = "RAISED",
        /// The severity rose.
        Escalated = "ESCALATED",
        /// The severity fell.
        Deescalated = "DEESCALATED",
        /// The condition no longer holds.
        Cleared = "CLEARED",
    }
);

stored_enum!(
    /// The kind of a document given as evidence.
    RiskDocumentType {
        /// A sales order (`document` is the `SalesOrder`).
        Order = "ORDER",
        /// An order's receivable (`ref` is the order number).
        Receivable = "RECEIVABLE",
        /// An invoice (`document` is the `Invoice`).
        Invoice = "INVOICE",
        /// A shipped unit (`ref` is the serial number).
        Serial = "SERIAL",
        /// An agent's reported sale.
        SellThrough = "SELL_THROUGH",
        /// An activation, warranty registration or call-back of a unit.
        UnitSighting = "UNIT_SIGHTING",
        /// A price seen in the market.
        PriceObservation = "PRICE_OBSERVATION",
        /// A salesperson's forecast.
        Forecast = "FORECAST",
    }
);

/// The calendar unit of the overview's trend, in the business time zone.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum RiskPeriodUnit {
    /// Calendar days.
    Day,
    /// Weeks from Monday to Sunday.
    #[default]
    Week,
    /// Calendar months.
    Month,
}

/// Whether `actor` may see a signal of `region_id`: a signal of a region is
/// seen by the readers of that region (a reader's regions include their
/// sub-areas); a company-wide signal (no region) only by company-wide readers.
pub fn visible(actor: &Actor, region_id: Option<i64>) -> bool {
    match region_id {
        Some(r) => actor.sees_region(r),
        None => actor.global,
    }
}

// ------------------------------------------------------------ evidence

/// The `evidence` column: `{"metrics": {name: number}, "documents":
/// [{"type", "id", "ref"}], "more": n}`.
#[derive(Debug, Default, Deserialize)]
pub struct Evidence {
    #[serde(default)]
    pub metrics: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub documents: Vec<EvidenceDocument>,
    /// Documents left out of the list.
    #[serde(default)]
    pub more: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EvidenceDocument {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
}

impl Evidence {
    /// An empty evidence column (`""`) reads as no evidence.
    pub fn parse(json: &str) -> Result<Evidence, serde_json::Error> {
        if json.trim().is_empty() {
            return Ok(Evidence::default());
        }
        serde_json::from_str(json)
    }

    /// The figures, by name; `None` where the figure is not a finite number
    /// (e.g. infinite weeks of supply).
    pub fn metrics(&self) -> Vec<(String, Option<f64>)> {
        self.metrics
            .iter()
            .map(|(k, v)| (k.clone(), v.as_f64().filter(|f| f.is_finite())))
            .collect()
    }
}

// ------------------------------------------------------------ overview

/// Counts of signals by severity.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeverityCounts {
    pub watch: i64,
    pub warning: i64,
    pub critical: i64,
}

impl SeverityCounts {
    pub fn add(&mut self, s: RiskSeverity) {
        match s {
            RiskSeverity::Watch => self.watch += 1,
            RiskSeverity::Warning => self.warning += 1,
            RiskSeverity::Critical => self.critical += 1,
        }
    }
    pub fn total(&self) -> i64 {
        self.watch + self.warning + self.critical
    }
}

/// One period of the trend: the signals open at `at`, the end of the period
/// (the first instant of the next one) or, for the current period, now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    /// The last day of the period.
    pub end: NaiveDate,
    pub at: DateTime<Utc>,
}

fn local_midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = day.and_time(chrono::NaiveTime::MIN);
    tz.from_local_datetime(&naive)
        .earliest()
        // A midnight skipped by a clock change: the first hour after it.
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

/// The last `n` periods up to `now` in the time zone `tz`, oldest first; the
/// last one is the current (unfinished) period.
pub fn periods(now: DateTime<Utc>, tz: Tz, unit: RiskPeriodUnit, n: u32) -> Vec<Period> {
    let today = now.with_timezone(&tz).date_naive();
    let start_of = |k: u32| -> Option<NaiveDate> {
        match unit {
            RiskPeriodUnit::Day => today.checked_sub_signed(Duration::days(k.into())),
            RiskPeriodUnit::Week => {
                let monday = today.checked_sub_signed(Duration::days(
                    today.weekday().num_days_from_monday().into(),
                ))?;
                monday.checked_sub_signed(Duration::weeks(k.into()))
            }
            RiskPeriodUnit::Month => today.with_day(1)?.checked_sub_months(Months::new(k)),
        }
    };
    let next_start = |start: NaiveDate| -> Option<NaiveDate> {
        match unit {
            RiskPeriodUnit::Day => start.succ_opt(),
            RiskPeriodUnit::Week => start.checked_add_signed(Duration::weeks(1)),
            RiskPeriodUnit::Month => start.checked_add_months(Months::new(1)),
        }
    };
    (0..n)
        .rev()
        .filter_map(|k| {
            let start = start_of(k)?;
            let next = next_start(start)?;
            Some(Period {
                start,
                end: next.pred_opt()?,
                at: local_midnight(next, tz).min(now),
            })
        })
        .collect()
}

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
