//! Writes a step defers to the end of its transaction: its audit records
//! (with their streams' heads) and its notifications.
//!
//! On PostgreSQL they reach the server as one statement (data-modifying
//! CTEs), which saves a round trip per record, per head and per batch of
//! notifications; on SQLite (in-process, no round trips) they run one after
//! another. Either way they run in the step's transaction before its commit,
//! so they commit or roll back with the change they record.
//!
//! A stream's head is known either locked (`audit::lock_head`: the row is
//! held until commit) or read together with the document it belongs to (the
//! order row, locked by `workflow::order_for_step`). Each head's update is
//! conditional on the sequence number read, so a writer of the same stream
//! that slipped in between makes the step fail with CONFLICT instead of
//! forking the chain.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityName,
    EntityTrait, FromQueryResult, Iden, Iterable, Statement, Value,
};

use salesguard_entities::model::{notification, sales_order};

use crate::audit::{self, Entry, GENESIS};
use crate::error::{user_err, ServiceError, UserErrorCode};
use crate::idempotency::StepRun;
use crate::step_cache::{self, Doc};
use salesguard_entities::db::StepConn;

/// The head of one audit stream as this transaction sees it.
struct Head {
    /// The sequence number in the database when read (`None`: no head row).
    base: Option<i64>,
    /// The last sequence number and hash, with this step's records.
    seq: i64,
    hash: String,
}

/// One audit record, hashed, waiting to be written.
struct Record {
    entry: Entry,
    seq: i64,
    prev: String,
    hash: String,
    at: DateTime<Utc>,
}

/// One notification waiting to be written.
struct Note {
    user_id: i64,
    order_id: Option<i64>,
    kind: String,
    message: String,
    at: DateTime<Utc>,
}

/// What a step has deferred so far.
#[derive(Default)]
pub struct Deferred {
    heads: HashMap<String, Head>,
    /// Streams in the order their first record was deferred (a stable order
    /// of the head updates, so two steps never take head locks crosswise).
    streams: Vec<String>,
    records: Vec<Record>,
    notes: Vec<Note>,
    rows: Vec<RowUpdate>,
    inserts: Vec<RowInsert>,
    /// The directory's version must be at most this (a step that started
    /// from a kept load: its copies go to the people of that version).
    directory_at_most: Option<i64>,
}

/// An update of one row that must hit it: an order at the version read
/// (`workflow::advance`), or a row of one of its documents, which only the
/// order's steps change, under the order's lock.
struct RowUpdate {
    table: String,
    id: i64,
    version_was: Option<i64>,
    cols: Vec<(String, Value)>,
    /// Columns moved by an amount (`c = c + n`), for rows other writers
    /// move too (an agent's receivables).
    adds: Vec<(String, i64)>,
}

impl Deferred {
    /// Takes note of a stream's head read with its document (unlocked):
    /// `None` when the stream has no head yet.
    pub fn head_read(&mut self, stream: String, head: Option<(i64, String)>) {
        self.heads.entry(stream).or_insert_with(|| match head {
            Some((seq, hash)) => Head {
                base: Some(seq),
                seq,
                hash,
            },
            None => Head {
                base: None,
                seq: 0,
                hash: GENESIS.to_owned(),
            },
        });
    }

    /// Updates the order (locked by this transaction) at the end of the
    /// step, if it is still at `version_was`.
    pub fn update_order(
        &mut self,
        id: i64,
        version_was: i64,
        cols: Vec<(sales_order::Column, Value)>,
    ) {
        self.rows.push(RowUpdate {
            table: sales_order::Entity.table_name().to_owned(),
            id,
            version_was: Some(version_was),
            cols: cols.into_iter().map(|(c, v)| (c.to_string(), v)).collect(),
            adds: vec![],
        });
    }

    /// Updates the columns set in `am`, a row of one of the order's
    /// documents (changed only by the order's steps, under its lock), at the
    /// end of the step.
    pub fn update_row<A: ActiveModelTrait>(&mut self, id: i64, am: &A) {
        let cols = <A::Entity as EntityTrait>::Column::iter()
            .filter_map(|c| match am.get(c) {
                ActiveValue::Set(v) => Some((c.to_string(), v)),
                _ => None,
            })
            .collect();
        self.rows.push(RowUpdate {
            table: A::Entity::default().table_name().to_owned(),
            id,
            version_was: None,
            cols,
            adds: vec![],
        });
    }

