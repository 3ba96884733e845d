//! A minimal GraphQL-over-HTTP client.
use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// The same client (and token) talking to the server at `base`.
    pub fn on(&self, base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            ..self.clone()
        }
    }

    /// The whole GraphQL response (`data` and `errors`).
    pub async fn raw(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.context("request failed")?;
        let status = resp.status();
        let body: Value = resp.json().await.context("response is not JSON")?;
        if !status.is_success() {
            bail!("HTTP {status}: {body}");
        }
        Ok(body)
    }

    /// `data`, or an error if the response has GraphQL errors.
    pub async fn data(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        data_of(self.raw(query, variables).await?)
    }

    /// Signs in and returns a client carrying the token.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<Client> {
        let d = self
            .data(
                "mutation($u:String!,$p:String!){sessionCreate(input:{username:$u,password:$p}){token userErrors{code message}}}",
                json!({"u": username, "p": password}),
            )
            .await?;
        let token = d["sessionCreate"]["token"]
            .as_str()
            .ok_or_else(|| anyhow!("login of {username} failed: {d}"))?;
        Ok(self.with_token(token))
    }
}

/// The `data` of a whole GraphQL response, or an error if it has GraphQL
/// errors.
pub fn data_of(mut body: Value) -> anyhow::Result<Value> {
    if let Some(errs) = body.get("errors") {
        bail!("GraphQL errors: {errs}");
    }
    match body.get_mut("data") {
        Some(d) => Ok(d.take()),
        None => bail!("no data in {body}"),
    }
}
