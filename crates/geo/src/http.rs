//! Rasters over HTTP(S): Cloud-Optimized GeoTIFFs (and any TIFF or JPEG 2000 file) read with
//! range requests, without downloading them.
//!
//! [`GeoTiffReader::open`](crate::GeoTiffReader::open) reads a path whose text starts with
//! `http://` or `https://` (or GDAL's `/vsicurl/http...`, see [`is_url`]) through an
//! [`HttpSource`]; every other method then works as on a local file, and only the bytes the
//! reads need travel: the header, then the tiles a window touches.
//!
//! # What is requested
//! - **Open**: one `GET` with `Range: bytes=0-65535` (the first [`BLOCK_BYTES`]). Its
//!   `206 Partial Content` answer's `Content-Range: bytes 0-65535/TOTAL` gives the file's
//!   length, and its bytes (the TIFF header and, in a COG, the IFDs and tile tables) fill the
//!   block cache. No `HEAD` is sent: some servers (S3 presigned URLs) refuse it.
//! - **Reads** of up to [`BLOCK_BYTES`] (tags, IFDs, small tiles) go through a small cache of
//!   64 KiB-aligned blocks ([`HttpOptions::cache_bytes`], 4 MiB by default, least recently
//!   used out): the many tiny header reads of a TIFF cost one request per block, not one per
//!   read. Larger reads (tiles) are one `GET` of exactly their byte range into the caller's
//!   buffer; the reader's own decoded-tile cache keeps them.
//! - Every answer to a range request must be `206 Partial Content` with a `Content-Range`
//!   naming exactly the bytes asked for and the length learnt at open, and a body of exactly
//!   that many bytes: a longer body is an error, never a larger buffer.
//! - A server that ignores `Range` (answers `200 OK` with the whole file) is accepted for
//!   files of at most [`SMALL_FILE_BYTES`] (1 MiB), which are then held in memory whole;
//!   for larger files it is [`HttpProblem::RangeIgnored`] (and the body is not read).
//! - Redirects are followed (ureq's default, up to 10); proxies come from `HTTP_PROXY`,
//!   `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`. `https://` uses rustls with the Mozilla
//!   root certificates (webpki-roots); no system library is needed.
//!
//! # Timeouts and retries
//! Connecting may take 10 s, a whole request (connecting, waiting, receiving the body)
//! 30 s. A request that fails for a connection error, a timeout, a body cut short, `408`,
//! `429` or a `5xx` status is retried after 200 ms, then 400 ms, 800 ms, ...: 3 attempts in
//! all by default. `404` / `410` ([`HttpProblem::NotFound`]) and other `4xx` statuses are not
//! retried. Two environment variables change the defaults ([`HttpOptions::from_env`]):
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `CHRONOMAP_HTTP_TIMEOUT_S` | seconds one request may take (decimal, > 0) | 30 |
//! | `CHRONOMAP_HTTP_RETRIES` | retries after a failed attempt (0 = none, at most 10) | 2 |
//!
//! Values that do not parse are ignored. Failures are [`Error::Http`] naming the URL, with
//! an [`HttpProblem`] saying what went wrong.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, HttpProblem, Result};
use crate::tiff_format::source::ByteSource;

/// Size of the blocks of an [`HttpSource`]'s cache, and of the first request: 64 KiB.
pub const BLOCK_BYTES: usize = 64 << 10;
/// Default budget of an [`HttpSource`]'s block cache: 4 MiB (64 blocks).
pub const DEFAULT_HTTP_CACHE_BYTES: usize = 4 << 20;
/// Largest file accepted from a server that ignores `Range` (answers `200` with the whole
/// body): 1 MiB. Larger files fail with [`HttpProblem::RangeIgnored`].
pub const SMALL_FILE_BYTES: u64 = 1 << 20;

/// The environment variable overriding [`HttpOptions::timeout`] (seconds).
pub const TIMEOUT_ENV: &str = "CHRONOMAP_HTTP_TIMEOUT_S";
/// The environment variable overriding [`HttpOptions::retries`].
pub const RETRIES_ENV: &str = "CHRONOMAP_HTTP_RETRIES";

