//! `GET /reports/{id}.html` (the report with its charts inline) and
//! `GET /reports/{id}/signals.csv` (its open signals), with a bearer token.
//! A report the reader may not see answers 404, like one that does not exist.
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::AppState;
use crate::auth::{actor_from_token, Actor};

use super::{access, html_for_browser, ReportImage};

/// The download routes, to merge into the app's router.
pub fn router<S: Clone + Send + Sync + 'static>(app: AppState) -> Router<S> {
    Router::new()
        .route("/reports/{file}", get(html))
        .route("/reports/{id}/signals.csv", get(csv))
        .with_state(app)
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<Actor, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    let Some(token) = token else {
        return Err(plain(StatusCode::UNAUTHORIZED, "bearer token required"));
    };
    match actor_from_token(app, &token).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(plain(StatusCode::UNAUTHORIZED, "invalid or expired token")),
        Err(e) => {
            tracing::error!(error = ?e, "token lookup failed");
            Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
        }
    }
}

async fn readable(
    app: &AppState,
    headers: &HeaderMap,
    id: i64,
) -> Result<salesguard_entities::model::weekly_report::Model, Response> {
    let actor = authenticate(app, headers).await?;
    match access::load_readable(&app.db.read, &actor, id).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(plain(StatusCode::NOT_FOUND, "no such report")),
        Err(e) => {
            tracing::error!(error = ?e, report = id, "report lookup failed");
            Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
        }
    }
}

fn with_type(body: String, content_type: &'static str, filename: String) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    resp
}

async fn html(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let Some(id) = file
        .strip_suffix(".html")
        .and_then(|n| n.parse::<i64>().ok())
    else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    let report = match readable(&app, &headers, id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let images = match ReportImage::parse_all(&report.images) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, report = id, "report images are not valid");
            vec![]
        }
    };
    with_type(
        html_for_browser(&report.html, &images),
        "text/html; charset=utf-8",
        format!("weekly-report-{}-{id}.html", report.week_start),
    )
}

async fn csv(State(app): State<AppState>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let report = match readable(&app, &headers, id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    with_type(
        report.signals_csv,
        "text/csv; charset=utf-8",
        format!("signals-{}-{id}.csv", report.week_start),
    )
}
