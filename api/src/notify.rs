//! Copies to every party (SPEC S5): each step notifies the people involved in
//! that document, and management when a review completes. Notifications are
//! stored in the step's transaction and pushed to subscribers after commit.
use std::collections::BTreeSet;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};
use tokio::sync::broadcast;

use salesguard_entities::model::{
    contract, notification, region, sales_order, shipment, shipping_notice, user, user_region,
};
use salesguard_entities::rules::Position;

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
/// assistant who drafted and submitted the contract, the approver, finance
/// who confirmed payment, the assistant who issued the notice, the keeper
/// who shipped.
pub async fn order_parties<C: ConnectionTrait>(
    db: &C,
    order: &sales_order::Model,
) -> Result<BTreeSet<i64>, DbErr> {
    let mut out = BTreeSet::from([order.salesperson_id]);
    if let Some(c) = contract::Entity::find()
        .filter(contract::Column::OrderId.eq(order.id))
        .one(db)
        .await?
    {
        out.insert(c.drafted_by);
        out.extend(c.submitted_by);
        out.extend(c.decided_by);
        out.extend(c.signed_by);
    }
    out.extend(order.payment_confirmed_by);
    if let Some(n) = shipping_notice::Entity::find()
        .filter(shipping_notice::Column::OrderId.eq(order.id))
        .one(db)
        .await?
    {
        out.insert(n.issued_by);
    }
    if let Some(s) = shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(order.id))
        .one(db)
        .await?
    {
        out.insert(s.shipped_by);
    }
    Ok(out)
}

/// Active users of a position responsible for a region: assigned to it or to
/// one of its parent regions, or with a company-wide scope.
pub async fn responsible_for<C: ConnectionTrait>(
    db: &C,
    position: Position,
    region_id: i64,
) -> Result<BTreeSet<i64>, DbErr> {
    let regions = region::Entity::find().all(db).await?;
    let chain = crate::auth::region_with_ancestors(&regions, region_id);
    let candidates = user::Entity::find()
        .filter(user::Column::Position.eq(position.as_str()))
        .filter(user::Column::Active.eq(true))
        .all(db)
        .await?;
    let assigned: BTreeSet<i64> = user_region::Entity::find()
        .filter(user_region::Column::RegionId.is_in(chain))
        .all(db)
        .await?
        .into_iter()
        .map(|ur| ur.user_id)
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|u| u.global_scope || assigned.contains(&u.id))
        .map(|u| u.id)
        .collect())
}

/// Inserts one notification per recipient (never the actor themself) and
/// returns them, to be published after commit.
pub async fn send<C: ConnectionTrait>(
    db: &C,
    recipients: BTreeSet<i64>,
    actor_id: i64,
    order_id: Option<i64>,
    kind: &str,
    message: &str,
) -> Result<Vec<notification::Model>, DbErr> {
    let now = crate::app::now();
    let mut out = vec![];
    for uid in recipients.into_iter().filter(|u| *u != actor_id) {
        let m = notification::ActiveModel {
            user_id: Set(uid),
            order_id: Set(order_id),
            kind: Set(kind.to_owned()),
            message: Set(message.to_owned()),
            created_at: Set(now),
            read_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;
        out.push(m);
    }
    Ok(out)
}
