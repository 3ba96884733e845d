//! The business operations behind the mutations. Each runs inside a
//! `StepRun` (one transaction with its audit record and notifications).
pub mod admin;
pub mod forecast;
pub mod inputs;
pub mod market;
pub mod workflow;

use salesguard_domain::Capability;

use crate::error::ServiceError;
use crate::idempotency::StepRun;

/// Refuses (FORBIDDEN) unless the actor's position holds `capability`
/// (`salesguard_domain::capability`, the one table of who may do what).
pub fn require(run: &StepRun, capability: Capability) -> Result<(), ServiceError> {
    crate::auth::require(&run.actor, capability).map_err(ServiceError::User)
}
