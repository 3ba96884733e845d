//! Concurrency and idempotency: racing users, gapless document numbers,
//! replayed requests. Requests are fired truly in parallel (one spawned task
//! each, released together by a barrier) against the running server.
use std::future::Future;
use std::sync::Arc;

use futures::future::join_all;
use salesguard_testkit::chain::{error_code, ok, step, today, ORDER_FIELDS};
use salesguard_testkit::world::Team;
use salesguard_testkit::{Client, World};
use serde_json::{json, Value};
use tokio::sync::Barrier;

/// The business day (Asia/Shanghai) as it appears in document numbers.
fn day() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y%m%d")
        .to_string()
}

fn order_number(day: &str, seq: usize) -> String {
    format!("SC{day}DD{seq:04}")
}

/// Runs `n` requests at once: each in its own task, all released together.
/// Panics if a task panicked.
async fn parallel<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let b = barrier.clone();
            let fut = make(i);
            tokio::spawn(async move {
                b.wait().await;
                fut.await
            })
        })
        .collect();
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("request task panicked"))
        .collect()
}

/// Runs a workflow mutation, failing the test on a transport or GraphQL
/// error (e.g. INTERNAL): a race must end in a payload, never an error.
async fn must_step(c: Client, mutation: &'static str, input: Value) -> Value {
    step(&c, mutation, input)
        .await
        .unwrap_or_else(|e| panic!("{mutation}: expected a payload, got {e:#}"))
}

/// `Ok(order)` for a successful step, `Err(code)` for a refused one (a
/// refusal has exactly one user error and no order).
fn verdict(p: &Value) -> Result<Value, String> {
    let errs = p["userErrors"].as_array().cloned().unwrap_or_default();
    if errs.is_empty() {
        assert!(!p["salesOrder"].is_null(), "no error and no order: {p}");
        return Ok(p["salesOrder"].clone());
    }
    assert_eq!(errs.len(), 1, "one error per refusal: {p}");
    assert!(
        p["salesOrder"].is_null(),
        "a refused step returns no order: {p}"
    );
    Err(error_code(p).unwrap_or_else(|| format!("no code in {p}")))
}

fn create_input(w: &World, team: &Team, qty: i64, price: &str) -> Value {
    json!({
        "agentId": team.agent,
        "lines": [{"productId": w.product, "quantity": qty, "unitPrice": price}],
        "paymentTermsDays": 30,
    })
}

fn with_key(mut input: Value, key: &str) -> Value {
    input["idempotencyKey"] = json!(key);
    input
}

/// An order by number, with its history, as `reader` sees it.
async fn read_order(reader: &Client, number: &str) -> Value {
    let q = format!(
        "query($n:String!){{salesOrder(number:$n){{{ORDER_FIELDS} \
         shipmentExceptions{{amount usedAt}} history{{action outcome actor{{username}}}}}}}}"
    );
    let d = reader
        .data(&q, json!({ "n": number }))
        .await
        .unwrap_or_else(|e| panic!("read order {number}: {e:#}"));
    assert!(!d["salesOrder"].is_null(), "order {number} not found");
    d["salesOrder"].clone()
}

/// How many history entries of the order have this action and outcome.
fn history_count(order: &Value, action: &str, outcome: &str) -> usize {
    order["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter(|e| e["action"] == action && e["outcome"] == outcome)
                .count()
        })
        .unwrap_or(0)
}

async fn total_orders(reader: &Client) -> i64 {
    let d = reader
        .data("{salesOrders(first:1){totalCount}}", json!({}))
        .await
        .expect("salesOrders");
    d["salesOrders"]["totalCount"]
        .as_i64()
        .unwrap_or_else(|| panic!("no totalCount in {d}"))
}

async fn on_hand(w: &World) -> i64 {
    let d = w
        .warehouse_keeper
        .data(
            "query($w:ID,$p:ID){stockLevels(warehouseId:$w,productId:$p){edges{node{onHand}}}}",
            json!({"w": w.warehouse, "p": w.product}),
        )
        .await
        .expect("stock");
    d["stockLevels"]["edges"][0]["node"]["onHand"]
        .as_i64()
        .unwrap_or_else(|| panic!("no stock level in {d}"))
}

