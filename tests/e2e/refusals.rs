//! Refusals: every request the rules forbid is answered with the right
//! `userErrors` code, changes nothing (the order, its documents, the stock and
//! the agent's receivables are exactly as before), and, when it named an order
//! by `orderId`, is recorded in that order's history as `REFUSED:<CODE>`.
use salesguard_testkit::chain::{error_code, ok, step, today, ORDER_FIELDS};
use salesguard_testkit::world::Team;
use salesguard_testkit::{Client, World};
use serde_json::{json, Value};

/// The business day (Asia/Shanghai) as it appears in document numbers.
fn day() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y%m%d")
        .to_string()
}

/// An instant `secs` seconds from now, as the API's DateTime.
fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

fn number(order: &Value) -> String {
    order["number"]
        .as_str()
        .expect("order has a number")
        .to_owned()
}

/// The order as management (who sees every region) reads it: the fields the
/// chain driver reads, plus contract terms, exceptions and the history.
async fn read(w: &World, number: &str) -> Value {
    let q = format!(
        "query($n:String!){{salesOrder(number:$n){{{ORDER_FIELDS} \
         fullyPaidAt contract{{terms}} shipmentExceptions{{amount usedAt}} \
         history{{action outcome actorPosition actor{{username}}}}}}}}"
    );
    let d = w
        .management
        .data(&q, json!({ "n": number }))
        .await
        .expect("read order");
    assert!(d["salesOrder"].is_object(), "order {number} not found: {d}");
    d["salesOrder"].clone()
}

fn history(order: &Value) -> Vec<Value> {
    order["history"].as_array().cloned().unwrap_or_default()
}

fn without_history(order: &Value) -> Value {
    let mut o = order.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("history");
    }
    o
}

/// Re-reads the order and asserts it is exactly as `before`, except that its
/// history gained one `(action, outcome, actorPosition)` entry when
/// `recorded` is given, and nothing otherwise. Returns the order as re-read.
async fn unchanged(w: &World, before: &Value, recorded: Option<(&str, &str, &str)>) -> Value {
    let after = read(w, &number(before)).await;
    assert_eq!(
        without_history(&after),
        without_history(before),
        "a refused request changed order {}",
        number(before)
    );
    let (hb, ha) = (history(before), history(&after));
    match recorded {
        Some((action, outcome, position)) => {
            assert_eq!(ha.len(), hb.len() + 1, "history: {ha:#?}");
            assert_eq!(ha[..hb.len()], hb[..], "earlier history changed");
            let last = &ha[hb.len()];
            assert_eq!(last["action"], action, "{last}");
            assert_eq!(last["outcome"], outcome, "{last}");
            assert_eq!(last["actorPosition"], position, "{last}");
        }
        None => assert_eq!(ha, hb, "history changed"),
    }
    after
}

/// Asserts `payload` is a refusal with `code` (one user error, no order) and
/// that it changed nothing on the order (see `unchanged`). `recorded` is
/// `Some((action, actorPosition))` for requests that named the order.
async fn refused(
    w: &World,
    before: &Value,
    payload: &Value,
    code: &str,
    recorded: Option<(&str, &str)>,
) -> Value {
    assert_eq!(error_code(payload).as_deref(), Some(code), "{payload}");
    assert_eq!(
        payload["userErrors"].as_array().map(Vec::len),
        Some(1),
        "{payload}"
    );
    assert!(payload["salesOrder"].is_null(), "{payload}");
    let outcome = format!("REFUSED:{code}");
    unchanged(
        w,
        before,
        recorded.map(|(action, position)| (action, outcome.as_str(), position)),
    )
    .await
}

/// Runs a step as `who` and asserts it is refused with `code`, changing
/// nothing; returns the order as re-read.
async fn refuse(
    w: &World,
    before: &Value,
    who: &Client,
    mutation: &str,
    input: Value,
    code: &str,
    recorded: Option<(&str, &str)>,
) -> Value {
    let p = step(who, mutation, input)
        .await
        .unwrap_or_else(|e| panic!("{mutation}: {e:#}"));
    refused(w, before, &p, code, recorded).await
}

/// On-hand stock of `product` in the fixture warehouse.
async fn on_hand(w: &World, product: &str) -> i64 {
    let d = w
        .warehouse_keeper
        .data(
            "query($w:ID,$p:ID){stockLevels(warehouseId:$w,productId:$p){edges{node{onHand}}}}",
            json!({"w": w.warehouse, "p": product}),
        )
        .await
        .expect("stock");
    d["stockLevels"]["edges"][0]["node"]["onHand"]
        .as_i64()
        .expect("a stock level")
}

/// The agent's credit figures: [limit, outstanding, available].
async fn credit(w: &World, agent: &str) -> Value {
    let d = w
        .management
        .data(
            "query($id:ID!){node(id:$id){... on Agent{creditLimit outstandingReceivables availableCredit}}}",
            json!({ "id": agent }),
        )
        .await
        .expect("agent");
    json!([
        d["node"]["creditLimit"],
        d["node"]["outstandingReceivables"],
        d["node"]["availableCredit"]
    ])
}

/// How many orders `who` sees, and their numbers.
async fn visible_orders(who: &Client) -> (i64, Vec<String>) {
    let d = who
        .data(
            "{salesOrders(first:100){totalCount edges{node{number}}}}",
            json!({}),
        )
        .await
        .expect("salesOrders");
    let numbers = d["salesOrders"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["number"].as_str().expect("number").to_owned())
        .collect();
    (
        d["salesOrders"]["totalCount"].as_i64().expect("count"),
        numbers,
    )
}

