//! The managers who get a report, with the regions they see.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::Ctx;
use salesguard_domain::Position;
use salesguard_entities::model::{region, user, user_region};

/// A manager who gets a report, with the regions they see.
#[derive(Debug, Clone)]
pub struct Manager {
    pub user: user::Model,
    /// Sees every region.
    pub all_regions: bool,
    /// The regions assigned (not their sub-areas), for the report's title.
    pub assigned: Vec<region::Model>,
    /// Every region seen, with the sub-areas (empty when `all_regions`).
    pub visible: Vec<i64>,
}

impl Manager {
    pub(super) fn sees(&self, region_id: Option<i64>) -> bool {
        match region_id {
            Some(r) => self.all_regions || self.visible.contains(&r),
            // Company-wide signals: company-wide readers only.
            None => self.all_regions,
        }
    }
    pub(super) fn scope(&self) -> Option<&[i64]> {
        (!self.all_regions).then_some(self.visible.as_slice())
    }
}

/// The active managers (management and supervisors) who see at least one
/// region, by id.
pub async fn managers(app: &Ctx) -> anyhow::Result<Vec<Manager>> {
    let db = &app.db.read;
    let users = user::Entity::find()
        .filter(user::Column::Active.eq(true))
        .filter(
            user::Column::Position
                .is_in([Position::Supervisor.as_str(), Position::Management.as_str()]),
        )
        .order_by_asc(user::Column::Id)
        .all(db)
        .await?;
    let regions = region::Entity::find().all(db).await?;
    let links = user_region::Entity::find()
        .filter(user_region::Column::UserId.is_in(users.iter().map(|u| u.id)))
        .all(db)
        .await?;
    let mut out = vec![];
    for u in users {
        let roots: Vec<i64> = links
            .iter()
            .filter(|l| l.user_id == u.id)
            .map(|l| l.region_id)
            .collect();
        let all_regions = u.global_scope;
        let mut visible: Vec<i64> = if all_regions {
            vec![]
        } else {
            salesguard_domain::regions::expand(&regions, &roots)
                .into_iter()
                .collect()
        };
        visible.sort_unstable();
        if !all_regions && visible.is_empty() {
            tracing::info!(user = %u.username, "manager sees no region: no weekly report");
            continue;
        }
        let mut assigned: Vec<region::Model> = regions
            .iter()
            .filter(|r| roots.contains(&r.id))
            .cloned()
            .collect();
        assigned.sort_by(|a, b| a.code.cmp(&b.code));
        out.push(Manager {
            user: u,
            all_regions,
            assigned,
            visible,
        });
    }
    Ok(out)
}
