//! The domain shared by the API and the worker: the database model (`model`)
//! and the business rules (`rules`): positions and what each may do, the
//! order's state machine, document numbers and money.
pub mod model;
pub mod rules;
