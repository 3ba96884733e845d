//! Errors. Expected business failures become `userErrors` in a mutation's
//! payload (`UserError`); everything else is an `AppError`, returned as a
//! GraphQL error with `extensions.code`. Internal errors are logged with their
//! context and reach the client only as "internal error".
use async_graphql::{Enum, ErrorExtensions, SimpleObject};
use sea_orm::DbErr;

/// Deliberately not `Display`: it converts to a GraphQL error only through
/// the `From` impl below, which adds `extensions.code` and hides internals.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated,
    Forbidden(String),
    NotFound(String),
    BadInput(String),
    Conflict(String),
    Throttled(String),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(e)
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("database error"))
    }
}

impl AppError {
    /// The message a client may see.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated => "authentication required".into(),
            AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::BadInput(m)
            | AppError::Conflict(m)
            | AppError::Throttled(m) => m.clone(),
            AppError::Internal(_) => "internal error".into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadInput(_) => "BAD_USER_INPUT",
            AppError::Conflict(_) => "CONFLICT",
            AppError::Throttled(_) => "THROTTLED",
            AppError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        if let AppError::Internal(inner) = &e {
            tracing::error!(error = ?inner, "internal error");
        }
        let code = e.code();
        async_graphql::Error::new(e.message()).extend_with(|_, ext| ext.set("code", code))
    }
}

// The GraphQL face of `salesguard_domain::RefusalCode`.
/// Codes of expected business failures, stable for clients to switch on.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(remote = "salesguard_domain::RefusalCode")]
pub enum UserErrorCode {
    /// The input is malformed or out of range.
    BadUserInput,
    /// The caller's position may not take this step.
    Forbidden,
    /// The document does not exist or is outside the caller's regions.
    NotFound,
    /// The document is not in a state that allows this step (someone else
    /// may have just moved it): reload and retry.
    Conflict,
    /// The person who created or drafted a document cannot approve it.
    SelfApproval,
    /// Shipment or invoicing needs full payment confirmed by finance.
    PaymentIncomplete,
    /// The management exception for shipping before full payment has expired
    /// (or does not cover the unpaid amount).
    ExceptionInvalid,
    /// The agent's outstanding receivables would exceed its credit limit.
    CreditLimitExceeded,
    /// Not enough stock on hand in the warehouse.
    InsufficientStock,
    /// The shipping notice is not genuine, was altered, or was already used.
    NoticeInvalid,
    /// The idempotency key was already used with a different input.
    IdempotencyKeyReused,
    /// Wrong username or password.
    InvalidCredentials,
    /// A value that must be unique is already taken.
    AlreadyExists,
}

impl UserErrorCode {
    pub fn as_str(&self) -> &'static str {
        salesguard_domain::RefusalCode::from(*self).as_str()
    }

    /// Refusals that are about who may do what (audited as denials).
    pub fn is_denial(&self) -> bool {
        salesguard_domain::RefusalCode::from(*self).is_denial()
    }
}

/// An expected business failure, reported in a payload's `userErrors`.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserError {
    /// Path to the input field at fault, e.g. `["input", "lines", "0", "quantity"]`;
    /// null when no single field is at fault.
    pub field: Option<Vec<String>>,
    /// What went wrong, for people (English); switch on `code`, not on this text.
    pub message: String,
    /// The kind of failure, stable for clients to switch on.
    pub code: UserErrorCode,
}

impl UserError {
    pub fn new(code: UserErrorCode, message: impl Into<String>) -> Self {
        UserError {
            field: None,
            message: message.into(),
            code,
        }
    }
    pub fn at(mut self, path: &[&str]) -> Self {
        let mut field = vec!["input".to_owned()];
        field.extend(path.iter().map(|s| (*s).to_owned()));
        self.field = Some(field);
        self
    }
}

impl From<salesguard_domain::Refusal> for UserError {
    fn from(r: salesguard_domain::Refusal) -> Self {
        UserError {
            field: r.field,
            message: r.message,
            code: r.code.into(),
        }
    }
}

/// What a service returns on failure.
#[derive(Debug)]
pub enum ServiceError {
    User(UserError),
    App(AppError),
}

impl From<AppError> for ServiceError {
    fn from(e: AppError) -> Self {
        ServiceError::App(e)
    }
}

impl From<salesguard_domain::Refusal> for ServiceError {
    fn from(r: salesguard_domain::Refusal) -> Self {
        ServiceError::User(r.into())
    }
}

impl From<UserError> for ServiceError {
    fn from(e: UserError) -> Self {
        ServiceError::User(e)
    }
}

impl From<DbErr> for ServiceError {
    fn from(e: DbErr) -> Self {
        // Two writers racing on the same document: the loser hits a unique
        // key (a number, an audit sequence, a one-per-order document).
        if salesguard_entities::db::is_unique_violation(&e) {
            return ServiceError::User(UserError::new(
                UserErrorCode::Conflict,
                "the document was changed at the same time by someone else; reload and retry",
            ));
        }
        ServiceError::App(e.into())
    }
}

impl From<anyhow::Error> for ServiceError {
    fn from(e: anyhow::Error) -> Self {
        ServiceError::App(AppError::Internal(e))
    }
}

pub fn user_err(code: UserErrorCode, message: impl Into<String>) -> ServiceError {
    ServiceError::User(UserError::new(code, message))
}

pub fn bad_input(path: &[&str], message: impl Into<String>) -> ServiceError {
    ServiceError::User(UserError::new(UserErrorCode::BadUserInput, message).at(path))
}
