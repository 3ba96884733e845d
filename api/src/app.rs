//! The application state shared by every request.
use std::sync::Arc;

use chrono_tz::Tz;

use crate::notify::Hub;
use salesguard_config::Settings;
use salesguard_entities::db::Db;

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
    /// Who is responsible for which region, for the steps' copies.
    pub directory: crate::directory::DirectoryCache,
    pub actors: crate::cache::ActorCache,
    /// What the last step of each order left (`step_cache`).
    pub step_cache: crate::step_cache::StepCache,
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
        let db = if settings.steps.group_commit {
            db
        } else {
            db.without_group_commit()
        };
        Ok(AppState(Arc::new(Inner {
            db,
            settings,
            tz,
            hub: Hub::new(),
            risk_feed: Default::default(),
            regions: Default::default(),
            directory: Default::default(),
            actors: Default::default(),
            step_cache: Default::default(),
            logins: Default::default(),
        })))
    }

    /// Connects, migrates and builds the state from settings.
    pub async fn from_settings(settings: Settings) -> anyhow::Result<AppState> {
        let db = Db::connect(&settings.database_url, settings.db_max_connections).await?;
        db.migrate().await?;
        let app = AppState::new(db, settings)?;
        salesguard_analytics::backfill::fill_in(&app.db, app.tz).await?;
        Ok(app)
    }
}