async fn agent_credit(w: &World, agent: &str) -> Value {
    let d = w
        .management
        .data(
            "query($id:ID!){node(id:$id){... on Agent{creditLimit outstandingReceivables availableCredit}}}",
            json!({ "id": agent }),
        )
        .await
        .expect("agent");
    d["node"].clone()
}

pub(crate) async fn audit_verifies(server: &salesguard_testkit::Server) {
    let v = salesguard_api::audit::verify(&server.app.db.read)
        .await
        .expect("verify");
    assert!(v.first_broken.is_none(), "audit trail broken: {v:?}");
}

fn num(v: &Value) -> String {
    v["number"].as_str().unwrap_or_default().to_owned()
}

// ------------------------------------------------------------------ numbers

e2e!(
    parallel_creations_get_consecutive_numbers,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let day = day();
        // 35 by the north salesperson and 15 by the south one, all at once:
        // one series of sales-order numbers for the company and the day.
        let north = 35;
        let total = 50;
        let payloads = parallel(total, |i| {
            let team = if i < north { &w.north } else { &w.south };
            must_step(
                team.sales.clone(),
                "salesOrderCreate",
                create_input(&w, team, 1, "2000.00"),
            )
        })
        .await;
        let mut numbers = vec![];
        let mut ids = vec![];
        for (i, p) in payloads.iter().enumerate() {
            let o = verdict(p).unwrap_or_else(|code| panic!("creation {i} refused: {code}"));
            assert_eq!(o["status"], "FILED");
            assert_eq!(o["total"], "2000.00");
            let region = if i < north { "NORTH" } else { "SOUTH" };
            assert_eq!(o["region"]["code"], region);
            numbers.push(num(&o));
            ids.push(o["id"].as_str().unwrap_or_default().to_owned());
        }
        numbers.sort();
        let expected: Vec<String> = (1..=total).map(|i| order_number(&day, i)).collect();
        assert_eq!(
            numbers, expected,
            "numbers must be distinct and consecutive"
        );
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), total, "50 distinct orders");

        assert_eq!(total_orders(&w.management).await, 50);
        assert_eq!(total_orders(&w.north.sales).await, 35);
        assert_eq!(total_orders(&w.south.sales).await, 15);
        audit_verifies(&server).await;
    }
);

e2e!(
    refused_creation_leaves_no_gap,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let day = day();
        let team = w.north.clone();
        let first = w.file_order(&team, 1, "2000.00").await.expect("first");
        assert_eq!(num(&first), order_number(&day, 1));

        // A transaction takes the next number and is rolled back while a
        // creation waits for the counter: the creation gets that number.
        let app = &server.app;
        let txn = app.db.begin().await.expect("begin");
        let held = salesguard_api::numbering::next_number(
            &txn,
            app,
            salesguard_domain::DocType::SalesOrder,
            chrono::Utc::now(),
        )
        .await
        .expect("number");
        assert_eq!(held, order_number(&day, 2));
        let racing = tokio::spawn(must_step(
            team.sales.clone(),
            "salesOrderCreate",
            create_input(&w, &team, 1, "2000.00"),
        ));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(
            !racing.is_finished(),
            "the creation waits for the transaction holding the counter"
        );
        txn.rollback().await.expect("rollback");
        let p = racing.await.expect("racing creation");
        let second = verdict(&p).unwrap_or_else(|c| panic!("creation refused: {c}"));
        assert_eq!(num(&second), order_number(&day, 2));

        // Refused: a quantity of 0.
        let p = step(
            &team.sales,
            "salesOrderCreate",
            create_input(&w, &team, 0, "2000.00"),
        )
        .await
        .expect("refused creation");
        assert_eq!(verdict(&p), Err("BAD_USER_INPUT".to_owned()));
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", "lines", "0", "quantity"])
        );
        // Refused: payment terms out of range.
        let mut bad = create_input(&w, &team, 1, "2000.00");
        bad["paymentTermsDays"] = json!(400);
        let p = step(&team.sales, "salesOrderCreate", bad)
            .await
            .expect("refused creation");
        assert_eq!(verdict(&p), Err("BAD_USER_INPUT".to_owned()));
        // Refused: the south salesperson cannot file for the north agent.
        let p = step(
            &w.south.sales,
            "salesOrderCreate",
            create_input(&w, &team, 1, "2000.00"),
        )
        .await
        .expect("refused creation");
        assert_eq!(verdict(&p), Err("NOT_FOUND".to_owned()));

        let third = w.file_order(&team, 1, "2000.00").await.expect("third");
        assert_eq!(num(&third), order_number(&day, 3));
        assert_eq!(total_orders(&w.management).await, 3);
        audit_verifies(&server).await;
    }
);

