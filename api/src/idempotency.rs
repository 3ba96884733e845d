//! Running one mutation: one transaction holding the change, its audit
//! records and its notifications; idempotency keys; auditing of refusals.
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sea_orm::{EntityTrait, Set};
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};

use salesguard_entities::model::{idempotency_key, notification, sales_order, shipping_notice};

use crate::app::AppState;
use crate::auth::Actor;
use crate::error::{AppError, ServiceError, UserError, UserErrorCode};

/// A mutation in progress.
pub struct StepRun {
    pub app: AppState,
    pub actor: Actor,
    /// Its transaction, or on PostgreSQL, for a step whose only write is
    /// its deferred statement, the pool (see [`salesguard_entities::db::StepConn`]).
    pub txn: salesguard_entities::db::StepConn,
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
    /// The document a refusal of this step is filed under, when the
    /// request did not name it and the step found it (a shipment names its
    /// notice, and the notice its order).
    pub entity: Option<(&'static str, i64)>,
    /// The step may start from what the order's last step left in this
    /// process (`step_cache`): a single-statement step, on its first try.
    pub may_use_kept: bool,
    /// The order as the step wrote it (`workflow::advance`).
    pub order_after: Option<sales_order::Model>,
    /// The step's place in a group commit (SQLite). After `txn`: a step
    /// dropped half-way queues its rollback before it lets the next run.
    member: Option<salesguard_entities::db::group_commit::Member>,
}

/// The order as a step left it (its `UPDATE … RETURNING` or `INSERT`), and
/// its shipping notice as the step read or wrote it, for the mutation's
/// payload: used only when the step committed, so the payload needs no
/// second read of what the step already had. A step clears it when it
/// begins and when it fails, so what one step left never answers for
/// another.
#[derive(Clone, Default)]
pub struct OrderOut(std::sync::Arc<std::sync::Mutex<Left>>);

#[derive(Default)]
struct Left {
    order: Option<sales_order::Model>,
    /// (order id, its notice or `None`: it has none).
    notice: Option<(i64, Option<shipping_notice::Model>)>,
}

impl OrderOut {
    fn with(&self, f: impl FnOnce(&mut Left)) {
        if let Ok(mut g) = self.0.lock() {
            f(&mut g);
        }
    }

    pub fn put(&self, order: &sales_order::Model) {
        self.with(|l| l.order = Some(order.clone()));
    }

    /// The order's shipping notice as the step leaves it (`None`: none).
    pub fn put_notice(&self, order_id: i64, notice: Option<&shipping_notice::Model>) {
        self.with(|l| l.notice = Some((order_id, notice.cloned())));
    }

    fn clear(&self) {
        self.with(|l| *l = Left::default());
    }

    /// Takes the order left there, if it is the one with this id.
    pub fn take(&self, id: i64) -> Option<sales_order::Model> {
        self.0.lock().ok()?.order.take().filter(|o| o.id == id)
    }

    /// The shipping notice of this order as the last step left it, if that
    /// step knew it: `Some(None)` when the order has none.
    pub fn notice(&self, order_id: i64) -> Option<Option<shipping_notice::Model>> {
        let g = self.0.lock().ok()?;
        g.notice
            .as_ref()
            .filter(|(id, _)| *id == order_id)
            .map(|(_, n)| n.clone())
    }
}

impl StepRun {
    fn new(
        app: &AppState,
        actor: &Actor,
        txn: salesguard_entities::db::StepConn,
        member: Option<salesguard_entities::db::group_commit::Member>,
        order_out: Option<OrderOut>,
    ) -> StepRun {
        StepRun {
            app: app.clone(),
            actor: actor.clone(),
            txn,
            now: salesguard_domain::clock::now(),
            notes: vec![],
            deferred: Default::default(),
            order_ctx: None,
            order_out,
            entity: None,
            may_use_kept: false,
            order_after: None,
            member,
        }
    }

    /// The order this step worked on, if it read one.
    fn order_id(&self) -> Option<i64> {
        self.order_ctx.as_ref().map(|c| c.order_id)
    }

    /// Whether the step started from a kept load (`step_cache`).
    fn started_from_kept(&self) -> bool {
        self.order_ctx.as_ref().is_some_and(|c| c.kept)
    }

    /// What the next step of the order would read after this one, if this
    /// step's writes are all known (`Deferred::left`).
    fn left(&self) -> Option<crate::step_cache::Loaded> {
        let ctx = self.order_ctx.as_ref()?;
        let after = self.order_after.as_ref().filter(|o| o.id == ctx.order_id)?;
        let stream = crate::audit::stream_for(crate::services::workflow::ORDER, ctx.order_id);
        self.deferred.left(&ctx.read, after, &stream)
    }