    /// Moves a column of a row by `delta` at the end of the step, whatever
    /// other writers did to it meanwhile (`c = c + delta`).
    pub fn add_to<C: ColumnTrait>(&mut self, id: i64, col: C, delta: i64) {
        self.rows.push(RowUpdate {
            table: col.entity_name().to_string(),
            id,
            version_was: None,
            cols: vec![],
            adds: vec![(col.to_string(), delta)],
        });
    }

    /// Inserts the columns set in `am` at the end of the step.
    pub fn insert_row<A: ActiveModelTrait>(&mut self, am: &A) {
        let cols = <A::Entity as EntityTrait>::Column::iter()
            .filter_map(|c| match am.get(c) {
                ActiveValue::Set(v) => Some((c.to_string(), v)),
                _ => None,
            })
            .collect();
        self.insert(A::Entity::default().table_name(), cols, "");
    }

    /// Inserts a row at the end of the step; `tail` follows its values
    /// (`ON CONFLICT …`).
    pub fn insert(&mut self, table: &str, cols: Vec<(String, Value)>, tail: &'static str) {
        self.inserts.push(RowInsert {
            table: table.to_owned(),
            cols,
            tail,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.notes.is_empty()
            && self.rows.is_empty()
            && self.inserts.is_empty()
    }

    /// Guards the write on the directory: it misses when the directory moved
    /// past `version` (the version of the people the step copies in).
    pub fn guard_directory(&mut self, version: i64) {
        self.directory_at_most = Some(version);
    }

    /// What a step that read `read` leaves with these writes and the order
    /// as it wrote it (`order`): what the next step of the order would read
    /// (`step_cache`). `None` when a write of one of the order's documents
    /// is not followed (an insert, a move by an amount, a row not read).
    pub fn left(
        &self,
        read: &step_cache::Loaded,
        order: &sales_order::Model,
        stream: &str,
    ) -> Option<step_cache::Loaded> {
        let order_table = sales_order::Entity.table_name();
        if self
            .inserts
            .iter()
            .any(|r| r.table == order_table || Doc::of(&r.table).is_some())
        {
            return None;
        }
        let mut next = read.clone();
        next.order = order.clone();
        for u in &self.rows {
            if u.table == order_table {
                // Only the order read, moved on once (as the step wrote it).
                if u.id != read.order.id || order.version != read.order.version + 1 {
                    return None;
                }
            } else if let Some(d) = Doc::of(&u.table) {
                if !u.adds.is_empty() {
                    return None;
                }
                next = next.with_update(d, u.id, &u.cols)?;
            }
        }
        let head = self.heads.get(stream)?;
        next.head = (head.seq > 0).then(|| (head.seq, head.hash.clone()));
        Some(next)
    }
}

/// A row to insert at the end of the step, one whose key nothing in the
/// step needs.
struct RowInsert {
    table: String,
    cols: Vec<(String, Value)>,
    /// What follows the values (`ON CONFLICT …`).
    tail: &'static str,
}

/// A statement being built, with its placeholders (`$n` or `?`).
struct Sql {
    pg: bool,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(pg: bool) -> Sql {
        Sql {
            pg,
            text: String::new(),
            values: vec![],
        }
    }

    fn p(&mut self, v: impl Into<Value>) -> String {
        self.values.push(v.into());
        if self.pg {
            format!("${}", self.values.len())
        } else {
            "?".to_owned()
        }
    }

    fn statement(self) -> Statement {
        let backend = if self.pg {
            DbBackend::Postgres
        } else {
            DbBackend::Sqlite
        };
        Statement::from_sql_and_values(backend, self.text, self.values)
    }
}

fn head_sql(s: &mut Sql, stream: &str, h: &Head) -> String {
    format!(
        "INSERT INTO audit_heads (stream, seq, hash) VALUES ({}, {}, {}) \
         ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash \
         WHERE audit_heads.seq = {}",
        s.p(stream),
        s.p(h.seq),
        s.p(h.hash.clone()),
        s.p(h.base.unwrap_or(0)),
    )
}

fn row_sql(s: &mut Sql, u: &RowUpdate) -> String {
    let mut sets: Vec<String> = u
        .cols
        .iter()
        .map(|(c, v)| format!("{c} = {}", s.p(v.clone())))
        .collect();
    for (c, delta) in &u.adds {
        sets.push(format!("{c} = {c} + {}", s.p(*delta)));
    }
    let mut sql = format!(
        "UPDATE {} SET {} WHERE id = {}",
        u.table,
        sets.join(", "),
        s.p(u.id)
    );
    if let Some(v) = u.version_was {
        sql.push_str(&format!(" AND version = {}", s.p(v)));
    }
    sql
}

fn row_insert_sql(s: &mut Sql, r: &RowInsert) -> String {
    let names: Vec<&str> = r.cols.iter().map(|(c, _)| c.as_str()).collect();
    let values: Vec<String> = r.cols.iter().map(|(_, v)| s.p(v.clone())).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({}){}",
        r.table,
        names.join(", "),
        values.join(", "),
        r.tail
    )
}

/// `INSERT INTO table (cols) VALUES (…), (…)`, one row per item.
fn insert_sql<T>(
    s: &mut Sql,
    head: &str,
    items: &[T],
    row: impl Fn(&mut Sql, &T) -> Vec<String>,
) -> String {
    let rows: Vec<String> = items
        .iter()
        .map(|item| format!("({})", row(s, item).join(", ")))
        .collect();
    format!("{head} VALUES {}", rows.join(", "))
}

fn records_sql(s: &mut Sql, records: &[Record]) -> String {
    insert_sql(
        s,
        "INSERT INTO audit_log (stream, seq, prev_hash, hash, actor_id, actor_position, action, \
         outcome, entity_type, entity_id, before_json, after_json, detail, occurred_at)",
        records,
        |s, r| {
            let e = &r.entry;
            vec![
                s.p(e.stream.clone()),
                s.p(r.seq),
                s.p(r.prev.clone()),
                s.p(r.hash.clone()),
                s.p(e.actor_id),
                s.p(e.actor_position.clone()),
                s.p(e.action.clone()),
                s.p(e.outcome.clone()),
                s.p(e.entity_type.clone()),
                s.p(e.entity_id),
                s.p(e.before.clone()),
                s.p(e.after.clone()),
                s.p(e.detail.clone()),
                s.p(r.at),
            ]
        },
    )
}

fn notes_sql(s: &mut Sql, notes: &[Note]) -> String {
    let insert = insert_sql(
        s,
        "INSERT INTO notifications (user_id, order_id, kind, message, created_at)",
        notes,
        |s, n| {
            vec![
                s.p(n.user_id),
                s.p(n.order_id),
                s.p(n.kind.clone()),
                s.p(n.message.clone()),
                s.p(n.at),
            ]
        },
    );
    format!("{insert} RETURNING id, user_id, order_id, kind, message, created_at, read_at")
}

/// The statements of a flush: the guarded updates (each must hit one row),
/// the inserts, then the audit records and the notifications (`None` when
/// there are none).
struct Parts {
    guarded: Vec<String>,
    /// Reads that must find their row (the directory's version).
    checks: Vec<String>,
    inserts: Vec<String>,
    records: Option<String>,
    notes: Option<String>,
}

impl Deferred {
    fn parts(&self, s: &mut Sql) -> Parts {
        let mut guarded: Vec<String> = self.rows.iter().map(|u| row_sql(s, u)).collect();
        for stream in &self.streams {
            if let Some(h) = self.heads.get(stream) {
                guarded.push(head_sql(s, stream, h));
            }
        }
        let checks = self
            .directory_at_most
            .map(|v| {
                format!(
                    "SELECT 1 AS sg_guard FROM directory_version WHERE id = 1 AND version <= {}",
                    s.p(v)
                )
            })
            .into_iter()
            .collect();
        Parts {
            guarded,
            checks,
            inserts: self.inserts.iter().map(|r| row_insert_sql(s, r)).collect(),
            records: (!self.records.is_empty()).then(|| records_sql(s, &self.records)),
            notes: (!self.notes.is_empty()).then(|| notes_sql(s, &self.notes)),
        }
    }

