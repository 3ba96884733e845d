//! What a job gets: the database pools, the settings and the business time
//! zone. Nothing of the API.
use std::sync::Arc;

use chrono_tz::Tz;

use salesguard_config::Settings;
use salesguard_entities::db::Db;

#[derive(Clone)]
pub struct Ctx(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub settings: Settings,
    /// The business time zone (`settings.timezone`, parsed).
    pub tz: Tz,
}

impl std::ops::Deref for Ctx {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Ctx {
    pub fn new(db: Db, settings: Settings) -> anyhow::Result<Ctx> {
        let tz = settings.tz()?;
        Ok(Ctx(Arc::new(Inner { db, settings, tz })))
    }
}

impl Ctx {
    /// Connects, migrates and fills in derived data, as the API does at
    /// start.
    pub async fn from_settings(settings: Settings) -> anyhow::Result<Ctx> {
        let db = Db::connect(&settings.database_url, settings.db_max_connections).await?;
        db.migrate().await?;
        let ctx = Ctx::new(db, settings)?;
        salesguard_analytics::backfill::fill_in(&ctx.db, ctx.tz).await?;
        Ok(ctx)
    }
}
