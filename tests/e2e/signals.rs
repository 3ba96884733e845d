//! The risk signals end to end: anomalies planted through the API (orders
//! driven through the real workflow, backdated where the API allows it),
//! the worker's computation over the database, the stored signals. Clean
//! data of the same size raises nothing; a signal that stops holding is
//! cleared and its history kept; a separate `salesguard worker` process
//! picks up a change made through the API.
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};

use salesguard_entities::model::{forecast, risk_signal, risk_signal_change};
use salesguard_testkit::chain::ok;
use salesguard_testkit::world::{create_user, Team};
use salesguard_testkit::{Client, Server, World};
use salesguard_worker::{recompute_now, RecomputeSignals};

pub(crate) fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
}

/// The 15th of the month `k` months before this one.
fn mid_month(k: i32) -> NaiveDate {
    let t = today();
    let m = t.year() * 12 + t.month0() as i32 - k;
    NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 15).unwrap_or(t)
}

fn days_before(d: NaiveDate) -> i64 {
    (today() - d).num_days()
}

/// One order of `qty` × `product` at `price` for the team's agent, driven
/// through the chain and shipped `days_ago` days ago: paid in full the day
/// before, or (`paid` false) shipped unpaid on a management exception.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn ship(
    w: &World,
    team: &Team,
    product: &str,
    qty: i64,
    price: &str,
    days_ago: i64,
    paid: bool,
    serials: &[String],
) -> Value {
    let order = ok(
        &team.sales,
        "salesOrderCreate",
        json!({"agentId": team.agent, "paymentTermsDays": 30,
               "lines": [{"productId": product, "quantity": qty, "unitPrice": price}]}),
    )
    .await
    .expect("file");
    let order = w
        .advance_to(team, order, "salesOrderForwardToFinance")
        .await
        .expect("to finance");
    let id = order["id"].clone();
    let shipped_at = Utc::now() - chrono::Duration::days(days_ago);
    if paid {
        let received = today() - chrono::Duration::days(days_ago + 1);
        ok(
            &w.finance,
            "paymentRecord",
            json!({"orderId": id, "amount": order["balanceDue"], "receivedOn": received.to_string(),
                   "reference": "BANK"}),
        )
        .await
        .expect("pay");
        ok(&w.finance, "paymentConfirmFull", json!({"orderId": id}))
            .await
            .expect("confirm");
    } else {
        ok(
            &w.management,
            "shipmentExceptionApprove",
            json!({"orderId": id, "amount": order["balanceDue"], "reason": "Key agent, season",
                   "expiresAt": (Utc::now() + chrono::Duration::days(1)).to_rfc3339()}),
        )
        .await
        .expect("exception");
    }
    let order = ok(
        &team.assistant,
        "shippingNoticeIssue",
        json!({"orderId": id, "warehouseId": w.warehouse}),
    )
    .await
    .expect("notice");
    let serials: Vec<Value> = serials
        .iter()
        .map(|s| json!({"productId": product, "serial": s}))
        .collect();
    ok(
        &w.warehouse_keeper,
        "shipmentShip",
        json!({"noticeNumber": order["shippingNotice"]["number"],
               "verificationCode": order["shippingNotice"]["verificationCode"],
               "carrier": "SF", "trackingNumber": "SF1", "shippedAt": shipped_at.to_rfc3339(),
               "serials": if serials.is_empty() { Value::Null } else { Value::Array(serials) }}),
    )
    .await
    .expect("ship")
}

pub(crate) async fn sell(c: &Client, agent: &str, rows: Value) {
    let q = "mutation($i:SellThroughRecordInput!){sellThroughRecord(input:$i){result{accepted rejected{row message}} userErrors{code message}}}";
    let d = c
        .data(q, json!({"i": {"agentId": agent, "rows": rows}}))
        .await
        .expect("sell-through");
    assert!(
        d["sellThroughRecord"]["result"]["rejected"]
            .as_array()
            .is_some_and(|r| r.is_empty()),
        "{d}"
    );
}

pub(crate) fn id_of(node_id: &str) -> i64 {
    salesguard_api::graphql::ids::parse(node_id)
        .map(|(_, id)| id)
        .expect("a node id")
}

/// A third region with a market capacity of `capacity` units a year and a
/// sales team and agent of its own.
async fn east_team(w: &World, capacity: i64) -> Team {
    let q =
        "mutation($i:RegionCreateInput!){regionCreate(input:$i){region{id} userErrors{message}}}";
    let d = w
        .admin
        .data(
            q,
            json!({"i": {"code": "EAST", "name": "East", "marketCapacity": capacity}}),
        )
        .await
        .expect("region");
    let region = d["regionCreate"]["region"]["id"]
        .as_str()
        .expect("region id")
        .to_owned();
    let q = "mutation($i:AgentCreateInput!){agentCreate(input:$i){agent{id} userErrors{message}}}";
    let d = w
        .admin
        .data(
            q,
            json!({"i": {"code": "AG-E", "name": "Agent East", "regionId": region, "creditLimit": "100000.00",
                        "address": "1 East Road", "contactName": "Wang", "phone": "021-1234567"}}),
        )
        .await
        .expect("agent");
    let agent = d["agentCreate"]["agent"]["id"]
        .as_str()
        .expect("agent id")
        .to_owned();
    let user = |name: &'static str, position: &'static str| {
        let region = region.clone();
        async move {
            create_user(&w.admin, name, position, &[&region], false)
                .await
                .expect("user")
        }
    };
    Team {
        region: region.clone(),
        sales: user("sales.east", "SALESPERSON").await,
        assistant: user("assistant.east", "SALES_ASSISTANT").await,
        supervisor: user("supervisor.east", "SUPERVISOR").await,
        agent,
    }
}

