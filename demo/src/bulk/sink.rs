//! The writer: the rows buffered per table, flushed in chunks (one
//! transaction each) by a task of its own while the next chunk is made, the
//! ids and document numbers it assigns, and the secondary indexes dropped
//! during a load on a fresh PostgreSQL database.
use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use salesguard_api::AppState;
use salesguard_domain::docnum::format_number;
use salesguard_domain::DocType;

use super::buf::{Be, Buf};

/// The tables in foreign-key order, with their columns.
pub(super) const TABLES: &[(&str, &str)] = &[
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
pub(super) const WITH_ID: &[&str] = &[
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

pub(super) struct Sink {
    pub(super) be: Be,
    pub(super) app: AppState,
    pub(super) bufs: Vec<Buf>,
    pub(super) next_id: HashMap<&'static str, i64>,
    pub(super) seq: HashMap<(&'static str, NaiveDate), i64>,
    pub(super) rows: u64,
    pub(super) started: std::time::Instant,
    pub(super) pg_superuser: bool,
    /// Time spent writing (the rest is generating).
    pub(super) db_time: std::time::Duration,
    pub(super) inflight: Option<(
        u64,
        tokio::task::JoinHandle<anyhow::Result<std::time::Duration>>,
    )>,
}

impl Sink {
    pub(super) fn buf(&mut self, table: &str) -> &mut Buf {
        let i = TABLES.iter().position(|(t, _)| *t == table).unwrap_or(0);
        &mut self.bufs[i]
    }

    pub(super) fn id(&mut self, table: &'static str) -> i64 {
        let e = self.next_id.entry(table).or_insert(1);
        let v = *e;
        *e += 1;
        v
    }

    pub(super) fn number(&mut self, doc: DocType, day: NaiveDate, company: &str) -> String {
        let e = self.seq.entry((doc.code(), day)).or_insert(0);
        *e += 1;
        format_number(company, day, doc, *e)
    }

    pub(super) fn pending(&self) -> u64 {
        self.bufs.iter().map(|b| b.pending).sum()
    }

    /// Hands the buffered rows to a writer task; the next chunk is
    /// generated while it writes (one chunk in flight, in order).
    pub(super) async fn flush(&mut self) -> anyhow::Result<()> {
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
    pub(super) async fn wait(&mut self) -> anyhow::Result<()> {
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

impl Sink {
    /// A writer for `app`'s database: ids go on from each table's highest,
    /// document numbers from `doc_sequences`.
    pub(super) async fn open(app: &AppState, started: Instant) -> anyhow::Result<Sink> {
        let be = match app.db.backend() {
            DbBackend::Postgres => Be::Postgres,
            _ => Be::Sqlite,
        };
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
        Ok(sink)
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
pub(super) async fn pg_drop_indexes(app: &AppState) -> anyhow::Result<Vec<String>> {
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

/// The first column of the first row of `sql`, as an integer (0 for NULL).
pub(super) async fn scalar(app: &AppState, sql: &str) -> anyhow::Result<i64> {
    let db = &app.db.write;
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0))
}
