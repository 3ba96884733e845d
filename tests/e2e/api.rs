//! The API's cross-cutting behaviour: authentication, limits, DataLoader,
//! subscriptions, notifications, the audit trail and the CLI.
use futures::{SinkExt, StreamExt};
use salesguard_testkit::chain::ok;
use salesguard_testkit::{Client, Server, World};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn code(resp: &Value) -> Option<&str> {
    resp["errors"][0]["extensions"]["code"].as_str()
}

e2e!(
    authentication_is_required_and_tokens_can_be_revoked,
    |s: Server, w: World| async move {
        let anon = s.client();
        let r = anon
            .raw("{viewer{username}}", json!({}))
            .await
            .expect("raw");
        assert_eq!(code(&r), Some("UNAUTHENTICATED"));
        let r = anon
            .with_token("not-a-token")
            .raw("{viewer{username}}", json!({}))
            .await
            .expect("raw");
        assert_eq!(code(&r), Some("UNAUTHENTICATED"));
        let r = anon
        .raw(
            "mutation{sessionCreate(input:{username:\"finance\",password:\"wrong-password\"}){token userErrors{code}}}",
            json!({}),
        )
        .await
        .expect("raw");
        assert_eq!(r["data"]["sessionCreate"]["token"], Value::Null);
        assert_eq!(
            r["data"]["sessionCreate"]["userErrors"][0]["code"],
            "INVALID_CREDENTIALS"
        );

        let me = anon
            .login("finance", salesguard_testkit::world::PASSWORD)
            .await
            .expect("login");
        let d = me
            .data("{viewer{username position allRegions}}", json!({}))
            .await
            .expect("viewer");
        assert_eq!(d["viewer"]["username"], "finance");
        assert_eq!(d["viewer"]["position"], "FINANCE");
        let d = me
            .data("mutation{sessionRevoke{revoked}}", json!({}))
            .await
            .expect("revoke");
        assert_eq!(d["sessionRevoke"]["revoked"], true);
        let r = me.raw("{viewer{username}}", json!({})).await.expect("raw");
        assert_eq!(code(&r), Some("UNAUTHENTICATED"));
        // Other sessions of other users are unaffected.
        assert!(w
            .management
            .data("{viewer{username}}", json!({}))
            .await
            .is_ok());
    }
);

e2e!(health_and_readiness, |s: Server, _w: World| async move {
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/healthz", s.base_url()))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/readyz", s.base_url()))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap_or_default(), "ready");
});

