//! Authentication (argon2 password hashes, bearer tokens with expiry) and the
//! acting user with the regions they may see.
use std::collections::HashSet;
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use salesguard_domain::Position;
use salesguard_entities::model::{session, user, user_region};

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
    let now = salesguard_domain::clock::now();
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
pub use salesguard_domain::Actor;

/// Refuses (a `userErrors` FORBIDDEN) unless the actor's position holds
/// `capability`.
pub fn require(
    actor: &Actor,
    capability: salesguard_domain::Capability,
) -> Result<(), crate::error::UserError> {
    actor.require(capability).map_err(Into::into)
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
        salesguard_domain::regions::expand(&all, &assigned)
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
}