// ------------------------------------------------------------- racing steps

e2e!(
    parallel_contract_approvals_one_wins,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        for round in 0..3 {
            let order = w.file_order(&team, 1, "2000.00").await.expect("file");
            let order = w
                .advance_to(&team, order, "contractSubmit")
                .await
                .expect("submit");
            assert_eq!(order["status"], "PENDING_APPROVAL");
            let input = json!({ "orderId": order["id"] });
            let deciders = [team.supervisor.clone(), w.management.clone()];
            let names = ["supervisor.north", "manager"];
            let payloads = parallel(2, |i| {
                must_step(deciders[i].clone(), "contractApprove", input.clone())
            })
            .await;
            let verdicts: Vec<_> = payloads.iter().map(verdict).collect();
            let winners: Vec<usize> = (0..2).filter(|i| verdicts[*i].is_ok()).collect();
            assert_eq!(
                winners.len(),
                1,
                "round {round}: exactly one approval wins: {payloads:?}"
            );
            let winner = winners[0];
            let loser = 1 - winner;
            assert_eq!(verdicts[loser], Err("CONFLICT".to_owned()), "round {round}");

            let o = read_order(&w.management, &num(&order)).await;
            assert_eq!(o["status"], "APPROVED");
            assert_eq!(o["version"], order["version"].as_i64().unwrap_or(-1) + 1);
            assert_eq!(o["contract"]["status"], "APPROVED");
            assert_eq!(o["contract"]["decidedBy"]["username"], names[winner]);
            assert_eq!(history_count(&o, "contractApprove", "OK"), 1, "{o}");
            assert_eq!(
                history_count(&o, "contractApprove", "REFUSED:CONFLICT"),
                1,
                "the losing approval is audited: {o}"
            );
            let approver = o["history"]
                .as_array()
                .and_then(|h| {
                    h.iter()
                        .find(|e| e["action"] == "contractApprove" && e["outcome"] == "OK")
                })
                .map(|e| e["actor"]["username"].clone());
            assert_eq!(approver, Some(json!(names[winner])));
        }
        audit_verifies(&server).await;
    }
);

e2e!(
    parallel_shipments_of_one_notice_ship_once,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let mut stock = on_hand(&w).await;
        assert_eq!(stock, 1000);
        for round in 0..3 {
            let order = w.file_order(&team, 2, "1500.00").await.expect("file");
            let order = w
                .advance_to(&team, order, "shippingNoticeIssue")
                .await
                .expect("notice");
            assert_eq!(order["status"], "NOTICE_ISSUED");
            let (keeper, input) = w.actor_and_input(&team, "shipmentShip", &order);
            let payloads = parallel(2, |_| {
                must_step(keeper.clone(), "shipmentShip", input.clone())
            })
            .await;
            let verdicts: Vec<_> = payloads.iter().map(verdict).collect();
            let ok_count = verdicts.iter().filter(|v| v.is_ok()).count();
            assert_eq!(ok_count, 1, "round {round}: one shipment: {payloads:?}");
            let refused = verdicts
                .iter()
                .find_map(|v| v.clone().err())
                .unwrap_or_default();
            assert!(
                refused == "CONFLICT" || refused == "NOTICE_INVALID",
                "round {round}: loser refused with {refused}"
            );

            stock -= 2;
            assert_eq!(on_hand(&w).await, stock, "round {round}: stock left once");
            let o = read_order(&w.management, &num(&order)).await;
            assert_eq!(o["status"], "SHIPPED");
            assert_eq!(o["shipment"]["carrier"], "SF Express");
            assert!(o["shippingNotice"]["usedAt"].is_string());
            assert_eq!(history_count(&o, "shipmentShip", "OK"), 1, "{o}");
        }
        audit_verifies(&server).await;
    }
);