/// The input that ships `order` on its notice.
fn ship_input(order: &Value, code: &Value) -> Value {
    json!({
        "noticeNumber": order["shippingNotice"]["number"],
        "verificationCode": code,
        "carrier": "SF Express",
        "trackingNumber": "SF123456789",
    })
}

/// Files an order and moves it on to (and including) `last`.
async fn order_at(w: &World, team: &Team, qty: i64, price: &str, last: &str) -> Value {
    let o = w.file_order(team, qty, price).await.expect("file order");
    w.advance_to(team, o, last)
        .await
        .unwrap_or_else(|e| panic!("advance to {last}: {e:#}"))
}

/// How many audit records of refusals of `action` with `outcome` there are
/// (for requests that name no order, e.g. `shipmentShip`).
async fn refusals_in_trail(
    server: &salesguard_testkit::Server,
    action: &str,
    outcome: &str,
) -> usize {
    use salesguard_entities::model::audit_log;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(action))
        .filter(audit_log::Column::Outcome.eq(outcome))
        .all(&server.app.db.read)
        .await
        .expect("audit log")
        .len()
}

// ------------------------------------------------------------------ 1

e2e!(
    a_step_by_the_wrong_position_is_forbidden,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let o = order_at(&w, &team, 2, "1000.00", "contractSubmit").await;
        assert_eq!(o["status"], "PENDING_APPROVAL");
        let id = o["id"].clone();
        let mut before = read(&w, &number(&o)).await;

        // Approval is the supervisor's (or management's), nobody else's.
        for (who, pos) in [
            (&team.sales, "SALESPERSON"),
            (&team.assistant, "SALES_ASSISTANT"),
            (&w.finance, "FINANCE"),
            (&w.warehouse_keeper, "WAREHOUSE"),
            (&w.analyst_north, "ANALYST"),
        ] {
            before = refuse(
                &w,
                &before,
                who,
                "contractApprove",
                json!({ "orderId": id }),
                "FORBIDDEN",
                Some(("contractApprove", pos)),
            )
            .await;
        }
        assert_eq!(before["status"], "PENDING_APPROVAL");
        assert_eq!(before["contract"]["status"], "PENDING_APPROVAL");
        assert!(before["contract"]["decidedBy"].is_null());

        // Finance's steps: never the sales side, never management.
        let o = w
            .advance_to(&team, before.clone(), "paymentRecord")
            .await
            .expect("to paid in full");
        assert_eq!(o["status"], "AT_FINANCE");
        assert_eq!(o["balanceDue"], "0.00");
        let mut before = read(&w, &number(&o)).await;
        for (who, pos) in [
            (&team.sales, "SALESPERSON"),
            (&team.assistant, "SALES_ASSISTANT"),
            (&team.supervisor, "SUPERVISOR"),
            (&w.management, "MANAGEMENT"),
        ] {
            before = refuse(
                &w,
                &before,
                who,
                "paymentConfirmFull",
                json!({ "orderId": id }),
                "FORBIDDEN",
                Some(("paymentConfirmFull", pos)),
            )
            .await;
        }
        before = refuse(
            &w,
            &before,
            &w.management,
            "paymentRecord",
            json!({"orderId": id, "amount": "1.00", "receivedOn": today(), "reference": "MGMT-1"}),
            "FORBIDDEN",
            Some(("paymentRecord", "MANAGEMENT")),
        )
        .await;
        assert!(before["fullyPaidAt"].is_null(), "{before}");
        assert_eq!(before["paid"], "2000.00");
        assert_eq!(
            before["payments"].as_array().map(Vec::len),
            Some(1),
            "{before}"
        );

        // Shipping is the warehouse's. shipmentShip names a notice; the
        // notice names the order: the refusal is in the order's history.
        let o = w
            .advance_to(&team, before.clone(), "shippingNoticeIssue")
            .await
            .expect("to notice issued");
        assert_eq!(o["status"], "NOTICE_ISSUED");
        let code = o["shippingNotice"]["verificationCode"].clone();
        let mut before = read(&w, &number(&o)).await;
        let refusals_before = refusals_in_trail(&server, "shipmentShip", "REFUSED:FORBIDDEN").await;
        for (who, pos) in [
            (&team.sales, "SALESPERSON"),
            (&team.assistant, "SALES_ASSISTANT"),
            (&team.supervisor, "SUPERVISOR"),
            (&w.management, "MANAGEMENT"),
            (&w.finance, "FINANCE"),
        ] {
            before = refuse(
                &w,
                &before,
                who,
                "shipmentShip",
                ship_input(&o, &code),
                "FORBIDDEN",
                Some(("shipmentShip", pos)),
            )
            .await;
        }
        assert_eq!(
            refusals_in_trail(&server, "shipmentShip", "REFUSED:FORBIDDEN").await,
            refusals_before + 5
        );
        assert!(before["shippingNotice"]["usedAt"].is_null());
        assert!(before["shipment"].is_null());
        assert_eq!(on_hand(&w, &w.product).await, 1000);

        // The order was not harmed: the right positions still move it on.
        let shipped = ok(&w.warehouse_keeper, "shipmentShip", ship_input(&o, &code))
            .await
            .expect("keeper ships");
        assert_eq!(shipped["status"], "SHIPPED");
        assert_eq!(on_hand(&w, &w.product).await, 998);
    }
);

// ------------------------------------------------------------------ 2

