//! Forecast deviation (docs/signals.md §2): the tracking signal of the
//! forecasts against actual units, per salesperson and per region, for
//! each product.
use chrono::NaiveDate;
use polars::prelude::*;

use super::super::load::month_of_day;
use super::super::{Kind, Severity, Signal, SubjectType};
use super::helpers::{between, f64s, i64s, join, left, month_start, pct};
use super::Ctx;

/// Sums over the months of one group of keys.
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

/// Per salesperson, then per region.
pub(super) fn signals(ctx: &Ctx, out: &mut Vec<Signal>) -> anyhow::Result<()> {
    let th = ctx.th;
    let m_end = month_of_day(ctx.d) - 1;
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

    let period = (
        month_start(m_start),
        month_start(m_end + 1).pred_opt().unwrap_or(ctx.as_of),
    );
    for (agg, by_person) in [(&per_sp, true), (&per_region, false)] {
        for i in 0..agg.keys.len() {
            out.extend(signal(ctx, agg, i, by_person, period));
        }
    }
    Ok(())
}

/// The signal of group `i` of `agg`, if its tracking signal is beyond a
/// threshold.
fn signal(
    ctx: &Ctx,
    agg: &FcAgg,
    i: usize,
    by_person: bool,
    (period_start, period_end): (NaiveDate, NaiveDate),
) -> Option<Signal> {
    let th = ctx.th;
    let n = agg.n[i];
    if n < th.forecast_min_months {
        return None;
    }
    let (sa, sf, sabs, serr) = (agg.sa[i], agg.sf[i], agg.sabs[i], agg.serr[i]);
    if sabs <= 0.0 {
        return None;
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
        return None;
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
    Some(s)
}
