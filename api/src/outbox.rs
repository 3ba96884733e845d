//! The transactional outbox: a job requested in the business transaction is
//! written as a row there (so it exists exactly when the change committed)
//! and relayed to the job queue by the worker (`salesguard-worker`).
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The outbox kind of the risk-signal recomputation.
pub const RECOMPUTE_SIGNALS: &str = "recompute_signals";

/// Writes an outbox row with a step's deferred writes (`deferred.rs`), at
/// the end of the step; as [`enqueue`].
pub fn defer(
    d: &mut crate::deferred::Deferred,
    kind: &str,
    dedup_key: &str,
    payload: serde_json::Value,
) {
    d.insert(
        "outbox",
        vec![
            ("kind".into(), kind.into()),
            ("dedup_key".into(), dedup_key.into()),
            ("payload".into(), payload.to_string().into()),
            ("created_at".into(), crate::app::now().into()),
        ],
        " ON CONFLICT (dedup_key) DO NOTHING",
    );
}

/// Writes an outbox row; a row with the same `dedup_key` already there wins
/// (the request is then a no-op).
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    kind: &str,
    dedup_key: &str,
    payload: serde_json::Value,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO outbox (kind, dedup_key, payload, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (dedup_key) DO NOTHING"
        }
        _ => {
            "INSERT INTO outbox (kind, dedup_key, payload, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (dedup_key) DO NOTHING"
        }
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [
            kind.into(),
            dedup_key.into(),
            payload.to_string().into(),
            crate::app::now().into(),
        ],
    ))
    .await?;
    Ok(())
}