/// Files an order and takes it to a shipping notice on a management
/// exception for its whole amount (nothing paid).
async fn notice_on_exception(w: &World, team: &Team, qty: i64, price: &str) -> Value {
    let order = w.file_order(team, qty, price).await.expect("file");
    let order = w
        .advance_to(team, order, "salesOrderForwardToFinance")
        .await
        .expect("to finance");
    assert_eq!(order["status"], "AT_FINANCE");
    let amount = order["total"].clone();
    let expires = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let order = ok(
        &w.management,
        "shipmentExceptionApprove",
        json!({"orderId": order["id"], "amount": amount, "reason": "key account, pays on arrival",
               "expiresAt": expires}),
    )
    .await
    .expect("exception");
    assert_eq!(order["status"], "AT_FINANCE");
    let (who, input) = w.actor_and_input(team, "shippingNoticeIssue", &order);
    let order = ok(&who, "shippingNoticeIssue", input)
        .await
        .expect("notice");
    assert_eq!(order["status"], "NOTICE_ISSUED");
    order
}

e2e!(
    parallel_shipments_stay_within_credit_limit,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        // North: limit 100000.00, two orders of 60000.00.
        // South: limit 50000.00, two orders of 30000.00.
        let rounds = [
            (w.north.clone(), 30, "100000.00", "60000.00", "40000.00"),
            (w.south.clone(), 15, "50000.00", "30000.00", "20000.00"),
        ];
        let mut stock = on_hand(&w).await;
        for (team, qty, limit, amount, left) in rounds {
            let before = agent_credit(&w, &team.agent).await;
            assert_eq!(before["creditLimit"], limit);
            assert_eq!(before["outstandingReceivables"], "0.00");
            let a = notice_on_exception(&w, &team, qty, "2000.00").await;
            let b = notice_on_exception(&w, &team, qty, "2000.00").await;
            assert_eq!(a["total"], amount);
            assert_eq!(b["total"], amount);
            let orders = [a, b];
            let ships: Vec<(Client, Value)> = orders
                .iter()
                .map(|o| w.actor_and_input(&team, "shipmentShip", o))
                .collect();
            let payloads = parallel(2, |i| {
                must_step(ships[i].0.clone(), "shipmentShip", ships[i].1.clone())
            })
            .await;
            let verdicts: Vec<_> = payloads.iter().map(verdict).collect();
            let winners: Vec<usize> = (0..2).filter(|i| verdicts[*i].is_ok()).collect();
            assert_eq!(
                winners.len(),
                1,
                "{limit}: exactly one shipment fits the limit: {payloads:?}"
            );
            let winner = winners[0];
            let loser = 1 - winner;
            assert_eq!(verdicts[loser], Err("CREDIT_LIMIT_EXCEEDED".to_owned()));

            let after = agent_credit(&w, &team.agent).await;
            assert_eq!(after["outstandingReceivables"], amount);
            assert_eq!(after["availableCredit"], left);
            stock -= qty;
            assert_eq!(on_hand(&w).await, stock, "only the winner's goods left");

            let won = read_order(&w.management, &num(&orders[winner])).await;
            assert_eq!(won["status"], "SHIPPED");
            assert_eq!(won["receivable"]["amount"], amount);
            assert_eq!(won["receivable"]["outstanding"], amount);
            assert!(won["shipmentExceptions"][0]["usedAt"].is_string());
            assert!(won["shippingNotice"]["usedAt"].is_string());
            let lost = read_order(&w.management, &num(&orders[loser])).await;
            assert_eq!(lost["status"], "NOTICE_ISSUED");
            assert!(lost["shipment"].is_null(), "{lost}");
            assert!(lost["receivable"].is_null(), "{lost}");
            assert!(lost["shipmentExceptions"][0]["usedAt"].is_null());
            assert!(lost["shippingNotice"]["usedAt"].is_null());
            assert_eq!(history_count(&lost, "shipmentShip", "OK"), 0);
        }
        audit_verifies(&server).await;
    }
);

