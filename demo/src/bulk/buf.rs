//! Rows of one table rendered for the backend: VALUES lists of INSERT
//! statements (SQLite) or COPY text (PostgreSQL).
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

const SQLITE_ROWS_PER_INSERT: usize = 400;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Be {
    Sqlite,
    Postgres,
}

/// Rows of one table, rendered for the backend: VALUES lists of INSERT
/// statements (SQLite) or COPY text (PostgreSQL).
pub(super) struct Buf {
    be: Be,
    pub(super) table: &'static str,
    pub(super) cols: &'static str,
    data: String,
    stmts: Vec<String>,
    in_stmt: usize,
    first: bool,
    pub(super) pending: u64,
    total: u64,
}

impl Buf {
    pub(super) fn new(be: Be, table: &'static str, cols: &'static str) -> Buf {
        Buf {
            be,
            table,
            cols,
            data: String::new(),
            stmts: vec![],
            in_stmt: 0,
            first: true,
            pending: 0,
            total: 0,
        }
    }

    pub(super) fn begin(&mut self) -> &mut Self {
        if self.be == Be::Sqlite {
            if self.in_stmt == 0 {
                let _ = write!(
                    self.data,
                    "INSERT INTO {} ({}) VALUES (",
                    self.table, self.cols
                );
            } else {
                self.data.push_str(",(");
            }
        }
        self.first = true;
        self
    }

    pub(super) fn sep(&mut self) {
        if !self.first {
            self.data
                .push(if self.be == Be::Sqlite { ',' } else { '\t' });
        }
        self.first = false;
    }

    pub(super) fn int(&mut self, v: i64) -> &mut Self {
        self.sep();
        let _ = write!(self.data, "{v}");
        self
    }

    pub(super) fn null(&mut self) -> &mut Self {
        self.sep();
        self.data
            .push_str(if self.be == Be::Sqlite { "NULL" } else { "\\N" });
        self
    }

    pub(super) fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        match self.be {
            Be::Sqlite => {
                self.data.push('\'');
                for c in s.chars() {
                    if c == '\'' {
                        self.data.push('\'');
                    }
                    self.data.push(c);
                }
                self.data.push('\'');
            }
            Be::Postgres => {
                for c in s.chars() {
                    match c {
                        '\\' => self.data.push_str("\\\\"),
                        '\t' => self.data.push_str("\\t"),
                        '\n' => self.data.push_str("\\n"),
                        '\r' => self.data.push_str("\\r"),
                        c => self.data.push(c),
                    }
                }
            }
        }
        self
    }

    pub(super) fn opt_int(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    pub(super) fn opt_text(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// A timestamp as each backend stores what the app writes (sqlx's
    /// encodings: RFC 3339 text on SQLite, timestamptz on PostgreSQL).
    pub(super) fn ts(&mut self, t: DateTime<Utc>) -> &mut Self {
        match self.be {
            Be::Sqlite => {
                let s = t.to_rfc3339_opts(SecondsFormat::AutoSi, false);
                self.text(&s)
            }
            Be::Postgres => {
                self.sep();
                let _ = write!(self.data, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f+00"));
                self
            }
        }
    }

    pub(super) fn opt_ts(&mut self, t: Option<DateTime<Utc>>) -> &mut Self {
        match t {
            Some(t) => self.ts(t),
            None => self.null(),
        }
    }

    pub(super) fn opt_date(&mut self, d: Option<NaiveDate>) -> &mut Self {
        match d {
            Some(d) => self.date(d),
            None => self.null(),
        }
    }

    pub(super) fn date(&mut self, d: NaiveDate) -> &mut Self {
        let s = d.format("%Y-%m-%d").to_string();
        self.text(&s)
    }

    pub(super) fn boolean(&mut self, b: bool) -> &mut Self {
        self.sep();
        self.data.push_str(match (self.be, b) {
            (Be::Sqlite, true) => "1",
            (Be::Sqlite, false) => "0",
            (Be::Postgres, true) => "t",
            (Be::Postgres, false) => "f",
        });
        self
    }

    pub(super) fn end(&mut self) {
        match self.be {
            Be::Sqlite => {
                self.data.push(')');
                self.in_stmt += 1;
                if self.in_stmt >= SQLITE_ROWS_PER_INSERT {
                    self.stmts.push(std::mem::take(&mut self.data));
                    self.in_stmt = 0;
                }
            }
            Be::Postgres => self.data.push('\n'),
        }
        self.pending += 1;
        self.total += 1;
    }

    /// Takes the buffered rows: SQL statements, or one COPY payload.
    pub(super) fn take(&mut self) -> Vec<String> {
        if self.be == Be::Sqlite && self.in_stmt > 0 {
            self.stmts.push(std::mem::take(&mut self.data));
            self.in_stmt = 0;
        }
        self.pending = 0;
        match self.be {
            Be::Sqlite => std::mem::take(&mut self.stmts),
            Be::Postgres if self.data.is_empty() => vec![],
            Be::Postgres => vec![std::mem::take(&mut self.data)],
        }
    }
}