/// Whether `path` names a file over HTTP(S): its text starts with `http://` or `https://`
/// (scheme in any case), or with GDAL's `/vsicurl/` followed by such a URL. Such paths are
/// opened by [`GeoTiffReader::open`](crate::GeoTiffReader::open) with range requests, and
/// must not be joined to a folder or checked with [`Path::exists`].
///
/// ```
/// use std::path::Path;
/// assert!(chronomap_geo::is_url(Path::new("https://example.com/B04.tif")));
/// assert!(chronomap_geo::is_url(Path::new("/vsicurl/http://example.com/B04.tif")));
/// assert!(!chronomap_geo::is_url(Path::new("data/B04.tif")));
/// ```
pub fn is_url(path: &Path) -> bool {
    url_of(path).is_some()
}

/// The URL a path names (see [`is_url`]): the path's text, less a `/vsicurl/` prefix.
pub(crate) fn url_of(path: &Path) -> Option<&str> {
    let s = path.to_str()?;
    let s = s.strip_prefix("/vsicurl/").unwrap_or(s);
    let scheme = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    (scheme("http://") || scheme("https://")).then_some(s)
}

/// How an [`HttpSource`] talks to the server.
///
/// [`Default`] gives the built-in values; [`from_env`](Self::from_env) applies the
/// environment variables over them (what [`GeoTiffReader::open`](crate::GeoTiffReader::open)
/// uses). Change fields on a value from either:
///
/// ```
/// let mut options = chronomap_geo::http::HttpOptions::default();
/// options.retries = 0;
/// options.timeout = std::time::Duration::from_secs(5);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Longest wait for a connection (TCP and TLS): 10 s.
    pub connect_timeout: Duration,
    /// Longest time one request may take, from connecting to the last byte of its body:
    /// 30 s (`CHRONOMAP_HTTP_TIMEOUT_S`).
    pub timeout: Duration,
    /// Retries after a failed attempt, for the failures worth retrying (see the module
    /// docs): 2, so 3 attempts in all (`CHRONOMAP_HTTP_RETRIES`).
    pub retries: u32,
    /// Wait before the first retry, doubled before each next one: 200 ms.
    pub backoff: Duration,
    /// Budget of the block cache ([`DEFAULT_HTTP_CACHE_BYTES`]; 0 disables it: then every
    /// small read is a request of its blocks).
    pub cache_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            retries: 2,
            backoff: Duration::from_millis(200),
            cache_bytes: DEFAULT_HTTP_CACHE_BYTES,
        }
    }
}

impl HttpOptions {
    /// The defaults, with [`timeout`](Self::timeout) from `CHRONOMAP_HTTP_TIMEOUT_S`
    /// (seconds, decimal, > 0) and [`retries`](Self::retries) from `CHRONOMAP_HTTP_RETRIES`
    /// (at most 10) when they are set and parse.
    pub fn from_env() -> Self {
        let mut o = Self::default();
        let var = |name: &str| std::env::var(name).ok();
        if let Some(s) = var(TIMEOUT_ENV)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
        {
            o.timeout = Duration::from_secs_f64(s.min(86_400.0));
        }
        if let Some(n) = var(RETRIES_ENV).and_then(|v| v.trim().parse::<u32>().ok()) {
            o.retries = n.min(10);
        }
        o
    }
}

/// A file over HTTP(S), read with range requests (see the [module docs](self)).
///
/// Reads take `&self` and may come from many threads at once (`HttpSource: Send + Sync`):
/// they share the connection pool and the block cache.
pub struct HttpSource {
    url: String,
    agent: ureq::Agent,
    options: HttpOptions,
    len: u64,
    /// The whole file, when the server ignored `Range` on a small file.
    whole: Option<Vec<u8>>,
    cache: Mutex<BlockCache>,
    requests: AtomicU64,
}

impl std::fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSource")
            .field("url", &self.url)
            .field("len", &self.len)
            .field("requests", &self.requests())
            .finish()
    }
}

/// A failed attempt: whether it is worth retrying, and what went wrong.
type Fault = (bool, HttpProblem);

