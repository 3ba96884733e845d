//! Small in-process caches for what every request needs and rarely changes.
//!
//! - Regions: they are created, never moved or deleted; the cache reloads
//!   when asked for a region it does not know, after `regionCreate` in this
//!   process, and at most every 30 s (regions created by another process).
//! - Signed-in users: a token's actor is kept for 10 s. Sign-out in this
//!   process drops it at once; in another API process it stops working
//!   within 10 s.
//! - Failed sign-ins per username: after 5 failures within 5 minutes the
//!   username is refused (THROTTLED) until 5 minutes after its first failure,
//!   which makes guessing passwords slow (per API process).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

use salesguard_entities::model::region;

use crate::auth::Actor;

const REGIONS_TTL: Duration = Duration::from_secs(30);
const ACTOR_TTL: Duration = Duration::from_secs(10);
const ACTOR_CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct RegionCache {
    inner: RwLock<Option<(Instant, Arc<Vec<region::Model>>)>>,
}

impl RegionCache {
    /// All regions, fresh enough and holding every id in `must_have`.
    pub async fn get<C: ConnectionTrait>(
        &self,
        db: &C,
        must_have: &[i64],
    ) -> Result<Arc<Vec<region::Model>>, DbErr> {
        if let Ok(guard) = self.inner.read() {
            if let Some((at, all)) = guard.as_ref() {
                let known = |id: &i64| all.iter().any(|r| r.id == *id);
                if at.elapsed() < REGIONS_TTL && must_have.iter().all(known) {
                    return Ok(all.clone());
                }
            }
        }
        let all = Arc::new(region::Entity::find().all(db).await?);
        if let Ok(mut guard) = self.inner.write() {
            *guard = Some((Instant::now(), all.clone()));
        }
        Ok(all)
    }

    pub fn invalidate(&self) {
        if let Ok(mut guard) = self.inner.write() {
            *guard = None;
        }
    }
}

/// When an entry was cached, when its session expires, and the actor.
type ActorEntry = (Instant, DateTime<Utc>, Actor);

#[derive(Default)]
pub struct ActorCache {
    inner: Mutex<HashMap<String, ActorEntry>>,
}

impl ActorCache {
    pub fn get(&self, token_hash: &str) -> Option<Actor> {
        let guard = self.inner.lock().ok()?;
        let (at, expires, actor) = guard.get(token_hash)?;
        (at.elapsed() < ACTOR_TTL && *expires > Utc::now()).then(|| actor.clone())
    }

    pub fn put(&self, token_hash: String, session_expires: DateTime<Utc>, actor: Actor) {
        if let Ok(mut guard) = self.inner.lock() {
            if guard.len() >= ACTOR_CAPACITY {
                guard.retain(|_, (at, _, _)| at.elapsed() < ACTOR_TTL);
                if guard.len() >= ACTOR_CAPACITY {
                    guard.clear();
                }
            }
            guard.insert(token_hash, (Instant::now(), session_expires, actor));
        }
    }

    pub fn remove(&self, token_hash: &str) {
        if let Ok(mut guard) = self.inner.lock() {
            guard.remove(token_hash);
        }
    }
}

const LOGIN_WINDOW: Duration = Duration::from_secs(300);
const LOGIN_MAX_FAILURES: u32 = 5;

#[derive(Default)]
pub struct LoginThrottle {
    inner: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LoginThrottle {
    fn key(username: &str) -> String {
        username.trim().to_lowercase()
    }

    /// Whether sign-ins as `username` are refused for now.
    pub fn is_blocked(&self, username: &str) -> bool {
        let Ok(guard) = self.inner.lock() else {
            return false;
        };
        matches!(guard.get(&Self::key(username)),
            Some((since, n)) if *n >= LOGIN_MAX_FAILURES && since.elapsed() < LOGIN_WINDOW)
    }

    pub fn failed(&self, username: &str) {
        if let Ok(mut guard) = self.inner.lock() {
            if guard.len() >= ACTOR_CAPACITY {
                guard.retain(|_, (since, _)| since.elapsed() < LOGIN_WINDOW);
            }
            let e = guard
                .entry(Self::key(username))
                .or_insert((Instant::now(), 0));
            if e.0.elapsed() >= LOGIN_WINDOW {
                *e = (Instant::now(), 0);
            }
            e.1 += 1;
        }
    }

    pub fn succeeded(&self, username: &str) {
        if let Ok(mut guard) = self.inner.lock() {
            guard.remove(&Self::key(username));
        }
    }
}
