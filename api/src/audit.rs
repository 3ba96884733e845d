//! The audit trail: append-only and tamper-evident.
//!
//! Records are hash-chained per *stream* (one stream per document, e.g.
//! `order:42`, or per actor for refusals, `refusals:7`). Each record carries
//! its stream's sequence number and the previous record's hash, so writers of
//! different documents never contend for one row, while altering, removing or
//! reordering a record breaks its stream's chain. `verify` recomputes every
//! chain and reports the first altered record.
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use salesguard_entities::model::{audit_head, audit_log};

use crate::auth::Actor;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One record to append.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub stream: String,
    pub actor_id: Option<i64>,
    pub actor_position: Option<String>,
    pub action: String,
    /// `OK`, or `REFUSED:<CODE>` for a refused request.
    pub outcome: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub detail: Option<String>,
}

impl Entry {
    pub fn ok(actor: &Actor, action: &str, entity_type: &str, entity_id: i64) -> Entry {
        Entry {
            stream: stream_for(entity_type, entity_id),
            actor_id: Some(actor.user_id),
            actor_position: Some(actor.position.as_str().to_owned()),
            action: action.to_owned(),
            outcome: "OK".into(),
            entity_type: Some(entity_type.to_owned()),
            entity_id: Some(entity_id),
            ..Entry::default()
        }
    }

    pub fn before<T: Serialize>(mut self, v: &T) -> Entry {
        self.before = serde_json::to_string(v).ok();
        self
    }

    pub fn after<T: Serialize>(mut self, v: &T) -> Entry {
        self.after = serde_json::to_string(v).ok();
        self
    }

    pub fn detail(mut self, d: impl Into<String>) -> Entry {
        self.detail = Some(d.into());
        self
    }
}

pub fn stream_for(entity_type: &str, entity_id: i64) -> String {
    format!("{}:{}", entity_type, entity_id)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn compute_hash(
    stream: &str,
    seq: i64,
    prev: &str,
    e: &Entry,
    occurred_at: DateTime<Utc>,
) -> String {
    let mut h = Sha256::new();
    let fields: [&str; 12] = [
        stream,
        &seq.to_string(),
        prev,
        &e.actor_id.map(|v| v.to_string()).unwrap_or_default(),
        e.actor_position.as_deref().unwrap_or(""),
        &e.action,
        &e.outcome,
        e.entity_type.as_deref().unwrap_or(""),
        &e.entity_id.map(|v| v.to_string()).unwrap_or_default(),
        e.before.as_deref().unwrap_or(""),
        e.after.as_deref().unwrap_or(""),
        e.detail.as_deref().unwrap_or(""),
    ];
    for f in fields {
        // Length-prefixed, so no two different records hash the same input.
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    h.update(
        occurred_at
            .to_rfc3339_opts(SecondsFormat::Micros, true)
            .as_bytes(),
    );
    hex::encode(h.finalize())
}

/// Locks the stream's head row (creating it for a new stream) and returns
/// the last sequence number and hash. One statement on both databases:
/// the upsert takes the row lock that orders writers of this stream.
pub(crate) async fn lock_head<C: ConnectionTrait>(
    db: &C,
    stream: &str,
) -> Result<(i64, String), DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO audit_heads (stream, seq, hash) VALUES ($1, 0, $2) \
             ON CONFLICT (stream) DO UPDATE SET stream = EXCLUDED.stream RETURNING seq, hash"
        }
        _ => {
            "INSERT INTO audit_heads (stream, seq, hash) VALUES (?, 0, ?) \
             ON CONFLICT (stream) DO UPDATE SET stream = excluded.stream RETURNING seq, hash"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [stream.into(), GENESIS.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("audit_heads".into()))?;
    Ok((row.try_get("", "seq")?, row.try_get("", "hash")?))
}

/// Appends a record in the caller's transaction (so it commits or rolls back
/// with the change it records): locks the stream's head, then writes the
/// record and the head (`crate::deferred`, the same writer a workflow step
/// uses at its end).
pub async fn append<C: ConnectionTrait>(db: &C, e: Entry) -> Result<(), DbErr> {
    let mut d = crate::deferred::Deferred::default();
    d.audit(db, e).await?;
    match d.write(db).await? {
        Some(_) => Ok(()),
        // The head was locked above: nobody else can have moved it.
        None => Err(DbErr::Custom("audit head moved while locked".into())),
    }
}

/// Records a refused request in its own transaction (the refused change was
/// rolled back). Retries when a concurrent refusal by the same actor took the
/// same sequence number.
pub async fn record_refusal(
    db: &salesguard_entities::db::Db,
    actor: Option<&Actor>,
    action: &str,
    code: &str,
    entity: Option<(&str, i64)>,
    message: &str,
) {
    let stream = match actor {
        Some(a) => format!("refusals:{}", a.user_id),
        None => "refusals:anonymous".to_owned(),
    };
    let entry = Entry {
        stream,
        actor_id: actor.map(|a| a.user_id),
        actor_position: actor.map(|a| a.position.as_str().to_owned()),
        action: action.to_owned(),
        outcome: format!("REFUSED:{code}"),
        entity_type: entity.map(|(t, _)| t.to_owned()),
        entity_id: entity.map(|(_, id)| id),
        detail: Some(message.to_owned()),
        ..Entry::default()
    };
    // Writers of one stream queue on its head row; nothing is dropped. A
    // failure here is logged loudly: the refusal itself was still returned.
    let res = async {
        let txn = db.begin().await?;
        append(&txn, entry).await?;
        txn.commit().await
    }
    .await;
    if let Err(e) = res {
        tracing::error!(error = %e, action, "could not audit a refusal");
    }
}

/// The outcome of verifying the whole trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub records: u64,
    pub streams: u64,
    /// The first (lowest id) record whose chain does not hold, with why.
    pub first_broken: Option<(i64, String)>,
}