    /// Commits the step (`keep`) or rolls it back; see `db::finish_step`.
    async fn finish(self, keep: bool) -> Result<(), sea_orm::DbErr> {
        let StepRun { txn, member, .. } = self;
        match txn {
            salesguard_entities::db::StepConn::Txn(txn) => {
                salesguard_entities::db::finish_step(txn, member, keep).await
            }
            // Its one write committed or failed on its own.
            salesguard_entities::db::StepConn::Single(_) => Ok(()),
        }
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
    /// The step's only write is its deferred statement: on PostgreSQL it
    /// runs without a transaction of its own (`db::StepConn::Single`).
    pub single_statement: bool,
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

/// Stores a step's response under its idempotency key, with the step's
/// other deferred writes.
fn save_response<T: Serialize>(
    step: &mut StepRun,
    key: &str,
    operation: &str,
    hash: &str,
    value: &T,
) -> Result<(), ServiceError> {
    let json = serde_json::to_string(value).map_err(anyhow::Error::new)?;
    step.deferred.insert_row(&idempotency_key::ActiveModel {
        user_id: Set(step.actor.user_id),
        idem_key: Set(key.to_owned()),
        operation: Set(operation.to_owned()),
        request_hash: Set(hash.to_owned()),
        response_json: Set(json),
        created_at: Set(salesguard_domain::clock::now()),
    });
    Ok(())
}

/// Runs `f` in one write transaction (twice when its first try started from
/// a kept load and failed: see `step_cache`). Returns the business result (or the
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
    F: for<'r> Fn(&'r mut StepRun) -> BoxFuture<'r, Result<T, ServiceError>>,
{
    let hash = request_hash(req.operation, req.input);
    if let Some(out) = &req.order_out {
        out.clear();
    }
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
    // A step that started from a kept load and failed runs once more from
    // the database: no refusal is decided on what this process remembered.
    let strategies = &app.settings.steps;
    let single_statement = req.single_statement && strategies.single_statement;
    let mut may_use_kept = single_statement && strategies.kept_loads;
    let (failure, found) = loop {
        let single = single_statement
            .then(|| app.db.single_step_reads())
            .flatten();
        let (conn, member) = if let Some(reads) = single {
            (salesguard_entities::db::StepConn::Single(reads), None)
        } else {
            let (txn, member) = app.db.begin_step().await?;
            (salesguard_entities::db::StepConn::Txn(txn), member)
        };
        let mut step = StepRun::new(app, actor, conn, member, req.order_out.clone());
        step.may_use_kept = may_use_kept;
        let outcome = match f(&mut step).await {
            Ok(v) => match req.idempotency_key {
                Some(key) => save_response(&mut step, key, req.operation, &hash, &v),
                None => Ok(()),
            }
            .map(|()| v),
            Err(e) => Err(e),
        };
        // What the next step of the order would read: only a
        // single-statement step's writes are all known here.
        let left = match &outcome {
            Ok(_) if single_statement && strategies.kept_loads => step.left(),
            _ => None,
        };
        let outcome = match outcome {
            Ok(v) => step.flush().await.map(|()| v),
            Err(e) => Err(e),
        };
        let notes = std::mem::take(&mut step.notes);
        let touched = step.order_id().or(req.entity.map(|(_, id)| id));
        match outcome {
            Ok(value) => {
                if let Err(e) = step.finish(true).await {
                    if let Some(out) = &req.order_out {
                        out.clear();
                    }
                    if let Some(id) = touched {
                        app.step_cache.forget(id);
                    }
                    return Err(e.into());
                }
                match (left, touched) {
                    (Some(l), _) => app.step_cache.put(l),
                    (None, Some(id)) => app.step_cache.forget(id),
                    (None, None) => {}
                }
                for n in notes {
                    app.hub.publish(n);
                }
                return Ok(Ok(value));
            }
            Err(e) => {
                if let Some(out) = &req.order_out {
                    out.clear();
                }
                if let Some(id) = touched {
                    app.step_cache.forget(id);
                }
                let again = step.started_from_kept() && matches!(e, ServiceError::User(_));
                let found = step.entity;
                if let Err(err) = step.finish(false).await {
                    tracing::warn!(error = %err, "rolling back a failed step");
                }
                if again {
                    may_use_kept = false;
                    continue;
                }
                break (e, found);
            }
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
                req.entity.or(found),
                &e.message,
            )
            .await;
            Ok(Err(e))
        }
        ServiceError::App(e) => Err(e),
    }
}
