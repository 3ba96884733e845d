//! The analysts' `metrics` query against hand-computed figures on a small
//! data set driven through the API, and its scoping by region.
//!
//! Today is T (business day). North's agent: order A, 10 × 100.00 shipped at
//! T−40, paid at T−41; order B, 5 × 200.00 shipped at T−45 unpaid on an
//! exception (30 days' terms: due T−15), 400.00 paid at T−5. South's agent:
//! order C, 4 × 250.00 shipped at T−10 unpaid (due T+20). North's agent
//! sells through 2 units at home and 1 in the South at T−2.
//!
//! At T, with the 90-day window: sales North 2,000, South 1,000; AR North
//! 600 (1–30 days past due), South 1,000 (not due); DSO North 600/2,000×90 =
//! 27, South 90, company 1,600/3,000×90 = 48; best possible DSO North 0,
//! South 90. At T−12: AR North 1,000 (B, 3 days past due), South 0.
//! Collections in T−60…T: North 1,400. Channel stock North 15 − 3 = 12,
//! weeks of supply 12 / (3/4) = 16; diversion rate 1/3.
use chrono::{Datelike, Duration, NaiveDate};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};

use salesguard_entities::model::forecast;
use salesguard_testkit::{Client, Server, World};

use crate::signals::{id_of, sell, ship, today};

const Q: &str = "query($i:MetricsInput!){metrics(input:$i){metric unit definition points{periodStart periodEnd regionId agentId productId value isInfinite amount}}}";