    /// Appends an audit record to its stream. A stream not read yet has its
    /// head locked now (`audit::lock_head`).
    pub async fn audit<C: ConnectionTrait>(&mut self, db: &C, entry: Entry) -> Result<(), DbErr> {
        if !self.heads.contains_key(&entry.stream) {
            let head = audit::lock_head(db, &entry.stream).await?;
            self.head_read(entry.stream.clone(), Some(head));
        }
        let Some(head) = self.heads.get_mut(&entry.stream) else {
            return Err(DbErr::Custom(format!("no head for {}", entry.stream)));
        };
        let seq = head.seq + 1;
        let at = salesguard_domain::clock::now();
        let hash = audit::compute_hash(&entry.stream, seq, &head.hash, &entry, at);
        let prev = std::mem::replace(&mut head.hash, hash.clone());
        head.seq = seq;
        if !self.streams.contains(&entry.stream) {
            self.streams.push(entry.stream.clone());
        }
        self.records.push(Record {
            entry,
            seq,
            prev,
            hash,
            at,
        });
        Ok(())
    }

    /// Notifies `recipients` except `actor_id` (never notified of their own
    /// step).
    pub fn notify(
        &mut self,
        actor_id: i64,
        recipients: impl IntoIterator<Item = i64>,
        order_id: Option<i64>,
        kind: &str,
        message: &str,
    ) {
        let at = salesguard_domain::clock::now();
        for user_id in recipients.into_iter().filter(|u| *u != actor_id) {
            self.notes.push(Note {
                user_id,
                order_id,
                kind: kind.to_owned(),
                message: message.to_owned(),
                at,
            });
        }
    }

