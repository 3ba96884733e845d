//! From frames to signals (docs/signals.md). Row-level work (joins over
//! order lines, payments, serial events) is done by polars; the per-subject
//! grading, a few thousand rows at most, in plain Rust.
use salesguard_domain::figures;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Context;
use chrono::NaiveDate;
use polars::prelude::*;
use salesguard_config::SignalSettings;

use super::load::{date_of, day_of, Inputs};
use super::{grade_above, Evidence, Kind, Severity, Signal, SubjectType, MAX_EVIDENCE};

// ------------------------------------------------------------ helpers

fn i64s(df: &DataFrame, name: &str) -> anyhow::Result<Vec<i64>> {
    let c = df
        .column(name)
        .map_err(|e| anyhow::anyhow!("column {name}: {e}"))?
        .cast(&DataType::Int64)?;
    Ok(c.i64()?.iter().map(|v| v.unwrap_or(0)).collect())
}

fn f64s(df: &DataFrame, name: &str) -> anyhow::Result<Vec<f64>> {
    let c = df
        .column(name)
        .map_err(|e| anyhow::anyhow!("column {name}: {e}"))?
        .cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn strs(df: &DataFrame, name: &str) -> anyhow::Result<Vec<String>> {
    let c = df
        .column(name)
        .map_err(|e| anyhow::anyhow!("column {name}: {e}"))?;
    Ok(c.str()?
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect())
}

fn left(on: &[&str]) -> (Vec<Expr>, Vec<Expr>, JoinArgs) {
    let keys: Vec<Expr> = on.iter().map(|k| col(*k)).collect();
    (keys.clone(), keys, JoinArgs::new(JoinType::Left))
}

fn inner(on: &[&str]) -> (Vec<Expr>, Vec<Expr>, JoinArgs) {
    let keys: Vec<Expr> = on.iter().map(|k| col(*k)).collect();
    (keys.clone(), keys, JoinArgs::new(JoinType::Inner))
}

fn join(a: LazyFrame, b: LazyFrame, spec: (Vec<Expr>, Vec<Expr>, JoinArgs)) -> LazyFrame {
    a.join(b, spec.0, spec.1, spec.2)
}

/// `lo <= c <= hi` on an integer column.
fn between(c: &str, lo: i32, hi: i32) -> Expr {
    col(c).gt_eq(lit(lo)).and(col(c).lt_eq(lit(hi)))
}

/// `qty` when `cond`, else 0.
fn qty_if(cond: Expr) -> Expr {
    when(cond).then(col("qty")).otherwise(lit(0i64))
}

fn yuan(fen: f64) -> String {
    salesguard_domain::Fen::round(fen).to_string()
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn cap(mut docs: Vec<Evidence>) -> (Vec<Evidence>, usize) {
    let more = docs.len().saturating_sub(MAX_EVIDENCE);
    docs.truncate(MAX_EVIDENCE);
    (docs, more)
}

/// The first day of month number `m` (year × 12 + month − 1).
fn month_start(m: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1).unwrap_or_default()
}

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
        ("receivables", receivables),
        ("forecast deviation", forecasts),
        ("price inversion", prices),
        ("goods diversion", diversion),
        ("purchases over capacity", capacity),
        ("channel stock", stock),
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

// ------------------------------------------------------------ receivables

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

fn receivables(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let w = th.ar_window_days as i32;
    let d = ctx.d;
    let (ar, ar_prev) = (ar_at(ctx, d)?, ar_at(ctx, d - w)?);
    let (sales, sales_prev) = (sales_at(ctx, d, w)?, sales_at(ctx, d - w, w)?);

    // Open receivables (order, agent, outstanding, due day).
    let rec = &ctx.inp.receivables;
    let rows: Vec<(i64, i64, f64, i32)> = i64s(rec, "order_id")?
        .into_iter()
        .zip(i64s(rec, "agent_id")?)
        .zip(f64s(rec, "outstanding_fen")?)
        .zip(i64s(rec, "due_day")?)
        .map(|(((o, a), v), due)| (o, a, v, due as i32))
        .collect();

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

    // Regions (with their sub-areas) and the company.
    let mut per_region: BTreeMap<i64, ArFig> = BTreeMap::new();
    let mut company = ArFig::default();
    for (agent, f) in &per_agent {
        company.add(f);
        if let Some(r) = ctx.agent_region(*agent) {
            for a in ctx.inp.ancestors(r) {
                per_region.entry(a).or_default().add(f);
            }
        }
    }

    let docs_of = |pred: &dyn Fn(i64) -> bool| -> (Vec<Evidence>, usize) {
        let mut sel: Vec<&(i64, i64, f64, i32)> = rows.iter().filter(|r| pred(r.1)).collect();
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
    };

    let mut growth = |subject: (SubjectType, Option<i64>, String),
                      region: Option<i64>,
                      agent: Option<i64>,
                      f: &ArFig,
                      docs: (Vec<Evidence>, usize)| {
        if f.ar < th.ar_min_yuan * 100.0
            || f.sales <= 0.0
            || f.sales_prev <= 0.0
            || f.ar_prev <= 0.0
        {
            return;
        }
        let share = f.ar / f.sales;
        let share_prev = f.ar_prev / f.sales_prev;
        let dsri = share / share_prev;
        let Some((severity, threshold)) =
            grade_above(dsri, th.dsri_watch, th.dsri_warning, th.dsri_critical)
        else {
            return;
        };
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
        out.push(s);
    };

    for (agent, f) in &per_agent {
        let region = ctx.agent_region(*agent);
        growth(
            ctx.agent_subject(*agent),
            region,
            Some(*agent),
            f,
            docs_of(&|a| a == *agent),
        );
    }
    for (region, f) in &per_region {
        let docs = docs_of(&|a| {
            ctx.agent_region(a)
                .is_some_and(|r| ctx.inp.ancestors(r).contains(region))
        });
        growth(
            (
                SubjectType::Region,
                Some(*region),
                ctx.inp.region_label(*region),
            ),
            Some(*region),
            None,
            f,
            docs,
        );
    }
    growth(
        (SubjectType::Company, None, "the company".into()),
        None,
        None,
        &company,
        docs_of(&|_| true),
    );

    // Overdue: the oldest unpaid receivable per agent.
    let mut worst: BTreeMap<i64, i32> = BTreeMap::new();
    for (_, agent, _, due) in &rows {
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
        let overdue: Vec<&(i64, i64, f64, i32)> = rows
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
    Ok(())
}

// ------------------------------------------------------------ forecasts

struct FcAgg {
    keys: Vec<Vec<i64>>,
    n: Vec<i64>,
    sa: Vec<f64>,
    sf: Vec<f64>,
    sabs: Vec<f64>,
    serr: Vec<f64>,
}

/// Σ over the months of `f` (forecast) left-joined with `a` (actual) on
/// `keys` + month.
fn fc_agg(f: LazyFrame, a: LazyFrame, keys: &[&str]) -> anyhow::Result<FcAgg> {
    let mut on: Vec<&str> = keys.to_vec();
    on.push("month");
    let df = join(f, a, left(&on))
        .with_column(col("a").fill_null(lit(0i64)))
        .with_column((col("a") - col("f")).alias("err"))
        .group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
        .agg([
            col("month").count().alias("n"),
            col("a").sum().alias("sa"),
            col("f").sum().alias("sf"),
            col("err").abs().sum().alias("sabs"),
            col("err").sum().alias("serr"),
        ])
        .collect()?;
    let cols: Vec<Vec<i64>> = keys
        .iter()
        .map(|k| i64s(&df, k))
        .collect::<anyhow::Result<_>>()?;
    let keys = (0..df.height())
        .map(|i| cols.iter().map(|c| c[i]).collect())
        .collect();
    Ok(FcAgg {
        keys,
        n: i64s(&df, "n")?,
        sa: f64s(&df, "sa")?,
        sf: f64s(&df, "sf")?,
        sabs: f64s(&df, "sabs")?,
        serr: f64s(&df, "serr")?,
    })
}

fn forecasts(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let m_end = super::load::month_of_day(ctx.d) - 1;
    let m_start = m_end - th.forecast_window_months as i32 + 1;
    let actual = ctx
        .lo
        .clone()
        .lazy()
        .filter(between("ship_month", m_start, m_end))
        .rename(["ship_month"], ["month"], true);
    let fc = ctx
        .inp
        .forecasts
        .clone()
        .lazy()
        .filter(between("month", m_start, m_end));

    // Sums per salesperson, region, product and month, once; the region's
    // sums are the sums of those (one pass over the lines, not two).
    let sp_keys = [
        col("salesperson_id"),
        col("region_id"),
        col("product_id"),
        col("month"),
    ];
    let f_sp = fc
        .group_by(sp_keys.clone())
        .agg([col("qty").sum().alias("f")])
        .collect()?;
    let a_sp = actual
        .group_by(sp_keys)
        .agg([col("qty").sum().alias("a")])
        .collect()?;
    let region_keys = [col("region_id"), col("product_id"), col("month")];
    let per_region = fc_agg(
        f_sp.clone()
            .lazy()
            .group_by(region_keys.clone())
            .agg([col("f").sum()]),
        a_sp.clone()
            .lazy()
            .group_by(region_keys)
            .agg([col("a").sum()]),
        &["region_id", "product_id"],
    )?;
    let per_sp = fc_agg(
        f_sp.lazy(),
        a_sp.lazy(),
        &["salesperson_id", "region_id", "product_id"],
    )?;

    let period_start = month_start(m_start);
    let period_end = month_start(m_end + 1).pred_opt().unwrap_or(ctx.as_of);
    let mut emit = |agg: &FcAgg, by_person: bool| {
        for i in 0..agg.keys.len() {
            let n = agg.n[i];
            if n < th.forecast_min_months {
                continue;
            }
            let (sa, sf, sabs, serr) = (agg.sa[i], agg.sf[i], agg.sabs[i], agg.serr[i]);
            if sabs <= 0.0 {
                continue;
            }
            let mad = sabs / n as f64;
            let ts = serr / mad;
            let base = sa.max(1.0);
            let (wape, bias) = (sabs / base, (sf - sa) / base);
            let severity = if ts.abs() > th.ts_warning {
                if bias.abs() >= th.bias_critical {
                    (Severity::Critical, th.ts_warning)
                } else {
                    (Severity::Warning, th.ts_warning)
                }
            } else if ts.abs() > th.ts_watch {
                (Severity::Watch, th.ts_watch)
            } else {
                continue;
            };
            let (sp, region, product) = if by_person {
                (Some(agg.keys[i][0]), agg.keys[i][1], agg.keys[i][2])
            } else {
                (None, agg.keys[i][0], agg.keys[i][1])
            };
            let subject = match sp {
                Some(p) => (SubjectType::Salesperson, Some(p), ctx.inp.person_label(p)),
                None => (
                    SubjectType::Region,
                    Some(region),
                    ctx.inp.region_label(region),
                ),
            };
            let over = ts < 0.0;
            let rule = if over {
                "CHRONIC_OVER_FORECAST"
            } else {
                "CHRONIC_UNDER_FORECAST"
            };
            let mut s = ctx.base(Kind::ForecastDeviation, rule, subject);
            s.region_id = Some(region);
            s.salesperson_id = sp;
            s.product_id = Some(product);
            s.detail = sp.map(|_| region.to_string());
            s.period_start = period_start;
            s.period_end = period_end;
            s.severity = severity.0;
            s.value = ts;
            s.threshold = if over { -severity.1 } else { severity.1 };
            s.unit = "MAD";
            s.formula = "tracking signal TS = Σ(A−F) / MAD, MAD = Σ|A−F| / n over the months with a forecast; WAPE = Σ|A−F| / ΣA; bias = Σ(F−A) / ΣA";
            s.summary = format!(
                "{}: chronic {}-forecasting of {} in {}: forecasts {} actuals by {} over {} months (TS {:.1}, WAPE {})",
                s.subject_label,
                if over { "over" } else { "under" },
                ctx.inp.product_label(product),
                ctx.inp.region_label(region),
                if over { "above" } else { "below" },
                pct(bias.abs()),
                n,
                ts,
                pct(wape)
            );
            s.metrics = vec![
                ("tracking_signal", ts),
                ("wape", wape),
                ("bias", bias),
                ("mad_units", mad),
                ("months", n as f64),
                ("forecast_units", sf),
                ("actual_units", sa),
            ];
            out.push(s);
        }
    };
    emit(&per_sp, true);
    emit(&per_region, false);
    Ok(())
}

// ------------------------------------------------------------ prices

const TIERS: [&str; 3] = ["AGENT", "DEALER", "RETAIL"];

fn prices(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let d = ctx.d;
    let pw = th.price_window_days as i32;
    let start = d - pw + 1;

    // (a) The agent's sell-through below its own purchase price.
    let purchase = ctx
        .lo
        .clone()
        .lazy()
        .filter(between("ship_day", d - 364, d))
        .group_by([col("agent_id"), col("product_id")])
        .agg([
            (col("price_fen") * col("qty")).sum().alias("value"),
            col("qty").sum().alias("bought"),
        ])
        .with_column(
            (col("value").cast(DataType::Float64) / col("bought").cast(DataType::Float64))
                .alias("purchase"),
        );
    let sold = join(
        ctx.inp.sell.clone().lazy().filter(between("day", start, d)),
        purchase,
        inner(&["agent_id", "product_id"]),
    )
    .with_column(
        col("price_fen")
            .cast(DataType::Float64)
            .lt(col("purchase"))
            .alias("below"),
    )
    .collect()?;
    let per = sold
        .clone()
        .lazy()
        .group_by([col("agent_id"), col("product_id")])
        .agg([
            col("qty").sum().alias("units"),
            qty_if(col("below")).sum().alias("below_units"),
            col("price_fen").min().alias("min_price"),
            col("purchase").first().alias("purchase"),
        ])
        .filter(col("below_units").gt(lit(0i64)))
        .collect()?;
    let below_rows = sold.lazy().filter(col("below")).collect()?;
    let (b_id, b_agent, b_product, b_price) = (
        i64s(&below_rows, "id")?,
        i64s(&below_rows, "agent_id")?,
        i64s(&below_rows, "product_id")?,
        i64s(&below_rows, "price_fen")?,
    );
    let (agents, products, units, below, min_price, purchase) = (
        i64s(&per, "agent_id")?,
        i64s(&per, "product_id")?,
        f64s(&per, "units")?,
        f64s(&per, "below_units")?,
        f64s(&per, "min_price")?,
        f64s(&per, "purchase")?,
    );
    for i in 0..per.height() {
        let (agent, product) = (agents[i], products[i]);
        let share = below[i] / units[i].max(1.0);
        let (severity, threshold) = if share >= th.inversion_critical_share {
            (Severity::Critical, th.inversion_critical_share)
        } else {
            (Severity::Warning, 0.0)
        };
        let mut s = ctx.base(
            Kind::PriceInversion,
            "BELOW_PURCHASE_PRICE",
            ctx.agent_subject(agent),
        );
        s.region_id = ctx.agent_region(agent);
        s.agent_id = Some(agent);
        s.product_id = Some(product);
        s.period_start = date_of(start);
        s.severity = severity;
        s.value = share;
        s.threshold = threshold;
        s.unit = "SHARE";
        s.formula = "share = units sold through below the agent's average purchase price (last 365 days) / units sold through, in the window";
        s.summary = format!(
            "{}: sells {} below its purchase price: {} of {} units, lowest {} against {} paid",
            s.subject_label,
            ctx.inp.product_label(product),
            below[i],
            units[i],
            yuan(min_price[i]),
            yuan(purchase[i])
        );
        s.metrics = vec![
            ("share_below_purchase", share),
            ("units_below_purchase", below[i]),
            ("units_sold", units[i]),
            ("lowest_price_yuan", min_price[i] / 100.0),
            ("purchase_price_yuan", purchase[i] / 100.0),
        ];
        (s.evidence, s.more) = cap((0..b_id.len())
            .filter(|&j| b_agent[j] == agent && b_product[j] == product)
            .map(|j| Evidence {
                kind: "SELL_THROUGH",
                id: Some(b_id[j]),
                reference: format!("sold at {}", yuan(b_price[j] as f64)),
            })
            .collect());
        out.push(s);
    }

    // Observations in the window.
    let obs = ctx
        .inp
        .prices
        .clone()
        .lazy()
        .filter(between("day", start, d))
        .collect()?;
    let (o_id, o_region, o_product, o_tier, o_price) = (
        i64s(&obs, "id")?,
        i64s(&obs, "region_id")?,
        i64s(&obs, "product_id")?,
        strs(&obs, "tier")?,
        i64s(&obs, "price_fen")?,
    );
    let obs_docs = |region: i64, product: i64, tiers: &[&str]| {
        cap((0..o_id.len())
            .filter(|&j| {
                o_region[j] == region
                    && o_product[j] == product
                    && tiers.contains(&o_tier[j].as_str())
            })
            .map(|j| Evidence {
                kind: "PRICE_OBSERVATION",
                id: Some(o_id[j]),
                reference: format!("{} {}", o_tier[j], yuan(o_price[j] as f64)),
            })
            .collect())
    };

    // (b) Below the floor of the tier.
    let floors = join(
        obs.clone().lazy(),
        ctx.inp.floors.clone().lazy(),
        inner(&["product_id", "tier"]),
    )
    .group_by([col("region_id"), col("product_id"), col("tier")])
    .agg([
        col("price_fen")
            .cast(DataType::Float64)
            .median()
            .alias("median"),
        col("price_fen").min().alias("min"),
        col("floor_fen").first().alias("floor"),
        col("price_fen").count().alias("n"),
    ])
    .collect()?;
    let (f_region, f_product, f_tier, f_median, f_min, f_floor, f_n) = (
        i64s(&floors, "region_id")?,
        i64s(&floors, "product_id")?,
        strs(&floors, "tier")?,
        f64s(&floors, "median")?,
        f64s(&floors, "min")?,
        f64s(&floors, "floor")?,
        f64s(&floors, "n")?,
    );
    for i in 0..floors.height() {
        let floor = f_floor[i];
        if floor <= 0.0 {
            continue;
        }
        let (severity, value) = if f_median[i] < floor {
            (Severity::Warning, f_median[i] / floor)
        } else if f_min[i] < floor {
            (Severity::Watch, f_min[i] / floor)
        } else {
            continue;
        };
        let (region, product) = (f_region[i], f_product[i]);
        let mut s = ctx.base(
            Kind::PriceInversion,
            "BELOW_FLOOR",
            (
                SubjectType::Region,
                Some(region),
                ctx.inp.region_label(region),
            ),
        );
        s.detail = Some(f_tier[i].clone());
        s.region_id = Some(region);
        s.product_id = Some(product);
        s.period_start = date_of(start);
        s.severity = severity;
        s.value = value;
        s.threshold = 1.0;
        s.formula = "ratio = median (WARNING) or lowest (WATCH) price observed for the tier / the tier's floor price";
        s.summary = format!(
            "{}: {} {} prices below the floor {}: median {}, lowest {} ({} observations)",
            s.subject_label,
            ctx.inp.product_label(product),
            f_tier[i],
            yuan(floor),
            yuan(f_median[i]),
            yuan(f_min[i]),
            f_n[i]
        );
        s.metrics = vec![
            ("ratio_to_floor", value),
            ("median_price_yuan", f_median[i] / 100.0),
            ("lowest_price_yuan", f_min[i] / 100.0),
            ("floor_yuan", floor / 100.0),
            ("observations", f_n[i]),
        ];
        (s.evidence, s.more) = obs_docs(region, product, &[f_tier[i].as_str()]);
        out.push(s);
    }

    // (c) A downstream tier below an upstream one; the AGENT tier includes
    // the purchase prices of the region's agents.
    let agent_prices = ctx
        .lo
        .clone()
        .lazy()
        .filter(between("ship_day", start, d))
        .select([
            col("region_id"),
            col("product_id"),
            lit("AGENT").alias("tier"),
            col("price_fen"),
        ]);
    let medians = concat(
        [
            obs.clone().lazy().select([
                col("region_id"),
                col("product_id"),
                col("tier"),
                col("price_fen"),
            ]),
            agent_prices,
        ],
        UnionArgs::default(),
    )?
    .group_by([col("region_id"), col("product_id"), col("tier")])
    .agg([col("price_fen")
        .cast(DataType::Float64)
        .median()
        .alias("median")])
    .collect()?;
    let mut by_rp: BTreeMap<(i64, i64), HashMap<String, f64>> = BTreeMap::new();
    for ((r, p), (t, m)) in i64s(&medians, "region_id")?
        .into_iter()
        .zip(i64s(&medians, "product_id")?)
        .zip(
            strs(&medians, "tier")?
                .into_iter()
                .zip(f64s(&medians, "median")?),
        )
    {
        by_rp.entry((r, p)).or_default().insert(t, m);
    }
    for ((region, product), m) in by_rp {
        let mut worst: Option<(f64, &str, &str)> = None;
        let mut pairs = vec![];
        for (ui, up) in TIERS.iter().enumerate() {
            for down in &TIERS[ui + 1..] {
                if let (Some(u), Some(dn)) = (m.get(*up), m.get(*down)) {
                    if *u > 0.0 && dn < u {
                        let ratio = dn / u;
                        pairs.push(format!("{down} {} < {up} {}", yuan(*dn), yuan(*u)));
                        if worst.is_none_or(|w| ratio < w.0) {
                            worst = Some((ratio, up, down));
                        }
                    }
                }
            }
        }
        let Some((ratio, _, _)) = worst else {
            continue;
        };
        let mut s = ctx.base(
            Kind::PriceInversion,
            "TIER_INVERSION",
            (
                SubjectType::Region,
                Some(region),
                ctx.inp.region_label(region),
            ),
        );
        s.region_id = Some(region);
        s.product_id = Some(product);
        s.period_start = date_of(start);
        s.severity = Severity::Warning;
        s.value = ratio;
        s.threshold = 1.0;
        s.formula = "ratio = median price of a downstream tier / median price of an upstream tier (AGENT → DEALER → RETAIL)";
        s.summary = format!(
            "{}: {} prices inverted between channel tiers: {}",
            s.subject_label,
            ctx.inp.product_label(product),
            pairs.join("; ")
        );
        let mut metrics = vec![("worst_ratio", ratio)];
        for (t, name) in TIERS.iter().zip([
            "agent_median_yuan",
            "dealer_median_yuan",
            "retail_median_yuan",
        ]) {
            if let Some(v) = m.get(*t) {
                metrics.push((name, v / 100.0));
            }
        }
        s.metrics = metrics;
        (s.evidence, s.more) = obs_docs(region, product, &TIERS);
        out.push(s);
    }
    Ok(())
}

// ------------------------------------------------------------ diversion

/// (home region, seen region) pairs that are the same territory.
fn territory(ctx: &Ctx) -> anyhow::Result<LazyFrame> {
    // The pairs for which `same_territory` holds: a region with each of its
    // ancestors, both ways (itself once). Linear in regions × depth, where
    // testing every pair was quadratic (64M pairs at 8,000 regions).
    let mut pairs: BTreeSet<(i64, i64)> = BTreeSet::new();
    for r in ctx.inp.regions.keys() {
        for a in ctx.inp.ancestors(*r) {
            pairs.insert((*r, a));
            pairs.insert((a, *r));
        }
    }
    let (home, seen): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
    let n = home.len();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("home".into(), home),
        Column::new("region_id".into(), seen),
        Column::new("inside".into(), vec![true; n]),
    ])?
    .lazy())
}

