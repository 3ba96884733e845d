//! The risk signals through the API: the `riskSignals` connection (filters,
//! sorting, paging, region scoping, also through `node(id:)`), evidence that
//! resolves to orders, the `riskOverview` dashboard (counts, worst signals,
//! trend) and the `riskSignalRaised` subscription. The signal rows are
//! written directly, as the worker would.
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::{SinkExt, StreamExt};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use salesguard_entities::model::{risk_signal, risk_signal_change};
use salesguard_testkit::{Client, Server, World};

/// The database id of a node ID.
pub(crate) fn db_id(global: &str) -> i64 {
    salesguard_api::graphql::ids::parse(global)
        .map(|(_, n)| n)
        .expect("a global id")
}

fn gid(n: i64) -> String {
    salesguard_api::graphql::ids::encode("RiskSignal", n).0
}

fn code(resp: &Value) -> Option<&str> {
    resp["errors"][0]["extensions"]["code"].as_str()
}

/// A signal row as the worker writes it.
struct Sig {
    kind: &'static str,
    subject: &'static str,
    severity: &'static str,
    value: f64,
    region: Option<i64>,
    agent: Option<i64>,
    raised_at: DateTime<Utc>,
    cleared_at: Option<DateTime<Utc>>,
    period: (&'static str, &'static str),
    evidence: Value,
}

impl Sig {
    fn new(
        kind: &'static str,
        severity: &'static str,
        value: f64,
        raised_at: DateTime<Utc>,
    ) -> Sig {
        Sig {
            kind,
            subject: "AGENT",
            severity,
            value,
            region: None,
            agent: None,
            raised_at,
            cleared_at: None,
            period: ("2026-11-01", "2026-11-30"),
            evidence: json!({"metrics": {}, "documents": [], "more": 0}),
        }
    }
}

async fn insert(s: &Server, sig: Sig) -> i64 {
    let date = |d: &str| d.parse::<NaiveDate>().expect("date");
    let n = ulid_like();
    risk_signal::ActiveModel {
        fingerprint: Set(format!("{}|test|{n}", sig.kind)),
        kind: Set(sig.kind.into()),
        rule: Set("TEST_RULE".into()),
        subject_type: Set(sig.subject.into()),
        subject_id: Set(sig.agent.or(sig.region)),
        subject_label: Set(format!("subject {n}")),
        region_id: Set(sig.region),
        agent_id: Set(sig.agent),
        salesperson_id: Set(None),
        product_id: Set(None),
        period_start: Set(date(sig.period.0)),
        period_end: Set(date(sig.period.1)),
        severity: Set(sig.severity.into()),
        peak_severity: Set(sig.severity.into()),
        value: Set(sig.value),
        threshold: Set(1.0),
        unit: Set("RATIO".into()),
        formula: Set("a / b".into()),
        summary: Set(format!("{} {} {}", sig.kind, sig.severity, sig.value)),
        evidence: Set(sig.evidence.to_string()),
        raised_at: Set(sig.raised_at),
        updated_at: Set(sig.raised_at),
        cleared_at: Set(sig.cleared_at),
        run_id: Set(None),
        ..Default::default()
    }
    .insert(&s.app.db.write)
    .await
    .expect("insert signal")
    .id
}

fn ulid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn change(s: &Server, signal: i64, change: &str, severity: &str, at: DateTime<Utc>) {
    risk_signal_change::ActiveModel {
        signal_id: Set(signal),
        change: Set(change.into()),
        severity: Set(severity.into()),
        value: Set(1.0),
        at: Set(at),
        run_id: Set(None),
        ..Default::default()
    }
    .insert(&s.app.db.write)
    .await
    .expect("insert change");
}

fn now() -> DateTime<Utc> {
    salesguard_domain::clock::now()
}

const LIST: &str = "query($f:RiskSignalFilter,$o:RiskSignalOrder,$n:Int,$a:String){riskSignals(first:$n,after:$a,filter:$f,orderBy:$o){totalCount pageInfo{hasNextPage endCursor} edges{node{id}}}}";

