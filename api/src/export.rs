//! Exports for analysts' own tools: orders, order lines, payments,
//! shipments, serial events, forecasts and risk signals as CSV or Parquet,
//! scoped by the reader's regions, streamed in bounded memory.
//!
//! One pipeline serves the HTTP endpoint (`GET /export/{dataset}.{csv|parquet}`),
//! the CLI (`salesguard export`) and the benchmark:
//!
//! ```text
//! database --(sqlx fetch, row by row)--> batch of BATCH_ROWS rows in column vectors
//!          --(bounded channel)--> encoder thread (CSV bytes / one Parquet row group per batch)
//!          --(bounded channel of ~1 MiB chunks)--> response body / file
//! ```
//!
//! At most a few batches and chunks are in memory at once, whatever the size
//! of the export. A client that goes away stops the query.
//!
//! Columns (the same names and order in both formats):
//! - ids are integers; codes, numbers and names are text;
//! - money `x` is two columns: `x` (exact yuan: `"1999.50"` in CSV,
//!   `Decimal(18, 2)` in Parquet) and `x_fen` (integer fen);
//! - `*_date` / `*_on` are business days in the company's time zone
//!   (`YYYY-MM-DD`; Parquet `Date`); `*_at` are instants in UTC
//!   (RFC 3339 in CSV; Parquet `Datetime(µs, UTC)`);
//! - empty CSV fields and Parquet nulls are missing values.
use std::io::Write;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use polars::prelude::{
    Column, DataFrame, Float64Chunked, Int128Chunked, Int32Chunked, Int64Chunked, IntoColumn,
    IntoSeries, NewChunkedArray, ParquetCompression, ParquetWriter, StringChunked, TimeUnit,
    TimeZone as PlTimeZone,
};
use sea_orm::{DatabaseConnection, DbBackend};
use serde::Deserialize;
use sqlx::Row;
use tokio::sync::mpsc;

use crate::app::AppState;
use crate::auth::{actor_from_token, Actor};
use crate::error::AppError;

/// Rows per batch: one Parquet row group, one CSV chunk of work.
pub const BATCH_ROWS: usize = 50_000;
/// Bytes handed to the body per chunk.
const CHUNK_BYTES: usize = 1 << 20;

/// What can be exported.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Dataset {
    Orders,
    OrderLines,
    Payments,
    Shipments,
    SerialEvents,
    Forecasts,
    Signals,
}

impl Dataset {
    pub const ALL: [Dataset; 7] = [
        Dataset::Orders,
        Dataset::OrderLines,
        Dataset::Payments,
        Dataset::Shipments,
        Dataset::SerialEvents,
        Dataset::Forecasts,
        Dataset::Signals,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Dataset::Orders => "orders",
            Dataset::OrderLines => "order_lines",
            Dataset::Payments => "payments",
            Dataset::Shipments => "shipments",
            Dataset::SerialEvents => "serial_events",
            Dataset::Forecasts => "forecasts",
            Dataset::Signals => "signals",
        }
    }

    pub fn parse(s: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
    pub fn content_type(&self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// One export: what, in which format, over which business days (inclusive).
#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub dataset: Dataset,
    pub format: Format,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl ExportRequest {
    pub fn file_name(&self) -> String {
        let mut n = self.dataset.as_str().to_owned();
        if let Some(f) = self.from {
            n.push_str(&format!("_from_{f}"));
        }
        if let Some(t) = self.to {
            n.push_str(&format!("_to_{t}"));
        }
        format!("{n}.{}", self.format.extension())
    }
}

/// Parses an optional `YYYY-MM-DD` query value.
pub fn parse_day(field: &str, v: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::BadInput(format!("{field} must be a date YYYY-MM-DD"))),
    }
}

/// Checks the reader's position and the request; a refusal is audited.
pub async fn authorize(app: &AppState, actor: &Actor, req: &ExportRequest) -> Result<(), AppError> {
    if !actor.position.may(salesguard_domain::Capability::Export) {
        crate::audit::record_refusal(
            &app.db,
            Some(actor),
            "export",
            "FORBIDDEN",
            None,
            &format!(
                "export of {} refused: position {} may not export business data",
                req.dataset.as_str(),
                actor.position
            ),
        )
        .await;
        return Err(AppError::Forbidden(format!(
            "position {} may not export business data",
            actor.position
        )));
    }
    if let (Some(f), Some(t)) = (req.from, req.to) {
        if f > t {
            return Err(AppError::BadInput("from is after to".into()));
        }
    }
    Ok(())
}

/// Records an export that was started (who exported what), in its own
/// transaction: bulk reads of business data leave a trace.
async fn record_export(app: &AppState, actor: &Actor, req: &ExportRequest) {
    let entry = crate::audit::Entry {
        stream: format!("exports:{}", actor.user_id),
        actor_id: Some(actor.user_id),
        actor_position: Some(actor.position.as_str().to_owned()),
        action: "export".into(),
        outcome: "OK".into(),
        detail: Some(format!(
            "{} from {} to {} ({})",
            req.file_name(),
            req.from
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            req.to.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
            match actor.region_filter() {
                None => "all regions".to_owned(),
                Some(r) => format!("regions {r:?}"),
            }
        )),
        ..crate::audit::Entry::default()
    };
    let res = async {
        let txn = app.db.begin().await?;
        crate::audit::append(&txn, entry).await?;
        txn.commit().await
    }
    .await;
    if let Err(e) = res {
        tracing::error!(error = %e, "could not audit an export");
    }
}

