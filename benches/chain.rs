//! Throughput and latency of the whole order-to-cash chain, driven through
//! the GraphQL API over HTTP by N concurrent clients.
//!
//! The server runs in-process (the real app, `Server::start`) on a fresh
//! SQLite file or a fresh PostgreSQL database. Each client gets a fixture
//! company of its own (`World::create_named`), so clients do not queue on one
//! agent, and walks complete chains: file an order of one unit, then the 14
//! steps of `chain::STEPS`, timing every mutation.
//!
//! ```text
//! cargo bench --bench chain -- --backend sqlite|postgres --clients 8 --chains 400
//!     [--pg-url URL] [--warmup K] [--fields full|light] [--profile] [--no-kept]
//! ```
//!
//! `--fields light` asks each mutation for the few fields the next step needs
//! instead of the whole order (`chain::ORDER_FIELDS`), to show what resolving
//! the payload costs. `--profile` adds a table of SQL statements by kind and
//! a few baselines (an empty request, an authenticated one, an empty commit).
//! `--no-kept` makes every step read its order from the database (the server
//! keeps no step's load, `step_cache`), to show what keeping them saves.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use salesguard_testkit::chain::{self, STEPS};
use salesguard_testkit::client::data_of;
use salesguard_testkit::server::drop_pg_database;
use salesguard_testkit::world::Team;
use salesguard_testkit::{Client, Server, World};

#[path = "support/wire.rs"]
mod wire;

/// Unit price of the one unit every chain sells.
const PRICE: &str = "1999.00";
/// Units of the product each fixture world has in stock.
const STOCK: usize = 1000;
/// The fields `--fields light` reads back: what the next step's input needs.
const LIGHT_FIELDS: &str = "id number status balanceDue shippingNotice{number verificationCode}";

#[path = "support/chain_args.rs"]
mod chain_args;
use chain_args::*;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/db_stats.rs"]
mod db_stats;
use db_stats::{DbStats, Snap};

// ------------------------------------------------------------- the chain

/// A client task's way to the server: its own kept-alive connection
/// (`wire`), or the actor's reqwest client.
enum Transport {
    Wire(wire::Conn),
    Reqwest,
}

impl Transport {
    fn new(kind: TransportKind, base: &str) -> anyhow::Result<Transport> {
        Ok(match kind {
            TransportKind::Wire => Transport::Wire(wire::Conn::new(base)?),
            TransportKind::Reqwest => Transport::Reqwest,
        })
    }
}

/// Runs one workflow mutation as `c`'s user that must succeed; returns the
/// order after it.
async fn mutate(
    t: &mut Transport,
    c: &Client,
    mutation: &str,
    input: Value,
    fields: Fields,
) -> anyhow::Result<Value> {
    let order_fields = match fields {
        Fields::Full => chain::ORDER_FIELDS,
        Fields::Light => LIGHT_FIELDS,
    };
    let q = chain::step_text(mutation, order_fields);
    let variables = json!({ "input": input });
    let body = match t {
        Transport::Reqwest => c.raw(&q, variables).await?,
        Transport::Wire(conn) => {
            let req = serde_json::to_vec(&json!({ "query": q, "variables": variables }))?;
            conn.graphql(c.token.as_deref(), &req).await?
        }
    };
    chain::order_of(mutation, &data_of(body)?[mutation])
}

/// Files an order of one unit and walks it through every step to ARCHIVED.
/// `timings[0]` gets the filing, `timings[i]` step `STEPS[i - 1]`.
/// `on_step(i)` runs after each mutation (for per-step statement counts).
async fn walk_chain(
    w: &World,
    t: &mut Transport,
    fields: Fields,
    timings: &mut [Vec<Duration>],
    mut on_step: impl FnMut(usize),
) -> anyhow::Result<()> {
    let team: &Team = &w.north;
    let start = Instant::now();
    let mut order = mutate(
        t,
        &team.sales,
        "salesOrderCreate",
        json!({
            "agentId": team.agent,
            "lines": [{"productId": w.product, "quantity": 1, "unitPrice": PRICE}],
            "paymentTermsDays": 30,
        }),
        fields,
    )
    .await
    .context("salesOrderCreate")?;
    timings[0].push(start.elapsed());
    on_step(0);
    for (i, step) in STEPS.iter().enumerate() {
        let (who, input) = w.actor_and_input(team, step, &order);
        let start = Instant::now();
        order = mutate(t, &who, step, input, fields)
            .await
            .with_context(|| format!("{step} of order {}", order["number"]))?;
        timings[i + 1].push(start.elapsed());
        on_step(i + 1);
    }
    if order["status"] != "ARCHIVED" {
        bail!("chain ended in status {}", order["status"]);
    }
    Ok(())
}

