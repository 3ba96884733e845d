//! Receivables (docs/signals.md §1): receivables growing faster than sales
//! (DSRI) per agent, region and the company, and receivables overdue per
//! agent.
use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use salesguard_domain::figures;

use super::super::load::date_of;
use super::super::{grade_above, Evidence, Kind, Signal, SubjectType};
use super::helpers::{between, cap, f64s, i64s, join, left, pct, yuan};
use super::Ctx;

#[derive(Default, Clone, Copy)]
struct ArFig {
    ar: f64,
    sales: f64,
    ar_prev: f64,
    sales_prev: f64,
    /// Not yet due (as of D).
    current: f64,
    /// current, 1–30, 31–60, 61–90, 91–120, >120 days past due.
    aging: [f64; 6],
}

impl ArFig {
    fn add(&mut self, o: &ArFig) {
        self.ar += o.ar;
        self.sales += o.sales;
        self.ar_prev += o.ar_prev;
        self.sales_prev += o.sales_prev;
        self.current += o.current;
        for i in 0..6 {
            self.aging[i] += o.aging[i];
        }
    }
}

/// An open receivable: order, agent, outstanding fen, due day.
type Open = (i64, i64, f64, i32);

/// AR per agent at day `t`: Σ max(0, total − payments received by `t`)
/// over the orders shipped by `t`.
fn ar_at(ctx: &Ctx, t: i32) -> anyhow::Result<HashMap<i64, f64>> {
    let paid = ctx
        .inp
        .payments
        .clone()
        .lazy()
        .filter(col("day").lt_eq(lit(t)))
        .group_by([col("order_id")])
        .agg([col("amount_fen").sum().alias("paid")]);
    let df = join(
        ctx.inp
            .orders
            .clone()
            .lazy()
            .filter(col("ship_day").lt_eq(lit(t))),
        paid,
        left(&["order_id"]),
    )
    .with_column((col("total_fen") - col("paid").fill_null(lit(0i64))).alias("open"))
    .with_column(
        when(col("open").gt(lit(0i64)))
            .then(col("open"))
            .otherwise(lit(0i64))
            .alias("open"),
    )
    .group_by([col("agent_id")])
    .agg([col("open").sum().alias("ar")])
    .collect()?;
    Ok(i64s(&df, "agent_id")?
        .into_iter()
        .zip(f64s(&df, "ar")?)
        .collect())
}

/// Sales per agent in the `w` days up to `t`.
fn sales_at(ctx: &Ctx, t: i32, w: i32) -> anyhow::Result<HashMap<i64, f64>> {
    let df = ctx
        .inp
        .orders
        .clone()
        .lazy()
        .filter(between("ship_day", t - w + 1, t))
        .group_by([col("agent_id")])
        .agg([col("total_fen").sum().alias("sales")])
        .collect()?;
    Ok(i64s(&df, "agent_id")?
        .into_iter()
        .zip(f64s(&df, "sales")?)
        .collect())
}

const AGING: [&str; 6] = figures::AGING_BUCKETS;

fn bucket(days_past_due: i32) -> usize {
    figures::aging_bucket(i64::from(days_past_due))
}

/// Growth (per agent, region and the company), then overdue (per agent).
pub(super) fn signals(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let w = ctx.th.ar_window_days as i32;
    let d = ctx.d;
    let (ar, ar_prev) = (ar_at(ctx, d)?, ar_at(ctx, d - w)?);
    let (sales, sales_prev) = (sales_at(ctx, d, w)?, sales_at(ctx, d - w, w)?);
    let rows = open_receivables(ctx)?;
    let mut per_agent: BTreeMap<i64, ArFig> = BTreeMap::new();
    for (agent, v) in &ar {
        per_agent.entry(*agent).or_default().ar = *v;
    }
    for (agent, v) in &ar_prev {
        per_agent.entry(*agent).or_default().ar_prev = *v;
    }
    for (agent, v) in &sales {
        per_agent.entry(*agent).or_default().sales = *v;
    }
    for (agent, v) in &sales_prev {
        per_agent.entry(*agent).or_default().sales_prev = *v;
    }
    for (_, agent, v, due) in &rows {
        let f = per_agent.entry(*agent).or_default();
        let b = bucket(d - due);
        f.aging[b] += v;
        if b == 0 {
            f.current += v;
        }
    }
    growth_signals(ctx, &rows, &per_agent, out);
    overdue_signals(ctx, &rows, &per_agent, out);
    Ok(())
}

