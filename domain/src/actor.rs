//! The signed-in user a request acts for: their position and the regions
//! they see.
use std::collections::HashSet;
use std::sync::Arc;

use crate::capability::Capability;
use crate::refusal::Refusal;
use crate::Position;

#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: i64,
    pub username: String,
    pub position: Position,
    /// Sees every region (management, finance, warehouse, admin, or an
    /// analyst given a company-wide scope).
    pub global: bool,
    /// Regions assigned, with all their sub-areas.
    pub regions: Arc<HashSet<i64>>,
}

impl Actor {
    pub fn sees_region(&self, region_id: i64) -> bool {
        self.global || self.regions.contains(&region_id)
    }

    /// `None` when the actor sees everything; otherwise the visible regions.
    pub fn region_filter(&self) -> Option<Vec<i64>> {
        if self.global {
            None
        } else {
            let mut v: Vec<i64> = self.regions.iter().copied().collect();
            v.sort_unstable();
            Some(v)
        }
    }

    /// Refuses (FORBIDDEN) unless the actor's position holds `capability`.
    pub fn require(&self, capability: Capability) -> Result<(), Refusal> {
        if self.position.may(capability) {
            Ok(())
        } else {
            Err(Refusal::forbidden(self.position, capability))
        }
    }
}
