pub mod docnum;
pub mod money;
pub mod order_status;
pub mod position;
pub mod step;

pub use docnum::DocType;
pub use money::{Fen, MoneyError};
pub use order_status::OrderStatus;
pub use position::Position;
pub use step::Step;
