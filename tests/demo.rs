//! `salesguard demo`: the plan raises exactly the planted signals (by the
//! definitions of docs/signals.md), and both sinks load it.
use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate};
use sea_orm::{ConnectionTrait, Statement};

use salesguard_demo::check::expected_signals;
use salesguard_demo::scenario::{AgentRole, Config, World};
use salesguard_demo::{bulk, config, workflow, DemoArgs};
use salesguard_testkit::Server;

fn cfg(seed: u64, size: f64, as_of: NaiveDate) -> Config {
    Config {
        seed,
        as_of,
        size,
        suffix: String::new(),
        company_code: "SC".into(),
    }
}

type Key = (String, String, String, Option<String>);

/// The signals the plan raises equal the planted ones, at the planted
/// severity: the clean data raises nothing.
fn assert_exactly_planted(w: &World) {
    let act = w.all_activity();
    let got = expected_signals(w, &act);
    let got_keys: BTreeSet<Key> = got
        .iter()
        .map(|e| {
            (
                e.kind.to_owned(),
                e.rule.to_owned(),
                e.subject.clone(),
                e.product.clone(),
            )
        })
        .collect();
    let want: BTreeSet<Key> = w
        .planted
        .iter()
        .map(|p| {
            (
                p.kind.to_owned(),
                p.rule.to_owned(),
                p.subject.clone(),
                p.product.clone(),
            )
        })
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|e| {
            !want.contains(&(
                e.kind.to_owned(),
                e.rule.to_owned(),
                e.subject.clone(),
                e.product.clone(),
            ))
        })
        .collect();
    let missing: Vec<_> = want.difference(&got_keys).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "seed {} size {} as of {}: not planted but raised {extra:?}; planted but not raised {missing:?}",
        w.cfg.seed,
        w.cfg.size,
        w.cfg.as_of
    );
    for p in w.planted.iter().filter(|p| !p.severity.is_empty()) {
        let e = got.iter().find(|e| {
            e.kind == p.kind && e.rule == p.rule && e.subject == p.subject && e.product == p.product
        });
        assert_eq!(
            e.map(|e| e.severity),
            Some(p.severity),
            "seed {} size {}: {p:?} raised as {e:?}",
            w.cfg.seed,
            w.cfg.size
        );
    }
}

