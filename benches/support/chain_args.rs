//! The chain benchmark's command line.
use anyhow::{anyhow, bail, Context};

use super::STOCK;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fields {
    Full,
    Light,
}

pub(crate) struct Args {
    pub(crate) backend: Backend,
    pub(crate) clients: usize,
    pub(crate) chains: usize,
    pub(crate) pg_url: String,
    pub(crate) warmup: usize,
    pub(crate) fields: Fields,
    pub(crate) transport: TransportKind,
    pub(crate) profile: bool,
    /// The server keeps no step's load (`step_cache`).
    pub(crate) no_kept: bool,
}

/// How the benchmark's clients speak HTTP: the lean client of `wire.rs`
/// (default; one kept-alive connection per client) or the tests' reqwest
/// client (`--transport reqwest`), to show what the load generator costs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportKind {
    Wire,
    Reqwest,
}

impl TransportKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TransportKind::Wire => "wire",
            TransportKind::Reqwest => "reqwest",
        }
    }
}

pub(crate) const USAGE: &str =
    "usage: cargo bench --bench chain -- [--backend sqlite|postgres] [--clients N] \
[--chains M] [--pg-url URL] [--warmup K] [--fields full|light] [--transport wire|reqwest] \
[--profile] [--no-kept]";

impl Args {
    /// Parses `--name value` and `--name=value`; ignores what it does not
    /// know (cargo passes `--bench`).
    pub(crate) fn parse() -> anyhow::Result<Args> {
        let mut a = Args {
            backend: Backend::Sqlite,
            clients: 8,
            chains: 400,
            pg_url: std::env::var("SALESGUARD_TEST_PG_URL")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into()),
            warmup: 1,
            fields: Fields::Full,
            transport: TransportKind::Wire,
            profile: false,
            no_kept: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let takes_value = matches!(
                name.as_str(),
                "--backend"
                    | "--clients"
                    | "--chains"
                    | "--pg-url"
                    | "--warmup"
                    | "--fields"
                    | "--transport"
            );
            let value = if takes_value {
                match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| anyhow!("{name} needs a value\n{USAGE}"))?,
                }
            } else {
                String::new()
            };
            let count = |v: &str| -> anyhow::Result<usize> {
                v.parse::<usize>()
                    .with_context(|| format!("{name}: `{v}` is not a number"))
            };
            match name.as_str() {
                "--backend" => {
                    a.backend = match value.as_str() {
                        "sqlite" => Backend::Sqlite,
                        "postgres" | "pg" | "postgresql" => Backend::Postgres,
                        other => bail!("unknown backend `{other}`\n{USAGE}"),
                    }
                }
                "--clients" => a.clients = count(&value)?,
                "--chains" => a.chains = count(&value)?,
                "--pg-url" => a.pg_url = value,
                "--warmup" => a.warmup = count(&value)?,
                "--fields" => {
                    a.fields = match value.as_str() {
                        "full" => Fields::Full,
                        "light" => Fields::Light,
                        other => bail!("unknown field set `{other}`\n{USAGE}"),
                    }
                }
                "--transport" => {
                    a.transport = match value.as_str() {
                        "wire" => TransportKind::Wire,
                        "reqwest" => TransportKind::Reqwest,
                        other => bail!("unknown transport `{other}`\n{USAGE}"),
                    }
                }
                "--profile" => a.profile = true,
                "--no-kept" => a.no_kept = true,
                "--help" | "-h" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                _ => {} // e.g. `--bench`
            }
        }
        if a.clients == 0 || a.chains == 0 {
            bail!("--clients and --chains must be at least 1");
        }
        let per_client = a.chains.div_ceil(a.clients);
        if per_client + a.warmup + 1 > STOCK {
            bail!(
                "{per_client} chains per client (+ warm-up) exceed the {STOCK} units of stock of a \
                 world: use more clients or fewer chains"
            );
        }
        Ok(a)
    }
}
