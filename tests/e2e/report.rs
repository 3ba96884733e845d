//! The weekly risk report end to end: two supervisors with different
//! regions (and e-mail addresses), business and signals in both regions,
//! the report run against a real SMTP server started by the test; what
//! arrived (recipients, subject, only the manager's regions, the CSV of open
//! signals), a delivery to a server that is down or refuses being recorded
//! and retried until delivered, and who may list and download the reports.
use chrono::{NaiveDate, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};

use salesguard_config::report::SmtpSettings;
use salesguard_entities::model::risk_signal;
use salesguard_testkit::chain::ok;
use salesguard_testkit::{Client, Server, World};

use crate::smtp::SmtpServer;

fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
}

fn id_of(node_id: &str) -> i64 {
    salesguard_api::graphql::ids::parse(node_id)
        .map(|(_, id)| id)
        .expect("a node id")
}

/// The app of the server with other SMTP settings (the worker's view).
fn with_smtp(server: &Server, smtp: SmtpSettings) -> salesguard_worker::Ctx {
    let settings = salesguard_api::Settings {
        smtp,
        ..server.app.settings.clone()
    };
    salesguard_worker::Ctx::new(server.app.db.clone(), settings).expect("worker context")
}

fn smtp_to(port: u16) -> SmtpSettings {
    SmtpSettings {
        port,
        from: "Salesguard <risk@salesguard.test>".into(),
        retry_base_secs: 1,
        timeout_secs: 5,
        ..SmtpSettings::default()
    }
}

async fn manager(w: &World, name: &str, region: &str) -> Client {
    let d = w
        .admin
        .data(
            "mutation($i:UserCreateInput!){userCreate(input:$i){user{id} userErrors{message}}}",
            json!({"i": {"username": name, "displayName": name, "position": "SUPERVISOR",
                         "password": salesguard_testkit::world::PASSWORD, "regionIds": [region],
                         "allRegions": false, "email": format!("{name}@example.com")}}),
        )
        .await
        .expect("manager");
    assert!(d["userCreate"]["user"]["id"].is_string(), "{d}");
    w.admin
        .login(name, salesguard_testkit::world::PASSWORD)
        .await
        .expect("login")
}

/// North: 5 units at 2,000 paid and shipped now. South: 3 units at 5,000
/// shipped now unpaid on a management exception (a receivable of 15,000).
/// A signal open in each region, and one cleared in the north.
async fn business(server: &Server, w: &World) -> (i64, i64) {
    let north = w
        .file_order(&w.north, 5, "2000.00")
        .await
        .expect("north order");
    w.advance_to(&w.north, north, "shipmentShip")
        .await
        .expect("north shipped");
    let south = w
        .file_order(&w.south, 3, "5000.00")
        .await
        .expect("south order");
    let south = w
        .advance_to(&w.south, south, "salesOrderForwardToFinance")
        .await
        .expect("south at finance");
    ok(
        &w.management,
        "shipmentExceptionApprove",
        json!({"orderId": south["id"], "amount": south["balanceDue"], "reason": "Key agent",
               "expiresAt": (Utc::now() + chrono::Duration::days(1)).to_rfc3339()}),
    )
    .await
    .expect("exception");
    let south = ok(
        &w.south.assistant,
        "shippingNoticeIssue",
        json!({"orderId": south["id"], "warehouseId": w.warehouse}),
    )
    .await
    .expect("notice");
    ok(
        &w.warehouse_keeper,
        "shipmentShip",
        json!({"noticeNumber": south["shippingNotice"]["number"],
               "verificationCode": south["shippingNotice"]["verificationCode"],
               "carrier": "SF", "trackingNumber": "SF1"}),
    )
    .await
    .expect("south shipped");
    let now = salesguard_domain::clock::now();
    let signal = |agent: &str, region: &str, label: &str, severity: &str, cleared: bool| {
        risk_signal::ActiveModel {
            fingerprint: Set(format!(
                "CHANNEL_STOCK|WEEKS_OF_SUPPLY|AGENT|{label}|{cleared}"
            )),
            kind: Set("CHANNEL_STOCK".into()),
            rule: Set("WEEKS_OF_SUPPLY".into()),
            subject_type: Set("AGENT".into()),
            subject_id: Set(Some(id_of(agent))),
            subject_label: Set(label.into()),
            region_id: Set(Some(id_of(region))),
            agent_id: Set(Some(id_of(agent))),
            salesperson_id: Set(None),
            product_id: Set(None),
            period_start: Set(today() - chrono::Duration::days(28)),
            period_end: Set(today()),
            severity: Set(severity.into()),
            peak_severity: Set(severity.into()),
            value: Set(12.5),
            threshold: Set(8.0),
            unit: Set("WEEKS".into()),
            formula: Set("channel stock / average weekly sell-through".into()),
            summary: Set(format!("{label}: 12.5 weeks of stock")),
            evidence: Set("{}".into()),
            raised_at: Set(now),
            updated_at: Set(now),
            cleared_at: Set(cleared.then_some(now)),
            run_id: Set(None),
            ..Default::default()
        }
    };
    let db = &server.app.db.write;
    let n = signal(
        &w.north.agent,
        &w.north.region,
        "Agent AG-N",
        "WARNING",
        false,
    )
    .insert(db)
    .await
    .expect("north signal");
    let s = signal(
        &w.south.agent,
        &w.south.region,
        "Agent AG-S",
        "CRITICAL",
        false,
    )
    .insert(db)
    .await
    .expect("south signal");
    signal(&w.north.agent, &w.north.region, "Agent AG-N", "WATCH", true)
        .insert(db)
        .await
        .expect("cleared signal");
    (n.id, s.id)
}

