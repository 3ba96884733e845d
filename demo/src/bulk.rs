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
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use sha2::{Digest, Sha256};

use salesguard_api::AppState;
use salesguard_domain::docnum::format_number;
use salesguard_domain::DocType;

use super::scenario::{Activity, Order, Stage, World, DEMO_PASSWORD};
use super::Report;

const SQLITE_ROWS_PER_INSERT: usize = 400;
/// Rows buffered before a flush (one transaction).
const FLUSH_ROWS: u64 = 400_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Be {
    Sqlite,
    Postgres,
}

/// Rows of one table, rendered for the backend: VALUES lists of INSERT
/// statements (SQLite) or COPY text (PostgreSQL).
struct Buf {
    be: Be,
    table: &'static str,
    cols: &'static str,
    data: String,
    stmts: Vec<String>,
    in_stmt: usize,
    first: bool,
    pending: u64,
    total: u64,
}

impl Buf {
    fn new(be: Be, table: &'static str, cols: &'static str) -> Buf {
        Buf {
            be,
            table,
            cols,
            data: String::new(),
            stmts: vec![],
            in_stmt: 0,
            first: true,
            pending: 0,
            total: 0,
        }
    }

    fn begin(&mut self) -> &mut Self {
        if self.be == Be::Sqlite {
            if self.in_stmt == 0 {
                let _ = write!(
                    self.data,
                    "INSERT INTO {} ({}) VALUES (",
                    self.table, self.cols
                );
            } else {
                self.data.push_str(",(");
            }
        }
        self.first = true;
        self
    }

    fn sep(&mut self) {
        if !self.first {
            self.data
                .push(if self.be == Be::Sqlite { ',' } else { '\t' });
        }
        self.first = false;
    }

    fn int(&mut self, v: i64) -> &mut Self {
        self.sep();
        let _ = write!(self.data, "{v}");
        self
    }

    fn null(&mut self) -> &mut Self {
        self.sep();
        self.data
            .push_str(if self.be == Be::Sqlite { "NULL" } else { "\\N" });
        self
    }

    fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        match self.be {
            Be::Sqlite => {
                self.data.push('\'');
                for c in s.chars() {
                    if c == '\'' {
                        self.data.push('\'');
                    }
                    self.data.push(c);
                }
                self.data.push('\'');
            }
            Be::Postgres => {
                for c in s.chars() {
                    match c {
                        '\\' => self.data.push_str("\\\\"),
                        '\t' => self.data.push_str("\\t"),
                        '\n' => self.data.push_str("\\n"),
                        '\r' => self.data.push_str("\\r"),
                        c => self.data.push(c),
                    }
                }
            }
        }
        self
    }

    fn opt_int(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    fn opt_text(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// A timestamp as each backend stores what the app writes (sqlx's
    /// encodings: RFC 3339 text on SQLite, timestamptz on PostgreSQL).
    fn ts(&mut self, t: DateTime<Utc>) -> &mut Self {
        match self.be {
            Be::Sqlite => {
                let s = t.to_rfc3339_opts(SecondsFormat::AutoSi, false);
                self.text(&s)
            }
            Be::Postgres => {
                self.sep();
                let _ = write!(self.data, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f+00"));
                self
            }
        }
    }

    fn opt_ts(&mut self, t: Option<DateTime<Utc>>) -> &mut Self {
        match t {
            Some(t) => self.ts(t),
            None => self.null(),
        }
    }

    fn opt_date(&mut self, d: Option<NaiveDate>) -> &mut Self {
        match d {
            Some(d) => self.date(d),
            None => self.null(),
        }
    }

    fn date(&mut self, d: NaiveDate) -> &mut Self {
        let s = d.format("%Y-%m-%d").to_string();
        self.text(&s)
    }

    fn boolean(&mut self, b: bool) -> &mut Self {
        self.sep();
        self.data.push_str(match (self.be, b) {
            (Be::Sqlite, true) => "1",
            (Be::Sqlite, false) => "0",
            (Be::Postgres, true) => "t",
            (Be::Postgres, false) => "f",
        });
        self
    }

    fn end(&mut self) {
        match self.be {
            Be::Sqlite => {
                self.data.push(')');
                self.in_stmt += 1;
                if self.in_stmt >= SQLITE_ROWS_PER_INSERT {
                    self.stmts.push(std::mem::take(&mut self.data));
                    self.in_stmt = 0;
                }
            }
            Be::Postgres => self.data.push('\n'),
        }
        self.pending += 1;
        self.total += 1;
    }

    /// Takes the buffered rows: SQL statements, or one COPY payload.
    fn take(&mut self) -> Vec<String> {
        if self.be == Be::Sqlite && self.in_stmt > 0 {
            self.stmts.push(std::mem::take(&mut self.data));
            self.in_stmt = 0;
        }
        self.pending = 0;
        match self.be {
            Be::Sqlite => std::mem::take(&mut self.stmts),
            Be::Postgres if self.data.is_empty() => vec![],
            Be::Postgres => vec![std::mem::take(&mut self.data)],
        }
    }
}

/// The tables in foreign-key order, with their columns.
const TABLES: &[(&str, &str)] = &[
    ("regions", "id, code, name, parent_id, market_capacity, created_at"),
    ("users", "id, username, display_name, email, position, password_hash, global_scope, active, created_at"),
    ("user_regions", "user_id, region_id"),
    ("agents", "id, code, name, region_id, credit_limit_fen, ar_outstanding_fen, address, contact_name, phone, created_at"),
    ("products", "id, sku, name, list_price_fen, active, created_at"),
    ("warehouses", "id, code, name, kind"),
    ("price_list", "product_id, tier, price_fen, floor_fen, updated_by, updated_at"),
    ("sales_orders", "id, number, agent_id, region_id, salesperson_id, status, delivery_address, payment_terms_days, total_fen, paid_fen, fully_paid_at, payment_confirmed_by, archived_at, shipped_on, version, created_at, updated_at"),
    ("order_lines", "id, order_id, line_no, product_id, quantity, unit_price_fen, amount_fen"),
    ("contracts", "id, number, order_id, status, terms, drafted_by, submitted_by, submitted_at, decided_by, decided_at, rejection_reason, signed_method, signed_by, signed_at, courier_tracking, created_at, updated_at"),
    ("shipment_exceptions", "id, order_id, amount_fen, reason, expires_at, approved_by, created_at, used_at"),
    ("payments", "id, order_id, amount_fen, received_on, reference, recorded_by, created_at"),
    ("shipping_notices", "id, number, order_id, warehouse_id, verification_code, content_hash, exception_id, issued_by, issued_at, used_at"),
    ("shipments", "id, order_id, notice_id, warehouse_id, carrier, tracking_number, shipped_at, shipped_by, delivered_at, delivery_confirmed_by, created_at"),
    ("receivables", "id, order_id, agent_id, region_id, amount_fen, outstanding_fen, due_on, created_at, settled_at"),
    ("invoice_infos", "id, order_id, title, tax_number, bank_name, bank_account, mailing_address, collected_by, collected_at"),
    ("invoices", "id, order_id, invoice_number, amount_fen, issued_by, issued_at, mailed_by, mailed_at, mail_carrier, mail_tracking, expected_arrival_on, receipt_confirmed_by, receipt_confirmed_at"),
    ("serial_units", "id, serial, product_id, order_id, shipment_id, agent_id, region_id, shipped_at"),
    ("sell_through", "id, agent_id, product_id, serial, quantity, sale_price_fen, sold_region_id, sold_on, recorded_by, recorded_at"),
    ("unit_sightings", "id, serial, kind, region_id, seen_on, note, recorded_by, recorded_at"),
    ("price_observations", "id, product_id, region_id, tier, price_fen, observed_on, channel, observed_by, recorded_at"),
    ("forecasts", "id, period, region_id, product_id, salesperson_id, quantity, submitted_at, updated_at"),
    ("stock_levels", "warehouse_id, product_id, on_hand"),
    ("stock_movements", "id, warehouse_id, product_id, quantity, reason, shipment_id, note, created_by, created_at"),
];

/// Tables whose `id` the loader assigns (from the current maximum on).
const WITH_ID: &[&str] = &[
    "regions",
    "users",
    "agents",
    "products",
    "warehouses",
    "sales_orders",
    "order_lines",
    "contracts",
    "shipment_exceptions",
    "payments",
    "shipping_notices",
    "shipments",
    "receivables",
    "invoice_infos",
    "invoices",
    "serial_units",
    "sell_through",
    "unit_sightings",
    "price_observations",
    "forecasts",
    "stock_movements",
];

struct Sink {
    be: Be,
    app: AppState,
    bufs: Vec<Buf>,
    next_id: HashMap<&'static str, i64>,
    seq: HashMap<(&'static str, NaiveDate), i64>,
    rows: u64,
    started: std::time::Instant,
    pg_superuser: bool,
    /// Time spent writing (the rest is generating).
    db_time: std::time::Duration,
    inflight: Option<(
        u64,
        tokio::task::JoinHandle<anyhow::Result<std::time::Duration>>,
    )>,
}

impl Sink {
    fn buf(&mut self, table: &str) -> &mut Buf {
        let i = TABLES.iter().position(|(t, _)| *t == table).unwrap_or(0);
        &mut self.bufs[i]
    }

    fn id(&mut self, table: &'static str) -> i64 {
        let e = self.next_id.entry(table).or_insert(1);
        let v = *e;
        *e += 1;
        v
    }

    fn number(&mut self, doc: DocType, day: NaiveDate, company: &str) -> String {
        let e = self.seq.entry((doc.code(), day)).or_insert(0);
        *e += 1;
        format_number(company, day, doc, *e)
    }

    fn pending(&self) -> u64 {
        self.bufs.iter().map(|b| b.pending).sum()
    }

    /// Hands the buffered rows to a writer task; the next chunk is
    /// generated while it writes (one chunk in flight, in order).
    async fn flush(&mut self) -> anyhow::Result<()> {
        let n = self.pending();
        if n == 0 {
            return Ok(());
        }
        let batch: Vec<Batch> = self
            .bufs
            .iter_mut()
            .map(|b| (b.table, b.cols, b.take()))
            .collect();
        self.wait().await?;
        let (be, db, superuser) = (self.be, self.app.db.write.clone(), self.pg_superuser);
        self.inflight = Some((
            n,
            tokio::spawn(async move { write(be, &db, superuser, batch).await }),
        ));
        Ok(())
    }

    /// Waits for the chunk in flight.
    async fn wait(&mut self) -> anyhow::Result<()> {
        let Some((n, task)) = self.inflight.take() else {
            return Ok(());
        };
        self.db_time += task.await??;
        self.rows += n;
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        println!(
            "  {} rows in {:.1} s ({:.0} rows/s; {:.1} s of it in the database)",
            self.rows,
            secs,
            self.rows as f64 / secs,
            self.db_time.as_secs_f64()
        );
        Ok(())
    }
}

/// One table's rows of a chunk: (table, columns, statements or COPY data).
type Batch = (&'static str, &'static str, Vec<String>);

/// Writes one chunk in one transaction; returns how long it took.
async fn write(
    be: Be,
    db: &sea_orm::DatabaseConnection,
    pg_superuser: bool,
    batch: Vec<Batch>,
) -> anyhow::Result<std::time::Duration> {
    let t0 = std::time::Instant::now();
    match be {
        Be::Sqlite => {
            let txn = db.begin().await?;
            for (table, _, stmts) in batch {
                for stmt in stmts {
                    txn.execute_unprepared(&stmt)
                        .await
                        .with_context(|| format!("insert into {table}"))?;
                }
            }
            txn.commit().await?;
        }
        Be::Postgres => {
            let pool = db.get_postgres_connection_pool();
            let mut conn = pool.acquire().await?;
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            // The rows are consistent by construction (the same plan loads
            // with foreign keys enforced on SQLite): a superuser skips the
            // per-row foreign-key triggers; nobody waits for the WAL flush.
            let mut settings = String::from("SET LOCAL synchronous_commit = off;");
            if pg_superuser {
                settings.push_str(" SET LOCAL session_replication_role = replica;");
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(settings))
                .execute(&mut *tx)
                .await?;
            for (table, cols, payloads) in batch {
                for payload in payloads {
                    let mut copy = tx
                        .copy_in_raw(&format!("COPY {table} ({cols}) FROM STDIN"))
                        .await
                        .with_context(|| format!("COPY {table}"))?;
                    copy.send(payload.into_bytes()).await?;
                    copy.finish()
                        .await
                        .with_context(|| format!("COPY {table}"))?;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(t0.elapsed())
}

/// On a fresh PostgreSQL database, the secondary (non-constraint) indexes
/// of the loaded tables are dropped before the load and built once after
/// it. Returns their definitions.
async fn pg_drop_indexes(app: &AppState) -> anyhow::Result<Vec<String>> {
    let db = &app.db.write;
    let tables: Vec<String> = TABLES.iter().map(|(t, _)| format!("'{t}'")).collect();
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() \
                 AND tablename IN ({}) AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                tables.join(",")
            ),
        ))
        .await?;
    let mut defs = vec![];
    for r in rows {
        let name: String = r.try_get("", "indexname")?;
        let def: String = r.try_get("", "indexdef")?;
        db.execute_unprepared(&format!("DROP INDEX \"{name}\""))
            .await?;
        defs.push(def);
    }
    Ok(defs)
}

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

fn verification_code(key: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut x = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..8)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            ALPHABET[(x >> 40) as usize % ALPHABET.len()] as char
        })
        .collect()
}

async fn scalar(app: &AppState, sql: &str) -> anyhow::Result<i64> {
    let db = &app.db.write;
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0))
}

