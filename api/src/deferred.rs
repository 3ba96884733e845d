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
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement, Value};

use salesguard_entities::model::{notification, sales_order};
use sea_orm::Iden;

use crate::audit::{self, Entry, GENESIS};
use crate::error::{user_err, ServiceError, UserErrorCode};
use crate::idempotency::StepRun;

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
    orders: Vec<OrderUpdate>,
}

/// A conditional update of an order row (`workflow::advance`).
struct OrderUpdate {
    id: i64,
    version_was: i64,
    cols: Vec<(sales_order::Column, Value)>,
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
        self.orders.push(OrderUpdate {
            id,
            version_was,
            cols,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.notes.is_empty() && self.orders.is_empty()
    }
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

fn order_sql(s: &mut Sql, u: &OrderUpdate) -> String {
    let sets: Vec<String> = u
        .cols
        .iter()
        .map(|(c, v)| format!("{} = {}", c.to_string(), s.p(v.clone())))
        .collect();
    format!(
        "UPDATE sales_orders SET {} WHERE id = {} AND version = {}",
        sets.join(", "),
        s.p(u.id),
        s.p(u.version_was)
    )
}

fn records_sql(s: &mut Sql, records: &[Record]) -> String {
    let mut out = String::from(
        "INSERT INTO audit_log (stream, seq, prev_hash, hash, actor_id, actor_position, action, \
         outcome, entity_type, entity_id, before_json, after_json, detail, occurred_at) VALUES ",
    );
    for (i, r) in records.iter().enumerate() {
        let e = &r.entry;
        let row = [
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
        ];
        if i > 0 {
            out.push_str(", ");
        }
        out.push('(');
        out.push_str(&row.join(", "));
        out.push(')');
    }
    out
}

fn notes_sql(s: &mut Sql, notes: &[Note]) -> String {
    let mut out = String::from(
        "INSERT INTO notifications (user_id, order_id, kind, message, created_at) VALUES ",
    );
    for (i, n) in notes.iter().enumerate() {
        let row = [
            s.p(n.user_id),
            s.p(n.order_id),
            s.p(n.kind.clone()),
            s.p(n.message.clone()),
            s.p(n.at),
        ];
        if i > 0 {
            out.push_str(", ");
        }
        out.push('(');
        out.push_str(&row.join(", "));
        out.push(')');
    }
    out.push_str(" RETURNING id, user_id, order_id, kind, message, created_at, read_at");
    out
}

fn conflict() -> ServiceError {
    user_err(
        UserErrorCode::Conflict,
        "the document was changed by someone else at the same time; reload and retry",
    )
}

impl StepRun {
    /// Appends an audit record to its stream, written at the end of the step.
    pub async fn audit(&mut self, entry: Entry) -> Result<(), DbErr> {
        if !self.deferred.heads.contains_key(&entry.stream) {
            let (seq, hash) = audit::lock_head(&self.txn, &entry.stream).await?;
            self.deferred
                .head_read(entry.stream.clone(), Some((seq, hash)));
        }
        let d = &mut self.deferred;
        let Some(head) = d.heads.get_mut(&entry.stream) else {
            return Err(DbErr::Custom(format!("no head for {}", entry.stream)));
        };
        let seq = head.seq + 1;
        let at = crate::app::now();
        let hash = audit::compute_hash(&entry.stream, seq, &head.hash, &entry, at);
        let prev = std::mem::replace(&mut head.hash, hash.clone());
        head.seq = seq;
        if !d.streams.contains(&entry.stream) {
            d.streams.push(entry.stream.clone());
        }
        d.records.push(Record {
            entry,
            seq,
            prev,
            hash,
            at,
        });
        Ok(())
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
        let at = crate::app::now();
        let me = self.actor.user_id;
        for user_id in recipients.into_iter().filter(|u| *u != me) {
            self.deferred.notes.push(Note {
                user_id,
                order_id,
                kind: kind.to_owned(),
                message: message.to_owned(),
                at,
            });
        }
    }

    /// Writes what the step deferred, in its transaction. CONFLICT when a
    /// head moved since it was read.
    pub async fn flush(&mut self) -> Result<(), ServiceError> {
        let d = std::mem::take(&mut self.deferred);
        if d.is_empty() {
            return Ok(());
        }
        let heads: Vec<(&str, &Head)> = d
            .streams
            .iter()
            .filter_map(|s| d.heads.get(s).map(|h| (s.as_str(), h)))
            .collect();
        let notes = match self.txn.get_database_backend() {
            DbBackend::Postgres => {
                flush_pg(&self.txn, &d.orders, &heads, &d.records, &d.notes).await?
            }
            _ => flush_each(&self.txn, &d.orders, &heads, &d.records, &d.notes).await?,
        };
        self.notes.extend(notes);
        Ok(())
    }
}

/// PostgreSQL: everything in one statement.
async fn flush_pg<C: ConnectionTrait>(
    db: &C,
    orders: &[OrderUpdate],
    heads: &[(&str, &Head)],
    records: &[Record],
    notes: &[Note],
) -> Result<Vec<notification::Model>, ServiceError> {
    let mut s = Sql::new(true);
    let mut ctes = vec![];
    let mut guarded = vec![];
    for (i, u) in orders.iter().enumerate() {
        let q = order_sql(&mut s, u);
        ctes.push(format!("u{i} AS ({q} RETURNING 1)"));
        guarded.push(format!("u{i}"));
    }
    for (i, (stream, h)) in heads.iter().enumerate() {
        let q = head_sql(&mut s, stream, h);
        ctes.push(format!("h{i} AS ({q} RETURNING 1)"));
        guarded.push(format!("h{i}"));
    }
    if !records.is_empty() {
        let q = records_sql(&mut s, records);
        ctes.push(format!("l AS ({q})"));
    }
    if !notes.is_empty() {
        let q = notes_sql(&mut s, notes);
        ctes.push(format!("n AS ({q})"));
    }
    let counted = if guarded.is_empty() {
        "CAST(0 AS BIGINT)".to_owned()
    } else {
        guarded
            .iter()
            .map(|g| format!("(SELECT count(*) FROM {g})"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let joined = if notes.is_empty() {
        ""
    } else {
        " LEFT JOIN n ON TRUE"
    };
    let cols = if notes.is_empty() { "" } else { ", n.*" };
    s.text = format!(
        "WITH {} SELECT {counted} AS sg_heads{cols} FROM (SELECT 1 AS sg_one) AS sg_one{joined}",
        ctes.join(", ")
    );
    let rows = db.query_all_raw(s.statement()).await?;
    let mut out = vec![];
    for row in &rows {
        let moved: i64 = row.try_get("", "sg_heads")?;
        if moved != guarded.len() as i64 {
            return Err(conflict());
        }
        if !notes.is_empty() && row.try_get::<Option<i64>>("", "id")?.is_some() {
            out.push(notification::Model::from_query_result(row, "")?);
        }
    }
    Ok(out)
}

/// SQLite: the statements one after another, sent as one query (one trip to
/// the connection's thread instead of one per statement, while this
/// transaction holds the database's only writer).
async fn flush_each<C: ConnectionTrait>(
    db: &C,
    orders: &[OrderUpdate],
    heads: &[(&str, &Head)],
    records: &[Record],
    notes: &[Note],
) -> Result<Vec<notification::Model>, ServiceError> {
    let mut s = Sql::new(false);
    let mut parts = vec![];
    for u in orders {
        let q = order_sql(&mut s, u);
        parts.push(format!("{q} RETURNING 1 AS sg_guard"));
    }
    for (stream, h) in heads {
        let q = head_sql(&mut s, stream, h);
        parts.push(format!("{q} RETURNING 1 AS sg_guard"));
    }
    if !records.is_empty() {
        parts.push(records_sql(&mut s, records));
    }
    if !notes.is_empty() {
        parts.push(notes_sql(&mut s, notes));
    }
    s.text = parts.join("; ");
    let rows = db.query_all_raw(s.statement()).await?;
    let mut guards = 0;
    let mut out = vec![];
    for row in &rows {
        if row.try_get::<i64>("", "sg_guard").is_ok() {
            guards += 1;
        } else {
            out.push(notification::Model::from_query_result(row, "")?);
        }
    }
    if guards != orders.len() + heads.len() {
        return Err(conflict());
    }
    Ok(out)
}