e2e!(
    a_step_out_of_order_is_a_conflict,
    |_server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let o = w.file_order(&team, 1, "500.00").await.expect("file");
        assert_eq!(o["status"], "FILED");
        let id = o["id"].clone();
        let mut before = read(&w, &number(&o)).await;
        let attempts: Vec<(&Client, &str, Value, &str)> = vec![
            (
                &team.supervisor,
                "contractApprove",
                json!({"orderId": id}),
                "SUPERVISOR",
            ),
            (
                &team.assistant,
                "contractSubmit",
                json!({"orderId": id}),
                "SALES_ASSISTANT",
            ),
            (
                &team.sales,
                "contractSign",
                json!({"orderId": id, "method": "ON_SITE"}),
                "SALESPERSON",
            ),
            (
                &team.assistant,
                "salesOrderForwardToFinance",
                json!({"orderId": id}),
                "SALES_ASSISTANT",
            ),
            (
                &w.finance,
                "paymentRecord",
                json!({"orderId": id, "amount": "500.00", "receivedOn": today(), "reference": "R-1"}),
                "FINANCE",
            ),
            (
                &w.finance,
                "paymentConfirmFull",
                json!({"orderId": id}),
                "FINANCE",
            ),
            (
                &team.assistant,
                "shippingNoticeIssue",
                json!({"orderId": id, "warehouseId": w.warehouse}),
                "SALES_ASSISTANT",
            ),
            (
                &w.finance,
                "invoiceIssue",
                json!({"orderId": id, "invoiceNumber": "INV-X"}),
                "FINANCE",
            ),
            (
                &team.assistant,
                "salesOrderArchive",
                json!({"orderId": id}),
                "SALES_ASSISTANT",
            ),
        ];
        for (who, m, input, pos) in attempts {
            let p = step(who, m, input).await.expect(m);
            assert!(p["userErrors"][0]["field"].is_null(), "{m}: {p}");
            before = refused(&w, &before, &p, "CONFLICT", Some((m, pos))).await;
        }
        assert_eq!(before["status"], "FILED");
        assert_eq!(before["version"], 0);
        assert!(before["contract"].is_null());

        // Paid in full: confirming again, or drafting now, is out of order.
        let o = w
            .advance_to(&team, before.clone(), "paymentConfirmFull")
            .await
            .expect("to paid");
        assert_eq!(o["status"], "PAID");
        let mut before = read(&w, &number(&o)).await;
        before = refuse(
            &w,
            &before,
            &w.finance,
            "paymentConfirmFull",
            json!({"orderId": id}),
            "CONFLICT",
            Some(("paymentConfirmFull", "FINANCE")),
        )
        .await;
        before = refuse(
            &w,
            &before,
            &team.assistant,
            "contractDraft",
            json!({"orderId": id, "terms": "Again"}),
            "CONFLICT",
            Some(("contractDraft", "SALES_ASSISTANT")),
        )
        .await;

        // Shipping a PAID order before its notice is issued: there is no
        // notice to name, so even the number the notice is about to get is
        // not genuine yet. The refusal names no order: not in its history.
        let next_notice = format!("SC{}FHTZ0001", day());
        before = refuse(
            &w,
            &before,
            &w.warehouse_keeper,
            "shipmentShip",
            json!({"noticeNumber": next_notice, "verificationCode": "ABCDEFGH",
                   "carrier": "SF Express", "trackingNumber": "SF1"}),
            "NOTICE_INVALID",
            None,
        )
        .await;
        assert_eq!(before["status"], "PAID");
        assert!(before["shipment"].is_null());
        assert_eq!(on_hand(&w, &w.product).await, 1000);
        let o = w
            .advance_to(&team, before.clone(), "shippingNoticeIssue")
            .await
            .expect("notice");
        assert_eq!(o["shippingNotice"]["number"], next_notice.as_str());

        // Issuing a second notice on an issued one is out of order.
        let before = read(&w, &number(&o)).await;
        refuse(
            &w,
            &before,
            &team.assistant,
            "shippingNoticeIssue",
            json!({"orderId": id, "warehouseId": w.warehouse}),
            "CONFLICT",
            Some(("shippingNoticeIssue", "SALES_ASSISTANT")),
        )
        .await;
    }
);

// ------------------------------------------------------------------ 3