// ---------------------------------------------------------------------------
// The datasets: SQL and column kinds.

/// How a selected SQL column is read and written.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Float,
    /// A calendar date column.
    Date,
    /// A UTC timestamp column, written as its business day.
    BizDate,
    /// A UTC timestamp column, written as an instant.
    Ts,
    /// Integer fen, written as two columns: `name` (yuan) and `name_fen`.
    Money,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Out {
    Int,
    Text,
    Float,
    Date,
    Ts,
    Money,
}

impl Kind {
    fn out(self) -> Out {
        match self {
            Kind::Int => Out::Int,
            Kind::Text => Out::Text,
            Kind::Float => Out::Float,
            Kind::Date | Kind::BizDate => Out::Date,
            Kind::Ts => Out::Ts,
            Kind::Money => Out::Money,
        }
    }
}

/// One query of a dataset; its columns are read with `kinds`.
#[derive(Clone, Debug)]
pub struct Part {
    pub sql: String,
    pub kinds: Vec<Kind>,
}

/// A dataset's columns and the queries that produce its rows, in order.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Column names as selected (a money column adds `<name>_fen` on output).
    pub names: Vec<&'static str>,
    pub parts: Vec<Part>,
}

impl Spec {
    /// The output column names, in order.
    pub fn header(&self) -> Vec<String> {
        let kinds = self
            .parts
            .first()
            .map(|p| p.kinds.as_slice())
            .unwrap_or(&[]);
        let mut out = vec![];
        for (n, k) in self.names.iter().zip(kinds) {
            out.push((*n).to_owned());
            if *k == Kind::Money {
                out.push(format!("{n}_fen"));
            }
        }
        out
    }
}

/// The filters of a query, rendered as SQL literals of typed values (no
/// user text reaches the SQL).
struct Filters {
    backend: DbBackend,
    tz: Tz,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    scope: Option<Vec<i64>>,
}

impl Filters {
    fn ts_literal(&self, t: DateTime<Utc>) -> String {
        // SQLite stores timestamps as sqlx writes them (RFC 3339, `+00:00`);
        // text comparison orders them.
        let s = t.to_rfc3339_opts(SecondsFormat::AutoSi, false);
        match self.backend {
            DbBackend::Postgres => format!("TIMESTAMPTZ '{s}'"),
            _ => format!("'{s}'"),
        }
    }

    /// The start of a business day, as a UTC instant.
    fn day_start(&self, d: NaiveDate) -> DateTime<Utc> {
        let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        match self.tz.from_local_datetime(&local).earliest() {
            Some(t) => t.with_timezone(&Utc),
            None => Utc.from_utc_datetime(&local),
        }
    }

    /// `AND` conditions on a timestamp column for the business days.
    fn ts_range(&self, col: &str) -> String {
        let mut s = String::new();
        if let Some(f) = self.from {
            s.push_str(&format!(
                " AND {col} >= {}",
                self.ts_literal(self.day_start(f))
            ));
        }
        if let Some(t) = self.to.and_then(|t| t.succ_opt()) {
            s.push_str(&format!(
                " AND {col} < {}",
                self.ts_literal(self.day_start(t))
            ));
        }
        s
    }

    /// `AND` conditions on a date column.
    fn date_range(&self, col: &str) -> String {
        let mut s = String::new();
        if let Some(f) = self.from {
            s.push_str(&format!(" AND {col} >= '{f}'"));
        }
        if let Some(t) = self.to {
            s.push_str(&format!(" AND {col} <= '{t}'"));
        }
        s
    }

    /// `AND` condition on the region column (regions include sub-areas).
    fn region(&self, col: &str) -> String {
        match &self.scope {
            None => String::new(),
            Some(ids) if ids.is_empty() => " AND 1 = 0".into(),
            Some(ids) => {
                let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
                format!(" AND {col} IN ({})", list.join(", "))
            }
        }
    }
}

/// A typed NULL of both backends.
const NULL_INT: &str = "CAST(NULL AS BIGINT)";
const NULL_TEXT: &str = "CAST(NULL AS TEXT)";

