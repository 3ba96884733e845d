//! What happened: audit entries and notifications.
use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};

use salesguard_entities::model::*;

use super::*;
use crate::error::AppError;
use crate::graphql::ids::encode;
use crate::graphql::loaders;

/// One record of the audit trail: who, in which position, did what, when,
/// with the document before and after. Refused requests are recorded too.
pub struct AuditEntry(pub audit_log::Model);

/// One record of the audit trail: who, in which position, did what, when, with
/// the document before and after. Refused requests are recorded too. Records
/// are hash-chained and never change.
#[Object]
impl AuditEntry {
    /// The operation, by its mutation name, e.g. contractApprove.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// `OK`, or `REFUSED:<code>`.
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }
    /// Who acted; null for the system or a sign-in with an unknown username.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        user_ref(ctx, self.0.actor_id).await
    }
    /// The actor's position at the time.
    async fn actor_position(&self) -> Option<&str> {
        self.0.actor_position.as_deref()
    }
    /// When it happened.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// The document as JSON before the change.
    async fn before(&self) -> Option<&str> {
        self.0.before_json.as_deref()
    }
    /// The document as JSON after the change.
    async fn after(&self) -> Option<&str> {
        self.0.after_json.as_deref()
    }
    /// What happened, in words (e.g. the reason of a refusal).
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
    /// The record's hash in its chain.
    async fn hash(&self) -> &str {
        &self.0.hash
    }
}

/// A copy of a message about a document, for one person.
pub struct Notification(pub notification::Model);

/// A copy of a message about a document, for one person; only its recipient
/// reads it.
#[Object]
impl Notification {
    /// The global ID, for `node(id:)` and for the ID arguments of queries and
    /// mutations.
    pub async fn id(&self) -> ID {
        encode("Notification", self.0.id)
    }
    /// e.g. CONTRACT_SUBMITTED, SHIPPED.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    /// The message, for people.
    async fn message(&self) -> &str {
        &self.0.message
    }
    /// When it was sent.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the recipient marked it read; null while unread.
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
    /// The order it is about, if any.
    async fn sales_order(&self, ctx: &Context<'_>) -> Result<Option<SalesOrder>, AppError> {
        match self.0.order_id {
            Some(id) => Ok(loaders::one::<sales_order::Entity>(ctx, id)
                .await?
                .map(SalesOrder)),
            None => Ok(None),
        }
    }
}
