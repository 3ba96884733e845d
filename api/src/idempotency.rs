//! Running one mutation: one transaction holding the change, its audit
//! records and its notifications; idempotency keys; auditing of refusals.
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sea_orm::{ActiveModelTrait, DatabaseTransaction, EntityTrait, Set};
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};

use salesguard_entities::model::{idempotency_key, notification, sales_order};

use crate::app::AppState;
use crate::auth::Actor;
use crate::error::{AppError, ServiceError, UserError, UserErrorCode};

/// A mutation in progress.
pub struct StepRun {
    pub app: AppState,
    pub actor: Actor,
    pub txn: DatabaseTransaction,
    pub now: DateTime<Utc>,
    /// Notifications written in this transaction, pushed after commit.
    pub notes: Vec<notification::Model>,
    /// Audit records and notifications written at the end of the step.
    pub deferred: crate::deferred::Deferred,
    /// What the step read with its order (its parties, the people
    /// responsible for its region), for the step's notifications.
    pub order_ctx: Option<crate::services::workflow::OrderCtx>,
    /// Where the step leaves the order as it wrote it (see [`OrderOut`]).
    pub order_out: Option<OrderOut>,
    /// The step's place in a group commit (SQLite). After `txn`: a step
    /// dropped half-way queues its rollback before it lets the next run.
    member: Option<crate::group_commit::Member>,
}

/// The order as a step left it (its `UPDATE … RETURNING` or `INSERT`), for
/// the mutation's payload: read only when the step succeeded, that is after
/// its commit, so the payload needs no second read of the row.
#[derive(Clone, Default)]
pub struct OrderOut(pub std::sync::Arc<std::sync::Mutex<Option<sales_order::Model>>>);

impl OrderOut {
    pub fn put(&self, order: &sales_order::Model) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(order.clone());
        }
    }

    /// Takes the order left there, if it is the one with this id.
    pub fn take(&self, id: i64) -> Option<sales_order::Model> {
        self.0.lock().ok()?.take().filter(|o| o.id == id)
    }
}

impl StepRun {
    fn new(
        app: &AppState,
        actor: &Actor,
        txn: DatabaseTransaction,
        member: Option<crate::group_commit::Member>,
        order_out: Option<OrderOut>,
    ) -> StepRun {
        StepRun {
            app: app.clone(),
            actor: actor.clone(),
            txn,
            now: crate::app::now(),
            notes: vec![],
            deferred: Default::default(),
            order_ctx: None,
            order_out,
            member,
        }
    }

    /// Commits the step (`keep`) or rolls it back; see `db::finish_step`.
    async fn finish(self, keep: bool) -> Result<(), sea_orm::DbErr> {
        let StepRun { txn, member, .. } = self;
        crate::db::finish_step(txn, member, keep).await
    }
}

/// What a caller asks to run.
pub struct Request<'a, I: Serialize> {
    pub operation: &'static str,
    pub input: &'a I,
    pub idempotency_key: Option<&'a str>,
    /// The document the request is about, for the audit record of a refusal.
    pub entity: Option<(&'static str, i64)>,
    /// Where a workflow step leaves the order it wrote.
    pub order_out: Option<OrderOut>,
}

fn request_hash<I: Serialize>(operation: &str, input: &I) -> String {
    let body = serde_json::to_string(input).unwrap_or_default();
    hex::encode(Sha256::digest(format!("{operation}\n{body}").as_bytes()))
}

async fn stored<T: DeserializeOwned>(
    app: &AppState,
    actor: &Actor,
    key: &str,
    operation: &str,
    hash: &str,
) -> Result<Option<Result<T, UserError>>, AppError> {
    // Committed responses only (on SQLite, the write connection may be in
    // an open group).
    let found = idempotency_key::Entity::find_by_id((actor.user_id, key.to_owned()))
        .one(&app.db.read)
        .await?;
    let Some(row) = found else { return Ok(None) };
    if row.operation != operation || row.request_hash != hash {
        return Ok(Some(Err(UserError::new(
            UserErrorCode::IdempotencyKeyReused,
            "this idempotency key was already used with a different request",
        )
        .at(&["idempotencyKey"]))));
    }
    let v: T = serde_json::from_str(&row.response_json)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("stored response")))?;
    Ok(Some(Ok(v)))
}

/// Stores a step's response under its idempotency key, in the step's
/// transaction.
async fn save_response<T: Serialize>(
    txn: &DatabaseTransaction,
    actor: &Actor,
    key: &str,
    operation: &str,
    hash: &str,
    value: &T,
) -> Result<(), ServiceError> {
    let json = serde_json::to_string(value).map_err(anyhow::Error::new)?;
    idempotency_key::ActiveModel {
        user_id: Set(actor.user_id),
        idem_key: Set(key.to_owned()),
        operation: Set(operation.to_owned()),
        request_hash: Set(hash.to_owned()),
        response_json: Set(json),
        created_at: Set(crate::app::now()),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Runs `f` in one write transaction. Returns the business result (or the
/// expected failure), or an unexpected error.
pub async fn run<I, T, F>(
    app: &AppState,
    actor: &Actor,
    req: Request<'_, I>,
    f: F,
) -> Result<Result<T, UserError>, AppError>
where
    I: Serialize,
    T: Serialize + DeserializeOwned + Send,
    F: for<'r> FnOnce(&'r mut StepRun) -> BoxFuture<'r, Result<T, ServiceError>>,
{
    let hash = request_hash(req.operation, req.input);
    if let Some(key) = req.idempotency_key {
        if key.is_empty() || key.len() > 200 {
            return Ok(Err(UserError::new(
                UserErrorCode::BadUserInput,
                "idempotency key must have 1 to 200 characters",
            )
            .at(&["idempotencyKey"])));
        }
        if let Some(prev) = stored(app, actor, key, req.operation, &hash).await? {
            return Ok(prev);
        }
    }
    let (txn, member) = app.db.begin_step().await?;
    let mut step = StepRun::new(app, actor, txn, member, req.order_out.clone());
    let mut outcome = match f(&mut step).await {
        Ok(v) => step.flush().await.map(|()| v),
        Err(e) => Err(e),
    };
    if let (Ok(value), Some(key)) = (&outcome, req.idempotency_key) {
        if let Err(e) = save_response(&step.txn, actor, key, req.operation, &hash, value).await {
            outcome = Err(e);
        }
    }
    let notes = std::mem::take(&mut step.notes);
    let failure = match outcome {
        Ok(value) => {
            step.finish(true).await?;
            for n in notes {
                app.hub.publish(n);
            }
            return Ok(Ok(value));
        }
        Err(e) => {
            if let Err(err) = step.finish(false).await {
                tracing::warn!(error = %err, "rolling back a failed step");
            }
            e
        }
    };
    // The change was rolled back. A concurrent request with the same key may
    // have done the work: then this one returns that result.
    if let Some(key) = req.idempotency_key {
        if let Some(prev) = stored(app, actor, key, req.operation, &hash).await? {
            return Ok(prev);
        }
    }
    match failure {
        ServiceError::User(e) => {
            crate::audit::record_refusal(
                &app.db,
                Some(actor),
                req.operation,
                e.code.as_str(),
                req.entity,
                &e.message,
            )
            .await;
            Ok(Err(e))
        }
        ServiceError::App(e) => Err(e),
    }
}
