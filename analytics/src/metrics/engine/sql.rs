//! Building the statements (filters, grouped keys, period buckets) and
//! reading their rows.
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};

use super::super::{Dimension, MetricError, MetricQuery, Period};
use super::{Cols, Ctx, Key};

pub(super) fn grouped(q: &MetricQuery, d: Dimension) -> bool {
    q.group_by.contains(&d)
}

pub(super) fn ids(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

pub(super) fn lit(d: NaiveDate) -> String {
    format!("'{}'", d.format("%Y-%m-%d"))
}

/// The SQL expression of the calendar start of `p` holding date column `c`.
pub(super) fn bucket_sql(be: DbBackend, p: Period, c: &str) -> String {
    match (be, p) {
        (_, Period::Day) => c.to_owned(),
        (DbBackend::Postgres, Period::Week) => format!("CAST(date_trunc('week', {c}) AS DATE)"),
        (DbBackend::Postgres, Period::Month) => format!("CAST(date_trunc('month', {c}) AS DATE)"),
        (DbBackend::Postgres, Period::Quarter) => {
            format!("CAST(date_trunc('quarter', {c}) AS DATE)")
        }
        (_, Period::Week) => format!(
            "date({c}, '-' || ((CAST(strftime('%w', {c}) AS INTEGER) + 6) % 7) || ' days')"
        ),
        (_, Period::Month) => format!("strftime('%Y-%m-01', {c})"),
        (_, Period::Quarter) => format!(
            "printf('%s-%02d-01', strftime('%Y', {c}), ((CAST(strftime('%m', {c}) AS INTEGER) - 1) / 3) * 3 + 1)"
        ),
    }
}

/// The filters of the query (regions, agents, salespeople, products) on a
/// fact with these columns, as ` AND …`.
pub(super) fn filters(ctx: &Ctx, c: &Cols) -> String {
    let mut w = String::new();
    let f = &ctx.q.filter;
    if let Some(r) = &ctx.regions {
        w.push_str(&format!(" AND {} IN ({})", c.region, ids(r)));
    }
    for (col, v) in [
        (c.agent, &f.agent_ids),
        (c.salesperson, &f.salesperson_ids),
        (c.product, &f.product_ids),
    ] {
        if let (Some(col), false) = (col, v.is_empty()) {
            w.push_str(&format!(" AND {col} IN ({})", ids(v)));
        }
    }
    w
}

/// The grouped key columns of a fact (`k_r`, `k_a`, `k_s`, `k_p`).
pub(super) fn key_select(q: &MetricQuery, c: &Cols) -> Vec<String> {
    let mut out = Vec::new();
    for (d, col, alias) in [
        (Dimension::Region, Some(c.region), "k_r"),
        (Dimension::Agent, c.agent, "k_a"),
        (Dimension::Salesperson, c.salesperson, "k_s"),
        (Dimension::Product, c.product, "k_p"),
    ] {
        if let (true, Some(col)) = (grouped(q, d), col) {
            out.push(format!("{col} AS {alias}"));
        }
    }
    out
}

pub(super) fn key_of(q: &MetricQuery, row: &QueryResult) -> Result<Key, MetricError> {
    let get = |d: Dimension, alias: &str| -> Result<Option<i64>, MetricError> {
        if grouped(q, d) {
            Ok(row.try_get::<Option<i64>>("", alias).map_err(db_err)?)
        } else {
            Ok(None)
        }
    };
    Ok(Key {
        r: get(Dimension::Region, "k_r")?,
        a: get(Dimension::Agent, "k_a")?,
        s: get(Dimension::Salesperson, "k_s")?,
        p: get(Dimension::Product, "k_p")?,
    })
}

pub(super) fn db_err(e: sea_orm::DbErr) -> MetricError {
    MetricError::Db(anyhow::Error::new(e).context("metrics query"))
}

/// Reads a date column (a DATE on PostgreSQL, ISO text on SQLite).
pub(super) fn date_at(row: &QueryResult, col: &str) -> Result<NaiveDate, MetricError> {
    if let Ok(d) = row.try_get::<NaiveDate>("", col) {
        return Ok(d);
    }
    let s: String = row.try_get("", col).map_err(db_err)?;
    NaiveDate::parse_from_str(s.get(..10).unwrap_or(&s), "%Y-%m-%d")
        .map_err(|e| MetricError::Db(anyhow::anyhow!("bad date {s:?} in {col}: {e}")))
}

pub(super) async fn query(ctx: &Ctx<'_>, sql: String) -> Result<Vec<QueryResult>, MetricError> {
    ctx.db
        .query_all_raw(Statement::from_string(ctx.be, sql))
        .await
        .map_err(db_err)
}
