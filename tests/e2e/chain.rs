//! The whole order-to-cash chain, walked by the positions that take each step.
use salesguard_testkit::chain::{ok, STEPS};
use serde_json::{json, Value};

async fn notifications(c: &salesguard_testkit::Client) -> Vec<Value> {
    let d = c
        .data(
            "{notifications(first:100){totalCount edges{node{kind message salesOrder{number}}}}}",
            json!({}),
        )
        .await
        .expect("notifications");
    d["notifications"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e["node"].clone())
        .collect()
}

e2e!(
    whole_chain_by_positions,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let order = w.file_order(&team, 3, "1999.50").await.expect("file");
        assert_eq!(order["status"], "FILED");
        assert_eq!(order["total"], "5998.50");
        assert_eq!(order["balanceDue"], "5998.50");
        let number = order["number"].as_str().unwrap_or_default().to_owned();
        let day = chrono::Utc::now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y%m%d")
            .to_string();
        assert_eq!(number, format!("SC{day}DD0001"));

        let mut order = order;
        let mut seen = vec![];
        for step in STEPS {
            let (who, input) = w.actor_and_input(&team, step, &order);
            order = ok(&who, step, input)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e}"));
            seen.push(order["status"].as_str().unwrap_or_default().to_owned());
        }
        assert_eq!(
            seen,
            [
                "CONTRACT_DRAFTED",
                "PENDING_APPROVAL",
                "APPROVED",
                "SIGNED",
                "AT_FINANCE",
                "AT_FINANCE",
                "PAID",
                "NOTICE_ISSUED",
                "SHIPPED",
                "INVOICE_INFO_COLLECTED",
                "INVOICED",
                "INVOICE_MAILED",
                "RECEIPT_CONFIRMED",
                "ARCHIVED"
            ]
        );
        assert_eq!(order["contract"]["number"], format!("SC{day}HT0001"));
        assert_eq!(order["contract"]["status"], "SIGNED");
        assert_eq!(
            order["contract"]["decidedBy"]["username"],
            "supervisor.north"
        );
        assert_eq!(
            order["shippingNotice"]["number"],
            format!("SC{day}FHTZ0001")
        );
        assert!(order["shippingNotice"]["usedAt"].is_string());
        assert_eq!(order["paid"], "5998.50");
        assert_eq!(order["balanceDue"], "0.00");
        assert_eq!(order["invoice"]["amount"], "5998.50");
        assert!(order["receivable"].is_null(), "fully paid: no receivable");

        // Stock left in the same transaction as the shipment.
        let d = w
            .warehouse_keeper
            .data(
                "query($w:ID,$p:ID){stockLevels(warehouseId:$w,productId:$p){edges{node{onHand}}}}",
                json!({"w": w.warehouse, "p": w.product}),
            )
            .await
            .expect("stock");
        assert_eq!(d["stockLevels"]["edges"][0]["node"]["onHand"], 997);
        // ... and on hand equals the sum of the stock movements.
        {
            use salesguard_entities::model::{stock_level, stock_movement};
            use sea_orm::EntityTrait;
            let levels = stock_level::Entity::find()
                .all(&server.app.db.read)
                .await
                .expect("levels");
            let moves = stock_movement::Entity::find()
                .all(&server.app.db.read)
                .await
                .expect("moves");
            for l in levels {
                let sum: i64 = moves
                    .iter()
                    .filter(|m| m.warehouse_id == l.warehouse_id && m.product_id == l.product_id)
                    .map(|m| m.quantity)
                    .sum();
                assert_eq!(sum, l.on_hand, "product {}", l.product_id);
            }
        }

        // History: one OK record per step, by the position that took it.
        let d = team
        .sales
        .data(
            "query($n:String!){salesOrder(number:$n){history{action outcome actorPosition actor{username}}}}",
            json!({"n": number}),
        )
        .await
        .expect("history");
        let hist = d["salesOrder"]["history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let actions: Vec<&str> = hist.iter().filter_map(|h| h["action"].as_str()).collect();
        let mut expected = vec!["salesOrderCreate"];
        expected.extend(STEPS.iter().copied());
        assert_eq!(actions, expected);
        assert!(hist.iter().all(|h| h["outcome"] == "OK"));
        let pos = |a: &str| {
            hist.iter()
                .find(|h| h["action"] == a)
                .and_then(|h| h["actorPosition"].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(pos("contractApprove"), "SUPERVISOR");
        assert_eq!(pos("paymentConfirmFull"), "FINANCE");
        assert_eq!(pos("shipmentShip"), "WAREHOUSE");

        // Copies to every party: the salesperson heard of each step taken by
        // others; the south team heard nothing; management got the completed review.
        let sales_kinds: Vec<String> = notifications(&team.sales)
            .await
            .iter()
            .filter_map(|n| n["kind"].as_str().map(str::to_owned))
            .collect();
        for k in [
            "CONTRACT_DRAFTED",
            "CONTRACT_APPROVED",
            "PAYMENT_CONFIRMED",
            "SHIPPED",
            "INVOICE_ISSUED",
        ] {
            assert!(
                sales_kinds.iter().any(|s| s == k),
                "salesperson missed {k}: {sales_kinds:?}"
            );
        }
        assert!(notifications(&w.south.sales).await.is_empty());
        assert!(notifications(&w.south.supervisor).await.is_empty());
        let mgmt: Vec<String> = notifications(&w.management)
            .await
            .iter()
            .filter_map(|n| n["kind"].as_str().map(str::to_owned))
            .collect();
        assert!(mgmt.iter().any(|k| k == "CONTRACT_APPROVED"), "{mgmt:?}");
        assert!(mgmt.iter().any(|k| k == "CONTRACT_SUBMITTED"), "{mgmt:?}");

        // The trail verifies.
        let v = salesguard_api::audit::verify(&server.app.db.read)
            .await
            .expect("verify");
        assert!(v.first_broken.is_none(), "{v:?}");
        assert!(v.records >= 15);
    }
);

/// How many notifications of `kind` about order `number` user `user_id` has.
async fn copies(
    server: &salesguard_testkit::Server,
    user_id: i64,
    kind: &str,
    number: &str,
) -> i64 {
    server
        .scalar(&format!(
            "SELECT count(*) FROM notifications n JOIN sales_orders o ON o.id = n.order_id \
             WHERE n.user_id = {user_id} AND n.kind = '{kind}' AND o.number = '{number}'"
        ))
        .await
        .expect("count copies")
}

// The people a step copies in come from a cache of the directory (users,
// their regions, the region tree). A user added or deactivated by another
// writer than this process's API (the CLI, another API process, plain SQL)
// is copied in, or left out, from the very next step. The region's
// supervisor hears of every contract submitted for approval.
e2e!(
    a_colleague_added_or_deactivated_elsewhere_counts_from_the_next_step,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        use salesguard_api::services::admin::{insert_user, NewUser};
        use salesguard_domain::Position;
        use sea_orm::ConnectionTrait;
        let submitted = |w: salesguard_testkit::World| async move {
            let team = w.north.clone();
            let o = w.file_order(&team, 1, "10.00").await.expect("file");
            let o = w
                .advance_to(&team, o, "contractSubmit")
                .await
                .expect("submit");
            o["number"].as_str().unwrap_or_default().to_owned()
        };
        // The first order fills the cache.
        let first = submitted(w.clone()).await;
        let region = server
            .scalar(&format!(
                "SELECT region_id FROM sales_orders WHERE number = '{first}'"
            ))
            .await
            .expect("region");
        let supervisor = server
            .scalar(&format!(
                "SELECT id FROM users WHERE position = 'SUPERVISOR' AND id IN \
                 (SELECT user_id FROM user_regions WHERE region_id = {region})"
            ))
            .await
            .expect("the region's supervisor");

        // A second supervisor of the region, created as the CLI does: not
        // through this process's API.
        let (newcomer, _) = insert_user(
            &server.app.db.write,
            NewUser {
                username: "supervisor.newcomer".into(),
                display_name: "New Supervisor".into(),
                email: None,
                position: Position::Supervisor,
                password: "a-long-enough-password".into(),
                region_ids: vec![region],
                all_regions: false,
            },
        )
        .await
        .expect("insert user");
        let second = submitted(w.clone()).await;
        assert_eq!(
            copies(&server, newcomer, "CONTRACT_SUBMITTED", &second).await,
            1
        );
        assert_eq!(
            copies(&server, newcomer, "CONTRACT_SUBMITTED", &first).await,
            0
        );

        // Deactivated by hand in the database: no more copies.
        server
            .app
            .db
            .write
            .execute_unprepared(&format!(
                "UPDATE users SET active = FALSE WHERE id = {newcomer}"
            ))
            .await
            .expect("deactivate");
        let third = submitted(w.clone()).await;
        assert_eq!(
            copies(&server, newcomer, "CONTRACT_SUBMITTED", &third).await,
            0
        );
        for n in [&first, &second, &third] {
            assert_eq!(
                copies(&server, supervisor, "CONTRACT_SUBMITTED", n).await,
                1,
                "the region's supervisor on {n}"
            );
        }
    }
);