/// The ids (database) of the signals listed, in order, and the total.
async fn list(c: &Client, filter: Value, order: Value) -> (Vec<i64>, i64) {
    let d = c
        .data(LIST, json!({"f": filter, "o": order, "n": 50}))
        .await
        .expect("riskSignals");
    let ids = d["riskSignals"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| db_id(e["node"]["id"].as_str().expect("id")))
        .collect();
    (ids, d["riskSignals"]["totalCount"].as_i64().expect("total"))
}

async fn ids(c: &Client, filter: Value) -> Vec<i64> {
    let (mut v, total) = list(c, filter, json!(null)).await;
    assert_eq!(v.len() as i64, total);
    v.sort_unstable();
    v
}

e2e!(
    risk_signals_are_filtered_sorted_paged_and_scoped,
    |s: Server, w: World| async move {
        let (north, south, ne) = (
            db_id(&w.north.region),
            db_id(&w.south.region),
            db_id(&w.north_east),
        );
        let (agent_n, agent_s) = (db_id(&w.north.agent), db_id(&w.south.agent));
        let order_n = w
            .file_order(&w.north, 2, "100.00")
            .await
            .expect("north order");
        let order_s = w
            .file_order(&w.south, 1, "100.00")
            .await
            .expect("south order");
        let t = now();
        let a = insert(&s, Sig {
            region: Some(north),
            agent: Some(agent_n),
            period: ("2026-10-01", "2026-10-31"),
            evidence: json!({
                "metrics": {"channel_stock": 120, "weekly_sell_through": 13.5},
                "documents": [
                    {"type": "ORDER", "id": db_id(order_n["id"].as_str().expect("id")), "ref": order_n["number"]},
                    {"type": "SERIAL", "id": null, "ref": "SN-0001"},
                    {"type": "ORDER", "id": db_id(order_s["id"].as_str().expect("id")), "ref": order_s["number"]}
                ],
                "more": 4
            }),
            ..Sig::new("CHANNEL_STOCK", "WARNING", 9.0, t - Duration::days(3))
        })
        .await;
        change(&s, a, "RAISED", "WATCH", t - Duration::days(3)).await;
        change(&s, a, "ESCALATED", "WARNING", t - Duration::days(2)).await;
        let b = insert(
            &s,
            Sig {
                subject: "REGION",
                region: Some(ne),
                ..Sig::new("RECEIVABLES_GROWTH", "CRITICAL", 2.5, t - Duration::days(2))
            },
        )
        .await;
        let c = insert(
            &s,
            Sig {
                region: Some(north),
                agent: Some(agent_n),
                cleared_at: Some(t - Duration::days(1)),
                ..Sig::new("RECEIVABLES_OVERDUE", "WATCH", 40.0, t - Duration::days(10))
            },
        )
        .await;
        let d = insert(
            &s,
            Sig {
                region: Some(south),
                agent: Some(agent_s),
                ..Sig::new("GOODS_DIVERSION", "CRITICAL", 0.3, t - Duration::days(1))
            },
        )
        .await;
        let e = insert(
            &s,
            Sig {
                subject: "COMPANY",
                ..Sig::new("RECEIVABLES_GROWTH", "WARNING", 1.4, t - Duration::days(5))
            },
        )
        .await;

        // Scope: a region's readers see it and its sub-areas; company-wide
        // signals only company-wide readers.
        let all = json!(null);
        assert_eq!(ids(&w.north.sales, all.clone()).await, vec![a, b, c]);
        assert_eq!(ids(&w.analyst_north, all.clone()).await, vec![a, b, c]);
        assert_eq!(ids(&w.south.sales, all.clone()).await, vec![d]);
        assert_eq!(ids(&w.management, all.clone()).await, vec![a, b, c, d, e]);
        // Asking for another region does not widen the scope.
        assert_eq!(
            ids(&w.north.sales, json!({"regionId": w.south.region})).await,
            Vec::<i64>::new()
        );

        // Filters.
        let m = &w.management;
        assert_eq!(
            ids(m, json!({"kinds": ["RECEIVABLES_GROWTH"]})).await,
            vec![b, e]
        );
        assert_eq!(
            ids(m, json!({"minSeverity": "WARNING"})).await,
            vec![a, b, d, e]
        );
        assert_eq!(
            ids(m, json!({"severities": ["WATCH", "CRITICAL"]})).await,
            vec![b, c, d]
        );
        assert_eq!(ids(m, json!({"open": false})).await, vec![c]);
        assert_eq!(ids(m, json!({"open": true})).await, vec![a, b, d, e]);
        assert_eq!(
            ids(m, json!({"regionId": w.north.region})).await,
            vec![a, b, c]
        );
        assert_eq!(ids(m, json!({"regionId": w.north_east})).await, vec![b]);
        assert_eq!(ids(m, json!({"agentId": w.north.agent})).await, vec![a, c]);
        assert_eq!(ids(m, json!({"subjectType": "COMPANY"})).await, vec![e]);
        let ts = |d: DateTime<Utc>| d.to_rfc3339();
        assert_eq!(
            ids(m, json!({"raisedFrom": ts(t - Duration::days(4))})).await,
            vec![a, b, d]
        );
        assert_eq!(
            ids(m, json!({"raisedTo": ts(t - Duration::days(4))})).await,
            vec![c, e]
        );
        assert_eq!(ids(m, json!({"periodTo": "2026-10-15"})).await, vec![a]);
        assert_eq!(
            ids(m, json!({"periodFrom": "2026-11-15"})).await,
            vec![b, c, d, e]
        );
        assert_eq!(
            ids(m, json!({"kinds": ["RECEIVABLES_GROWTH", "CHANNEL_STOCK"], "open": true, "minSeverity": "CRITICAL"})).await,
            vec![b]
        );
        let r = m
            .raw(LIST, json!({"f": {"agentId": w.north.region}}))
            .await
            .expect("raw");
        assert_eq!(code(&r), Some("BAD_USER_INPUT"), "{r}");

        // Sorting.
        let order = |field: &str, dir: &str| json!({"field": field, "direction": dir});
        assert_eq!(
            list(m, all.clone(), json!(null)).await.0,
            vec![d, b, a, e, c]
        );
        assert_eq!(
            list(m, all.clone(), order("SEVERITY", "DESC")).await.0,
            vec![b, d, a, e, c]
        );
        assert_eq!(
            list(m, all.clone(), order("SEVERITY", "ASC")).await.0,
            vec![c, e, a, d, b]
        );
        assert_eq!(
            list(m, all.clone(), order("VALUE", "DESC")).await.0,
            vec![c, a, b, e, d]
        );
        assert_eq!(
            list(m, all.clone(), order("RAISED_AT", "ASC")).await.0,
            vec![c, e, a, b, d]
        );

        // Paging.
        let p1 = m
            .data(LIST, json!({"o": order("SEVERITY", "DESC"), "n": 2}))
            .await
            .expect("page 1");
        assert_eq!(p1["riskSignals"]["pageInfo"]["hasNextPage"], true);
        assert_eq!(p1["riskSignals"]["totalCount"], 5);
        let p2 = m
            .data(LIST, json!({"o": order("SEVERITY", "DESC"), "n": 2, "a": p1["riskSignals"]["pageInfo"]["endCursor"]}))
            .await
            .expect("page 2");
        let page2: Vec<i64> = p2["riskSignals"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| db_id(e["node"]["id"].as_str().expect("id")))
            .collect();
        assert_eq!(page2, vec![a, e]);

        // node(id:) is scoped the same way.
        let node = "query($id:ID!){node(id:$id){id ... on RiskSignal{kind severity}}}";
        let r = w
            .north
            .sales
            .raw(node, json!({"id": gid(d)}))
            .await
            .expect("raw");
        assert_eq!(code(&r), Some("NOT_FOUND"), "{r}");
        let r = w
            .south
            .sales
            .data(node, json!({"id": gid(d)}))
            .await
            .expect("node");
        assert_eq!(r["node"]["kind"], "GOODS_DIVERSION");
        let r = w
            .analyst_north
            .raw(node, json!({"id": gid(e)}))
            .await
            .expect("raw");
        assert_eq!(code(&r), Some("NOT_FOUND"), "{r}");
        let r = m.data(node, json!({"id": gid(e)})).await.expect("node");
        assert_eq!(r["node"]["severity"], "WARNING");

        // The signal's fields, evidence resolving to the order (in the
        // reader's regions only) and its history.
        let q = "query($id:ID!){node(id:$id){... on RiskSignal{id kind rule severity peakSeverity subjectType subjectLabel \
                 region{code} agent{code} product{sku} periodStart periodEnd value threshold unit formula summary \
                 metrics{name value} evidence{type ref document{__typename ... on SalesOrder{number status}}} evidenceMore \
                 raisedAt clearedAt open history{change severity at}}}}";
        let n = w
            .north
            .sales
            .data(q, json!({"id": gid(a)}))
            .await
            .expect("signal")["node"]
            .clone();
        assert_eq!(n["kind"], "CHANNEL_STOCK");
        assert_eq!(n["subjectType"], "AGENT");
        assert_eq!(n["region"]["code"], "NORTH");
        assert_eq!(n["agent"]["code"], "AG-N");
        assert_eq!(n["product"], Value::Null);
        assert_eq!(n["periodStart"], "2026-10-01");
        assert_eq!(n["value"], 9.0);
        assert_eq!(n["open"], true);
        assert_eq!(n["clearedAt"], Value::Null);
        assert_eq!(
            n["metrics"],
            json!([{"name": "channel_stock", "value": 120.0}, {"name": "weekly_sell_through", "value": 13.5}])
        );
        assert_eq!(n["evidence"][0]["type"], "ORDER");
        assert_eq!(n["evidence"][0]["document"]["__typename"], "SalesOrder");
        assert_eq!(n["evidence"][0]["document"]["number"], order_n["number"]);
        assert_eq!(
            n["evidence"][1],
            json!({"type": "SERIAL", "ref": "SN-0001", "document": null})
        );
        // An order of another region is named but not shown.
        assert_eq!(n["evidence"][2]["ref"], order_s["number"]);
        assert_eq!(n["evidence"][2]["document"], Value::Null);
        assert_eq!(n["evidenceMore"], 4);
        let hist: Vec<(&str, &str)> = n["history"]
            .as_array()
            .expect("history")
            .iter()
            .map(|h| {
                (
                    h["change"].as_str().unwrap_or(""),
                    h["severity"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(hist, vec![("RAISED", "WATCH"), ("ESCALATED", "WARNING")]);
        // A company-wide reader sees the other region's order too.
        let n = m.data(q, json!({"id": gid(a)})).await.expect("signal")["node"].clone();
        assert_eq!(n["evidence"][2]["document"]["number"], order_s["number"]);
        let n = m.data(q, json!({"id": gid(c)})).await.expect("signal")["node"].clone();
        assert_eq!(n["open"], false);
        assert!(n["clearedAt"].is_string());
    }
);

const OVERVIEW: &str = "query($r:ID,$a:ID){riskOverview(regionId:$r,agentId:$a,periods:4,periodUnit:WEEK){asOf periodUnit \
    total{...S} regions{region{code} ...S} agents{agent{code} ...S}}} \
    fragment S on RiskSummary{open{watch warning critical total} byKind{kind watch warning critical total} \
    worst{id} trend{start end at watch warning critical total}}";

/// A trend or count as `[watch, warning, critical]`.
fn wwc(v: &Value) -> [i64; 3] {
    [
        v["watch"].as_i64().expect("watch"),
        v["warning"].as_i64().expect("warning"),
        v["critical"].as_i64().expect("critical"),
    ]
}

fn trend(summary: &Value) -> Vec<[i64; 3]> {
    summary["trend"]
        .as_array()
        .expect("trend")
        .iter()
        .map(wwc)
        .collect()
}

fn worst(summary: &Value) -> Vec<i64> {
    summary["worst"]
        .as_array()
        .expect("worst")
        .iter()
        .map(|s| db_id(s["id"].as_str().expect("id")))
        .collect()
}

fn codes(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|x| x[key]["code"].as_str().unwrap_or("").to_owned())
        .collect()
}

e2e!(
    risk_overview_counts_open_signals_worst_and_trend,
    |s: Server, w: World| async move {
        let (north, south, ne) = (
            db_id(&w.north.region),
            db_id(&w.south.region),
            db_id(&w.north_east),
        );
        let (agent_n, agent_s) = (db_id(&w.north.agent), db_id(&w.south.agent));
        // The periods: the last 4 weeks (Monday to Sunday, Asia/Shanghai),
        // each counted at its end, the current one now.
        let d = w
            .management
            .data(OVERVIEW, json!({}))
            .await
            .expect("overview");
        let o = &d["riskOverview"];
        assert_eq!(o["periodUnit"], "WEEK");
        assert_eq!(wwc(&o["total"]["open"]), [0, 0, 0]);
        let at: Vec<DateTime<Utc>> = o["total"]["trend"]
            .as_array()
            .expect("trend")
            .iter()
            .map(|p| p["at"].as_str().expect("at").parse().expect("time"))
            .collect();
        assert_eq!(at.len(), 4);
        let shanghai = chrono_tz::Asia::Shanghai;
        for i in 0..3 {
            let local = at[i].with_timezone(&shanghai);
            assert_eq!(
                local.format("%a %H:%M:%S").to_string(),
                "Mon 00:00:00",
                "{}",
                at[i]
            );
            if i > 0 {
                assert_eq!(at[i] - at[i - 1], Duration::weeks(1));
            }
        }
        assert!(
            (now() - at[3]).num_seconds().abs() < 60,
            "the current week is counted now"
        );
        assert!(at[3] - at[2] <= Duration::weeks(1));
        let first = &o["total"]["trend"][0];
        assert_eq!(
            first["end"].as_str(),
            Some(
                (at[0].with_timezone(&shanghai).date_naive() - Duration::days(1))
                    .to_string()
                    .as_str()
            )
        );
        let (t0, t1, t2) = (at[0], at[1], at[2]);
        let h = Duration::hours(1);

        // S1: north, agent N: WATCH before t0, CRITICAL between t1 and t2.
        let s1 = insert(
            &s,
            Sig {
                region: Some(north),
                agent: Some(agent_n),
                ..Sig::new("CHANNEL_STOCK", "CRITICAL", 20.0, t0 - h)
            },
        )
        .await;
        change(&s, s1, "RAISED", "WATCH", t0 - h).await;
        change(&s, s1, "ESCALATED", "CRITICAL", t1 + h).await;
        // S2: north, no agent: WARNING from before t1, cleared exactly at t2.
        let s2 = insert(
            &s,
            Sig {
                subject: "REGION",
                region: Some(north),
                cleared_at: Some(t2),
                ..Sig::new("RECEIVABLES_GROWTH", "WARNING", 1.5, t1 - h)
            },
        )
        .await;
        change(&s, s2, "RAISED", "WARNING", t1 - h).await;
        change(&s, s2, "CLEARED", "WARNING", t2).await;
        // S3: the north-east sub-area, WARNING from before t2 (no history:
        // its current severity counts).
        let s3 = insert(
            &s,
            Sig {
                subject: "REGION",
                region: Some(ne),
                ..Sig::new("PRICE_INVERSION", "WARNING", 0.8, t2 - h)
            },
        )
        .await;
        // S4: south, agent S, CRITICAL since before t0.
        let s4 = insert(
            &s,
            Sig {
                region: Some(south),
                agent: Some(agent_s),
                ..Sig::new("GOODS_DIVERSION", "CRITICAL", 0.5, t0 - h - h)
            },
        )
        .await;
        // S5: company-wide WARNING since before t0.
        let s5 = insert(
            &s,
            Sig {
                subject: "COMPANY",
                ..Sig::new("RECEIVABLES_GROWTH", "WARNING", 1.4, t0 - h)
            },
        )
        .await;
        // S6: north, agent N, WATCH raised exactly at t2 (counted at t2).
        let s6 = insert(
            &s,
            Sig {
                region: Some(north),
                agent: Some(agent_n),
                ..Sig::new("RECEIVABLES_OVERDUE", "WATCH", 45.0, t2)
            },
        )
        .await;
        // Cleared before the trend: counted nowhere.
        insert(
            &s,
            Sig {
                region: Some(north),
                cleared_at: Some(t0 - h),
                ..Sig::new("CHANNEL_STOCK", "CRITICAL", 99.0, t0 - Duration::weeks(3))
            },
        )
        .await;

        // The north salesperson: NORTH with NORTH-EAST.
        let d = w
            .north
            .sales
            .data(OVERVIEW, json!({}))
            .await
            .expect("overview");
        let o = &d["riskOverview"];
        let total = &o["total"];
        assert_eq!(wwc(&total["open"]), [1, 1, 1]);
        assert_eq!(total["open"]["total"], 3);
        let by_kind: Vec<(String, [i64; 3])> = total["byKind"]
            .as_array()
            .expect("byKind")
            .iter()
            .map(|k| (k["kind"].as_str().unwrap_or("").to_owned(), wwc(k)))
            .collect();
        assert_eq!(by_kind.len(), 7, "every kind, also those with none open");
        let kind = |k: &str| by_kind.iter().find(|x| x.0 == k).map(|x| x.1);
        assert_eq!(kind("CHANNEL_STOCK"), Some([0, 0, 1]));
        assert_eq!(kind("PRICE_INVERSION"), Some([0, 1, 0]));
        assert_eq!(kind("RECEIVABLES_OVERDUE"), Some([1, 0, 0]));
        assert_eq!(kind("RECEIVABLES_GROWTH"), Some([0, 0, 0]));
        assert_eq!(worst(total), vec![s1, s3, s6]);
        assert_eq!(
            trend(total),
            vec![[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]]
        );
        assert_eq!(codes(&o["regions"], "region"), vec!["NORTH", "NORTH-EAST"]);
        assert_eq!(
            trend(&o["regions"][0]),
            trend(total),
            "NORTH includes its sub-area"
        );
        assert_eq!(wwc(&o["regions"][1]["open"]), [0, 1, 0]);
        assert_eq!(
            trend(&o["regions"][1]),
            vec![[0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 1, 0]]
        );
        assert_eq!(codes(&o["agents"], "agent"), vec!["AG-N"]);
        assert_eq!(wwc(&o["agents"][0]["open"]), [1, 0, 1]);
        assert_eq!(worst(&o["agents"][0]), vec![s1, s6]);
        assert_eq!(
            trend(&o["agents"][0]),
            vec![[1, 0, 0], [1, 0, 0], [1, 0, 1], [1, 0, 1]]
        );

        // The south salesperson sees only the south.
        let d = w
            .south
            .sales
            .data(OVERVIEW, json!({}))
            .await
            .expect("overview");
        let o = &d["riskOverview"];
        assert_eq!(worst(&o["total"]), vec![s4]);
        assert_eq!(trend(&o["total"]), vec![[0, 0, 1]; 4]);
        assert_eq!(codes(&o["regions"], "region"), vec!["SOUTH"]);
        assert_eq!(codes(&o["agents"], "agent"), vec!["AG-S"]);
        let r = w
            .south
            .sales
            .raw(OVERVIEW, json!({"r": w.north.region}))
            .await
            .expect("raw");
        assert_eq!(code(&r), Some("NOT_FOUND"), "{r}");
        let r = w
            .south
            .sales
            .raw(OVERVIEW, json!({"a": w.north.agent}))
            .await
            .expect("raw");
        assert_eq!(code(&r), Some("NOT_FOUND"), "{r}");

        // Management: everything, with the company-wide signal.
        let d = w
            .management
            .data(OVERVIEW, json!({}))
            .await
            .expect("overview");
        let o = &d["riskOverview"];
        assert_eq!(wwc(&o["total"]["open"]), [1, 2, 2]);
        assert_eq!(worst(&o["total"]), vec![s1, s4, s5, s3, s6]);
        assert_eq!(
            trend(&o["total"]),
            vec![[1, 1, 1], [1, 2, 1], [1, 2, 2], [1, 2, 2]]
        );
        assert_eq!(
            codes(&o["regions"], "region"),
            vec!["NORTH", "NORTH-EAST", "SOUTH"]
        );
        assert_eq!(codes(&o["agents"], "agent"), vec!["AG-N", "AG-S"]);

        // Only one region, or one agent.
        let d = w
            .management
            .data(OVERVIEW, json!({"r": w.north_east}))
            .await
            .expect("overview");
        let o = &d["riskOverview"];
        assert_eq!(worst(&o["total"]), vec![s3]);
        assert_eq!(codes(&o["regions"], "region"), vec!["NORTH-EAST"]);
        assert_eq!(o["agents"], json!([]));
        let d = w
            .management
            .data(OVERVIEW, json!({"a": w.north.agent}))
            .await
            .expect("overview");
        let o = &d["riskOverview"];
        assert_eq!(worst(&o["total"]), vec![s1, s6]);
        assert_eq!(o["regions"], json!([]));
        assert_eq!(codes(&o["agents"], "agent"), vec!["AG-N"]);
        let _ = s2;
    }
);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(s: &Server, who: &Client, query: &str) -> Ws {
    let mut req = format!("ws://{}/graphql/ws", s.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connect");
    let token = who.token.clone().unwrap_or_default();
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
        json!({"id":"1","type":"subscribe","payload":{"query": query}})
            .to_string()
            .into(),
    ))
    .await
    .expect("subscribe");
    ws
}

/// The next pushed `riskSignalRaised`, or None within `wait`.
async fn next_event(ws: &mut Ws, wait: StdDuration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()??
            .ok()?;
        let Ok(text) = msg.to_text() else { continue };
        let v: Value = serde_json::from_str(text).ok()?;
        match v["type"].as_str() {
            Some("next") => return Some(v["payload"]["data"]["riskSignalRaised"].clone()),
            Some("ping") => {
                let _ = ws
                    .send(Message::Text(json!({"type": "pong"}).to_string().into()))
                    .await;
            }
            _ => panic!("unexpected message {v}"),
        }
    }
}

e2e!(
    raised_signals_are_pushed_to_readers_of_their_region,
    |s: Server, w: World| async move {
        let (north, south) = (db_id(&w.north.region), db_id(&w.south.region));
        let q = "subscription{riskSignalRaised{change severity at signal{id kind severity region{code}}}}";
        let mut north_ws = subscribe(&s, &w.north.sales, q).await;
        let mut south_ws = subscribe(&s, &w.south.sales, q).await;
        let mut critical_only = subscribe(
            &s,
            &w.analyst_north,
            "subscription{riskSignalRaised(minSeverity:CRITICAL){change severity signal{id}}}",
        )
        .await;
        tokio::time::sleep(StdDuration::from_millis(300)).await;

        // A WATCH (below the default minimum), then a WARNING, in the north.
        let t = now();
        let watch = insert(
            &s,
            Sig {
                region: Some(north),
                ..Sig::new("CHANNEL_STOCK", "WATCH", 7.0, t)
            },
        )
        .await;
        change(&s, watch, "RAISED", "WATCH", t).await;
        let warning = insert(
            &s,
            Sig {
                region: Some(north),
                ..Sig::new("RECEIVABLES_OVERDUE", "WARNING", 70.0, t)
            },
        )
        .await;
        change(&s, warning, "RAISED", "WARNING", t).await;

        let e = next_event(&mut north_ws, StdDuration::from_secs(10))
            .await
            .expect("the north salesperson gets the WARNING");
        assert_eq!(e["change"], "RAISED");
        assert_eq!(e["severity"], "WARNING");
        assert_eq!(e["signal"]["id"], gid(warning));
        assert_eq!(e["signal"]["region"]["code"], "NORTH");

        // The WATCH signal escalates to CRITICAL.
        let t = now();
        change(&s, watch, "ESCALATED", "CRITICAL", t).await;
        let e = next_event(&mut north_ws, StdDuration::from_secs(10))
            .await
            .expect("the escalation");
        assert_eq!(e["change"], "ESCALATED");
        assert_eq!(e["severity"], "CRITICAL");
        assert_eq!(e["signal"]["id"], gid(watch));
        // The CRITICAL-only subscriber got the escalation and nothing before.
        let e = next_event(&mut critical_only, StdDuration::from_secs(10))
            .await
            .expect("the escalation to CRITICAL");
        assert_eq!(e["signal"]["id"], gid(watch));

        // A south signal goes to the south only; the south got nothing of
        // the north.
        let t = now();
        let south_sig = insert(
            &s,
            Sig {
                region: Some(south),
                ..Sig::new("GOODS_DIVERSION", "CRITICAL", 0.4, t)
            },
        )
        .await;
        change(&s, south_sig, "RAISED", "CRITICAL", t).await;
        let e = next_event(&mut south_ws, StdDuration::from_secs(10))
            .await
            .expect("the south salesperson gets the south signal");
        assert_eq!(e["signal"]["id"], gid(south_sig));
        assert_eq!(e["signal"]["region"]["code"], "SOUTH");
        assert!(
            next_event(&mut north_ws, StdDuration::from_millis(2500))
                .await
                .is_none(),
            "the north must not get the south's signal"
        );
        assert!(
            next_event(&mut critical_only, StdDuration::from_millis(500))
                .await
                .is_none()
        );
    }
);
