//! Authentication (argon2 password hashes, bearer tokens with expiry) and the
//! acting user with the regions they may see.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use salesguard_entities::model::{region, session, user, user_region};
use salesguard_entities::rules::Position;

use crate::error::AppError;

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash computed once, verified against when the username is unknown, so
/// that a login with an unknown name takes as long as one with a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

pub fn validate_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        return Err("password must have at least 10 characters".into());
    }
    if password.len() > 256 {
        return Err("password must have at most 256 bytes".into());
    }
    Ok(())
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a session and returns the bearer token (shown once; only its hash
/// is stored).
pub async fn create_session<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    ttl_minutes: i64,
) -> Result<(String, DateTime<Utc>), AppError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = crate::app::now();
    let expires_at = now + Duration::minutes(ttl_minutes);
    session::ActiveModel {
        token_hash: Set(token_hash(&token)),
        user_id: Set(user_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((token, expires_at))
}

/// The authenticated user acting in a request.
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
}

/// Expands region ids to include every descendant sub-area.
pub fn expand_regions(all: &[region::Model], roots: &[i64]) -> HashSet<i64> {
    let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in all {
        if let Some(p) = r.parent_id {
            children.entry(p).or_default().push(r.id);
        }
    }
    let mut out = HashSet::new();
    let mut stack: Vec<i64> = roots.to_vec();
    while let Some(id) = stack.pop() {
        if out.insert(id) {
            if let Some(c) = children.get(&id) {
                stack.extend(c);
            }
        }
    }
    out
}

/// The ids of a region and all its ancestors.
pub fn region_with_ancestors(all: &[region::Model], region_id: i64) -> Vec<i64> {
    let parents: HashMap<i64, Option<i64>> = all.iter().map(|r| (r.id, r.parent_id)).collect();
    chain_up(&parents, region_id)
}

/// The region and its ancestors by a region → parent map (the walk ends on
/// a cycle).
pub fn chain_up(parents: &HashMap<i64, Option<i64>>, region_id: i64) -> Vec<i64> {
    let mut out = vec![];
    let mut cur = Some(region_id);
    while let Some(id) = cur {
        if out.contains(&id) {
            break;
        }
        out.push(id);
        cur = parents.get(&id).copied().flatten();
    }
    out
}

pub async fn load_actor<C: ConnectionTrait>(
    db: &C,
    app: &crate::app::AppState,
    u: user::Model,
) -> Result<Actor, AppError> {
    let position: Position = u
        .position
        .parse()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("user {}: {e}", u.id)))?;
    let assigned: Vec<i64> = user_region::Entity::find()
        .filter(user_region::Column::UserId.eq(u.id))
        .all(db)
        .await?
        .into_iter()
        .map(|ur| ur.region_id)
        .collect();
    let regions = if u.global_scope || assigned.is_empty() {
        HashSet::new()
    } else {
        let all = app.regions.get(db, &assigned).await?;
        expand_regions(&all, &assigned)
    };
    Ok(Actor {
        user_id: u.id,
        username: u.username,
        position,
        global: u.global_scope,
        regions: Arc::new(regions),
    })
}

/// Resolves a bearer token to its user, if the session is valid.
pub async fn actor_from_token(
    app: &crate::app::AppState,
    token: &str,
) -> Result<Option<Actor>, AppError> {
    let hash = token_hash(token);
    if let Some(a) = app.actors.get(&hash) {
        return Ok(Some(a));
    }
    let db = &app.db.read;
    let Some(s) = session::Entity::find()
        .filter(session::Column::TokenHash.eq(hash.clone()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if s.revoked_at.is_some() || s.expires_at <= Utc::now() {
        return Ok(None);
    }
    let Some(u) = user::Entity::find_by_id(s.user_id).one(db).await? else {
        return Ok(None);
    };
    if !u.active {
        return Ok(None);
    }
    let actor = load_actor(db, app, u).await?;
    app.actors.put(hash, s.expires_at, actor.clone());
    Ok(Some(actor))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_secret() {
        let h = hash_password("correct horse battery").unwrap_or_default();
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn regions_expand_to_sub_areas() {
        let now = Utc::now();
        let r = |id, parent| region::Model {
            id,
            code: format!("R{id}"),
            name: String::new(),
            parent_id: parent,
            market_capacity: None,
            created_at: now,
        };
        let all = vec![r(1, None), r(2, Some(1)), r(3, Some(2)), r(4, None)];
        let got = expand_regions(&all, &[2]);
        assert_eq!(got, HashSet::from([2, 3]));
        assert_eq!(region_with_ancestors(&all, 3), vec![3, 2, 1]);
    }
}