/// Ids of the master data rows, by plan index.
struct Master {
    regions: Vec<i64>,
    users: Vec<i64>,
    agents: Vec<i64>,
    products: Vec<i64>,
    warehouse: i64,
}

/// Loads the plan as rows.
pub async fn load(app: &AppState, w: &World) -> anyhow::Result<Report> {
    let started = std::time::Instant::now();
    let be = match app.db.backend() {
        DbBackend::Postgres => Be::Postgres,
        _ => Be::Sqlite,
    };
    super::workflow::admin_actor(app).await?;
    let mut sink = Sink {
        be,
        app: app.clone(),
        bufs: TABLES.iter().map(|(t, c)| Buf::new(be, t, c)).collect(),
        next_id: HashMap::new(),
        seq: HashMap::new(),
        rows: 0,
        started,
        pg_superuser: false,
        db_time: std::time::Duration::ZERO,
        inflight: None,
    };
    if be == Be::Postgres {
        sink.pg_superuser = scalar(
            app,
            "SELECT CAST(CASE WHEN rolsuper THEN 1 ELSE 0 END AS BIGINT) FROM pg_roles WHERE rolname = current_user",
        )
        .await?
            == 1;
    }
    for t in WITH_ID {
        let max = scalar(app, &format!("SELECT MAX(id) FROM {t}")).await?;
        sink.next_id.insert(t, max + 1);
    }
    {
        let db = &app.db.write;
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT doc_type, business_day, last_value FROM doc_sequences",
            ))
            .await?;
        for r in rows {
            let doc: String = r.try_get("", "doc_type")?;
            let day: String = r.try_get("", "business_day")?;
            let v: i64 = r.try_get("", "last_value")?;
            let code = [
                DocType::SalesOrder,
                DocType::Contract,
                DocType::ShippingNotice,
            ]
            .into_iter()
            .map(|d| d.code())
            .find(|c| *c == doc);
            if let (Some(code), Ok(day)) = (code, NaiveDate::parse_from_str(&day, "%Y%m%d")) {
                sink.seq.insert((code, day), v);
            }
        }
    }
    let fresh = scalar(app, "SELECT COUNT(*) FROM sales_orders").await? == 0;
    let master = master_data(&mut sink, w)?;
    sink.flush().await?;
    sink.wait().await?;
    let indexes = if be == Be::Postgres && fresh {
        pg_drop_indexes(app).await?
    } else {
        vec![]
    };

    let mut report = Report::default();
    let mut ar: BTreeMap<i64, i64> = BTreeMap::new();
    let mut shipped_units: HashMap<usize, i64> = HashMap::new();
    for g in 0..w.groups.len() {
        let act = w.activity(g);
        group_rows(
            &mut sink,
            w,
            &master,
            &act,
            &mut ar,
            &mut shipped_units,
            &mut report,
        );
        if sink.pending() >= FLUSH_ROWS {
            sink.flush().await?;
        }
    }
    // Stock: what was received, less what was shipped, per product.
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
    // Agents' outstanding receivables, document sequences, id sequences.
    let txn = app.db.write.begin().await?;
    let backend = txn.get_database_backend();
    for (agent, fen) in &ar {
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
    report.rows = sink.rows;
    report.elapsed = started.elapsed();
    Ok(report)
}

