//! The business records the ranking and the check-points read: the agents,
//! open receivables, orders waiting for approval and unused shipment
//! exceptions of the manager's regions, with the orders they refer to.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use salesguard_entities::model::{agent, receivable, sales_order, shipment_exception};

use super::Manager;

pub(super) struct Books {
    pub(super) agents: Vec<agent::Model>,
    /// Open receivables.
    pub(super) receivables: Vec<receivable::Model>,
    /// Orders pending approval.
    pub(super) pending: Vec<sales_order::Model>,
    /// Shipment exceptions not used and not expired (every region).
    pub(super) exceptions: Vec<shipment_exception::Model>,
    /// The orders of the receivables and the exceptions, by id.
    pub(super) orders: HashMap<i64, sales_order::Model>,
}

impl Books {
    pub(super) async fn load(
        db: &DatabaseConnection,
        manager: &Manager,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Books> {
        let agent_q = agent::Entity::find();
        let agents: Vec<agent::Model> = match manager.scope() {
            Some(ids) => agent_q.filter(agent::Column::RegionId.is_in(ids.to_vec())),
            None => agent_q,
        }
        .all(db)
        .await?;
        let rec_q = receivable::Entity::find().filter(receivable::Column::OutstandingFen.gt(0));
        let receivables: Vec<receivable::Model> = match manager.scope() {
            Some(ids) => rec_q.filter(receivable::Column::RegionId.is_in(ids.to_vec())),
            None => rec_q,
        }
        .all(db)
        .await?;
        let pending_q =
            sales_order::Entity::find().filter(sales_order::Column::Status.eq("PENDING_APPROVAL"));
        let pending: Vec<sales_order::Model> = match manager.scope() {
            Some(ids) => pending_q.filter(sales_order::Column::RegionId.is_in(ids.to_vec())),
            None => pending_q,
        }
        .all(db)
        .await?;
        let exceptions: Vec<shipment_exception::Model> = shipment_exception::Entity::find()
            .filter(shipment_exception::Column::UsedAt.is_null())
            .filter(shipment_exception::Column::ExpiresAt.gt(now))
            .all(db)
            .await?;
        let order_ids: HashSet<i64> = receivables
            .iter()
            .map(|r| r.order_id)
            .chain(exceptions.iter().map(|e| e.order_id))
            .collect();
        let orders: HashMap<i64, sales_order::Model> = if order_ids.is_empty() {
            HashMap::new()
        } else {
            sales_order::Entity::find()
                .filter(sales_order::Column::Id.is_in(order_ids))
                .all(db)
                .await?
                .into_iter()
                .map(|o| (o.id, o))
                .collect()
        };
        Ok(Books {
            agents,
            receivables,
            pending,
            exceptions,
            orders,
        })
    }
}

/// What people call the agents and regions.
pub(super) struct Labels<'a> {
    agents: HashMap<i64, &'a agent::Model>,
    regions: &'a HashMap<i64, (String, String)>,
}

impl<'a> Labels<'a> {
    pub(super) fn new(books: &'a Books, regions: &'a HashMap<i64, (String, String)>) -> Self {
        Labels {
            agents: books.agents.iter().map(|a| (a.id, a)).collect(),
            regions,
        }
    }

    /// "code name" of an agent of the manager's regions ("" for others).
    pub(super) fn agent(&self, id: i64) -> String {
        self.agents
            .get(&id)
            .map(|a| format!("{} {}", a.code, a.name))
            .unwrap_or_default()
    }

    /// "name (code)" of a region.
    pub(super) fn region(&self, id: i64) -> String {
        self.regions
            .get(&id)
            .map(|(c, n)| format!("{n} ({c})"))
            .unwrap_or_default()
    }
}
