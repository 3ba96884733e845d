//! What each dataset exports: its columns, their kinds, and the SQL that
//! reads them under the request's filters and the reader's scope.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::DbBackend;

use super::*;

/// How a selected SQL column is read and written.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Float,
    /// A calendar date column.
    Date,
    /// A UTC timestamp column, written as its business day.
    BizDate,
    /// A UTC timestamp column, written as an instant.
    Ts,
    /// Integer fen, written as two columns: `name` (yuan) and `name_fen`.
    Money,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Out {
    Int,
    Text,
    Float,
    Date,
    Ts,
    Money,
}

impl Kind {
    pub(crate) fn out(self) -> Out {
        match self {
            Kind::Int => Out::Int,
            Kind::Text => Out::Text,
            Kind::Float => Out::Float,
            Kind::Date | Kind::BizDate => Out::Date,
            Kind::Ts => Out::Ts,
            Kind::Money => Out::Money,
        }
    }
}

/// One query of a dataset; its columns are read with `kinds`.
#[derive(Clone, Debug)]
pub struct Part {
    pub sql: String,
    pub kinds: Vec<Kind>,
}

/// A dataset's columns and the queries that produce its rows, in order.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Column names as selected (a money column adds `<name>_fen` on output).
    pub names: Vec<&'static str>,
    pub parts: Vec<Part>,
}

impl Spec {
    /// The output column names, in order.
    pub fn header(&self) -> Vec<String> {
        let kinds = self
            .parts
            .first()
            .map(|p| p.kinds.as_slice())
            .unwrap_or(&[]);
        let mut out = vec![];
        for (n, k) in self.names.iter().zip(kinds) {
            out.push((*n).to_owned());
            if *k == Kind::Money {
                out.push(format!("{n}_fen"));
            }
        }
        out
    }
}

/// The filters of a query, rendered as SQL literals of typed values (no
/// user text reaches the SQL).
pub(crate) struct Filters {
    backend: DbBackend,
    tz: Tz,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    scope: Option<Vec<i64>>,
}

impl Filters {
    fn ts_literal(&self, t: DateTime<Utc>) -> String {
        // SQLite stores timestamps as sqlx writes them (RFC 3339, `+00:00`);
        // text comparison orders them.
        let s = t.to_rfc3339_opts(SecondsFormat::AutoSi, false);
        match self.backend {
            DbBackend::Postgres => format!("TIMESTAMPTZ '{s}'"),
            _ => format!("'{s}'"),
        }
    }

    /// The start of a business day, as a UTC instant.
    fn day_start(&self, d: NaiveDate) -> DateTime<Utc> {
        let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        match self.tz.from_local_datetime(&local).earliest() {
            Some(t) => t.with_timezone(&Utc),
            None => Utc.from_utc_datetime(&local),
        }
    }

    /// `AND` conditions on a timestamp column for the business days.
    fn ts_range(&self, col: &str) -> String {
        let mut s = String::new();
        if let Some(f) = self.from {
            s.push_str(&format!(
                " AND {col} >= {}",
                self.ts_literal(self.day_start(f))
            ));
        }
        if let Some(t) = self.to.and_then(|t| t.succ_opt()) {
            s.push_str(&format!(
                " AND {col} < {}",
                self.ts_literal(self.day_start(t))
            ));
        }
        s
    }

    /// `AND` conditions on a date column.
    fn date_range(&self, col: &str) -> String {
        let mut s = String::new();
        if let Some(f) = self.from {
            s.push_str(&format!(" AND {col} >= '{f}'"));
        }
        if let Some(t) = self.to {
            s.push_str(&format!(" AND {col} <= '{t}'"));
        }
        s
    }

    /// `AND` condition on the region column (regions include sub-areas).
    fn region(&self, col: &str) -> String {
        match &self.scope {
            None => String::new(),
            Some(ids) if ids.is_empty() => " AND 1 = 0".into(),
            Some(ids) => {
                let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
                format!(" AND {col} IN ({})", list.join(", "))
            }
        }
    }
}

/// A typed NULL of both backends.
pub(crate) const NULL_INT: &str = "CAST(NULL AS BIGINT)";
pub(crate) const NULL_TEXT: &str = "CAST(NULL AS TEXT)";