async fn price_setup(w: &World, dealer_price: &str) {
    let q = "mutation($i:PriceListSetInput!){priceListSet(input:$i){userErrors{message}}}";
    let d = w
        .management
        .data(
            q,
            json!({"i": {"productId": w.product, "tier": "DEALER", "price": "2500.00", "floorPrice": "2200.00"}}),
        )
        .await
        .expect("price list");
    assert_eq!(d["priceListSet"]["userErrors"], json!([]), "{d}");
    let market = create_user(&w.admin, "market", "MARKET_SPECIALIST", &[], true)
        .await
        .expect("market specialist");
    let day = (today() - chrono::Duration::days(2)).to_string();
    let rows: Vec<Value> = (0..3)
        .map(|_| {
            json!({"productId": w.product, "regionId": w.north.region, "tier": "DEALER",
                   "price": dealer_price, "observedOn": day})
        })
        .collect();
    let q = "mutation($i:PriceObservationRecordInput!){priceObservationRecord(input:$i){result{accepted} userErrors{message}}}";
    let d = market
        .data(q, json!({"i": {"rows": rows}}))
        .await
        .expect("observations");
    assert_eq!(d["priceObservationRecord"]["result"]["accepted"], 3, "{d}");
}

/// Forecasts of the north salesperson for the spare part, for the six
/// months before this one, as they were submitted then (the API takes
/// forecasts from last month on, so history is written directly).
async fn past_forecasts(server: &Server, w: &World, quantities: [i64; 6]) {
    let me = w
        .north
        .sales
        .data("{viewer{id}}", json!({}))
        .await
        .expect("viewer")["viewer"]["id"]
        .as_str()
        .map(id_of)
        .expect("my id");
    for (k, q) in (1..=6).zip(quantities) {
        let period = mid_month(k).format("%Y-%m").to_string();
        let at = Utc::now() - chrono::Duration::days(days_before(mid_month(k)) + 20);
        forecast::ActiveModel {
            period: Set(period),
            region_id: Set(id_of(&w.north.region)),
            product_id: Set(id_of(&w.part)),
            salesperson_id: Set(me),
            quantity: Set(q),
            submitted_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        }
        .insert(&server.app.db.write)
        .await
        .expect("forecast");
    }
}

/// The same volume of business, with anomalies (`planted`) or without.
async fn business(server: &Server, w: &World, planted: bool) {
    let south = w.south.clone();
    let north = w.north.clone();
    // South: 1 unit shipped 100 days ago and 3 units 20 days ago, on
    // exception (planted: AR 20,000 / sales 15,000 against 5,000 / 5,000
    // before: DSRI 1.33; the first is 70 days past due) or paid.
    ship(w, &south, &w.product, 1, "5000.00", 100, !planted, &[]).await;
    ship(w, &south, &w.product, 3, "5000.00", 20, !planted, &[]).await;
    // North: 5 units with serials, 10 days ago, at 2,000.
    let serials: Vec<String> = (1..=5).map(|i| format!("N-{i}")).collect();
    ship(w, &north, &w.product, 5, "2000.00", 10, true, &serials).await;
    // North spare parts: 4 a month for six months.
    for k in 1..=6 {
        ship(
            w,
            &north,
            &w.part,
            4,
            "50.00",
            days_before(mid_month(k)),
            true,
            &[],
        )
        .await;
    }
    past_forecasts(
        server,
        w,
        if planted {
            [10; 6] // F 10 vs A 4 every month: TS −6, bias 1.5
        } else {
            [5, 3, 5, 3, 5, 3] // errors alternate: TS 0
        },
    )
    .await;
    // East: capacity 20 a year; planted: 10 units in 5 days ago
    // (10 × 365/90 / 20 = 2.03).
    let east = east_team(w, 20).await;
    ship(
        w,
        &east,
        &w.product,
        if planted { 10 } else { 1 },
        "2000.00",
        5,
        true,
        &[],
    )
    .await;
    // North sells three serials: planted in the South below cost (1,500),
    // clean at home at 2,100; clean also sells 20 more at home.
    let day = (today() - chrono::Duration::days(2)).to_string();
    let (region, price) = if planted {
        (&w.south.region, "1500.00")
    } else {
        (&w.north.region, "2100.00")
    };
    let mut rows: Vec<Value> = serials[..3]
        .iter()
        .map(|s| {
            json!({"productId": w.product, "serial": s, "quantity": 1, "salePrice": price,
                   "regionId": region, "soldOn": day})
        })
        .collect();
    if !planted {
        rows.push(
            json!({"productId": w.part, "quantity": 20, "salePrice": "60.00",
                         "regionId": w.north.region, "soldOn": day}),
        );
    }
    sell(&w.north.sales, &w.north.agent, Value::Array(rows)).await;
    // Dealer prices in the North: planted below the floor of 2,200.
    price_setup(w, if planted { "2000.00" } else { "2300.00" }).await;
}

async fn recompute(server: &Server, key: &str) -> salesguard_worker::RunFigures {
    recompute_on(&server.worker(), key).await
}

/// A signals run as the worker of `app` does it.
async fn recompute_on(app: &salesguard_worker::Ctx, key: &str) -> salesguard_worker::RunFigures {
    // Boxed: the run's future is large, and a test awaits many of them.
    Box::pin(recompute_now(
        app,
        &RecomputeSignals {
            trigger: "test".into(),
            dedup_key: key.into(),
            requested_at: None,
            as_of: None,
        },
        "test",
    ))
    .await
    .expect("recompute")
    .1
}

