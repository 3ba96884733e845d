//! A small SMTP server for the tests (EHLO/HELO, MAIL FROM, RCPT TO, DATA,
//! RSET, NOOP, QUIT) on port 0 that keeps what it receives; it can be told
//! to refuse mail (554 at the greeting), as a server that will not take it.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A message as received: the envelope and the raw data (dot-unstuffed).
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Clone)]
pub struct SmtpServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    refuse: Arc<AtomicBool>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

fn path(arg: &str) -> String {
    let a = arg.trim();
    match (a.find('<'), a.rfind('>')) {
        (Some(s), Some(e)) if s < e => a[s + 1..e].to_owned(),
        _ => a.to_owned(),
    }
}

async fn session(
    stream: TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    refuse: bool,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    if refuse {
        w.write_all(b"554 5.3.2 test server refuses mail\r\n")
            .await?;
        return Ok(());
    }
    w.write_all(b"220 test.local ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::<String>::new());
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let upper = text.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-test.local\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            w.write_all(b"250 test.local\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = path(&text[10..]);
            to.clear();
            w.write_all(b"250 2.1.0 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(path(&text[8..]));
            w.write_all(b"250 2.1.5 OK\r\n").await?;
        } else if upper == "DATA" {
            w.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line).await? == 0 {
                    return Ok(());
                }
                if line == b".\r\n" || line == b".\n" {
                    break;
                }
                let l: &[u8] = if line.starts_with(b"..") {
                    &line[1..]
                } else {
                    &line
                };
                data.extend_from_slice(l);
            }
            if let Ok(mut v) = received.lock() {
                v.push(Received {
                    from: from.clone(),
                    to: to.clone(),
                    data,
                });
            }
            w.write_all(b"250 2.0.0 queued\r\n").await?;
        } else if upper == "RSET" || upper == "NOOP" {
            w.write_all(b"250 OK\r\n").await?;
        } else if upper == "QUIT" {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"502 5.5.2 not implemented\r\n").await?;
        }
    }
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP");
        let addr = listener.local_addr().expect("SMTP address");
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let refuse = Arc::new(AtomicBool::new(false));
        let (rx, rf) = (received.clone(), refuse.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (rx, refusing) = (rx.clone(), rf.load(Ordering::SeqCst));
                tokio::spawn(async move {
                    let _ = session(stream, rx, refusing).await;
                });
            }
        });
        SmtpServer {
            addr,
            received,
            refuse,
            task: Arc::new(task),
        }
    }

    /// Refuse (554) or accept new connections.
    pub fn refuse(&self, yes: bool) {
        self.refuse.store(yes, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|v| v.clone()).unwrap_or_default()
    }
}
