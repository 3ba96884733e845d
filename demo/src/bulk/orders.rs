//! The rows of one order: the order and its lines, the contract, the
//! shipment exception, payments, the shipping notice and shipment, the
//! receivable, the invoice and the shipped units, as far as the order got.
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use salesguard_api::AppState;
use salesguard_domain::DocType;

use super::super::scenario::{Agent, Order, Stage, World};
use super::master::Master;
use super::sink::Sink;
use super::{at, Tally};

/// An order with what its rows refer to.
struct Doc<'a> {
    app: &'a AppState,
    company: &'a str,
    m: &'a Master,
    o: &'a Order,
    agent: &'a Agent,
    agent_id: i64,
    region_id: i64,
    address: String,
    /// Users: the agent's region group's assistant and supervisor, the
    /// order's salesperson, finance, the warehouse keeper and management.
    assistant: i64,
    supervisor: i64,
    sales: i64,
    finance: i64,
    keeper: i64,
    manager: i64,
    filed: DateTime<Utc>,
    total: i64,
    /// Paid by the as-of day.
    paid: i64,
    fully_paid_at: Option<DateTime<Utc>>,
    ship_at: Option<DateTime<Utc>>,
    archived_at: Option<DateTime<Utc>>,
}

/// Writes the rows of order `o`.
pub(super) fn order_rows(
    s: &mut Sink,
    app: &AppState,
    w: &World,
    m: &Master,
    o: &Order,
    tally: &mut Tally,
) {
    let c = doc(app, w, m, o);
    let (oid, number) = sales_order(s, &c);
    tally.report.orders += 1;
    lines(s, &c, oid);
    if o.stage == Stage::Filed {
        return;
    }
    contract(s, &c, oid);
    let exception_id = exception(s, &c, oid);
    payments(s, &c, oid, w.cfg.as_of);
    let (Some(ship_on), Some(ship)) = (o.ship_on, c.ship_at) else {
        return;
    };
    tally.report.shipped += 1;
    let sid = shipment(s, &c, oid, &number, exception_id, ship_on, ship);
    if o.exception {
        receivable(s, &c, oid, ship_on, ship, &mut tally.ar);
    }
    if let Some(arch) = c.archived_at {
        invoice(s, &c, oid, arch);
    }
    for (p, serial) in &o.serials {
        let id = s.id("serial_units");
        s.buf("serial_units")
            .begin()
            .int(id)
            .text(serial)
            .int(m.products[*p])
            .int(oid)
            .int(sid)
            .int(c.agent_id)
            .int(c.region_id)
            .ts(ship)
            .end();
        *tally.shipped_units.entry(*p).or_default() += 1;
    }
    tally.report.serials += o.serials.len() as u64;
}

fn doc<'a>(app: &'a AppState, w: &'a World, m: &'a Master, o: &'a Order) -> Doc<'a> {
    let d = w.cfg.as_of;
    let agent = &w.agents[o.agent];
    let team = &w.teams[w.regions[agent.region].group];
    let filed = at(app, o.filed_on, 0);
    let total = o.total_fen();
    let paid = o.paid_by(d);
    let last_payment = o.payments.iter().filter(|p| p.on <= d).map(|p| p.on).max();
    let fully_paid_at =
        (paid == total && total > 0).then(|| at(app, last_payment.unwrap_or(o.filed_on), 5));
    let ship_at = o.ship_on.map(|day| at(app, day, 0));
    let archived_at = (o.stage == Stage::Archived)
        .then(|| at(app, o.ship_on.unwrap_or(o.filed_on) + Duration::days(12), 0));
    Doc {
        app,
        company: &w.cfg.company_code,
        m,
        o,
        agent,
        agent_id: m.agents[o.agent],
        region_id: m.regions[agent.region],
        address: w.agent_address(agent),
        assistant: m.users[team.assistant],
        supervisor: m.users[team.supervisor],
        sales: m.users[o.salesperson],
        finance: m.users[w.staff.finance],
        keeper: m.users[w.staff.warehouse],
        manager: m.users[w.staff.management],
        filed,
        total,
        paid,
        fully_paid_at,
        ship_at,
        archived_at,
    }
}

