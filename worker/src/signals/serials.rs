//! The shipped units' serial numbers, interned: each serial is stored once,
//! in one byte arena, and known to the computation by its unit number (its
//! position in the arena). Sell-through rows and unit sightings carry the
//! unit number instead of the text, so the goods-diversion joins are over
//! integers, and millions of serials cost about their bytes, not a string
//! object each.
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// What `SerialList::resolve` gives: per row whether it had a serial and its
/// unit number; the rows with a serial that is no unit.
pub type Resolved = (Vec<bool>, Vec<Option<u32>>, Vec<(usize, Box<[u8]>)>);

/// Serial → unit number, and back.
#[derive(Default)]
pub struct SerialIndex {
    bytes: Vec<u8>,
    /// End of unit `i`'s serial in `bytes`; it starts at the end of `i − 1`.
    ends: Vec<u32>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

/// More serial text than the index addresses (4 GiB).
#[derive(Debug, thiserror::Error)]
#[error("more than 4 GiB of serial numbers")]
pub struct TooManySerials;

impl SerialIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of units.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The serial of unit `i` (empty for an unknown unit).
    pub fn serial(&self, i: u32) -> &str {
        // The arena holds only whole `&str`s, so a unit's slice is UTF-8.
        std::str::from_utf8(text(&self.bytes, &self.ends, i)).unwrap_or_default()
    }

    /// The unit number of a serial, and whether it is new: a serial
    /// already known keeps its number (serials are unique in
    /// `serial_units`, so that happens only with bad data).
    pub fn insert(&mut self, serial: &[u8]) -> Result<(u32, bool), TooManySerials> {
        let hash = self.hasher.hash_one(serial);
        if let Some(&i) = self
            .table
            .find(hash, |&i| text(&self.bytes, &self.ends, i) == serial)
        {
            return Ok((i, false));
        }
        let i = u32::try_from(self.ends.len()).map_err(|_| TooManySerials)?;
        self.bytes.extend_from_slice(serial);
        let end = u32::try_from(self.bytes.len()).map_err(|_| TooManySerials)?;
        self.ends.push(end);
        let (bytes, ends, hasher) = (&self.bytes, &self.ends, &self.hasher);
        self.table
            .insert_unique(hash, i, |&j| hasher.hash_one(text(bytes, ends, j)));
        Ok((i, true))
    }

    /// The unit number of a serial, if it was shipped.
    pub fn get(&self, serial: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(serial);
        self.table
            .find(hash, |&i| text(&self.bytes, &self.ends, i) == serial)
            .copied()
    }

    /// The arena and the end offsets, to be saved (`from_parts` reads them
    /// back).
    pub fn parts(&self) -> (&[u8], &[u32]) {
        (&self.bytes, &self.ends)
    }

    /// The index of the serials saved by `parts`: the lookup table is built
    /// again (its hash seeds are this process's). Refuses offsets that do
    /// not rise within the arena, or an arena that is not UTF-8 text.
    pub fn from_parts(bytes: Vec<u8>, ends: Vec<u32>) -> anyhow::Result<Self> {
        let mut start = 0usize;
        for &e in &ends {
            let e = e as usize;
            anyhow::ensure!(
                start <= e && e <= bytes.len(),
                "serial offsets out of order or past the arena"
            );
            start = e;
        }
        anyhow::ensure!(
            start == bytes.len(),
            "the serial arena has bytes past its last serial"
        );
        std::str::from_utf8(&bytes)
            .map_err(|_| anyhow::anyhow!("the serial arena is not UTF-8"))?;
        let hasher = DefaultHashBuilder::default();
        let mut table = HashTable::with_capacity(ends.len());
        for i in 0..ends.len() {
            let i = u32::try_from(i).map_err(|_| TooManySerials)?;
            let hash = hasher.hash_one(text(&bytes, &ends, i));
            table.insert_unique(hash, i, |&j| hasher.hash_one(text(&bytes, &ends, j)));
        }
        Ok(SerialIndex {
            bytes,
            ends,
            table,
            hasher,
        })
    }

