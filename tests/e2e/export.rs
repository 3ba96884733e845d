//! Exports end to end: a small business driven through the API, exported
//! over HTTP as CSV and Parquet and through the CLI, checked against the
//! figures put in; scoping by region, refusals and their audit records.
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use polars::prelude::{AnyValue, DataFrame, DataType, ParquetReader, SerReader, TimeUnit};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{json, Value};

use salesguard_entities::model::{audit_log, risk_signal};
use salesguard_testkit::chain::ok;
use salesguard_testkit::world::create_user;
use salesguard_testkit::{Client, Server, World};

fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
}

fn day(offset: i64) -> String {
    (today() + Duration::days(offset)).to_string()
}

/// A parsed CSV file: the header and the records, as text.
#[derive(Debug, PartialEq)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.header))
    }
    /// The values of `names` in every row, in file order.
    fn pick(&self, names: &[&str]) -> Vec<Vec<String>> {
        let idx: Vec<usize> = names.iter().map(|n| self.col(n)).collect();
        self.rows
            .iter()
            .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
            .collect()
    }
    fn column(&self, name: &str) -> Vec<String> {
        let i = self.col(name);
        self.rows.iter().map(|r| r[i].clone()).collect()
    }
}

/// RFC 4180: CRLF records, fields quoted when they hold `,`, `"` or line
/// breaks, quotes doubled. Panics on anything else.
fn parse_csv(text: &str) -> Table {
    let mut records: Vec<Vec<String>> = vec![];
    let mut rec: Vec<String> = vec![];
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            ',' => {
                rec.push(std::mem::take(&mut field));
                at_start = true;
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "records end with CRLF");
                rec.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut rec));
                at_start = true;
            }
            '"' => panic!("stray quote in {text}"),
            '\n' => panic!("bare LF in {text}"),
            c => {
                field.push(c);
                at_start = false;
            }
        }
    }
    assert!(field.is_empty() && rec.is_empty(), "last record not ended");
    let mut it = records.into_iter();
    let header = it.next().expect("a header row");
    let rows: Vec<Vec<String>> = it.collect();
    for r in &rows {
        assert_eq!(r.len(), header.len(), "{r:?}");
    }
    Table { header, rows }
}

async fn get(s: &Server, token: Option<&str>, path: &str) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}{path}", s.base_url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request")
}

fn token(c: &Client) -> &str {
    c.token.as_deref().expect("signed in")
}

/// The raw bytes of an export that must succeed.
async fn bytes(s: &Server, c: &Client, file: &str, query: &str) -> Vec<u8> {
    let r = get(s, Some(token(c)), &format!("/export/{file}{query}")).await;
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let cd = r
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = r.bytes().await.expect("body").to_vec();
    assert_eq!(
        status,
        200,
        "{file}{query}: {}",
        String::from_utf8_lossy(&body)
    );
    if file.ends_with(".csv") {
        assert_eq!(ct, "text/csv; charset=utf-8");
    } else {
        assert_eq!(ct, "application/vnd.apache.parquet");
    }
    assert!(cd.starts_with("attachment; filename=\""), "{cd}");
    body
}

async fn csv(s: &Server, c: &Client, dataset: &str, query: &str) -> Table {
    let b = bytes(s, c, &format!("{dataset}.csv"), query).await;
    parse_csv(&String::from_utf8(b).expect("UTF-8"))
}

fn read_parquet(b: Vec<u8>) -> DataFrame {
    ParquetReader::new(std::io::Cursor::new(b))
        .finish()
        .expect("a Parquet file")
}

/// A Parquet cell as the CSV writes it.
fn cell(v: AnyValue) -> String {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let ts = |us: i64| {
        DateTime::<Utc>::from_timestamp_micros(us)
            .expect("instant")
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    };
    match v {
        AnyValue::Null => String::new(),
        AnyValue::Int64(x) => x.to_string(),
        AnyValue::Float64(x) => x.to_string(),
        AnyValue::String(x) => x.to_owned(),
        AnyValue::StringOwned(x) => x.to_string(),
        AnyValue::Date(d) => (epoch + Duration::days(i64::from(d))).to_string(),
        AnyValue::Datetime(us, TimeUnit::Microseconds, _) => ts(us),
        AnyValue::DatetimeOwned(us, TimeUnit::Microseconds, _) => ts(us),
        AnyValue::Decimal(m, _, 2) => {
            let sign = if m < 0 { "-" } else { "" };
            let a = m.unsigned_abs();
            format!("{sign}{}.{:02}", a / 100, a % 100)
        }
        other => panic!("unexpected Parquet value {other:?}"),
    }
}

