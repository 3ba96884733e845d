//! A step may start from what the order's last step left in the same API
//! process instead of reading the database (`step_cache`). These tests run
//! two API processes on one database and move the order on behind the
//! first one's back: the first must then act on the database as it is, never
//! on what it remembered.
use salesguard_testkit::chain::{error_code, ok, step, today};
use salesguard_testkit::world::create_user;
use salesguard_testkit::{Server, World};
use serde_json::{json, Value};

use crate::concurrency::audit_verifies;

/// Whether the server keeps step loads: these tests are about that
/// strategy, which the suite's plain pass (`SALESGUARD_TEST_PLAIN_STEPS=1`)
/// switches off.
fn kept_loads_on(s: &Server) -> bool {
    let on = s.app.settings.steps.single_statement && s.app.settings.steps.kept_loads;
    if !on {
        eprintln!("kept step loads are off: nothing to test here");
    }
    on
}

/// The database id of an order's node ID.
fn db_id(id: &Value) -> i64 {
    crate::risk_api::db_id(id.as_str().unwrap_or_default())
}

/// The order as the management reads it now.
async fn order_now(w: &World, id: &Value) -> Value {
    let d = w
        .management
        .data(
            "query($id:ID!){node(id:$id){... on SalesOrder{status version paid balanceDue \
             payments{amount} history{action outcome}}}}",
            json!({ "id": id }),
        )
        .await
        .expect("order");
    d["node"].clone()
}

fn payment(id: &Value, amount: &str, reference: &str) -> Value {
    json!({"orderId": id, "amount": amount, "receivedOn": today(), "reference": reference})
}

/// A second API process (B) beside `a`, the same people talking to it, and
/// an order of `qty` units at `price` whose contract was submitted through
/// `a`, which keeps what the next step would read.
async fn submitted_beside(a: &Server, w: &World, qty: i64, price: &str) -> (Server, World, Value) {
    let b = a.beside().await.expect("a second API process");
    let wb = w.on(&b.base_url());
    let order = w.file_order(&w.north, qty, price).await.expect("file");
    let id = order["id"].clone();
    w.advance_to(&w.north, order, "contractSubmit")
        .await
        .expect("to submitted");
    assert!(
        a.app.step_cache.get(db_id(&id)).is_some(),
        "A keeps the order"
    );
    (b, wb, id)
}

e2e!(
    a_step_acts_on_the_order_as_another_process_left_it,
    |a: Server, w: World| async move {
        if !kept_loads_on(&a) {
            return;
        }
        let (b, wb, id) = submitted_beside(&a, &w, 2, "1000.00").await;

        // B approves; A still remembers the contract as submitted.
        ok(
            &wb.north.supervisor,
            "contractApprove",
            json!({"orderId": id}),
        )
        .await
        .expect("approved through B");
        // Signing needs an approved contract: A must not refuse it on what it
        // remembered.
        let signed = ok(
            &w.north.sales,
            "contractSign",
            json!({"orderId": id, "method": "ON_SITE"}),
        )
        .await
        .expect("signed through A after B approved");
        assert_eq!(signed["status"], "SIGNED");
        // And what is done is done once: approving again is a CONFLICT.
        let again = step(
            &w.north.supervisor,
            "contractApprove",
            json!({"orderId": id}),
        )
        .await
        .expect("answer");
        assert_eq!(error_code(&again).as_deref(), Some("CONFLICT"), "{again}");

        // A forwards to finance and keeps the order; B records a first
        // payment behind its back; A records a second one. Both steps fit
        // the order as A remembers it, so only the write's guard can tell
        // that it moved on.
        ok(
            &w.north.assistant,
            "salesOrderForwardToFinance",
            json!({"orderId": id}),
        )
        .await
        .expect("forwarded");
        let kept = a
            .app
            .step_cache
            .get(db_id(&id))
            .expect("A keeps the forwarded order");
        ok(&wb.finance, "paymentRecord", payment(&id, "500.00", "B-1"))
            .await
            .expect("first payment through B");
        let paid = ok(&w.finance, "paymentRecord", payment(&id, "700.00", "A-1"))
            .await
            .expect("second payment through A");
        assert_eq!(paid["paid"], "1200.00");
        assert_eq!(paid["balanceDue"], "800.00");
        assert_eq!(
            paid["version"].as_i64(),
            Some(kept.order.version + 2),
            "two changes after the one A kept: {paid}"
        );
        // Both payments, each once; every step done once in the history
        // (the second approval is there as refused).
        let now = order_now(&w, &id).await;
        let mut amounts: Vec<String> = now["payments"]
            .as_array()
            .expect("payments")
            .iter()
            .map(|p| p["amount"].as_str().unwrap_or_default().to_owned())
            .collect();
        amounts.sort();
        assert_eq!(amounts, ["500.00", "700.00"]);
        let actions: Vec<&str> = now["history"]
            .as_array()
            .expect("history")
            .iter()
            .filter(|h| h["outcome"] == "OK")
            .filter_map(|h| h["action"].as_str())
            .collect();
        for (action, times) in [
            ("contractApprove", 1),
            ("contractSign", 1),
            ("paymentRecord", 2),
        ] {
            assert_eq!(
                actions.iter().filter(|a| **a == action).count(),
                times,
                "{action} in {actions:?}"
            );
        }
        audit_verifies(&a).await;
        drop(b);
    }
);

e2e!(
    copies_go_to_the_people_responsible_now,
    |a: Server, w: World| async move {
        if !kept_loads_on(&a) {
            return;
        }
        let (b, wb, id) = submitted_beside(&a, &w, 1, "300.00").await;
        // A second manager joins, through B: A's directory does not know.
        let newcomer = create_user(&wb.admin, "manager2", "MANAGEMENT", &[], true)
            .await
            .expect("manager2");
        // A completed review goes to management in copy: to the newcomer too.
        ok(
            &w.north.supervisor,
            "contractApprove",
            json!({"orderId": id}),
        )
        .await
        .expect("approved through A");
        let inbox = newcomer
            .data(
                "{notifications(first:10){edges{node{kind salesOrder{id}}}}}",
                json!({}),
            )
            .await
            .expect("inbox");
        let kinds: Vec<(&str, &str)> = inbox["notifications"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| {
                (
                    e["node"]["kind"].as_str().unwrap_or_default(),
                    e["node"]["salesOrder"]["id"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [("CONTRACT_APPROVED", id.as_str().unwrap_or_default())],
            "the newcomer's inbox"
        );
        audit_verifies(&a).await;
        drop(b);
    }
);