e2e!(
    other_regions_orders_are_not_found,
    |_server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let north = w.file_order(&w.north, 1, "100.00").await.expect("north");
        let south = w.file_order(&w.south, 1, "100.00").await.expect("south");
        let (n_num, s_num) = (number(&north), number(&south));
        let node_q = "query($id:ID!){node(id:$id){id ... on SalesOrder{number}}}";
        let by_number = "query($n:String!){salesOrder(number:$n){number}}";

        // The south salesperson cannot read the north order by its ID ...
        let before = read(&w, &n_num).await;
        let r = w
            .south
            .sales
            .raw(node_q, json!({"id": north["id"]}))
            .await
            .expect("raw");
        assert_eq!(r["errors"][0]["extensions"]["code"], "NOT_FOUND", "{r}");
        assert_eq!(r["errors"].as_array().map(Vec::len), Some(1), "{r}");
        assert_eq!(r["data"]["node"], Value::Null, "{r}");
        // The refused read names the order: it is in the order's history.
        let before = unchanged(
            &w,
            &before,
            Some(("node", "REFUSED:NOT_FOUND", "SALESPERSON")),
        )
        .await;
        // ... nor by its number ...
        let d = w
            .south
            .sales
            .data(by_number, json!({"n": n_num}))
            .await
            .expect("by number");
        assert!(d["salesOrder"].is_null(), "{d}");
        // ... nor in the list.
        assert_eq!(
            visible_orders(&w.south.sales).await,
            (1, vec![s_num.clone()])
        );
        assert_eq!(
            visible_orders(&w.north.sales).await,
            (1, vec![n_num.clone()])
        );
        assert_eq!(visible_orders(&w.management).await.0, 2);
        // What the south could read is its own order.
        let d = w
            .south
            .sales
            .data(node_q, json!({"id": south["id"]}))
            .await
            .expect("own order");
        assert_eq!(d["node"]["number"], s_num.as_str());

        // The north analyst sees north orders, not south ones.
        let a = &w.analyst_north;
        let d = a
            .data(node_q, json!({"id": north["id"]}))
            .await
            .expect("node");
        assert_eq!(d["node"]["number"], n_num.as_str());
        let d = a
            .data(by_number, json!({"n": n_num}))
            .await
            .expect("by number");
        assert_eq!(d["salesOrder"]["number"], n_num.as_str());
        let d = a
            .data(by_number, json!({"n": s_num}))
            .await
            .expect("by number");
        assert!(d["salesOrder"].is_null(), "{d}");
        let r = a
            .raw(node_q, json!({"id": south["id"]}))
            .await
            .expect("raw");
        assert_eq!(r["errors"][0]["extensions"]["code"], "NOT_FOUND", "{r}");
        assert!(r["data"]["node"].is_null(), "{r}");
        assert_eq!(visible_orders(a).await, (1, vec![n_num.clone()]));

        // Writes: the south assistant cannot draft the north order's contract,
        // and the south supervisor learns nothing (NOT_FOUND, not CONFLICT).
        let p = step(
            &w.south.assistant,
            "contractDraft",
            json!({"orderId": north["id"], "terms": "Hijacked terms"}),
        )
        .await
        .expect("contractDraft");
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", "orderId"]),
            "{p}"
        );
        let before = refused(
            &w,
            &before,
            &p,
            "NOT_FOUND",
            Some(("contractDraft", "SALES_ASSISTANT")),
        )
        .await;
        let before = refuse(
            &w,
            &before,
            &w.south.supervisor,
            "contractApprove",
            json!({"orderId": north["id"]}),
            "NOT_FOUND",
            Some(("contractApprove", "SUPERVISOR")),
        )
        .await;
        assert_eq!(before["status"], "FILED");
        assert_eq!(before["version"], 0);
        assert!(before["contract"].is_null());

        // Nor can the south salesperson file an order for the north agent.
        let p = step(
            &w.south.sales,
            "salesOrderCreate",
            json!({"agentId": w.north.agent, "paymentTermsDays": 30,
                   "lines": [{"productId": w.product, "quantity": 1, "unitPrice": "100.00"}]}),
        )
        .await
        .expect("create");
        assert_eq!(error_code(&p).as_deref(), Some("NOT_FOUND"), "{p}");
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", "agentId"]),
            "{p}"
        );
        assert!(p["salesOrder"].is_null());
        assert_eq!(visible_orders(&w.management).await.0, 2);
        unchanged(&w, &before, None).await;
    }
);

// ------------------------------------------------------------------ 4

e2e!(
    nobody_approves_their_own_contract,
    |_server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        // The assistant drafts; management submits, then tries to decide.
        let o = order_at(&w, &team, 1, "800.00", "contractDraft").await;
        let id = o["id"].clone();
        let o = ok(&w.management, "contractSubmit", json!({"orderId": id}))
            .await
            .expect("management submits");
        assert_eq!(o["status"], "PENDING_APPROVAL");
        let before = read(&w, &number(&o)).await;
        let p = step(&w.management, "contractApprove", json!({"orderId": id}))
            .await
            .expect("approve");
        let before = refused(
            &w,
            &before,
            &p,
            "SELF_APPROVAL",
            Some(("contractApprove", "MANAGEMENT")),
        )
        .await;
        let before = refuse(
            &w,
            &before,
            &w.management,
            "contractReject",
            json!({"orderId": id, "reason": "Second thoughts"}),
            "SELF_APPROVAL",
            Some(("contractReject", "MANAGEMENT")),
        )
        .await;
        assert_eq!(before["status"], "PENDING_APPROVAL");
        assert!(before["contract"]["decidedBy"].is_null());
        // Someone else may.
        let o = ok(&team.supervisor, "contractApprove", json!({"orderId": id}))
            .await
            .expect("supervisor approves");
        assert_eq!(o["status"], "APPROVED");
        assert_eq!(o["contract"]["status"], "APPROVED");
        assert_eq!(o["contract"]["decidedBy"]["username"], "supervisor.north");

        // Management drafts; the assistant submits; management may not
        // approve what it drafted.
        let o = w.file_order(&team, 1, "800.00").await.expect("file");
        let id = o["id"].clone();
        ok(
            &w.management,
            "contractDraft",
            json!({"orderId": id, "terms": "Management's own terms"}),
        )
        .await
        .expect("management drafts");
        let o = ok(&team.assistant, "contractSubmit", json!({"orderId": id}))
            .await
            .expect("assistant submits");
        let before = read(&w, &number(&o)).await;
        let before = refuse(
            &w,
            &before,
            &w.management,
            "contractApprove",
            json!({"orderId": id}),
            "SELF_APPROVAL",
            Some(("contractApprove", "MANAGEMENT")),
        )
        .await;
        assert_eq!(before["status"], "PENDING_APPROVAL");
        let o = ok(&team.supervisor, "contractApprove", json!({"orderId": id}))
            .await
            .expect("supervisor approves");
        assert_eq!(o["contract"]["decidedBy"]["username"], "supervisor.north");
    }
);

// ------------------------------------------------------------------ 5

