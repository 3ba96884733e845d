//! A lean HTTP/1.1 client for the chain benchmark's load: one kept-alive
//! TCP connection per client task, one `write` per request, the response
//! read into a buffer that is reused. It speaks plain HTTP/1.1 to the real
//! server, as a browser or `wrk` would, but spends a fraction of the CPU of
//! a general-purpose client (reqwest: a connection pool, a dispatch task
//! per connection, header maps). The benchmark shares the machine with the
//! server and PostgreSQL, as `pgbench`'s own lean client does, so the load
//! generator's CPU is CPU the system under test does not get.
use anyhow::{anyhow, bail, Context};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Responses larger than this are refused (a benchmark answer is a few KB).
const MAX_RESPONSE: usize = 16 << 20;

pub struct Conn {
    /// `host:port` of the server.
    addr: String,
    stream: Option<TcpStream>,
    out: Vec<u8>,
    buf: Vec<u8>,
}

impl Conn {
    /// `base` is the server's `http://host:port`.
    pub fn new(base: &str) -> anyhow::Result<Conn> {
        let addr = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("the lean client speaks plain http, not `{base}`"))?
            .trim_end_matches('/');
        if addr.contains('/') {
            bail!("the server's base URL must have no path: `{base}`");
        }
        Ok(Conn {
            addr: addr.to_owned(),
            stream: None,
            out: Vec::with_capacity(4096),
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// POSTs a GraphQL request body (JSON) to `/graphql` and returns the
    /// parsed response. Any status but 200 is an error.
    pub async fn graphql(&mut self, token: Option<&str>, body: &[u8]) -> anyhow::Result<Value> {
        use std::io::Write;
        self.out.clear();
        write!(
            self.out,
            "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n",
            self.addr
        )?;
        if let Some(t) = token {
            write!(self.out, "Authorization: Bearer {t}\r\n")?;
        }
        write!(self.out, "Content-Length: {}\r\n\r\n", body.len())?;
        self.out.extend_from_slice(body);

        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(&self.addr)
                    .await
                    .with_context(|| format!("connecting to {}", self.addr))?;
                s.set_nodelay(true)?;
                self.stream.insert(s)
            }
        };
        let res = exchange(stream, &self.out, &mut self.buf).await;
        match res {
            Ok((keep, value)) => {
                if !keep {
                    self.stream = None;
                }
                Ok(value)
            }
            Err(e) => {
                // The connection's state is unknown: the next request opens
                // a new one.
                self.stream = None;
                Err(e)
            }
        }
    }
}

/// Sends one request and reads its response. Returns whether the
/// connection may be used again, and the body parsed as JSON.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> anyhow::Result<(bool, Value)> {
    stream
        .write_all(request)
        .await
        .context("sending the request")?;
    buf.clear();
    // The head.
    let (head_len, status, length, chunked, close) = loop {
        read_more(stream, buf).await?;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(buf).context("a malformed response")? {
            httparse::Status::Partial => continue,
            httparse::Status::Complete(n) => {
                let mut length = None;
                let (mut chunked, mut close) = (false, false);
                for h in resp.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        let v = std::str::from_utf8(h.value).unwrap_or("");
                        length = Some(v.trim().parse::<usize>().context("Content-Length")?);
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = h.value.eq_ignore_ascii_case(b"chunked");
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        close = h.value.eq_ignore_ascii_case(b"close");
                    }
                }
                break (n, resp.code.unwrap_or(0), length, chunked, close);
            }
        }
    };
    // The body, parsed where it was read (a chunked one is joined first).
    let joined;
    let body: &[u8] = if chunked {
        joined = read_chunked(stream, buf, head_len).await?;
        &joined
    } else {
        let n = length.ok_or_else(|| anyhow!("a response with no length"))?;
        if n > MAX_RESPONSE {
            bail!("a response of {n} bytes");
        }
        while buf.len() < head_len + n {
            read_more(stream, buf).await?;
        }
        &buf[head_len..head_len + n]
    };
    let value: Value = serde_json::from_slice(body).context("the response is not JSON")?;
    if status != 200 {
        bail!("HTTP {status}: {value}");
    }
    Ok((!close, value))
}

/// Reads what the socket has into `buf`; an error at the end of the stream.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    if buf.len() > MAX_RESPONSE {
        bail!("a response over {MAX_RESPONSE} bytes");
    }
    buf.reserve(8192);
    let n = stream.read_buf(buf).await.context("reading the response")?;
    if n == 0 {
        bail!("the server closed the connection mid-response");
    }
    Ok(())
}

/// Decodes a chunked body that starts at `buf[at..]`.
async fn read_chunked(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    mut at: usize,
) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let (size_len, size) = loop {
            match httparse::parse_chunk_size(&buf[at..]) {
                Ok(httparse::Status::Complete((n, size))) => break (n, size as usize),
                Ok(httparse::Status::Partial) => read_more(stream, buf).await?,
                Err(_) => bail!("a malformed chunk size"),
            }
        };
        at += size_len;
        // The chunk's data and its closing CRLF (also after the last, empty
        // chunk, when there are no trailers).
        while buf.len() < at + size + 2 {
            read_more(stream, buf).await?;
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
        if size == 0 {
            return Ok(body);
        }
        if body.len() > MAX_RESPONSE {
            bail!("a response over {MAX_RESPONSE} bytes");
        }
    }
}
