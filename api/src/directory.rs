//! Who is responsible for which region: active users, their positions and
//! regions, and the region tree, cached per `directory_version`.
//!
//! Triggers move `directory_version` on with every change of users'
//! positions, activity or scope, of their regions and of the region tree
//! (migration `lean_steps`), so no writer can forget it. A workflow step
//! reads the version with its order (one statement) and takes the people to
//! copy in from the cache when it holds that version or a newer one; only a
//! step that sees a newer version than the cache reads the directory again.
//! Several API processes each keep their own cache; the version read in the
//! database keeps them right.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Statement};

use salesguard_domain::Position;
use salesguard_entities::model::{region, user, user_region};

/// One active user as the directory knows them.
struct Member {
    id: i64,
    position: Position,
    global: bool,
    regions: Vec<i64>,
}

/// The directory at one version.
pub struct Directory {
    pub version: i64,
    members: Vec<Member>,
    parents: HashMap<i64, Option<i64>>,
}

impl Directory {
    /// Active users in `positions` responsible for `region_id`: company-wide
    /// users, and users assigned to the region or one of its ancestors.
    pub fn responsible<'a>(
        &'a self,
        region_id: i64,
        positions: &'a [Position],
    ) -> impl Iterator<Item = i64> + 'a {
        let chain = salesguard_domain::regions::chain_up(&self.parents, region_id);
        self.members
            .iter()
            .filter(move |m| positions.contains(&m.position))
            .filter(move |m| m.global || m.regions.iter().any(|r| chain.contains(r)))
            .map(|m| m.id)
    }
}

#[derive(Default)]
pub struct DirectoryCache {
    inner: RwLock<Option<Arc<Directory>>>,
}

/// The directory's version now.
pub async fn version<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM directory_version WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("directory_version".into()))?;
    row.try_get("", "version")
}

impl DirectoryCache {
    /// The directory at `version` or newer (a step that read an older
    /// version loses nothing by newer data).
    pub async fn at<C: ConnectionTrait>(
        &self,
        db: &C,
        version: i64,
    ) -> Result<Arc<Directory>, DbErr> {
        if let Ok(guard) = self.inner.read() {
            if let Some(d) = guard.as_ref().filter(|d| d.version >= version) {
                return Ok(d.clone());
            }
        }
        let d = Arc::new(load(db).await?);
        if let Ok(mut guard) = self.inner.write() {
            if guard.as_ref().is_none_or(|old| old.version < d.version) {
                *guard = Some(d.clone());
            }
        }
        Ok(d)
    }
}

/// Reads the directory. The version is read first, so the data is at least
/// as new as the version it is filed under.
async fn load<C: ConnectionTrait>(db: &C) -> Result<Directory, DbErr> {
    let version = version(db).await?;
    let users = user::Entity::find()
        .filter(user::Column::Active.eq(true))
        .all(db)
        .await?;
    let mut assigned: HashMap<i64, Vec<i64>> = HashMap::new();
    for ur in user_region::Entity::find().all(db).await? {
        assigned.entry(ur.user_id).or_default().push(ur.region_id);
    }
    let parents = region::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.parent_id))
        .collect();
    let members = users
        .into_iter()
        .filter_map(|u| {
            Some(Member {
                position: u.position.parse().ok()?,
                regions: assigned.remove(&u.id).unwrap_or_default(),
                id: u.id,
                global: u.global_scope,
            })
        })
        .collect();
    Ok(Directory {
        version,
        members,
        parents,
    })
}