e2e!(query_limits_hold, |_s: Server, w: World| async move {
    // Page size is capped.
    let r = w
        .management
        .raw("{salesOrders(first:101){totalCount}}", json!({}))
        .await
        .expect("raw");
    assert!(r["errors"].is_array(), "{r}");
    // Depth is limited: a contract's order's contract's order ... nests too deep.
    let mut q = String::from("id");
    for _ in 0..8 {
        q = format!("contract{{salesOrder{{{q}}}}}");
    }
    let r = w
        .management
        .raw(
            &format!("{{salesOrders(first:1){{edges{{node{{{q}}}}}}}}}"),
            json!({}),
        )
        .await
        .expect("raw");
    let msg = r["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(msg.contains("deep") || msg.contains("depth"), "{r}");
    // Cost grows with `first`: a wide selection of 100 orders is too complex,
    // the same selection of 10 is fine.
    let wide = "id number status total paid balanceDue createdAt updatedAt agent{name code region{code name}} \
                lines{lineNo quantity unitPrice amount product{sku name}} contract{number status terms} \
                payments{amount reference} history{action outcome actorPosition}";
    let r = w
        .management
        .raw(
            &format!("{{salesOrders(first:100){{edges{{node{{{wide}}}}}}}}}"),
            json!({}),
        )
        .await
        .expect("raw");
    let msg = r["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(msg.contains("complex"), "{r}");
    let r = w
        .management
        .raw(
            &format!("{{salesOrders(first:10){{edges{{node{{{wide}}}}}}}}}"),
            json!({}),
        )
        .await
        .expect("raw");
    assert!(r["errors"].is_null(), "{r}");
});

/// `field` of each of a connection's nodes, in order.
fn nodes_of(conn: &Value, field: &str) -> Vec<Value> {
    conn["edges"]
        .as_array()
        .map(|edges| edges.iter().map(|e| e["node"][field].clone()).collect())
        .unwrap_or_default()
}

e2e!(
    root_lists_are_cursor_connections,
    |_s: Server, w: World| async move {
        // Pages follow one another by cursor, in the list's order, with the
        // total over all pages.
        let q = "query($a:String){regions(first:2,after:$a){totalCount \
                 pageInfo{hasNextPage hasPreviousPage endCursor} edges{cursor node{code}}}}";
        let p1 = w.management.data(q, json!({})).await.expect("page 1");
        let r1 = &p1["regions"];
        assert_eq!(r1["totalCount"], 3, "{p1}");
        assert_eq!(nodes_of(r1, "code"), [json!("NORTH"), json!("NORTH-EAST")]);
        assert_eq!(r1["pageInfo"]["hasNextPage"], true, "{p1}");
        assert_eq!(r1["pageInfo"]["hasPreviousPage"], false, "{p1}");
        assert_eq!(r1["pageInfo"]["endCursor"], r1["edges"][1]["cursor"]);
        let p2 = w
            .management
            .data(q, json!({"a": r1["pageInfo"]["endCursor"]}))
            .await
            .expect("page 2");
        let r2 = &p2["regions"];
        assert_eq!(r2["totalCount"], 3, "{p2}");
        assert_eq!(nodes_of(r2, "code"), [json!("SOUTH")]);
        assert_eq!(r2["pageInfo"]["hasNextPage"], false, "{p2}");
        assert_eq!(r2["pageInfo"]["hasPreviousPage"], true, "{p2}");
        // Still scoped: the north team sees its region and sub-area.
        let d = w
            .north
            .sales
            .data("{regions{totalCount edges{node{code}}}}", json!({}))
            .await
            .expect("north regions");
        assert_eq!(d["regions"]["totalCount"], 2, "{d}");
        assert_eq!(
            nodes_of(&d["regions"], "code"),
            [json!("NORTH"), json!("NORTH-EAST")]
        );

        // Warehouses, stock and prices page the same way.
        let d = w
            .warehouse_keeper
            .data(
                "query($p:ID){warehouses{totalCount edges{node{code}}} \
                 stockLevels(first:1){totalCount pageInfo{hasNextPage} edges{node{onHand}}} \
                 one: stockLevels(productId:$p){totalCount} \
                 priceList{totalCount edges{node{tier}}}}",
                json!({"p": w.part}),
            )
            .await
            .expect("lists");
        assert_eq!(nodes_of(&d["warehouses"], "code"), [json!("WH")], "{d}");
        assert_eq!(d["stockLevels"]["totalCount"], 2, "{d}");
        assert_eq!(nodes_of(&d["stockLevels"], "onHand"), [json!(1000)]);
        assert_eq!(d["stockLevels"]["pageInfo"]["hasNextPage"], true, "{d}");
        assert_eq!(d["one"]["totalCount"], 1, "{d}");
        assert_eq!(d["priceList"], json!({"totalCount": 0, "edges": []}));

        // Forecasts and their summary (paged in memory), one row a page.
        let month = chrono::Utc::now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m")
            .to_string();
        let d = w
            .north
            .sales
            .data(
                "mutation($i:ForecastSubmitInput!){forecastSubmit(input:$i){userErrors{message}}}",
                json!({"i": {"period": month, "regionId": w.north.region, "lines": [
                    {"productId": w.product, "quantity": 120},
                    {"productId": w.part, "quantity": 40}]}}),
            )
            .await
            .expect("forecastSubmit");
        assert_eq!(d["forecastSubmit"]["userErrors"], json!([]), "{d}");
        let q = "query($m:String!,$a:String){\
                 forecasts(period:$m,first:1,after:$a){totalCount pageInfo{hasNextPage endCursor} edges{node{quantity}}} \
                 forecastSummary(period:$m,first:1,after:$a){totalCount pageInfo{hasNextPage endCursor} edges{node{quantity}}}}";
        let p1 = w
            .north
            .assistant
            .data(q, json!({"m": month}))
            .await
            .expect("forecasts page 1");
        for list in ["forecasts", "forecastSummary"] {
            assert_eq!(p1[list]["totalCount"], 2, "{list}: {p1}");
            assert_eq!(nodes_of(&p1[list], "quantity"), [json!(120)], "{list}");
            assert_eq!(p1[list]["pageInfo"]["hasNextPage"], true, "{list}");
        }
        let p2 = w
            .north
            .assistant
            .data(
                q,
                json!({"m": month, "a": p1["forecasts"]["pageInfo"]["endCursor"]}),
            )
            .await
            .expect("forecasts page 2");
        for list in ["forecasts", "forecastSummary"] {
            assert_eq!(nodes_of(&p2[list], "quantity"), [json!(40)], "{list}: {p2}");
            assert_eq!(p2[list]["pageInfo"]["hasNextPage"], false, "{list}");
        }

        // The page size is capped like every other list's.
        for field in [
            "regions(first:101)",
            "warehouses(first:101)",
            "stockLevels(first:101)",
            "forecasts(period:\"2026-01\",first:101)",
            "forecastSummary(period:\"2026-01\",first:101)",
            "priceList(first:101)",
        ] {
            let r = w
                .management
                .raw(&format!("{{{field}{{totalCount}}}}"), json!({}))
                .await
                .expect("raw");
            assert!(r["errors"].is_array(), "{field}: {r}");
        }
    }
);

#[test]
fn production_mode_hides_introspection() {
    use salesguard_config::Mode;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let q = "{__schema{queryType{name}}}";
    let dev = rt.block_on(salesguard_api::graphql::build(None, Mode::Development).execute(q));
    assert!(dev.errors.is_empty());
    assert_eq!(
        dev.data.into_json().unwrap_or_default()["__schema"]["queryType"]["name"],
        "Query"
    );
    let prod = rt.block_on(salesguard_api::graphql::build(None, Mode::Production).execute(q));
    let data = prod.data.into_json().unwrap_or_default();
    assert!(
        data["__schema"]["queryType"]["name"].is_null(),
        "introspection must be off in production: {data}"
    );
}

e2e!(
    notifications_are_read_per_user_and_pushed,
    |s: Server, w: World| async move {
        // Subscribe as the north assistant over graphql-ws.
        let url = format!("ws://{}/graphql/ws", s.addr);
        let mut req = url.into_client_request().expect("request");
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connect");
        let token = w.north.assistant.token.clone().unwrap_or_default();
        ws.send(Message::Text(
            json!({"type":"connection_init","payload":{"token": token}})
                .to_string()
                .into(),
        ))
        .await
        .expect("init");
        let ack = ws.next().await.expect("ack").expect("ack msg");
        assert!(
            ack.to_text().unwrap_or_default().contains("connection_ack"),
            "{ack:?}"
        );
        ws.send(Message::Text(
        json!({"id":"1","type":"subscribe","payload":{"query":"subscription{notificationReceived{kind message salesOrder{number}}}"}})
            .to_string()
            .into(),
    ))
    .await
    .expect("subscribe");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;

        let order = w.file_order(&w.north, 2, "100.00").await.expect("file");
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("a notification within 10 s")
            .expect("message")
            .expect("ws message");
        let v: Value = serde_json::from_str(msg.to_text().unwrap_or_default()).expect("json");
        assert_eq!(v["type"], "next", "{v}");
        assert_eq!(
            v["payload"]["data"]["notificationReceived"]["kind"],
            "ORDER_FILED"
        );
        assert_eq!(
            v["payload"]["data"]["notificationReceived"]["salesOrder"]["number"],
            order["number"]
        );

        // The inbox: unread, then read.
        let a = &w.north.assistant;
        let d = a.data("{unreadNotificationCount notifications(first:10,unreadOnly:true){totalCount edges{node{id kind}}}}", json!({})).await.expect("inbox");
        assert_eq!(d["unreadNotificationCount"], 1);
        let id = d["notifications"]["edges"][0]["node"]["id"].clone();
        let d = a
            .data(
                "mutation($i:NotificationsMarkReadInput!){notificationsMarkRead(input:$i){marked}}",
                json!({"i": {"ids": [id]}}),
            )
            .await
            .expect("mark");
        assert_eq!(d["notificationsMarkRead"]["marked"], 1);
        let d = a
            .data("{unreadNotificationCount}", json!({}))
            .await
            .expect("count");
        assert_eq!(d["unreadNotificationCount"], 0);
        // A websocket without a valid token is refused.
        let mut req = format!("ws://{}/graphql/ws", s.addr)
            .into_client_request()
            .expect("request");
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (mut bad, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connect");
        bad.send(Message::Text(
            json!({"type":"connection_init","payload":{"token":"nope"}})
                .to_string()
                .into(),
        ))
        .await
        .expect("init");
        let reply = tokio::time::timeout(std::time::Duration::from_secs(5), bad.next())
            .await
            .expect("reply");
        let acked = matches!(&reply, Some(Ok(Message::Text(t))) if t.contains("connection_ack"));
        assert!(
            !acked,
            "connection with a bad token was acknowledged: {reply:?}"
        );
    }
);

e2e!(
    audit_trail_detects_tampering,
    |s: Server, w: World| async move {
        let o = w.file_order(&w.north, 1, "10.00").await.expect("file");
        w.advance_to(&w.north, o, "contractApprove")
            .await
            .expect("advance");
        let v = salesguard_api::audit::verify(&s.app.db.read)
            .await
            .expect("verify");
        assert_eq!(v.first_broken, None);
        use salesguard_entities::model::audit_log;
        use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
        let target = audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq("contractApprove"))
            .order_by_asc(audit_log::Column::Id)
            .one(&s.app.db.read)
            .await
            .expect("query")
            .expect("an approval record");
        s.app
            .db
            .write
            .execute_unprepared(&format!(
                "UPDATE audit_log SET actor_position = 'FINANCE' WHERE id = {}",
                target.id
            ))
            .await
            .expect("tamper");
        let v = salesguard_api::audit::verify(&s.app.db.read)
            .await
            .expect("verify");
        assert_eq!(
            v.first_broken.as_ref().map(|b| b.0),
            Some(target.id),
            "{v:?}"
        );

        // The CLI reports the same record and fails.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_salesguard"))
            .args(["audit", "verify"])
            .env("SALESGUARD_DATABASE_URL", &s.database_url)
            .output()
            .expect("run the CLI");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&format!("first altered record id {}", target.id)),
            "{text}"
        );
    }
);

