//! The transactional outbox: a job requested in the business transaction is
//! written as a row there (so it exists exactly when the change committed)
//! and relayed to the job queue by the worker (`salesguard-worker`).
use std::sync::OnceLock;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

pub use salesguard_entities::model::outbox::RECOMPUTE_SIGNALS;

/// An outbox row's columns; a row with the same `dedup_key` already there
/// wins (`ON_CONFLICT`: the request is then a no-op).
const COLUMNS: [&str; 4] = ["kind", "dedup_key", "payload", "created_at"];
const ON_CONFLICT: &str = " ON CONFLICT (dedup_key) DO NOTHING";

fn values(kind: &str, dedup_key: &str, payload: &serde_json::Value) -> [Value; 4] {
    [
        kind.into(),
        dedup_key.into(),
        payload.to_string().into(),
        salesguard_domain::clock::now().into(),
    ]
}

/// Writes an outbox row with a step's deferred writes (`deferred.rs`), at
/// the end of the step; as [`enqueue`].
pub fn defer(
    d: &mut crate::deferred::Deferred,
    kind: &str,
    dedup_key: &str,
    payload: serde_json::Value,
) {
    let cols = COLUMNS
        .iter()
        .map(|c| c.to_string())
        .zip(values(kind, dedup_key, &payload))
        .collect();
    d.insert("outbox", cols, ON_CONFLICT);
}

/// Writes an outbox row in the caller's transaction.
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    kind: &str,
    dedup_key: &str,
    payload: serde_json::Value,
) -> Result<(), DbErr> {
    static SQL: [OnceLock<String>; 2] = [const { OnceLock::new() }; 2];
    let backend = db.get_database_backend();
    let pg = backend == DbBackend::Postgres;
    let sql = SQL[usize::from(pg)].get_or_init(|| {
        let marks: Vec<String> = (1..=COLUMNS.len())
            .map(|i| if pg { format!("${i}") } else { "?".to_owned() })
            .collect();
        format!(
            "INSERT INTO outbox ({}) VALUES ({}){ON_CONFLICT}",
            COLUMNS.join(", "),
            marks.join(", ")
        )
    });
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql.as_str(),
        values(kind, dedup_key, &payload),
    ))
    .await?;
    Ok(())
}