async fn points(c: &Client, input: Value) -> Vec<Value> {
    let d = c.data(Q, json!({ "i": input })).await.expect("metrics");
    d["metrics"]["points"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn day(k: i64) -> String {
    (today() - Duration::days(k)).to_string()
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

fn month_of(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

async fn business(server: &Server, w: &World) {
    ship(w, &w.north, &w.product, 10, "100.00", 40, true, &[]).await;
    let b = ship(w, &w.north, &w.product, 5, "200.00", 45, false, &[]).await;
    ship(w, &w.south, &w.product, 4, "250.00", 10, false, &[]).await;
    let order_id = b["id"].clone();
    let d = w
        .finance
        .data(
            "mutation($i:PaymentRecordInput!){paymentRecord(input:$i){userErrors{code message}}}",
            json!({"i": {"orderId": order_id, "amount": "400.00", "receivedOn": day(5), "reference": "BANK-B"}}),
        )
        .await
        .expect("late payment");
    assert_eq!(d["paymentRecord"]["userErrors"], json!([]), "{d}");
    sell(
        &w.north.sales,
        &w.north.agent,
        json!([
            {"productId": w.product, "quantity": 2, "salePrice": "120.00", "regionId": w.north.region, "soldOn": day(2)},
            {"productId": w.product, "quantity": 1, "salePrice": "120.00", "regionId": w.south.region, "soldOn": day(2)},
        ]),
    )
    .await;
    // A forecast of 20 units for the month of order A, by North's salesperson.
    let me = w
        .north
        .sales
        .data("{viewer{id}}", json!({}))
        .await
        .expect("viewer")["viewer"]["id"]
        .as_str()
        .map(id_of)
        .expect("my id");
    let now = salesguard_domain::clock::now();
    forecast::ActiveModel {
        period: Set(month_of(today() - Duration::days(40))
            .format("%Y-%m")
            .to_string()),
        region_id: Set(id_of(&w.north.region)),
        product_id: Set(id_of(&w.product)),
        salesperson_id: Set(me),
        quantity: Set(20),
        submitted_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&server.app.db.write)
    .await
    .expect("forecast");
}

fn by<'a>(ps: &'a [Value], field: &str, id: &str) -> Option<&'a Value> {
    ps.iter().find(|p| p[field] == json!(id))
}

e2e!(
    metrics_match_hand_computed_figures,
    |server: Server, w: World| async move {
        business(&server, &w).await;
        let m = &w.management;
        let (north, south) = (w.north.region.as_str(), w.south.region.as_str());
        let range = |metric: &str, group: &[&str]| json!({"metric": metric, "groupBy": group, "from": day(60), "to": day(0)});

        // Sales and AR per region, one value for the range.
        let ps = points(m, range("SALES", &["REGION"])).await;
        assert_eq!(
            by(&ps, "regionId", north).map(|p| p["amount"].clone()),
            Some(json!("2000.00")),
            "{ps:?}"
        );
        assert_eq!(
            by(&ps, "regionId", south).map(|p| p["amount"].clone()),
            Some(json!("1000.00"))
        );
        let ps = points(m, range("AR", &["REGION"])).await;
        assert_eq!(
            by(&ps, "regionId", north).map(|p| p["amount"].clone()),
            Some(json!("600.00")),
            "{ps:?}"
        );
        assert_eq!(
            by(&ps, "regionId", south).map(|p| p["amount"].clone()),
            Some(json!("1000.00"))
        );

        // The top group only: by the sum for sales, by the last value for DSO.
        let mut top = range("SALES", &["AGENT"]);
        top["top"] = json!(1);
        top["period"] = json!("MONTH");
        let ps = points(m, top).await;
        assert!(
            !ps.is_empty() && ps.iter().all(|p| p["agentId"] == json!(w.north.agent)),
            "{ps:?}"
        );
        let total: f64 = ps.iter().filter_map(|p| p["value"].as_f64()).sum();
        assert!((total - 2000.0).abs() < 1e-9, "{ps:?}");
        let mut top = range("DSO", &["AGENT"]);
        top["top"] = json!(1);
        let ps = points(m, top).await;
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0]["agentId"], json!(w.south.agent));

        // DSO per region and for the company; best possible DSO.
        let ps = points(m, range("DSO", &["REGION"])).await;
        assert!(
            by(&ps, "regionId", north).is_some_and(|p| close(&p["value"], 27.0)),
            "{ps:?}"
        );
        assert!(
            by(&ps, "regionId", south).is_some_and(|p| close(&p["value"], 90.0)),
            "{ps:?}"
        );
        let ps = points(m, range("DSO", &[])).await;
        assert_eq!(ps.len(), 1);
        assert!(close(&ps[0]["value"], 48.0), "{ps:?}");
        // The same at the end of a series, by month (one scan of windows)
        // and by day (70 days: from daily sums).
        for (period, from) in [("MONTH", 60), ("DAY", 69)] {
            let mut series = range("DSO", &["REGION"]);
            series["period"] = json!(period);
            series["from"] = json!(day(from));
            let ps = points(m, series).await;
            let last = ps
                .iter()
                .rfind(|p| p["regionId"] == json!(north))
                .expect("north");
            assert_eq!(last["periodEnd"], json!(day(0)));
            assert!(close(&last["value"], 27.0), "{period}: {last}");
            // At T−42 North had shipped only B (T−45, unpaid): 1,000 owed
            // on 1,000 of sales: DSO 90.
            if period == "DAY" {
                let p = ps
                    .iter()
                    .find(|p| p["regionId"] == json!(north) && p["periodEnd"] == json!(day(42)))
                    .expect("T−42");
                assert!(close(&p["value"], 90.0), "{p}");
            }
            // The compact shape: a row per region with a value per period,
            // the same numbers as the points.
            let mut series = range("DSO", &["REGION"]);
            series["period"] = json!(period);
            series["from"] = json!(day(from));
            let d = m
                .data(
                    "query($i:MetricsInput!){metrics(input:$i){periods{start end} groups{regionId values amounts isInfinite}}}",
                    json!({ "i": series }),
                )
                .await
                .expect("groups");
            let periods = d["metrics"]["periods"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let groups = d["metrics"]["groups"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(groups.len() * periods.len(), ps.len(), "{period}");
            assert_eq!(periods.last().expect("periods")["end"], json!(day(0)));
            for p in &ps {
                let col = periods
                    .iter()
                    .position(|x| x["start"] == p["periodStart"])
                    .expect("period of the point");
                let g = groups
                    .iter()
                    .find(|g| g["regionId"] == p["regionId"])
                    .expect("group of the point");
                assert_eq!(g["values"][col], p["value"], "{period}: {p} vs {g}");
                assert_eq!(g["isInfinite"][col], json!(false));
            }
            let north_row = groups
                .iter()
                .find(|g| g["regionId"] == json!(north))
                .expect("north");
            let values = north_row["values"].as_array().expect("values");
            assert!(close(values.last().expect("T"), 27.0), "{north_row}");
        }
        let ps = points(m, range("BEST_POSSIBLE_DSO", &["REGION"])).await;
        assert!(
            by(&ps, "regionId", north).is_some_and(|p| close(&p["value"], 0.0)),
            "{ps:?}"
        );
        assert!(by(&ps, "regionId", south).is_some_and(|p| close(&p["value"], 90.0)));

        // Aging at T and at T−12.
        let ps = points(m, range("AR_PAST_DUE_1_TO_30", &["REGION"])).await;
        assert_eq!(
            by(&ps, "regionId", north).map(|p| p["amount"].clone()),
            Some(json!("600.00"))
        );
        assert!(by(&ps, "regionId", south).is_none_or(|p| p["amount"] == json!("0.00")));
        let ps = points(m, range("AR_CURRENT", &["REGION"])).await;
        assert_eq!(
            by(&ps, "regionId", south).map(|p| p["amount"].clone()),
            Some(json!("1000.00"))
        );
        let earlier =
            json!({"metric": "AR", "groupBy": ["REGION"], "from": day(60), "to": day(12)});
        let ps = points(m, earlier).await;
        assert_eq!(
            by(&ps, "regionId", north).map(|p| p["amount"].clone()),
            Some(json!("1000.00")),
            "{ps:?}"
        );
        assert!(by(&ps, "regionId", south).is_none());

        // Collections by week: every week of the range, summing to 1,400.
        let mut weekly = range("COLLECTIONS", &[]);
        weekly["period"] = json!("WEEK");
        let ps = points(m, weekly).await;
        let from = today() - Duration::days(60);
        let monday = from - Duration::days(i64::from(from.weekday().num_days_from_monday()));
        let weeks = ((today() - monday).num_days() / 7 + 1) as usize;
        assert_eq!(ps.len(), weeks, "{ps:?}");
        assert_eq!(ps[0]["periodStart"], json!(day(60)), "clipped to the range");
        assert_eq!(ps[weeks - 1]["periodEnd"], json!(day(0)));
        let total: f64 = ps.iter().filter_map(|p| p["value"].as_f64()).sum();
        assert!((total - 1400.0).abs() < 1e-9, "{ps:?}");
        let last_payment = ps
            .iter()
            .find(|p| {
                p["periodStart"].as_str() <= Some(&day(5))
                    && p["periodEnd"].as_str() >= Some(&day(5))
            })
            .expect("the week of the late payment");
        assert!(last_payment["value"].as_f64().is_some_and(|v| v >= 400.0));

        // Units by product; channel stock, weeks of supply, diversion by agent.
        let ps = points(m, range("UNITS_SOLD", &["PRODUCT"])).await;
        assert!(
            by(&ps, "productId", &w.product).is_some_and(|p| close(&p["value"], 19.0)),
            "{ps:?}"
        );
        let ps = points(m, range("CHANNEL_STOCK_UNITS", &["AGENT"])).await;
        assert!(
            by(&ps, "agentId", &w.north.agent).is_some_and(|p| close(&p["value"], 12.0)),
            "{ps:?}"
        );
        let ps = points(m, range("WEEKS_OF_SUPPLY", &["AGENT"])).await;
        assert!(
            by(&ps, "agentId", &w.north.agent).is_some_and(|p| close(&p["value"], 16.0)),
            "{ps:?}"
        );
        let south_wos = by(&ps, "agentId", &w.south.agent).expect("south agent");
        assert_eq!(
            (south_wos["value"].clone(), south_wos["isInfinite"].clone()),
            (Value::Null, json!(true))
        );
        let ps = points(m, range("DIVERSION_RATE", &["AGENT"])).await;
        assert!(
            by(&ps, "agentId", &w.north.agent).is_some_and(|p| close(&p["value"], 1.0 / 3.0)),
            "{ps:?}"
        );

        // Forecast accuracy for the month of order A.
        let month = month_of(today() - Duration::days(40));
        let actual = 10
            + if month_of(today() - Duration::days(45)) == month {
                5
            } else {
                0
            };
        let next = month + chrono::Months::new(1) - Duration::days(1);
        let ps = points(
            m,
            json!({"metric": "FORECAST_WAPE", "period": "MONTH", "groupBy": ["REGION"],
                   "from": month.to_string(), "to": next.to_string()}),
        )
        .await;
        let wape = f64::from((actual - 20i32).abs()) / f64::from(actual);
        assert!(
            by(&ps, "regionId", north).is_some_and(|p| close(&p["value"], wape)),
            "{ps:?}"
        );
        let ps = points(
            m,
            json!({"metric": "FORECAST_BIAS", "groupBy": ["REGION"], "from": month.to_string(), "to": next.to_string()}),
        )
        .await;
        let bias = f64::from(20 - actual) / f64::from(actual);
        assert!(
            by(&ps, "regionId", north).is_some_and(|p| close(&p["value"], bias)),
            "{ps:?}"
        );
    }
);

e2e!(
    metrics_are_scoped_and_checked,
    |server: Server, w: World| async move {
        business(&server, &w).await;
        let (north, south) = (w.north.region.as_str(), w.south.region.as_str());
        let input = |metric: &str, group: Value| json!({"metric": metric, "groupBy": group, "from": day(60), "to": day(0)});
        // The analyst of the North sees only the North.
        let a = &w.analyst_north;
        for metric in ["SALES", "AR", "COLLECTIONS", "DSO"] {
            let ps = points(a, input(metric, json!(["REGION"]))).await;
            assert!(!ps.is_empty(), "{metric}");
            assert!(
                ps.iter().all(|p| p["regionId"] != json!(south)),
                "{metric}: {ps:?}"
            );
        }
        let ps = points(a, input("SALES", json!([]))).await;
        assert_eq!(
            ps[0]["amount"],
            json!("2000.00"),
            "the company total is the North's for this reader"
        );
        let mut asked = input("SALES", json!(["REGION"]));
        asked["regionIds"] = json!([south]);
        assert_eq!(points(a, asked).await, Vec::<Value>::new());
        let ps = points(a, input("SALES", json!(["REGION"]))).await;
        assert_eq!(
            by(&ps, "regionId", north).map(|p| p["amount"].clone()),
            Some(json!("2000.00"))
        );

        // Typed refusals that change nothing.
        let r = w
            .management
            .raw(Q, json!({"i": input("COLLECTIONS", json!(["PRODUCT"]))}))
            .await
            .expect("response");
        assert_eq!(
            r["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{r}"
        );
        assert_eq!(
            r["errors"][0]["message"], "COLLECTIONS cannot be broken down by PRODUCT",
            "{r}"
        );
        let mut backwards = input("SALES", json!([]));
        backwards["from"] = json!(day(0));
        backwards["to"] = json!(day(5));
        let r = w
            .management
            .raw(Q, json!({"i": backwards}))
            .await
            .expect("response");
        assert_eq!(
            r["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{r}"
        );
        let r = w
            .warehouse_keeper
            .raw(Q, json!({"i": input("SALES", json!([]))}))
            .await
            .expect("response");
        assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
        let r = server
            .client()
            .raw(Q, json!({"i": input("SALES", json!([]))}))
            .await
            .expect("response");
        assert_eq!(
            r["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{r}"
        );
    }
);

e2e!(
    orders_shipped_before_the_metrics_get_their_business_day,
    |server: Server, w: World| async move {
        use salesguard_entities::model::sales_order;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let order = ship(&w, &w.north, &w.product, 2, "100.00", 3, true, &[]).await;
        let id = id_of(order["id"].as_str().expect("order id"));
        // As written before `shipped_on` existed.
        sales_order::Entity::update_many()
            .col_expr(
                sales_order::Column::ShippedOn,
                sea_orm::sea_query::Expr::value(Option::<NaiveDate>::None),
            )
            .filter(sales_order::Column::Id.eq(id))
            .exec(&server.app.db.write)
            .await
            .expect("clear");
        let sales = json!({"metric": "SALES", "from": day(10), "to": day(0)});
        assert_eq!(
            points(&w.management, sales.clone()).await[0]["amount"],
            "0.00"
        );
        let n = salesguard_analytics::backfill::backfill_shipped_on(&server.app.db, server.app.tz)
            .await
            .expect("backfill");
        assert_eq!(n, 1);
        let o = sales_order::Entity::find_by_id(id)
            .one(&server.app.db.read)
            .await
            .expect("read")
            .expect("order");
        assert_eq!(o.shipped_on, Some(today() - Duration::days(3)));
        assert_eq!(points(&w.management, sales).await[0]["amount"], "200.00");
        assert_eq!(
            salesguard_analytics::backfill::backfill_shipped_on(&server.app.db, server.app.tz)
                .await
                .expect("again"),
            0
        );
    }
);

e2e!(
    ar_counts_each_payment_from_its_day_and_is_refilled_for_earlier_orders,
    |server: Server, w: World| async move {
        use salesguard_entities::model::ar_entry;
        use salesguard_testkit::chain::ok;
        use sea_orm::EntityTrait;
        // 10 × 100.00: 300.00 received at T−2, the rest shipped on an
        // exception recorded today but dated T−5, 200.00 received today.
        // AR: T−6 0; T−5…T−3 1,000 (the T−2 payment not yet received);
        // T−2, T−1 700; T 500.
        let team = &w.north;
        let order = ok(
            &team.sales,
            "salesOrderCreate",
            json!({"agentId": team.agent, "paymentTermsDays": 30,
                   "lines": [{"productId": w.product, "quantity": 10, "unitPrice": "100.00"}]}),
        )
        .await
        .expect("file");
        let order = w
            .advance_to(team, order, "salesOrderForwardToFinance")
            .await
            .expect("to finance");
        let id = order["id"].clone();
        let pay = |amount: &str, on: String| json!({"orderId": id, "amount": amount, "receivedOn": on, "reference": "BANK"});
        ok(&w.finance, "paymentRecord", pay("300.00", day(2)))
            .await
            .expect("first payment");
        ok(
            &w.management,
            "shipmentExceptionApprove",
            json!({"orderId": id, "amount": "700.00", "reason": "Key agent",
                   "expiresAt": (chrono::Utc::now() + Duration::days(1)).to_rfc3339()}),
        )
        .await
        .expect("exception");
        let order = ok(
            &team.assistant,
            "shippingNoticeIssue",
            json!({"orderId": id, "warehouseId": w.warehouse}),
        )
        .await
        .expect("notice");
        ok(
            &w.warehouse_keeper,
            "shipmentShip",
            json!({"noticeNumber": order["shippingNotice"]["number"],
                   "verificationCode": order["shippingNotice"]["verificationCode"],
                   "carrier": "SF", "trackingNumber": "SF1",
                   "shippedAt": (chrono::Utc::now() - Duration::days(5)).to_rfc3339()}),
        )
        .await
        .expect("ship");
        ok(&w.finance, "paymentRecord", pay("200.00", day(0)))
            .await
            .expect("second payment");

        let ar = json!({"metric": "AR", "period": "DAY", "from": day(6), "to": day(0)});
        let series = |pts: Vec<Value>| -> Vec<String> {
            pts.iter()
                .map(|p| p["amount"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        let expected: Vec<String> = [
            "0.00", "1000.00", "1000.00", "1000.00", "700.00", "700.00", "500.00",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(series(points(&w.management, ar.clone()).await), expected);

        // As if the order had shipped before the AR entries existed.
        ar_entry::Entity::delete_many()
            .exec(&server.app.db.write)
            .await
            .expect("clear");
        assert_eq!(
            points(&w.management, ar.clone()).await.last().expect("T")["amount"],
            "0.00"
        );
        let n = salesguard_analytics::backfill::backfill_ar_entries(&server.app.db)
            .await
            .expect("backfill");
        assert_eq!(n, 1);
        assert_eq!(series(points(&w.management, ar).await), expected);
        assert_eq!(
            salesguard_analytics::backfill::backfill_ar_entries(&server.app.db)
                .await
                .expect("again"),
            0
        );
    }
);