pub async fn verify<C: ConnectionTrait>(db: &C) -> Result<Verification, DbErr> {
    let mut records = 0u64;
    let mut streams = 0u64;
    let mut broken: Option<(i64, String)> = None;
    let note = |id: i64, why: String, broken: &mut Option<(i64, String)>| {
        if broken.as_ref().is_none_or(|(b, _)| id < *b) {
            *broken = Some((id, why));
        }
    };
    let mut last_id: i64 = 0;
    let mut cur_stream: Option<String> = None;
    let mut prev_hash = GENESIS.to_owned();
    let mut expect_seq = 1i64;
    // Page through the trail ordered by stream and seq, in bounded memory.
    let mut after: Option<(String, i64)> = None;
    loop {
        let mut q = audit_log::Entity::find()
            .order_by_asc(audit_log::Column::Stream)
            .order_by_asc(audit_log::Column::Seq)
            .limit(5000);
        if let Some((s, seq)) = &after {
            q = q.filter(
                sea_orm::Condition::any()
                    .add(audit_log::Column::Stream.gt(s.clone()))
                    .add(
                        sea_orm::Condition::all()
                            .add(audit_log::Column::Stream.eq(s.clone()))
                            .add(audit_log::Column::Seq.gt(*seq)),
                    ),
            );
        }
        let page = q.all(db).await?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            records += 1;
            last_id = last_id.max(r.id);
            if cur_stream.as_deref() != Some(r.stream.as_str()) {
                cur_stream = Some(r.stream.clone());
                streams += 1;
                prev_hash = GENESIS.to_owned();
                expect_seq = 1;
            }
            if r.seq != expect_seq {
                note(
                    r.id,
                    format!(
                        "stream {} jumps from seq {} to {} (a record was removed)",
                        r.stream,
                        expect_seq - 1,
                        r.seq
                    ),
                    &mut broken,
                );
            } else if r.prev_hash != prev_hash {
                note(
                    r.id,
                    format!(
                        "stream {} seq {}: previous hash does not match",
                        r.stream, r.seq
                    ),
                    &mut broken,
                );
            }
            let entry = Entry {
                stream: r.stream.clone(),
                actor_id: r.actor_id,
                actor_position: r.actor_position.clone(),
                action: r.action.clone(),
                outcome: r.outcome.clone(),
                entity_type: r.entity_type.clone(),
                entity_id: r.entity_id,
                before: r.before_json.clone(),
                after: r.after_json.clone(),
                detail: r.detail.clone(),
            };
            let h = compute_hash(&r.stream, r.seq, &r.prev_hash, &entry, r.occurred_at);
            if h != r.hash {
                note(
                    r.id,
                    format!("stream {} seq {}: content was altered", r.stream, r.seq),
                    &mut broken,
                );
            }
            prev_hash = r.hash.clone();
            expect_seq = r.seq + 1;
        }
        let tail = &page[page.len() - 1];
        after = Some((tail.stream.clone(), tail.seq));
    }
    let _ = last_id;
    // Every stream must end where its head says: this catches removed last
    // records, and records whose head was never written.
    let heads = audit_head::Entity::find().all(db).await?;
    for h in heads.iter().filter(|h| h.seq > 0) {
        let last = audit_log::Entity::find()
            .filter(audit_log::Column::Stream.eq(h.stream.clone()))
            .order_by_desc(audit_log::Column::Seq)
            .one(db)
            .await?;
        match last {
            Some(l) if l.seq == h.seq && l.hash == h.hash => {}
            Some(l) => note(
                l.id,
                format!(
                    "stream {} ends at seq {} but its head says seq {} (records were removed or altered at the end)",
                    h.stream, l.seq, h.seq
                ),
                &mut broken,
            ),
            None => note(
                0,
                format!("stream {} has a head at seq {} but no records", h.stream, h.seq),
                &mut broken,
            ),
        }
    }
    let headed: std::collections::HashSet<&str> = heads.iter().map(|h| h.stream.as_str()).collect();
    if let Some(orphan) = audit_log::Entity::find()
        .filter(audit_log::Column::Stream.is_not_in(headed.iter().map(|s| s.to_string())))
        .order_by_asc(audit_log::Column::Id)
        .one(db)
        .await?
    {
        note(
            orphan.id,
            format!(
                "stream {} has no head (inserted outside the application)",
                orphan.stream
            ),
            &mut broken,
        );
    }
    Ok(Verification {
        records,
        streams,
        first_broken: broken,
    })
}