impl HttpSource {
    /// Opens `url` with [`HttpOptions::from_env`]: one range request of its first
    /// [`BLOCK_BYTES`], which gives its length.
    ///
    /// # Errors
    /// [`Error::Http`] naming `url`: not found, a server that ignores ranges on a file over
    /// 1 MiB, a malformed `Content-Range`, a status, timeout or connection failure that
    /// outlasted the retries.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &HttpOptions::from_env())
    }

    /// Opens `url` with `options`.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(url: &str, options: &HttpOptions) -> Result<Self> {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .user_agent(format!("chronomap/{}", env!("CARGO_PKG_VERSION")))
            .accept_encoding("identity")
            .build();
        let mut source = HttpSource {
            url: url.to_string(),
            agent: config.into(),
            options: options.clone(),
            len: 0,
            whole: None,
            cache: Mutex::new(BlockCache::new(options.cache_bytes)),
            requests: AtomicU64::new(0),
        };
        source.probe().map_err(|problem| source.error(problem))?;
        Ok(source)
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// HTTP requests sent so far (every attempt counts), the opening one included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Fills `buf` with the bytes at `offset` (from the block cache, or requested).
    ///
    /// # Errors
    /// [`Error::Http`] when the request fails; [`Error::Io`] (unexpected end of file) when
    /// the range goes past the end of the file.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        ByteSource::read_exact_at(self, buf, offset).map_err(|e| Error::io(&self.url, e))
    }

    fn error(&self, problem: HttpProblem) -> Error {
        Error::Http {
            url: self.url.clone(),
            problem,
        }
    }

    /// The opening request: the first block, and the length from its `Content-Range`.
    fn probe(&mut self) -> std::result::Result<(), HttpProblem> {
        let want = BLOCK_BYTES as u64;
        let got = self.retrying(|n| {
            let mut resp = self.get(0, want, n)?;
            let status = resp.status().as_u16();
            match status {
                206 => {
                    let (a, b, total) = self.content_range(&resp)?;
                    let Some(total) = total else {
                        return Err((false, bad_range("the total length is `*` (unknown)")));
                    };
                    let end = want.min(total);
                    if a != 0 || b.checked_add(1) != Some(end) {
                        return Err((
                            false,
                            bad_range(&format!(
                                "asked for bytes 0-{} of a {total}-byte file, got {a}-{b}",
                                end.saturating_sub(1)
                            )),
                        ));
                    }
                    let mut block = vec![0u8; end as usize];
                    read_body(resp.body_mut(), &mut block, n, &self.options)?;
                    Ok(Probe::Ranged(total, block))
                }
                200 => {
                    // the server ignores Range: acceptable for a small file only
                    let big = resp
                        .body()
                        .content_length()
                        .is_some_and(|l| l > SMALL_FILE_BYTES);
                    if big {
                        return Err((false, HttpProblem::RangeIgnored));
                    }
                    let declared = resp.body().content_length();
                    let mut whole = Vec::new();
                    let r = resp
                        .body_mut()
                        .with_config()
                        .limit(SMALL_FILE_BYTES)
                        .reader()
                        .read_to_end(&mut whole);
                    match r {
                        Ok(_) => Ok(Probe::Whole(whole)),
                        Err(e) => {
                            let got = whole.len() as u64;
                            let expected = declared.unwrap_or(got);
                            Err(body_fault(e, expected, got, n, &self.options)
                                .unwrap_or((false, HttpProblem::RangeIgnored)))
                        }
                    }
                }
                416 => {
                    // an empty file: nothing to give from byte 0
                    match self.content_range_text(&resp).and_then(parse_unsatisfied) {
                        Some(0) => Ok(Probe::Ranged(0, Vec::new())),
                        _ => Err((false, bad_range("416 Range Not Satisfiable for bytes 0-"))),
                    }
                }
                _ => Err(status_fault(status, n)),
            }
        })?;
        match got {
            Probe::Ranged(total, block) => {
                self.len = total;
                if !block.is_empty() {
                    self.cache_mut().put(0, Arc::new(block));
                }
            }
            Probe::Whole(bytes) => {
                self.len = bytes.len() as u64;
                self.whole = Some(bytes);
            }
        }
        Ok(())
    }

    fn cache_mut(&self) -> std::sync::MutexGuard<'_, BlockCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `attempt` (given its 1-based number) until it succeeds, fails for good, or has
    /// used up the retries, sleeping 200 ms, 400 ms, ... between attempts.
    fn retrying<T>(
        &self,
        mut attempt: impl FnMut(u32) -> std::result::Result<T, Fault>,
    ) -> std::result::Result<T, HttpProblem> {
        let attempts = self.options.retries.saturating_add(1);
        let mut n = 1;
        loop {
            match attempt(n) {
                Ok(v) => return Ok(v),
                Err((true, _)) if n < attempts => {
                    let wait = self.options.backoff.saturating_mul(1 << (n - 1).min(16));
                    std::thread::sleep(wait);
                    n += 1;
                }
                Err((_, problem)) => return Err(problem),
            }
        }
    }

    /// Sends `GET` with `Range: bytes=start-(start+len-1)` (attempt `n`).
    fn get(
        &self,
        start: u64,
        len: u64,
        n: u32,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, Fault> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let range = format!("bytes={start}-{}", start + len - 1);
        self.agent
            .get(&self.url)
            .header("Range", &range)
            .call()
            .map_err(|e| call_fault(e, n, &self.options))
    }

    fn content_range_text<'r>(
        &self,
        resp: &'r ureq::http::Response<ureq::Body>,
    ) -> Option<&'r str> {
        resp.headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
    }

    /// `(first, last, total)` of the answer's `Content-Range: bytes first-last/total`.
    fn content_range(
        &self,
        resp: &ureq::http::Response<ureq::Body>,
    ) -> std::result::Result<(u64, u64, Option<u64>), Fault> {
        let text = self.content_range_text(resp).ok_or_else(|| {
            (
                false,
                bad_range("206 Partial Content without a Content-Range"),
            )
        })?;
        parse_content_range(text)
            .ok_or_else(|| (false, bad_range(&format!("cannot parse {text:?}"))))
    }

    /// One ranged `GET` of exactly `buf.len()` bytes at `start` into `buf`, retried.
    fn fetch(&self, start: u64, buf: &mut [u8]) -> std::result::Result<(), HttpProblem> {
        let len = buf.len() as u64;
        let last = start + len - 1;
        self.retrying(|n| {
            let mut resp = self.get(start, len, n)?;
            let status = resp.status().as_u16();
            match status {
                206 => {}
                200 => return Err((false, HttpProblem::RangeIgnored)),
                416 => {
                    return Err((
                        false,
                        bad_range(&format!(
                            "416 Range Not Satisfiable for bytes {start}-{last} of a {}-byte file (did it shrink?)",
                            self.len
                        )),
                    ));
                }
                _ => return Err(status_fault(status, n)),
            }
            let (a, b, total) = self.content_range(&resp)?;
            if (a, b) != (start, last) {
                return Err((
                    false,
                    bad_range(&format!("asked for bytes {start}-{last}, got {a}-{b}")),
                ));
            }
            if let Some(t) = total.filter(|t| *t != self.len) {
                return Err((
                    false,
                    bad_range(&format!(
                        "the file's length changed from {} to {t} bytes",
                        self.len
                    )),
                ));
            }
            read_body(resp.body_mut(), buf, n, &self.options)
        })
    }

    /// Bytes `offset..offset + buf.len()` (at most one block long) through the block cache.
    fn read_cached(&self, buf: &mut [u8], offset: u64) -> std::result::Result<(), HttpProblem> {
        let block = BLOCK_BYTES as u64;
        let (b0, b1) = (offset / block, (offset + buf.len() as u64 - 1) / block);
        let mut blocks: Vec<Option<Arc<Vec<u8>>>> = {
            let mut cache = self.cache_mut();
            (b0..=b1).map(|b| cache.get(b)).collect()
        };
        if let (Some(first), Some(last)) = (
            blocks.iter().position(Option::is_none),
            blocks.iter().rposition(Option::is_none),
        ) {
            // the missing blocks (at most two, adjacent): one request
            let start = (b0 + first as u64) * block;
            let end = ((b0 + last as u64 + 1) * block).min(self.len);
            let mut bytes = vec![0u8; (end - start) as usize];
            self.fetch(start, &mut bytes)?;
            let mut cache = self.cache_mut();
            for (i, chunk) in bytes.chunks(BLOCK_BYTES).enumerate() {
                let b = first + i;
                let data = Arc::new(chunk.to_vec());
                cache.put(b0 + b as u64, data.clone());
                blocks[b] = Some(data);
            }
        }
        let mut at = offset;
        let mut out = &mut buf[..];
        for (i, data) in blocks.iter().enumerate() {
            let data = data.as_ref().expect("every block was fetched");
            let base = (b0 + i as u64) * block;
            let from = (at - base) as usize;
            let n = (data.len() - from).min(out.len());
            let (head, rest) = out.split_at_mut(n);
            head.copy_from_slice(&data[from..from + n]);
            out = rest;
            at += n as u64;
        }
        Ok(())
    }
}