/// The SQL and columns of a dataset for a reader.
pub fn spec(
    dataset: Dataset,
    backend: DbBackend,
    tz: Tz,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    scope: Option<Vec<i64>>,
) -> Spec {
    use Kind::*;
    let f = Filters {
        backend,
        tz,
        from,
        to,
        scope,
    };
    let one = |cols: &[(&'static str, Kind, &str)], from_where: String| -> Spec {
        let sql = format!(
            "SELECT {} {from_where}",
            cols.iter()
                .map(|(_, _, e)| *e)
                .collect::<Vec<_>>()
                .join(", ")
        );
        Spec {
            names: cols.iter().map(|(n, _, _)| *n).collect(),
            parts: vec![Part {
                sql,
                kinds: cols.iter().map(|(_, k, _)| *k).collect(),
            }],
        }
    };
    match dataset {
        Dataset::Orders => one(
            &[
                ("order_id", Int, "o.id"),
                ("order_number", Text, "o.number"),
                ("order_date", BizDate, "o.created_at"),
                ("status", Text, "o.status"),
                ("region_id", Int, "r.id"),
                ("region_code", Text, "r.code"),
                ("region_name", Text, "r.name"),
                ("agent_id", Int, "a.id"),
                ("agent_code", Text, "a.code"),
                ("agent_name", Text, "a.name"),
                ("salesperson_id", Int, "u.id"),
                ("salesperson", Text, "u.username"),
                ("salesperson_name", Text, "u.display_name"),
                (
                    "payment_terms_days",
                    Int,
                    "CAST(o.payment_terms_days AS BIGINT)",
                ),
                ("total", Money, "o.total_fen"),
                ("paid", Money, "o.paid_fen"),
                ("fully_paid_on", BizDate, "o.fully_paid_at"),
                ("shipped_on", BizDate, "s.shipped_at"),
                ("archived_on", BizDate, "o.archived_at"),
                ("created_at", Ts, "o.created_at"),
            ],
            format!(
                "FROM sales_orders o JOIN regions r ON r.id = o.region_id \
                 JOIN agents a ON a.id = o.agent_id JOIN users u ON u.id = o.salesperson_id \
                 LEFT JOIN shipments s ON s.order_id = o.id WHERE 1 = 1{}{} ORDER BY o.id",
                f.ts_range("o.created_at"),
                f.region("o.region_id")
            ),
        ),
        Dataset::OrderLines => one(
            &[
                ("line_id", Int, "l.id"),
                ("order_id", Int, "o.id"),
                ("order_number", Text, "o.number"),
                ("order_date", BizDate, "o.created_at"),
                ("order_status", Text, "o.status"),
                ("line_no", Int, "CAST(l.line_no AS BIGINT)"),
                ("region_id", Int, "r.id"),
                ("region_code", Text, "r.code"),
                ("agent_id", Int, "a.id"),
                ("agent_code", Text, "a.code"),
                ("agent_name", Text, "a.name"),
                ("salesperson_id", Int, "u.id"),
                ("salesperson", Text, "u.username"),
                ("product_id", Int, "p.id"),
                ("product_sku", Text, "p.sku"),
                ("product_name", Text, "p.name"),
                ("quantity", Int, "l.quantity"),
                ("unit_price", Money, "l.unit_price_fen"),
                ("amount", Money, "l.amount_fen"),
            ],
            format!(
                "FROM order_lines l JOIN sales_orders o ON o.id = l.order_id \
                 JOIN regions r ON r.id = o.region_id JOIN agents a ON a.id = o.agent_id \
                 JOIN users u ON u.id = o.salesperson_id JOIN products p ON p.id = l.product_id \
                 WHERE 1 = 1{}{} ORDER BY l.id",
                f.ts_range("o.created_at"),
                f.region("o.region_id")
            ),
        ),
        Dataset::Payments => one(
            &[
                ("payment_id", Int, "pm.id"),
                ("order_id", Int, "o.id"),
                ("order_number", Text, "o.number"),
                ("received_on", Date, "pm.received_on"),
                ("amount", Money, "pm.amount_fen"),
                ("reference", Text, "pm.reference"),
                ("region_id", Int, "r.id"),
                ("region_code", Text, "r.code"),
                ("agent_id", Int, "a.id"),
                ("agent_code", Text, "a.code"),
                ("agent_name", Text, "a.name"),
                ("recorded_by", Text, "ru.username"),
                ("recorded_at", Ts, "pm.created_at"),
            ],
            format!(
                "FROM payments pm JOIN sales_orders o ON o.id = pm.order_id \
                 JOIN regions r ON r.id = o.region_id JOIN agents a ON a.id = o.agent_id \
                 JOIN users ru ON ru.id = pm.recorded_by WHERE 1 = 1{}{} ORDER BY pm.id",
                f.date_range("pm.received_on"),
                f.region("o.region_id")
            ),
        ),
        Dataset::Shipments => one(
            &[
                ("shipment_id", Int, "s.id"),
                ("order_id", Int, "o.id"),
                ("order_number", Text, "o.number"),
                ("notice_number", Text, "n.number"),
                ("shipped_on", BizDate, "s.shipped_at"),
                ("shipped_at", Ts, "s.shipped_at"),
                ("warehouse_code", Text, "w.code"),
                ("carrier", Text, "s.carrier"),
                ("tracking_number", Text, "s.tracking_number"),
                ("delivered_on", BizDate, "s.delivered_at"),
                ("region_id", Int, "r.id"),
                ("region_code", Text, "r.code"),
                ("agent_id", Int, "a.id"),
                ("agent_code", Text, "a.code"),
                ("agent_name", Text, "a.name"),
                ("order_total", Money, "o.total_fen"),
            ],
            format!(
                "FROM shipments s JOIN sales_orders o ON o.id = s.order_id \
                 JOIN shipping_notices n ON n.id = s.notice_id \
                 JOIN warehouses w ON w.id = s.warehouse_id \
                 JOIN regions r ON r.id = o.region_id JOIN agents a ON a.id = o.agent_id \
                 WHERE 1 = 1{}{} ORDER BY s.id",
                f.ts_range("s.shipped_at"),
                f.region("o.region_id")
            ),
        ),
        Dataset::SerialEvents => {
            let names = vec![
                "event_type",
                "event_id",
                "event_date",
                "serial",
                "product_id",
                "product_sku",
                "quantity",
                "region_id",
                "region_code",
                "agent_id",
                "agent_code",
                "order_number",
                "sale_price",
                "sighting_kind",
                "note",
            ];
            let shipped = format!(
                "SELECT 'SHIPPED', su.id, su.shipped_at, su.serial, p.id, p.sku, CAST(1 AS BIGINT), \
                 r.id, r.code, a.id, a.code, o.number, {NULL_INT}, {NULL_TEXT}, {NULL_TEXT} \
                 FROM serial_units su JOIN products p ON p.id = su.product_id \
                 JOIN regions r ON r.id = su.region_id JOIN agents a ON a.id = su.agent_id \
                 JOIN sales_orders o ON o.id = su.order_id WHERE 1 = 1{}{} \
                 ORDER BY su.shipped_at, su.id",
                f.ts_range("su.shipped_at"),
                f.region("su.region_id")
            );
            let sold = format!(
                "SELECT 'SOLD', st.id, st.sold_on, st.serial, p.id, p.sku, st.quantity, \
                 r.id, r.code, a.id, a.code, {NULL_TEXT}, st.sale_price_fen, {NULL_TEXT}, {NULL_TEXT} \
                 FROM sell_through st JOIN products p ON p.id = st.product_id \
                 JOIN regions r ON r.id = st.sold_region_id JOIN agents a ON a.id = st.agent_id \
                 WHERE 1 = 1{}{} ORDER BY st.sold_on, st.id",
                f.date_range("st.sold_on"),
                f.region("st.sold_region_id")
            );
            let sighted = format!(
                "SELECT 'SIGHTED', us.id, us.seen_on, us.serial, p.id, p.sku, CAST(1 AS BIGINT), \
                 r.id, r.code, a.id, a.code, o.number, {NULL_INT}, us.kind, us.note \
                 FROM unit_sightings us JOIN regions r ON r.id = us.region_id \
                 LEFT JOIN serial_units su ON su.serial = us.serial \
                 LEFT JOIN products p ON p.id = su.product_id \
                 LEFT JOIN agents a ON a.id = su.agent_id \
                 LEFT JOIN sales_orders o ON o.id = su.order_id WHERE 1 = 1{}{} \
                 ORDER BY us.seen_on, us.id",
                f.date_range("us.seen_on"),
                f.region("us.region_id")
            );
            let kinds = |date: Kind| {
                vec![
                    Text, Int, date, Text, Int, Text, Int, Int, Text, Int, Text, Text, Money, Text,
                    Text,
                ]
            };
            Spec {
                names,
                parts: vec![
                    Part {
                        sql: shipped,
                        kinds: kinds(BizDate),
                    },
                    Part {
                        sql: sold,
                        kinds: kinds(Date),
                    },
                    Part {
                        sql: sighted,
                        kinds: kinds(Date),
                    },
                ],
            }
        }
        Dataset::Forecasts => {
            let month = |d: NaiveDate| d.format("%Y-%m").to_string();
            let mut cond = String::new();
            if let Some(d) = from {
                cond.push_str(&format!(" AND fc.period >= '{}'", month(d)));
            }
            if let Some(d) = to {
                cond.push_str(&format!(" AND fc.period <= '{}'", month(d)));
            }
            one(
                &[
                    ("forecast_id", Int, "fc.id"),
                    ("period", Text, "fc.period"),
                    ("region_id", Int, "r.id"),
                    ("region_code", Text, "r.code"),
                    ("region_name", Text, "r.name"),
                    ("product_id", Int, "p.id"),
                    ("product_sku", Text, "p.sku"),
                    ("product_name", Text, "p.name"),
                    ("salesperson_id", Int, "u.id"),
                    ("salesperson", Text, "u.username"),
                    ("quantity", Int, "fc.quantity"),
                    ("submitted_at", Ts, "fc.submitted_at"),
                    ("updated_at", Ts, "fc.updated_at"),
                ],
                format!(
                    "FROM forecasts fc JOIN regions r ON r.id = fc.region_id \
                     JOIN products p ON p.id = fc.product_id JOIN users u ON u.id = fc.salesperson_id \
                     WHERE 1 = 1{cond}{} ORDER BY fc.period, fc.id",
                    f.region("fc.region_id")
                ),
            )
        }
        Dataset::Signals => {
            let mut cond = String::new();
            if let Some(d) = from {
                cond.push_str(&format!(" AND sg.period_end >= '{d}'"));
            }
            if let Some(d) = to {
                cond.push_str(&format!(" AND sg.period_start <= '{d}'"));
            }
            one(
                &[
                    ("signal_id", Int, "sg.id"),
                    ("kind", Text, "sg.kind"),
                    ("rule", Text, "sg.rule"),
                    (
                        "status",
                        Text,
                        "CASE WHEN sg.cleared_at IS NULL THEN 'OPEN' ELSE 'CLEARED' END",
                    ),
                    ("severity", Text, "sg.severity"),
                    ("peak_severity", Text, "sg.peak_severity"),
                    ("subject_type", Text, "sg.subject_type"),
                    ("subject_id", Int, "sg.subject_id"),
                    ("subject_label", Text, "sg.subject_label"),
                    ("region_id", Int, "sg.region_id"),
                    ("region_code", Text, "r.code"),
                    ("agent_id", Int, "sg.agent_id"),
                    ("agent_code", Text, "a.code"),
                    ("salesperson_id", Int, "sg.salesperson_id"),
                    ("salesperson", Text, "u.username"),
                    ("product_id", Int, "sg.product_id"),
                    ("product_sku", Text, "p.sku"),
                    ("period_start", Date, "sg.period_start"),
                    ("period_end", Date, "sg.period_end"),
                    ("value", Float, "sg.value"),
                    ("threshold", Float, "sg.threshold"),
                    ("unit", Text, "sg.unit"),
                    ("summary", Text, "sg.summary"),
                    ("formula", Text, "sg.formula"),
                    ("evidence", Text, "sg.evidence"),
                    ("raised_at", Ts, "sg.raised_at"),
                    ("updated_at", Ts, "sg.updated_at"),
                    ("cleared_at", Ts, "sg.cleared_at"),
                ],
                format!(
                    "FROM risk_signals sg LEFT JOIN regions r ON r.id = sg.region_id \
                     LEFT JOIN agents a ON a.id = sg.agent_id \
                     LEFT JOIN users u ON u.id = sg.salesperson_id \
                     LEFT JOIN products p ON p.id = sg.product_id \
                     WHERE 1 = 1{cond}{} ORDER BY sg.id",
                    f.region("sg.region_id")
                ),
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Batches: rows in column vectors.
