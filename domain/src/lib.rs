//! The business rules of Salesguard, with no I/O:
//! - who may do what: `position`, `capability` (the one table), `actor`;
//! - the order-to-cash workflow: `step`, `order_status`, `contract`, the
//!   payment rule (`payment`), `warehouse`;
//! - `refusal`: why a request was refused, typed;
//! - money (`money`), document numbers and the business day (`docnum`),
//!   the clock (`clock`), the region tree (`regions`);
//! - the risk vocabulary (`risk`) and the one definition of each figure
//!   (`figures`).

/// An enum stored as its SCREAMING_SNAKE_CASE name: `as_str` writes it,
/// `parse` reads it back and gives `None` for anything else (a caller turns
/// that into an error, never into a default).
macro_rules! stored_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$v),)* _ => None }
            }
        }
    };
}

pub mod actor;
pub mod capability;
pub mod clock;
pub mod contract;
pub mod credit;
pub mod docnum;
pub mod figures;
pub mod input;
pub mod money;
pub mod order;
pub mod order_status;
pub mod payment;
pub mod position;
pub mod refusal;
pub mod regions;
pub mod risk;
pub mod step;
pub mod warehouse;

pub use actor::Actor;
pub use capability::Capability;
pub use docnum::DocType;
pub use money::{Fen, MoneyError};
pub use order_status::OrderStatus;
pub use position::Position;
pub use refusal::{Refusal, RefusalCode};
pub use step::Step;