e2e!(
    no_shipment_before_full_payment_without_exception,
    |_server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let o = order_at(&w, &team, 3, "1000.00", "salesOrderForwardToFinance").await;
        assert_eq!(o["status"], "AT_FINANCE");
        let id = o["id"].clone();
        let o = ok(
            &w.finance,
            "paymentRecord",
            json!({"orderId": id, "amount": "1000.00", "receivedOn": today(), "reference": "PART-1"}),
        )
        .await
        .expect("partial payment");
        assert_eq!(o["paid"], "1000.00");
        assert_eq!(o["balanceDue"], "2000.00");
        let before = read(&w, &number(&o)).await;
        let before = refuse(
            &w,
            &before,
            &team.assistant,
            "shippingNoticeIssue",
            json!({"orderId": id, "warehouseId": w.warehouse}),
            "PAYMENT_INCOMPLETE",
            Some(("shippingNoticeIssue", "SALES_ASSISTANT")),
        )
        .await;
        let before = refuse(
            &w,
            &before,
            &w.finance,
            "paymentConfirmFull",
            json!({"orderId": id}),
            "PAYMENT_INCOMPLETE",
            Some(("paymentConfirmFull", "FINANCE")),
        )
        .await;
        assert_eq!(before["status"], "AT_FINANCE");
        assert_eq!(before["paid"], "1000.00");
        assert!(before["shippingNotice"].is_null());
        assert_eq!(before["agent"]["outstandingReceivables"], "0.00");

        // Paid in full, it goes.
        let o = w
            .advance_to(&team, before, "shippingNoticeIssue")
            .await
            .expect("pay and issue");
        assert_eq!(o["status"], "NOTICE_ISSUED");
        assert_eq!(o["paid"], "3000.00");
    }
);

// ------------------------------------------------------------------ 6

e2e!(
    an_expired_exception_is_refused_and_a_valid_one_ships_on_credit,
    |_server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let o = order_at(&w, &team, 5, "2000.00", "salesOrderForwardToFinance").await;
        let id = o["id"].clone();
        let o = ok(
            &w.finance,
            "paymentRecord",
            json!({"orderId": id, "amount": "4000.00", "receivedOn": today(), "reference": "PART-1"}),
        )
        .await
        .expect("partial payment");
        assert_eq!(o["balanceDue"], "6000.00");
        let exception = |amount: &str, expires: String| {
            json!({"orderId": id, "amount": amount, "reason": "Key customer, peak season",
                   "expiresAt": expires})
        };

        // An exception must expire in the future and cover at most the unpaid.
        let before = read(&w, &number(&o)).await;
        let p = step(
            &w.management,
            "shipmentExceptionApprove",
            exception("6000.00", in_secs(-60)),
        )
        .await
        .expect("exception");
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", "expiresAt"]),
            "{p}"
        );
        let before = refused(
            &w,
            &before,
            &p,
            "BAD_USER_INPUT",
            Some(("shipmentExceptionApprove", "MANAGEMENT")),
        )
        .await;
        let p = step(
            &w.management,
            "shipmentExceptionApprove",
            exception("6000.01", in_secs(3600)),
        )
        .await
        .expect("exception");
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", "amount"]),
            "{p}"
        );
        let before = refused(
            &w,
            &before,
            &p,
            "BAD_USER_INPUT",
            Some(("shipmentExceptionApprove", "MANAGEMENT")),
        )
        .await;
        assert_eq!(before["shipmentExceptions"], json!([]));

        // An exception that has expired lets nothing ship.
        let o = ok(
            &w.management,
            "shipmentExceptionApprove",
            exception("6000.00", in_secs(2)),
        )
        .await
        .expect("short exception");
        assert_eq!(o["status"], "AT_FINANCE");
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let before = read(&w, &number(&o)).await;
        let before = refuse(
            &w,
            &before,
            &team.assistant,
            "shippingNoticeIssue",
            json!({"orderId": id, "warehouseId": w.warehouse}),
            "EXCEPTION_INVALID",
            Some(("shippingNoticeIssue", "SALES_ASSISTANT")),
        )
        .await;
        assert!(before["shippingNotice"].is_null());

        // Nor does one that covers less than the unpaid amount.
        ok(
            &w.management,
            "shipmentExceptionApprove",
            exception("5000.00", in_secs(86_400)),
        )
        .await
        .expect("small exception");
        let before = read(&w, &number(&o)).await;
        refuse(
            &w,
            &before,
            &team.assistant,
            "shippingNoticeIssue",
            json!({"orderId": id, "warehouseId": w.warehouse}),
            "EXCEPTION_INVALID",
            Some(("shippingNoticeIssue", "SALES_ASSISTANT")),
        )
        .await;

        // A live exception for the whole unpaid amount: notice, shipment, and
        // the unpaid part becomes a receivable on the agent's account.
        ok(
            &w.management,
            "shipmentExceptionApprove",
            exception("6000.00", in_secs(86_400)),
        )
        .await
        .expect("exception");
        assert_eq!(
            credit(&w, &team.agent).await,
            json!(["100000.00", "0.00", "100000.00"])
        );
        let o = ok(
            &team.assistant,
            "shippingNoticeIssue",
            json!({"orderId": id, "warehouseId": w.warehouse}),
        )
        .await
        .expect("notice on exception");
        assert_eq!(o["status"], "NOTICE_ISSUED");
        let code = o["shippingNotice"]["verificationCode"].clone();
        let o = ok(&w.warehouse_keeper, "shipmentShip", ship_input(&o, &code))
            .await
            .expect("ship on exception");
        assert_eq!(o["status"], "SHIPPED");
        assert_eq!(o["paid"], "4000.00");
        assert_eq!(o["receivable"]["amount"], "6000.00");
        assert_eq!(o["receivable"]["outstanding"], "6000.00");
        let due = (chrono::Utc::now() + chrono::Duration::days(30))
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive()
            .to_string();
        assert_eq!(o["receivable"]["dueOn"], due.as_str());
        assert_eq!(o["agent"]["outstandingReceivables"], "6000.00");
        assert_eq!(
            credit(&w, &team.agent).await,
            json!(["100000.00", "6000.00", "94000.00"])
        );
        assert_eq!(on_hand(&w, &w.product).await, 995);
        let exceptions = read(&w, &number(&o)).await["shipmentExceptions"].clone();
        let used: Vec<&Value> = exceptions
            .as_array()
            .expect("exceptions")
            .iter()
            .filter(|e| e["usedAt"].is_string())
            .collect();
        assert_eq!(used.len(), 1, "{exceptions}");
        assert_eq!(used[0]["amount"], "6000.00");

        // Later payments pay the receivable down; more than is due is refused.
        let pay = |amount: &str, r: &str| json!({"orderId": id, "amount": amount, "receivedOn": today(), "reference": r});
        let o = ok(&w.finance, "paymentRecord", pay("2500.00", "LATE-1"))
            .await
            .expect("late payment");
        assert_eq!(o["status"], "SHIPPED");
        assert_eq!(o["receivable"]["outstanding"], "3500.00");
        assert_eq!(o["agent"]["outstandingReceivables"], "3500.00");
        assert_eq!(o["balanceDue"], "3500.00");
        let before = read(&w, &number(&o)).await;
        let p = step(&w.finance, "paymentRecord", pay("3500.01", "LATE-X"))
            .await
            .expect("overpay");
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", "amount"]),
            "{p}"
        );
        refused(
            &w,
            &before,
            &p,
            "BAD_USER_INPUT",
            Some(("paymentRecord", "FINANCE")),
        )
        .await;
        let o = ok(&w.finance, "paymentRecord", pay("3500.00", "LATE-2"))
            .await
            .expect("rest");
        assert_eq!(o["receivable"]["outstanding"], "0.00");
        assert_eq!(o["agent"]["outstandingReceivables"], "0.00");
        assert_eq!(o["balanceDue"], "0.00");
        let o = ok(&w.finance, "paymentConfirmFull", json!({"orderId": id}))
            .await
            .expect("confirm after shipment");
        assert_eq!(o["status"], "SHIPPED");
        assert_eq!(
            credit(&w, &team.agent).await,
            json!(["100000.00", "0.00", "100000.00"])
        );
    }
);

