//! The dimensions: regions, agents, users and products, with their labels.
use std::collections::HashMap;

use anyhow::Context;
use sea_orm::DatabaseConnection;

use super::inputs::{AgentDim, RegionDim};
use super::rows::each;
use super::statements;

pub(super) type Dims = (
    HashMap<i64, RegionDim>,
    HashMap<i64, AgentDim>,
    HashMap<i64, String>,
    HashMap<i64, String>,
);

pub(super) async fn load_dims(db: DatabaseConnection) -> anyhow::Result<Dims> {
    let mut regions = HashMap::new();
    each(&db, statements::REGIONS, |r| {
        regions.insert(
            r.i64(0)?,
            RegionDim {
                parent: r.opt_i64(1)?,
                label: format!("{} {}", r.text(2)?, r.text(3)?),
                capacity: r.opt_i64(4)?,
            },
        );
        Ok(())
    })
    .await
    .context("regions")?;
    let mut agents = HashMap::new();
    each(&db, statements::AGENTS, |r| {
        agents.insert(
            r.i64(0)?,
            AgentDim {
                region: r.i64(1)?,
                label: format!("{} {}", r.text(2)?, r.text(3)?),
            },
        );
        Ok(())
    })
    .await
    .context("agents")?;
    let mut people = HashMap::new();
    each(&db, statements::USERS, |r| {
        people.insert(r.i64(0)?, r.text(1)?);
        Ok(())
    })
    .await
    .context("users")?;
    let mut products = HashMap::new();
    each(&db, statements::PRODUCTS, |r| {
        products.insert(r.i64(0)?, format!("{} {}", r.text(1)?, r.text(2)?));
        Ok(())
    })
    .await
    .context("products")?;
    Ok((regions, agents, people, products))
}
