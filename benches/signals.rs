//! A full recompute of the risk signals over a database (typically the demo
//! data set at benchmark size, `salesguard demo --bulk --size N`), timed and
//! with the process's peak memory; on PostgreSQL also the same signals
//! computed as SQL on the same data, for comparison, with a check that both
//! give the same signals.
//!
//! ```text
//! cargo bench --bench signals -- --database-url URL [--as-of YYYY-MM-DD] [--repeat N] [--append N] [--no-sql]
//! ```
//!
//! Run 1 reads all the data, as the worker's first run does (with no copy
//! on disk, or when its copy is a day old); the copy is then saved to disk
//! (`--copy-dir`, default a temporary directory). Run 2 is a worker that
//! starts again: it reads the copy from disk and what was appended since
//! (`--no-disk`: no copy on disk, no such run). Runs 2… (`--repeat`, at least 2) are the
//! worker's steady state: before each, `--append N` (default 10,000) new
//! sell-through rows and as many unit sightings are written (copies of the
//! latest ones, removed at the end), and the run reads what changed since
//! the last one into its copy and recomputes every signal over all the
//! data. The SQL version then runs on the data as the last run saw it, and
//! the signals of that run are checked against it.
//!
//! Prints one line per run and a final `RESULT` line:
//! `RESULT orders=… lines=… serial_events=… load_s=… compute_s=… total_s=… sync_s=… warm_compute_s=… warm_total_s=… peak_rss_mib=… signals=… sql_s=… speedup=… warm_speedup=… same=… floor_s=… floor_speedup=…`
//! (`load_s`, `compute_s`, `total_s`: the full read; `warm_*`: the best
//! later run; `same`: the last run agrees with SQL; `floor_s`: PostgreSQL
//! alone handing over the rows of a full read, which no full read can
//! beat, and `floor_speedup` = `sql_s / floor_s`, the most any full read
//! could reach over SQL here even if parsing and computing took no time).
use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use salesguard_config::{Settings, SignalSettings};
use salesguard_entities::db::Db;
use salesguard_worker::signals::disk::DiskCopy;
use salesguard_worker::signals::load::statements;
use salesguard_worker::signals::snapshot::{self, Snapshot};
use salesguard_worker::signals::{self, Signal};

struct Args {
    url: String,
    as_of: Option<NaiveDate>,
    repeat: usize,
    append: i64,
    sql: bool,
    /// Where the copy is saved for the restart run; `None`: a temporary
    /// directory. `--no-disk`: no copy on disk, no restart run.
    copy_dir: Option<String>,
    disk: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        url: String::new(),
        as_of: None,
        repeat: 2,
        append: 10_000,
        sql: true,
        copy_dir: None,
        disk: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--database-url" => a.url = it.next().context("--database-url URL")?,
            "--as-of" => a.as_of = Some(it.next().context("--as-of DATE")?.parse()?),
            "--repeat" => a.repeat = it.next().context("--repeat N")?.parse()?,
            "--append" => a.append = it.next().context("--append N")?.parse()?,
            "--no-sql" => a.sql = false,
            "--copy-dir" => a.copy_dir = Some(it.next().context("--copy-dir DIR")?),
            "--no-disk" => a.disk = false,
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    if a.url.is_empty() {
        bail!(
            "usage: --database-url URL [--as-of DATE] [--repeat N] [--append N] [--no-sql] \
             [--copy-dir DIR | --no-disk]"
        );
    }
    Ok(a)
}

use salesguard_worker::peak_rss_mib;

