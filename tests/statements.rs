//! DataLoaders keep the number of SQL statements of a request independent of
//! the page size. A test binary of its own: it counts statements and wants no
//! other test loading the machine.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use salesguard_testkit::{Server, World};
use serde_json::json;

/// A server on SQLite that counts the statements on its write handle
/// (`write`) or on its read handle.
/// The tests of this file run one at a time, on servers whose loaders gather
/// keys for 50 ms (`loader_window_ms`) instead of the default 1 ms: a count
/// on the read handle depends on that window, which a busy machine can split
/// (seen in CI at 1 ms: 14 statements for 2 orders and 23 for 12).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn counting_server(write: bool) -> (Server, Arc<AtomicUsize>) {
    counting(if write { &[true] } else { &[false] }, "").await
}

/// A server on SQLite that counts the statements that contain `text` on
/// the handles named (`true`: the write handle, `false`: the read handle).
async fn counting(handles: &'static [bool], text: &'static str) -> (Server, Arc<AtomicUsize>) {
    let counter = Arc::new(AtomicUsize::new(0));
    let c2 = counter.clone();
    let tune = |s: &mut salesguard_config::Settings| s.loader_window_ms = 50;
    let s = Server::start_tuned(None, tune, move |db| {
        for write in handles {
            let handle = if *write { &mut db.write } else { &mut db.read };
            let c = c2.clone();
            handle.set_metric_callback(move |info| {
                if info.statement.sql.contains(text) {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    })
    .await
    .expect("server");
    (s, counter)
}

/// Counts SQL statements on the read pool, to show that DataLoaders keep the
/// number of statements independent of the page size.
async fn statements_for(first: usize) -> usize {
    let (s, counter) = counting_server(false).await;
    let w = World::create(&s.base_url()).await.expect("world");
    for _ in 0..first {
        let o = w.file_order(&w.north, 1, "10.00").await.expect("file");
        w.advance_to(&w.north, o, "contractApprove")
            .await
            .expect("advance");
    }
    let q = "query($n:Int){salesOrders(first:$n){totalCount edges{node{number agent{name region{code}} \
             salesperson{username} lines{quantity product{sku}} contract{number draftedBy{username} decidedBy{username}} \
             payments{amount} history{action actor{username}}}}}}";
    let before = counter.load(Ordering::SeqCst);
    let d = w
        .management
        .data(q, json!({"n": first}))
        .await
        .expect("query");
    let after = counter.load(Ordering::SeqCst);
    assert_eq!(
        d["salesOrders"]["edges"].as_array().map(|a| a.len()),
        Some(first)
    );
    after - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_per_request_do_not_grow_with_page_size() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let small = statements_for(2).await;
    let large = statements_for(12).await;
    // One statement per relation and level, whatever the page size; a
    // stalled machine may still split a relation's batch, so allow that for
    // a few of the query's 11 relations. Without loaders 12 orders take
    // over a hundred.
    assert!(
        large <= small + 3,
        "2 orders took {small} statements, 12 took {large}"
    );
    assert!(large <= 20, "{large} statements");
}

/// Statements on the write handle for filing one order of `lines` lines,
/// and the order's lines as the API reads them back.
async fn statements_to_file(lines: usize) -> (usize, serde_json::Value) {
    let (s, counter) = counting_server(true).await;
    let w = World::create(&s.base_url()).await.expect("world");
    let input = json!({
        "agentId": w.north.agent,
        "lines": (1..=lines)
            .map(|i| json!({"productId": w.product, "quantity": i, "unitPrice": "10.00"}))
            .collect::<Vec<_>>(),
        "paymentTermsDays": 30,
    });
    let before = counter.load(Ordering::SeqCst);
    let o = salesguard_testkit::chain::ok(&w.north.sales, "salesOrderCreate", input)
        .await
        .expect("file");
    let after = counter.load(Ordering::SeqCst);
    let d = w
        .management
        .data(
            "query($id:ID!){node(id:$id){... on SalesOrder{total lines{lineNo quantity}}}}",
            json!({"id": o["id"]}),
        )
        .await
        .expect("read back");
    (after - before, d["node"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filing_an_order_takes_as_many_statements_for_many_lines_as_for_one() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let (one, _) = statements_to_file(1).await;
    let (many, order) = statements_to_file(20).await;
    // Its products are read, and its lines written, in one statement each.
    assert_eq!(one, many, "1 line took {one} statements, 20 took {many}");
    // ... and every line is there, in its place: 1 + 2 + … + 20 units.
    let got: Vec<(i64, i64)> = order["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["lineNo"].as_i64().unwrap_or(0),
                l["quantity"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let want: Vec<(i64, i64)> = (1..=20).map(|i| (i, i)).collect();
    assert_eq!(got, want);
    assert_eq!(order["total"], "2100.00");
}

/// Reads of the order for approving the contract of a submitted
/// order, and the order as the approval answers it.
async fn statements_to_approve(
    s: &salesguard_testkit::Server,
    w: &World,
    counter: &AtomicUsize,
    kept: bool,
) -> (usize, serde_json::Value) {
    let o = w.file_order(&w.north, 1, "10.00").await.expect("file");
    let o = w
        .advance_to(&w.north, o, "contractSubmit")
        .await
        .expect("submit");
    if !kept {
        s.app.step_cache.clear();
    }
    let before = counter.load(Ordering::SeqCst);
    let approved = salesguard_testkit::chain::ok(
        &w.north.supervisor,
        "contractApprove",
        json!({"orderId": o["id"]}),
    )
    .await
    .expect("approve");
    (counter.load(Ordering::SeqCst) - before, approved)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_after_a_single_statement_step_of_its_order_skips_the_read() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // The reads of an order for a step (`workflow::read_for_step`), on
    // both handles: such a step reads on the read pool and writes in the
    // open group. (Not every statement: background tasks read too.)
    let (s, counter) = counting(
        &[true, false],
        "FROM (SELECT * FROM sales_orders WHERE id =",
    )
    .await;
    let w = World::create(&s.base_url()).await.expect("world");
    let (read, from_db) = statements_to_approve(&s, &w, &counter, false).await;
    let (kept, from_kept) = statements_to_approve(&s, &w, &counter, true).await;
    // The submission left what the approval reads: the order, its contract,
    // its audit head and the directory's version (`step_cache`).
    assert_eq!((kept, read), (0, 1), "reads of the order: (kept, read)");
    for field in ["status", "version", "total", "balanceDue"] {
        assert_eq!(from_kept[field], from_db[field], "{field}");
    }
    assert_eq!(from_kept["status"], "APPROVED");
}
