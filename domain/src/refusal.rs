//! Why a request was refused: the expected business failures, with a code
//! clients switch on, a message for people and the input field at fault.
//! The API turns each into a `userErrors` entry.
use crate::capability::Capability;
use crate::Position;

/// Codes of expected business failures, stable for clients to switch on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefusalCode {
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

impl RefusalCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            RefusalCode::BadUserInput => "BAD_USER_INPUT",
            RefusalCode::Forbidden => "FORBIDDEN",
            RefusalCode::NotFound => "NOT_FOUND",
            RefusalCode::Conflict => "CONFLICT",
            RefusalCode::SelfApproval => "SELF_APPROVAL",
            RefusalCode::PaymentIncomplete => "PAYMENT_INCOMPLETE",
            RefusalCode::ExceptionInvalid => "EXCEPTION_INVALID",
            RefusalCode::CreditLimitExceeded => "CREDIT_LIMIT_EXCEEDED",
            RefusalCode::InsufficientStock => "INSUFFICIENT_STOCK",
            RefusalCode::NoticeInvalid => "NOTICE_INVALID",
            RefusalCode::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            RefusalCode::InvalidCredentials => "INVALID_CREDENTIALS",
            RefusalCode::AlreadyExists => "ALREADY_EXISTS",
        }
    }

    /// Refusals that are about who may do what (audited as denials).
    pub fn is_denial(&self) -> bool {
        matches!(
            self,
            RefusalCode::Forbidden
                | RefusalCode::NotFound
                | RefusalCode::SelfApproval
                | RefusalCode::InvalidCredentials
        )
    }
}

/// An expected business failure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    /// Path to the input field at fault, e.g. `["input", "lines", "0", "quantity"]`.
    pub field: Option<Vec<String>>,
    pub message: String,
    pub code: RefusalCode,
}

impl Refusal {
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        Refusal {
            field: None,
            message: message.into(),
            code,
        }
    }

    /// The input field at fault, below the mutation's `input`.
    pub fn at(mut self, path: &[&str]) -> Self {
        let mut field = vec!["input".to_owned()];
        field.extend(path.iter().map(|s| (*s).to_owned()));
        self.field = Some(field);
        self
    }

    /// Malformed or out-of-range input at `path`.
    pub fn bad_input(path: &[&str], message: impl Into<String>) -> Self {
        Refusal::new(RefusalCode::BadUserInput, message).at(path)
    }

    /// `position` does not hold `capability`.
    pub fn forbidden(position: Position, capability: Capability) -> Self {
        let who: Vec<&str> = capability.holders().iter().map(|p| p.as_str()).collect();
        Refusal::new(
            RefusalCode::Forbidden,
            format!(
                "position {position} may not {}; that is done by {}",
                capability.describe(),
                who.join(", ")
            ),
        )
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}