    /// Gives back the spare capacity of the arena and the table once loaded.
    pub fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
        let (bytes, ends, hasher) = (&self.bytes, &self.ends, &self.hasher);
        self.table
            .shrink_to_fit(|&j| hasher.hash_one(text(bytes, ends, j)));
    }
}

/// The serials of a table's rows as read (NULL or text), kept in one arena
/// until the units are known and they can be turned into unit numbers.
#[derive(Default)]
pub struct SerialList {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    present: Vec<bool>,
}

impl SerialList {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, serial: Option<&[u8]>) -> Result<(), TooManySerials> {
        self.present.push(serial.is_some());
        self.bytes.extend_from_slice(serial.unwrap_or_default());
        self.ends
            .push(u32::try_from(self.bytes.len()).map_err(|_| TooManySerials)?);
        Ok(())
    }

    /// Per row: whether it had a serial, and its unit number (`None`
    /// without a serial or for a serial never shipped); and the rows whose
    /// serial is no shipped unit, with the serial.
    ///
    /// A long list (a full read's) is looked up in `RESOLVE_PARTS` parts
    /// side by side: it is the last step of a full read, with nothing else
    /// left to keep the other core busy.
    pub fn resolve(self, units: &SerialIndex) -> Resolved {
        let n = self.ends.len();
        let parts: Vec<Part> = if n < RESOLVE_SPLIT_AT {
            vec![self.resolve_range(units, 0, n)]
        } else {
            let step = n.div_ceil(RESOLVE_PARTS);
            std::thread::scope(|scope| {
                let list = &self;
                let handles: Vec<_> = (0..n)
                    .step_by(step)
                    .map(|a| scope.spawn(move || list.resolve_range(units, a, (a + step).min(n))))
                    .collect();
                // A part that panicked panics the whole (the caller's
                // blocking task turns that into an error).
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            })
        };
        // The first part's vectors are kept; the others are added to them.
        let mut parts = parts.into_iter();
        let (mut unit, mut unknown) = parts.next().unwrap_or_default();
        for (u, k) in parts {
            unit.extend(u);
            unknown.extend(k);
        }
        (self.present, unit, unknown)
    }

    /// Rows `a..b`: their unit numbers, and those whose serial is no unit.
    fn resolve_range(&self, units: &SerialIndex, a: usize, b: usize) -> Part {
        let mut unknown = vec![];
        let unit = (a..b)
            .map(|i| {
                if !self.present[i] {
                    return None;
                }
                let serial = text(&self.bytes, &self.ends, i as u32);
                let u = units.get(serial);
                if u.is_none() {
                    unknown.push((i, serial.into()));
                }
                u
            })
            .collect();
        (unit, unknown)
    }
}

/// A part of `resolve`'s answer: the unit numbers of some rows, and those
/// of them whose serial is no unit.
type Part = (Vec<Option<u32>>, Vec<(usize, Box<[u8]>)>);

/// Lists of at least this many rows are looked up in parts side by side.
const RESOLVE_SPLIT_AT: usize = 100_000;
/// In how many parts.
const RESOLVE_PARTS: usize = 2;