async fn scalar(db: &Db, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .read
        .query_one_raw(Statement::from_string(db.backend(), sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// A signal's identity and value, as both paths report it.
type Key = (String, String, String, Option<i64>, Option<i64>, String);

fn key_of(s: &Signal) -> Key {
    (
        s.kind.as_str().to_owned(),
        s.rule.to_owned(),
        s.subject_type.as_str().to_owned(),
        s.subject_id,
        s.product_id,
        s.detail.clone().unwrap_or_default(),
    )
}

fn main() -> anyhow::Result<()> {
    // As the `salesguard` binary does.
    salesguard_worker::limit_malloc_arenas(2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    // RUST_LOG=salesguard_worker=debug prints the time of each part.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let a = args()?;
    let settings = Settings::default();
    let tz = settings.tz()?;
    let th = settings.signals.clone();
    let db = Db::connect(&a.url, 4).await?;
    // A database loaded by an older version lacks the later tables (the
    // identity the copy on disk is named by).
    db.migrate().await?;
    let as_of = a
        .as_of
        .unwrap_or_else(|| chrono::Utc::now().with_timezone(&tz).date_naive());
    let orders = scalar(&db, "SELECT COUNT(*) FROM sales_orders").await?;
    let lines = scalar(&db, "SELECT COUNT(*) FROM order_lines").await?;
    let serial_events = scalar(
        &db,
        "SELECT (SELECT COUNT(*) FROM serial_units) + (SELECT COUNT(*) FROM sell_through WHERE serial IS NOT NULL) + (SELECT COUNT(*) FROM unit_sightings)",
    )
    .await?;
    println!(
        "data: {orders} orders, {lines} order lines, {serial_events} serial events; as of {as_of}"
    );

    // Rows this bench appends are stamped with this time, to be removed.
    const STAMP: &str = "2000-01-01 00:00:00+00";
    let cleanup = format!(
        "DELETE FROM sell_through WHERE recorded_at = '{STAMP}'; \
         DELETE FROM unit_sightings WHERE recorded_at = '{STAMP}'"
    );
    db.write.execute_unprepared(&cleanup).await?;
    let append = format!(
        "INSERT INTO sell_through (agent_id, product_id, serial, quantity, sale_price_fen, sold_region_id, sold_on, recorded_by, recorded_at) \
         SELECT agent_id, product_id, serial, quantity, sale_price_fen, sold_region_id, sold_on, recorded_by, '{STAMP}' \
         FROM sell_through ORDER BY id DESC LIMIT {n}; \
         INSERT INTO unit_sightings (serial, kind, region_id, seen_on, note, recorded_by, recorded_at) \
         SELECT serial, kind, region_id, seen_on, note, recorded_by, '{STAMP}' \
         FROM unit_sightings ORDER BY id DESC LIMIT {n}",
        n = a.append
    );

    // The copy on disk, for the restart run.
    let tmp = tempfile::tempdir()?;
    let disk = match (&a.copy_dir, a.disk) {
        (_, false) => None,
        (Some(dir), true) => Some(DiskCopy::open(std::path::Path::new(dir), &db.read).await?),
        (None, true) => Some(DiskCopy::open(tmp.path(), &db.read).await?),
    };

    let mut copy: Option<Snapshot> = None;
    // (read, compute, total) seconds of the best full read, restart from
    // disk and later run.
    type Times = Option<(f64, f64, f64)>;
    let (mut cold, mut restart, mut warm): (Times, Times, Times) = (None, None, None);
    let mut save_s = None;
    let mut computed = vec![];
    let runs = a.repeat.max(2) + usize::from(disk.is_some());
    for i in 0..runs {
        if i > 0 && a.append > 0 {
            db.write.execute_unprepared(&append).await?;
        }
        // Run 2 with a copy on disk is a worker that starts again.
        if i == 1 && disk.is_some() {
            copy = None;
        }
        let t0 = Instant::now();
        let read = snapshot::refresh(&mut copy, &db.read, tz, disk.as_ref()).await?;
        let load_s = t0.elapsed().as_secs_f64();
        let load_peak = peak_rss_mib();
        let t1 = Instant::now();
        let snap = copy.take().context("no copy after a refresh")?;
        let th2 = th.clone();
        let (mut snap, result) = tokio::task::spawn_blocking(move || {
            let result = signals::compute(&snap.inputs, as_of, &th2);
            (snap, result)
        })
        .await?;
        computed = result?;
        let compute_s = t1.elapsed().as_secs_f64();
        let total = t0.elapsed().as_secs_f64();
        let what = match read {
            snapshot::Refresh::Full { .. } => "full read",
            snapshot::Refresh::Restored { .. } => "restart: copy on disk + sync",
            snapshot::Refresh::Sync { .. } => "sync",
        };
        println!(
            "polars run {}: {what} {load_s:.2} s ({} rows read, peak RSS {load_peak:.0} MiB), compute {compute_s:.2} s, total {total:.2} s, {} signals, peak RSS {:.0} MiB",
            i + 1,
            read.rows(),
            computed.len(),
            peak_rss_mib()
        );
        // Saved after the computation, as the worker does (not timed in
        // the run).
        let d = disk.clone();
        let (back, saved) = tokio::task::spawn_blocking(move || {
            let saved = snap.save_if_due(d.as_ref(), tz);
            (snap, saved)
        })
        .await?;
        snap = back;
        if let Some(saved) = saved {
            let saved = saved?;
            let secs = saved.took.as_secs_f64();
            println!(
                "  saved to disk: {:.0} MiB in {secs:.2} s",
                saved.bytes as f64 / 1048576.0
            );
            save_s.get_or_insert(secs);
        }
        copy = Some(snap);
        let slot = match read {
            snapshot::Refresh::Full { .. } => &mut cold,
            snapshot::Refresh::Restored { .. } => &mut restart,
            snapshot::Refresh::Sync { .. } => &mut warm,
        };
        if slot.is_none_or(|b| total < b.2) {
            *slot = Some((load_s, compute_s, total));
        }
    }
    let (load_s, compute_s, total_s) = cold.unwrap_or_default();
    let (sync_s, warm_compute_s, warm_total_s) = warm.unwrap_or_default();
    let (restore_s, restart_compute_s, restart_total_s) = restart.unwrap_or_default();
    let peak = peak_rss_mib();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &computed {
        *by_kind.entry(s.kind.as_str()).or_default() += 1;
    }
    println!("signals by kind: {by_kind:?}");

    let mut sql_part = String::from(
        "sql_s=- speedup=- restart_speedup=- warm_speedup=- same=- floor_s=- floor_speedup=-",
    );
    if a.sql && db.backend() == DbBackend::Postgres {
        let t = Instant::now();
        let sql = sql_signals(&db, as_of, &th, &settings.timezone).await?;
        let sql_s = t.elapsed().as_secs_f64();
        let polars: BTreeMap<Key, f64> = computed.iter().map(|s| (key_of(s), s.value)).collect();
        let mut missing = 0;
        let mut differ = 0;
        for (k, v) in &sql {
            match polars.get(k) {
                None => {
                    missing += 1;
                    if missing <= 5 {
                        println!("only in SQL: {k:?} = {v}");
                    }
                }
                Some(p)
                    if (p - v).abs() > 1e-6 * v.abs().max(1.0)
                        && !(p.is_infinite() || *p >= 999.0) =>
                {
                    differ += 1;
                    if differ <= 5 {
                        println!("differs: {k:?}: polars {p}, SQL {v}");
                    }
                }
                Some(_) => {}
            }
        }
        let extra: Vec<&Key> = polars.keys().filter(|k| !sql.contains_key(*k)).collect();
        for k in extra.iter().take(5) {
            println!("only in polars: {k:?}");
        }
        let same = missing == 0 && differ == 0 && extra.is_empty();
        println!(
            "SQL on PostgreSQL: {sql_s:.2} s, {} signals; same as polars: {same} ({missing} only in SQL, {} only in polars, {differ} differ)",
            sql.len(),
            extra.len()
        );
        let floor = floor(&a.url)?;
        let floor_part = match floor {
            Some(f) => {
                println!(
                    "PostgreSQL alone handing over the full read's rows (psql throwing them away): {f:.2} s; \
                     no full read here can be more than {:.1}× faster than SQL",
                    sql_s / f
                );
                format!("floor_s={f:.2} floor_speedup={:.1}", sql_s / f)
            }
            None => "floor_s=- floor_speedup=-".to_owned(),
        };
        sql_part = format!(
            "sql_s={sql_s:.2} speedup={:.1} restart_speedup={:.1} warm_speedup={:.1} same={same} {floor_part}",
            sql_s / total_s,
            sql_s / restart_total_s,
            sql_s / warm_total_s
        );
    }
    db.write.execute_unprepared(&cleanup).await?;
    println!(
        "RESULT orders={orders} lines={lines} serial_events={serial_events} load_s={load_s:.2} compute_s={compute_s:.2} total_s={total_s:.2} save_s={:.2} restore_s={restore_s:.2} restart_compute_s={restart_compute_s:.2} restart_total_s={restart_total_s:.2} sync_s={sync_s:.2} warm_compute_s={warm_compute_s:.2} warm_total_s={warm_total_s:.2} peak_rss_mib={peak:.0} signals={} {sql_part}",
        save_s.unwrap_or_default(),
        computed.len()
    );
    Ok(())
}

/// The least time a full read can take on this machine: PostgreSQL alone
/// handing over what the worker's full read asks for. The read's own
/// statements (`statements::full_read`) run as binary `COPY`, each into a
/// `psql` that throws the bytes away: no parsing, no frames, no computation.
/// They run 2 and then 4 at a time (the read runs them 4 at a time on the
/// bench's pool of 4); the faster wins. Each `psql`'s start and connection
/// (about 30 ms, some 0.2 s in all at 2 at a time) is counted too, so the
/// true floor is that much lower. `None` without `psql` on the PATH.
fn floor(url: &str) -> anyhow::Result<Option<f64>> {
    use std::process::{Command, Stdio};
    use std::sync::Mutex;
    let mut best: Option<f64> = None;
    for at_once in [2, 4] {
        let queue = Mutex::new(statements::full_read());
        let t = Instant::now();
        let outcomes: Vec<anyhow::Result<bool>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..at_once)
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<bool> {
                        loop {
                            let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                            let Some(select) = next else {
                                return Ok(true);
                            };
                            let status = Command::new("psql")
                                .arg(url)
                                .args(["-qAtX", "-v", "ON_ERROR_STOP=1", "-c"])
                                .arg(format!("COPY ({select}) TO STDOUT (FORMAT binary)"))
                                .stdout(Stdio::null())
                                .status();
                            match status {
                                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                                    return Ok(false)
                                }
                                Err(e) => return Err(e.into()),
                                Ok(s) if !s.success() => bail!("psql failed on {select}: {s}"),
                                Ok(_) => {}
                            }
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a psql thread panicked")))
                })
                .collect()
        });
        let secs = t.elapsed().as_secs_f64();
        for o in outcomes {
            if !o? {
                println!("no psql on the PATH: the floor is not measured");
                return Ok(None);
            }
        }
        println!("  {at_once} at a time: {secs:.2} s");
        best = Some(best.map_or(secs, |b: f64| b.min(secs)));
    }
    Ok(best)
}

