//! The risk vocabulary (docs/signals.md): what a signal is about, how
//! severe it is, what it is raised against, how its history changes, the
//! documents given as evidence, and the calendar of the risk overview's
//! trend. The worker writes these names into the database; the API and the
//! weekly report read them back with `parse`.
use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

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
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum RiskPeriodUnit {
    /// Calendar days.
    Day,
    /// Weeks from Monday to Sunday.
    #[default]
    Week,
    /// Calendar months.
    Month,
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
