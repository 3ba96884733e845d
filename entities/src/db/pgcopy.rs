//! PostgreSQL's binary COPY format (`COPY (SELECT …) TO STDOUT (FORMAT
//! binary)`), read field by field with no per-row allocation: the cheapest
//! way to stream many rows out of PostgreSQL, for the risk worker's full
//! loads.
//!
//! The format: an 11-byte signature, a 32-bit flags word and a header
//! extension; then per row a 16-bit field count (−1 ends the data) and per
//! field a 32-bit length (−1 is NULL) followed by the value in PostgreSQL's
//! binary send format (integers big-endian, `date` as days and `timestamptz`
//! as microseconds since 2000-01-01).
use futures::StreamExt;
use sqlx::postgres::PgPoolCopyExt;
use sqlx::PgPool;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
pub const PG_EPOCH_DAYS: i32 = 10_957;
/// Seconds from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_SECS: i64 = 946_684_800;

/// An error in the data PostgreSQL sent (never expected from a real server).
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("COPY data: {0}")]
    Format(String),
    #[error("COPY column {col}: {what}")]
    Field { col: usize, what: String },
}

fn field_err(col: usize, what: impl Into<String>) -> anyhow::Error {
    CopyError::Field {
        col,
        what: what.into(),
    }
    .into()
}

/// One row: its fields as (start, length) in the buffer, length −1 is NULL.
pub struct Tuple<'a> {
    buf: &'a [u8],
    fields: &'a [(usize, i32)],
}

impl<'a> Tuple<'a> {
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The raw value of column `i`, `None` for NULL.
    pub fn raw(&self, i: usize) -> anyhow::Result<Option<&'a [u8]>> {
        let (start, len) = *self
            .fields
            .get(i)
            .ok_or_else(|| field_err(i, format!("the row has {} columns", self.fields.len())))?;
        if len < 0 {
            return Ok(None);
        }
        Ok(Some(&self.buf[start..start + len as usize]))
    }

    fn req(&self, i: usize) -> anyhow::Result<&'a [u8]> {
        self.raw(i)?
            .ok_or_else(|| field_err(i, "NULL where a value is required"))
    }

    /// An integer column (`int2`, `int4` or `int8`).
    pub fn opt_i64(&self, i: usize) -> anyhow::Result<Option<i64>> {
        let Some(b) = self.raw(i)? else {
            return Ok(None);
        };
        Ok(Some(match b.len() {
            8 => i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            4 => i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            2 => i64::from(i16::from_be_bytes([b[0], b[1]])),
            n => return Err(field_err(i, format!("an integer of {n} bytes"))),
        }))
    }

    pub fn i64(&self, i: usize) -> anyhow::Result<i64> {
        self.opt_i64(i)?
            .ok_or_else(|| field_err(i, "NULL where a value is required"))
    }

    /// A text column, borrowed from the buffer.
    pub fn opt_str(&self, i: usize) -> anyhow::Result<Option<&'a str>> {
        match self.raw(i)? {
            None => Ok(None),
            Some(b) => std::str::from_utf8(b)
                .map(Some)
                .map_err(|_| field_err(i, "text that is not UTF-8")),
        }
    }

    pub fn str(&self, i: usize) -> anyhow::Result<&'a str> {
        self.opt_str(i)?
            .ok_or_else(|| field_err(i, "NULL where a value is required"))
    }

    /// A `date` column as days since 1970-01-01.
    pub fn day(&self, i: usize) -> anyhow::Result<i32> {
        let b = self.req(i)?;
        if b.len() != 4 {
            return Err(field_err(i, format!("a date of {} bytes", b.len())));
        }
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]) + PG_EPOCH_DAYS)
    }

    /// A `timestamptz` column as microseconds since 1970-01-01 UTC.
    pub fn micros(&self, i: usize) -> anyhow::Result<i64> {
        let b = self.req(i)?;
        if b.len() != 8 {
            return Err(field_err(i, format!("a timestamp of {} bytes", b.len())));
        }
        let v = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        Ok(v + PG_EPOCH_SECS * 1_000_000)
    }
}

/// The parser's state between chunks.
#[derive(Default)]
struct Parser {
    header_done: bool,
    finished: bool,
    rows: u64,
    fields: Vec<(usize, i32)>,
}