async fn open_signals(server: &Server) -> Vec<risk_signal::Model> {
    risk_signal::Entity::find()
        .filter(risk_signal::Column::ClearedAt.is_null())
        .order_by_asc(risk_signal::Column::Fingerprint)
        .all(&server.app.db.read)
        .await
        .expect("signals")
}

fn find<'a>(
    all: &'a [risk_signal::Model],
    kind: &str,
    rule: &str,
    subject_type: &str,
    subject: &str,
) -> &'a risk_signal::Model {
    let id = id_of(subject);
    all.iter()
        .find(|s| {
            s.kind == kind
                && s.rule == rule
                && s.subject_type == subject_type
                && s.subject_id == Some(id)
        })
        .unwrap_or_else(|| {
            panic!(
                "no {kind}/{rule} on {subject_type} {id}: {:#?}",
                all.iter()
                    .map(|s| (
                        &s.kind,
                        &s.rule,
                        &s.subject_type,
                        s.subject_id,
                        &s.severity,
                        s.value
                    ))
                    .collect::<Vec<_>>()
            )
        })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-4
}

e2e!(
    planted_anomalies_raise_every_kind_and_clear,
    |server: Server, w: World| async move {
        business(&server, &w, true).await;
        let run = recompute(&server, "test:planted").await;
        assert!(run.rows_read > 20, "{run:?}");
        let all = open_signals(&server).await;
        let (north, south) = (&w.north, &w.south);

        let s = find(
            &all,
            "RECEIVABLES_OVERDUE",
            "DAYS_PAST_DUE",
            "AGENT",
            &south.agent,
        );
        assert_eq!((s.severity.as_str(), s.value), ("WARNING", 70.0));
        let s = find(&all, "RECEIVABLES_GROWTH", "DSRI", "AGENT", &south.agent);
        assert_eq!(s.severity, "WARNING");
        assert!(
            close(s.value, (20_000.0 / 15_000.0) / (5_000.0 / 5_000.0)),
            "{}",
            s.value
        );
        assert_eq!(s.region_id, Some(id_of(&south.region)));
        let ev: Value = serde_json::from_str(&s.evidence).expect("evidence json");
        assert_eq!(ev["documents"].as_array().map(Vec::len), Some(2), "{ev}");
        let signal_dso = ev["metrics"]["dso_days"].as_f64().unwrap_or_default();
        assert!(close(signal_dso, 120.0));
        // The `metrics` query gives the same DSO for the agent on the same day.
        let d = w
            .management
            .data(
                "query($i:MetricsInput!){metrics(input:$i){unit points{agentId value}}}",
                json!({"i": {"metric": "DSO", "groupBy": ["AGENT"], "agentIds": [south.agent],
                             "from": (today() - chrono::Duration::days(30)).to_string(),
                             "to": today().to_string()}}),
            )
            .await
            .expect("metrics");
        assert_eq!(d["metrics"]["unit"], "DAYS");
        let points = d["metrics"]["points"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(points.len(), 1, "{d}");
        assert_eq!(points[0]["agentId"], json!(south.agent));
        assert!(
            close(points[0]["value"].as_f64().unwrap_or(-1.0), signal_dso),
            "{d}"
        );
        let s = find(&all, "RECEIVABLES_GROWTH", "DSRI", "REGION", &south.region);
        assert_eq!(s.severity, "WARNING");

        let me = north
            .sales
            .data("{viewer{id}}", json!({}))
            .await
            .expect("viewer");
        let s = find(
            &all,
            "FORECAST_DEVIATION",
            "CHRONIC_OVER_FORECAST",
            "SALESPERSON",
            me["viewer"]["id"].as_str().unwrap_or_default(),
        );
        assert_eq!((s.severity.as_str(), s.value), ("CRITICAL", -6.0));
        assert_eq!(s.product_id, Some(id_of(&w.part)));
        find(
            &all,
            "FORECAST_DEVIATION",
            "CHRONIC_OVER_FORECAST",
            "REGION",
            &north.region,
        );

        let s = find(
            &all,
            "PRICE_INVERSION",
            "BELOW_PURCHASE_PRICE",
            "AGENT",
            &north.agent,
        );
        assert_eq!((s.severity.as_str(), s.value), ("CRITICAL", 1.0));
        let s = find(
            &all,
            "PRICE_INVERSION",
            "BELOW_FLOOR",
            "REGION",
            &north.region,
        );
        assert_eq!(s.severity, "WARNING");
        assert!(close(s.value, 2000.0 / 2200.0));

        let s = find(
            &all,
            "GOODS_DIVERSION",
            "CROSS_REGION",
            "AGENT",
            &north.agent,
        );
        assert_eq!((s.severity.as_str(), s.value), ("CRITICAL", 1.0));
        let ev: Value = serde_json::from_str(&s.evidence).expect("evidence json");
        assert!(
            ev["documents"][0]["ref"]
                .as_str()
                .unwrap_or_default()
                .starts_with("N-1 found in SOUTH"),
            "{ev}"
        );

        let east = all
            .iter()
            .find(|s| s.kind == "PURCHASE_OVER_CAPACITY")
            .expect("over capacity");
        assert_eq!(east.severity, "WARNING");
        assert!(close(east.value, 10.0 * 365.0 / 90.0 / 20.0));

        let s = find(
            &all,
            "CHANNEL_STOCK",
            "WEEKS_OF_SUPPLY",
            "AGENT",
            &north.agent,
        );
        assert_eq!(s.severity, "CRITICAL");
        // 5 + 24 shipped − 3 sold, 3 sold in 4 weeks.
        assert!(close(s.value, 26.0 / 0.75), "{}", s.value);

        // A second run over the same data changes nothing.
        let again = recompute(&server, "test:again").await;
        assert_eq!((again.applied.raised, again.applied.cleared), (0, 0));
        assert_eq!(open_signals(&server).await.len(), all.len());

        // South pays everything: its receivable signals clear, with the
        // time, and their history stays.
        for o in w
            .management
            .data(
                "query($a:ID!){salesOrders(first:10, filter:{agentId:$a}){edges{node{id balanceDue}}}}",
                json!({"a": south.agent}),
            )
            .await
            .expect("orders")["salesOrders"]["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            ok(
                &w.finance,
                "paymentRecord",
                json!({"orderId": o["node"]["id"], "amount": o["node"]["balanceDue"],
                       "receivedOn": today().to_string(), "reference": "LATE"}),
            )
            .await
            .expect("late payment");
        }
        let cleared_run = recompute(&server, "test:paid").await;
        assert!(cleared_run.applied.cleared >= 3, "{cleared_run:?}");
        let now_open = open_signals(&server).await;
        assert!(
            !now_open.iter().any(|s| s.kind.starts_with("RECEIVABLES")),
            "{now_open:?}"
        );
        let overdue = risk_signal::Entity::find()
            .filter(risk_signal::Column::Kind.eq("RECEIVABLES_OVERDUE"))
            .one(&server.app.db.read)
            .await
            .expect("query")
            .expect("the cleared signal");
        assert!(overdue.cleared_at.is_some());
        let history: Vec<String> = risk_signal_change::Entity::find()
            .filter(risk_signal_change::Column::SignalId.eq(overdue.id))
            .order_by_asc(risk_signal_change::Column::Id)
            .all(&server.app.db.read)
            .await
            .expect("history")
            .into_iter()
            .map(|c| c.change)
            .collect();
        assert_eq!(history, vec!["RAISED", "CLEARED"]);
        // The other signals stay open, untouched.
        assert_eq!(
            now_open.len(),
            all.len() - cleared_run.applied.cleared as usize
        );
    }
);