impl ByteSource for HttpSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(whole) = &self.whole {
            let start = offset as usize;
            buf.copy_from_slice(&whole[start..start + buf.len()]);
            return Ok(());
        }
        let r = if buf.len() <= BLOCK_BYTES {
            self.read_cached(buf, offset)
        } else {
            self.fetch(offset, buf)
        };
        r.map_err(|problem| {
            let kind = match problem {
                HttpProblem::NotFound => io::ErrorKind::NotFound,
                HttpProblem::Timeout { .. } => io::ErrorKind::TimedOut,
                _ => io::ErrorKind::Other,
            };
            io::Error::new(
                kind,
                HttpFailure {
                    url: self.url.clone(),
                    problem,
                },
            )
        })
    }
}

/// An HTTP failure travelling inside an [`io::Error`] (byte sources speak `io`), turned back
/// into [`Error::Http`] where the reader builds its errors.
#[derive(Debug)]
pub(crate) struct HttpFailure {
    pub(crate) url: String,
    pub(crate) problem: HttpProblem,
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.url, self.problem)
    }
}

impl std::error::Error for HttpFailure {}

enum Probe {
    /// Length and first block.
    Ranged(u64, Vec<u8>),
    /// The whole (small) file.
    Whole(Vec<u8>),
}

fn bad_range(detail: &str) -> HttpProblem {
    HttpProblem::BadContentRange {
        detail: detail.to_string(),
    }
}

