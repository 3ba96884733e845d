//! The bulk sink (`salesguard demo --bulk`), for benchmark data sets: the
//! same plan as the workflow sink, written directly as rows of the same
//! tables and columns the workflow produces — multi-row INSERTs in large
//! transactions on SQLite, `COPY … FROM STDIN` on PostgreSQL — streamed
//! region group by region group, so memory stays bounded at any size.
//!
//! What it skips: the audit trail, notifications, outbox jobs, sessions,
//! idempotency keys and per-shipment stock movements (one receipt movement
//! per product instead). Every demo user gets the same argon2 hash of the
//! demo password (hashed once). Timestamps are the plan's business days
//! (the workflow sink stamps `created_at` with the time of the load).
//! Document numbers are S7 numbers of the day the document was made
//! (order and contract: the filing day; shipping notice: the shipping day),
//! continuing `doc_sequences`, which is brought up to date.
//!
//! `sink` buffers and writes the rows (`buf` renders them); `master`,
//! `orders` and `events` make the rows of the master data, of each order
//! and of the market data.
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};

use salesguard_api::AppState;

use super::scenario::World;
use super::Report;

mod buf;
mod events;
mod master;
mod orders;
mod sink;

use buf::Be;
use master::{master_data, Master};
use sink::{pg_drop_indexes, scalar, Sink, WITH_ID};

/// Rows buffered before a flush (one transaction).
const FLUSH_ROWS: u64 = 400_000;

/// What the load adds up as it goes.
#[derive(Default)]
struct Tally {
    report: Report,
    /// Outstanding receivables per agent id.
    ar: BTreeMap<i64, i64>,
    /// Units shipped per product (plan index).
    shipped_units: HashMap<usize, i64>,
}

/// An instant on a business day (10:00 plus `hour` hours, local), never
/// later than now.
fn at(app: &AppState, day: NaiveDate, hour: i64) -> DateTime<Utc> {
    let local = day.and_hms_opt(10, 0, 0).unwrap_or_default() + Duration::hours(hour);
    let t = app
        .tz
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local));
    t.min(Utc::now() - Duration::minutes(1))
}

/// Loads the plan as rows.
pub async fn load(app: &AppState, w: &World) -> anyhow::Result<Report> {
    let started = std::time::Instant::now();
    super::workflow::admin_actor(app).await?;
    let mut sink = Sink::open(app, started).await?;
    let fresh = scalar(app, "SELECT COUNT(*) FROM sales_orders").await? == 0;
    let master = master_data(&mut sink, w)?;
    sink.flush().await?;
    sink.wait().await?;
    let indexes = if sink.be == Be::Postgres && fresh {
        pg_drop_indexes(app).await?
    } else {
        vec![]
    };

    let mut tally = Tally::default();
    for g in 0..w.groups.len() {
        let act = w.activity(g);
        let app = sink.app.clone();
        for o in &act.orders {
            orders::order_rows(&mut sink, &app, w, &master, o, &mut tally);
        }
        events::event_rows(&mut sink, &app, w, &master, &act, &mut tally);
        if sink.pending() >= FLUSH_ROWS {
            sink.flush().await?;
        }
    }
    stock_rows(&mut sink, app, w, &master, &tally.shipped_units);
    sink.flush().await?;
    sink.wait().await?;
    if !indexes.is_empty() {
        let t0 = std::time::Instant::now();
        for def in &indexes {
            app.db.write.execute_unprepared(def).await?;
        }
        println!(
            "  {} indexes built in {:.1} s",
            indexes.len(),
            t0.elapsed().as_secs_f64()
        );
    }
    finish(app, &sink, &tally.ar).await?;
    let mut report = tally.report;
    report.rows = sink.rows;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Stock: what was received, less what was shipped, per product.
fn stock_rows(
    sink: &mut Sink,
    app: &AppState,
    w: &World,
    master: &Master,
    shipped_units: &HashMap<usize, i64>,
) {
    let mgr = master.users[w.staff.warehouse];
    for (pi, pid) in master.products.iter().enumerate() {
        let shipped = shipped_units.get(&pi).copied().unwrap_or(0);
        let received = shipped + shipped / 10 + 100;
        sink.buf("stock_levels")
            .begin()
            .int(master.warehouse)
            .int(*pid)
            .int(received - shipped)
            .end();
        let id = sink.id("stock_movements");
        let start = at(app, w.start - Duration::days(7), 0);
        sink.buf("stock_movements")
            .begin()
            .int(id)
            .int(master.warehouse)
            .int(*pid)
            .int(received)
            .text("RECEIPT")
            .null()
            .text("production lot (demo)")
            .int(mgr)
            .ts(start)
            .end();
    }
}

/// Brings the agents' outstanding receivables, the document sequences and
/// (PostgreSQL) the id sequences up to date, then refreshes the planner's
/// statistics.
async fn finish(app: &AppState, sink: &Sink, ar: &BTreeMap<i64, i64>) -> anyhow::Result<()> {
    let txn = app.db.write.begin().await?;
    let backend = txn.get_database_backend();
    for (agent, fen) in ar {
        txn.execute_unprepared(&format!(
            "UPDATE agents SET ar_outstanding_fen = {fen} WHERE id = {agent}"
        ))
        .await?;
    }
    let mut values = vec![];
    for ((code, day), v) in &sink.seq {
        values.push(format!("('{code}', '{}', {v})", day.format("%Y%m%d")));
    }
    for chunk in values.chunks(500) {
        txn.execute_unprepared(&format!(
            "INSERT INTO doc_sequences (doc_type, business_day, last_value) VALUES {} \
             ON CONFLICT (doc_type, business_day) DO UPDATE SET last_value = excluded.last_value",
            chunk.join(",")
        ))
        .await?;
    }
    if backend == DbBackend::Postgres {
        for t in WITH_ID {
            txn.execute_unprepared(&format!(
                "SELECT setval(pg_get_serial_sequence('{t}', 'id'), GREATEST((SELECT MAX(id) FROM {t}), 1))"
            ))
            .await?;
        }
    }
    txn.commit().await?;
    if backend == DbBackend::Postgres {
        println!("  ANALYZE …");
        app.db.write.execute_unprepared("ANALYZE").await?;
    } else {
        app.db.write.execute_unprepared("PRAGMA optimize").await?;
    }
    Ok(())
}
