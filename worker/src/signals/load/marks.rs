//! How far each append-only table has been read: the marks a sync reads
//! on from, with the gaps below them that are asked for again.
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How long a gap (a key below the highest read that was not there) is
/// asked for again.
pub const GAP_TTL: Duration = Duration::from_secs(600);
/// Keys below the highest one read by a full load that are watched as gaps.
const GAP_WINDOW: i64 = 10_000;
/// At most this many gaps are watched per table (the newest are kept).
const MAX_GAPS: usize = 10_000;

/// How far an append-only table (rows are never changed or deleted once
/// committed) has been read, by its increasing key.
#[derive(Clone, Debug, Default)]
pub struct Mark {
    /// The highest key read.
    pub max: i64,
    /// Keys below `max` not read: rows of transactions that had not
    /// committed when they were read past (keys are taken in insert order,
    /// not commit order), or that rolled back. They are asked for again by
    /// each sync until they turn up or `GAP_TTL` has passed.
    pub gaps: Vec<(i64, Instant)>,
}

impl Mark {
    /// The mark after reading `keys` from `prev` (`None`: a full load).
    pub fn advance(prev: Option<&Mark>, keys: &[i64], now: Instant) -> Mark {
        let old_max = prev.map_or(0, |m| m.max);
        let max = keys.iter().copied().max().unwrap_or(0).max(old_max);
        let floor = match prev {
            Some(_) => old_max,
            None => (max - GAP_WINDOW).max(0),
        };
        let filled: HashSet<i64> = keys.iter().copied().filter(|&k| k <= old_max).collect();
        let mut gaps: Vec<(i64, Instant)> = prev
            .map(|p| {
                p.gaps
                    .iter()
                    .filter(|(g, at)| !filled.contains(g) && now.duration_since(*at) < GAP_TTL)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let mut fresh: Vec<i64> = keys.iter().copied().filter(|&k| k > floor).collect();
        fresh.sort_unstable();
        fresh.dedup();
        let mut next = floor + 1;
        for k in fresh {
            // A jump of the sequence (PostgreSQL skips ahead after a
            // crash) is not a gap to watch.
            if k - next <= MAX_GAPS as i64 {
                gaps.extend((next..k).map(|g| (g, now)));
            }
            next = k + 1;
        }
        if gaps.len() > MAX_GAPS {
            gaps.sort_by_key(|g| g.0);
            gaps.drain(..gaps.len() - MAX_GAPS);
        }
        Mark { max, gaps }
    }

    /// The condition that selects the rows after this mark.
    pub(super) fn sql(&self, key: &str) -> String {
        let mut s = format!(" WHERE ({key} > {}", self.max);
        if !self.gaps.is_empty() {
            let list: Vec<String> = self.gaps.iter().map(|g| g.0.to_string()).collect();
            s.push_str(&format!(" OR {key} IN ({})", list.join(",")));
        }
        s.push(')');
        s
    }
}

/// `""` for a full load, the mark's condition for a sync.
pub(super) fn after(key: &str, since: Option<&Mark>) -> String {
    since.map(|m| m.sql(key)).unwrap_or_default()
}

/// The marks of the append-only tables.
#[derive(Clone, Debug, Default)]
pub struct Marks {
    /// Shipped orders and their lines, by shipment id.
    pub shipments: Mark,
    pub payments: Mark,
    pub units: Mark,
    pub sell: Mark,
    pub sightings: Mark,
    pub prices: Mark,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &Mark) -> Vec<i64> {
        m.gaps.iter().map(|g| g.0).collect()
    }

    #[test]
    fn marks_follow_the_highest_key_and_watch_the_gaps_below_it() {
        let t = Instant::now();
        // A full load: key 4 missing (its transaction still open).
        let m = Mark::advance(None, &[3, 1, 6, 2, 5], t);
        assert_eq!((m.max, keys(&m)), (6, vec![4]));
        assert_eq!(m.sql("id"), " WHERE (id > 6 OR id IN (4))");
        // The next read brings 4 (committed late) and 8: 7 is now a gap.
        let m = Mark::advance(Some(&m), &[8, 4], t);
        assert_eq!((m.max, keys(&m)), (8, vec![7]));
        // Nothing new: the gap stays, until it is older than GAP_TTL.
        let m = Mark::advance(Some(&m), &[], t + Duration::from_secs(1));
        assert_eq!((m.max, keys(&m)), (8, vec![7]));
        let m = Mark::advance(Some(&m), &[], t + GAP_TTL + Duration::from_secs(1));
        assert_eq!((m.max, keys(&m)), (8, vec![]));
        assert_eq!(m.sql("s.id"), " WHERE (s.id > 8)");
        // A jump of the sequence is no gap; a full load watches only the
        // keys just below its highest.
        let m = Mark::advance(Some(&m), &[9, 9 + MAX_GAPS as i64 + 5], t);
        assert_eq!(keys(&m), Vec::<i64>::new());
        let m = Mark::advance(None, &[1, GAP_WINDOW + 100, GAP_WINDOW + 102], t);
        // Watched: 103 to GAP_WINDOW + 99, and GAP_WINDOW + 101.
        assert_eq!(m.gaps.len() as i64, GAP_WINDOW - 2);
        assert_eq!(m.gaps.last().map(|g| g.0), Some(GAP_WINDOW + 101));
        // An empty table.
        let m = Mark::advance(None, &[], t);
        assert_eq!((m.max, m.gaps.len()), (0, 0));
    }
}