/// A status other than 206/200: not found, retried (408, 429, 5xx) or final.
fn status_fault(code: u16, attempts: u32) -> Fault {
    match code {
        404 | 410 => (false, HttpProblem::NotFound),
        408 | 429 | 500..=599 => (true, HttpProblem::Status { code, attempts }),
        _ => (false, HttpProblem::Status { code, attempts }),
    }
}

fn timeout(which: Option<ureq::Timeout>, attempts: u32, options: &HttpOptions) -> HttpProblem {
    let limit = match which {
        Some(ureq::Timeout::Connect) => options.connect_timeout,
        _ => options.timeout,
    };
    HttpProblem::Timeout {
        seconds: limit.as_secs_f64(),
        attempts,
    }
}

/// A failed request (before any status): retried unless the URL or TLS is at fault.
fn call_fault(e: ureq::Error, attempts: u32, options: &HttpOptions) -> Fault {
    match e {
        ureq::Error::Timeout(t) => (true, timeout(Some(t), attempts, options)),
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            (true, timeout(None, attempts, options))
        }
        ureq::Error::BadUri(detail) => (false, HttpProblem::BadUrl { detail }),
        ureq::Error::Http(e) => (
            false,
            HttpProblem::BadUrl {
                detail: e.to_string(),
            },
        ),
        e @ (ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_)) => (
            true,
            HttpProblem::Connection {
                detail: e.to_string(),
                attempts,
            },
        ),
        e => (
            false,
            HttpProblem::Connection {
                detail: e.to_string(),
                attempts,
            },
        ),
    }
}

/// A failure while reading a body of `expected` bytes after `got`; `None` when the body
/// was longer than allowed.
fn body_fault(
    e: io::Error,
    expected: u64,
    got: u64,
    attempts: u32,
    options: &HttpOptions,
) -> Option<Fault> {
    match ureq::Error::from(e) {
        ureq::Error::BodyExceedsLimit(_) => None,
        ureq::Error::Timeout(t) => Some((true, timeout(Some(t), attempts, options))),
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            Some((true, HttpProblem::ShortBody { expected, got }))
        }
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::TimedOut => {
            Some((true, timeout(None, attempts, options)))
        }
        e => Some((
            true,
            HttpProblem::Connection {
                detail: e.to_string(),
                attempts,
            },
        )),
    }
}

