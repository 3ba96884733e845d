//! Inputs of the risk signals: forecasts (SPEC S4) and serial numbers of
//! shipped units.
use salesguard_testkit::chain::{error_code, ok, step};
use salesguard_testkit::{Server, World};

use serde_json::{json, Value};

fn this_month() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m")
        .to_string()
}

const SUBMIT: &str = "mutation($i:ForecastSubmitInput!){forecastSubmit(input:$i){forecasts{period quantity product{sku} salesperson{username}} userErrors{field code message}}}";

async fn submit(c: &salesguard_testkit::Client, input: Value) -> Value {
    c.data(SUBMIT, json!({ "i": input }))
        .await
        .expect("forecastSubmit")["forecastSubmit"]
        .clone()
}

e2e!(
    forecasts_are_reported_replaced_and_summed,
    |_s: Server, w: World| async move {
        let month = this_month();
        // A second north salesperson, to see the sum.
        let north_region = w.north.region.clone();
        let second = salesguard_testkit::world::create_user(
            &w.admin,
            "sales.north2",
            "SALESPERSON",
            &[&north_region],
            false,
        )
        .await
        .expect("second salesperson");
        let p = submit(&w.north.sales, json!({"period": month, "regionId": north_region,
        "lines": [{"productId": w.product, "quantity": 120}, {"productId": w.part, "quantity": 40}]})).await;
        assert_eq!(p["userErrors"], json!([]), "{p}");
        assert_eq!(p["forecasts"].as_array().map(Vec::len), Some(2));
        // A new report for the same month replaces the earlier figure.
        let p = submit(
            &w.north.sales,
            json!({"period": month, "regionId": north_region,
        "lines": [{"productId": w.product, "quantity": 100}]}),
        )
        .await;
        assert_eq!(p["forecasts"][0]["quantity"], 100, "{p}");
        submit(
            &second,
            json!({"period": month, "regionId": north_region,
        "lines": [{"productId": w.product, "quantity": 30}]}),
        )
        .await;

        let q = "query($p:String!){forecastSummary(period:$p){totalCount edges{node{quantity salespeople region{code} product{sku}}}}}";
        let nodes = |d: &Value| -> Vec<Value> {
            d["forecastSummary"]["edges"]
                .as_array()
                .map(|edges| edges.iter().map(|e| e["node"].clone()).collect())
                .unwrap_or_default()
        };
        let d = w
            .north
            .assistant
            .data(q, json!({"p": month}))
            .await
            .expect("summary");
        assert_eq!(d["forecastSummary"]["totalCount"], 2, "{d}");
        let rows = nodes(&d);
        let cube = rows
            .iter()
            .find(|r| r["product"]["sku"] == "CUBE-1")
            .expect("CUBE-1 row");
        assert_eq!(cube["quantity"], 130);
        assert_eq!(cube["salespeople"], 2);
        let part = rows
            .iter()
            .find(|r| r["product"]["sku"] == "CUBE-PART")
            .expect("part row");
        assert_eq!(part["quantity"], 40);
        // The south team sees none of it.
        let d = w
            .south
            .assistant
            .data(q, json!({"p": month}))
            .await
            .expect("summary");
        assert_eq!(d["forecastSummary"], json!({"totalCount": 0, "edges": []}));

        // Refusals: another region, a non-salesperson, bad months and quantities.
        let p = submit(
            &w.south.sales,
            json!({"period": month, "regionId": north_region,
        "lines": [{"productId": w.product, "quantity": 1}]}),
        )
        .await;
        assert_eq!(p["userErrors"][0]["code"], "NOT_FOUND");
        let p = submit(
            &w.north.assistant,
            json!({"period": month, "regionId": north_region,
        "lines": [{"productId": w.product, "quantity": 1}]}),
        )
        .await;
        assert_eq!(p["userErrors"][0]["code"], "FORBIDDEN");
        for (period, field) in [
            ("2026-13", "period"),
            ("26-12", "period"),
            ("2099-01", "period"),
        ] {
            let p = submit(
                &w.north.sales,
                json!({"period": period, "regionId": north_region,
            "lines": [{"productId": w.product, "quantity": 1}]}),
            )
            .await;
            assert_eq!(
                p["userErrors"][0]["field"],
                json!(["input", field]),
                "{period}: {p}"
            );
        }
        let p = submit(
            &w.north.sales,
            json!({"period": month, "regionId": north_region,
        "lines": [{"productId": w.product, "quantity": -5}]}),
        )
        .await;
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", "lines", "0", "quantity"])
        );
        // Nothing of the refused reports was saved.
        let d = w
            .north
            .assistant
            .data(q, json!({"p": month}))
            .await
            .expect("summary");
        let cube = nodes(&d)
            .into_iter()
            .find(|r| r["product"]["sku"] == "CUBE-1")
            .expect("row");
        assert_eq!(cube["quantity"], 130);
    }
);