/// The open receivables.
fn open_receivables(ctx: &Ctx) -> anyhow::Result<Vec<Open>> {
    let rec = &ctx.inp.receivables;
    Ok(i64s(rec, "order_id")?
        .into_iter()
        .zip(i64s(rec, "agent_id")?)
        .zip(f64s(rec, "outstanding_fen")?)
        .zip(i64s(rec, "due_day")?)
        .map(|(((o, a), v), due)| (o, a, v, due as i32))
        .collect())
}

/// The receivables of the agents `pred` holds for, largest first, as
/// evidence.
fn docs_of(ctx: &Ctx, rows: &[Open], pred: &dyn Fn(i64) -> bool) -> (Vec<Evidence>, usize) {
    let mut sel: Vec<&Open> = rows.iter().filter(|r| pred(r.1)).collect();
    sel.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    cap(sel
        .into_iter()
        .map(|r| Evidence {
            kind: "ORDER",
            id: Some(r.0),
            reference: format!(
                "{}: {} outstanding, due {}",
                ctx.inp.order_numbers.get(&r.0).cloned().unwrap_or_default(),
                yuan(r.2),
                date_of(r.3)
            ),
        })
        .collect())
}

/// DSRI per agent, then per region (with its sub-areas), then for the
/// company.
fn growth_signals(
    ctx: &Ctx,
    rows: &[Open],
    per_agent: &BTreeMap<i64, ArFig>,
    out: &mut Vec<Signal>,
) {
    let mut per_region: BTreeMap<i64, ArFig> = BTreeMap::new();
    let mut company = ArFig::default();
    for (agent, f) in per_agent {
        company.add(f);
        if let Some(r) = ctx.agent_region(*agent) {
            for a in ctx.inp.ancestors(r) {
                per_region.entry(a).or_default().add(f);
            }
        }
    }
    for (agent, f) in per_agent {
        let region = ctx.agent_region(*agent);
        let docs = docs_of(ctx, rows, &|a| a == *agent);
        out.extend(growth(
            ctx,
            ctx.agent_subject(*agent),
            region,
            Some(*agent),
            f,
            docs,
        ));
    }
    for (region, f) in &per_region {
        let docs = docs_of(ctx, rows, &|a| {
            ctx.agent_region(a)
                .is_some_and(|r| ctx.inp.ancestors(r).contains(region))
        });
        let subject = (
            SubjectType::Region,
            Some(*region),
            ctx.inp.region_label(*region),
        );
        out.extend(growth(ctx, subject, Some(*region), None, f, docs));
    }
    let docs = docs_of(ctx, rows, &|_| true);
    let subject = (SubjectType::Company, None, "the company".into());
    out.extend(growth(ctx, subject, None, None, &company, docs));
}