fn master_data(s: &mut Sink, w: &World) -> anyhow::Result<Master> {
    let hash = salesguard_api::auth::hash_password(DEMO_PASSWORD)?;
    let now = salesguard_domain::clock::now();
    let created = at(&s.app.clone(), w.start - Duration::days(30), 0);
    let mut regions = vec![0i64; w.regions.len()];
    let mut order: Vec<usize> = (0..w.regions.len()).collect();
    order.sort_by_key(|r| w.regions[*r].parent.is_some());
    for r in order {
        let id = s.id("regions");
        regions[r] = id;
        let reg = &w.regions[r];
        let parent = reg.parent.map(|p| regions[p]);
        s.buf("regions")
            .begin()
            .int(id)
            .text(&reg.code)
            .text(&reg.name)
            .opt_int(parent)
            .int(reg.capacity)
            .ts(created)
            .end();
    }
    let mut users = vec![];
    for u in &w.users {
        let id = s.id("users");
        users.push(id);
        s.buf("users")
            .begin()
            .int(id)
            .text(&u.username)
            .text(&u.display_name)
            .text(&u.email())
            .text(u.position.gql())
            .text(&hash)
            .boolean(u.all_regions)
            .boolean(true)
            .ts(created)
            .end();
        for r in &u.regions {
            let rid = regions[*r];
            s.buf("user_regions").begin().int(id).int(rid).end();
        }
    }
    let mut agents = vec![];
    for a in &w.agents {
        let id = s.id("agents");
        agents.push(id);
        s.buf("agents")
            .begin()
            .int(id)
            .text(&a.code)
            .text(&a.name)
            .int(regions[a.region])
            .int(a.credit_limit_fen)
            .int(0)
            .text(&w.agent_address(a))
            .text("Wang Fang")
            .text("010-5550100")
            .ts(created)
            .end();
    }
    let mut products = vec![];
    for p in &w.products {
        let id = s.id("products");
        products.push(id);
        s.buf("products")
            .begin()
            .int(id)
            .text(&p.sku)
            .text(&p.name)
            .int(p.retail_fen)
            .boolean(true)
            .ts(created)
            .end();
    }
    let warehouse = s.id("warehouses");
    let code = format!("WH-MAIN{}", w.cfg.suffix);
    s.buf("warehouses")
        .begin()
        .int(warehouse)
        .text(&code)
        .text("Main warehouse")
        .text("MAIN")
        .end();
    let manager = users[w.staff.management];
    for (pi, p) in w.products.iter().enumerate() {
        for (tier, frac) in [
            ("AGENT", super::scenario::TIER_AGENT),
            ("DEALER", super::scenario::TIER_DEALER),
            ("RETAIL", super::scenario::TIER_RETAIL),
        ] {
            let (price, floor) = p.tier_fen(frac);
            s.buf("price_list")
                .begin()
                .int(products[pi])
                .text(tier)
                .int(price)
                .int(floor)
                .int(manager)
                .ts(now)
                .end();
        }
    }
    Ok(Master {
        regions,
        users,
        agents,
        products,
        warehouse,
    })
}

