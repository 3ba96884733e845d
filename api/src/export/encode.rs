//! Reading a dataset in batches and encoding it as CSV or Parquet, in
//! chunks, as it is read.
use std::io::Write;
use std::sync::Arc;

use axum::body::Bytes;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use polars::prelude::{
    Column, DataFrame, Float64Chunked, Int128Chunked, Int32Chunked, Int64Chunked, IntoColumn,
    IntoSeries, NewChunkedArray, ParquetCompression, ParquetWriter, StringChunked, TimeUnit,
    TimeZone as PlTimeZone,
};
use sea_orm::{DatabaseConnection, DbBackend};
use sqlx::Row;
use tokio::sync::mpsc;

use super::*;
use crate::app::AppState;
use crate::auth::Actor;
use crate::error::AppError;

pub(crate) enum Buf {
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

pub(crate) const EPOCH_DAYS_CE: i32 = 719_163;

pub(crate) fn day_number(d: NaiveDate) -> i32 {
    use chrono::Datelike;
    d.num_days_from_ce() - EPOCH_DAYS_CE
}

pub(crate) fn date_of(day: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(day + EPOCH_DAYS_CE)
}

/// Reads one row of either backend into the batch.
pub(crate) trait Cells {
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

pub(crate) fn push_row(
    b: &mut Batch,
    kinds: &[Kind],
    tz: Tz,
    r: &dyn Cells,
) -> Result<(), sqlx::Error> {
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
pub(crate) struct ChunkSink {
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

pub(crate) fn csv_field(out: &mut Vec<u8>, s: &str) {
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

pub(crate) fn csv_header(out: &mut Vec<u8>, header: &[String]) {
    for (i, h) in header.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, h);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the batch as CSV records (RFC 4180: CRLF, quoted when needed).
pub(crate) fn csv_rows(out: &mut Vec<u8>, b: &Batch) {
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

pub(crate) fn polars_err(e: polars::error::PolarsError) -> anyhow::Error {
    anyhow::anyhow!("parquet: {e}")
}

/// The batch as a data frame with the dataset's output columns.
pub(crate) fn frame(names: &[&'static str], b: Batch) -> anyhow::Result<DataFrame> {
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
pub(crate) fn encode(
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
