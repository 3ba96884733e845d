//! The application state shared by every request.
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;

use crate::config::Settings;
use crate::db::Db;
use crate::notify::Hub;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub settings: Settings,
    pub tz: Tz,
    pub hub: Hub,
    /// New risk signals for the `riskSignalRaised` subscriptions.
    pub risk_feed: crate::risk_feed::RiskFeed,
    pub regions: crate::cache::RegionCache,
    pub actors: crate::cache::ActorCache,
    pub logins: crate::cache::LoginThrottle,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(db: Db, settings: Settings) -> anyhow::Result<AppState> {
        let tz = settings.tz()?;
        Ok(AppState(Arc::new(Inner {
            db,
            settings,
            tz,
            hub: Hub::new(),
            risk_feed: Default::default(),
            regions: Default::default(),
            actors: Default::default(),
            logins: Default::default(),
        })))
    }

    /// Connects, migrates and builds the state from settings.
    pub async fn from_settings(settings: Settings) -> anyhow::Result<AppState> {
        let db = Db::connect(&settings.database_url, settings.db_max_connections).await?;
        db.migrate().await?;
        AppState::new(db, settings)
    }
}

/// The current time, truncated to microseconds (what both databases keep),
/// so that a value read back equals the value written and hashed.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
