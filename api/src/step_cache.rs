//! What the last step of an order left, kept by this process, so that the
//! next step of that order can skip its read (`workflow::load_for_step`).
//!
//! A step reads its order with the order's contract, shipping notice and
//! invoice, who shipped it, the head of its audit stream and the version of
//! the directory. When a single-statement step (one the domain decides, `workflow::Written`:
//! all its writes are deferred, so this process knows every one of them)
//! commits, what it read, with its own writes applied, is what the next step
//! would read. That is kept here, and the next single-statement step of the
//! order starts from it instead of from the database.
//!
//! Nothing kept here can make a step do the wrong thing; at worst it costs a
//! second try:
//! - A step that starts from a kept load writes under the same guards as one
//!   that read the database: the order at the version it started from, the
//!   audit stream at the head it started from (every change of the order or
//!   of its documents moves the order's version; only the order's steps
//!   write them), and the directory at most at the version whose copies it
//!   sends (see `deferred::Deferred::guard_directory`). If another step or
//!   another API process moved any of them, the write misses.
//! - A step that started from a kept load and failed for any reason a user
//!   can be told (a guard that missed, a state or an amount that does not
//!   fit) is run again at once from the database, with the load forgotten:
//!   no refusal is ever decided on what this process remembered.
//! - So two steps of one order racing from the same kept load behave as two
//!   steps that queue on the order's lock (`FOR UPDATE`): the one whose
//!   write missed runs again on the order as the other left it, and is
//!   refused there if the other took its place (a second approval: CONFLICT).
//! - A step that wrote one of the order's documents in a way not followed
//!   here (an insert: a new contract, notice, invoice or shipment), any step
//!   outside the single-statement list, and any step that failed, forget
//!   the order's load.
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, TryIntoModel, Value};

use salesguard_entities::model::{contract, invoice, sales_order, shipping_notice};

/// Orders kept at most; when full, the cache is emptied and fills again with
/// the orders being worked on.
pub const CAPACITY: usize = 8192;

/// An order with what a step reads with it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub order: sales_order::Model,
    pub contract: Option<contract::Model>,
    pub notice: Option<shipping_notice::Model>,
    pub invoice: Option<invoice::Model>,
    /// Who shipped it (its shipment's `shipped_by`).
    pub shipped_by: Option<i64>,
    /// The head of its audit stream (sequence number, hash); `None`: the
    /// stream has no record yet.
    pub head: Option<(i64, String)>,
    /// The directory's version read with it.
    pub directory_version: i64,
}

/// A table of one of the order's documents, as a step's deferred writes
/// name it.
pub enum Doc {
    Contract,
    Notice,
    Invoice,
    /// A document `Loaded` holds only part of (who shipped the order).
    Shipment,
}

impl Doc {
    /// The document kept in `table`, if it is one.
    pub fn of(table: &str) -> Option<Doc> {
        use salesguard_entities::model::shipment;
        use sea_orm::EntityName;
        if table == contract::Entity.table_name() {
            Some(Doc::Contract)
        } else if table == shipping_notice::Entity.table_name() {
            Some(Doc::Notice)
        } else if table == invoice::Entity.table_name() {
            Some(Doc::Invoice)
        } else if table == shipment::Entity.table_name() {
            Some(Doc::Shipment)
        } else {
            None
        }
    }
}

impl Loaded {
    /// The same load after an update of `cols` of the document `doc` with
    /// this id; `None` when it does not hold that row.
    pub fn with_update(mut self, doc: Doc, id: i64, cols: &[(String, Value)]) -> Option<Loaded> {
        match doc {
            Doc::Contract => {
                let c = self.contract.as_ref().filter(|c| c.id == id)?;
                self.contract = Some(updated::<contract::Entity>(c, cols)?);
            }
            Doc::Notice => {
                let n = self.notice.as_ref().filter(|n| n.id == id)?;
                self.notice = Some(updated::<shipping_notice::Entity>(n, cols)?);
            }
            Doc::Invoice => {
                let i = self.invoice.as_ref().filter(|i| i.id == id)?;
                self.invoice = Some(updated::<invoice::Entity>(i, cols)?);
            }
            Doc::Shipment => return None,
        }
        Some(self)
    }
}

/// A row with the columns `cols` (by name) set; `None` when a name or a
/// value does not fit the entity.
fn updated<E>(row: &E::Model, cols: &[(String, Value)]) -> Option<E::Model>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    let mut am = row.clone().into_active_model();
    for (name, v) in cols {
        let col = E::Column::from_str(name).ok()?;
        am.try_set(col, v.clone()).ok()?;
    }
    am.try_into_model().ok()
}

/// The loads the last steps left, by order id.
pub struct StepCache {
    map: Mutex<HashMap<i64, Arc<Loaded>>>,
    /// Orders kept at most (0: none; the chain benchmark's `--no-kept`).
    capacity: AtomicUsize,
}