// ------------------------------------------------------------- idempotency

e2e!(
    idempotent_creation_and_payment,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let day = day();
        let team = w.north.clone();
        let sales = team.sales.clone();
        let input = with_key(create_input(&w, &team, 5, "1000.00"), "create-1");

        // Sequential replay: the same order.
        let first = ok(&sales, "salesOrderCreate", input.clone())
            .await
            .expect("first");
        let again = ok(&sales, "salesOrderCreate", input.clone())
            .await
            .expect("replay");
        assert_eq!(again["id"], first["id"]);
        assert_eq!(num(&first), order_number(&day, 1));
        assert_eq!(num(&again), order_number(&day, 1));
        assert_eq!(total_orders(&w.management).await, 1);

        // Parallel replays of a new key: all get the one order.
        let input2 = with_key(create_input(&w, &team, 2, "2000.00"), "create-2");
        let payloads = parallel(6, |_| {
            must_step(sales.clone(), "salesOrderCreate", input2.clone())
        })
        .await;
        let orders: Vec<Value> = payloads
            .iter()
            .map(|p| verdict(p).unwrap_or_else(|c| panic!("parallel replay refused: {c}")))
            .collect();
        for o in &orders {
            assert_eq!(o["id"], orders[0]["id"], "{payloads:?}");
            assert_eq!(num(o), order_number(&day, 2));
        }
        assert_eq!(total_orders(&w.management).await, 2);

        // The same key with another input is refused, and changes nothing.
        let other = with_key(create_input(&w, &team, 6, "1000.00"), "create-1");
        let p = step(&sales, "salesOrderCreate", other)
            .await
            .expect("reuse");
        assert_eq!(verdict(&p), Err("IDEMPOTENCY_KEY_REUSED".to_owned()));
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", "idempotencyKey"])
        );
        assert_eq!(total_orders(&w.management).await, 2);

        // Losers of the parallel race rolled their numbers back: no gap.
        let third = w.file_order(&team, 1, "2000.00").await.expect("third");
        assert_eq!(num(&third), order_number(&day, 3));

        // A payment retried with its key is recorded once.
        let order = w
            .advance_to(&team, first, "salesOrderForwardToFinance")
            .await
            .expect("to finance");
        assert_eq!(order["total"], "5000.00");
        let pay = json!({"orderId": order["id"], "amount": "100.00", "receivedOn": today(),
                         "reference": "BANK-IDEM-1", "idempotencyKey": "pay-1"});
        let paid = ok(&w.finance, "paymentRecord", pay.clone())
            .await
            .expect("payment");
        assert_eq!(paid["paid"], "100.00");
        let replay = ok(&w.finance, "paymentRecord", pay.clone())
            .await
            .expect("payment replay");
        assert_eq!(replay["id"], order["id"]);
        assert_eq!(replay["paid"], "100.00");
        let payloads = parallel(5, |_| {
            must_step(w.finance.clone(), "paymentRecord", pay.clone())
        })
        .await;
        for p in &payloads {
            let o = verdict(p).unwrap_or_else(|c| panic!("payment replay refused: {c}"));
            assert_eq!(o["paid"], "100.00", "{p}");
        }
        // A new key in parallel replays: recorded once more, not five times.
        let mut pay2 = pay.clone();
        pay2["idempotencyKey"] = json!("pay-2");
        pay2["reference"] = json!("BANK-IDEM-2");
        let payloads = parallel(5, |_| {
            must_step(w.finance.clone(), "paymentRecord", pay2.clone())
        })
        .await;
        for p in &payloads {
            let o = verdict(p).unwrap_or_else(|c| panic!("parallel payment refused: {c}"));
            assert_eq!(o["id"], order["id"]);
        }
        // The key with another amount is refused.
        let mut changed = pay.clone();
        changed["amount"] = json!("200.00");
        let p = step(&w.finance, "paymentRecord", changed)
            .await
            .expect("reuse");
        assert_eq!(verdict(&p), Err("IDEMPOTENCY_KEY_REUSED".to_owned()));

        let o = read_order(&w.management, &num(&order)).await;
        assert_eq!(o["paid"], "200.00");
        assert_eq!(o["balanceDue"], "4800.00");
        let refs: Vec<&str> = o["payments"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["reference"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(refs.len(), 2, "{o}");
        assert!(refs.contains(&"BANK-IDEM-1") && refs.contains(&"BANK-IDEM-2"));
        assert_eq!(history_count(&o, "paymentRecord", "OK"), 2, "{o}");
        assert_eq!(history_count(&o, "salesOrderCreate", "OK"), 1, "{o}");
        audit_verifies(&server).await;
    }
);