/// Entry `i`'s bytes in an arena (empty for an unknown entry).
fn text<'a>(bytes: &'a [u8], ends: &[u32], i: u32) -> &'a [u8] {
    let i = i as usize;
    let Some(&end) = ends.get(i) else {
        return &[];
    };
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    &bytes[start..end as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_saved_as_parts_reads_back_the_same() {
        let mut ix = SerialIndex::new();
        for i in 0..5_000 {
            ix.insert(format!("SN-{i:05}").as_bytes()).ok();
        }
        ix.insert("序列-1".as_bytes()).ok();
        let (bytes, ends) = ix.parts();
        let back = SerialIndex::from_parts(bytes.to_vec(), ends.to_vec()).expect("read back");
        assert_eq!(back.len(), 5_001);
        for i in [0u32, 1, 4_999, 5_000] {
            assert_eq!(back.serial(i), ix.serial(i));
            assert_eq!(back.get(ix.serial(i).as_bytes()), Some(i));
        }
        assert_eq!(back.get(b"SN-99999"), None);
        // Offsets that fall, run past the arena or leave bytes over, and
        // text that is not UTF-8, are refused.
        assert!(SerialIndex::from_parts(b"abcd".to_vec(), vec![3, 2, 4]).is_err());
        assert!(SerialIndex::from_parts(b"abcd".to_vec(), vec![2, 5]).is_err());
        assert!(SerialIndex::from_parts(b"abcd".to_vec(), vec![2, 3]).is_err());
        assert!(SerialIndex::from_parts(vec![0xff, 0xfe], vec![2]).is_err());
        assert!(SerialIndex::from_parts(vec![], vec![]).is_ok_and(|ix| ix.is_empty()));
    }

    #[test]
    fn serials_get_one_number_each_and_read_back() {
        let mut ix = SerialIndex::new();
        let a = ix.insert(b"SN-A").ok();
        let b = ix.insert(b"SN-B").ok();
        let again = ix.insert(b"SN-A").ok();
        assert_eq!(
            (a, b, again),
            (Some((0, true)), Some((1, true)), Some((0, false)))
        );
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.get(b"SN-B"), Some(1));
        assert_eq!(ix.get(b"SN-C"), None);
        assert_eq!(ix.get(b""), None);
        assert_eq!(
            (ix.serial(0), ix.serial(1), ix.serial(7)),
            ("SN-A", "SN-B", "")
        );
        // Many serials, with the table growing (rehashing) many times.
        for n in 0..20_000 {
            assert_eq!(
                ix.insert(format!("X{n:06}").as_bytes()).ok(),
                Some((n + 2, true))
            );
        }
        ix.shrink();
        assert_eq!(ix.len(), 20_002);
        assert_eq!(ix.get(b"X012345"), Some(12_347));
        assert_eq!(ix.serial(12_347), "X012345");
        assert_eq!(ix.get(b"SN-A"), Some(0));

        // Rows' serials resolved to units: NULL, shipped, never shipped.
        let mut rows = SerialList::new();
        for s in [Some("X000003"), None, Some("NEVER"), Some("SN-B"), Some("")] {
            rows.push(s.map(str::as_bytes)).unwrap_or_default();
        }
        let (present, unit, unknown) = rows.resolve(&ix);
        assert_eq!(present, [true, false, true, true, true]);
        assert_eq!(unit, [Some(5), None, None, Some(1), None]);
        let unknown: Vec<(usize, &[u8])> = unknown.iter().map(|(i, s)| (*i, &s[..])).collect();
        assert_eq!(unknown, [(2, &b"NEVER"[..]), (4, &b""[..])]);
    }

    #[test]
    fn a_long_list_looked_up_in_parts_keeps_each_row_in_its_place() {
        let mut ix = SerialIndex::new();
        for n in 0..1_000 {
            ix.insert(format!("K{n}").as_bytes()).ok();
        }
        // Rows cycle through: a shipped unit, no serial, a serial never
        // shipped; long enough to be split.
        let rows = RESOLVE_SPLIT_AT + 7;
        let serial = |i: usize| match i % 3 {
            0 => Some(format!("K{}", i % 1_000)),
            1 => None,
            _ => Some(format!("U{i}")),
        };
        let mut list = SerialList::new();
        for i in 0..rows {
            list.push(serial(i).as_deref().map(str::as_bytes))
                .unwrap_or_default();
        }
        let (present, unit, unknown) = list.resolve(&ix);
        assert_eq!(unit.len(), rows);
        assert_eq!(present.len(), rows);
        for i in 0..rows {
            let want = serial(i).and_then(|s| ix.get(s.as_bytes()));
            assert_eq!((present[i], unit[i]), (i % 3 != 1, want), "row {i}");
        }
        let want: Vec<(usize, String)> = (0..rows)
            .filter(|i| i % 3 == 2)
            .map(|i| (i, format!("U{i}")))
            .collect();
        let got: Vec<(usize, String)> = unknown
            .into_iter()
            .map(|(i, s)| (i, String::from_utf8_lossy(&s).into_owned()))
            .collect();
        assert_eq!(got, want);
    }
}
