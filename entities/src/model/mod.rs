//! sea-orm entities for the tables created by the foundation migration.

pub mod agent;
pub mod audit_head;
pub mod audit_log;
pub mod contract;
pub mod doc_sequence;
pub mod forecast;
pub mod idempotency_key;
pub mod invoice;
pub mod invoice_info;
pub mod notification;
pub mod order_line;
pub mod payment;
pub mod price_list_entry;
pub mod price_observation;
pub mod product;
pub mod receivable;
pub mod region;
pub mod sales_order;
pub mod sell_through;
pub mod serial_unit;
pub mod session;
pub mod shipment;
pub mod shipment_exception;
pub mod shipping_notice;
pub mod stock_level;
pub mod stock_movement;
pub mod unit_sighting;
pub mod user;
pub mod user_region;
pub mod warehouse;

pub mod prelude {
    pub use super::agent::Entity as Agent;
    pub use super::audit_log::Entity as AuditLog;
    pub use super::contract::Entity as Contract;
    pub use super::doc_sequence::Entity as DocSequence;
    pub use super::idempotency_key::Entity as IdempotencyKey;
    pub use super::invoice::Entity as Invoice;
    pub use super::invoice_info::Entity as InvoiceInfo;
    pub use super::notification::Entity as Notification;
    pub use super::order_line::Entity as OrderLine;
    pub use super::payment::Entity as Payment;
    pub use super::product::Entity as Product;
    pub use super::receivable::Entity as Receivable;
    pub use super::region::Entity as Region;
    pub use super::sales_order::Entity as SalesOrder;
    pub use super::session::Entity as Session;
    pub use super::shipment::Entity as Shipment;
    pub use super::shipment_exception::Entity as ShipmentException;
    pub use super::shipping_notice::Entity as ShippingNotice;
    pub use super::stock_level::Entity as StockLevel;
    pub use super::stock_movement::Entity as StockMovement;
    pub use super::user::Entity as User;
    pub use super::user_region::Entity as UserRegion;
    pub use super::warehouse::Entity as Warehouse;
}