impl Default for StepCache {
    fn default() -> StepCache {
        StepCache {
            map: Mutex::default(),
            capacity: AtomicUsize::new(CAPACITY),
        }
    }
}

impl StepCache {
    pub fn get(&self, order_id: i64) -> Option<Arc<Loaded>> {
        self.map.lock().ok()?.get(&order_id).cloned()
    }

    /// Keeps at most `n` orders from now on (0: none, every step reads).
    pub fn set_capacity(&self, n: usize) {
        self.capacity.store(n, Ordering::Relaxed);
        self.clear();
    }

    /// Keeps what a step left, unless a newer version of the order is kept
    /// already (a step that committed later answered first).
    pub fn put(&self, loaded: Loaded) {
        let Ok(mut map) = self.map.lock() else { return };
        let id = loaded.order.id;
        if map
            .get(&id)
            .is_some_and(|k| k.order.version >= loaded.order.version)
        {
            return;
        }
        let capacity = self.capacity.load(Ordering::Relaxed);
        if capacity == 0 {
            return;
        }
        if map.len() >= capacity && !map.contains_key(&id) {
            map.clear();
        }
        map.insert(id, Arc::new(loaded));
    }

    pub fn forget(&self, order_id: i64) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&order_id);
        }
    }

    /// Forgets every order.
    pub fn clear(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn order(id: i64, version: i64) -> sales_order::Model {
        sales_order::Model {
            id,
            number: format!("SC20261130DD{id:04}"),
            agent_id: 1,
            region_id: 1,
            salesperson_id: 1,
            status: "FILED".into(),
            delivery_address: "addr".into(),
            payment_terms_days: 30,
            total_fen: 100,
            paid_fen: 0,
            fully_paid_at: None,
            payment_confirmed_by: None,
            archived_at: None,
            shipped_on: None,
            version,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn loaded(id: i64, version: i64) -> Loaded {
        Loaded {
            order: order(id, version),
            contract: None,
            notice: None,
            invoice: None,
            shipped_by: None,
            head: None,
            directory_version: 1,
        }
    }

    #[test]
    fn an_older_version_does_not_replace_a_newer_one() {
        let cache = StepCache::default();
        cache.put(loaded(7, 3));
        cache.put(loaded(7, 2));
        assert_eq!(cache.get(7).map(|l| l.order.version), Some(3));
        cache.put(loaded(7, 4));
        assert_eq!(cache.get(7).map(|l| l.order.version), Some(4));
        cache.forget(7);
        assert!(cache.get(7).is_none());
    }

    #[test]
    fn a_full_cache_is_emptied_before_it_takes_a_new_order() {
        let cache = StepCache::default();
        for id in 0..CAPACITY as i64 {
            cache.put(loaded(id, 1));
        }
        assert_eq!(cache.len(), CAPACITY);
        // A kept order moves on in place.
        cache.put(loaded(5, 2));
        assert_eq!(cache.len(), CAPACITY);
        cache.put(loaded(CAPACITY as i64, 1));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(CAPACITY as i64).is_some());
        // None at all.
        cache.set_capacity(0);
        cache.put(loaded(1, 1));
        assert!(cache.is_empty());
    }

    #[test]
    fn an_update_applies_to_the_row_it_names_only() {
        let mut l = loaded(1, 1);
        l.invoice = Some(invoice::Model {
            id: 9,
            order_id: 1,
            invoice_number: "INV-1".into(),
            amount_fen: 100,
            issued_by: 4,
            issued_at: Utc::now(),
            mailed_by: None,
            mailed_at: None,
            mail_carrier: None,
            mail_tracking: None,
            expected_arrival_on: None,
            receipt_confirmed_by: None,
            receipt_confirmed_at: None,
        });
        let cols = vec![
            ("mailed_by".to_owned(), Value::from(Some(5_i64))),
            (
                "mail_carrier".to_owned(),
                Value::from(Some("SF".to_owned())),
            ),
        ];
        let after = l
            .clone()
            .with_update(Doc::Invoice, 9, &cols)
            .and_then(|l| l.invoice)
            .expect("the invoice updated");
        assert_eq!(after.mailed_by, Some(5));
        assert_eq!(after.mail_carrier.as_deref(), Some("SF"));
        assert_eq!(after.invoice_number, "INV-1");
        // Another invoice's row, a column it does not have, a document it
        // does not hold: not followed.
        assert!(l.clone().with_update(Doc::Invoice, 10, &cols).is_none());
        let bad = vec![("no_such_column".to_owned(), Value::from(1_i64))];
        assert!(l.clone().with_update(Doc::Invoice, 9, &bad).is_none());
        assert!(l.clone().with_update(Doc::Contract, 9, &cols).is_none());
        assert!(l.with_update(Doc::Shipment, 9, &cols).is_none());
    }
}