impl Parser {
    /// Parses the complete rows at the start of `data`; returns how many
    /// bytes were used (the rest is an incomplete row).
    fn feed<F>(&mut self, data: &[u8], f: &mut F) -> anyhow::Result<usize>
    where
        F: FnMut(&Tuple<'_>) -> anyhow::Result<()>,
    {
        let mut pos = 0;
        if !self.header_done {
            if data.len() < 19 {
                return Ok(0);
            }
            if &data[..11] != SIGNATURE {
                return Err(CopyError::Format("not the binary COPY signature".into()).into());
            }
            let ext = u32::from_be_bytes([data[15], data[16], data[17], data[18]]) as usize;
            if data.len() < 19 + ext {
                return Ok(0);
            }
            pos = 19 + ext;
            self.header_done = true;
        }
        while !self.finished {
            let Some(head) = data.get(pos..pos + 2) else {
                break;
            };
            let n = i16::from_be_bytes([head[0], head[1]]);
            if n == -1 {
                self.finished = true;
                pos += 2;
                break;
            }
            if n < 0 {
                return Err(CopyError::Format(format!("a row of {n} fields")).into());
            }
            let mut p = pos + 2;
            self.fields.clear();
            let mut complete = true;
            for _ in 0..n {
                let Some(l) = data.get(p..p + 4) else {
                    complete = false;
                    break;
                };
                let len = i32::from_be_bytes([l[0], l[1], l[2], l[3]]);
                p += 4;
                if len >= 0 {
                    if data.len() < p + len as usize {
                        complete = false;
                        break;
                    }
                    self.fields.push((p, len));
                    p += len as usize;
                } else {
                    self.fields.push((p, -1));
                }
            }
            if !complete {
                break;
            }
            f(&Tuple {
                buf: data,
                fields: &self.fields,
            })?;
            self.rows += 1;
            pos = p;
        }
        Ok(pos)
    }
}

/// Streams the rows of `select` (a query) through `f`, in the order
/// PostgreSQL sends them; returns the number of rows.
pub async fn copy_rows<F>(pool: &PgPool, select: &str, mut f: F) -> anyhow::Result<u64>
where
    F: FnMut(&Tuple<'_>) -> anyhow::Result<()>,
{
    let sql = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
    let mut stream = pool.copy_out_raw(&sql).await?;
    let mut parser = Parser::default();
    // Bytes of an incomplete row carried over to the next chunk (PostgreSQL
    // sends a row per message, so this is usually empty).
    let mut carry: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if carry.is_empty() {
            let used = parser.feed(&chunk, &mut f)?;
            carry.extend_from_slice(&chunk[used..]);
        } else {
            carry.extend_from_slice(&chunk);
            let used = parser.feed(&carry, &mut f)?;
            carry.drain(..used);
        }
    }
    if !parser.finished {
        return Err(CopyError::Format("the data ended before its end marker".into()).into());
    }
    if !carry.is_empty() {
        return Err(
            CopyError::Format(format!("{} bytes after the end marker", carry.len())).into(),
        );
    }
    Ok(parser.rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        for r in rows {
            out.extend_from_slice(&(r.len() as i16).to_be_bytes());
            for f in r {
                match f {
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(b) => {
                        out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                        out.extend_from_slice(b);
                    }
                }
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    /// Rows split at every possible byte boundary come out whole and equal.
    #[test]
    fn parses_rows_split_anywhere() {
        let rows = vec![
            vec![
                Some(7i64.to_be_bytes().to_vec()),
                Some(b"SN-1".to_vec()),
                None,
                Some((-3i32).to_be_bytes().to_vec()),
            ],
            vec![
                Some((-9i64).to_be_bytes().to_vec()),
                Some("华北".as_bytes().to_vec()),
                Some(1i32.to_be_bytes().to_vec()),
                Some(2i16.to_be_bytes().to_vec()),
            ],
        ];
        let data = encode(&rows);
        for cut in 0..data.len() {
            let mut parser = Parser::default();
            let mut got: Vec<(i64, String, Option<i64>, i64)> = vec![];
            let mut f = |t: &Tuple<'_>| {
                got.push((t.i64(0)?, t.str(1)?.to_owned(), t.opt_i64(2)?, t.i64(3)?));
                Ok(())
            };
            let used = parser.feed(&data[..cut], &mut f).unwrap();
            let mut rest = data[used..cut].to_vec();
            rest.extend_from_slice(&data[cut..]);
            let used2 = parser.feed(&rest, &mut f).unwrap();
            assert_eq!(used2, rest.len(), "cut at {cut}");
            assert!(parser.finished);
            assert_eq!(
                got,
                vec![
                    (7, "SN-1".into(), None, -3),
                    (-9, "华北".into(), Some(1), 2)
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_binary_copy() {
        let mut parser = Parser::default();
        let mut f = |_: &Tuple<'_>| Ok(());
        let e = parser
            .feed(b"id,serial\n1,SN-1\n\n\n\n\n\n\n\n\n\n", &mut f)
            .unwrap_err();
        assert!(e.to_string().contains("signature"), "{e}");
    }

    #[test]
    fn a_null_where_a_value_is_required_is_an_error() {
        let data = encode(&[vec![None]]);
        let mut parser = Parser::default();
        let mut f = |t: &Tuple<'_>| t.i64(0).map(|_| ());
        let e = parser.feed(&data, &mut f).unwrap_err();
        assert!(e.to_string().contains("column 0"), "{e}");
    }
}