// ------------------------------------------------------------------ 7

e2e!(
    shipping_past_the_credit_limit_is_refused,
    |_server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let o = order_at(&w, &team, 60, "2000.00", "salesOrderForwardToFinance").await;
        assert_eq!(o["total"], "120000.00");
        let id = o["id"].clone();
        ok(
            &w.management,
            "shipmentExceptionApprove",
            json!({"orderId": id, "amount": "120000.00", "reason": "Launch order",
                   "expiresAt": in_secs(86_400)}),
        )
        .await
        .expect("exception");
        let o = ok(
            &team.assistant,
            "shippingNoticeIssue",
            json!({"orderId": id, "warehouseId": w.warehouse}),
        )
        .await
        .expect("notice");
        assert_eq!(o["status"], "NOTICE_ISSUED");
        let code = o["shippingNotice"]["verificationCode"].clone();
        let before = read(&w, &number(&o)).await;
        let before = refuse(
            &w,
            &before,
            &w.warehouse_keeper,
            "shipmentShip",
            ship_input(&o, &code),
            "CREDIT_LIMIT_EXCEEDED",
            Some(("shipmentShip", "WAREHOUSE")),
        )
        .await;
        assert_eq!(before["status"], "NOTICE_ISSUED");
        assert!(before["shipment"].is_null());
        assert!(before["receivable"].is_null());
        assert!(before["shippingNotice"]["usedAt"].is_null());
        assert_eq!(before["shipmentExceptions"][0]["usedAt"], Value::Null);
        assert_eq!(before["agent"]["outstandingReceivables"], "0.00");
        assert_eq!(on_hand(&w, &w.product).await, 1000);
        assert_eq!(
            credit(&w, &team.agent).await,
            json!(["100000.00", "0.00", "100000.00"])
        );

        // With 20000.00 paid, exactly the limit is left unpaid: it ships.
        ok(
            &w.finance,
            "paymentRecord",
            json!({"orderId": id, "amount": "20000.00", "receivedOn": today(), "reference": "DOWN-1"}),
        )
        .await
        .expect("down payment");
        let o = ok(&w.warehouse_keeper, "shipmentShip", ship_input(&o, &code))
            .await
            .expect("ships at the limit");
        assert_eq!(o["status"], "SHIPPED");
        assert_eq!(o["receivable"]["outstanding"], "100000.00");
        assert_eq!(on_hand(&w, &w.product).await, 940);
        assert_eq!(
            credit(&w, &team.agent).await,
            json!(["100000.00", "100000.00", "0.00"])
        );
    }
);

// ------------------------------------------------------------------ 8

e2e!(
    shipping_more_than_is_in_stock_is_refused,
    |_server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let o = order_at(&w, &team, 1001, "10.00", "shippingNoticeIssue").await;
        assert_eq!(o["status"], "NOTICE_ISSUED");
        assert_eq!(o["balanceDue"], "0.00");
        let code = o["shippingNotice"]["verificationCode"].clone();
        assert_eq!(on_hand(&w, &w.product).await, 1000);
        let before = read(&w, &number(&o)).await;
        let before = refuse(
            &w,
            &before,
            &w.warehouse_keeper,
            "shipmentShip",
            ship_input(&o, &code),
            "INSUFFICIENT_STOCK",
            Some(("shipmentShip", "WAREHOUSE")),
        )
        .await;
        assert_eq!(before["status"], "NOTICE_ISSUED");
        assert!(before["shipment"].is_null());
        assert!(before["shippingNotice"]["usedAt"].is_null());
        assert_eq!(on_hand(&w, &w.product).await, 1000);
        assert_eq!(on_hand(&w, &w.part).await, 1000);

        // One more unit received: the same notice now ships, leaving none.
        let d = w
            .warehouse_keeper
            .data(
                "mutation($i:StockReceiveInput!){stockReceive(input:$i){stockLevel{onHand} userErrors{code}}}",
                json!({"i": {"warehouseId": w.warehouse, "productId": w.product, "quantity": 1}}),
            )
            .await
            .expect("receive");
        assert_eq!(d["stockReceive"]["stockLevel"]["onHand"], 1001, "{d}");
        let o = ok(&w.warehouse_keeper, "shipmentShip", ship_input(&o, &code))
            .await
            .expect("ships");
        assert_eq!(o["status"], "SHIPPED");
        assert_eq!(on_hand(&w, &w.product).await, 0);
    }
);