// ---------------------------------------------------------- lost updates

e2e!(
    parallel_payments_lose_nothing,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let order = w.file_order(&team, 5, "1000.00").await.expect("file");
        let order = w
            .advance_to(&team, order, "salesOrderForwardToFinance")
            .await
            .expect("to finance");
        assert_eq!(order["total"], "5000.00");
        let mut succeeded: Vec<String> = vec![];
        let mut refused = 0usize;
        for round in 0..2 {
            let n = 10;
            let payloads = parallel(n, |i| {
                must_step(
                    w.finance.clone(),
                    "paymentRecord",
                    json!({"orderId": order["id"], "amount": "100.00", "receivedOn": today(),
                           "reference": format!("PAR-{round}-{i}")}),
                )
            })
            .await;
            for (i, p) in payloads.iter().enumerate() {
                match verdict(p) {
                    Ok(_) => succeeded.push(format!("PAR-{round}-{i}")),
                    Err(code) => {
                        assert_eq!(code, "CONFLICT", "payment {round}-{i}: {p}");
                        refused += 1;
                    }
                }
            }
            let s = succeeded.len() as i64;
            assert!(s > round, "at least one payment per round wins");
            let o = read_order(&w.management, &num(&order)).await;
            assert_eq!(o["paid"], format!("{}.00", 100 * s), "{o}");
            assert_eq!(o["balanceDue"], format!("{}.00", 5000 - 100 * s));
            let mut refs: Vec<String> = o["payments"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p["reference"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            refs.sort();
            let mut expected = succeeded.clone();
            expected.sort();
            assert_eq!(refs, expected, "exactly the successful payments are stored");
            assert!(o["payments"]
                .as_array()
                .is_some_and(|a| a.iter().all(|p| p["amount"] == "100.00")));
            assert_eq!(history_count(&o, "paymentRecord", "OK"), succeeded.len());
            assert_eq!(o["version"], order["version"].as_i64().unwrap_or(-1) + s);
            assert_eq!(succeeded.len() + refused, 10 * (round as usize + 1));
        }
        audit_verifies(&server).await;
    }
);

e2e!(
    parallel_refusals_are_all_audited,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        // "Every step and every refusal writes an audit record", also when one
        // user is refused many times at once: 60 payments larger than the
        // balance, in parallel, are all refused and all audited.
        // (Failed on PostgreSQL before the audit stream heads: refusals of one
        // actor collided on their stream's sequence and some were dropped.)
        let team = w.north.clone();
        let order = w.file_order(&team, 1, "1000.00").await.expect("file");
        let order = w
            .advance_to(&team, order, "salesOrderForwardToFinance")
            .await
            .expect("to finance");
        let n = 60;
        let payloads = parallel(n, |i| {
            must_step(
                w.finance.clone(),
                "paymentRecord",
                json!({"orderId": order["id"], "amount": "2000.00", "receivedOn": today(),
                       "reference": format!("TOO-MUCH-{i}")}),
            )
        })
        .await;
        for p in &payloads {
            assert_eq!(verdict(p), Err("BAD_USER_INPUT".to_owned()), "{p}");
        }
        let o = read_order(&w.management, &num(&order)).await;
        assert_eq!(o["paid"], "0.00");
        assert_eq!(o["payments"], json!([]));
        assert_eq!(
            history_count(&o, "paymentRecord", "REFUSED:BAD_USER_INPUT"),
            n,
            "every refusal is audited"
        );
        audit_verifies(&server).await;
    }
);