    /// Writes everything deferred. `Ok(None)` when a guarded update missed
    /// (a head or the order moved since it was read): the caller rolls back
    /// (a single-statement step: the statement already did).
    pub async fn write<C: ConnectionTrait>(
        self,
        db: &C,
    ) -> Result<Option<Vec<notification::Model>>, DbErr> {
        self.write_to(db, false).await
    }

    /// SQLite, a single-statement step (`StepConn::Single`): writes
    /// everything deferred as one batch in the open group
    /// (`db::Db::write_step`), after a check that every guard holds; when
    /// one would miss, nothing is written (`Ok(None)`). The group holds
    /// SQLite's only writer: nothing moves between the check and the
    /// writes.
    pub async fn write_grouped(
        self,
        db: &salesguard_entities::db::Db,
    ) -> Result<Option<Vec<notification::Model>>, DbErr> {
        if self.is_empty() {
            return Ok(Some(vec![]));
        }
        let mut this = self;
        let mut c = Sql::new(false);
        c.text = this.check_sql(&mut c);
        // The check covers the directory: not again among the writes.
        this.directory_at_most = None;
        let mut s = Sql::new(false);
        let parts = this.parts(&mut s);
        s.text = sqlite_text(parts);
        let Some(rows) = db.write_step(c.statement(), s.statement()).await? else {
            return Ok(None);
        };
        let mut out = vec![];
        for row in &rows {
            if row.try_get::<i64>("", "sg_guard").is_err() {
                out.push(notification::Model::from_query_result(row, "")?);
            }
        }
        Ok(Some(out))
    }

    /// SQLite: a query that returns a row when every guard of the write
    /// would hit (the rows updated at the versions read and there, the
    /// audit heads at the sequence numbers read, the directory at most at
    /// the version its copies come from), and none otherwise.
    fn check_sql(&self, s: &mut Sql) -> String {
        let mut conds = vec![];
        for u in &self.rows {
            conds.push(match u.version_was {
                Some(v) => format!(
                    "(SELECT version FROM {} WHERE id = {}) = {}",
                    u.table,
                    s.p(u.id),
                    s.p(v)
                ),
                None => format!(
                    "EXISTS (SELECT 1 FROM {} WHERE id = {})",
                    u.table,
                    s.p(u.id)
                ),
            });
        }
        for stream in &self.streams {
            if let Some(h) = self.heads.get(stream) {
                conds.push(format!(
                    "COALESCE((SELECT seq FROM audit_heads WHERE stream = {}), 0) = {}",
                    s.p(stream.clone()),
                    s.p(h.base.unwrap_or(0))
                ));
            }
        }
        if let Some(v) = self.directory_at_most {
            conds.push(format!(
                "(SELECT version FROM directory_version WHERE id = 1) <= {}",
                s.p(v)
            ));
        }
        if conds.is_empty() {
            conds.push("1".to_owned());
        }
        format!("SELECT 1 AS sg_guard WHERE {}", conds.join(" AND "))
    }

    /// Writes everything deferred as one statement that is its own
    /// transaction (PostgreSQL; a single-statement step, `StepConn::Single`):
    /// when a guarded update misses, the statement raises and nothing of it
    /// stays (`Ok(None)`).
    pub async fn write_single(
        self,
        pool: &sea_orm::DatabaseConnection,
    ) -> Result<Option<Vec<notification::Model>>, DbErr> {
        self.write_to(pool, true).await
    }