// ------------------------------------------------------------------ 9

e2e!(
    malformed_or_negative_amounts_and_quantities_are_bad_input,
    |_server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let count = || async { visible_orders(&w.management).await.0 };
        assert_eq!(count().await, 0);
        let line = |q: i64, price: &str| json!({"productId": w.product, "quantity": q, "unitPrice": price});
        let good = line(1, "100.00");
        let cases: Vec<(Value, Value)> = vec![
            (
                json!([line(0, "100.00")]),
                json!(["input", "lines", "0", "quantity"]),
            ),
            (
                json!([line(-1, "100.00")]),
                json!(["input", "lines", "0", "quantity"]),
            ),
            (
                json!([line(1_000_001, "100.00")]),
                json!(["input", "lines", "0", "quantity"]),
            ),
            (
                json!([good.clone(), line(0, "100.00")]),
                json!(["input", "lines", "1", "quantity"]),
            ),
            (
                json!([line(1, "-5.00")]),
                json!(["input", "lines", "0", "unitPrice"]),
            ),
            (
                json!([line(1, "1.234")]),
                json!(["input", "lines", "0", "unitPrice"]),
            ),
            (
                json!([line(1, "abc")]),
                json!(["input", "lines", "0", "unitPrice"]),
            ),
            (
                json!([line(1, "1e5")]),
                json!(["input", "lines", "0", "unitPrice"]),
            ),
            (
                json!([line(1, "")]),
                json!(["input", "lines", "0", "unitPrice"]),
            ),
            (
                json!([good.clone(), line(2, "-0.01")]),
                json!(["input", "lines", "1", "unitPrice"]),
            ),
        ];
        for (lines, field) in cases {
            let p = step(
                &team.sales,
                "salesOrderCreate",
                json!({"agentId": team.agent, "lines": lines, "paymentTermsDays": 30}),
            )
            .await
            .expect("salesOrderCreate");
            assert_eq!(
                error_code(&p).as_deref(),
                Some("BAD_USER_INPUT"),
                "{lines}: {p}"
            );
            assert_eq!(p["userErrors"][0]["field"], field, "{lines}: {p}");
            assert_eq!(p["userErrors"].as_array().map(Vec::len), Some(1), "{p}");
            assert!(p["salesOrder"].is_null(), "{p}");
        }
        assert_eq!(
            count().await,
            0,
            "a refused salesOrderCreate created an order"
        );

        // Payments: positive, at most 2 decimals, at most what is due.
        let o = order_at(&w, &team, 2, "1000.00", "salesOrderForwardToFinance").await;
        assert_eq!(count().await, 1);
        let id = o["id"].clone();
        let pay = |amount: &str| json!({"orderId": id, "amount": amount, "receivedOn": today(), "reference": "BANK-1"});
        let mut before = read(&w, &number(&o)).await;
        for amount in [
            "0", "0.00", "-1", "-0.01", "12.345", "abc", "1e3", "", "2000.01",
        ] {
            let p = step(&w.finance, "paymentRecord", pay(amount))
                .await
                .expect("pay");
            assert_eq!(
                p["userErrors"][0]["field"],
                json!(["input", "amount"]),
                "{amount}: {p}"
            );
            before = refused(
                &w,
                &before,
                &p,
                "BAD_USER_INPUT",
                Some(("paymentRecord", "FINANCE")),
            )
            .await;
        }
        assert_eq!(before["paid"], "0.00");
        assert_eq!(before["payments"], json!([]));
        assert_eq!(before["status"], "AT_FINANCE");
        // Just under the balance is fine; then a cent too much is not.
        let o = ok(&w.finance, "paymentRecord", pay("1999.99"))
            .await
            .expect("pay");
        assert_eq!(o["balanceDue"], "0.01");
        let before = read(&w, &number(&o)).await;
        let p = step(&w.finance, "paymentRecord", pay("0.02"))
            .await
            .expect("pay");
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", "amount"]),
            "{p}"
        );
        refused(
            &w,
            &before,
            &p,
            "BAD_USER_INPUT",
            Some(("paymentRecord", "FINANCE")),
        )
        .await;
        assert_eq!(count().await, 1);
    }
);

// ------------------------------------------------------------------ 10