#[test]
fn the_plan_raises_exactly_the_planted_signals() {
    let days = [
        NaiveDate::from_ymd_opt(2026, 11, 29),
        NaiveDate::from_ymd_opt(2026, 3, 2),
        NaiveDate::from_ymd_opt(2025, 7, 31),
    ];
    let mut failures = vec![];
    for (i, day) in days.into_iter().enumerate() {
        let day = day.unwrap_or_default();
        for seed in [42, 1, 7 + i as u64, 1234] {
            for size in [0.2, 0.5, 1.0, 3.0] {
                let w = World::build(cfg(seed, size, day));
                if let Err(e) = std::panic::catch_unwind(|| assert_exactly_planted(&w)) {
                    failures.push(e.downcast_ref::<String>().cloned().unwrap_or_default());
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_plan_is_deterministic() {
    let day = NaiveDate::from_ymd_opt(2026, 6, 15).unwrap_or_default();
    let a = World::build(cfg(42, 1.0, day)).all_activity();
    let b = World::build(cfg(42, 1.0, day)).all_activity();
    assert_eq!(format!("{:?}", a.orders), format!("{:?}", b.orders));
    assert_eq!(
        format!("{:?}", a.sell_through),
        format!("{:?}", b.sell_through)
    );
    let c = World::build(cfg(43, 1.0, day)).all_activity();
    assert_ne!(format!("{:?}", a.orders), format!("{:?}", c.orders));
}

async fn scalar(server: &Server, sql: &str) -> i64 {
    server.scalar(sql).await.expect("query")
}

async fn strings(server: &Server, sql: &str) -> Vec<String> {
    let db = &server.app.db.read;
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).expect("text"))
        .collect()
}

fn well_formed(number: &str, doc: &str) -> bool {
    let Some(rest) = number.strip_prefix("SC") else {
        return false;
    };
    rest.len() >= 8 + doc.len() + 4
        && rest[..8].bytes().all(|b| b.is_ascii_digit())
        && rest[8..].starts_with(doc)
        && rest[8 + doc.len()..].bytes().all(|b| b.is_ascii_digit())
}

fn args(size: f64, bulk: bool) -> DemoArgs {
    DemoArgs {
        seed: 42,
        size,
        as_of: None,
        bulk,
        force: false,
        dry_run: false,
    }
}

/// The planted over-capacity agent really bought > 2.5x its region's
/// capacity, and the diverting agent's serials really turned up elsewhere.
async fn assert_planted_in_db(server: &Server, w: &World) {
    // Every demo user has a mailbox, so the weekly reports can be mailed.
    assert_eq!(
        scalar(
            server,
            "SELECT COUNT(*) FROM users WHERE email IS NULL AND username <> 'admin'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            server,
            "SELECT COUNT(*) FROM users WHERE email = 'manager@example.com'"
        )
        .await,
        1
    );
    let d = w.cfg.as_of;
    let cap_agent = &w.agents[w
        .agent_by_role(|r| *r == AgentRole::OverCapacity)
        .expect("over-capacity agent")];
    let since = d - Duration::days(89);
    let units = scalar(
        server,
        &format!(
            "SELECT COUNT(*) FROM serial_units s JOIN agents a ON a.id = s.agent_id \
             WHERE a.code = '{}' AND s.shipped_at >= '{}'",
            cap_agent.code,
            since - Duration::days(1)
        ),
    )
    .await;
    let cap = scalar(
        server,
        &format!(
            "SELECT r.market_capacity FROM regions r JOIN agents a ON a.region_id = r.id WHERE a.code = '{}'",
            cap_agent.code
        ),
    )
    .await;
    assert!(cap > 0);
    let annual = units as f64 * 365.0 / 90.0;
    assert!(
        annual > 2.5 * cap as f64,
        "{units} units in 90 days vs capacity {cap}"
    );

    let div = &w.agents[w
        .agent_by_role(|r| matches!(r, AgentRole::Diverting { .. }))
        .expect("diverting agent")];
    let diverted = scalar(
        server,
        &format!(
            "SELECT COUNT(DISTINCT s.serial) FROM serial_units s JOIN agents a ON a.id = s.agent_id \
             JOIN sell_through t ON t.serial = s.serial \
             WHERE a.code = '{}' AND t.sold_region_id <> s.region_id",
            div.code
        ),
    )
    .await;
    let located = scalar(
        server,
        &format!(
            "SELECT COUNT(DISTINCT s.serial) FROM serial_units s JOIN agents a ON a.id = s.agent_id \
             JOIN sell_through t ON t.serial = s.serial WHERE a.code = '{}' AND t.sold_on >= '{}'",
            div.code, since
        ),
    )
    .await;
    assert!(diverted >= 3, "{diverted} diverted serials");
    assert!(
        diverted as f64 / located as f64 > 0.25,
        "{diverted} of {located}"
    );
    let seen_elsewhere = scalar(
        server,
        &format!(
            "SELECT COUNT(*) FROM unit_sightings u JOIN serial_units s ON s.serial = u.serial \
             JOIN agents a ON a.id = s.agent_id WHERE a.code = '{}' AND u.region_id <> s.region_id",
            div.code
        ),
    )
    .await;
    assert!(seen_elsewhere > 0);
}

async fn assert_numbers(server: &Server) {
    for (table, col, doc) in [
        ("sales_orders", "number", "DD"),
        ("contracts", "number", "HT"),
        ("shipping_notices", "number", "FHTZ"),
    ] {
        let numbers = strings(server, &format!("SELECT {col} FROM {table}")).await;
        assert!(!numbers.is_empty());
        let unique: BTreeSet<&String> = numbers.iter().collect();
        assert_eq!(unique.len(), numbers.len(), "{table}: duplicate numbers");
        for n in &numbers {
            assert!(well_formed(n, doc), "{table}: {n}");
        }
    }
    // The counters know every number: the next one continues the sequence.
    let behind = scalar(
        server,
        "SELECT COUNT(*) FROM sales_orders o WHERE NOT EXISTS (SELECT 1 FROM doc_sequences s \
         WHERE s.doc_type = 'DD' AND s.business_day = substr(o.number, 3, 8) \
         AND s.last_value >= CAST(substr(o.number, 13) AS INTEGER))",
    )
    .await;
    assert_eq!(behind, 0);
}

#[tokio::test]
async fn the_workflow_sink_loads_the_plan_through_the_api() {
    let server = Server::start(None).await.expect("server");
    let app = server.app.clone();
    let cfg = config(&app, &args(0.2, false)).await.expect("config");
    let w = World::build(cfg);
    let act = w.all_activity();
    let started = std::time::Instant::now();
    let report = workflow::load(&app, &w).await.expect("workflow load");
    eprintln!("workflow sink: {report:?} in {:?}", started.elapsed());
    assert_eq!(
        scalar(&server, "SELECT COUNT(*) FROM sales_orders").await,
        act.orders.len() as i64
    );
    let shipped = act.orders.iter().filter(|o| o.ship_on.is_some()).count() as i64;
    assert!(shipped > 100);
    assert_eq!(
        scalar(&server, "SELECT COUNT(*) FROM shipments").await,
        shipped
    );
    let serials: usize = act.orders.iter().map(|o| o.serials.len()).sum();
    assert_eq!(
        scalar(&server, "SELECT COUNT(*) FROM serial_units").await,
        serials as i64
    );
    assert_eq!(
        scalar(&server, "SELECT COUNT(*) FROM sell_through").await,
        act.sell_through.len() as i64
    );
    assert_eq!(
        scalar(&server, "SELECT COUNT(*) FROM unit_sightings").await,
        act.sightings.len() as i64
    );
    assert_eq!(
        scalar(&server, "SELECT COUNT(*) FROM price_observations").await,
        act.prices.len() as i64
    );
    assert_eq!(
        scalar(&server, "SELECT COUNT(*) FROM forecasts").await,
        act.forecasts.len() as i64
    );
    assert!(
        scalar(
            &server,
            "SELECT COUNT(*) FROM sales_orders WHERE status = 'ARCHIVED'"
        )
        .await
            > 0
    );
    // Through the workflow: every step left an audit record and notified.
    assert!(scalar(&server, "SELECT COUNT(*) FROM audit_log").await > 10 * shipped);
    assert!(scalar(&server, "SELECT COUNT(*) FROM notifications").await > shipped);
    // Receivables: the planted agent's outstanding balance is its open
    // receivables.
    let ar = scalar(
        &server,
        "SELECT COUNT(*) FROM agents a WHERE a.ar_outstanding_fen <> \
         (SELECT COALESCE(SUM(outstanding_fen), 0) FROM receivables r WHERE r.agent_id = a.id)",
    )
    .await;
    assert_eq!(ar, 0);
    assert!(!w.planted.is_empty());
    assert_planted_in_db(&server, &w).await;
    assert_numbers(&server).await;
    // A second run is refused.
    assert!(config(&app, &args(0.2, false)).await.is_err());
}

#[tokio::test]
async fn the_bulk_sink_writes_the_same_plan_as_rows() {
    let server = Server::start(None).await.expect("server");
    let app = server.app.clone();
    let cfg = config(&app, &args(1.0, true)).await.expect("config");
    let w = World::build(cfg);
    let act = w.all_activity();
    let report = bulk::load(&app, &w).await.expect("bulk load");
    eprintln!("bulk sink: {report:?}");
    let shipped = act.orders.iter().filter(|o| o.ship_on.is_some()).count() as i64;
    let lines: usize = act.orders.iter().map(|o| o.lines.len()).sum();
    let serials: usize = act.orders.iter().map(|o| o.serials.len()).sum();
    for (sql, want) in [
        ("SELECT COUNT(*) FROM sales_orders", act.orders.len() as i64),
        ("SELECT COUNT(*) FROM order_lines", lines as i64),
        ("SELECT COUNT(*) FROM shipments", shipped),
        ("SELECT COUNT(*) FROM shipping_notices", shipped),
        ("SELECT COUNT(*) FROM serial_units", serials as i64),
        (
            "SELECT COUNT(*) FROM sell_through",
            act.sell_through.len() as i64,
        ),
        (
            "SELECT COUNT(*) FROM unit_sightings",
            act.sightings.len() as i64,
        ),
        (
            "SELECT COUNT(*) FROM price_observations",
            act.prices.len() as i64,
        ),
        ("SELECT COUNT(*) FROM forecasts", act.forecasts.len() as i64),
        ("SELECT COUNT(*) FROM agents", w.agents.len() as i64),
        (
            "SELECT COUNT(*) FROM price_list",
            3 * w.products.len() as i64,
        ),
    ] {
        assert_eq!(scalar(&server, sql).await, want, "{sql}");
    }
    assert_eq!(report.orders, act.orders.len() as u64);
    // Totals agree with the lines; receivables with the agents' balances.
    assert_eq!(
        scalar(
            &server,
            "SELECT COUNT(*) FROM sales_orders o WHERE total_fen <> \
             (SELECT SUM(amount_fen) FROM order_lines l WHERE l.order_id = o.id)"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &server,
            "SELECT COUNT(*) FROM agents a WHERE a.ar_outstanding_fen <> \
             (SELECT COALESCE(SUM(outstanding_fen), 0) FROM receivables r WHERE r.agent_id = a.id)"
        )
        .await,
        0
    );
    assert_planted_in_db(&server, &w).await;
    assert_numbers(&server).await;
    // The demo users can sign in with the demo password.
    let c = server.client();
    c.login("sales1.huabei", salesguard_demo::DEMO_PASSWORD)
        .await
        .expect("login");
    // Readable through the API.
    let mgr = c
        .login("manager", salesguard_demo::DEMO_PASSWORD)
        .await
        .expect("login");
    let d = mgr
        .data("{salesOrders(first:1, filter:{status:[ARCHIVED]}){totalCount edges{node{number total lines{quantity} shipment{shippedAt}}}}}", serde_json::json!({}))
        .await
        .expect("query");
    assert!(d["salesOrders"]["totalCount"].as_i64().unwrap_or(0) > 0);
}
