//! A process-wide bound on open file handles.
//!
//! A collection of hundreds of Sentinel-2 tiles with dozens of dates and a dozen band files
//! each is tens of thousands of rasters; a reader holding each file open would run into the
//! process's descriptor limit (`ulimit -n`, often 1024) long before memory. Every
//! [`GeoTiffReader`](crate::GeoTiffReader) opened from a path reads through a pooled handle
//! instead: at most [`max_open_files`] files are open at once; the least recently read one is
//! closed when another must open, and reopened (and checked to have the same length) when it
//! is read again. Readers keep their parsed headers and tile caches; only the descriptor
//! goes. A handle in use by a read in flight stays open until that read ends, so the bound can
//! be exceeded by at most the number of concurrent reads.
//!
//! The bound is `CHRONOMAP_MAX_OPEN_FILES` when set (at least 4), else
//! [`DEFAULT_MAX_OPEN_FILES`]; [`set_max_open_files`] changes it at run time.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::tiff_format::source::ByteSource;

/// Default bound on the files chronomap's readers hold open at once.
pub const DEFAULT_MAX_OPEN_FILES: usize = 256;

static LIMIT: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Pool {
    open: HashMap<u64, (Arc<File>, u64)>,
    tick: u64,
    opened: u64,
}

fn pool() -> &'static Mutex<Pool> {
    static POOL: OnceLock<Mutex<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        Mutex::new(Pool {
            open: HashMap::new(),
            tick: 0,
            opened: 0,
        })
    })
}

/// The current bound on open files (see the module docs).
pub fn max_open_files() -> usize {
    match LIMIT.load(Ordering::Relaxed) {
        0 => {
            let n = std::env::var("CHRONOMAP_MAX_OPEN_FILES")
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .map_or(DEFAULT_MAX_OPEN_FILES, |n| n.max(4));
            LIMIT.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// Sets the bound on open files (at least 4), closing the least recently read files over it.
pub fn set_max_open_files(n: usize) {
    let n = n.max(4);
    LIMIT.store(n, Ordering::Relaxed);
    let mut p = pool().lock().unwrap_or_else(|e| e.into_inner());
    p.trim(n);
}

impl Pool {
    /// Closes the least recently read files until fewer than `keep + 1` are open.
    fn trim(&mut self, keep: usize) {
        while self.open.len() > keep {
            let Some((&oldest, _)) = self.open.iter().min_by_key(|(_, (_, t))| *t) else {
                break;
            };
            self.open.remove(&oldest);
        }
    }
}

/// Files the pool holds open now, and how many times it has opened a file in all (first
/// opens and reopens after eviction): for tests and benchmarks.
pub fn open_file_counts() -> (usize, u64) {
    let p = pool().lock().unwrap_or_else(|e| e.into_inner());
    (p.open.len(), p.opened)
}

/// A file (or a byte range of one, from `base`) read through the pool.
pub(crate) struct PooledFile {
    id: u64,
    path: PathBuf,
    /// Length of the whole file at open time (a reopened file must match it).
    file_len: u64,
    len: u64,
    base: u64,
}

impl PooledFile {
    /// Opens `path` (checking it can be opened now), for `len` bytes from `base` (`None`: the
    /// whole file).
    pub(crate) fn open(path: &Path, base: u64, len: Option<u64>) -> io::Result<Self> {
        let file = File::open(path)?;
        let file_len = file.metadata()?.len();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let me = Self {
            id,
            path: path.to_path_buf(),
            file_len,
            len: len.unwrap_or(file_len),
            base,
        };
        me.insert(Arc::new(file));
        Ok(me)
    }

    fn insert(&self, file: Arc<File>) {
        let limit = max_open_files();
        let mut p = pool().lock().unwrap_or_else(|e| e.into_inner());
        p.tick += 1;
        p.opened += 1;
        let tick = p.tick;
        p.trim(limit.saturating_sub(1));
        p.open.insert(self.id, (file, tick));
    }

    /// The open handle, reopening the file if the pool closed it.
    fn handle(&self) -> io::Result<Arc<File>> {
        {
            let mut p = pool().lock().unwrap_or_else(|e| e.into_inner());
            p.tick += 1;
            let tick = p.tick;
            if let Some((f, t)) = p.open.get_mut(&self.id) {
                *t = tick;
                return Ok(f.clone());
            }
        }
        let file = File::open(&self.path)?;
        let now = file.metadata()?.len();
        if now != self.file_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} changed while open: {} bytes, was {}",
                    self.path.display(),
                    now,
                    self.file_len
                ),
            ));
        }
        let file = Arc::new(file);
        self.insert(file.clone());
        Ok(file)
    }
}

impl Drop for PooledFile {
    fn drop(&mut self) {
        let mut p = pool().lock().unwrap_or_else(|e| e.into_inner());
        p.open.remove(&self.id);
    }
}

impl ByteSource for PooledFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let file = self.handle()?;
        crate::tiff_format::source::read_exact_at(&file, buf, self.base + offset)
    }
}
