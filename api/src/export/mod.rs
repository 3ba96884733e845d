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

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::{actor_from_token, Actor};
use crate::error::AppError;

mod datasets;
mod encode;

pub use datasets::*;
pub use encode::*;

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
    use sea_orm::DbBackend;

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