/// The order row; returns its id and number.
fn sales_order(s: &mut Sink, c: &Doc) -> (i64, String) {
    let o = c.o;
    let status = match o.stage {
        Stage::Filed => "FILED",
        Stage::PendingApproval => "PENDING_APPROVAL",
        Stage::AtFinance => "AT_FINANCE",
        Stage::Shipped => "SHIPPED",
        Stage::Archived => "ARCHIVED",
    };
    let version = match o.stage {
        Stage::Filed => 0,
        Stage::PendingApproval => 2,
        Stage::AtFinance => 5,
        Stage::Shipped => 10 + o.payments.len() as i64,
        Stage::Archived => 15 + o.payments.len() as i64,
    };
    let updated = c.archived_at.or(c.ship_at).unwrap_or(c.filed);
    let oid = s.id("sales_orders");
    let number = s.number(DocType::SalesOrder, o.filed_on, c.company);
    s.buf("sales_orders")
        .begin()
        .int(oid)
        .text(&number)
        .int(c.agent_id)
        .int(c.region_id)
        .int(c.sales)
        .text(status)
        .text(&c.address)
        .int(o.terms_days)
        .int(c.total)
        .int(c.paid)
        .opt_ts(c.fully_paid_at)
        .opt_int(c.fully_paid_at.map(|_| c.finance))
        .opt_ts(c.archived_at)
        .opt_date(c.ship_at.map(|t| t.with_timezone(&c.app.tz).date_naive()))
        .int(version)
        .ts(c.filed)
        .ts(updated)
        .end();
    (oid, number)
}

fn lines(s: &mut Sink, c: &Doc, oid: i64) {
    for (i, l) in c.o.lines.iter().enumerate() {
        let id = s.id("order_lines");
        s.buf("order_lines")
            .begin()
            .int(id)
            .int(oid)
            .int(i as i64 + 1)
            .int(c.m.products[l.product])
            .int(l.qty)
            .int(l.unit_fen)
            .int(l.qty * l.unit_fen)
            .end();
    }
}

/// The contract: signed, or waiting for approval.
fn contract(s: &mut Sink, c: &Doc, oid: i64) {
    let o = c.o;
    let signed = o.stage != Stage::PendingApproval;
    let cid = s.id("contracts");
    let cnum = s.number(DocType::Contract, o.filed_on, c.company);
    let drafted = c.filed + Duration::hours(1);
    let decided = signed.then(|| c.filed + Duration::hours(3));
    let signed_at = signed.then(|| c.filed + Duration::hours(4));
    let terms = format!(
        "Delivery within 5 days of payment; payment due {} days after shipment.",
        o.terms_days
    );
    s.buf("contracts")
        .begin()
        .int(cid)
        .text(&cnum)
        .int(oid)
        .text(if signed { "SIGNED" } else { "PENDING_APPROVAL" })
        .text(&terms)
        .int(c.assistant)
        .int(c.assistant)
        .ts(drafted)
        .opt_int(signed.then_some(c.supervisor))
        .opt_ts(decided)
        .null()
        .opt_text(signed.then_some("ON_SITE"))
        .opt_int(signed.then_some(c.sales))
        .opt_ts(signed_at)
        .null()
        .ts(drafted)
        .ts(signed_at.unwrap_or(drafted))
        .end();
}

/// The shipment exception of an order shipped before payment; returns its
/// id.
fn exception(s: &mut Sink, c: &Doc, oid: i64) -> Option<i64> {
    if !c.o.exception {
        return None;
    }
    let ship = c.ship_at?;
    let id = s.id("shipment_exceptions");
    s.buf("shipment_exceptions")
        .begin()
        .int(id)
        .int(oid)
        .int(c.total)
        .text("agent's peak season: ship now, pay within terms")
        .ts(ship + Duration::days(7))
        .int(c.manager)
        .ts(ship - Duration::hours(20))
        .ts(ship)
        .end();
    Some(id)
}

/// The payments received by the as-of day `d`.
fn payments(s: &mut Sink, c: &Doc, oid: i64, d: NaiveDate) {
    let o = c.o;
    for (k, p) in o.payments.iter().filter(|p| p.on <= d).enumerate() {
        let id = s.id("payments");
        let reference = format!("BANK-{}-{k}", o.ref_code);
        s.buf("payments")
            .begin()
            .int(id)
            .int(oid)
            .int(p.amount_fen)
            .date(p.on)
            .text(&reference)
            .int(c.finance)
            .ts(at(c.app, p.on, 5))
            .end();
    }
}

