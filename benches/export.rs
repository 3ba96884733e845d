//! The export of all order lines to Parquet through the real HTTP endpoint
//! (`GET /export/order_lines.parquet`, streamed to a file), against
//! PostgreSQL's own `COPY (SELECT …) TO STDOUT` of the same SELECT (all bytes
//! read through sqlx `copy_out_raw`), on a PostgreSQL database (typically the
//! demo data at benchmark size, `salesguard demo --bulk --size N`).
//!
//! ```text
//! cargo bench --bench export -- --database-url postgres://…/DB [--repeat N]
//! ```
//!
//! Each side runs in a child process of its own, so each reports its own
//! peak RSS (Linux `VmHWM`): the export's includes the server, the HTTP
//! client and the encoder. Prints one line per run and a final line:
//! `RESULT rows=… copy_s=… copy_rows_per_s=… export_s=… export_rows_per_s=… ratio=… export_peak_rss_mib=… copy_peak_rss_mib=…`
//! where `ratio` = export speed / COPY speed (the goal is ≥ 0.5).
use std::process::Stdio;
use std::time::Instant;

use anyhow::{bail, Context};
use futures::StreamExt;
use polars::prelude::{ParquetReader, SerReader};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sqlx::postgres::PgPoolCopyExt;
use tokio::io::AsyncWriteExt;

use salesguard_api::export::{self, Dataset};
use salesguard_api::AppState;
use salesguard_config::Settings;
use salesguard_entities::db::Db;

struct Args {
    url: String,
    repeat: usize,
    side: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        url: String::new(),
        repeat: 3,
        side: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--database-url" => a.url = it.next().context("--database-url URL")?,
            "--repeat" => a.repeat = it.next().context("--repeat N")?.parse()?,
            "--side" => a.side = Some(it.next().context("--side export|copy")?),
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    if !a.url.starts_with("postgres") {
        bail!("usage: --database-url postgres://… [--repeat N] (COPY needs PostgreSQL)");
    }
    Ok(a)
}

use salesguard_worker::peak_rss_mib;

async fn app(url: &str) -> anyhow::Result<AppState> {
    let settings = Settings {
        database_url: url.to_owned(),
        bind: "127.0.0.1:0".into(),
        ..Settings::default()
    };
    let db = Db::connect(url, 4).await?;
    AppState::new(db, settings)
}

/// The order lines' SELECT, exactly as the export runs it.
fn select(app: &AppState) -> String {
    export::spec(
        Dataset::OrderLines,
        DbBackend::Postgres,
        app.tz,
        None,
        None,
        None,
    )
    .parts
    .remove(0)
    .sql
}

/// `COPY (SELECT …) TO STDOUT`, every byte read.
async fn side_copy(url: &str) -> anyhow::Result<()> {
    let app = app(url).await?;
    let sql = format!("COPY ({}) TO STDOUT", select(&app));
    let pool = app.db.read.get_postgres_connection_pool();
    let t0 = Instant::now();
    let mut stream = pool.copy_out_raw(&sql).await?;
    let (mut bytes, mut rows) = (0u64, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "SIDE copy rows={rows} bytes={bytes} secs={secs:.3} peak_rss_mib={:.1}",
        peak_rss_mib()
    );
    Ok(())
}

/// The real endpoint: a server on port 0, a session of a reader who sees
/// every region, `GET /export/order_lines.parquet` streamed to a file.
async fn side_export(url: &str) -> anyhow::Result<()> {
    let app = app(url).await?;
    let row = app
        .db
        .read
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id FROM users WHERE active AND global_scope \
             AND position IN ('ANALYST', 'MANAGEMENT', 'FINANCE', 'SUPERVISION') ORDER BY id LIMIT 1",
        ))
        .await?
        .context("no active analyst, manager, finance or supervision user with all regions")?;
    let user_id: i64 = row.try_get_by_index(0)?;
    let (token, _) = salesguard_api::auth::create_session(&app.db.write, user_id, 60)
        .await
        .map_err(|e| anyhow::anyhow!("session: {}", e.message()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(salesguard_api::http::serve(app.clone(), listener, async {
        let _ = stopped.await;
    }));

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("order_lines.parquet");
    let t0 = Instant::now();
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/export/order_lines.parquet"))
        .bearer_auth(&token)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("export answered {}", resp.status());
    }
    let mut file = tokio::fs::File::create(&path).await?;
    let mut resp = resp;
    let mut bytes = 0u64;
    while let Some(chunk) = resp.chunk().await? {
        bytes += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    let secs = t0.elapsed().as_secs_f64();
    drop(file);
    let peak = peak_rss_mib();
    let mut reader = ParquetReader::new(std::fs::File::open(&path)?);
    let meta = reader
        .get_metadata()
        .map_err(|e| anyhow::anyhow!("reading the Parquet footer: {e}"))?;
    let (rows, groups) = (meta.num_rows, meta.row_groups.len());
    println!(
        "SIDE export rows={rows} bytes={bytes} row_groups={groups} secs={secs:.3} peak_rss_mib={peak:.1}"
    );
    let _ = stop.send(());
    let _ = server.await;
    Ok(())
}

struct Side {
    rows: u64,
    secs: f64,
    rss: f64,
}

fn field<T: std::str::FromStr>(line: &str, key: &str) -> anyhow::Result<T> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {key} in {line}"))
}

async fn run_side(url: &str, side: &str) -> anyhow::Result<Side> {
    let out = tokio::process::Command::new(std::env::current_exe()?)
        .args(["--database-url", url, "--side", side])
        .stderr(Stdio::inherit())
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("{side} run failed: {text}");
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("SIDE "))
        .with_context(|| format!("no result from the {side} run: {text}"))?;
    println!("{line}");
    Ok(Side {
        rows: field(line, "rows")?,
        secs: field(line, "secs")?,
        rss: field(line, "peak_rss_mib")?,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    match a.side.as_deref() {
        Some("copy") => return side_copy(&a.url).await,
        Some("export") => return side_export(&a.url).await,
        Some(other) => bail!("unknown side {other}"),
        None => {}
    }
    let mut best_copy: Option<Side> = None;
    let mut best_export: Option<Side> = None;
    let mut export_rss: f64 = 0.0;
    for _ in 0..a.repeat.max(1) {
        let c = run_side(&a.url, "copy").await?;
        let e = run_side(&a.url, "export").await?;
        if c.rows != e.rows {
            bail!("COPY gave {} rows, the export {}", c.rows, e.rows);
        }
        export_rss = export_rss.max(e.rss);
        if best_copy.as_ref().is_none_or(|b| c.secs < b.secs) {
            best_copy = Some(c);
        }
        if best_export.as_ref().is_none_or(|b| e.secs < b.secs) {
            best_export = Some(e);
        }
    }
    let (c, e) = match (best_copy, best_export) {
        (Some(c), Some(e)) => (c, e),
        _ => bail!("no runs"),
    };
    let rate = |s: &Side| s.rows as f64 / s.secs.max(1e-9);
    println!(
        "RESULT rows={} copy_s={:.3} copy_rows_per_s={:.0} export_s={:.3} export_rows_per_s={:.0} ratio={:.2} export_peak_rss_mib={:.1} copy_peak_rss_mib={:.1}",
        c.rows,
        c.secs,
        rate(&c),
        e.secs,
        rate(&e),
        rate(&e) / rate(&c),
        export_rss,
        c.rss
    );
    Ok(())
}
