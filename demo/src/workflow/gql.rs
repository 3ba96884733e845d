//! The in-process GraphQL client the sink writes through, and the
//! administrator's actor.
use anyhow::{anyhow, bail, Context};
use async_graphql::{Request, Variables};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use salesguard_api::auth::{actor_from_token, create_session, Actor};
use salesguard_api::graphql::{self, AppSchema};
use salesguard_api::services::admin::{insert_user, NewUser};
use salesguard_api::{audit, AppState};
use salesguard_entities::model::user;

use super::super::scenario::DEMO_PASSWORD;

/// An in-process GraphQL client on the API's schema.
pub struct Gql {
    pub app: AppState,
    schema: AppSchema,
    pub mutations: u64,
}

impl Gql {
    pub fn new(app: &AppState) -> Gql {
        Gql {
            schema: graphql::build(Some(app.clone()), app.settings.mode),
            app: app.clone(),
            mutations: 0,
        }
    }

    /// Executes a request as `actor`; GraphQL errors become errors.
    pub async fn exec(
        &mut self,
        actor: Option<&Actor>,
        query: &str,
        vars: Value,
    ) -> anyhow::Result<Value> {
        let mut req = Request::new(query).variables(Variables::from_json(vars));
        if let Some(a) = actor {
            req = req.data(a.clone());
        }
        let req =
            graphql::loaders::attach(req, &self.app.db.read, self.app.settings.loader_window());
        let resp = self.schema.execute(req).await;
        self.mutations += 1;
        if !resp.errors.is_empty() {
            let msgs: Vec<String> = resp.errors.iter().map(|e| e.message.clone()).collect();
            bail!("GraphQL errors: {}", msgs.join("; "));
        }
        Ok(resp.data.into_json()?)
    }

    /// Runs `mutation(input: $input) { <fields> userErrors {...} }` and
    /// fails on user errors; returns the payload.
    pub async fn mutate(
        &mut self,
        actor: &Actor,
        mutation: &str,
        input_type: &str,
        fields: &str,
        input: Value,
    ) -> anyhow::Result<Value> {
        let q = format!(
            "mutation($input:{input_type}!){{{mutation}(input:$input){{{fields} userErrors{{field message code}}}}}}"
        );
        let d = self
            .exec(Some(actor), &q, json!({ "input": input }))
            .await?;
        let p = d[mutation].clone();
        if p["userErrors"].as_array().is_some_and(|a| !a.is_empty()) {
            bail!(
                "{mutation} as {} refused: {}",
                actor.username,
                p["userErrors"]
            );
        }
        Ok(p)
    }

    /// A workflow step; returns the order.
    pub async fn step(
        &mut self,
        actor: &Actor,
        mutation: &str,
        input: Value,
    ) -> anyhow::Result<Value> {
        let input_type = salesguard_api::graphql::step_input_type(mutation);
        let p = self
            .mutate(
                actor,
                mutation,
                input_type,
                "salesOrder{id status balanceDue shippingNotice{number verificationCode}}",
                input,
            )
            .await?;
        Ok(p["salesOrder"].clone())
    }

    /// A bulk input (sell-through, sightings, prices): all rows must be saved.
    pub async fn bulk(
        &mut self,
        actor: &Actor,
        mutation: &str,
        input_type: &str,
        input: Value,
    ) -> anyhow::Result<()> {
        let rows = input["rows"].as_array().map(|a| a.len()).unwrap_or(0);
        let p = self
            .mutate(
                actor,
                mutation,
                input_type,
                "result{accepted rejected{row field message}}",
                input,
            )
            .await?;
        let accepted = p["result"]["accepted"].as_u64().unwrap_or(0) as usize;
        if accepted != rows {
            bail!(
                "{mutation}: {accepted} of {rows} rows saved: {}",
                p["result"]["rejected"]
            );
        }
        Ok(())
    }

    pub(super) async fn create(
        &mut self,
        actor: &Actor,
        mutation: &str,
        field: &str,
        input: Value,
    ) -> anyhow::Result<String> {
        let mut c = mutation.chars();
        let input_type = match c.next() {
            Some(f) => format!("{}{}Input", f.to_uppercase(), c.as_str()),
            None => String::new(),
        };
        let p = self
            .mutate(
                actor,
                mutation,
                &input_type,
                &format!("{field}{{id}}"),
                input,
            )
            .await?;
        p[field]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{mutation}: no id in {p}"))
    }
}

/// The actor of the administrator: `admin` as it exists, or created the
/// way `salesguard user create` does (password [`DEMO_PASSWORD`]).
pub async fn admin_actor(app: &AppState) -> anyhow::Result<Actor> {
    let existing = user::Entity::find()
        .filter(user::Column::Username.eq("admin"))
        .one(&app.db.read)
        .await?;
    let id = match existing {
        Some(u) => u.id,
        None => {
            let txn = app.db.begin().await?;
            let (id, record) = insert_user(
                &txn,
                NewUser {
                    username: "admin".into(),
                    display_name: "Administrator".into(),
                    email: None,
                    position: salesguard_domain::Position::Admin,
                    password: DEMO_PASSWORD.into(),
                    region_ids: vec![],
                    all_regions: true,
                },
            )
            .await
            .map_err(|e| anyhow!("creating admin: {e:?}"))?;
            audit::append(
                &txn,
                audit::Entry {
                    stream: audit::stream_for("User", id),
                    action: "userCreate".into(),
                    outcome: "OK".into(),
                    entity_type: Some("User".into()),
                    entity_id: Some(id),
                    after: Some(record.to_string()),
                    detail: Some("created by `salesguard demo`".into()),
                    ..audit::Entry::default()
                },
            )
            .await?;
            txn.commit().await?;
            id
        }
    };
    // The administrator's own password is not known here: a session is
    // opened for it directly.
    let (token, _) = create_session(&app.db.write, id, 60)
        .await
        .map_err(|e| anyhow!("admin session: {e:?}"))?;
    actor_from_token(app, &token)
        .await
        .map_err(|e| anyhow!("admin session: {e:?}"))?
        .context("admin session not found")
}