// ------------------------------------------------- single-statement steps

e2e!(
    payloads_answer_with_the_notice_as_the_step_left_it,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        // The steps answer `shippingNotice` from what they read or wrote
        // (no second read): it must be what a fresh read shows.
        let team = w.north.clone();
        let mut order = w.file_order(&team, 1, "2000.00").await.expect("file");
        for m in [
            "shippingNoticeIssue",
            "shipmentShip",
            "invoiceMail",
            "salesOrderArchive",
        ] {
            order = w.advance_to(&team, order, m).await.expect(m);
            let fresh = read_order(&w.management, &num(&order)).await;
            assert!(
                order["shippingNotice"]["number"].is_string(),
                "{m}: {order}"
            );
            assert_eq!(
                order["shippingNotice"], fresh["shippingNotice"],
                "{m}: the payload's notice is the stored one"
            );
        }
        assert!(
            order["shippingNotice"]["usedAt"].is_string(),
            "used by the shipment"
        );
        let _ = &server;
    }
);

e2e!(
    a_single_statement_write_that_misses_its_guard_leaves_nothing,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        use salesguard_api::deferred::Deferred;
        use salesguard_entities::model::sales_order;
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let app = &server.app;
        let backend = app.db.backend();
        // As a single-statement step writes: PostgreSQL, one statement of
        // its own; SQLite, one batch in the open group, led by a check of
        // its guards.
        let write_alone = |d: Deferred| async move {
            match backend {
                DbBackend::Postgres => d.write_single(&app.db.write).await,
                _ => d.write_grouped(&app.db).await,
            }
        };
        let team = w.north.clone();
        let order = w.file_order(&team, 1, "2000.00").await.expect("file");
        let (_, id) = salesguard_api::graphql::ids::parse(order["id"].as_str().unwrap_or_default())
            .expect("order id");
        let version = order["version"].as_i64().expect("version");
        let count = |sql: &'static str| async move {
            let row = app
                .db
                .read
                .query_one_raw(Statement::from_string(backend, sql))
                .await
                .expect("count")
                .expect("a row");
            row.try_get::<i64>("", "n").expect("n")
        };
        let write = |at_version: i64| {
            let mut d = Deferred::default();
            d.update_order(
                id,
                at_version,
                vec![(sales_order::Column::DeliveryAddress, "moved".into())],
            );
            d.notify(0, [1], Some(id), "GUARD_TEST", "written with the order");
            salesguard_api::outbox::defer(
                &mut d,
                "guard_test",
                &format!("guard-test-{at_version}"),
                json!({}),
            );
            d
        };
        let notes = "SELECT count(*) AS n FROM notifications WHERE kind = 'GUARD_TEST'";
        let outbox = "SELECT count(*) AS n FROM outbox WHERE kind = 'guard_test'";
        let moved = "SELECT count(*) AS n FROM sales_orders WHERE delivery_address = 'moved'";

        // Read at an older version: the order's update misses, and the
        // notification and outbox row of the same statement do not stay.
        let lost = write_alone(write(version - 1))
            .await
            .expect("a missed guard is not an error");
        assert!(lost.is_none(), "the guard missed");
        assert_eq!(count(notes).await, 0, "no notification stayed");
        assert_eq!(count(outbox).await, 0, "no outbox row stayed");
        assert_eq!(count(moved).await, 0, "the order is unchanged");

        // At the version read, all of it takes effect.
        let won = write_alone(write(version)).await.expect("write");
        assert_eq!(won.map(|n| n.len()), Some(1), "one notification returned");
        assert_eq!(count(notes).await, 1);
        assert_eq!(count(outbox).await, 1);
        assert_eq!(count(moved).await, 1);
    }
);
