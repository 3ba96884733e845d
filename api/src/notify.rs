//! Copies to every party (SPEC S5): each step notifies the people involved in
//! that document, and management when a review completes. Notifications are
//! stored in the step's transaction and pushed to subscribers after commit.
use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use tokio::sync::broadcast;

use salesguard_domain::Position;
use salesguard_entities::model::{notification, sales_order};

/// In-process fan-out of committed notifications to GraphQL subscriptions.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<notification::Model>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        let (tx, _) = broadcast::channel(1024);
        Hub { tx }
    }
    pub fn publish(&self, n: notification::Model) {
        // No subscriber is not an error.
        let _ = self.tx.send(n);
    }
    pub fn subscribe(&self) -> broadcast::Receiver<notification::Model> {
        self.tx.subscribe()
    }
}

/// The people who have acted on an order so far: its salesperson, the
/// assistant who drafted and submitted the contract, the approver, the
/// signer, finance who confirmed payment, the assistant who issued the
/// notice, the keeper who shipped. One statement.
pub async fn order_parties<C: ConnectionTrait>(
    db: &C,
    order: &sales_order::Model,
) -> Result<BTreeSet<i64>, DbErr> {
    let backend = db.get_database_backend();
    let p = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let sql = format!(
        "SELECT c.drafted_by, c.submitted_by, c.decided_by, c.signed_by, \
           (SELECT n.issued_by FROM shipping_notices n WHERE n.order_id = {}) AS issued_by, \
           (SELECT s.shipped_by FROM shipments s WHERE s.order_id = {}) AS shipped_by \
         FROM (SELECT 1 AS one) AS one LEFT JOIN contracts c ON c.order_id = {}",
        p(1),
        p(2),
        p(3)
    );
    let mut out = BTreeSet::from([order.salesperson_id]);
    out.extend(order.payment_confirmed_by);
    if let Some(row) = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [order.id.into(), order.id.into(), order.id.into()],
        ))
        .await?
    {
        for col in [
            "drafted_by",
            "submitted_by",
            "decided_by",
            "signed_by",
            "issued_by",
            "shipped_by",
        ] {
            out.extend(row.try_get::<Option<i64>>("", col)?);
        }
    }
    Ok(out)
}

/// Active users in one of `positions` responsible for a region: assigned to
/// it or to one of its parent regions, or with a company-wide scope. From
/// the directory cache, checked against the database's directory version
/// (one statement; see `directory.rs`).
pub async fn responsible_for<C: ConnectionTrait>(
    db: &C,
    app: &crate::app::AppState,
    positions: &[Position],
    region_id: i64,
) -> Result<BTreeSet<i64>, DbErr> {
    if positions.is_empty() {
        return Ok(BTreeSet::new());
    }
    let version = crate::directory::version(db).await?;
    let directory = app.directory.at(db, version).await?;
    Ok(directory.responsible(region_id, positions).collect())
}
