//! A tiny HTTP/1.1 file server on 127.0.0.1 for tests and benches (no internet needed):
//! serves the files of a folder with `Range: bytes=a-b` support and keep-alive, counts the
//! requests, and can misbehave in the ways remote object stores do.
//! (chronomap-data's tests and the `http` bench include this file with `#[path]`.)
#![allow(dead_code)]

use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How the server answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Like a static file server / object store: 206 for ranges, 404 for missing files.
    Normal,
    /// 404 for everything.
    NotFound,
    /// 500 for everything.
    Fail500,
    /// Normal for the first `n` requests, then 500.
    FailAfter(usize),
    /// Ignores `Range`: 200 with the whole file.
    IgnoreRange,
    /// Reads the request and never answers (holds the connection for a minute).
    Stall,
    /// 206 whose `Content-Range` names the bytes one further than asked.
    WrongRange,
    /// 206 with the right `Content-Range` and ten bytes more body than asked.
    LongBody,
    /// 206 whose body stops halfway (the connection closes).
    ShortBody,
}

/// A running server (its threads end with the test process).
pub struct Server {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl Server {
    /// Serves the files of `dir` in `mode` on a free port.
    pub fn start(dir: impl Into<PathBuf>, mode: Mode) -> Server {
        let dir = Arc::new(dir.into());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (dir, counter) = (dir.clone(), counter.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &dir, mode, &counter);
                });
            }
        });
        Server { port, requests }
    }

    /// The URL of file `name` of the folder.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// Requests answered (or stalled) so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// `(first, last)` of `bytes=a-b` / `bytes=a-` (`last` clamped to the file).
fn parse_range(v: &str, len: u64) -> Option<(u64, u64)> {
    let (a, b) = v.trim().strip_prefix("bytes=")?.split_once('-')?;
    let a: u64 = a.trim().parse().ok()?;
    let b = match b.trim() {
        "" => len.saturating_sub(1),
        b => b.parse::<u64>().ok()?.min(len.saturating_sub(1)),
    };
    Some((a, b))
}

fn head(
    w: &mut impl Write,
    status: &str,
    extra: &[String],
    body_len: usize,
) -> std::io::Result<()> {
    let mut h = format!("HTTP/1.1 {status}\r\nContent-Length: {body_len}\r\n");
    for e in extra {
        h.push_str(e);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    w.write_all(h.as_bytes())
}

fn serve(
    stream: TcpStream,
    dir: &std::path::Path,
    mode: Mode,
    counter: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = BufWriter::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut range = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("range")
            {
                range = Some(v.trim().to_string());
            }
        }
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mode = match mode {
            Mode::FailAfter(k) if n > k => Mode::Fail500,
            Mode::FailAfter(_) => Mode::Normal,
            m => m,
        };
        match mode {
            Mode::Stall => {
                std::thread::sleep(Duration::from_secs(60));
                return Ok(());
            }
            Mode::NotFound => {
                head(&mut w, "404 Not Found", &[], 0)?;
                w.flush()?;
                continue;
            }
            Mode::Fail500 => {
                head(&mut w, "500 Internal Server Error", &[], 5)?;
                w.write_all(b"oops!")?;
                w.flush()?;
                continue;
            }
            _ => {}
        }
        let name = target
            .trim_start_matches('/')
            .split('?')
            .next()
            .unwrap_or("");
        let Ok(mut file) = std::fs::File::open(dir.join(name)) else {
            head(&mut w, "404 Not Found", &[], 0)?;
            w.flush()?;
            continue;
        };
        let len = file.metadata()?.len();
        let ranged = range.as_deref().and_then(|r| parse_range(r, len));
        let Some((a, b)) = ranged.filter(|_| mode != Mode::IgnoreRange) else {
            let data = std::fs::read(dir.join(name))?;
            head(
                &mut w,
                "200 OK",
                &["Accept-Ranges: none".into()],
                data.len(),
            )?;
            w.write_all(&data)?;
            w.flush()?;
            continue;
        };
        if a >= len {
            let cr = format!("Content-Range: bytes */{len}");
            head(&mut w, "416 Range Not Satisfiable", &[cr], 0)?;
            w.flush()?;
            continue;
        }
        // only the bytes asked for are read from the file
        let mut body = vec![0u8; (b - a + 1) as usize];
        file.seek(SeekFrom::Start(a))?;
        file.read_exact(&mut body)?;
        let body = &body[..];
        let (ca, cb) = if mode == Mode::WrongRange {
            (a + 1, (b + 1).min(len - 1))
        } else {
            (a, b)
        };
        let cr = format!("Content-Range: bytes {ca}-{cb}/{len}");
        match mode {
            Mode::LongBody => {
                head(&mut w, "206 Partial Content", &[cr], body.len() + 10)?;
                w.write_all(body)?;
                w.write_all(&[0u8; 10])?;
            }
            Mode::ShortBody => {
                head(&mut w, "206 Partial Content", &[cr], body.len())?;
                w.write_all(&body[..body.len() / 2])?;
                w.flush()?;
                return Ok(()); // closes the connection mid-body
            }
            _ => {
                head(&mut w, "206 Partial Content", &[cr], body.len())?;
                w.write_all(body)?;
            }
        }
        w.flush()?;
    }
}