/// The SQL and columns of a dataset for a reader.
pub fn spec(
    dataset: Dataset,
    backend: DbBackend,
    tz: Tz,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    scope: Option<Vec<i64>>,
) -> Spec {
    use Kind::*;
    let f = Filters {
        backend,
        tz,
        from,
        to,
        scope,
    };
    let one = |cols: &[(&'static str, Kind, &str)], from_where: String| -> Spec {
        let sql = format!(
            "SELECT {} {from_where}",
            cols.iter()
                .map(|(_, _, e)| *e)
                .collect::<Vec<_>>()
                .join(", ")
        );
        Spec {
            names: cols.iter().map(|(n, _, _)| *n).collect(),
            parts: vec![Part {
                sql,
                kinds: cols.iter().map(|(_, k, _)| *k).collect(),
            }],
        }
    };
    match dataset {
        Dataset::Orders => one(
            &[
                ("order_id", Int, "o.id"),
                ("order_number", Text, "o.number"),
                ("order_date", BizDate, "o.created_at"),
                ("status", Text, "o.status"),
                ("region_id", Int, "r.id"),
                ("region_code", Text, "r.code"),
                ("region_name", Text, "r.name"),
                ("agent_id", Int, "a.id"),
                ("agent_code", Text, "a.code"),
                ("agent_name", Text, "a.name"),
                ("salesperson_id", Int, "u.id"),
                ("salesperson", Text, "u.username"),
                ("salesperson_name", Text, "u.display_name"),
                (
                    "payment_terms_days",
                    Int,
                    "CAST(o.payment_terms_days AS BIGINT)",
                ),
                ("total", Money, "o.total_fen"),
                ("paid", Money, "o.paid_fen"),
                ("fully_paid_on", BizDate, "o.fully_paid_at"),
                ("shipped_on", BizDate, "s.shipped_at"),
                ("archived_on", BizDate, "o.archived_at"),
                ("created_at", Ts, "o.created_at"),
            ],
            format!(
                "FROM sales_orders o JOIN regions r ON r.id = o.region_id \
                 JOIN agents a ON a.id = o.agent_id JOIN users u ON u.id = o.salesperson_id \
                 LEFT JOIN shipments s ON s.order_id = o.id WHERE 1 = 1{}{} ORDER BY o.id",
                f.ts_range("o.created_at"),
                f.region("o.region_id")
            ),
        ),
        Dataset::OrderLines => one(
            &[
                ("line_id", Int, "l.id"),
                ("order_id", Int, "o.id"),
                ("order_number", Text, "o.number"),
                ("order_date", BizDate, "o.created_at"),
                ("order_status", Text, "o.status"),
                ("line_no", Int, "CAST(l.line_no AS BIGINT)"),
                ("region_id", Int, "r.id"),
                ("region_code", Text, "r.code"),
                ("agent_id", Int, "a.id"),
                ("agent_code", Text, "a.code"),
                ("agent_name", Text, "a.name"),
                ("salesperson_id", Int, "u.id"),
                ("salesperson", Text, "u.username"),
                ("product_id", Int, "p.id"),
                ("product_sku", Text, "p.sku"),
                ("product_name", Text, "p.name"),
                ("quantity", Int, "l.quantity"),
                ("unit_price", Money, "l.unit_price_fen"),
                ("amount", Money, "l.amount_fen"),
            ],
            format!(
                "FROM order_lines l JOIN sales_orders o ON o.id = l.order_id \
                 JOIN regions r ON r.id = o.region_id JOIN agents a ON a.id = o.agent_id \
                 JOIN users u ON u.id = o.salesperson_id JOIN products p ON p.id = l.product_id \
                 WHERE 1 = 1{}{} ORDER BY l.id",
                f.ts_range("o.created_at"),
                f.region("o.region_id")
            ),
        ),
        Dataset::Payments => one(
            &[
                ("payment_id", Int, "pm.id"),
                ("order_id", Int, "o.id"),
                ("order_number", Text, "o.number"),
                ("received_on", Date, "pm.received_on"),
                ("amount", Money, "pm.amount_fen"),
                ("reference", Text, "pm.reference"),
                ("region_id", Int, "r.id"),
                ("region_code", Text, "r.code"),
                ("agent_id", Int, "a.id"),
                ("agent_code", Text, "a.code"),
                ("agent_name", Text, "a.name"),
                ("recorded_by", Text, "ru.username"),
                ("recorded_at", Ts, "pm.created_at"),
            ],
            format!(
                "FROM payments pm JOIN sales_orders o ON o.id = pm.order_id \
                 JOIN regions r ON r.id = o.region_id JOIN agents a ON a.id = o.agent_id \
                 JOIN users ru ON ru.id = pm.recorded_by WHERE 1 = 1{}{} ORDER BY pm.id",
                f.date_range("pm.received_on"),
                f.region("o.region_id")
            ),
        ),
        Dataset::Shipments => one(
            &[
                ("shipment_id", Int, "s.id"),
                ("order_id", Int, "o.id"),
                ("order_number", Text, "o.number"),
                ("notice_number", Text, "n.number"),
                ("shipped_on", BizDate, "s.shipped_at"),
                ("shipped_at", Ts, "s.shipped_at"),
                ("warehouse_code", Text, "w.code"),
                ("carrier", Text, "s.carrier"),
                ("tracking_number", Text, "s.tracking_number"),
                ("delivered_on", BizDate, "s.delivered_at"),
                ("region_id", Int, "r.id"),
                ("region_code", Text, "r.code"),
                ("agent_id", Int, "a.id"),
                ("agent_code", Text, "a.code"),
                ("agent_name", Text, "a.name"),
                ("order_total", Money, "o.total_fen"),
            ],
            format!(
                "FROM shipments s JOIN sales_orders o ON o.id = s.order_id \
                 JOIN shipping_notices n ON n.id = s.notice_id \
                 JOIN warehouses w ON w.id = s.warehouse_id \
                 JOIN regions r ON r.id = o.region_id JOIN agents a ON a.id = o.agent_id \
                 WHERE 1 = 1{}{} ORDER BY s.id",
                f.ts_range("s.shipped_at"),
                f.region("o.region_id")
            ),
        ),
        Dataset::SerialEvents => {
            let names = vec![
                "event_type",
                "event_id",
                "event_date",
                "serial",
                "product_id",
                "product_sku",
                "quantity",
                "region_id",
                "region_code",
                "agent_id",
                "agent_code",
                "order_number",
                "sale_price",
                "sighting_kind",
                "note",
            ];
            let shipped = format!(
                "SELECT 'SHIPPED', su.id, su.shipped_at, su.serial, p.id, p.sku, CAST(1 AS BIGINT), \
                 r.id, r.code, a.id, a.code, o.number, {NULL_INT}, {NULL_TEXT}, {NULL_TEXT} \
                 FROM serial_units su JOIN products p ON p.id = su.product_id \
                 JOIN regions r ON r.id = su.region_id JOIN agents a ON a.id = su.agent_id \
                 JOIN sales_orders o ON o.id = su.order_id WHERE 1 = 1{}{} \
                 ORDER BY su.shipped_at, su.id",
                f.ts_range("su.shipped_at"),
                f.region("su.region_id")
            );
            let sold = format!(
                "SELECT 'SOLD', st.id, st.sold_on, st.serial, p.id, p.sku, st.quantity, \
                 r.id, r.code, a.id, a.code, {NULL_TEXT}, st.sale_price_fen, {NULL_TEXT}, {NULL_TEXT} \
                 FROM sell_through st JOIN products p ON p.id = st.product_id \
                 JOIN regions r ON r.id = st.sold_region_id JOIN agents a ON a.id = st.agent_id \
                 WHERE 1 = 1{}{} ORDER BY st.sold_on, st.id",
                f.date_range("st.sold_on"),
                f.region("st.sold_region_id")
            );
            let sighted = format!(
                "SELECT 'SIGHTED', us.id, us.seen_on, us.serial, p.id, p.sku, CAST(1 AS BIGINT), \
                 r.id, r.code, a.id, a.code, o.number, {NULL_INT}, us.kind, us.note \
                 FROM unit_sightings us JOIN regions r ON r.id = us.region_id \
                 LEFT JOIN serial_units su ON su.serial = us.serial \
                 LEFT JOIN products p ON p.id = su.product_id \
                 LEFT JOIN agents a ON a.id = su.agent_id \
                 LEFT JOIN sales_orders o ON o.id = su.order_id WHERE 1 = 1{}{} \
                 ORDER BY us.seen_on, us.id",
                f.date_range("us.seen_on"),
                f.region("us.region_id")
            );
            let kinds = |date: Kind| {
                vec![
                    Text, Int, date, Text, Int, Text, Int, Int, Text, Int, Text, Text, Money, Text,
                    Text,
                ]
            };
            Spec {
                names,
                parts: vec![
                    Part {
                        sql: shipped,
                        kinds: kinds(BizDate),
                    },
                    Part {
                        sql: sold,
                        kinds: kinds(Date),
                    },
                    Part {
                        sql: sighted,
                        kinds: kinds(Date),
                    },
                ],
            }
        }
        Dataset::Forecasts => {
            let month = |d: NaiveDate| d.format("%Y-%m").to_string();
            let mut cond = String::new();
            if let Some(d) = from {
                cond.push_str(&format!(" AND fc.period >= '{}'", month(d)));
            }
            if let Some(d) = to {
                cond.push_str(&format!(" AND fc.period <= '{}'", month(d)));
            }
            one(
                &[
                    ("forecast_id", Int, "fc.id"),
                    ("period", Text, "fc.period"),
                    ("region_id", Int, "r.id"),
                    ("region_code", Text, "r.code"),
                    ("region_name", Text, "r.name"),
                    ("product_id", Int, "p.id"),
                    ("product_sku", Text, "p.sku"),
                    ("product_name", Text, "p.name"),
                    ("salesperson_id", Int, "u.id"),
                    ("salesperson", Text, "u.username"),
                    ("quantity", Int, "fc.quantity"),
                    ("submitted_at", Ts, "fc.submitted_at"),
                    ("updated_at", Ts, "fc.updated_at"),
                ],
                format!(
                    "FROM forecasts fc JOIN regions r ON r.id = fc.region_id \
                     JOIN products p ON p.id = fc.product_id JOIN users u ON u.id = fc.salesperson_id \
                     WHERE 1 = 1{cond}{} ORDER BY fc.period, fc.id",
                    f.region("fc.region_id")
                ),
            )
        }
        Dataset::Signals => {
            let mut cond = String::new();
            if let Some(d) = from {
                cond.push_str(&format!(" AND sg.period_end >= '{d}'"));
            }
            if let Some(d) = to {
                cond.push_str(&format!(" AND sg.period_start <= '{d}'"));
            }
            one(
                &[
                    ("signal_id", Int, "sg.id"),
                    ("kind", Text, "sg.kind"),
                    ("rule", Text, "sg.rule"),
                    (
                        "status",
                        Text,
                        "CASE WHEN sg.cleared_at IS NULL THEN 'OPEN' ELSE 'CLEARED' END",
                    ),
                    ("severity", Text, "sg.severity"),
                    ("peak_severity", Text, "sg.peak_severity"),
                    ("subject_type", Text, "sg.subject_type"),
                    ("subject_id", Int, "sg.subject_id"),
                    ("subject_label", Text, "sg.subject_label"),
                    ("region_id", Int, "sg.region_id"),
                    ("region_code", Text, "r.code"),
                    ("agent_id", Int, "sg.agent_id"),
                    ("agent_code", Text, "a.code"),
                    ("salesperson_id", Int, "sg.salesperson_id"),
                    ("salesperson", Text, "u.username"),
                    ("product_id", Int, "sg.product_id"),
                    ("product_sku", Text, "p.sku"),
                    ("period_start", Date, "sg.period_start"),
                    ("period_end", Date, "sg.period_end"),
                    ("value", Float, "sg.value"),
                    ("threshold", Float, "sg.threshold"),
                    ("unit", Text, "sg.unit"),
                    ("summary", Text, "sg.summary"),
                    ("formula", Text, "sg.formula"),
                    ("evidence", Text, "sg.evidence"),
                    ("raised_at", Ts, "sg.raised_at"),
                    ("updated_at", Ts, "sg.updated_at"),
                    ("cleared_at", Ts, "sg.cleared_at"),
                ],
                format!(
                    "FROM risk_signals sg LEFT JOIN regions r ON r.id = sg.region_id \
                     LEFT JOIN agents a ON a.id = sg.agent_id \
                     LEFT JOIN users u ON u.id = sg.salesperson_id \
                     LEFT JOIN products p ON p.id = sg.product_id \
                     WHERE 1 = 1{cond}{} ORDER BY sg.id",
                    f.region("sg.region_id")
                ),
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Batches: rows in column vectors.

enum Buf {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Float(Vec<Option<f64>>),
    /// Days since 1970-01-01.
    Date(Vec<Option<i32>>),
    /// Microseconds since the epoch, UTC.
    Ts(Vec<Option<i64>>),
    /// Fen.
    Money(Vec<Option<i64>>),
}

/// A batch of rows, one vector per column.
pub struct Batch {
    cols: Vec<Buf>,
    rows: usize,
}

impl Batch {
    fn new(kinds: &[Kind], cap: usize) -> Batch {
        let cols = kinds
            .iter()
            .map(|k| match k.out() {
                Out::Int => Buf::Int(Vec::with_capacity(cap)),
                Out::Text => Buf::Text(Vec::with_capacity(cap)),
                Out::Float => Buf::Float(Vec::with_capacity(cap)),
                Out::Date => Buf::Date(Vec::with_capacity(cap)),
                Out::Ts => Buf::Ts(Vec::with_capacity(cap)),
                Out::Money => Buf::Money(Vec::with_capacity(cap)),
            })
            .collect();
        Batch { cols, rows: 0 }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }
}

const EPOCH_DAYS_CE: i32 = 719_163;

fn day_number(d: NaiveDate) -> i32 {
    use chrono::Datelike;
    d.num_days_from_ce() - EPOCH_DAYS_CE
}

fn date_of(day: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(day + EPOCH_DAYS_CE)
}

/// Reads one row of either backend into the batch.
trait Cells {
    fn opt_i64(&self, i: usize) -> Result<Option<i64>, sqlx::Error>;
    fn opt_f64(&self, i: usize) -> Result<Option<f64>, sqlx::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error>;
    fn opt_date(&self, i: usize) -> Result<Option<NaiveDate>, sqlx::Error>;
    fn opt_ts(&self, i: usize) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
}

macro_rules! cells {
    ($row:ty) => {
        impl Cells for $row {
            fn opt_i64(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
                self.try_get::<Option<i64>, _>(i)
            }
            fn opt_f64(&self, i: usize) -> Result<Option<f64>, sqlx::Error> {
                self.try_get::<Option<f64>, _>(i)
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
                self.try_get::<Option<String>, _>(i)
            }
            fn opt_date(&self, i: usize) -> Result<Option<NaiveDate>, sqlx::Error> {
                self.try_get::<Option<NaiveDate>, _>(i)
            }
            fn opt_ts(&self, i: usize) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
                self.try_get::<Option<DateTime<Utc>>, _>(i)
            }
        }
    };
}
cells!(sqlx::postgres::PgRow);
cells!(sqlx::sqlite::SqliteRow);

fn push_row(b: &mut Batch, kinds: &[Kind], tz: Tz, r: &dyn Cells) -> Result<(), sqlx::Error> {
    for (i, (buf, k)) in b.cols.iter_mut().zip(kinds).enumerate() {
        match (buf, k) {
            (Buf::Int(v), _) | (Buf::Money(v), _) => v.push(r.opt_i64(i)?),
            (Buf::Text(v), _) => v.push(r.opt_text(i)?),
            (Buf::Float(v), _) => v.push(r.opt_f64(i)?),
            (Buf::Date(v), Kind::BizDate) => v.push(
                r.opt_ts(i)?
                    .map(|t| day_number(t.with_timezone(&tz).date_naive())),
            ),
            (Buf::Date(v), _) => v.push(r.opt_date(i)?.map(day_number)),
            (Buf::Ts(v), _) => v.push(r.opt_ts(i)?.map(|t| t.timestamp_micros())),
        }
    }
    b.rows += 1;
    Ok(())
}

/// Streams the rows of every part of `spec` as batches of `batch_rows` into
/// `tx`. Stops early (without error) when the receiver is gone.
pub async fn read_batches(
    db: &DatabaseConnection,
    tz: Tz,
    spec: &Spec,
    batch_rows: usize,
    tx: &mpsc::Sender<Result<Batch, String>>,
) -> anyhow::Result<u64> {
    let mut total = 0u64;
    for part in &spec.parts {
        let kinds = part.kinds.as_slice();
        let mut batch = Batch::new(kinds, batch_rows);
        macro_rules! drain {
            ($rows:expr) => {{
                let mut rows = $rows;
                while let Some(r) = rows.try_next().await? {
                    push_row(&mut batch, kinds, tz, &r)?;
                    if batch.rows >= batch_rows {
                        total += batch.rows as u64;
                        let full = std::mem::replace(&mut batch, Batch::new(kinds, batch_rows));
                        if tx.send(Ok(full)).await.is_err() {
                            return Ok(total);
                        }
                    }
                }
            }};
        }
        match db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                drain!(sqlx::query(sqlx::AssertSqlSafe(part.sql.clone())).fetch(pool));
            }
            _ => {
                let pool = db.get_sqlite_connection_pool();
                drain!(sqlx::query(sqlx::AssertSqlSafe(part.sql.clone())).fetch(pool));
            }
        }
        if batch.rows > 0 {
            total += batch.rows as u64;
            if tx.send(Ok(batch)).await.is_err() {
                return Ok(total);
            }
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------------------
// Encoding.

/// A `Write` that hands its bytes on in chunks through a bounded channel
/// (blocking: used from the encoder thread).
struct ChunkSink {
    buf: Vec<u8>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl ChunkSink {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "reader gone"))
    }
}

impl Write for ChunkSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

fn csv_field(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Exact yuan of an amount in fen: `199950` → `1999.50`.
pub fn yuan(fen: i64) -> String {
    salesguard_domain::Fen(fen).to_string()
}

fn csv_header(out: &mut Vec<u8>, header: &[String]) {
    for (i, h) in header.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, h);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the batch as CSV records (RFC 4180: CRLF, quoted when needed).
fn csv_rows(out: &mut Vec<u8>, b: &Batch) {
    use std::io::Write as _;
    for r in 0..b.rows {
        for (i, c) in b.cols.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match c {
                Buf::Int(v) => {
                    if let Some(x) = v[r] {
                        let _ = write!(out, "{x}");
                    }
                }
                Buf::Text(v) => {
                    if let Some(x) = &v[r] {
                        csv_field(out, x);
                    }
                }
                Buf::Float(v) => {
                    if let Some(x) = v[r] {
                        let _ = write!(out, "{x}");
                    }
                }
                Buf::Date(v) => {
                    if let Some(d) = v[r].and_then(date_of) {
                        let _ = write!(out, "{d}");
                    }
                }
                Buf::Ts(v) => {
                    if let Some(t) = v[r].and_then(DateTime::<Utc>::from_timestamp_micros) {
                        out.extend_from_slice(
                            t.to_rfc3339_opts(SecondsFormat::AutoSi, true).as_bytes(),
                        );
                    }
                }
                Buf::Money(v) => {
                    if let Some(x) = v[r] {
                        let _ = write!(out, "{},{x}", salesguard_domain::Fen(x));
                    } else {
                        out.push(b',');
                    }
                }
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

fn polars_err(e: polars::error::PolarsError) -> anyhow::Error {
    anyhow::anyhow!("parquet: {e}")
}

/// The batch as a data frame with the dataset's output columns.
fn frame(names: &[&'static str], b: Batch) -> anyhow::Result<DataFrame> {
    let mut cols: Vec<Column> = Vec::with_capacity(names.len() + 4);
    for (name, c) in names.iter().zip(b.cols) {
        let n = (*name).into();
        match c {
            Buf::Int(v) => {
                cols.push(Int64Chunked::from_iter_options(n, v.into_iter()).into_column())
            }
            Buf::Text(v) => {
                cols.push(StringChunked::from_iter_options(n, v.into_iter()).into_column())
            }
            Buf::Float(v) => {
                cols.push(Float64Chunked::from_iter_options(n, v.into_iter()).into_column())
            }
            Buf::Date(v) => cols.push(
                Int32Chunked::from_iter_options(n, v.into_iter())
                    .into_date()
                    .into_series()
                    .into_column(),
            ),
            Buf::Ts(v) => cols.push(
                Int64Chunked::from_iter_options(n, v.into_iter())
                    .into_datetime(TimeUnit::Microseconds, Some(PlTimeZone::UTC))
                    .into_series()
                    .into_column(),
            ),
            Buf::Money(v) => {
                let dec = Int128Chunked::from_iter_options(n, v.iter().map(|x| x.map(i128::from)))
                    .into_decimal(18, 2)
                    .map_err(polars_err)?;
                cols.push(dec.into_series().into_column());
                cols.push(
                    Int64Chunked::from_iter_options(format!("{name}_fen").into(), v.into_iter())
                        .into_column(),
                );
            }
        }
    }
    DataFrame::new_infer_height(cols).map_err(polars_err)
}

/// The encoder: batches in, bytes out (runs on a blocking thread).
fn encode(
    format: Format,
    spec: &Spec,
    mut batches: mpsc::Receiver<Result<Batch, String>>,
    out: mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> anyhow::Result<()> {
    let mut sink = ChunkSink {
        buf: Vec::with_capacity(CHUNK_BYTES + 4096),
        tx: out,
    };
    let kinds = spec
        .parts
        .first()
        .map(|p| p.kinds.clone())
        .unwrap_or_default();
    match format {
        Format::Csv => {
            let mut buf = Vec::with_capacity(CHUNK_BYTES);
            csv_header(&mut buf, &spec.header());
            sink.write_all(&buf)?;
            while let Some(b) = batches.blocking_recv() {
                let b = b.map_err(anyhow::Error::msg)?;
                buf.clear();
                csv_rows(&mut buf, &b);
                drop(b);
                sink.write_all(&buf)?;
            }
        }
        Format::Parquet => {
            let schema = frame(&spec.names, Batch::new(&kinds, 0))?
                .schema()
                .as_ref()
                .clone();
            let mut w = ParquetWriter::new(&mut sink)
                .with_compression(ParquetCompression::Snappy)
                .batched(&schema)
                .map_err(polars_err)?;
            while let Some(b) = batches.blocking_recv() {
                let b = b.map_err(anyhow::Error::msg)?;
                let df = frame(&spec.names, b)?;
                w.write_batch(&df).map_err(polars_err)?;
            }
            w.finish().map_err(polars_err)?;
        }
    }
    sink.flush()?;
    Ok(())
}

/// Runs an export for an authorized reader: the returned channel yields the
/// file's bytes in chunks, then ends; an `Err` item means the export failed
/// (the output is then incomplete). Dropping the receiver stops the export.
pub fn start(
    app: &AppState,
    scope: Option<Vec<i64>>,
    req: &ExportRequest,
    batch_rows: usize,
) -> mpsc::Receiver<Result<Bytes, std::io::Error>> {
    let db = app.db.read.clone();
    let tz = app.tz;
    let spec = Arc::new(spec(
        req.dataset,
        db.get_database_backend(),
        tz,
        req.from,
        req.to,
        scope,
    ));
    let (batch_tx, batch_rx) = mpsc::channel::<Result<Batch, String>>(1);
    let (out_tx, out_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let dataset = req.dataset.as_str();
    {
        let spec = spec.clone();
        tokio::spawn(async move {
            let batch_rows = batch_rows.max(1);
            match read_batches(&db, tz, &spec, batch_rows, &batch_tx).await {
                Ok(rows) => tracing::info!(dataset, rows, "export read"),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), dataset, "export failed reading");
                    let _ = batch_tx.send(Err("reading the data failed".into())).await;
                }
            }
        });
    }
    let format = req.format;
    tokio::task::spawn_blocking(move || {
        let err_tx = out_tx.clone();
        if let Err(e) = encode(format, &spec, batch_rx, out_tx) {
            let broken = e
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
            if !broken {
                tracing::error!(error = %format!("{e:#}"), dataset, "export failed");
                let _ = err_tx.blocking_send(Err(std::io::Error::other("export failed")));
            }
        }
    });
    out_rx
}

/// Authorizes and starts an export for `actor`, recording it in the audit
/// trail. The CLI and the HTTP endpoint both come through here.
pub async fn run(
    app: &AppState,
    actor: &Actor,
    req: &ExportRequest,
) -> Result<mpsc::Receiver<Result<Bytes, std::io::Error>>, AppError> {
    authorize(app, actor, req).await?;
    record_export(app, actor, req).await;
    Ok(start(app, actor.region_filter(), req, BATCH_ROWS))
}

/// Writes a whole export to `out` (the CLI's and the benchmark's sink).
pub async fn write_to<W: tokio::io::AsyncWrite + Unpin>(
    mut rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    out: &mut W,
) -> std::io::Result<u64> {
    use tokio::io::AsyncWriteExt;
    let mut n = 0u64;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        n += chunk.len() as u64;
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(n)
}

// ---------------------------------------------------------------------------
// HTTP.

#[derive(Deserialize)]
struct Range {
    from: Option<String>,
    to: Option<String>,
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, Json(body)).into_response()
}

fn app_error(e: AppError) -> Response {
    match e {
        AppError::Unauthenticated => error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "authentication required",
        ),
        AppError::Forbidden(m) => error(StatusCode::FORBIDDEN, "FORBIDDEN", &m),
        AppError::NotFound(m) => error(StatusCode::NOT_FOUND, "NOT_FOUND", &m),
        AppError::BadInput(m) => error(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &m),
        AppError::Conflict(m) => error(StatusCode::CONFLICT, "CONFLICT", &m),
        AppError::Throttled(m) => error(StatusCode::TOO_MANY_REQUESTS, "THROTTLED", &m),
        AppError::Internal(e) => {
            tracing::error!(error = %format!("{e:#}"), "export failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            )
        }
    }
}

/// Parses `orders.csv` into a request.
pub fn parse_file(
    file: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<ExportRequest, AppError> {
    let unknown = || {
        AppError::NotFound(format!(
            "no export {file}: datasets are {} as .csv or .parquet",
            Dataset::ALL.map(|d| d.as_str()).join(", ")
        ))
    };
    let (name, ext) = file.rsplit_once('.').ok_or_else(unknown)?;
    let dataset = Dataset::parse(name).ok_or_else(unknown)?;
    let format = Format::parse(ext).ok_or_else(unknown)?;
    Ok(ExportRequest {
        dataset,
        format,
        from: parse_day("from", from)?,
        to: parse_day("to", to)?,
    })
}

async fn download(
    State(app): State<AppState>,
    Path(file): Path<String>,
    Query(range): Query<Range>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let actor = match token {
        None => return app_error(AppError::Unauthenticated),
        Some(t) => match actor_from_token(&app, t).await {
            Ok(Some(a)) => a,
            Ok(None) => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "invalid or expired token",
                )
            }
            Err(e) => return app_error(e),
        },
    };
    let req = match parse_file(&file, range.from.as_deref(), range.to.as_deref()) {
        Ok(r) => r,
        Err(e) => return app_error(e),
    };
    let rx = match run(&app, &actor, &req).await {
        Ok(rx) => rx,
        Err(e) => return app_error(e),
    };
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(req.format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", req.file_name())) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /export/{dataset}.{csv|parquet}?from=YYYY-MM-DD&to=YYYY-MM-DD`.
pub fn routes<S: Clone + Send + Sync + 'static>(app: AppState) -> Router<S> {
    Router::new()
        .route("/export/{file}", get(download))
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let mut out = vec![];
        csv_field(&mut out, "plain");
        out.push(b'|');
        csv_field(&mut out, "a,b");
        out.push(b'|');
        csv_field(&mut out, "say \"hi\"");
        out.push(b'|');
        csv_field(&mut out, "two\nlines");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\""
        );
    }

    #[test]
    fn money_is_exact_yuan() {
        assert_eq!(yuan(199950), "1999.50");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(-120), "-1.20");
    }

    #[test]
    fn day_numbers_round_trip() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default();
        assert_eq!(date_of(day_number(d)), Some(d));
        assert_eq!(
            day_number(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap_or_default()),
            1
        );
    }

    #[test]
    fn files_and_dates_parse() {
        assert!(matches!(
            parse_file("orders.csv", None, None),
            Ok(ExportRequest {
                dataset: Dataset::Orders,
                format: Format::Csv,
                ..
            })
        ));
        assert!(matches!(
            parse_file(
                "order_lines.parquet",
                Some("2026-01-01"),
                Some("2026-12-31")
            ),
            Ok(ExportRequest {
                dataset: Dataset::OrderLines,
                format: Format::Parquet,
                from: Some(_),
                to: Some(_),
            })
        ));
        assert!(matches!(
            parse_file("users.csv", None, None),
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            parse_file("orders.xlsx", None, None),
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            parse_file("orders.csv", Some("2026-13-01"), None),
            Err(AppError::BadInput(_))
        ));
    }

    #[test]
    fn every_part_of_a_dataset_has_the_same_columns() {
        for d in Dataset::ALL {
            for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
                let s = spec(
                    d,
                    backend,
                    chrono_tz::Asia::Shanghai,
                    NaiveDate::from_ymd_opt(2026, 1, 1),
                    NaiveDate::from_ymd_opt(2026, 1, 31),
                    Some(vec![3, 1]),
                );
                for p in &s.parts {
                    assert_eq!(p.kinds.len(), s.names.len(), "{d:?}");
                    let outs: Vec<Out> = p.kinds.iter().map(|k| k.out()).collect();
                    let first: Vec<Out> = s.parts[0].kinds.iter().map(|k| k.out()).collect();
                    assert_eq!(outs, first, "{d:?}");
                    assert!(p.sql.contains("IN (3, 1)"), "{}", p.sql);
                }
            }
        }
    }

    #[test]
    fn business_days_are_bounded_in_the_company_time_zone() {
        let s = spec(
            Dataset::Orders,
            DbBackend::Sqlite,
            chrono_tz::Asia::Shanghai,
            NaiveDate::from_ymd_opt(2026, 3, 1),
            NaiveDate::from_ymd_opt(2026, 3, 31),
            None,
        );
        let sql = &s.parts[0].sql;
        assert!(
            sql.contains("o.created_at >= '2026-02-28T16:00:00+00:00'"),
            "{sql}"
        );
        assert!(
            sql.contains("o.created_at < '2026-03-31T16:00:00+00:00'"),
            "{sql}"
        );
    }
}