/// The growth signal of one subject, if its DSRI is above a threshold.
fn growth(
    ctx: &Ctx,
    subject: (SubjectType, Option<i64>, String),
    region: Option<i64>,
    agent: Option<i64>,
    f: &ArFig,
    docs: (Vec<Evidence>, usize),
) -> Option<Signal> {
    let th = ctx.th;
    let w = th.ar_window_days as i32;
    if f.ar < th.ar_min_yuan * 100.0 || f.sales <= 0.0 || f.sales_prev <= 0.0 || f.ar_prev <= 0.0 {
        return None;
    }
    let share = f.ar / f.sales;
    let share_prev = f.ar_prev / f.sales_prev;
    let dsri = share / share_prev;
    let (severity, threshold) =
        grade_above(dsri, th.dsri_watch, th.dsri_warning, th.dsri_critical)?;
    let dso = figures::dso(f.ar, f.sales, w as u32).unwrap_or_default();
    let bpdso = figures::best_possible_dso(f.current, f.sales, w as u32).unwrap_or_default();
    let mut s = ctx.base(Kind::ReceivablesGrowth, "DSRI", subject);
    s.region_id = region;
    s.agent_id = agent;
    s.period_start = ctx.window_start(i64::from(w));
    s.severity = severity;
    s.value = dsri;
    s.threshold = threshold;
    s.formula = "DSRI = (AR(D) / Sales(D)) / (AR(D−W) / Sales(D−W)); AR(t) = Σ unpaid totals of orders shipped by t; Sales(t) = totals shipped in the W days up to t";
    s.summary = format!(
        "{}: receivables grew faster than sales: AR {} is {} of {} days' sales (was {}), DSRI {:.2}, DSO {:.0} days",
        s.subject_label,
        yuan(f.ar),
        pct(share),
        w,
        pct(share_prev),
        dsri,
        dso
    );
    let mut metrics = vec![
        ("dsri", dsri),
        ("ar_yuan", f.ar / 100.0),
        ("sales_yuan", f.sales / 100.0),
        ("ar_share", share),
        ("ar_prev_yuan", f.ar_prev / 100.0),
        ("sales_prev_yuan", f.sales_prev / 100.0),
        ("ar_share_prev", share_prev),
        ("dso_days", dso),
        ("best_possible_dso_days", bpdso),
        ("average_days_delinquent", dso - bpdso),
    ];
    for (i, name) in AGING.iter().enumerate() {
        metrics.push((name, f.aging[i] / 100.0));
    }
    s.metrics = metrics;
    (s.evidence, s.more) = docs;
    Some(s)
}

/// Overdue: the oldest unpaid receivable per agent.
fn overdue_signals(
    ctx: &Ctx,
    rows: &[Open],
    per_agent: &BTreeMap<i64, ArFig>,
    out: &mut Vec<Signal>,
) {
    let th = ctx.th;
    let d = ctx.d;
    let mut worst: BTreeMap<i64, i32> = BTreeMap::new();
    for (_, agent, _, due) in rows {
        let dpd = d - due;
        let e = worst.entry(*agent).or_insert(dpd);
        *e = (*e).max(dpd);
    }
    for (agent, dpd) in worst {
        let Some((severity, threshold)) = grade_above(
            f64::from(dpd),
            th.overdue_watch_days as f64,
            th.overdue_warning_days as f64,
            th.overdue_critical_days as f64,
        ) else {
            continue;
        };
        let overdue: Vec<&Open> = rows
            .iter()
            .filter(|r| r.1 == agent && d - r.3 > 0)
            .collect();
        let total: f64 = overdue.iter().map(|r| r.2).sum();
        let mut s = ctx.base(
            Kind::ReceivablesOverdue,
            "DAYS_PAST_DUE",
            ctx.agent_subject(agent),
        );
        s.region_id = ctx.agent_region(agent);
        s.agent_id = Some(agent);
        s.severity = severity;
        s.value = f64::from(dpd);
        s.threshold = threshold;
        s.unit = "DAYS";
        s.formula = "days past due = D − due date of the oldest unpaid receivable";
        s.summary = format!(
            "{}: a receivable is {} days past due; {} overdue in {} receivable(s)",
            s.subject_label,
            dpd,
            yuan(total),
            overdue.len()
        );
        let f = per_agent.get(&agent).copied().unwrap_or_default();
        let mut metrics = vec![
            ("days_past_due", f64::from(dpd)),
            ("overdue_yuan", total / 100.0),
        ];
        for (i, name) in AGING.iter().enumerate() {
            metrics.push((name, f.aging[i] / 100.0));
        }
        s.metrics = metrics;
        let mut sel = overdue;
        sel.sort_by_key(|r| (r.3, r.0));
        (s.evidence, s.more) = cap(sel
            .into_iter()
            .map(|r| Evidence {
                kind: "ORDER",
                id: Some(r.0),
                reference: format!(
                    "{}: {} outstanding, {} days past due",
                    ctx.inp.order_numbers.get(&r.0).cloned().unwrap_or_default(),
                    yuan(r.2),
                    d - r.3
                ),
            })
            .collect());
        out.push(s);
    }
}
