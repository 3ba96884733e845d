//! The foundation: people, regions, agents, products, stock, the order-to-cash
//! documents, the audit trail, notifications and idempotency keys.
//! Money is stored as integer fen (minor units), never floating point.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DDL: &[&str] = &[
    "CREATE TABLE regions (
        id {pk},
        code TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        parent_id BIGINT NULL REFERENCES regions(id),
        market_capacity BIGINT NULL CHECK (market_capacity IS NULL OR market_capacity >= 0),
        created_at {ts} NOT NULL
    )",
    "CREATE TABLE users (
        id {pk},
        username TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        email TEXT NULL,
        position TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        global_scope {bool} NOT NULL DEFAULT FALSE,
        active {bool} NOT NULL DEFAULT TRUE,
        created_at {ts} NOT NULL
    )",
    "CREATE TABLE user_regions (
        user_id BIGINT NOT NULL REFERENCES users(id),
        region_id BIGINT NOT NULL REFERENCES regions(id),
        PRIMARY KEY (user_id, region_id)
    )",
    "CREATE TABLE sessions (
        id {pk},
        token_hash TEXT NOT NULL UNIQUE,
        user_id BIGINT NOT NULL REFERENCES users(id),
        created_at {ts} NOT NULL,
        expires_at {ts} NOT NULL,
        revoked_at {ts} NULL
    )",
    "CREATE TABLE agents (
        id {pk},
        code TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        region_id BIGINT NOT NULL REFERENCES regions(id),
        credit_limit_fen BIGINT NOT NULL CHECK (credit_limit_fen >= 0),
        ar_outstanding_fen BIGINT NOT NULL DEFAULT 0 CHECK (ar_outstanding_fen >= 0),
        address TEXT NOT NULL,
        contact_name TEXT NOT NULL,
        phone TEXT NOT NULL,
        created_at {ts} NOT NULL
    )",
    "CREATE INDEX agents_region ON agents(region_id)",
    "CREATE TABLE products (
        id {pk},
        sku TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        list_price_fen BIGINT NOT NULL CHECK (list_price_fen >= 0),
        active {bool} NOT NULL DEFAULT TRUE,
        created_at {ts} NOT NULL
    )",
    "CREATE TABLE warehouses (
        id {pk},
        code TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL
    )",
    "CREATE TABLE stock_levels (
        warehouse_id BIGINT NOT NULL REFERENCES warehouses(id),
        product_id BIGINT NOT NULL REFERENCES products(id),
        on_hand BIGINT NOT NULL CHECK (on_hand >= 0),
        PRIMARY KEY (warehouse_id, product_id)
    )",
    "CREATE TABLE stock_movements (
        id {pk},
        warehouse_id BIGINT NOT NULL REFERENCES warehouses(id),
        product_id BIGINT NOT NULL REFERENCES products(id),
        quantity BIGINT NOT NULL,
        reason TEXT NOT NULL,
        shipment_id BIGINT NULL,
        note TEXT NULL,
        created_by BIGINT NOT NULL REFERENCES users(id),
        created_at {ts} NOT NULL
    )",
    "CREATE INDEX stock_movements_wp ON stock_movements(warehouse_id, product_id)",
    "CREATE TABLE doc_sequences (
        doc_type TEXT NOT NULL,
        business_day TEXT NOT NULL,
        last_value BIGINT NOT NULL,
        PRIMARY KEY (doc_type, business_day)
    )",
    "CREATE TABLE sales_orders (
        id {pk},
        number TEXT NOT NULL UNIQUE,
        agent_id BIGINT NOT NULL REFERENCES agents(id),
        region_id BIGINT NOT NULL REFERENCES regions(id),
        salesperson_id BIGINT NOT NULL REFERENCES users(id),
        status TEXT NOT NULL,
        delivery_address TEXT NOT NULL,
        payment_terms_days INTEGER NOT NULL CHECK (payment_terms_days >= 0),
        total_fen BIGINT NOT NULL CHECK (total_fen >= 0),
        paid_fen BIGINT NOT NULL DEFAULT 0 CHECK (paid_fen >= 0),
        fully_paid_at {ts} NULL,
        payment_confirmed_by BIGINT NULL REFERENCES users(id),
        archived_at {ts} NULL,
        version BIGINT NOT NULL DEFAULT 0,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE INDEX sales_orders_region ON sales_orders(region_id, created_at)",
    "CREATE INDEX sales_orders_agent ON sales_orders(agent_id, created_at)",
    "CREATE INDEX sales_orders_status ON sales_orders(status)",
    "CREATE TABLE order_lines (
        id {pk},
        order_id BIGINT NOT NULL REFERENCES sales_orders(id),
        line_no INTEGER NOT NULL,
        product_id BIGINT NOT NULL REFERENCES products(id),
        quantity BIGINT NOT NULL CHECK (quantity > 0),
        unit_price_fen BIGINT NOT NULL CHECK (unit_price_fen >= 0),
        amount_fen BIGINT NOT NULL CHECK (amount_fen >= 0),
        UNIQUE (order_id, line_no)
    )",
    "CREATE TABLE contracts (
        id {pk},
        number TEXT NOT NULL UNIQUE,
        order_id BIGINT NOT NULL UNIQUE REFERENCES sales_orders(id),
        status TEXT NOT NULL,
        terms TEXT NOT NULL,
        drafted_by BIGINT NOT NULL REFERENCES users(id),
        submitted_by BIGINT NULL REFERENCES users(id),
        submitted_at {ts} NULL,
        decided_by BIGINT NULL REFERENCES users(id),
        decided_at {ts} NULL,
        rejection_reason TEXT NULL,
        signed_method TEXT NULL,
        signed_by BIGINT NULL REFERENCES users(id),
        signed_at {ts} NULL,
        courier_tracking TEXT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE TABLE payments (
        id {pk},
        order_id BIGINT NOT NULL REFERENCES sales_orders(id),
        amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
        received_on {date} NOT NULL,
        reference TEXT NOT NULL,
        recorded_by BIGINT NOT NULL REFERENCES users(id),
        created_at {ts} NOT NULL
    )",
    "CREATE INDEX payments_order ON payments(order_id)",
    "CREATE TABLE shipment_exceptions (
        id {pk},
        order_id BIGINT NOT NULL REFERENCES sales_orders(id),
        amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
        reason TEXT NOT NULL,
        expires_at {ts} NOT NULL,
        approved_by BIGINT NOT NULL REFERENCES users(id),
        created_at {ts} NOT NULL,
        used_at {ts} NULL
    )",
    "CREATE INDEX shipment_exceptions_order ON shipment_exceptions(order_id)",
    "CREATE TABLE shipping_notices (
        id {pk},
        number TEXT NOT NULL UNIQUE,
        order_id BIGINT NOT NULL UNIQUE REFERENCES sales_orders(id),
        warehouse_id BIGINT NOT NULL REFERENCES warehouses(id),
        verification_code TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        exception_id BIGINT NULL REFERENCES shipment_exceptions(id),
        issued_by BIGINT NOT NULL REFERENCES users(id),
        issued_at {ts} NOT NULL,
        used_at {ts} NULL
    )",
    "CREATE TABLE shipments (
        id {pk},
        order_id BIGINT NOT NULL UNIQUE REFERENCES sales_orders(id),
        notice_id BIGINT NOT NULL UNIQUE REFERENCES shipping_notices(id),
        warehouse_id BIGINT NOT NULL REFERENCES warehouses(id),
        carrier TEXT NOT NULL,
        tracking_number TEXT NOT NULL,
        shipped_at {ts} NOT NULL,
        shipped_by BIGINT NOT NULL REFERENCES users(id),
        delivered_at {ts} NULL,
        delivery_confirmed_by BIGINT NULL REFERENCES users(id),
        created_at {ts} NOT NULL
    )",
    "CREATE TABLE receivables (
        id {pk},
        order_id BIGINT NOT NULL UNIQUE REFERENCES sales_orders(id),
        agent_id BIGINT NOT NULL REFERENCES agents(id),
        region_id BIGINT NOT NULL REFERENCES regions(id),
        amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
        outstanding_fen BIGINT NOT NULL CHECK (outstanding_fen >= 0),
        due_on {date} NOT NULL,
        created_at {ts} NOT NULL,
        settled_at {ts} NULL
    )",
    "CREATE INDEX receivables_agent ON receivables(agent_id)",
    "CREATE TABLE invoice_infos (
        id {pk},
        order_id BIGINT NOT NULL UNIQUE REFERENCES sales_orders(id),
        title TEXT NOT NULL,
        tax_number TEXT NOT NULL,
        bank_name TEXT NOT NULL,
        bank_account TEXT NOT NULL,
        mailing_address TEXT NOT NULL,
        collected_by BIGINT NOT NULL REFERENCES users(id),
        collected_at {ts} NOT NULL
    )",
    "CREATE TABLE invoices (
        id {pk},
        order_id BIGINT NOT NULL UNIQUE REFERENCES sales_orders(id),
        invoice_number TEXT NOT NULL UNIQUE,
        amount_fen BIGINT NOT NULL CHECK (amount_fen >= 0),
        issued_by BIGINT NOT NULL REFERENCES users(id),
        issued_at {ts} NOT NULL,
        mailed_by BIGINT NULL REFERENCES users(id),
        mailed_at {ts} NULL,
        mail_carrier TEXT NULL,
        mail_tracking TEXT NULL,
        expected_arrival_on {date} NULL,
        receipt_confirmed_by BIGINT NULL REFERENCES users(id),
        receipt_confirmed_at {ts} NULL
    )",
    "CREATE TABLE audit_log (
        id {pk},
        stream TEXT NOT NULL,
        seq BIGINT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        actor_id BIGINT NULL,
        actor_position TEXT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        entity_type TEXT NULL,
        entity_id BIGINT NULL,
        before_json TEXT NULL,
        after_json TEXT NULL,
        detail TEXT NULL,
        occurred_at {ts} NOT NULL,
        UNIQUE (stream, seq)
    )",
    "CREATE INDEX audit_log_entity ON audit_log(entity_type, entity_id)",
    "CREATE TABLE notifications (
        id {pk},
        user_id BIGINT NOT NULL REFERENCES users(id),
        order_id BIGINT NULL REFERENCES sales_orders(id),
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at {ts} NOT NULL,
        read_at {ts} NULL
    )",
    "CREATE INDEX notifications_user ON notifications(user_id, id)",
    "CREATE TABLE idempotency_keys (
        user_id BIGINT NOT NULL REFERENCES users(id),
        idem_key TEXT NOT NULL,
        operation TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        response_json TEXT NOT NULL,
        created_at {ts} NOT NULL,
        PRIMARY KEY (user_id, idem_key)
    )",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let conn = manager.get_connection();
        for ddl in DDL {
            conn.execute_unprepared(&crate::render_ddl(backend, ddl))
                .await?;
        }
        Ok(())
    }
}
