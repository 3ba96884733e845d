//! From frames to signals (docs/signals.md). Row-level work (joins over
//! order lines, payments, serial events) is done by polars; the per-subject
//! grading, a few thousand rows at most, in plain Rust.
//!
//! One module per kind of signal: `receivables` (growth and overdue),
//! `forecast`, `prices` (below purchase price, below the floor, tier
//! inversion), `diversion`, `capacity` and `stock`; `helpers` holds what
//! they share.
use anyhow::Context;
use chrono::NaiveDate;
use polars::prelude::*;
use salesguard_config::SignalSettings;

use super::load::{date_of, day_of, Inputs};
use super::{Kind, Severity, Signal, SubjectType};

mod capacity;
mod diversion;
mod forecast;
mod helpers;
mod prices;
mod receivables;
mod stock;

use helpers::{inner, join};

/// What every computation reads: the inputs, the thresholds and the as-of
/// day.
struct Ctx<'a> {
    inp: &'a Inputs,
    th: &'a SignalSettings,
    /// The as-of day number.
    d: i32,
    as_of: NaiveDate,
    /// Shipped order lines with their order's agent, region, salesperson,
    /// ship day and month.
    lo: &'a DataFrame,
}

impl Ctx<'_> {
    fn base(
        &self,
        kind: Kind,
        rule: &'static str,
        subject: (SubjectType, Option<i64>, String),
    ) -> Signal {
        Signal {
            kind,
            rule,
            subject_type: subject.0,
            subject_id: subject.1,
            subject_label: subject.2,
            detail: None,
            region_id: None,
            agent_id: None,
            salesperson_id: None,
            product_id: None,
            period_start: self.as_of,
            period_end: self.as_of,
            severity: Severity::Watch,
            value: 0.0,
            threshold: 0.0,
            unit: "RATIO",
            formula: "",
            summary: String::new(),
            metrics: vec![],
            evidence: vec![],
            more: 0,
        }
    }

    fn agent_subject(&self, agent: i64) -> (SubjectType, Option<i64>, String) {
        (SubjectType::Agent, Some(agent), self.inp.agent_label(agent))
    }

    fn agent_region(&self, agent: i64) -> Option<i64> {
        self.inp.agents.get(&agent).map(|a| a.region)
    }

    fn window_start(&self, days: i64) -> NaiveDate {
        date_of(self.d - days as i32 + 1)
    }
}

/// Order lines joined to their (shipped) orders: the frame `lo` of
/// `Inputs`; lines of orders not shipped drop out.
pub fn lines_with_orders(lines: DataFrame, orders: &DataFrame) -> anyhow::Result<DataFrame> {
    join(
        lines.lazy(),
        orders.clone().lazy().select([
            col("order_id"),
            col("agent_id"),
            col("region_id"),
            col("salesperson_id"),
            col("ship_day"),
            col("ship_month"),
        ]),
        inner(&["order_id"]),
    )
    .drop(cols(["order_id"]))
    .collect()
    .map_err(|e| anyhow::anyhow!("joining order lines to orders: {e}"))
}

/// The signals that hold as of `as_of`, sorted by fingerprint.
pub fn compute(inp: &Inputs, as_of: NaiveDate, th: &SignalSettings) -> anyhow::Result<Vec<Signal>> {
    let ctx = Ctx {
        inp,
        th,
        d: day_of(as_of),
        as_of,
        lo: &inp.lo,
    };
    let mut out = vec![];
    type Part = fn(&Ctx, &mut Vec<Signal>) -> anyhow::Result<()>;
    let parts: [(&str, Part); 6] = [
        ("receivables", receivables::signals),
        ("forecast deviation", forecast::signals),
        ("price inversion", prices::signals),
        ("goods diversion", diversion::signals),
        ("purchases over capacity", capacity::signals),
        ("channel stock", stock::signals),
    ];
    for (name, part) in parts {
        let t = std::time::Instant::now();
        part(&ctx, &mut out).context(name)?;
        tracing::debug!(
            part = name,
            secs = t.elapsed().as_secs_f64(),
            peak_rss_mib = crate::peak_rss_mib(),
            "signals computed"
        );
    }
    out.sort_by_key(|s| s.fingerprint());
    Ok(out)
}