/// A Parquet file as a table of CSV text.
fn parquet_table(df: &DataFrame) -> Table {
    let header: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let rows = (0..df.height())
        .map(|i| {
            df.columns()
                .iter()
                .map(|c| cell(c.get(i).expect("cell")))
                .collect()
        })
        .collect();
    Table { header, rows }
}

async fn parquet(s: &Server, c: &Client, dataset: &str, query: &str) -> DataFrame {
    read_parquet(bytes(s, c, &format!("{dataset}.parquet"), query).await)
}

const DATASETS: [&str; 7] = [
    "orders",
    "order_lines",
    "payments",
    "shipments",
    "serial_events",
    "forecasts",
    "signals",
];

struct Business {
    north_order: String,
    south_order: String,
}

async fn signal(s: &Server, region: Option<i64>, kind: &str, value: f64) {
    let d = |x: &str| x.parse::<NaiveDate>().expect("date");
    let now = Utc::now();
    risk_signal::ActiveModel {
        fingerprint: Set(format!("{kind}|test|{region:?}")),
        kind: Set(kind.into()),
        rule: Set("TEST_RULE".into()),
        subject_type: Set(if region.is_some() {
            "REGION"
        } else {
            "COMPANY"
        }
        .into()),
        subject_id: Set(region),
        subject_label: Set(format!("subject {region:?}")),
        region_id: Set(region),
        agent_id: Set(None),
        salesperson_id: Set(None),
        product_id: Set(None),
        period_start: Set(d("2026-01-01")),
        period_end: Set(d("2026-01-31")),
        severity: Set("WARNING".into()),
        peak_severity: Set("WARNING".into()),
        value: Set(value),
        threshold: Set(1.25),
        unit: Set("RATIO".into()),
        formula: Set("a / b".into()),
        summary: Set(format!("{kind} at {value}")),
        evidence: Set(r#"{"metrics": {}, "documents": [], "more": 0}"#.into()),
        raised_at: Set(now),
        updated_at: Set(now),
        cleared_at: Set(None),
        run_id: Set(None),
        ..Default::default()
    }
    .insert(&s.app.db.write)
    .await
    .expect("insert signal");
}

fn id_of(node_id: &Value) -> i64 {
    salesguard_api::graphql::ids::parse(node_id.as_str().expect("an id"))
        .map(|(_, id)| id)
        .expect("a node id")
}

/// The small business the exports are checked against:
/// - north: one order of 3 × CUBE-1 at 1999.50 and 2 × CUBE-PART at 50.25
///   (6099.00), paid 3 days ago, shipped 2 days ago with five serials; one
///   unit sold through in the north-east sub-area yesterday, another seen
///   in the south today; a forecast of 40 + 10 units this month;
/// - south: one order of 1 × CUBE-1 at 2100.00 at finance with 1000.00
///   paid today; a forecast of 25 units;
/// - risk signals of the north, of the south and company-wide.
async fn business(s: &Server, w: &World) -> Business {
    let order = ok(
        &w.north.sales,
        "salesOrderCreate",
        json!({"agentId": w.north.agent, "paymentTermsDays": 30, "lines": [
            {"productId": w.product, "quantity": 3, "unitPrice": "1999.50"},
            {"productId": w.part, "quantity": 2, "unitPrice": "50.25"}]}),
    )
    .await
    .expect("file north");
    let order = w
        .advance_to(&w.north, order, "salesOrderForwardToFinance")
        .await
        .expect("north to finance");
    let id = order["id"].clone();
    ok(
        &w.finance,
        "paymentRecord",
        json!({"orderId": id, "amount": "6099.00", "receivedOn": day(-3),
               "reference": "BANK \"7\", north"}),
    )
    .await
    .expect("pay north");
    ok(&w.finance, "paymentConfirmFull", json!({"orderId": id}))
        .await
        .expect("confirm");
    let order = ok(
        &w.north.assistant,
        "shippingNoticeIssue",
        json!({"orderId": id, "warehouseId": w.warehouse}),
    )
    .await
    .expect("notice");
    let serials = json!([
        {"productId": w.product, "serial": "SN-N-1"},
        {"productId": w.product, "serial": "SN-N-2"},
        {"productId": w.product, "serial": "SN-N-3"},
        {"productId": w.part, "serial": "SP-N-1"},
        {"productId": w.part, "serial": "SP-N-2"},
    ]);
    let order = ok(
        &w.warehouse_keeper,
        "shipmentShip",
        json!({"noticeNumber": order["shippingNotice"]["number"],
               "verificationCode": order["shippingNotice"]["verificationCode"],
               "carrier": "SF Express", "trackingNumber": "SF-1",
               "shippedAt": (Utc::now() - Duration::days(2)).to_rfc3339(),
               "serials": serials}),
    )
    .await
    .expect("ship");
    let north_order = order["number"].as_str().expect("number").to_owned();

    let south = w
        .file_order(&w.south, 1, "2100.00")
        .await
        .expect("file south");
    let south = w
        .advance_to(&w.south, south, "salesOrderForwardToFinance")
        .await
        .expect("south to finance");
    ok(
        &w.finance,
        "paymentRecord",
        json!({"orderId": south["id"], "amount": "1000.00", "receivedOn": day(0), "reference": "BANK-S"}),
    )
    .await
    .expect("pay south");
    let south_order = south["number"].as_str().expect("number").to_owned();

    let q = "mutation($i:SellThroughRecordInput!){sellThroughRecord(input:$i){result{accepted} userErrors{message}}}";
    let d = w
        .north
        .sales
        .data(
            q,
            json!({"i": {"agentId": w.north.agent, "rows": [
                {"productId": w.product, "serial": "SN-N-1", "quantity": 1, "salePrice": "2300.00",
                 "regionId": w.north_east, "soldOn": day(-1)}]}}),
        )
        .await
        .expect("sell-through");
    assert_eq!(d["sellThroughRecord"]["result"]["accepted"], 1, "{d}");
    let callcenter = create_user(&w.admin, "callcenter", "CALL_CENTER", &[], true)
        .await
        .expect("call center");
    let q = "mutation($i:UnitSightingRecordInput!){unitSightingRecord(input:$i){result{accepted} userErrors{message}}}";
    let d = callcenter
        .data(
            q,
            json!({"i": {"rows": [{"serial": "SN-N-2", "kind": "ACTIVATION", "regionId": w.south.region,
                                   "seenOn": day(0), "note": "shop, Guangzhou"}]}}),
        )
        .await
        .expect("sighting");
    assert_eq!(d["unitSightingRecord"]["result"]["accepted"], 1, "{d}");

    let month = today().format("%Y-%m").to_string();
    let q = "mutation($i:ForecastSubmitInput!){forecastSubmit(input:$i){forecasts{quantity} userErrors{message}}}";
    for (c, region, lines) in [
        (
            &w.north.sales,
            &w.north.region,
            json!([{"productId": w.product, "quantity": 40}, {"productId": w.part, "quantity": 10}]),
        ),
        (
            &w.south.sales,
            &w.south.region,
            json!([{"productId": w.product, "quantity": 25}]),
        ),
    ] {
        let d = c
            .data(
                q,
                json!({"i": {"period": month, "regionId": region, "lines": lines}}),
            )
            .await
            .expect("forecast");
        assert_eq!(d["forecastSubmit"]["userErrors"], json!([]), "{d}");
    }

    signal(
        s,
        Some(id_of(&json!(w.north.region))),
        "RECEIVABLES_GROWTH",
        1.5,
    )
    .await;
    signal(
        s,
        Some(id_of(&json!(w.south.region))),
        "PRICE_INVERSION",
        0.875,
    )
    .await;
    signal(s, None, "CHANNEL_STOCK", 2.25).await;
    Business {
        north_order,
        south_order,
    }
}

fn rows(v: &[&[&str]]) -> Vec<Vec<String>> {
    v.iter()
        .map(|r| r.iter().map(|x| (*x).to_owned()).collect())
        .collect()
}

e2e!(
    exports_hold_the_figures_in_both_formats_scoped_by_region,
    |s: Server, w: World| async move {
        let b = business(&s, &w).await;
        let (n, so) = (b.north_order.as_str(), b.south_order.as_str());
        let (t, t1, t2, t3) = (day(0), day(-1), day(-2), day(-3));
        let m = &w.management;

        // Order lines: exact amounts, in yuan and fen.
        let lines = csv(&s, m, "order_lines", "").await;
        assert_eq!(
            lines.header,
            [
                "line_id",
                "order_id",
                "order_number",
                "order_date",
                "order_status",
                "line_no",
                "region_id",
                "region_code",
                "agent_id",
                "agent_code",
                "agent_name",
                "salesperson_id",
                "salesperson",
                "product_id",
                "product_sku",
                "product_name",
                "quantity",
                "unit_price",
                "unit_price_fen",
                "amount",
                "amount_fen"
            ]
        );
        let cols = [
            "order_number",
            "order_date",
            "order_status",
            "line_no",
            "region_code",
            "agent_code",
            "salesperson",
            "product_sku",
            "quantity",
            "unit_price",
            "unit_price_fen",
            "amount",
            "amount_fen",
        ];
        assert_eq!(
            lines.pick(&cols),
            rows(&[
                &[
                    n,
                    &t,
                    "SHIPPED",
                    "1",
                    "NORTH",
                    "AG-N",
                    "sales.north",
                    "CUBE-1",
                    "3",
                    "1999.50",
                    "199950",
                    "5998.50",
                    "599850"
                ],
                &[
                    n,
                    &t,
                    "SHIPPED",
                    "2",
                    "NORTH",
                    "AG-N",
                    "sales.north",
                    "CUBE-PART",
                    "2",
                    "50.25",
                    "5025",
                    "100.50",
                    "10050"
                ],
                &[
                    so,
                    &t,
                    "AT_FINANCE",
                    "1",
                    "SOUTH",
                    "AG-S",
                    "sales.south",
                    "CUBE-1",
                    "1",
                    "2100.00",
                    "210000",
                    "2100.00",
                    "210000"
                ],
            ])
        );

        let orders = csv(&s, m, "orders", "").await;
        assert_eq!(
            orders.pick(&[
                "order_number",
                "order_date",
                "status",
                "region_code",
                "agent_code",
                "payment_terms_days",
                "total",
                "total_fen",
                "paid",
                "paid_fen",
                "fully_paid_on",
                "shipped_on"
            ]),
            rows(&[
                &[
                    n, &t, "SHIPPED", "NORTH", "AG-N", "30", "6099.00", "609900", "6099.00",
                    "609900", &t, &t2
                ],
                &[
                    so,
                    &t,
                    "AT_FINANCE",
                    "SOUTH",
                    "AG-S",
                    "30",
                    "2100.00",
                    "210000",
                    "1000.00",
                    "100000",
                    "",
                    ""
                ],
            ])
        );

        let payments = csv(&s, m, "payments", "").await;
        assert_eq!(
            payments.pick(&[
                "order_number",
                "received_on",
                "amount",
                "amount_fen",
                "reference",
                "region_code",
                "recorded_by"
            ]),
            rows(&[
                &[
                    n,
                    &t3,
                    "6099.00",
                    "609900",
                    "BANK \"7\", north",
                    "NORTH",
                    "finance"
                ],
                &[so, &t, "1000.00", "100000", "BANK-S", "SOUTH", "finance"],
            ])
        );

        let shipments = csv(&s, m, "shipments", "").await;
        assert_eq!(
            shipments.pick(&[
                "order_number",
                "shipped_on",
                "warehouse_code",
                "carrier",
                "tracking_number",
                "delivered_on",
                "region_code",
                "agent_code",
                "order_total",
                "order_total_fen"
            ]),
            rows(&[&[
                n,
                &t2,
                "WH",
                "SF Express",
                "SF-1",
                "",
                "NORTH",
                "AG-N",
                "6099.00",
                "609900"
            ]])
        );

        let events = csv(&s, m, "serial_events", "").await;
        let ev_cols = [
            "event_type",
            "event_date",
            "serial",
            "product_sku",
            "quantity",
            "region_code",
            "agent_code",
            "order_number",
            "sale_price",
            "sighting_kind",
            "note",
        ];
        let shipped = |serial: &'static str, sku: &'static str| -> Vec<String> {
            [
                "SHIPPED",
                t2.as_str(),
                serial,
                sku,
                "1",
                "NORTH",
                "AG-N",
                n,
                "",
                "",
                "",
            ]
            .iter()
            .map(|x| (*x).to_owned())
            .collect()
        };
        let mut want = vec![
            shipped("SN-N-1", "CUBE-1"),
            shipped("SN-N-2", "CUBE-1"),
            shipped("SN-N-3", "CUBE-1"),
            shipped("SP-N-1", "CUBE-PART"),
            shipped("SP-N-2", "CUBE-PART"),
        ];
        want.extend(rows(&[
            &[
                "SOLD",
                &t1,
                "SN-N-1",
                "CUBE-1",
                "1",
                "NORTH-EAST",
                "AG-N",
                "",
                "2300.00",
                "",
                "",
            ],
            &[
                "SIGHTED",
                &t,
                "SN-N-2",
                "CUBE-1",
                "1",
                "SOUTH",
                "AG-N",
                n,
                "",
                "ACTIVATION",
                "shop, Guangzhou",
            ],
        ]));
        let mut got = events.pick(&ev_cols);
        // Shipped units share one instant: their order among themselves is by id.
        got[..5].sort();
        assert_eq!(got, want);

        let forecasts = csv(&s, m, "forecasts", "").await;
        let month = today().format("%Y-%m").to_string();
        assert_eq!(
            forecasts.pick(&[
                "period",
                "region_code",
                "product_sku",
                "salesperson",
                "quantity"
            ]),
            rows(&[
                &[&month, "NORTH", "CUBE-1", "sales.north", "40"],
                &[&month, "NORTH", "CUBE-PART", "sales.north", "10"],
                &[&month, "SOUTH", "CUBE-1", "sales.south", "25"],
            ])
        );

        let signals = csv(&s, m, "signals", "").await;
        assert_eq!(
            signals.pick(&[
                "kind",
                "status",
                "severity",
                "region_code",
                "period_start",
                "period_end",
                "value",
                "threshold"
            ]),
            rows(&[
                &[
                    "RECEIVABLES_GROWTH",
                    "OPEN",
                    "WARNING",
                    "NORTH",
                    "2026-01-01",
                    "2026-01-31",
                    "1.5",
                    "1.25"
                ],
                &[
                    "PRICE_INVERSION",
                    "OPEN",
                    "WARNING",
                    "SOUTH",
                    "2026-01-01",
                    "2026-01-31",
                    "0.875",
                    "1.25"
                ],
                &[
                    "CHANNEL_STOCK",
                    "OPEN",
                    "WARNING",
                    "",
                    "2026-01-01",
                    "2026-01-31",
                    "2.25",
                    "1.25"
                ],
            ])
        );

        // Parquet: the same rows and columns; money as Decimal(18, 2) plus
        // integer fen, business days as dates, instants in UTC.
        for d in DATASETS {
            let c = csv(&s, m, d, "").await;
            let p = parquet(&s, m, d, "").await;
            assert_eq!(parquet_table(&p), c, "{d}");
        }
        let p = parquet(&s, m, "order_lines", "").await;
        let dtype = |c: &str| p.column(c).expect("column").dtype().clone();
        assert_eq!(dtype("amount"), DataType::Decimal(18, 2));
        assert_eq!(dtype("amount_fen"), DataType::Int64);
        assert_eq!(dtype("order_date"), DataType::Date);
        assert_eq!(dtype("product_sku"), DataType::String);
        let p = parquet(&s, m, "payments", "").await;
        assert!(matches!(
            p.column("recorded_at").expect("column").dtype(),
            DataType::Datetime(TimeUnit::Microseconds, Some(tz)) if tz.as_str() == "UTC"
        ));

        // Batches are row groups: with two rows a batch, three lines make
        // two row groups, with the same content.
        let req =
            salesguard_api::export::parse_file("order_lines.parquet", None, None).expect("request");
        let rx = salesguard_api::export::start(&s.app, None, &req, 2);
        let mut buf: Vec<u8> = vec![];
        salesguard_api::export::write_to(rx, &mut buf)
            .await
            .expect("export");
        let mut reader = ParquetReader::new(std::io::Cursor::new(buf.clone()));
        let groups = reader.get_metadata().expect("metadata").row_groups.len();
        assert_eq!(groups, 2);
        assert_eq!(parquet_table(&read_parquet(buf)), lines);

        // Business days filter.
        let q = format!("?from={t}&to={t}");
        assert_eq!(csv(&s, m, "orders", &q).await.rows.len(), 2);
        let q = format!("?to={t1}");
        assert_eq!(csv(&s, m, "orders", &q).await.rows.len(), 0);
        assert_eq!(csv(&s, m, "payments", &q).await.column("order_number"), [n]);
        let q = format!("?from={t1}");
        assert_eq!(
            csv(&s, m, "serial_events", &q).await.column("event_type"),
            ["SOLD", "SIGHTED"]
        );
        assert_eq!(csv(&s, m, "shipments", &q).await.rows.len(), 0);
        let q = format!("?from={t2}&to={t2}");
        assert_eq!(csv(&s, m, "shipments", &q).await.rows.len(), 1);
        let empty = parquet(&s, m, "order_lines", &format!("?from={}", day(1))).await;
        assert_eq!(empty.height(), 0);
        assert_eq!(empty.width(), lines.header.len());

        // An analyst of the north sees the north (with its sub-area) only.
        let a = &w.analyst_north;
        for d in DATASETS {
            let c = csv(&s, a, d, "").await;
            let codes = c.column("region_code");
            assert!(!codes.is_empty(), "{d}: the north has rows");
            assert!(
                codes.iter().all(|r| r == "NORTH" || r == "NORTH-EAST"),
                "{d}: {codes:?}"
            );
            let p = parquet(&s, a, d, "").await;
            assert_eq!(parquet_table(&p), c, "{d}");
        }
        assert_eq!(
            csv(&s, a, "order_lines", "").await.column("order_number"),
            [n, n]
        );
        assert_eq!(
            csv(&s, a, "payments", "").await.column("amount"),
            ["6099.00"]
        );
        assert_eq!(
            csv(&s, a, "serial_events", "").await.column("event_type"),
            ["SHIPPED", "SHIPPED", "SHIPPED", "SHIPPED", "SHIPPED", "SOLD"]
        );
        assert_eq!(
            csv(&s, a, "signals", "").await.column("kind"),
            ["RECEIVABLES_GROWTH"]
        );
        // An analyst of the south: a north unit seen in the south is a south event.
        let south = create_user(
            &w.admin,
            "analyst.south",
            "ANALYST",
            &[&w.south.region],
            false,
        )
        .await
        .expect("south analyst");
        let ev = csv(&s, &south, "serial_events", "").await;
        assert_eq!(
            ev.pick(&["event_type", "serial", "region_code"]),
            rows(&[&["SIGHTED", "SN-N-2", "SOUTH"]])
        );
        assert_eq!(
            csv(&s, &south, "orders", "").await.column("order_number"),
            [so]
        );

        // The CLI writes what the endpoint sends, with the same scope.
        let dir = tempfile::tempdir().expect("dir");
        let cli = |args: Vec<String>| {
            let dir = dir.path().to_owned();
            let url = s.database_url.clone();
            async move {
                tokio::process::Command::new(env!("CARGO_BIN_EXE_salesguard"))
                    .arg("export")
                    .args(args)
                    .current_dir(dir)
                    .env("SALESGUARD_DATABASE_URL", url)
                    .output()
                    .await
                    .expect("run the CLI")
            }
        };
        for (d, format) in [
            ("order_lines", "csv"),
            ("serial_events", "parquet"),
            ("payments", "csv"),
        ] {
            let out_file = dir.path().join(format!("{d}.{format}"));
            let out = cli(vec![
                d.into(),
                "--format".into(),
                format.into(),
                "--out".into(),
                out_file.display().to_string(),
                "--username".into(),
                "analyst.north".into(),
            ])
            .await;
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let file = std::fs::read(&out_file).expect("the file");
            let http = bytes(&s, a, &format!("{d}.{format}"), "").await;
            if format == "csv" {
                assert_eq!(
                    String::from_utf8_lossy(&file),
                    String::from_utf8_lossy(&http),
                    "{d}"
                );
            } else {
                assert_eq!(
                    parquet_table(&read_parquet(file)),
                    parquet_table(&read_parquet(http)),
                    "{d}"
                );
            }
        }
        let out_file = dir.path().join("denied.csv");
        let out = cli(vec![
            "orders".into(),
            "--out".into(),
            out_file.display().to_string(),
            "--username".into(),
            "sales.north".into(),
        ])
        .await;
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("FORBIDDEN"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out_file.exists());
    }
);

e2e!(
    exports_refuse_strangers_and_other_positions,
    |s: Server, w: World| async move {
        // No token, a wrong token.
        let r = get(&s, None, "/export/orders.csv").await;
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
        assert_eq!(
            get(&s, Some("not-a-token"), "/export/orders.csv")
                .await
                .status(),
            401
        );

        // Positions that do not read business data in bulk: 403, audited.
        for (c, name) in [
            (&w.north.sales, "salesperson"),
            (&w.warehouse_keeper, "keeper"),
            (&w.admin, "admin"),
        ] {
            let r = get(&s, Some(token(c)), "/export/order_lines.parquet").await;
            assert_eq!(r.status(), 403, "{name}");
            let body: Value = r.json().await.expect("JSON");
            assert_eq!(body["error"]["code"], "FORBIDDEN", "{name}");
        }
        let refusals = audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq("export"))
            .filter(audit_log::Column::Outcome.eq("REFUSED:FORBIDDEN"))
            .all(&s.app.db.read)
            .await
            .expect("audit");
        assert_eq!(refusals.len(), 3);
        assert!(refusals
            .iter()
            .any(|r| r.actor_position.as_deref() == Some("SALESPERSON")));
        assert!(refusals
            .iter()
            .any(|r| r.actor_position.as_deref() == Some("WAREHOUSE")));

        // Unknown datasets and formats, bad dates.
        let m = token(&w.management);
        for path in ["/export/users.csv", "/export/orders.xlsx", "/export/orders"] {
            let r = get(&s, Some(m), path).await;
            assert_eq!(r.status(), 404, "{path}");
            let body: Value = r.json().await.expect("JSON");
            assert_eq!(body["error"]["code"], "NOT_FOUND", "{path}");
        }
        for q in [
            "?from=2026-02-30",
            "?to=yesterday",
            "?from=2026-03-02&to=2026-03-01",
        ] {
            let r = get(&s, Some(m), &format!("/export/orders.csv{q}")).await;
            assert_eq!(r.status(), 400, "{q}");
            let body: Value = r.json().await.expect("JSON");
            assert_eq!(body["error"]["code"], "BAD_USER_INPUT", "{q}");
        }

        // Every allowed position gets an export; it is recorded.
        for (name, position) in [("fin2", "FINANCE"), ("sv", "SUPERVISION")] {
            let c = create_user(&w.admin, name, position, &[], true)
                .await
                .expect("user");
            let r = get(&s, Some(token(&c)), "/export/orders.csv").await;
            assert_eq!(r.status(), 200, "{position}");
        }
        let r = get(&s, Some(token(&w.north.supervisor)), "/export/orders.csv").await;
        assert_eq!(r.status(), 200);
        let done = audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq("export"))
            .filter(audit_log::Column::Outcome.eq("OK"))
            .all(&s.app.db.read)
            .await
            .expect("audit");
        assert_eq!(done.len(), 3);
    }
);