/// The signals of docs/signals.md as SQL on PostgreSQL (business days in
/// `tz`; sub-areas one level deep, as the API creates them): identity and
/// value of every signal that holds.
async fn sql_signals(
    db: &Db,
    as_of: NaiveDate,
    th: &SignalSettings,
    tz: &str,
) -> anyhow::Result<BTreeMap<Key, f64>> {
    let d = format!("DATE '{as_of}'");
    let w = th.ar_window_days;
    let common = format!(
        "so AS (SELECT o.id, o.agent_id, o.region_id, o.salesperson_id, o.total_fen,
                       (s.shipped_at AT TIME ZONE '{tz}')::date AS day
                FROM sales_orders o JOIN shipments s ON s.order_id = o.id),
         lo AS (SELECT so.*, l.product_id, l.quantity AS qty, l.unit_price_fen AS price
                FROM order_lines l JOIN so ON so.id = l.order_id),
         anc AS (SELECT id AS region_id, id AS ancestor FROM regions
                 UNION ALL SELECT id, parent_id FROM regions WHERE parent_id IS NOT NULL),
         terr AS (SELECT region_id AS home, ancestor AS seen FROM anc
                  UNION SELECT ancestor, region_id FROM anc)"
    );
    let mut out: BTreeMap<Key, f64> = BTreeMap::new();
    let mut put = |row: &sea_orm::QueryResult| -> anyhow::Result<()> {
        let k: Key = (
            row.try_get_by_index::<String>(0)?,
            row.try_get_by_index::<String>(1)?,
            row.try_get_by_index::<String>(2)?,
            row.try_get_by_index::<Option<i64>>(3)?,
            row.try_get_by_index::<Option<i64>>(4)?,
            row.try_get_by_index::<Option<String>>(5)?
                .unwrap_or_default(),
        );
        out.insert(k, row.try_get_by_index::<f64>(6)?);
        Ok(())
    };
    let m_end = {
        use chrono::Datelike;
        as_of.year() * 12 + as_of.month0() as i32 - 1
    };
    let m_start = m_end - th.forecast_window_months as i32 + 1;
    let period = |m: i32| format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1);
    let (p_start, p_end) = (period(m_start), period(m_end));
    let pw = th.price_window_days;
    let dw = th.diversion_window_days;
    let queries = [
        // Receivables growth: agent, region (with sub-areas), company.
        format!(
            "WITH {common},
             pd AS (SELECT order_id, SUM(amount_fen) p FROM payments WHERE received_on <= {d} GROUP BY 1),
             pp AS (SELECT order_id, SUM(amount_fen) p FROM payments WHERE received_on <= {d} - {w} GROUP BY 1),
             ag AS (SELECT so.agent_id,
                  SUM(CASE WHEN so.day <= {d} THEN GREATEST(0, so.total_fen - COALESCE(pd.p, 0)) ELSE 0 END)::float8 ar,
                  SUM(CASE WHEN so.day <= {d} - {w} THEN GREATEST(0, so.total_fen - COALESCE(pp.p, 0)) ELSE 0 END)::float8 ar_prev,
                  SUM(CASE WHEN so.day > {d} - {w} AND so.day <= {d} THEN so.total_fen ELSE 0 END)::float8 sales,
                  SUM(CASE WHEN so.day > {d} - 2 * {w} AND so.day <= {d} - {w} THEN so.total_fen ELSE 0 END)::float8 sales_prev
                FROM so LEFT JOIN pd ON pd.order_id = so.id LEFT JOIN pp ON pp.order_id = so.id GROUP BY 1),
             subj AS (
                SELECT 'AGENT' st, agent_id sid, ar, ar_prev, sales, sales_prev FROM ag
                UNION ALL
                SELECT 'REGION', anc.ancestor, SUM(ar), SUM(ar_prev), SUM(sales), SUM(sales_prev)
                  FROM ag JOIN agents a ON a.id = ag.agent_id JOIN anc ON anc.region_id = a.region_id GROUP BY 2
                UNION ALL
                SELECT 'COMPANY', NULL, SUM(ar), SUM(ar_prev), SUM(sales), SUM(sales_prev) FROM ag)
             SELECT 'RECEIVABLES_GROWTH', 'DSRI', st, sid, NULL::int8, NULL::text, (ar / sales) / (ar_prev / sales_prev)
             FROM subj WHERE ar >= {} AND sales > 0 AND sales_prev > 0 AND ar_prev > 0
               AND (ar / sales) / (ar_prev / sales_prev) > {}",
            th.ar_min_yuan * 100.0,
            th.dsri_watch
        ),
        // Receivables overdue.
        format!(
            "SELECT 'RECEIVABLES_OVERDUE', 'DAYS_PAST_DUE', 'AGENT', agent_id, NULL::int8, NULL::text,
                    MAX({d} - due_on)::float8
             FROM receivables WHERE outstanding_fen > 0 GROUP BY agent_id
             HAVING MAX({d} - due_on) > {}",
            th.overdue_watch_days
        ),
        // Forecast deviation per salesperson × region × product and per
        // region × product.
        format!(
            "WITH {common},
             a AS (SELECT salesperson_id, region_id, product_id, to_char(day, 'YYYY-MM') period, SUM(qty) a
                   FROM lo WHERE to_char(day, 'YYYY-MM') BETWEEN '{p_start}' AND '{p_end}' GROUP BY 1, 2, 3, 4),
             f AS (SELECT salesperson_id, region_id, product_id, period, SUM(quantity) f
                   FROM forecasts WHERE period BETWEEN '{p_start}' AND '{p_end}' GROUP BY 1, 2, 3, 4),
             sp AS (SELECT f.salesperson_id, f.region_id, f.product_id, COUNT(*) n,
                      SUM(COALESCE(a.a, 0) - f.f)::float8 serr, SUM(ABS(COALESCE(a.a, 0) - f.f))::float8 sabs,
                      SUM(COALESCE(a.a, 0))::float8 sa, SUM(f.f)::float8 sf
                    FROM f LEFT JOIN a USING (salesperson_id, region_id, product_id, period) GROUP BY 1, 2, 3),
             ra AS (SELECT region_id, product_id, period, SUM(a) a FROM a GROUP BY 1, 2, 3),
             rf AS (SELECT region_id, product_id, period, SUM(f) f FROM f GROUP BY 1, 2, 3),
             rg AS (SELECT rf.region_id, rf.product_id, COUNT(*) n,
                      SUM(COALESCE(ra.a, 0) - rf.f)::float8 serr, SUM(ABS(COALESCE(ra.a, 0) - rf.f))::float8 sabs
                    FROM rf LEFT JOIN ra USING (region_id, product_id, period) GROUP BY 1, 2),
             g AS (SELECT 'SALESPERSON' st, salesperson_id sid, product_id, region_id::text detail, n, serr, sabs FROM sp
                   UNION ALL SELECT 'REGION', region_id, product_id, NULL, n, serr, sabs FROM rg)
             SELECT 'FORECAST_DEVIATION',
                    CASE WHEN serr < 0 THEN 'CHRONIC_OVER_FORECAST' ELSE 'CHRONIC_UNDER_FORECAST' END,
                    st, sid, product_id, detail, serr / (sabs / n)
             FROM g WHERE n >= {} AND sabs > 0 AND ABS(serr / (sabs / n)) > {}",
            th.forecast_min_months, th.ts_watch
        ),
        // Price: sell-through below the agent's purchase price.
        format!(
            "WITH {common},
             pp AS (SELECT agent_id, product_id, SUM(price * qty)::float8 / SUM(qty) p
                    FROM lo WHERE day BETWEEN {d} - 364 AND {d} GROUP BY 1, 2),
             s AS (SELECT st.agent_id, st.product_id, SUM(st.quantity)::float8 units,
                     SUM(CASE WHEN st.sale_price_fen < pp.p THEN st.quantity ELSE 0 END)::float8 below
                   FROM sell_through st JOIN pp USING (agent_id, product_id)
                   WHERE st.sold_on BETWEEN {d} - {} AND {d} GROUP BY 1, 2)
             SELECT 'PRICE_INVERSION', 'BELOW_PURCHASE_PRICE', 'AGENT', agent_id, product_id, NULL::text, below / units
             FROM s WHERE below > 0",
            pw - 1
        ),
        // Price: below the tier's floor.
        format!(
            "WITH o AS (SELECT po.region_id, po.product_id, po.tier,
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY po.price_fen) med,
                          MIN(po.price_fen)::float8 lo, MIN(pl.floor_fen)::float8 floor
                        FROM price_observations po JOIN price_list pl USING (product_id, tier)
                        WHERE po.observed_on BETWEEN {d} - {} AND {d} GROUP BY 1, 2, 3)
             SELECT 'PRICE_INVERSION', 'BELOW_FLOOR', 'REGION', region_id, product_id, tier,
                    CASE WHEN med < floor THEN med / floor ELSE lo / floor END
             FROM o WHERE floor > 0 AND lo < floor",
            pw - 1
        ),
        // Price: tier inversion.
        format!(
            "WITH {common},
             p AS (SELECT region_id, product_id, tier, price_fen FROM price_observations
                     WHERE observed_on BETWEEN {d} - {pw1} AND {d}
                   UNION ALL SELECT region_id, product_id, 'AGENT', price FROM lo WHERE day BETWEEN {d} - {pw1} AND {d}),
             m AS (SELECT region_id, product_id, tier, percentile_cont(0.5) WITHIN GROUP (ORDER BY price_fen) med
                   FROM p GROUP BY 1, 2, 3),
             rank(tier, r) AS (VALUES ('AGENT', 0), ('DEALER', 1), ('RETAIL', 2)),
             pairs AS (SELECT u.region_id, u.product_id, dn.med / u.med ratio
                       FROM m u JOIN rank ru ON ru.tier = u.tier
                       JOIN m dn ON dn.region_id = u.region_id AND dn.product_id = u.product_id
                       JOIN rank rd ON rd.tier = dn.tier
                       WHERE rd.r > ru.r AND u.med > 0 AND dn.med < u.med)
             SELECT 'PRICE_INVERSION', 'TIER_INVERSION', 'REGION', region_id, product_id, NULL::text, MIN(ratio)
             FROM pairs GROUP BY region_id, product_id",
            pw1 = pw - 1
        ),
        // Goods diversion.
        format!(
            "WITH {common},
             ev AS (SELECT serial, sold_region_id region_id FROM sell_through
                      WHERE serial IS NOT NULL AND sold_on BETWEEN {d} - {dw1} AND {d}
                    UNION ALL SELECT serial, region_id FROM unit_sightings WHERE seen_on BETWEEN {d} - {dw1} AND {d}),
             ps AS (SELECT u.agent_id, ev.serial, MAX(CASE WHEN t.home IS NULL THEN 1 ELSE 0 END) o
                    FROM ev JOIN serial_units u ON u.serial = ev.serial JOIN agents ag ON ag.id = u.agent_id
                    LEFT JOIN terr t ON t.home = ag.region_id AND t.seen = ev.region_id GROUP BY 1, 2),
             bulk AS (SELECT st.agent_id, SUM(st.quantity) located,
                        SUM(CASE WHEN t.home IS NULL THEN st.quantity ELSE 0 END) diverted
                      FROM sell_through st JOIN agents ag ON ag.id = st.agent_id
                      LEFT JOIN terr t ON t.home = ag.region_id AND t.seen = st.sold_region_id
                      WHERE st.serial IS NULL AND st.sold_on BETWEEN {d} - {dw1} AND {d} GROUP BY 1),
             per AS (SELECT agent_id, COUNT(*) located, SUM(o) diverted FROM ps GROUP BY 1
                     UNION ALL SELECT agent_id, located, diverted FROM bulk),
             tot AS (SELECT agent_id, SUM(located)::float8 l, SUM(diverted)::float8 dv FROM per GROUP BY 1)
             SELECT 'GOODS_DIVERSION', 'CROSS_REGION', 'AGENT', agent_id, NULL::int8, NULL::text, dv / l
             FROM tot WHERE dv >= {} AND l > 0 AND dv / l > {}",
            th.diversion_min_units,
            th.diversion_watch,
            dw1 = dw - 1
        ),
        // Purchases over market capacity.
        format!(
            "WITH {common},
             u AS (SELECT agent_id, SUM(qty)::float8 units FROM lo WHERE day BETWEEN {d} - 89 AND {d} GROUP BY 1)
             SELECT 'PURCHASE_OVER_CAPACITY', 'ABOVE_MARKET_CAPACITY', 'AGENT', u.agent_id, NULL::int8, NULL::text,
                    u.units * 365.0 / 90.0 / COALESCE(r.market_capacity, p.market_capacity)
             FROM u JOIN agents a ON a.id = u.agent_id JOIN regions r ON r.id = a.region_id
             LEFT JOIN regions p ON p.id = r.parent_id
             WHERE COALESCE(r.market_capacity, p.market_capacity) > 0
               AND u.units * 365.0 / 90.0 / COALESCE(r.market_capacity, p.market_capacity) > {}",
            th.capacity_watch
        ),
        // Channel stock: weeks of supply and sell-in outpacing sell-through.
        format!(
            "WITH {common},
             i AS (SELECT agent_id, SUM(qty)::float8 i_all,
                     SUM(CASE WHEN day BETWEEN {d} - 27 AND {d} THEN qty ELSE 0 END)::float8 i_last,
                     SUM(CASE WHEN day BETWEEN {d} - 55 AND {d} - 28 THEN qty ELSE 0 END)::float8 i_prev
                   FROM lo WHERE day <= {d} GROUP BY 1),
             s AS (SELECT agent_id, SUM(quantity)::float8 s_all,
                     SUM(CASE WHEN sold_on BETWEEN {d} - 27 AND {d} THEN quantity ELSE 0 END)::float8 s_last,
                     SUM(CASE WHEN sold_on BETWEEN {d} - 55 AND {d} - 28 THEN quantity ELSE 0 END)::float8 s_prev
                   FROM sell_through WHERE sold_on <= {d} GROUP BY 1),
             j AS (SELECT i.*, COALESCE(s.s_all, 0) s_all, COALESCE(s.s_last, 0) s_last, COALESCE(s.s_prev, 0) s_prev
                   FROM i LEFT JOIN s USING (agent_id))
             SELECT 'CHANNEL_STOCK', 'WEEKS_OF_SUPPLY', 'AGENT', agent_id, NULL::int8, NULL::text,
                    CASE WHEN s_last > 0 THEN LEAST((i_all - s_all) / (s_last / 4), 999) ELSE 999 END
             FROM j WHERE i_all - s_all >= {min} AND (s_last = 0 OR (i_all - s_all) / (s_last / 4) > {wos})
             UNION ALL
             SELECT 'CHANNEL_STOCK', 'SELL_IN_OUTPACING_SELL_THROUGH', 'AGENT', agent_id, NULL::int8, NULL::text,
                    i_last / i_prev - 1
             FROM j WHERE i_prev > 0 AND i_last / i_prev - 1 > {grow}
               AND (CASE WHEN s_prev > 0 THEN s_last / s_prev - 1 WHEN s_last > 0 THEN 'Infinity'::float8 ELSE 0 END) < {flat}",
            min = th.stock_min_units,
            wos = th.wos_watch,
            grow = th.sell_in_growth,
            flat = th.sell_through_flat
        ),
    ];
    for (i, q) in queries.iter().enumerate() {
        let t = Instant::now();
        let rows = db
            .read
            .query_all_raw(Statement::from_string(DbBackend::Postgres, q.clone()))
            .await
            .with_context(|| format!("SQL signal query {}", i + 1))?;
        for r in &rows {
            put(r)?;
        }
        println!(
            "  SQL query {} ({} rows): {:.2} s",
            i + 1,
            rows.len(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(out)
}