e2e!(
    clean_data_of_the_same_size_raises_nothing,
    |server: Server, w: World| async move {
        business(&server, &w, false).await;
        let run = recompute(&server, "test:clean").await;
        assert!(run.rows_read > 20, "{run:?}");
        let all = open_signals(&server).await;
        assert!(
            all.is_empty(),
            "{:#?}",
            all.iter().map(|s| &s.summary).collect::<Vec<_>>()
        );
    }
);

/// `salesguard worker` on the server's database, heartbeating every
/// `heartbeat_secs` (a dead worker's jobs are taken over after 3); killed
/// when dropped.
fn spawn_worker(server: &Server, heartbeat_secs: u64) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_salesguard"))
        .arg("worker")
        .env("SALESGUARD_DATABASE_URL", &server.database_url)
        .env("SALESGUARD_WORKER_COPY_DIR", "")
        .env(
            "SALESGUARD_WORKER_HEARTBEAT_SECS",
            heartbeat_secs.to_string(),
        )
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start `salesguard worker`")
}

e2e!(
    a_separate_worker_raises_a_signal_after_an_api_change,
    |server: Server, w: World| async move {
        let serials: Vec<String> = (1..=4).map(|i| format!("W-{i}")).collect();
        ship(&w, &w.north, &w.product, 4, "2000.00", 3, true, &serials).await;
        let mut worker = spawn_worker(&server, 10);
        // The worker catches up with the shipment: nothing to signal.
        let start = Instant::now();
        while salesguard_entities::model::job_run::Entity::find()
            .filter(salesguard_entities::model::job_run::Column::FinishedAt.is_not_null())
            .one(&server.app.db.read)
            .await
            .expect("runs")
            .is_none()
        {
            assert!(start.elapsed() < Duration::from_secs(20), "no run");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(open_signals(&server).await.is_empty());
        // Three of the four units are sold in the South.
        let day = today().to_string();
        let rows: Vec<Value> = serials[..3]
            .iter()
            .map(|s| {
                json!({"productId": w.product, "serial": s, "quantity": 1, "salePrice": "2100.00",
                       "regionId": w.south.region, "soldOn": day})
            })
            .collect();
        sell(&w.north.sales, &w.north.agent, Value::Array(rows)).await;
        let start = Instant::now();
        let signal = loop {
            let open = open_signals(&server).await;
            if let Some(s) = open.into_iter().find(|s| s.kind == "GOODS_DIVERSION") {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the worker did not raise the diversion"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(signal.agent_id, Some(id_of(&w.north.agent)));
        assert_eq!(signal.severity, "CRITICAL");
        let run = salesguard_entities::model::job_run::Entity::find_by_id(
            signal.run_id.unwrap_or_default(),
        )
        .one(&server.app.db.read)
        .await
        .expect("run")
        .expect("the run that raised it");
        // A run covers every change committed before it read the data, so
        // the run that raised it may have been queued by any change (the
        // shipment's or the sale's) and may even have started before the
        // sale was sent: what matters is that the separate worker raised it.
        assert_eq!(run.signals_raised, Some(1));
        assert!(
            run.worker.starts_with("salesguard-signals-"),
            "{}",
            run.worker
        );
        let _ = worker.kill().await;
    }
);

/// Holds the business database's write side: SQLite's write lock
/// (`BEGIN IMMEDIATE` on a connection of its own), or on PostgreSQL the
/// advisory lock the signal writer takes.
enum Hold {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

async fn hold_writes(server: &Server) -> Hold {
    use sqlx::Connection;
    if server.database_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(&server.database_url)
            .await
            .expect("sqlite");
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut c)
            .await
            .expect("write lock");
        Hold::Sqlite(c)
    } else {
        let mut c = sqlx::PgConnection::connect(&server.database_url)
            .await
            .expect("pg");
        sqlx::raw_sql("SELECT pg_advisory_lock(72611291)")
            .execute(&mut c)
            .await
            .expect("advisory lock");
        Hold::Postgres(c)
    }
}

/// Whether a job is in the middle of its run, waiting on the held lock.
async fn job_waiting(server: &Server, hold: &mut Hold) -> bool {
    match hold {
        Hold::Postgres(c) => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
            .fetch_one(&mut *c)
            .await
            .expect("pg_locks");
            n > 0
        }
        Hold::Sqlite(_) => {
            use sqlx::Connection;
            let path =
                salesguard_worker::sqlite_queue_path(&server.database_url).expect("queue file");
            let Ok(mut q) = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await
            else {
                return false;
            };
            // A job the worker has taken: running, or fetched and locked by
            // it (under the full suite's load the task may not have started
            // yet when it is killed; either way it is orphaned and must run
            // again after the restart).
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM Jobs WHERE status = 'Running' \
                 OR (status = 'Queued' AND lock_by IS NOT NULL)",
            )
            .fetch_one(&mut q)
            .await
            .unwrap_or(0);
            // Loading and computing this little data takes milliseconds;
            // give it a moment to reach the write.
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            n > 0
        }
    }
}

