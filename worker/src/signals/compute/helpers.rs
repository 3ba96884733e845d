//! Shared helpers of the signal computations: reading frame columns into
//! vectors, joins and filters on frames, and the wording of summaries.
use chrono::NaiveDate;
use polars::prelude::*;

use super::super::{Evidence, MAX_EVIDENCE};

pub(super) fn i64s(df: &DataFrame, name: &str) -> anyhow::Result<Vec<i64>> {
    let c = df
        .column(name)
        .map_err(|e| anyhow::anyhow!("column {name}: {e}"))?
        .cast(&DataType::Int64)?;
    Ok(c.i64()?.iter().map(|v| v.unwrap_or(0)).collect())
}

pub(super) fn f64s(df: &DataFrame, name: &str) -> anyhow::Result<Vec<f64>> {
    let c = df
        .column(name)
        .map_err(|e| anyhow::anyhow!("column {name}: {e}"))?
        .cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

pub(super) fn strs(df: &DataFrame, name: &str) -> anyhow::Result<Vec<String>> {
    let c = df
        .column(name)
        .map_err(|e| anyhow::anyhow!("column {name}: {e}"))?;
    Ok(c.str()?
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect())
}

pub(super) fn left(on: &[&str]) -> (Vec<Expr>, Vec<Expr>, JoinArgs) {
    let keys: Vec<Expr> = on.iter().map(|k| col(*k)).collect();
    (keys.clone(), keys, JoinArgs::new(JoinType::Left))
}

pub(super) fn inner(on: &[&str]) -> (Vec<Expr>, Vec<Expr>, JoinArgs) {
    let keys: Vec<Expr> = on.iter().map(|k| col(*k)).collect();
    (keys.clone(), keys, JoinArgs::new(JoinType::Inner))
}

pub(super) fn join(
    a: LazyFrame,
    b: LazyFrame,
    spec: (Vec<Expr>, Vec<Expr>, JoinArgs),
) -> LazyFrame {
    a.join(b, spec.0, spec.1, spec.2)
}

/// `lo <= c <= hi` on an integer column.
pub(super) fn between(c: &str, lo: i32, hi: i32) -> Expr {
    col(c).gt_eq(lit(lo)).and(col(c).lt_eq(lit(hi)))
}

/// `qty` when `cond`, else 0.
pub(super) fn qty_if(cond: Expr) -> Expr {
    when(cond).then(col("qty")).otherwise(lit(0i64))
}

pub(super) fn yuan(fen: f64) -> String {
    salesguard_domain::Fen::round(fen).to_string()
}

pub(super) fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// The documents cited (at most [`MAX_EVIDENCE`]) and how many were left out.
pub(super) fn cap(mut docs: Vec<Evidence>) -> (Vec<Evidence>, usize) {
    let more = docs.len().saturating_sub(MAX_EVIDENCE);
    docs.truncate(MAX_EVIDENCE);
    (docs, more)
}

/// The first day of month number `m` (year × 12 + month − 1).
pub(super) fn month_start(m: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1).unwrap_or_default()
}
