//! Statements seen on the app's database handles, for the chain benchmark.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Statements seen on the app's database handles (sea-orm metric callback;
/// BEGIN/COMMIT are not included, nor waiting for a pooled connection).
#[derive(Default)]
pub(crate) struct DbStats {
    pub(crate) read: AtomicU64,
    pub(crate) write: AtomicU64,
    pub(crate) nanos: AtomicU64,
    /// Count and total time by `handle verb table`, with `--profile`.
    pub(crate) kinds: Option<Mutex<HashMap<String, (u64, u64)>>>,
}

#[derive(Clone, Copy, Default)]
pub(crate) struct Snap {
    pub(crate) read: u64,
    pub(crate) write: u64,
    pub(crate) nanos: u64,
}

impl Snap {
    pub(crate) fn since(self, before: Snap) -> Snap {
        Snap {
            read: self.read - before.read,
            write: self.write - before.write,
            nanos: self.nanos - before.nanos,
        }
    }
    pub(crate) fn statements(self) -> u64 {
        self.read + self.write
    }
}

impl DbStats {
    pub(crate) fn snap(&self) -> Snap {
        Snap {
            read: self.read.load(Ordering::Relaxed),
            write: self.write.load(Ordering::Relaxed),
            nanos: self.nanos.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn record(&self, write: bool, info: &sea_orm::metric::Info<'_>) {
        let n = if write { &self.write } else { &self.read };
        n.fetch_add(1, Ordering::Relaxed);
        let ns = info.elapsed.as_nanos() as u64;
        self.nanos.fetch_add(ns, Ordering::Relaxed);
        if let Some(kinds) = &self.kinds {
            let key = format!(
                "{} {}",
                if write { "write" } else { "read " },
                statement_kind(&info.statement.sql)
            );
            if let Ok(mut m) = kinds.lock() {
                let e = m.entry(key).or_default();
                e.0 += 1;
                e.1 += ns;
            }
        }
    }
}

/// `SELECT session`, `INSERT audit_log`, … from the SQL text.
pub(crate) fn statement_kind(sql: &str) -> String {
    let s = sql.trim_start();
    let verb = s
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_ascii_uppercase();
    let after = |kw: &str| {
        s.find(kw)
            .map(|i| &s[i + kw.len()..])
            .and_then(|rest| rest.split_whitespace().next())
    };
    let table = match verb.as_str() {
        "SELECT" | "DELETE" => after(" FROM "),
        "INSERT" => after(" INTO "),
        "UPDATE" => s.split_whitespace().nth(1),
        _ => None,
    };
    let table = table
        .unwrap_or("")
        .trim_matches(|c| c == '"' || c == '`' || c == '(' || c == ')');
    format!("{verb} {table}")
}
