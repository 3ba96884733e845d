//! The statements a read runs: every row of a table (`since` = `None`, a
//! full read) or the rows after its mark (a sync).
use super::marks::{after, Mark};

pub const REGIONS: &str = "SELECT id, parent_id, code, name, market_capacity FROM regions";
pub const AGENTS: &str = "SELECT id, region_id, code, name FROM agents";
pub const USERS: &str = "SELECT id, display_name FROM users";
pub const PRODUCTS: &str = "SELECT id, sku, name FROM products";
/// Open receivables, with their orders' numbers (evidence).
pub const RECEIVABLES: &str =
    "SELECT r.order_id, r.agent_id, r.outstanding_fen, r.due_on, o.number \
     FROM receivables r JOIN sales_orders o ON o.id = r.order_id \
     WHERE r.outstanding_fen > 0";
pub const FORECASTS: &str =
    "SELECT id, period, region_id, product_id, salesperson_id, quantity FROM forecasts";
pub const PRICE_LIST: &str = "SELECT product_id, tier, floor_fen FROM price_list";

/// Shipped orders, by shipment id.
pub fn orders(since: Option<&Mark>) -> String {
    format!(
        "SELECT o.id, o.agent_id, o.region_id, o.salesperson_id, o.total_fen, s.shipped_at, s.id \
         FROM sales_orders o JOIN shipments s ON s.order_id = o.id{}",
        after("s.id", since)
    )
}

/// Order lines: all of them, or those of the orders shipped after the
/// mark (why: `load_lines`).
pub fn lines(since: Option<&Mark>) -> String {
    match since {
        None => "SELECT order_id, product_id, quantity, unit_price_fen FROM order_lines".to_owned(),
        Some(m) => format!(
            "SELECT l.order_id, l.product_id, l.quantity, l.unit_price_fen \
             FROM order_lines l JOIN shipments s ON s.order_id = l.order_id{}",
            m.sql("s.id")
        ),
    }
}

pub fn payments(since: Option<&Mark>) -> String {
    format!(
        "SELECT order_id, amount_fen, received_on, id FROM payments{}",
        after("id", since)
    )
}

pub fn sell(since: Option<&Mark>) -> String {
    format!(
        "SELECT id, agent_id, product_id, serial, quantity, sale_price_fen, sold_region_id, sold_on \
         FROM sell_through{}",
        after("id", since)
    )
}

pub fn sightings(since: Option<&Mark>) -> String {
    format!(
        "SELECT id, serial, region_id, seen_on FROM unit_sightings{}",
        after("id", since)
    )
}

pub fn units(since: Option<&Mark>) -> String {
    format!(
        "SELECT serial, agent_id, id FROM serial_units{}",
        after("id", since)
    )
}

pub fn prices(since: Option<&Mark>) -> String {
    format!(
        "SELECT id, product_id, region_id, tier, price_fen, observed_on FROM price_observations{}",
        after("id", since)
    )
}

/// Every statement of a full read (`read` with no marks), in no
/// particular order.
pub fn full_read() -> Vec<String> {
    let mut all: Vec<String> = [
        REGIONS,
        AGENTS,
        USERS,
        PRODUCTS,
        RECEIVABLES,
        FORECASTS,
        PRICE_LIST,
    ]
    .map(str::to_owned)
    .into();
    all.extend([
        orders(None),
        lines(None),
        payments(None),
        sell(None),
        sightings(None),
        units(None),
        prices(None),
    ]);
    all
}