/// Reads a body of exactly `buf.len()` bytes into `buf`: a shorter one is
/// [`HttpProblem::ShortBody`], a longer one [`HttpProblem::BodyTooLong`] (read no further
/// than one byte past `buf`).
fn read_body(
    body: &mut ureq::Body,
    buf: &mut [u8],
    attempts: u32,
    options: &HttpOptions,
) -> std::result::Result<(), Fault> {
    let expected = buf.len() as u64;
    let too_long = (false, HttpProblem::BodyTooLong { expected });
    match body.content_length() {
        Some(l) if l > expected => return Err(too_long),
        Some(l) if l < expected => {
            return Err((false, HttpProblem::ShortBody { expected, got: l }));
        }
        _ => {}
    }
    let mut reader = body.with_config().limit(expected).reader();
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => {
                let got = got as u64;
                return Err((true, HttpProblem::ShortBody { expected, got }));
            }
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(
                    body_fault(e, expected, got as u64, attempts, options).unwrap_or(too_long)
                );
            }
        }
    }
    let mut one = [0u8; 1];
    match reader.read(&mut one) {
        Ok(0) => Ok(()),
        Ok(_) => Err(too_long),
        Err(e) => match body_fault(e, expected, got as u64, attempts, options) {
            None => Err(too_long),
            Some(f) => Err(f),
        },
    }
}

/// `(first, last, total)` of `bytes first-last/total` (`total` `None` for `*`).
fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.trim().split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    if b < a || total.is_some_and(|t| b >= t) {
        return None;
    }
    Some((a, b, total))
}

/// The length in `bytes */total` (a 416 answer's `Content-Range`).
fn parse_unsatisfied(v: &str) -> Option<u64> {
    v.trim()
        .strip_prefix("bytes")?
        .trim_start()
        .strip_prefix("*/")?
        .trim()
        .parse()
        .ok()
}

/// Least recently used blocks within a byte budget.
struct BlockCache {
    blocks: HashMap<u64, (Arc<Vec<u8>>, u64)>,
    bytes: usize,
    budget: usize,
    tick: u64,
}

impl BlockCache {
    fn new(budget: usize) -> Self {
        BlockCache {
            blocks: HashMap::new(),
            bytes: 0,
            budget,
            tick: 0,
        }
    }

    fn get(&mut self, block: u64) -> Option<Arc<Vec<u8>>> {
        self.tick += 1;
        let tick = self.tick;
        self.blocks.get_mut(&block).map(|(data, used)| {
            *used = tick;
            data.clone()
        })
    }

    fn put(&mut self, block: u64, data: Arc<Vec<u8>>) {
        if data.len() > self.budget {
            return;
        }
        self.tick += 1;
        if let Some((old, _)) = self.blocks.insert(block, (data.clone(), self.tick)) {
            self.bytes -= old.len();
        }
        self.bytes += data.len();
        while self.bytes > self.budget {
            let Some((&oldest, _)) = self.blocks.iter().min_by_key(|(_, (_, used))| *used) else {
                break;
            };
            if let Some((d, _)) = self.blocks.remove(&oldest) {
                self.bytes -= d.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised() {
        for url in [
            "http://a/b.tif",
            "https://a/b.tif",
            "HTTPS://a/b.tif",
            "/vsicurl/https://a/b.tif?sig=1",
        ] {
            assert!(is_url(Path::new(url)), "{url}");
        }
        for p in [
            "a.tif",
            "/data/http/b.tif",
            "s3://b/c.tif",
            "file:///a.tif",
            "http:/x",
        ] {
            assert!(!is_url(Path::new(p)), "{p}");
        }
        assert_eq!(
            url_of(Path::new("/vsicurl/http://h/x.tif")),
            Some("http://h/x.tif")
        );
    }

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some((0, 99, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-5/*"), Some((5, 5, None)));
        for bad in [
            "bytes 9-3/100",
            "bytes 0-100/100",
            "0-1/2",
            "bytes a-1/2",
            "bytes 0-1",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
        assert_eq!(parse_unsatisfied("bytes */0"), Some(0));
    }

    #[test]
    fn block_cache_is_bounded_and_lru() {
        let mut c = BlockCache::new(3 * 10);
        for b in 0..3 {
            c.put(b, Arc::new(vec![b as u8; 10]));
        }
        assert!(c.get(0).is_some()); // 1 is now the least recently used
        c.put(3, Arc::new(vec![3; 10]));
        assert!(c.get(1).is_none());
        assert!(c.get(0).is_some() && c.get(2).is_some() && c.get(3).is_some());
        assert_eq!(c.bytes, 30);
        let mut none = BlockCache::new(0);
        none.put(0, Arc::new(vec![0; 10]));
        assert!(none.get(0).is_none());
    }

    #[test]
    fn source_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<HttpSource>();
    }
}