/// The shipping notice and the shipment; returns the shipment's id.
fn shipment(
    s: &mut Sink,
    c: &Doc,
    oid: i64,
    number: &str,
    exception_id: Option<i64>,
    ship_on: NaiveDate,
    ship: DateTime<Utc>,
) -> i64 {
    let o = c.o;
    let nid = s.id("shipping_notices");
    let nnum = s.number(DocType::ShippingNotice, ship_on, c.company);
    let hash = notice_hash(number, c.agent_id, &c.address, o, c.m);
    s.buf("shipping_notices")
        .begin()
        .int(nid)
        .text(&nnum)
        .int(oid)
        .int(c.m.warehouse)
        .text(&verification_code(o.key))
        .text(&hash)
        .opt_int(exception_id)
        .int(c.assistant)
        .ts(ship - Duration::hours(2))
        .ts(ship)
        .end();
    let sid = s.id("shipments");
    let delivered = (ship + Duration::days(2)).min(Utc::now() - Duration::minutes(1));
    let tracking = format!("SF{}", o.ref_code);
    s.buf("shipments")
        .begin()
        .int(sid)
        .int(oid)
        .int(nid)
        .int(c.m.warehouse)
        .text("SF Express")
        .text(&tracking)
        .ts(ship)
        .int(c.keeper)
        .ts(delivered)
        .int(c.keeper)
        .ts(ship)
        .end();
    sid
}

/// The receivable of an order shipped on exception; adds what is still
/// open to its agent's outstanding receivables in `ar`.
fn receivable(
    s: &mut Sink,
    c: &Doc,
    oid: i64,
    ship_on: NaiveDate,
    ship: DateTime<Utc>,
    ar: &mut BTreeMap<i64, i64>,
) {
    let id = s.id("receivables");
    let outstanding = c.total - c.paid;
    if outstanding > 0 {
        *ar.entry(c.agent_id).or_default() += outstanding;
    }
    let settled = (outstanding == 0).then(|| c.fully_paid_at.unwrap_or(ship));
    s.buf("receivables")
        .begin()
        .int(id)
        .int(oid)
        .int(c.agent_id)
        .int(c.region_id)
        .int(c.total)
        .int(outstanding)
        .date(ship_on + Duration::days(c.o.terms_days))
        .ts(ship)
        .opt_ts(settled)
        .end();
}

/// The invoice information and the invoice of an archived order.
fn invoice(s: &mut Sink, c: &Doc, oid: i64, arch: DateTime<Utc>) {
    let (o, agent) = (c.o, c.agent);
    let id = s.id("invoice_infos");
    let tax = format!("91110000{:010}", o.agent);
    let account = format!("0200{:012}", o.agent);
    let mail = format!("{} Road 1", agent.name);
    s.buf("invoice_infos")
        .begin()
        .int(id)
        .int(oid)
        .text(&agent.name)
        .text(&tax)
        .text("ICBC")
        .text(&account)
        .text(&mail)
        .int(c.sales)
        .ts(arch - Duration::days(6))
        .end();
    let id = s.id("invoices");
    let inv = format!("INV{}", o.ref_code);
    let ems = format!("EMS{}", o.ref_code);
    s.buf("invoices")
        .begin()
        .int(id)
        .int(oid)
        .text(&inv)
        .int(c.total)
        .int(c.finance)
        .ts(arch - Duration::days(5))
        .int(c.assistant)
        .ts(arch - Duration::days(4))
        .text("EMS")
        .text(&ems)
        .date((arch - Duration::days(1)).date_naive())
        .int(c.assistant)
        .ts(arch - Duration::hours(1))
        .end();
}

fn notice_hash(number: &str, agent_id: i64, address: &str, o: &Order, m: &Master) -> String {
    let mut h = Sha256::new();
    h.update(
        format!(
            "{}|{}|{}|{}|{}|{}",
            number,
            agent_id,
            address,
            o.total_fen(),
            m.warehouse,
            o.lines.len()
        )
        .as_bytes(),
    );
    for l in &o.lines {
        h.update(format!("|{}:{}:{}", m.products[l.product], l.qty, l.unit_fen).as_bytes());
    }
    hex::encode(h.finalize())
}

fn verification_code(key: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut x = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..8)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            ALPHABET[(x >> 40) as usize % ALPHABET.len()] as char
        })
        .collect()
}