fn notice_hash(number: &str, agent_id: i64, address: &str, o: &Order, m: &Master) -> String {
    let mut h = Sha256::new();
    h.update(
        format!(
            "{}|{}|{}|{}|{}|{}",
            number,
            agent_id,
            address,
            o.total_fen(),
            m.warehouse,
            o.lines.len()
        )
        .as_bytes(),
    );
    for l in &o.lines {
        h.update(format!("|{}:{}:{}", m.products[l.product], l.qty, l.unit_fen).as_bytes());
    }
    hex::encode(h.finalize())
}

fn group_rows(
    s: &mut Sink,
    w: &World,
    m: &Master,
    act: &Activity,
    ar: &mut BTreeMap<i64, i64>,
    shipped_units: &mut HashMap<usize, i64>,
    report: &mut Report,
) {
    let app = s.app.clone();
    let company = w.cfg.company_code.clone();
    let d = w.cfg.as_of;
    let finance = m.users[w.staff.finance];
    let keeper = m.users[w.staff.warehouse];
    let manager = m.users[w.staff.management];
    for o in &act.orders {
        let agent = &w.agents[o.agent];
        let team = &w.teams[w.regions[agent.region].group];
        let (assistant, supervisor, sales) = (
            m.users[team.assistant],
            m.users[team.supervisor],
            m.users[o.salesperson],
        );
        let agent_id = m.agents[o.agent];
        let region_id = m.regions[agent.region];
        let address = w.agent_address(agent);
        let filed = at(&app, o.filed_on, 0);
        let total = o.total_fen();
        let paid = o.paid_by(d);
        let last_payment = o.payments.iter().filter(|p| p.on <= d).map(|p| p.on).max();
        let fully_paid_at =
            (paid == total && total > 0).then(|| at(&app, last_payment.unwrap_or(o.filed_on), 5));
        let ship_at = o.ship_on.map(|day| at(&app, day, 0));
        let archived_at = (o.stage == Stage::Archived).then(|| {
            at(
                &app,
                o.ship_on.unwrap_or(o.filed_on) + Duration::days(12),
                0,
            )
        });
        let status = match o.stage {
            Stage::Filed => "FILED",
            Stage::PendingApproval => "PENDING_APPROVAL",
            Stage::AtFinance => "AT_FINANCE",
            Stage::Shipped => "SHIPPED",
            Stage::Archived => "ARCHIVED",
        };
        let version = match o.stage {
            Stage::Filed => 0,
            Stage::PendingApproval => 2,
            Stage::AtFinance => 5,
            Stage::Shipped => 10 + o.payments.len() as i64,
            Stage::Archived => 15 + o.payments.len() as i64,
        };
        let updated = archived_at.or(ship_at).unwrap_or(filed);
        let oid = s.id("sales_orders");
        let number = s.number(DocType::SalesOrder, o.filed_on, &company);
        s.buf("sales_orders")
            .begin()
            .int(oid)
            .text(&number)
            .int(agent_id)
            .int(region_id)
            .int(sales)
            .text(status)
            .text(&address)
            .int(o.terms_days)
            .int(total)
            .int(paid)
            .opt_ts(fully_paid_at)
            .opt_int(fully_paid_at.map(|_| finance))
            .opt_ts(archived_at)
            .opt_date(ship_at.map(|t| t.with_timezone(&app.tz).date_naive()))
            .int(version)
            .ts(filed)
            .ts(updated)
            .end();
        report.orders += 1;
        for (i, l) in o.lines.iter().enumerate() {
            let id = s.id("order_lines");
            s.buf("order_lines")
                .begin()
                .int(id)
                .int(oid)
                .int(i as i64 + 1)
                .int(m.products[l.product])
                .int(l.qty)
                .int(l.unit_fen)
                .int(l.qty * l.unit_fen)
                .end();
        }
        if o.stage == Stage::Filed {
            continue;
        }
        let signed = o.stage != Stage::PendingApproval;
        let cid = s.id("contracts");
        let cnum = s.number(DocType::Contract, o.filed_on, &company);
        let drafted = filed + Duration::hours(1);
        let decided = signed.then(|| filed + Duration::hours(3));
        let signed_at = signed.then(|| filed + Duration::hours(4));
        let terms = format!(
            "Delivery within 5 days of payment; payment due {} days after shipment.",
            o.terms_days
        );
        s.buf("contracts")
            .begin()
            .int(cid)
            .text(&cnum)
            .int(oid)
            .text(if signed { "SIGNED" } else { "PENDING_APPROVAL" })
            .text(&terms)
            .int(assistant)
            .int(assistant)
            .ts(drafted)
            .opt_int(signed.then_some(supervisor))
            .opt_ts(decided)
            .null()
            .opt_text(signed.then_some("ON_SITE"))
            .opt_int(signed.then_some(sales))
            .opt_ts(signed_at)
            .null()
            .ts(drafted)
            .ts(signed_at.unwrap_or(drafted))
            .end();
        let mut exception_id = None;
        if o.exception {
            if let Some(ship) = ship_at {
                let id = s.id("shipment_exceptions");
                exception_id = Some(id);
                s.buf("shipment_exceptions")
                    .begin()
                    .int(id)
                    .int(oid)
                    .int(total)
                    .text("agent's peak season: ship now, pay within terms")
                    .ts(ship + Duration::days(7))
                    .int(manager)
                    .ts(ship - Duration::hours(20))
                    .ts(ship)
                    .end();
            }
        }
        for (k, p) in o.payments.iter().filter(|p| p.on <= d).enumerate() {
            let id = s.id("payments");
            let reference = format!("BANK-{}-{k}", o.ref_code);
            s.buf("payments")
                .begin()
                .int(id)
                .int(oid)
                .int(p.amount_fen)
                .date(p.on)
                .text(&reference)
                .int(finance)
                .ts(at(&app, p.on, 5))
                .end();
        }
        let (Some(ship_on), Some(ship)) = (o.ship_on, ship_at) else {
            continue;
        };
        report.shipped += 1;
        let nid = s.id("shipping_notices");
        let nnum = s.number(DocType::ShippingNotice, ship_on, &company);
        let hash = notice_hash(&number, agent_id, &address, o, m);
        s.buf("shipping_notices")
            .begin()
            .int(nid)
            .text(&nnum)
            .int(oid)
            .int(m.warehouse)
            .text(&verification_code(o.key))
            .text(&hash)
            .opt_int(exception_id)
            .int(assistant)
            .ts(ship - Duration::hours(2))
            .ts(ship)
            .end();
        let sid = s.id("shipments");
        let delivered = (ship + Duration::days(2)).min(Utc::now() - Duration::minutes(1));
        let tracking = format!("SF{}", o.ref_code);
        s.buf("shipments")
            .begin()
            .int(sid)
            .int(oid)
            .int(nid)
            .int(m.warehouse)
            .text("SF Express")
            .text(&tracking)
            .ts(ship)
            .int(keeper)
            .ts(delivered)
            .int(keeper)
            .ts(ship)
            .end();
        if o.exception {
            let id = s.id("receivables");
            let outstanding = total - paid;
            if outstanding > 0 {
                *ar.entry(agent_id).or_default() += outstanding;
            }
            let settled = (outstanding == 0).then(|| fully_paid_at.unwrap_or(ship));
            s.buf("receivables")
                .begin()
                .int(id)
                .int(oid)
                .int(agent_id)
                .int(region_id)
                .int(total)
                .int(outstanding)
                .date(ship_on + Duration::days(o.terms_days))
                .ts(ship)
                .opt_ts(settled)
                .end();
        }
        if let Some(arch) = archived_at {
            let id = s.id("invoice_infos");
            let tax = format!("91110000{:010}", o.agent);
            let account = format!("0200{:012}", o.agent);
            let mail = format!("{} Road 1", agent.name);
            s.buf("invoice_infos")
                .begin()
                .int(id)
                .int(oid)
                .text(&agent.name)
                .text(&tax)
                .text("ICBC")
                .text(&account)
                .text(&mail)
                .int(sales)
                .ts(arch - Duration::days(6))
                .end();
            let id = s.id("invoices");
            let inv = format!("INV{}", o.ref_code);
            let ems = format!("EMS{}", o.ref_code);
            s.buf("invoices")
                .begin()
                .int(id)
                .int(oid)
                .text(&inv)
                .int(total)
                .int(finance)
                .ts(arch - Duration::days(5))
                .int(assistant)
                .ts(arch - Duration::days(4))
                .text("EMS")
                .text(&ems)
                .date((arch - Duration::days(1)).date_naive())
                .int(assistant)
                .ts(arch - Duration::hours(1))
                .end();
        }
        for (p, serial) in &o.serials {
            let id = s.id("serial_units");
            s.buf("serial_units")
                .begin()
                .int(id)
                .text(serial)
                .int(m.products[*p])
                .int(oid)
                .int(sid)
                .int(agent_id)
                .int(region_id)
                .ts(ship)
                .end();
            *shipped_units.entry(*p).or_default() += 1;
        }
        report.serials += o.serials.len() as u64;
    }
    for st in &act.sell_through {
        let agent = &w.agents[st.agent];
        let recorder = m.users[w.teams[w.regions[agent.region].group].assistant];
        let id = s.id("sell_through");
        s.buf("sell_through")
            .begin()
            .int(id)
            .int(m.agents[st.agent])
            .int(m.products[st.product])
            .opt_text(st.serial.as_deref())
            .int(st.qty)
            .int(st.price_fen)
            .int(m.regions[st.region])
            .date(st.sold_on)
            .int(recorder)
            .ts(at(&app, st.sold_on + Duration::days(1), 0))
            .end();
    }
    report.sell_through += act.sell_through.len() as u64;
    let cc = m.users[w.staff.call_center];
    for si in &act.sightings {
        let id = s.id("unit_sightings");
        s.buf("unit_sightings")
            .begin()
            .int(id)
            .text(&si.serial)
            .text(si.kind)
            .int(m.regions[si.region])
            .date(si.seen_on)
            .null()
            .int(cc)
            .ts(at(&app, si.seen_on, 6))
            .end();
    }
    report.sightings += act.sightings.len() as u64;
    let market = m.users[w.staff.market];
    for p in &act.prices {
        let id = s.id("price_observations");
        s.buf("price_observations")
            .begin()
            .int(id)
            .int(m.products[p.product])
            .int(m.regions[p.region])
            .text(p.tier)
            .int(p.price_fen)
            .date(p.observed_on)
            .text(p.channel)
            .int(market)
            .ts(at(&app, p.observed_on, 7))
            .end();
    }
    report.price_observations += act.prices.len() as u64;
    for f in &act.forecasts {
        let id = s.id("forecasts");
        let submitted = at(&app, f.month - Duration::days(5), 0);
        let period = f.month.format("%Y-%m").to_string();
        s.buf("forecasts")
            .begin()
            .int(id)
            .text(&period)
            .int(m.regions[f.region])
            .int(m.products[f.product])
            .int(m.users[f.salesperson])
            .int(f.qty)
            .ts(submitted)
            .ts(submitted)
            .end();
    }
    report.forecasts += act.forecasts.len() as u64;
}