e2e!(
    a_forged_or_reused_notice_is_refused,
    |_server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let a = order_at(&w, &team, 3, "100.00", "shippingNoticeIssue").await;
        let b = order_at(&w, &team, 4, "100.00", "shippingNoticeIssue").await;
        let code_a = a["shippingNotice"]["verificationCode"]
            .as_str()
            .expect("code")
            .to_owned();
        let code_b = b["shippingNotice"]["verificationCode"].clone();
        assert_ne!(code_a.as_str(), code_b.as_str().unwrap_or_default());
        // A code that differs from the real one in its first character.
        let forged: String = {
            let first = if code_a.starts_with('A') { 'B' } else { 'A' };
            std::iter::once(first)
                .chain(code_a.chars().skip(1))
                .collect()
        };
        let keeper = &w.warehouse_keeper;
        let mut before = read(&w, &number(&a)).await;
        let before_b = read(&w, &number(&b)).await;
        let forgeries = [
            ship_input(&a, &json!(forged)),
            ship_input(&a, &code_b),
            ship_input(&a, &json!("")),
            json!({"noticeNumber": format!("SC{}FHTZ9999", day()), "verificationCode": code_a,
                   "carrier": "SF Express", "trackingNumber": "SF1"}),
        ];
        for (i, input) in forgeries.into_iter().enumerate() {
            let p = step(keeper, "shipmentShip", input.clone())
                .await
                .expect("ship");
            assert_eq!(
                p["userErrors"][0]["field"],
                json!(["input", "noticeNumber"]),
                "{input}: {p}"
            );
            // A forged code on a real notice is recorded on that notice's
            // order; an unknown notice number names no order.
            let recorded = (i < 3).then_some(("shipmentShip", "WAREHOUSE"));
            before = refused(&w, &before, &p, "NOTICE_INVALID", recorded).await;
        }
        unchanged(&w, &before_b, None).await;
        assert_eq!(on_hand(&w, &w.product).await, 1000);

        // The genuine notice ships once ...
        let shipped = ok(keeper, "shipmentShip", ship_input(&a, &json!(code_a)))
            .await
            .expect("ship");
        assert_eq!(shipped["status"], "SHIPPED");
        assert!(shipped["shippingNotice"]["usedAt"].is_string());
        assert_eq!(on_hand(&w, &w.product).await, 997);
        // ... and never again.
        let before = read(&w, &number(&a)).await;
        let p = step(keeper, "shipmentShip", ship_input(&a, &json!(code_a)))
            .await
            .expect("ship again");
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", "noticeNumber"]),
            "{p}"
        );
        let after = refused(
            &w,
            &before,
            &p,
            "NOTICE_INVALID",
            Some(("shipmentShip", "WAREHOUSE")),
        )
        .await;
        assert_eq!(after["status"], "SHIPPED");
        assert_eq!(on_hand(&w, &w.product).await, 997);
        unchanged(&w, &before_b, None).await;
    }
);

// ------------------------------------------------------------------ 11

e2e!(
    a_rejection_needs_a_reason_and_goes_back_to_the_drafter,
    |_server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let o = order_at(&w, &team, 2, "1500.00", "contractSubmit").await;
        assert_eq!(o["status"], "PENDING_APPROVAL");
        let id = o["id"].clone();
        let mut before = read(&w, &number(&o)).await;
        for input in [
            json!({"orderId": id}),
            json!({"orderId": id, "reason": null}),
            json!({"orderId": id, "reason": "   "}),
        ] {
            let p = step(&team.supervisor, "contractReject", input.clone())
                .await
                .expect("reject");
            assert_eq!(
                p["userErrors"][0]["field"],
                json!(["input", "reason"]),
                "{input}: {p}"
            );
            before = refused(
                &w,
                &before,
                &p,
                "BAD_USER_INPUT",
                Some(("contractReject", "SUPERVISOR")),
            )
            .await;
        }
        assert_eq!(before["contract"]["status"], "PENDING_APPROVAL");
        assert!(before["contract"]["rejectionReason"].is_null());

        let reason = "Price too low for this volume.";
        let o = ok(
            &team.supervisor,
            "contractReject",
            json!({"orderId": id, "reason": reason}),
        )
        .await
        .expect("reject with a reason");
        assert_eq!(o["status"], "CONTRACT_DRAFTED");
        assert_eq!(
            o["version"],
            before["version"].as_i64().expect("version") + 1
        );
        assert_eq!(o["contract"]["status"], "REJECTED");
        assert_eq!(o["contract"]["rejectionReason"], reason);
        assert_eq!(o["contract"]["decidedBy"]["username"], "supervisor.north");
        let after = read(&w, &number(&o)).await;
        let last = history(&after).last().cloned().expect("history");
        assert_eq!(
            (&last["action"], &last["outcome"]),
            (&json!("contractReject"), &json!("OK"))
        );

        // A rejected contract is not approved before it is resubmitted.
        let after = refuse(
            &w,
            &after,
            &team.supervisor,
            "contractApprove",
            json!({"orderId": id}),
            "CONFLICT",
            Some(("contractApprove", "SUPERVISOR")),
        )
        .await;
        assert_eq!(after["status"], "CONTRACT_DRAFTED");

        // The assistant resubmits with revised terms; this time it passes.
        let revised = "Revised terms: 3100.00 per unit, delivery within 7 days of payment.";
        let o = ok(
            &team.assistant,
            "contractSubmit",
            json!({"orderId": id, "terms": revised}),
        )
        .await
        .expect("resubmit");
        assert_eq!(o["status"], "PENDING_APPROVAL");
        assert_eq!(o["contract"]["status"], "PENDING_APPROVAL");
        assert!(o["contract"]["decidedBy"].is_null());
        // The resubmitted contract carries no stale rejection; the reason
        // stays in the history.
        assert!(o["contract"]["rejectionReason"].is_null(), "{o}");
        let after = read(&w, &number(&o)).await;
        assert_eq!(after["contract"]["terms"], revised);
        let o = ok(&team.supervisor, "contractApprove", json!({"orderId": id}))
            .await
            .expect("approve");
        assert_eq!(o["status"], "APPROVED");
        assert_eq!(o["contract"]["status"], "APPROVED");
        assert!(o["contract"]["rejectionReason"].is_null());
    }
);
