//! CPU time by side, from `/proc` (Linux): the benchmark's server threads,
//! its client threads, and every PostgreSQL process on the machine.
use std::time::Duration;

/// Thread names of the two runtimes (at most 15 bytes: the kernel's
/// limit for a thread's name).
pub const SERVER: &str = "sg-server";
pub const CLIENT: &str = "sg-client";

/// `/proc` counts in clock ticks of 1/100 s (USER_HZ on Linux).
const TICK: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, Default)]
pub struct Sample {
    pub server: u64,
    pub client: u64,
    /// The rest of this process (its main thread, threads that ended).
    pub other: u64,
    /// PostgreSQL processes, with the ended backends they reaped.
    pub postgres: u64,
    /// The whole machine: busy and all ticks.
    pub busy: u64,
    pub total: u64,
}

/// Fields after the `(comm)` of a `/proc/…/stat` line, and the comm.
fn stat(path: &str) -> Option<(String, Vec<u64>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let rest = text.get(close + 1..)?;
    // Field 3 (state) is a letter; keep the numeric ones in place.
    let fields = rest
        .split_whitespace()
        .map(|f| f.parse::<u64>().unwrap_or(0))
        .collect();
    Some((comm, fields))
}

/// utime + stime (+ cutime + cstime with `children`), fields 14–17.
fn ticks(fields: &[u64], children: bool) -> u64 {
    // `fields[0]` is field 3 of the line.
    let at = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    at(14) + at(15) + if children { at(16) + at(17) } else { 0 }
}

impl Sample {
    pub fn now() -> Sample {
        let mut s = Sample::default();
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for e in dir.flatten() {
                let path = format!("{}/stat", e.path().display());
                let Some((comm, f)) = stat(&path) else {
                    continue;
                };
                let t = ticks(&f, false);
                if comm.starts_with(SERVER) || comm.starts_with("sqlx-sqlite") {
                    s.server += t;
                } else if comm.starts_with(CLIENT) {
                    s.client += t;
                }
            }
        }
        if let Some((_, f)) = stat("/proc/self/stat") {
            s.other = ticks(&f, false).saturating_sub(s.server + s.client);
        }
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let name = e.file_name();
                let Some(pid) = name
                    .to_str()
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                if let Some((comm, f)) = stat(&format!("/proc/{pid}/stat")) {
                    if comm == "postgres" {
                        s.postgres += ticks(&f, true);
                    }
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string("/proc/stat") {
            if let Some(line) = text.lines().next() {
                let v: Vec<u64> = line
                    .split_whitespace()
                    .skip(1)
                    .map(|x| x.parse().unwrap_or(0))
                    .collect();
                // user nice system idle iowait irq softirq steal …
                let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
                s.total = v.iter().take(8).sum();
                s.busy = s.total.saturating_sub(idle);
            }
        }
        s
    }

    pub fn since(self, b: Sample) -> Sample {
        Sample {
            server: self.server.saturating_sub(b.server),
            client: self.client.saturating_sub(b.client),
            other: self.other.saturating_sub(b.other),
            postgres: self.postgres.saturating_sub(b.postgres),
            busy: self.busy.saturating_sub(b.busy),
            total: self.total.saturating_sub(b.total),
        }
    }

    /// Milliseconds of CPU per unit of work.
    pub fn per(ticks: u64, n: usize) -> f64 {
        (TICK * ticks as u32).as_secs_f64() * 1000.0 / n.max(1) as f64
    }
}