e2e!(
    serials_are_recorded_with_the_shipment,
    |_s: Server, w: World| async move {
        let team = w.north.clone();
        let o = w.file_order(&team, 2, "100.00").await.expect("file");
        let o = w
            .advance_to(&team, o, "shippingNoticeIssue")
            .await
            .expect("advance");
        let (keeper, mut input) = w.actor_and_input(&team, "shipmentShip", &o);
        // One serial too few, a duplicate, an unknown product: refused, nothing shipped.
        for (serials, field) in [
            (
                json!([{"productId": w.product, "serial": "SN-1"}]),
                json!(["input", "serials"]),
            ),
            (
                json!([{"productId": w.product, "serial": "SN-1"}, {"productId": w.product, "serial": "SN-1"}]),
                json!(["input", "serials", "1", "serial"]),
            ),
            (
                json!([{"productId": w.product, "serial": "SN-1"}, {"productId": w.part, "serial": "SN-2"}]),
                json!(["input", "serials"]),
            ),
        ] {
            input["serials"] = serials;
            let p = step(&keeper, "shipmentShip", input.clone())
                .await
                .expect("ship");
            assert_eq!(error_code(&p).as_deref(), Some("BAD_USER_INPUT"), "{p}");
            assert_eq!(p["userErrors"][0]["field"], field, "{p}");
        }
        input["serials"] = json!([{"productId": w.product, "serial": "SN-1"}, {"productId": w.product, "serial": "SN-2"}]);
        let shipped = ok(&keeper, "shipmentShip", input).await.expect("ship");
        assert_eq!(shipped["status"], "SHIPPED");

        let q = "query($s:String!){serialUnit(serial:$s){serial product{sku} agent{code} region{code} salesOrder{number}}}";
        let d = team
            .sales
            .data(q, json!({"s": "SN-2"}))
            .await
            .expect("serial");
        assert_eq!(d["serialUnit"]["agent"]["code"], "AG-N");
        assert_eq!(d["serialUnit"]["region"]["code"], "NORTH");
        assert_eq!(d["serialUnit"]["salesOrder"]["number"], o["number"]);
        // Scoped like everything else.
        let d = w
            .south
            .sales
            .data(q, json!({"s": "SN-2"}))
            .await
            .expect("serial");
        assert!(d["serialUnit"].is_null());

        // A serial already shipped cannot ship again.
        let o2 = w.file_order(&team, 1, "100.00").await.expect("file");
        let o2 = w
            .advance_to(&team, o2, "shippingNoticeIssue")
            .await
            .expect("advance");
        let (keeper, mut input) = w.actor_and_input(&team, "shipmentShip", &o2);
        input["serials"] = json!([{"productId": w.product, "serial": "SN-1"}]);
        let p = step(&keeper, "shipmentShip", input).await.expect("ship");
        assert_eq!(error_code(&p).as_deref(), Some("BAD_USER_INPUT"), "{p}");
        let d = w
            .management
            .data(
                "query($n:String!){salesOrder(number:$n){status shipment{serials}}}",
                json!({"n": o2["number"]}),
            )
            .await
            .expect("order");
        assert_eq!(d["salesOrder"]["status"], "NOTICE_ISSUED");
        let d = w
            .management
            .data(
                "query($n:String!){salesOrder(number:$n){shipment{serials}}}",
                json!({"n": o["number"]}),
            )
            .await
            .expect("order");
        assert_eq!(
            d["salesOrder"]["shipment"]["serials"],
            json!(["SN-1", "SN-2"])
        );
    }
);