const REPORTS: &str = "query($f:WeeklyReportFilter){weeklyReports(first:50, filter:$f){totalCount \
    edges{node{id weekStart weekEnd subject allRegions language htmlUrl signalsCsvUrl \
    recipient{username} regions{code} \
    figures{sales ar dso openSignals{watch warning critical total} checkpointsNeedingDecision unavailableReason} \
    delivery{status email attempts lastError sentAt nextAttemptAt}}}}}";

async fn reports(c: &Client, filter: Value) -> Vec<Value> {
    let d = c
        .data(REPORTS, json!({"f": filter}))
        .await
        .expect("weeklyReports");
    d["weeklyReports"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn of<'a>(list: &'a [Value], username: &str) -> &'a Value {
    list.iter()
        .find(|r| r["recipient"]["username"] == username)
        .unwrap_or_else(|| panic!("no report for {username} in {list:?}"))
}

async fn get(server: &Server, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", server.base_url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("GET");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

e2e!(
    each_manager_gets_only_their_regions,
    |server: Server, w: World| async move {
        let boss_n = manager(&w, "boss.north", &w.north.region).await;
        let boss_s = manager(&w, "boss.south", &w.south.region).await;
        let (north_signal, south_signal) = business(&server, &w).await;
        let mail = SmtpServer::start().await;
        let app = with_smtp(&server, smtp_to(mail.addr.port()));

        let (week, run, round) = salesguard_worker::report::weekly_now(&app, Some(today()))
            .await
            .expect("weekly run");
        // supervisor.north, supervisor.south, management, boss.north, boss.south
        assert_eq!(run.built.len(), 5, "{run:?}");
        assert!(run.failed.is_empty(), "{run:?}");
        assert_eq!(
            round.sent, 2,
            "only the bosses have an e-mail address: {round:?}"
        );

        let got = mail.received();
        assert_eq!(got.len(), 2);
        for (who, mine, theirs, mine_signal, their_signal) in [
            ("boss.north", "North", "South", north_signal, south_signal),
            ("boss.south", "South", "North", south_signal, north_signal),
        ] {
            let addr = format!("{who}@example.com");
            let m = got
                .iter()
                .find(|m| m.to == vec![addr.clone()])
                .unwrap_or_else(|| panic!("nothing for {addr}"));
            assert_eq!(m.from, "risk@salesguard.test");
            let msg = MessageParser::default()
                .parse(&m.data)
                .expect("a MIME message");
            let subject = msg.subject().unwrap_or_default().to_owned();
            assert!(subject.contains("每周风险报告"), "{subject}");
            assert!(subject.contains(&week.start.to_string()), "{subject}");
            assert!(
                subject.contains(mine) && !subject.contains(theirs),
                "{subject}"
            );
            assert_eq!(
                msg.to().and_then(|a| a.first()).and_then(|a| a.address()),
                Some(addr.as_str())
            );
            let html = msg.body_html(0).expect("an HTML body").into_owned();
            let (my_agent, their_agent) = if mine == "North" {
                ("AG-N", "AG-S")
            } else {
                ("AG-S", "AG-N")
            };
            assert!(html.contains(my_agent), "{who}: own agent missing");
            assert!(
                !html.contains(their_agent),
                "{who}: the other region's agent leaked"
            );
            assert!(
                !html.contains(&format!("{theirs} (")),
                "{who}: the other region leaked"
            );
            // The CSV of the open signals: this region's only.
            let csv = msg
                .attachments()
                .find(|p| p.attachment_name().is_some_and(|n| n.ends_with(".csv")))
                .expect("a CSV attachment");
            let text = String::from_utf8_lossy(csv.contents())
                .trim_start_matches('\u{feff}')
                .to_owned();
            let rows: Vec<&str> = text.lines().collect();
            assert_eq!(rows.len(), 2, "header and one open signal: {text}");
            assert!(rows[0].starts_with("id,severity,kind"));
            assert!(rows[1].starts_with(&format!("{mine_signal},")), "{text}");
            assert!(!text.contains(&format!("\n{their_signal},")), "{text}");
        }

        // The same run again writes and sends nothing more.
        let (_, again, round) = salesguard_worker::report::weekly_now(&app, Some(today()))
            .await
            .expect("second run");
        assert!(again.built.is_empty() && again.existing == 5, "{again:?}");
        assert_eq!(round.sent, 0);
        assert_eq!(mail.received().len(), 2);

        // Listed through the API: by the recipient and whoever sees all its regions.
        let north_list = reports(&boss_n, json!(null)).await;
        let names: Vec<&str> = north_list
            .iter()
            .filter_map(|r| r["recipient"]["username"].as_str())
            .collect();
        assert_eq!(north_list.len(), 2, "{names:?}");
        assert!(names.contains(&"boss.north") && names.contains(&"supervisor.north"));
        let mine = of(&north_list, "boss.north");
        assert_eq!(mine["delivery"]["status"], "SENT");
        assert_eq!(mine["delivery"]["attempts"], 1);
        assert_eq!(mine["weekStart"], week.start.to_string());
        assert_eq!(mine["language"], "ZH_CN");
        assert_eq!(mine["figures"]["openSignals"]["warning"], 1);
        assert_eq!(mine["figures"]["openSignals"]["critical"], 0);
        let codes: Vec<&str> = mine["regions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["code"].as_str())
            .collect();
        assert_eq!(codes, vec!["NORTH", "NORTH-EAST"]);
        let south_list = reports(&boss_s, json!(null)).await;
        assert_eq!(south_list.len(), 2);
        assert_eq!(
            of(&south_list, "boss.south")["figures"]["openSignals"]["critical"],
            1
        );
        // The analyst of the north sees the north's; management sees all five,
        // the company-wide one without an address is FAILED, not lost.
        assert_eq!(reports(&w.analyst_north, json!(null)).await.len(), 2);
        let all = reports(&w.management, json!(null)).await;
        assert_eq!(all.len(), 5);
        let company = of(&all, "manager");
        assert_eq!(company["allRegions"], true);
        assert_eq!(company["delivery"]["status"], "FAILED");
        assert!(company["delivery"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("e-mail")));
        assert_eq!(
            reports(&boss_n, json!({"deliveryStatus": ["FAILED"]}))
                .await
                .len(),
            1
        );
        assert!(reports(&boss_s, json!(null))
            .await
            .iter()
            .all(|r| r["recipient"]["username"] != "manager"));

        // Downloads: the recipient yes, the other region's manager no, nobody
        // without a token.
        let south_report = of(&all, "boss.south");
        let html_url = south_report["htmlUrl"].as_str().expect("url");
        let csv_url = south_report["signalsCsvUrl"].as_str().expect("url");
        let tok = |c: &Client| c.token.clone().expect("token");
        let (st, body) = get(&server, html_url, Some(&tok(&boss_s))).await;
        assert_eq!(st, 200);
        assert!(body.contains("AG-S") && !body.contains("AG-N"));
        let (st, body) = get(&server, csv_url, Some(&tok(&boss_s))).await;
        assert_eq!(st, 200);
        assert!(body.contains(&format!("\n{south_signal},")));
        assert_eq!(get(&server, html_url, Some(&tok(&boss_n))).await.0, 404);
        assert_eq!(
            get(&server, csv_url, Some(&tok(&w.north.sales))).await.0,
            404
        );
        assert_eq!(get(&server, html_url, None).await.0, 401);
        assert_eq!(
            get(&server, html_url, Some(&tok(&w.management))).await.0,
            200
        );
        // node(id:) keeps the same rule.
        let q = "query($id:ID!){node(id:$id){... on WeeklyReport{subject}}}";
        let id = south_report["id"].clone();
        assert!(boss_s.data(q, json!({"id": id})).await.is_ok());
        let refused = boss_n.raw(q, json!({"id": id})).await.expect("raw");
        assert_eq!(refused["errors"][0]["extensions"]["code"], "NOT_FOUND");
    }
);

e2e!(
    a_failed_delivery_is_kept_and_retried,
    |server: Server, w: World| async move {
        let boss_n = manager(&w, "boss.north", &w.north.region).await;
        // A server that is down: a port nobody listens on.
        let down = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let app = with_smtp(&server, smtp_to(down));
        let (_, run, round) = salesguard_worker::report::weekly_now(&app, Some(today()))
            .await
            .expect("weekly run");
        assert_eq!(run.built.len(), 4, "{run:?}");
        assert_eq!(round.retrying, 1, "{round:?}");
        let mine = reports(&boss_n, json!({"recipientId": boss_n.data("{viewer{id}}", json!({})).await.expect("viewer")["viewer"]["id"]})).await;
        assert_eq!(mine.len(), 1);
        let d = &mine[0]["delivery"];
        assert_eq!(d["status"], "RETRYING", "{d}");
        assert_eq!(d["attempts"], 1);
        assert!(
            d["lastError"].as_str().is_some_and(|e| !e.is_empty()),
            "{d}"
        );
        assert!(d["nextAttemptAt"].is_string());

        // Next: a server that refuses the mail.
        let mail = SmtpServer::start().await;
        mail.refuse(true);
        let app = with_smtp(&server, smtp_to(mail.addr.port()));
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let round = salesguard_worker::report::deliver_due(&app)
            .await
            .expect("round");
        assert_eq!(round.retrying, 1, "{round:?}");
        assert!(mail.received().is_empty());
        let d = &reports(&boss_n, json!({"deliveryStatus": ["RETRYING"]})).await[0]["delivery"];
        assert_eq!(d["attempts"], 2);
        assert!(
            d["lastError"].as_str().is_some_and(|e| e.contains("554")),
            "{d}"
        );
        // Not due yet (backoff 2 s after the second failure): nothing is tried.
        mail.refuse(false);
        assert_eq!(
            salesguard_worker::report::deliver_due(&app)
                .await
                .expect("round")
                .sent,
            0
        );
        // Then it goes through, once.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let round = salesguard_worker::report::deliver_due(&app)
            .await
            .expect("round");
        assert_eq!(round.sent, 1, "{round:?}");
        assert_eq!(mail.received().len(), 1);
        assert_eq!(
            mail.received()[0].to,
            vec!["boss.north@example.com".to_owned()]
        );
        let d = &reports(&boss_n, json!({"deliveryStatus": ["SENT"]})).await[0]["delivery"];
        assert_eq!(d["attempts"], 3);
        assert!(d["sentAt"].is_string() && d["lastError"].is_null(), "{d}");
        assert_eq!(
            salesguard_worker::report::deliver_due(&app)
                .await
                .expect("round")
                .sent,
            0
        );
    }
);

e2e!(
    report_figures_are_the_regions_own,
    |server: Server, w: World| async move {
        // Needs the metrics engine (api/src/metrics): the headline figures and
        // the charts come from it.
        let boss_n = manager(&w, "boss.north", &w.north.region).await;
        let boss_s = manager(&w, "boss.south", &w.south.region).await;
        business(&server, &w).await;
        let mail = SmtpServer::start().await;
        let app = with_smtp(&server, smtp_to(mail.addr.port()));
        salesguard_worker::report::weekly_now(&app, Some(today()))
            .await
            .expect("weekly run");
        let n = &reports(&boss_n, json!(null)).await;
        let n = of(n, "boss.north");
        assert!(
            n["figures"]["unavailableReason"].is_null(),
            "{}",
            n["figures"]
        );
        assert_eq!(n["figures"]["sales"], "10000.00");
        assert_eq!(n["figures"]["ar"], "0.00");
        let s = &reports(&boss_s, json!(null)).await;
        let s = of(s, "boss.south");
        assert_eq!(s["figures"]["sales"], "15000.00");
        assert_eq!(s["figures"]["ar"], "15000.00");
        // The charts are inline images of the e-mail.
        let got = mail.received();
        let m = got
            .iter()
            .find(|m| m.to == vec!["boss.south@example.com".to_owned()])
            .expect("mail");
        let msg = MessageParser::default().parse(&m.data).expect("MIME");
        let images = msg
            .parts
            .iter()
            .filter(|p| p.content_type().is_some_and(|c| c.ctype() == "image"))
            .count();
        assert_eq!(images, 3);
    }
);