e2e!(
    a_removed_audit_record_is_detected,
    |s: Server, w: World| async move {
        let o = w.file_order(&w.north, 1, "10.00").await.expect("file");
        w.advance_to(&w.north, o, "contractSubmit")
            .await
            .expect("advance");
        use salesguard_entities::model::audit_log;
        use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
        let draft = audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq("contractDraft"))
            .one(&s.app.db.read)
            .await
            .expect("query")
            .expect("draft record");
        s.app
            .db
            .write
            .execute_unprepared(&format!("DELETE FROM audit_log WHERE id = {}", draft.id))
            .await
            .expect("delete");
        let v = salesguard_api::audit::verify(&s.app.db.read)
            .await
            .expect("verify");
        let (id, why) = v.first_broken.expect("the gap is found");
        assert!(id > draft.id, "{id} {why}");
        assert!(why.contains("removed"), "{why}");
    }
);

#[tokio::test]
async fn cli_creates_the_first_administrator() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/cli.db?mode=rwc", dir.path().display());
    let run = |args: &[&str], pw: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_salesguard"));
        c.args(args).env("SALESGUARD_DATABASE_URL", &url);
        if let Some(p) = pw {
            c.env("SALESGUARD_NEW_PASSWORD", p);
        }
        c.output().expect("run the CLI")
    };
    let out = run(
        &[
            "user",
            "create",
            "--username",
            "root",
            "--position",
            "admin",
            "--all-regions",
        ],
        Some("short"),
    );
    assert!(!out.status.success(), "a short password is refused");
    let out = run(
        &[
            "user",
            "create",
            "--username",
            "root",
            "--position",
            "admin",
            "--all-regions",
        ],
        Some("long-enough-password"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user root (ADMIN)"));
    let out = run(
        &[
            "user",
            "create",
            "--username",
            "root",
            "--position",
            "admin",
            "--all-regions",
        ],
        Some("long-enough-password"),
    );
    assert!(!out.status.success(), "the username is taken");
    let out = run(&["audit", "verify"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact: 1 records"));

    // The created administrator can sign in on a server over that database.
    let settings = salesguard_api::Settings {
        database_url: url.clone(),
        ..Default::default()
    };
    let app = salesguard_api::AppState::from_settings(settings)
        .await
        .expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(salesguard_api::http::serve(
        app,
        listener,
        futures::future::pending(),
    ));
    let c = Client::new(&format!("http://{addr}"));
    let admin = c
        .login("root", "long-enough-password")
        .await
        .expect("login");
    let d = admin
        .data("{viewer{position}}", json!({}))
        .await
        .expect("viewer");
    assert_eq!(d["viewer"]["position"], "ADMIN");
}

e2e!(
    idempotent_master_data_and_typed_input_errors,
    |_s: Server, w: World| async move {
        let q = "mutation($i:RegionCreateInput!){regionCreate(input:$i){region{id} userErrors{field code}}}";
        let d = w
            .admin
            .data(
                q,
                json!({"i": {"code": "WEST", "name": "West", "idempotencyKey": "k1"}}),
            )
            .await
            .expect("create");
        let id = d["regionCreate"]["region"]["id"].clone();
        assert!(id.is_string());
        let d = w
            .admin
            .data(
                q,
                json!({"i": {"code": "WEST", "name": "West", "idempotencyKey": "k1"}}),
            )
            .await
            .expect("again");
        assert_eq!(
            d["regionCreate"]["region"]["id"], id,
            "same key, same result"
        );
        let d = w
            .admin
            .data(q, json!({"i": {"code": "WEST", "name": "West"}}))
            .await
            .expect("dup");
        assert_eq!(d["regionCreate"]["userErrors"][0]["code"], "ALREADY_EXISTS");
        assert_eq!(
            d["regionCreate"]["userErrors"][0]["field"],
            json!(["input", "code"])
        );
        // Master data is the admin's: a salesperson is refused.
        let d = w
            .north
            .sales
            .data(q, json!({"i": {"code": "EAST", "name": "East"}}))
            .await
            .expect("refused");
        assert_eq!(d["regionCreate"]["userErrors"][0]["code"], "FORBIDDEN");
        let _ = ok; // the chain driver is used by the other modules
    }
);

e2e!(
    removing_the_last_audit_record_is_detected,
    |s: Server, w: World| async move {
        let o = w.file_order(&w.north, 1, "10.00").await.expect("file");
        w.advance_to(&w.north, o, "contractDraft")
            .await
            .expect("advance");
        use salesguard_entities::model::audit_log;
        use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
        let last = audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq("contractDraft"))
            .one(&s.app.db.read)
            .await
            .expect("query")
            .expect("draft record");
        s.app
            .db
            .write
            .execute_unprepared(&format!("DELETE FROM audit_log WHERE id = {}", last.id))
            .await
            .expect("delete");
        let v = salesguard_api::audit::verify(&s.app.db.read)
            .await
            .expect("verify");
        let (_, why) = v.first_broken.expect("the truncation is found");
        assert!(
            why.contains(&last.stream) && why.contains("head says seq 2"),
            "{why}"
        );
    }
);

e2e!(
    repeated_failed_sign_ins_are_throttled,
    |_s: Server, w: World| async move {
        let anon = Client::new(&w.base);
        let q = "mutation($u:String!,$p:String!){sessionCreate(input:{username:$u,password:$p}){token userErrors{code}}}";
        for _ in 0..5 {
            let d = anon
                .data(q, json!({"u": "keeper", "p": "guess-guess-guess"}))
                .await
                .expect("attempt");
            assert_eq!(
                d["sessionCreate"]["userErrors"][0]["code"],
                "INVALID_CREDENTIALS"
            );
        }
        // Now even the right password is refused for a while ...
        let r = anon
            .raw(
                q,
                json!({"u": "keeper", "p": salesguard_testkit::world::PASSWORD}),
            )
            .await
            .expect("raw");
        assert_eq!(code(&r), Some("THROTTLED"), "{r}");
        // ... for that username only.
        assert!(anon
            .login("finance", salesguard_testkit::world::PASSWORD)
            .await
            .is_ok());
    }
);

e2e!(
    a_deferred_audit_record_on_a_moved_head_is_a_conflict_and_writes_nothing,
    |s: Server, w: World| async move {
        // A step's audit records and notifications are written at its end,
        // each stream's head conditional on the sequence number read with
        // the document. A writer that appended to the stream in between
        // turns the step into CONFLICT: nothing of it is written, and the
        // chain stays intact.
        use salesguard_api::error::UserErrorCode;
        use salesguard_entities::model::{audit_head, user};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

        let o = w.file_order(&w.north, 1, "10.00").await.expect("file");
        w.advance_to(&w.north, o, "contractDraft")
            .await
            .expect("advance");
        let order_id = scalar(&s, "SELECT MAX(id) FROM sales_orders").await;
        let stream = format!("SalesOrder:{order_id}");
        let head = audit_head::Entity::find_by_id(stream.clone())
            .one(&s.app.db.read)
            .await
            .expect("query")
            .expect("the order's stream has a head");
        assert_eq!(head.seq, 2, "filed and drafted");
        let db = &s.app.db.read;
        let u = user::Entity::find()
            .filter(user::Column::Position.eq("SALES_ASSISTANT"))
            .one(db)
            .await
            .expect("query")
            .expect("an assistant");
        let recipient = scalar(&s, "SELECT MIN(id) FROM users WHERE position = 'FINANCE'").await;
        let actor = salesguard_api::auth::load_actor(db, &s.app, u)
            .await
            .expect("actor");
        let in_stream = format!("SELECT COUNT(*) FROM audit_log WHERE stream = '{stream}'");
        let refusals = "SELECT COUNT(*) FROM audit_log WHERE outcome = 'REFUSED:CONFLICT'";
        let records = scalar(&s, &in_stream).await;
        assert_eq!(records, 2);
        assert_eq!(scalar(&s, refusals).await, 0);
        let notes = scalar(&s, "SELECT COUNT(*) FROM notifications").await;

        // Read before the second record was appended: seq 1.
        let refused = audit_step(&s, &actor, &stream, (1, "stale".into()), Some(recipient)).await;
        let err = refused.expect_err("a moved head is a conflict");
        assert_eq!(err.code, UserErrorCode::Conflict);
        // Only the refusal is recorded (in the actor's refusal stream).
        assert_eq!(scalar(&s, &in_stream).await, records);
        assert_eq!(scalar(&s, refusals).await, 1);
        assert_eq!(
            scalar(&s, "SELECT COUNT(*) FROM notifications").await,
            notes
        );
        let after = audit_head::Entity::find_by_id(stream.clone())
            .one(db)
            .await
            .expect("query")
            .expect("head");
        assert_eq!((after.seq, &after.hash), (head.seq, &head.hash));

        // Read right, the same step is written: one record, chained on.
        let done = audit_step(&s, &actor, &stream, (head.seq, head.hash.clone()), None).await;
        assert!(done.is_ok(), "{done:?}");
        assert_eq!(scalar(&s, &in_stream).await, records + 1);
        let v = salesguard_api::audit::verify(db).await.expect("verify");
        assert_eq!(v.first_broken, None);
        let after = audit_head::Entity::find_by_id(stream)
            .one(db)
            .await
            .expect("query")
            .expect("head");
        assert_eq!(after.seq, head.seq + 1);
    }
);

async fn scalar(s: &Server, sql: &str) -> i64 {
    s.scalar(sql).await.expect("query")
}

/// Pooled PostgreSQL connections are not pinged on every use (a round trip
/// each). This checks the risk of that: connections the server ended while
/// idle must still be replaced, not handed to a request. (They are, also
/// without the idle ping: the closed socket is seen. The ping after 5 s idle
/// is for links that die silently, which a test here cannot make.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(sg_no_postgres, ignore = "needs SALESGUARD_TEST_PG_URL")]
async fn connections_the_server_ended_are_replaced() {
    let s = crate::server(crate::Backend::Postgres).await;
    let http = reqwest::Client::new();
    let ready = || async {
        http.get(format!("{}/readyz", s.base_url()))
            .send()
            .await
            .expect("readyz")
            .status()
    };
    for _ in 0..4 {
        assert_eq!(ready().await, 200);
    }
    // Another session ends every connection of the app's database.
    let admin = sea_orm::Database::connect(&s.database_url)
        .await
        .expect("connect");
    use sea_orm::ConnectionTrait;
    let killed = admin
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .expect("terminate");
    assert!(killed.rows_affected() >= 1, "the pool had connections");
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    for _ in 0..4 {
        assert_eq!(ready().await, 200, "a dropped connection was handed out");
    }
}

/// Runs a step that appends one audit record to the order stream `stream`
/// (and notifies `notify`), its head taken as read at `head`.
async fn audit_step(
    s: &Server,
    actor: &salesguard_api::auth::Actor,
    stream: &str,
    head: (i64, String),
    notify: Option<i64>,
) -> Result<(), salesguard_api::error::UserError> {
    use salesguard_api::audit::Entry;
    use salesguard_api::idempotency::{self, Request};
    let stream = stream.to_owned();
    let id: i64 = stream
        .trim_start_matches("SalesOrder:")
        .parse()
        .expect("an order stream");
    idempotency::run(
        &s.app,
        actor,
        Request {
            operation: "test",
            input: &(),
            idempotency_key: None,
            entity: None,
            order_out: None,
            single_statement: false,
        },
        move |run| {
            let (stream, head) = (stream.clone(), head.clone());
            Box::pin(async move {
                run.deferred.head_read(stream, Some(head));
                run.audit(Entry::ok(&run.actor, "test", "SalesOrder", id))
                    .await?;
                run.notify(notify, Some(id), "TEST", "test");
                Ok(())
            })
        },
    )
    .await
    .expect("no internal error")
}

// The server keeps each parsed document by its text
// (`graphql::documents`): the same text sent again must still run the
// operation and the variables of that request, and a text that does not
// parse must be refused each time it is sent.
e2e!(
    a_document_sent_again_runs_the_operation_and_variables_of_each_request,
    |s: Server, w: World| async move {
        let http = reqwest::Client::new();
        let token = w.management.token.clone().expect("a signed-in client");
        let post = |body: Value| {
            http.post(format!("{}/graphql", s.base_url()))
                .bearer_auth(&token)
                .json(&body)
                .send()
        };
        let me = w
            .management
            .data("{ viewer { username } }", json!({}))
            .await
            .expect("viewer");
        let name = me["viewer"]["username"].clone();
        assert!(name.is_string(), "{me}");
        let doc = "query Name { viewer { username } } \
                   query Position($more: Boolean!) { viewer { position username @include(if: $more) } }";
        for round in 0..3 {
            let r: Value = post(json!({ "query": doc, "operationName": "Name" }))
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            assert_eq!(
                r["data"],
                json!({ "viewer": { "username": name } }),
                "round {round}: {r}"
            );
            for more in [false, true] {
                let r: Value = post(json!({
                    "query": doc,
                    "operationName": "Position",
                    "variables": { "more": more },
                }))
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
                let want = if more {
                    json!({ "viewer": { "position": "MANAGEMENT", "username": name } })
                } else {
                    json!({ "viewer": { "position": "MANAGEMENT" } })
                };
                assert_eq!(r["data"], want, "round {round}, more = {more}: {r}");
            }
        }
        for _ in 0..2 {
            let r = w
                .management
                .raw("{ viewer { username }", json!({}))
                .await
                .expect("raw");
            assert!(r["data"].is_null(), "{r}");
            let message = r["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("expected"),
                "a parse error, each time: {r}"
            );
        }
    }
);