fn today() -> String {
    salesguard_testkit::chain::today()
}

const SELL: &str = "mutation($i:SellThroughRecordInput!){sellThroughRecord(input:$i){result{accepted rejected{row field message}} userErrors{code field}}}";

e2e!(
    bulk_sell_through_is_validated_row_by_row,
    |s: Server, w: World| async move {
        use salesguard_entities::model::sell_through;
        use sea_orm::{EntityTrait, PaginatorTrait};
        let rows = json!([
            {"productId": w.product, "quantity": 3, "salePrice": "2100.00", "regionId": w.north.region, "soldOn": today()},
            {"productId": w.product, "quantity": 0, "salePrice": "2100.00", "regionId": w.north.region, "soldOn": today()},
            {"productId": w.product, "quantity": 1, "salePrice": "21.005", "regionId": w.north.region, "soldOn": today()},
            {"productId": w.product, "serial": "SN-9", "quantity": 1, "salePrice": "1900.00", "regionId": w.south.region, "soldOn": today()},
            {"productId": w.product, "quantity": 1, "salePrice": "1900.00", "regionId": w.north.region, "soldOn": "2999-01-01"},
        ]);
        // All or nothing (the default): the bad rows are named, nothing is saved.
        let d = w
            .north
            .sales
            .data(SELL, json!({"i": {"agentId": w.north.agent, "rows": rows}}))
            .await
            .expect("sell");
        let r = &d["sellThroughRecord"]["result"];
        assert_eq!(r["accepted"], 0, "{d}");
        let bad: Vec<(i64, String)> = r["rejected"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                (
                    e["row"].as_i64().unwrap_or(0),
                    e["field"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert_eq!(
            bad,
            vec![
                (2, "quantity".to_owned()),
                (3, "salePrice".to_owned()),
                (5, "soldOn".to_owned())
            ]
        );
        assert_eq!(
            sell_through::Entity::find()
                .count(&s.app.db.read)
                .await
                .expect("count"),
            0
        );
        // Skip invalid: the good rows are saved, the bad ones reported.
        let d = w
            .north
            .sales
            .data(
                SELL,
                json!({"i": {"agentId": w.north.agent, "rows": rows, "mode": "SKIP_INVALID"}}),
            )
            .await
            .expect("sell");
        assert_eq!(d["sellThroughRecord"]["result"]["accepted"], 2, "{d}");
        assert_eq!(
            d["sellThroughRecord"]["result"]["rejected"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        let saved = sell_through::Entity::find()
            .all(&s.app.db.read)
            .await
            .expect("rows");
        assert_eq!(saved.len(), 2);
        assert_eq!(saved.iter().map(|r| r.quantity).sum::<i64>(), 4);
        assert!(saved
            .iter()
            .any(|r| r.serial.as_deref() == Some("SN-9") && r.sale_price_fen == 190000));
        // The south salesperson cannot report for the north agent.
        let d = w
            .south
            .sales
            .data(SELL, json!({"i": {"agentId": w.north.agent, "rows": rows}}))
            .await
            .expect("sell");
        assert_eq!(d["sellThroughRecord"]["userErrors"][0]["code"], "NOT_FOUND");
    }
);

e2e!(
    sightings_prices_and_the_price_list,
    |s: Server, w: World| async move {
        use salesguard_entities::model::{price_observation, unit_sighting};
        use sea_orm::{EntityTrait, PaginatorTrait};
        let specialist = salesguard_testkit::world::create_user(
            &w.admin,
            "market",
            "MARKET_SPECIALIST",
            &[],
            true,
        )
        .await
        .expect("market specialist");
        let callcenter = salesguard_testkit::world::create_user(
            &w.admin,
            "callcenter",
            "CALL_CENTER",
            &[],
            true,
        )
        .await
        .expect("call center");
        let q = "mutation($i:UnitSightingRecordInput!){unitSightingRecord(input:$i){result{accepted rejected{row field}} userErrors{code}}}";
        let d = callcenter
            .data(
                q,
                json!({"i": {"rows": [
            {"serial": "SN-1", "kind": "ACTIVATION", "regionId": w.south.region, "seenOn": today()},
            {"serial": "", "kind": "CALLBACK", "regionId": w.south.region, "seenOn": today()},
        ], "mode": "SKIP_INVALID"}}),
            )
            .await
            .expect("sightings");
        assert_eq!(d["unitSightingRecord"]["result"]["accepted"], 1, "{d}");
        assert_eq!(d["unitSightingRecord"]["result"]["rejected"][0]["row"], 2);
        assert_eq!(
            unit_sighting::Entity::find()
                .count(&s.app.db.read)
                .await
                .expect("count"),
            1
        );
        // Finance records no sightings.
        let d = w.finance.data(q, json!({"i": {"rows": [{"serial": "SN-1", "kind": "ACTIVATION", "regionId": w.south.region, "seenOn": today()}]}})).await.expect("refused");
        assert_eq!(
            d["unitSightingRecord"]["userErrors"][0]["code"],
            "FORBIDDEN"
        );

        let q = "mutation($i:PriceObservationRecordInput!){priceObservationRecord(input:$i){result{accepted rejected{row field}} userErrors{code}}}";
        let d = specialist.data(q, json!({"i": {"rows": [
            {"productId": w.product, "regionId": w.north.region, "tier": "RETAIL", "price": "1899.00", "observedOn": today(), "channel": "JD.com"},
            {"productId": w.product, "regionId": w.north.region, "tier": "DEALER", "price": "-1", "observedOn": today()},
        ]}})).await.expect("prices");
        assert_eq!(d["priceObservationRecord"]["result"]["accepted"], 0, "{d}");
        assert_eq!(
            d["priceObservationRecord"]["result"]["rejected"][0]["field"],
            "price"
        );
        assert_eq!(
            price_observation::Entity::find()
                .count(&s.app.db.read)
                .await
                .expect("count"),
            0
        );
        // The north salesperson may record prices in the north only.
        let d = w.north.sales.data(q, json!({"i": {"rows": [
            {"productId": w.product, "regionId": w.south.region, "tier": "RETAIL", "price": "1899.00", "observedOn": today()},
        ]}})).await.expect("prices");
        assert_eq!(
            d["priceObservationRecord"]["result"]["rejected"][0]["field"], "regionId",
            "{d}"
        );

        let q = "mutation($i:PriceListSetInput!){priceListSet(input:$i){entry{tier price floorPrice product{sku}} userErrors{code field}}}";
        let d = w.management.data(q, json!({"i": {"productId": w.product, "tier": "AGENT", "price": "2000.00", "floorPrice": "1800.00"}})).await.expect("price list");
        assert_eq!(d["priceListSet"]["entry"]["floorPrice"], "1800.00", "{d}");
        let d = w.management.data(q, json!({"i": {"productId": w.product, "tier": "AGENT", "price": "2000.00", "floorPrice": "2100.00"}})).await.expect("price list");
        assert_eq!(
            d["priceListSet"]["userErrors"][0]["field"],
            json!(["input", "floorPrice"])
        );
        let d = w.north.sales.data(q, json!({"i": {"productId": w.product, "tier": "AGENT", "price": "1.00", "floorPrice": "1.00"}})).await.expect("price list");
        assert_eq!(d["priceListSet"]["userErrors"][0]["code"], "FORBIDDEN");
        let d = w
            .north
            .sales
            .data(
                "{priceList{totalCount edges{node{tier price floorPrice}}}}",
                json!({}),
            )
            .await
            .expect("list");
        assert_eq!(
            d["priceList"],
            json!({"totalCount": 1, "edges": [
                {"node": {"tier": "AGENT", "price": "2000.00", "floorPrice": "1800.00"}}
            ]})
        );
    }
);