async fn release(hold: Hold) {
    match hold {
        Hold::Sqlite(mut c) => {
            sqlx::raw_sql("ROLLBACK")
                .execute(&mut c)
                .await
                .expect("rollback");
        }
        Hold::Postgres(mut c) => {
            sqlx::raw_sql("SELECT pg_advisory_unlock(72611291)")
                .execute(&mut c)
                .await
                .expect("unlock");
        }
    }
}

e2e!(
    a_worker_killed_mid_job_leaves_nothing_and_the_job_completes_after_restart,
    |server: Server, w: World| async move {
        use salesguard_entities::model::{job_run, outbox};
        let serials: Vec<String> = (1..=4).map(|i| format!("K-{i}")).collect();
        ship(&w, &w.north, &w.product, 4, "2000.00", 3, true, &serials).await;
        let day = today().to_string();
        let rows: Vec<Value> = serials[..3]
            .iter()
            .map(|s| {
                json!({"productId": w.product, "serial": s, "quantity": 1, "salePrice": "2100.00",
                       "regionId": w.south.region, "soldOn": day})
            })
            .collect();
        sell(&w.north.sales, &w.north.agent, Value::Array(rows)).await;

        // The worker takes the jobs and reaches the write of the first,
        // which waits on the held lock: it is killed there.
        let mut hold = hold_writes(&server).await;
        let mut victim = spawn_worker(&server, 1);
        let start = Instant::now();
        while !job_waiting(&server, &mut hold).await {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no job reached its write"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        victim.kill().await.expect("kill -9");
        release(hold).await;
        // Nothing of the run is there: no signal, no finished run.
        assert!(open_signals(&server).await.is_empty());
        let runs = job_run::Entity::find()
            .all(&server.app.db.read)
            .await
            .expect("runs");
        assert!(runs.is_empty(), "{runs:?}");

        // A new worker takes the dead one's jobs over and completes them.
        let mut rescuer = spawn_worker(&server, 1);
        let start = Instant::now();
        let signal = loop {
            if let Some(s) = open_signals(&server)
                .await
                .into_iter()
                .find(|s| s.kind == "GOODS_DIVERSION")
            {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the job was not completed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(signal.agent_id, Some(id_of(&w.north.agent)));
        // Every change's job ends with exactly one finished run.
        let keys: Vec<String> = outbox::Entity::find()
            .all(&server.app.db.read)
            .await
            .expect("outbox")
            .into_iter()
            .map(|o| o.dedup_key)
            .collect();
        let start = Instant::now();
        loop {
            let runs = job_run::Entity::find()
                .filter(job_run::Column::FinishedAt.is_not_null())
                .all(&server.app.db.read)
                .await
                .expect("runs");
            let done = keys
                .iter()
                .all(|k| runs.iter().filter(|r| &r.dedup_key == k).count() == 1);
            if done {
                assert!(runs.iter().all(|r| r.error.is_none()), "{runs:?}");
                // No other run, but for the schedule's ticks: they come by
                // the clock (every 15 minutes) and may fall in the test.
                let changes = runs
                    .iter()
                    .filter(|r| !r.dedup_key.starts_with("signals:tick:"))
                    .count();
                assert_eq!(changes, keys.len(), "{runs:?}");
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{runs:?} for {keys:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // One signal, raised once.
        assert_eq!(
            risk_signal::Entity::find()
                .all(&server.app.db.read)
                .await
                .expect("signals")
                .len(),
            1
        );
        let _ = rescuer.kill().await;
    }
);

/// The open signals as (fingerprint, severity, value).
fn digest_stored(all: &[risk_signal::Model]) -> Vec<(String, String, f64)> {
    let mut v: Vec<_> = all
        .iter()
        .map(|s| (s.fingerprint.clone(), s.severity.clone(), s.value))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

e2e!(
    a_run_reads_what_changed_and_agrees_with_a_full_read,
    |server: Server, w: World| async move {
        business(&server, &w, false).await;
        let first = recompute(&server, "test:copy-1").await;
        assert!(first.full_read, "the first run reads everything");
        assert!(open_signals(&server).await.is_empty());

        let north = w.north.clone();
        let in_south = |serial: &str| {
            json!({"productId": w.product, "serial": serial, "quantity": 1,
                   "salePrice": "1500.00", "regionId": w.south.region,
                   "soldOn": (today() - chrono::Duration::days(1)).to_string()})
        };
        // A serial reported sold before the unit is recorded as shipped:
        // no unit yet when the next run reads it.
        sell(&north.sales, &north.agent, json!([in_south("N-9")])).await;
        let second = recompute(&server, "test:copy-2").await;
        assert!(!second.full_read, "later runs read what changed");
        assert!(second.rows_read < first.rows_read, "{second:?} {first:?}");
        // Then the units ship (N-9 among them) and three more are sold in
        // the South: the North agent's goods are diverted.
        let serials: Vec<String> = (6..=9).map(|i| format!("N-{i}")).collect();
        ship(&w, &north, &w.product, 4, "2000.00", 3, true, &serials).await;
        sell(
            &north.sales,
            &north.agent,
            Value::Array(serials[..3].iter().map(|s| in_south(s)).collect()),
        )
        .await;
        let third = recompute(&server, "test:copy-3").await;
        assert!(!third.full_read);

        // Four units turned up in the South, N-9 included.
        four_diverted_as_a_full_read_says(&server, &north.agent).await;
    }
);

/// The stored open signals are, in fingerprint, severity and value, those
/// of a computation over a full read now.
async fn assert_same_as_a_full_read(server: &Server, stored: &[risk_signal::Model]) {
    let as_of = today();
    let inputs = Box::pin(salesguard_worker::signals::load(
        &server.app.db.read,
        server.app.tz,
        as_of,
    ))
    .await
    .expect("full read");
    let fresh = salesguard_worker::signals::compute(&inputs, as_of, &server.app.settings.signals)
        .expect("compute");
    let mut fresh: Vec<(String, String, f64)> = fresh
        .iter()
        .map(|s| (s.fingerprint(), s.severity.as_str().to_owned(), s.value))
        .collect();
    fresh.sort_by(|a, b| a.0.cmp(&b.0));
    let stored = digest_stored(stored);
    assert_eq!(
        stored.iter().map(|s| (&s.0, &s.1)).collect::<Vec<_>>(),
        fresh.iter().map(|s| (&s.0, &s.1)).collect::<Vec<_>>()
    );
    for (a, b) in stored.iter().zip(&fresh) {
        assert!(close(a.2, b.2), "{a:?} {b:?}");
    }
}

/// The North agent's goods are diverted (4 units sold in the South), and
/// the stored signals are those of a full read.
async fn four_diverted_as_a_full_read_says(server: &Server, agent: &str) {
    let stored = open_signals(server).await;
    let s = find(&stored, "GOODS_DIVERSION", "CROSS_REGION", "AGENT", agent);
    assert!(s.summary.contains(": 4 of "), "{}", s.summary);
    assert_same_as_a_full_read(server, &stored).await;
}

/// The server's app with its worker's copy saved to a fresh directory
/// (removed when the returned guard is dropped).
fn with_copy_on_disk(server: &Server) -> (salesguard_worker::Ctx, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = salesguard_config::Settings {
        worker_copy_dir: dir.path().display().to_string(),
        ..server.app.settings.clone()
    };
    let app = salesguard_worker::Ctx::new(server.app.db.clone(), settings).expect("worker context");
    (app, dir)
}

/// A worker with `worker_copy_dir` set, as a process that starts again: the
/// copy in memory is dropped, the one on disk is read back.
async fn restart(app: &salesguard_worker::Ctx) {
    let slot = salesguard_worker::signals::snapshot::slot(&app.settings.database_url);
    *slot.lock().await = None;
}

e2e!(
    a_worker_that_starts_again_reads_its_copy_from_disk,
    |server: Server, w: World| async move {
        use sea_orm::ConnectionTrait;
        business(&server, &w, false).await;
        let (app, dir) = with_copy_on_disk(&server);
        let first = recompute_on(&app, "test:disk-1").await;
        assert!(first.full_read && !first.from_disk);
        let saved: Vec<_> = std::fs::read_dir(dir.path())
            .expect("copy dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(saved.len(), 1, "one copy, for this database: {saved:?}");
        let copy = saved[0].clone();
        assert!(copy.join("meta.json").is_file() && copy.join("serials.bin").is_file());
        // The copy was saved after the run's signals were stored, not
        // before: they do not wait for it.
        let meta: Value =
            serde_json::from_slice(&std::fs::read(copy.join("meta.json")).expect("meta"))
                .expect("json");
        let saved_at: chrono::DateTime<Utc> =
            serde_json::from_value(meta["saved_at"].clone()).expect("saved_at");
        let run = salesguard_entities::model::job_run::Entity::find()
            .filter(salesguard_entities::model::job_run::Column::DedupKey.eq("test:disk-1"))
            .one(&server.app.db.read)
            .await
            .expect("job_runs")
            .expect("the run is recorded");
        let finished_at = run.finished_at.expect("the run finished");
        assert!(
            finished_at < saved_at,
            "stored {finished_at}, saved {saved_at}"
        );

        // While no worker runs, units ship and are sold in another region.
        let north = w.north.clone();
        let serials: Vec<String> = (6..=9).map(|i| format!("N-{i}")).collect();
        ship(&w, &north, &w.product, 4, "2000.00", 3, true, &serials).await;
        let in_south = |serial: &String| {
            json!({"productId": w.product, "serial": serial, "quantity": 1,
                   "salePrice": "1500.00", "regionId": w.south.region,
                   "soldOn": (today() - chrono::Duration::days(1)).to_string()})
        };
        sell(
            &north.sales,
            &north.agent,
            Value::Array(serials.iter().map(in_south).collect()),
        )
        .await;

        // The worker starts again: the copy on disk, then what changed.
        restart(&app).await;
        let second = recompute_on(&app, "test:disk-2").await;
        assert!(second.from_disk && !second.full_read, "{second:?}");
        assert!(second.rows_read < first.rows_read, "{second:?} {first:?}");
        four_diverted_as_a_full_read_says(&server, &north.agent).await;

        // A copy that does not read back is not used: the run reads
        // everything, and is right.
        restart(&app).await;
        std::fs::write(copy.join("lines.arrow"), b"not arrow").expect("spoil the copy");
        let third = recompute_on(&app, "test:disk-3").await;
        assert!(third.full_read && !third.from_disk, "{third:?}");
        assert_same_as_a_full_read(&server, &open_signals(&server).await).await;
        // That run saved a good copy again.
        restart(&app).await;
        assert!(recompute_on(&app, "test:disk-4").await.from_disk);

        // A copy that reads back but does not fit what this build reads
        // (payments with the columns of orders, as another build might
        // have written): removed, and the run reads everything.
        restart(&app).await;
        std::fs::copy(copy.join("orders.arrow"), copy.join("payments.arrow")).expect("swap");
        let meta_path = copy.join("meta.json");
        let mut meta: Value =
            serde_json::from_slice(&std::fs::read(&meta_path).expect("meta")).expect("json");
        meta["heights"][2] = meta["heights"][0].clone();
        std::fs::write(&meta_path, meta.to_string()).expect("meta");
        let misfit = recompute_on(&app, "test:disk-misfit").await;
        assert!(misfit.full_read && !misfit.from_disk, "{misfit:?}");
        four_diverted_as_a_full_read_says(&server, &north.agent).await;

        // A database that holds fewer rows than the copy read (restored
        // from an older backup) does not get the copy.
        restart(&app).await;
        server
            .app
            .db
            .write
            .execute_unprepared(
                "DELETE FROM sell_through WHERE id = (SELECT MAX(id) FROM sell_through)",
            )
            .await
            .expect("delete");
        let fifth = recompute_on(&app, "test:disk-5").await;
        assert!(fifth.full_read && !fifth.from_disk, "{fifth:?}");
        assert_same_as_a_full_read(&server, &open_signals(&server).await).await;
    }
);

/// A copy dir `name` under `root` whose full read was `hours` ago (a
/// `meta.json` with only that; `None`: no `meta.json`), its directory last
/// changed `mtime_hours` ago.
fn planted_copy(root: &std::path::Path, name: &str, hours: Option<i64>, mtime_hours: u64) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("orders.arrow"), b"frames").expect("frame");
    if let Some(h) = hours {
        let read_at = Utc::now() - chrono::Duration::hours(h);
        let meta = json!({"format": 1, "read_at": read_at, "saved_at": read_at});
        std::fs::write(dir.join("meta.json"), meta.to_string()).expect("meta");
    }
    let when = std::time::SystemTime::now() - Duration::from_secs(mtime_hours * 3600);
    std::fs::File::open(&dir)
        .and_then(|d| d.set_modified(when))
        .expect("set the directory's time");
}

e2e!(
    a_save_removes_the_copies_no_worker_will_use_again,
    |server: Server, w: World| async move {
        business(&server, &w, false).await;
        let (app, dir) = with_copy_on_disk(&server);
        let root = dir.path();
        // A dropped database's copy (its full read two days old), another
        // live database's (an hour old, written long after its directory),
        // one broken long ago and one broken just now (no meta.json), what
        // killed saves left (old) and a save under way (new), and what is
        // not a copy at all.
        planted_copy(root, "db-dropped", Some(49), 49);
        planted_copy(root, "db-live", Some(1), 72);
        planted_copy(root, "db-broken", None, 30);
        planted_copy(root, "db-fresh", None, 0);
        planted_copy(root, "db-live.new-01JOLD", None, 2);
        planted_copy(root, "db-live.old", None, 2);
        planted_copy(root, "db-live.new-01JNOW", None, 0);
        planted_copy(root, "keep-me", Some(49), 49);
        std::fs::write(root.join("db-notes.txt"), b"not a directory").expect("file");
        std::fs::write(root.join("db-plain"), b"not a directory either").expect("file");

        let run = recompute_on(&app, "test:sweep").await;
        assert!(run.full_read, "{run:?}");
        let mut left: Vec<String> = std::fs::read_dir(root)
            .expect("copy dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let own = left
            .iter()
            .find(|n| std::fs::metadata(root.join(n).join("serials.bin")).is_ok())
            .cloned()
            .expect("this database's copy was saved");
        let mut want = vec![
            own,
            "db-fresh".to_owned(),
            "db-live".to_owned(),
            "db-live.new-01JNOW".to_owned(),
            "db-notes.txt".to_owned(),
            "db-plain".to_owned(),
            "keep-me".to_owned(),
        ];
        want.sort();
        assert_eq!(left, want);
    }
);

/// SQL that records a sighting of `serial` in the South.
fn south_sighting(w: &World, serial: &str) -> String {
    format!(
        "INSERT INTO unit_sightings (serial, kind, region_id, seen_on, recorded_by, recorded_at) \
         VALUES ('{serial}', 'ACTIVATION', {}, CURRENT_DATE, (SELECT MIN(id) FROM users), now())",
        id_of(&w.south.region)
    )
}

/// N-1 sighted in the South in a transaction left open (returned), then N-2
/// committed at once: a higher key, visible first (PostgreSQL).
async fn n1_open_then_n2_committed(server: &Server, w: &World) -> sea_orm::DatabaseTransaction {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let open = server.app.db.write.begin().await.expect("begin");
    open.execute_unprepared(&south_sighting(w, "N-1"))
        .await
        .expect("N-1");
    server
        .app
        .db
        .write
        .execute_unprepared(&south_sighting(w, "N-2"))
        .await
        .expect("N-2");
    open
}

/// Sightings in the worker's copy of the server's database.
async fn sightings_held(server: &Server) -> usize {
    let slot = salesguard_worker::signals::snapshot::slot(&server.app.settings.database_url);
    let copy = slot.lock().await;
    copy.as_ref()
        .map(|c| c.inputs.sightings.height())
        .unwrap_or_default()
}

/// PostgreSQL only: the keys a run read past (their transaction still
/// open) are saved with the copy on disk, and a worker that starts again
/// still asks for them.
mod a_gap_saved_with_the_copy_on_disk_is_read_after_a_restart {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(sg_no_postgres, ignore = "needs SALESGUARD_TEST_PG_URL")]
    async fn postgres() {
        crate::run(
            crate::Backend::Postgres,
            |server: Server, w: World| async move {
                business(&server, &w, false).await;
                let (app, _dir) = with_copy_on_disk(&server);
                // N-1 in a transaction left open, N-2 committed after it (a
                // higher key); then the first run reads everything and saves
                // the copy, N-1's key a gap in it.
                let open = n1_open_then_n2_committed(&server, &w).await;
                assert!(recompute_on(&app, "test:dgap-1").await.full_read);
                let before = sightings_held(&server).await;
                // N-1 commits; the worker starts again from its copy on disk.
                open.commit().await.expect("commit");
                restart(&app).await;
                let second = recompute_on(&app, "test:dgap-2").await;
                assert!(second.from_disk, "{second:?}");
                assert_eq!(
                    sightings_held(&server).await,
                    before + 1,
                    "N-1 read after the restart"
                );
                let full = Box::pin(salesguard_worker::signals::load(
                    &server.app.db.read,
                    server.app.tz,
                    today(),
                ))
                .await
                .expect("full read");
                assert_eq!(
                    full.sightings.height(),
                    before + 1,
                    "as a full read sees it"
                );
            },
        )
        .await;
    }
}

/// PostgreSQL only: keys are taken in insert order but become visible in
/// commit order, so a run can read past a row whose transaction is still
/// open (SQLite has one writer at a time: rows commit in key order).
mod a_row_committed_after_a_higher_key_is_read_by_the_next_run {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(sg_no_postgres, ignore = "needs SALESGUARD_TEST_PG_URL")]
    async fn postgres() {
        crate::run(
            crate::Backend::Postgres,
            |server: Server, w: World| async move {
                business(&server, &w, false).await;
                assert!(recompute(&server, "test:gap-1").await.full_read);
                // N-1 is sighted in the South first, in a transaction left open;
                // N-2 after it, committed at once (a higher key).
                let open = n1_open_then_n2_committed(&server, &w).await;
                let held = || sightings_held(&server);
                let before = held().await;
                let second = recompute(&server, "test:gap-2").await;
                assert!(!second.full_read);
                assert_eq!(held().await, before + 1, "N-2 read, N-1 not committed yet");
                // N-1 commits below the highest key read: the next run reads it.
                open.commit().await.expect("commit");
                let third = recompute(&server, "test:gap-3").await;
                assert!(!third.full_read);
                assert_eq!(held().await, before + 2, "N-1 read once committed");
                let fourth = recompute(&server, "test:gap-4").await;
                assert!(!fourth.full_read);
                assert_eq!(held().await, before + 2, "and only once");
                // As a full read sees it.
                let full =
                    salesguard_worker::signals::load(&server.app.db.read, server.app.tz, today())
                        .await
                        .expect("full read");
                assert_eq!(full.sightings.height(), before + 2);
            },
        )
        .await;
    }
}

e2e!(
    without_a_kept_copy_every_run_reads_everything,
    |server: Server, w: World| async move {
        business(&server, &w, false).await;
        let settings = salesguard_config::Settings {
            worker_keep_copy: false,
            ..server.app.settings.clone()
        };
        let app =
            salesguard_worker::Ctx::new(server.app.db.clone(), settings).expect("worker context");
        let job = |key: &str| RecomputeSignals {
            trigger: "test".into(),
            dedup_key: key.into(),
            requested_at: None,
            as_of: None,
        };
        for key in ["test:nocopy-1", "test:nocopy-2"] {
            let (_, run) = recompute_now(&app, &job(key), "test")
                .await
                .expect("recompute");
            assert!(run.full_read, "{key}");
        }
        let slot = salesguard_worker::signals::snapshot::slot(&app.settings.database_url);
        assert!(slot.lock().await.is_none(), "no copy kept");
    }
);