fn step_names() -> Vec<&'static str> {
    std::iter::once("salesOrderCreate")
        .chain(STEPS.iter().copied())
        .collect()
}

fn new_timings() -> Vec<Vec<Duration>> {
    vec![Vec::new(); STEPS.len() + 1]
}

// ------------------------------------------------------------- statistics

/// Nearest-rank percentile of a sorted slice.
fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

fn mean(v: &[Duration]) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.iter().sum::<Duration>() / v.len() as u32
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `per_client` requests built by `req` on each of `clients` concurrent
/// tasks; returns requests/s and the sorted latencies.
async fn load<F, Fut>(
    clients: usize,
    per_client: usize,
    req: F,
) -> anyhow::Result<(f64, Vec<Duration>)>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let t = Instant::now();
                req(i).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let wall = start.elapsed();
    all.sort_unstable();
    Ok((all.len() as f64 / wall.as_secs_f64(), all))
}

// ------------------------------------------------------------------ main

fn main() {
    // The server's logs, when RUST_LOG asks for them (errors are logged
    // with their cause; clients see only "internal error").
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    // The server and the clients run on runtimes of their own (named
    // threads), as they would in two processes, so the CPU each side spends
    // can be told apart (`cpu::Sample`).
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name(name)
            .enable_all()
            .build()
    };
    let (server_rt, client_rt) = match (runtime(cpu::SERVER), runtime(cpu::CLIENT)) {
        (Ok(s), Ok(c)) => (s, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: cannot start the runtimes: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = run(args, &server_rt, &client_rt) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(
    args: Args,
    server_rt: &tokio::runtime::Runtime,
    client_rt: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let backend_name = match args.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let pg = (args.backend == Backend::Postgres).then(|| args.pg_url.clone());

    // The server, with a statement counter on its database handles.
    let stats = Arc::new(DbStats {
        kinds: args.profile.then(|| Mutex::new(HashMap::new())),
        ..DbStats::default()
    });
    let (sr, sw) = (stats.clone(), stats.clone());
    let t = Instant::now();
    let server = server_rt
        .block_on(Server::start_with(pg.as_deref(), move |db| {
            db.read.set_metric_callback(move |i| sr.record(false, i));
            db.write.set_metric_callback(move |i| sw.record(true, i));
        }))
        .with_context(|| format!("cannot start the server on {backend_name}"))?;
    if args.no_kept {
        server.app.step_cache.set_capacity(0);
    }
    // Experiments: statements run on the fresh database before the clients
    // start (e.g. dropping an index to see what it costs), `;`-separated.
    if let Ok(sql) = std::env::var("BENCH_SQL") {
        use sea_orm::ConnectionTrait;
        for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let db = &server.app.db.write;
            server_rt.block_on(db.execute_unprepared(stmt))?;
            eprintln!("BENCH_SQL: {stmt}");
        }
    }
    let base = server.base_url();
    eprintln!(
        "server on {base} ({backend_name}, {} + {} runtime threads for server + clients) \
         started in {:.1} s",
        server_rt.metrics().num_workers(),
        client_rt.metrics().num_workers(),
        t.elapsed().as_secs_f64()
    );

    let result = client_rt.block_on(bench(&args, backend_name, &server, &stats));

    if let (Some(admin), true) = (&pg, result.is_ok()) {
        let url = server.database_url.clone();
        drop(server);
        client_rt.block_on(drop_pg_database(admin, &url));
    }
    result
}

async fn bench(
    args: &Args,
    backend_name: &str,
    server: &Server,
    stats: &Arc<DbStats>,
) -> anyhow::Result<()> {
    let base = server.base_url();

    // One fixture company per client, built concurrently.
    let t = Instant::now();
    let worlds = futures::future::try_join_all((0..args.clients).map(|i| {
        let base = base.clone();
        async move { World::create_named(&base, &format!("_{i}")).await }
    }))
    .await
    .context("creating the fixture worlds")?;
    eprintln!(
        "{} fixture worlds created in {:.1} s",
        worlds.len(),
        t.elapsed().as_secs_f64()
    );

    // Warm-up. The first chain runs alone, counting statements per step.
    let names = step_names();
    let mut solo_steps: Vec<Snap> = Vec::new();
    let mut solo_timings = new_timings();
    if args.warmup > 0 {
        let mut last = stats.snap();
        let mut t = Transport::new(args.transport, &base)?;
        walk_chain(&worlds[0], &mut t, args.fields, &mut solo_timings, |_| {
            let now = stats.snap();
            solo_steps.push(now.since(last));
            last = now;
        })
        .await
        .context("warm-up chain")?;
        let mut tasks = Vec::new();
        for (i, w) in worlds.iter().enumerate() {
            let runs = if i == 0 { args.warmup - 1 } else { args.warmup };
            let (w, fields) = (w.clone(), args.fields);
            let mut conn = Transport::new(args.transport, &base)?;
            tasks.push(tokio::spawn(async move {
                let mut t = new_timings();
                for _ in 0..runs {
                    walk_chain(&w, &mut conn, fields, &mut t, |_| {}).await?;
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        for t in tasks {
            t.await?.context("warm-up chain")?;
        }
    }

    // The measured run: each client walks its share of the chains.
    let before = stats.snap();
    let cpu_before = cpu::Sample::now();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, w) in worlds.iter().enumerate() {
        let share = args.chains / args.clients + usize::from(i < args.chains % args.clients);
        let (w, fields) = (w.clone(), args.fields);
        let mut conn = Transport::new(args.transport, &base)?;
        tasks.push(tokio::spawn(async move {
            let mut t = new_timings();
            for _ in 0..share {
                walk_chain(&w, &mut conn, fields, &mut t, |_| {})
                    .await
                    .with_context(|| format!("client {i}"))?;
            }
            Ok::<_, anyhow::Error>(t)
        }));
    }
    let mut per_step = new_timings();
    for t in tasks {
        for (all, mine) in per_step.iter_mut().zip(t.await??) {
            all.extend(mine);
        }
    }
    let wall = start.elapsed();
    let sql = stats.snap().since(before);
    let used = cpu::Sample::now().since(cpu_before);

    // Figures.
    let mut all: Vec<Duration> = per_step.iter().flatten().copied().collect();
    all.sort_unstable();
    for v in per_step.iter_mut() {
        v.sort_unstable();
    }
    let mutations = all.len();
    let chains = per_step[0].len();
    let secs = wall.as_secs_f64();
    let chains_per_s = chains as f64 / secs;
    let mutations_per_s = mutations as f64 / secs;
    let (p50, p99, max) = (
        pct(&all, 0.50),
        pct(&all, 0.99),
        all.last().copied().unwrap_or_default(),
    );
    let per_mut = |n: u64| n as f64 / mutations.max(1) as f64;
    let backend_desc = match args.backend {
        Backend::Sqlite => "sqlite (WAL, synchronous=FULL, one writer connection, group commit)",
        Backend::Postgres => "postgres",
    };

    println!();
    println!("== Salesguard order-to-cash chain benchmark");
    println!("backend          {backend_desc}");
    println!(
        "clients          {} (one fixture world each; server and clients on runtimes of \
         their own), {} CPUs",
        args.clients,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "HTTP client      {}",
        match args.transport {
            TransportKind::Wire => "lean (benches/support/wire.rs, one kept-alive connection each)",
            TransportKind::Reqwest => "reqwest (the tests' client)",
        }
    );
    println!(
        "payload fields   {}",
        match args.fields {
            Fields::Full => "full order (chain::ORDER_FIELDS)",
            Fields::Light => "light (id number status balanceDue shippingNotice)",
        }
    );
    println!(
        "chains           {chains} measured (+{} warm-up per client), {} mutations each",
        args.warmup,
        STEPS.len() + 1
    );
    println!("mutations        {mutations}");
    println!("wall time        {secs:.2} s");
    println!("chains/s         {chains_per_s:.2}");
    println!("mutations/s      {mutations_per_s:.1}");
    println!(
        "latency (ms)     p50 {:.2}   p99 {:.2}   max {:.2}   mean {:.2}",
        ms(p50),
        ms(p99),
        ms(max),
        ms(mean(&all))
    );
    println!(
        "SQL / mutation   {:.1} statements ({:.1} read handle, {:.1} write handle), \
         {:.2} ms in statements (sum; BEGIN/COMMIT and pool waits not included)",
        per_mut(sql.statements()),
        per_mut(sql.read),
        per_mut(sql.write),
        per_mut(sql.nanos) / 1e6
    );
    let cpu_ms = |t: u64| cpu::Sample::per(t, mutations);
    println!(
        "CPU / mutation   {:.3} ms: server {:.3}, PostgreSQL {:.3}, clients {:.3}, rest of the \
         machine {:.3} (machine busy {:.0}%)",
        cpu_ms(used.busy),
        cpu_ms(used.server),
        cpu_ms(used.postgres),
        cpu_ms(used.client),
        cpu_ms(
            used.busy
                .saturating_sub(used.server + used.postgres + used.client)
        ),
        100.0 * used.busy as f64 / used.total.max(1) as f64
    );

    println!();
    println!(
        "{:<28} {:>6} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6}",
        "step", "n", "mean ms", "p50 ms", "p99 ms", "max ms", "SQL r", "SQL w"
    );
    for (i, name) in names.iter().enumerate() {
        let v = &per_step[i];
        let s = solo_steps.get(i).copied().unwrap_or_default();
        println!(
            "{:<28} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>6} {:>6}",
            name,
            v.len(),
            ms(mean(v)),
            ms(pct(v, 0.50)),
            ms(pct(v, 0.99)),
            ms(v.last().copied().unwrap_or_default()),
            s.read,
            s.write
        );
    }
    if !solo_steps.is_empty() {
        let total: Snap = solo_steps.iter().fold(Snap::default(), |a, s| Snap {
            read: a.read + s.read,
            write: a.write + s.write,
            nanos: a.nanos + s.nanos,
        });
        let solo: Vec<Duration> = solo_timings.iter().flatten().copied().collect();
        println!(
            "(SQL r/w: statements of that step on the read/write handle, counted on one chain run \
             alone: {} + {} per chain; that chain took {:.1} ms, {:.2} ms per mutation alone)",
            total.read,
            total.write,
            ms(solo.iter().sum()),
            ms(mean(&solo))
        );
    }

    if args.profile {
        profile(args, server, stats, &worlds, sql, mutations).await?;
    }

    println!();
    println!(
        "RESULT backend={backend_name} transport={} kept={} clients={} chains={chains} mutations={mutations} \
         wall_s={secs:.3} chains_per_s={chains_per_s:.2} mutations_per_s={mutations_per_s:.1} \
         p50_ms={:.2} p99_ms={:.2} max_ms={:.2} sql_per_mutation={:.1} cpu_ms={:.3} cpu_server_ms={:.3} \
         cpu_pg_ms={:.3} cpu_client_ms={:.3}",
        args.transport.name(),
        !args.no_kept,
        args.clients,
        ms(p50),
        ms(p99),
        ms(max),
        per_mut(sql.statements()),
        cpu_ms(used.busy),
        cpu_ms(used.server),
        cpu_ms(used.postgres),
        cpu_ms(used.client)
    );
    Ok(())
}

/// Where the time goes: statements by kind, and baselines for the parts of
/// a request.
async fn profile(
    args: &Args,
    server: &Server,
    stats: &DbStats,
    worlds: &[World],
    sql: Snap,
    mutations: usize,
) -> anyhow::Result<()> {
    if let Some(kinds) = &stats.kinds {
        let mut rows: Vec<(String, (u64, u64))> = kinds
            .lock()
            .map_err(|_| anyhow!("statement table poisoned"))?
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1 .1));
        let total_ns: u64 = rows.iter().map(|r| r.1 .1).sum();
        println!();
        println!(
            "== SQL statements by kind (whole process: setup, warm-up and run; by total time)"
        );
        println!(
            "{:<40} {:>8} {:>10} {:>10} {:>7}",
            "handle statement table", "count", "mean us", "total ms", "share"
        );
        for (k, (n, ns)) in rows.iter().take(25) {
            println!(
                "{:<40} {:>8} {:>10.1} {:>10.1} {:>6.1}%",
                k,
                n,
                *ns as f64 / *n as f64 / 1e3,
                *ns as f64 / 1e6,
                100.0 * *ns as f64 / total_ns.max(1) as f64
            );
        }
        let _ = (sql, mutations);
    }

    println!();
    println!(
        "== Baselines ({} concurrent clients, same server)",
        args.clients
    );
    println!(
        "{:<48} {:>9} {:>8} {:>8}",
        "request", "req/s", "p50 ms", "p99 ms"
    );
    let report = |name: &str, (rps, lat): (f64, Vec<Duration>)| {
        println!(
            "{:<48} {:>9.1} {:>8.2} {:>8.2}",
            name,
            rps,
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99))
        );
    };
    let n = 300;
    let a = Client::new(&server.base_url());
    report(
        "{__typename}, no token",
        load(args.clients, n, move |_| {
            let a = a.clone();
            async move { a.data("{__typename}", json!({})).await.map(|_| ()) }
        })
        .await?,
    );
    let sales: Vec<Client> = worlds.iter().map(|w| w.north.sales.clone()).collect();
    let s = sales.clone();
    report(
        "{__typename}, with token (session lookup)",
        load(args.clients, n, move |i| {
            let c = s[i % s.len()].clone();
            async move { c.data("{__typename}", json!({})).await.map(|_| ()) }
        })
        .await?,
    );
    let s = sales.clone();
    let q = format!(
        "query($n:String!){{salesOrder(number:$n){{{}}}}}",
        chain::ORDER_FIELDS
    );
    let numbers = futures::future::try_join_all(worlds.iter().map(|w| async move {
        let d = w
            .north
            .sales
            .data("{salesOrders(first:1){edges{node{number}}}}", json!({}))
            .await?;
        d["salesOrders"]["edges"][0]["node"]["number"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no order to read: {d}"))
    }))
    .await?;
    let numbers = Arc::new(numbers);
    let qq = Arc::new(q);
    report(
        "read one order with ORDER_FIELDS (query)",
        load(args.clients, n, move |i| {
            let c = s[i % s.len()].clone();
            let (q, numbers) = (qq.clone(), numbers.clone());
            async move {
                c.data(&q, json!({"n": numbers[i % numbers.len()]}))
                    .await
                    .map(|_| ())
            }
        })
        .await?,
    );
    // A throw-away table in the benchmark's own database, for the cost of a
    // commit that writes (an empty transaction does not flush anything).
    {
        use sea_orm::ConnectionTrait;
        server
            .app
            .db
            .write
            .execute_unprepared("CREATE TABLE IF NOT EXISTS bench_scratch (n BIGINT NOT NULL)")
            .await?;
    }
    let db = server.app.db.clone();
    report(
        "write transaction: 1 INSERT + COMMIT, no HTTP",
        load(args.clients, n, move |_| {
            let db = db.clone();
            async move {
                use sea_orm::ConnectionTrait;
                let txn = db.begin().await?;
                txn.execute_unprepared("INSERT INTO bench_scratch (n) VALUES (1)")
                    .await?;
                txn.commit().await?;
                Ok(())
            }
        })
        .await?,
    );
    Ok(())
}