    /// As [`Deferred::write`]; `single`: the statement is the step's own
    /// transaction (`StepConn::Single`), and raises when a guard misses.
    async fn write_to<C: ConnectionTrait>(
        self,
        db: &C,
        single: bool,
    ) -> Result<Option<Vec<notification::Model>>, DbErr> {
        if self.is_empty() {
            return Ok(Some(vec![]));
        }
        let pg = db.get_database_backend() == DbBackend::Postgres;
        let mut s = Sql::new(pg);
        let parts = self.parts(&mut s);
        let expected = (parts.guarded.len() + parts.checks.len()) as i64;
        s.text = if pg {
            pg_text(parts, single.then_some(expected))
        } else {
            sqlite_text(parts)
        };
        let rows = match db.query_all_raw(s.statement()).await {
            Ok(rows) => rows,
            Err(e)
                if salesguard_entities::db::sqlstate(&e).as_deref()
                    == Some(salesguard_entities::db::GUARD_MISSED) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let mut guards = 0;
        let mut out = vec![];
        for row in &rows {
            if pg {
                guards = row.try_get("", "sg_guards")?;
                if row
                    .try_get::<Option<i64>>("", "id")
                    .ok()
                    .flatten()
                    .is_some()
                {
                    out.push(notification::Model::from_query_result(row, "")?);
                }
            } else if row.try_get::<i64>("", "sg_guard").is_ok() {
                guards += 1;
            } else {
                out.push(notification::Model::from_query_result(row, "")?);
            }
        }
        Ok((guards == expected).then_some(out))
    }
}

/// PostgreSQL: one statement, the writes as data-modifying CTEs, and one row
/// per notification (at least one row) with the number of guarded rows hit.
///
/// `single`: the statement is a step's own transaction, and must hit that
/// many guarded rows or raise (`sg_guard`), so that nothing of it stays.
fn pg_text(parts: Parts, single: Option<i64>) -> String {
    let mut ctes = vec![];
    let mut counts = vec![];
    for (i, q) in parts.guarded.iter().enumerate() {
        ctes.push(format!("g{i} AS ({q} RETURNING 1)"));
        counts.push(format!("(SELECT count(*) FROM g{i})"));
    }
    for (i, q) in parts.checks.iter().enumerate() {
        ctes.push(format!("c{i} AS ({q})"));
        counts.push(format!("(SELECT count(*) FROM c{i})"));
    }
    for (i, q) in parts.inserts.iter().enumerate() {
        ctes.push(format!("i{i} AS ({q})"));
    }
    if let Some(q) = parts.records {
        ctes.push(format!("l AS ({q})"));
    }
    let mut counted = if counts.is_empty() {
        "CAST(0 AS BIGINT)".to_owned()
    } else {
        counts.join(" + ")
    };
    if let Some(expected) = single {
        counted = format!("sg_guard({counted}, {expected})");
    }
    let (cols, joined) = match parts.notes {
        Some(q) => {
            ctes.push(format!("n AS ({q})"));
            (", n.*", " LEFT JOIN n ON TRUE")
        }
        None => ("", ""),
    };
    format!(
        "WITH {} SELECT {counted} AS sg_guards{cols} FROM (SELECT 1 AS sg_one) AS sg_one{joined}",
        ctes.join(", ")
    )
}

/// SQLite: the statements one after another in one query (one trip to the
/// connection's thread instead of one per statement, while this transaction
/// holds the database's only writer); each guarded row hit returns a row.
fn sqlite_text(parts: Parts) -> String {
    let mut out: Vec<String> = parts
        .guarded
        .into_iter()
        .map(|q| format!("{q} RETURNING 1 AS sg_guard"))
        .collect();
    out.extend(parts.checks);
    out.extend(parts.inserts);
    out.extend(parts.records);
    out.extend(parts.notes);
    out.join("; ")
}

impl StepRun {
    /// Appends an audit record to its stream, written at the end of the step.
    pub async fn audit(&mut self, entry: Entry) -> Result<(), DbErr> {
        self.deferred.audit(&self.txn, entry).await
    }

    /// Notifies `recipients` (never the actor themself), written at the end
    /// of the step and pushed to subscribers after commit.
    pub fn notify(
        &mut self,
        recipients: impl IntoIterator<Item = i64>,
        order_id: Option<i64>,
        kind: &str,
        message: &str,
    ) {
        let me = self.actor.user_id;
        self.deferred
            .notify(me, recipients, order_id, kind, message);
    }

    /// Writes what the step deferred, in its transaction. CONFLICT when a
    /// head or the order moved since it was read.
    pub async fn flush(&mut self) -> Result<(), ServiceError> {
        let d = std::mem::take(&mut self.deferred);
        let written = match &self.txn {
            StepConn::Txn(txn) => d.write_to(txn, false).await?,
            StepConn::Single(pool) if pool.get_database_backend() == DbBackend::Sqlite => {
                d.write_grouped(&self.app.db).await?
            }
            StepConn::Single(pool) => d.write_single(pool).await?,
        };
        match written {
            Some(notes) => {
                self.notes.extend(notes);
                Ok(())
            }
            None => Err(user_err(
                UserErrorCode::Conflict,
                "the document was changed by someone else at the same time; reload and retry",
            )),
        }
    }
}