fn homes(ctx: &Ctx, key: &str) -> anyhow::Result<LazyFrame> {
    let (mut a, mut r) = (vec![], vec![]);
    for (id, dim) in &ctx.inp.agents {
        a.push(*id);
        r.push(dim.region);
    }
    Ok(DataFrame::new_infer_height(vec![
        Column::new(key.into(), a),
        Column::new("home".into(), r),
    ])?
    .lazy())
}

fn diversion(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let d = ctx.d;
    let start = d - th.diversion_window_days as i32 + 1;
    let terr = territory(ctx)?;
    let events = concat(
        [
            ctx.inp
                .sell
                .clone()
                .lazy()
                .filter(between("day", start, d).and(col("unit").is_not_null()))
                .select([
                    col("unit"),
                    col("region_id"),
                    lit("SELL_THROUGH").alias("src"),
                    col("id"),
                ]),
            ctx.inp
                .sightings
                .clone()
                .lazy()
                .filter(between("day", start, d).and(col("unit").is_not_null()))
                .select([
                    col("unit"),
                    col("region_id"),
                    lit("UNIT_SIGHTING").alias("src"),
                    col("id"),
                ]),
        ],
        UnionArgs::default(),
    )?;
    let located = join(
        join(
            join(events, ctx.inp.units.clone().lazy(), inner(&["unit"])),
            homes(ctx, "owner_agent_id")?,
            inner(&["owner_agent_id"]),
        ),
        terr.clone(),
        left(&["home", "region_id"]),
    )
    .with_column(
        when(col("inside").is_null())
            .then(lit(1i64))
            .otherwise(lit(0i64))
            .alias("out"),
    );
    // One row per unit: diverted when any event was outside.
    let per_serial = located
        .group_by([col("owner_agent_id"), col("unit")])
        .agg([
            col("out").max().alias("out"),
            col("region_id")
                .filter(col("out").eq(lit(1i64)))
                .first()
                .alias("seen_region"),
            col("src")
                .filter(col("out").eq(lit(1i64)))
                .first()
                .alias("src"),
        ])
        .collect()?;
    let per_agent = per_serial
        .clone()
        .lazy()
        .group_by([col("owner_agent_id")])
        .agg([
            col("unit").count().alias("located"),
            col("out").sum().alias("diverted"),
        ])
        .collect()?;
    let mut fig: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for ((a, l), dv) in i64s(&per_agent, "owner_agent_id")?
        .into_iter()
        .zip(f64s(&per_agent, "located")?)
        .zip(f64s(&per_agent, "diverted")?)
    {
        fig.insert(a, (l, dv));
    }
    // Serial-less sell-through, by quantity.
    let bulk = join(
        join(
            ctx.inp
                .sell
                .clone()
                .lazy()
                .filter(between("day", start, d).and(col("has_serial").not())),
            homes(ctx, "agent_id")?,
            inner(&["agent_id"]),
        ),
        terr,
        left(&["home", "region_id"]),
    )
    .group_by([col("agent_id")])
    .agg([
        col("qty").sum().alias("located"),
        qty_if(col("inside").is_null()).sum().alias("diverted"),
    ])
    .collect()?;
    for ((a, l), dv) in i64s(&bulk, "agent_id")?
        .into_iter()
        .zip(f64s(&bulk, "located")?)
        .zip(f64s(&bulk, "diverted")?)
    {
        let e = fig.entry(a).or_default();
        e.0 += l;
        e.1 += dv;
    }

    let diverted_rows = per_serial
        .lazy()
        .filter(col("out").eq(lit(1i64)))
        .collect()?;
    // The diverted units (serial, owner, region seen in, source), by serial.
    let mut units_out: Vec<(&str, i64, i64, String)> = i64s(&diverted_rows, "unit")?
        .into_iter()
        .map(|u| ctx.inp.serials.serial(u32::try_from(u).unwrap_or(u32::MAX)))
        .zip(i64s(&diverted_rows, "owner_agent_id")?)
        .zip(i64s(&diverted_rows, "seen_region")?)
        .zip(strs(&diverted_rows, "src")?)
        .map(|(((s, a), r), src)| (s, a, r, src))
        .collect();
    units_out.sort();
    for (agent, (located, diverted)) in fig {
        if diverted < th.diversion_min_units as f64 || located <= 0.0 {
            continue;
        }
        let rate = diverted / located;
        let Some((severity, threshold)) = grade_above(
            rate,
            th.diversion_watch,
            th.diversion_warning,
            th.diversion_critical,
        ) else {
            continue;
        };
        let mut s = ctx.base(
            Kind::GoodsDiversion,
            "CROSS_REGION",
            ctx.agent_subject(agent),
        );
        s.region_id = ctx.agent_region(agent);
        s.agent_id = Some(agent);
        s.period_start = date_of(start);
        s.severity = severity;
        s.value = rate;
        s.threshold = threshold;
        s.unit = "SHARE";
        s.formula = "diversion rate = units of the agent found outside its region (sell-through or activation, warranty, call-back) / units located, in the window";
        let mut where_found: BTreeMap<String, usize> = BTreeMap::new();
        for (_, _, region, _) in units_out.iter().filter(|x| x.1 == agent) {
            *where_found
                .entry(ctx.inp.region_label(*region))
                .or_default() += 1;
        }
        s.summary = format!(
            "{}: {} of {} units located turned up outside its region ({}){}",
            s.subject_label,
            diverted,
            located,
            pct(rate),
            if where_found.is_empty() {
                String::new()
            } else {
                format!(
                    ", in {}",
                    where_found
                        .iter()
                        .map(|(r, n)| format!("{r} ({n})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        s.metrics = vec![
            ("diversion_rate", rate),
            ("units_diverted", diverted),
            ("units_located", located),
        ];
        (s.evidence, s.more) = cap(units_out
            .iter()
            .filter(|x| x.1 == agent)
            .map(|(serial, _, region, src)| Evidence {
                kind: "SERIAL",
                id: None,
                reference: format!(
                    "{serial} found in {} ({src})",
                    ctx.inp.region_label(*region),
                ),
            })
            .collect());
        out.push(s);
    }
    Ok(())
}

fn capacity(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let d = ctx.d;
    let df = ctx
        .lo
        .clone()
        .lazy()
        .filter(between("ship_day", d - 89, d))
        .group_by([col("agent_id")])
        .agg([col("qty").sum().alias("units")])
        .collect()?;
    for (agent, units) in i64s(&df, "agent_id")?.into_iter().zip(f64s(&df, "units")?) {
        let Some(home) = ctx.agent_region(agent) else {
            continue;
        };
        let Some((region, cap_units)) = ctx
            .inp
            .ancestors(home)
            .into_iter()
            .find_map(|r| ctx.inp.regions.get(&r)?.capacity.map(|c| (r, c)))
        else {
            continue;
        };
        if cap_units <= 0 {
            continue;
        }
        let annual = units * 365.0 / 90.0;
        let ratio = annual / cap_units as f64;
        let Some((severity, threshold)) = grade_above(
            ratio,
            th.capacity_watch,
            th.capacity_warning,
            th.capacity_critical,
        ) else {
            continue;
        };
        let mut s = ctx.base(
            Kind::PurchaseOverCapacity,
            "ABOVE_MARKET_CAPACITY",
            ctx.agent_subject(agent),
        );
        s.region_id = Some(home);
        s.agent_id = Some(agent);
        s.period_start = date_of(d - 89);
        s.severity = severity;
        s.value = ratio;
        s.threshold = threshold;
        s.formula = "ratio = units shipped to the agent in the last 90 days × 365/90 / its region's market capacity (units a year)";
        s.summary = format!(
            "{}: buys {:.0} units a year at the current pace, {:.1}× the market capacity of {} ({} units a year)",
            s.subject_label,
            annual,
            ratio,
            ctx.inp.region_label(region),
            cap_units
        );
        s.metrics = vec![
            ("ratio_to_capacity", ratio),
            ("units_90_days", units),
            ("annualized_units", annual),
            ("market_capacity_units", cap_units as f64),
        ];
        out.push(s);
    }
    Ok(())
}

// ------------------------------------------------------------ stock

fn stock(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let d = ctx.d;
    let shipped = ctx
        .lo
        .clone()
        .lazy()
        .filter(col("ship_day").lt_eq(lit(d)))
        .group_by([col("agent_id")])
        .agg([
            col("qty").sum().alias("in_all"),
            qty_if(between("ship_day", d - 27, d))
                .sum()
                .alias("in_last"),
            qty_if(between("ship_day", d - 55, d - 28))
                .sum()
                .alias("in_prev"),
        ])
        .collect()?;
    let sold = ctx
        .inp
        .sell
        .clone()
        .lazy()
        .filter(col("day").lt_eq(lit(d)))
        .group_by([col("agent_id")])
        .agg([
            col("qty").sum().alias("st_all"),
            qty_if(between("day", d - 27, d)).sum().alias("st_last"),
            qty_if(between("day", d - 55, d - 28))
                .sum()
                .alias("st_prev"),
        ])
        .collect()?;
    let mut st: HashMap<i64, (f64, f64, f64)> = HashMap::new();
    for (((a, all), last), prev) in i64s(&sold, "agent_id")?
        .into_iter()
        .zip(f64s(&sold, "st_all")?)
        .zip(f64s(&sold, "st_last")?)
        .zip(f64s(&sold, "st_prev")?)
    {
        st.insert(a, (all, last, prev));
    }
    let (agents, in_all, in_last, in_prev) = (
        i64s(&shipped, "agent_id")?,
        f64s(&shipped, "in_all")?,
        f64s(&shipped, "in_last")?,
        f64s(&shipped, "in_prev")?,
    );
    for i in 0..agents.len() {
        let agent = agents[i];
        let (st_all, st_last, st_prev) = st.get(&agent).copied().unwrap_or_default();
        let stock = in_all[i] - st_all;
        let weekly = st_last / 4.0;
        let wos = figures::weeks_of_supply(stock, st_last).unwrap_or(f64::INFINITY);
        let metrics = vec![
            ("weeks_of_supply", wos),
            ("channel_stock_units", stock),
            ("avg_weekly_sell_through", weekly),
            ("sell_in_last_4_weeks", in_last[i]),
            ("sell_in_prior_4_weeks", in_prev[i]),
            ("sell_through_last_4_weeks", st_last),
            ("sell_through_prior_4_weeks", st_prev),
        ];
        if stock >= th.stock_min_units as f64 {
            if let Some((severity, threshold)) =
                grade_above(wos, th.wos_watch, th.wos_warning, th.wos_critical)
            {
                let mut s = ctx.base(
                    Kind::ChannelStock,
                    "WEEKS_OF_SUPPLY",
                    ctx.agent_subject(agent),
                );
                s.region_id = ctx.agent_region(agent);
                s.agent_id = Some(agent);
                s.period_start = date_of(d - 27);
                s.severity = severity;
                // Nothing sold through in 4 weeks: reported as 999 weeks.
                s.value = wos.min(999.0);
                s.threshold = threshold;
                s.unit = "WEEKS";
                s.formula = "weeks of supply = (units shipped to the agent − units it sold through) / average weekly sell-through of the last 4 weeks";
                s.summary = format!(
                    "{}: {} units in channel stock, {} of supply at {:.1} units a week sold through",
                    s.subject_label,
                    stock,
                    if wos.is_finite() {
                        format!("{wos:.1} weeks")
                    } else {
                        "endless weeks".into()
                    },
                    weekly
                );
                s.metrics = metrics.clone();
                out.push(s);
            }
        }
        if in_prev[i] > 0.0 {
            let growth = in_last[i] / in_prev[i] - 1.0;
            let st_change = if st_prev > 0.0 {
                st_last / st_prev - 1.0
            } else if st_last > 0.0 {
                f64::INFINITY
            } else {
                0.0
            };
            if growth > th.sell_in_growth && st_change < th.sell_through_flat {
                let mut s = ctx.base(
                    Kind::ChannelStock,
                    "SELL_IN_OUTPACING_SELL_THROUGH",
                    ctx.agent_subject(agent),
                );
                s.region_id = ctx.agent_region(agent);
                s.agent_id = Some(agent);
                s.period_start = date_of(d - 55);
                s.severity = Severity::Watch;
                s.value = growth;
                s.threshold = th.sell_in_growth;
                s.formula = "sell-in growth = units shipped in the last 28 days / the 28 days before − 1, while sell-through changed by less than the flat threshold";
                s.summary = format!(
                    "{}: sell-in up {} in 4 weeks ({} → {} units) while sell-through changed {} ({} → {})",
                    s.subject_label,
                    pct(growth),
                    in_prev[i],
                    in_last[i],
                    pct(st_change),
                    st_prev,
                    st_last
                );
                let mut m = metrics.clone();
                m.push(("sell_in_growth", growth));
                m.push(("sell_through_change", st_change));
                s.metrics = m;
                out.push(s);
            }
        }
    }
    Ok(())
}
