//! Patches per second drawn from a collection of series: `BatchSource::batch` of the training
//! batches [`prepare_collection`] makes (random 256 x 256 windows, 3 dates, 4 bands, read
//! through windowed GeoTIFF reads, normalized, jittered, transformed and stacked; batch 4,
//! 16 windows per epoch shared among the series), for collections of 1, 4 and 16 series.
//!
//! The series are 16 copies of one synthetic 4096 x 4096 world (3 dates of 2016, written once
//! by [`write_world`] to a temporary folder): distinct files, so distinct file handles and
//! page-cache pages, but equal contents. Variant `n` is a `collection.json` listing the first
//! `n` copies. Outside the timing, each variant prints (stderr) the process' open file
//! descriptors (`/proc/self/fd`) and its peak resident memory (`VmHWM` of `/proc/self/status`,
//! reset through `/proc/self/clear_refs` before the variant, so the world writer's peak is not
//! counted) after opening and preparing the collection, after drawing one full epoch, and after
//! drawing on (untimed) until every series has given 64 patches, when the decoded-tile caches
//! are full.
//!
//! Run: `cargo bench -p chronomap-train --bench collection`.
//! `CHRONOMAP_BENCH_COLLECTION=<collection.json>` benchmarks the first 1, 4 and 16 series of an
//! existing collection instead (variants with more series than it has are skipped); its series
//! need 3 dates in one year and 256 x 256 pixels. `CHRONOMAP_BENCH_TILE_CACHE=<bytes>` sets
//! every series' decoded-tile cache per date (`SceneSeries::set_tile_cache`; default
//! `DEFAULT_TILE_CACHE_PER_DATE`, 16 MiB; 0 disables it).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use chronomap_data::{Collection, CollectionEntry, CollectionFile, SynthConfig, write_world};
use chronomap_train::{BatchSource, CollectionPlan, DataPlan, prepare_collection};
use divan::counter::ItemsCount;

const SCENE: usize = 4096;
const SERIES: usize = 16;
const PATCH: usize = 256;
const BATCH: usize = 4;
const WINDOWS: usize = 16;
/// Patches a series gives before the steady-state memory figure.
const STEADY_PATCHES: usize = 64;

fn main() {
    divan::main();
    // A static is never dropped: remove the temporary folder (6.6 GiB) by hand.
    if let Some(s) = SETUP.get() {
        let _ = std::fs::remove_dir_all(s.dir.path());
    }
}

/// The folder holding `collection_<n>.json` files, and the number of series available.
struct Setup {
    dir: tempfile::TempDir,
    root: PathBuf,
    available: usize,
}

static SETUP: OnceLock<Setup> = OnceLock::new();

fn setup() -> &'static Setup {
    SETUP.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let entries = match std::env::var_os("CHRONOMAP_BENCH_COLLECTION") {
            Some(path) => existing_entries(Path::new(&path)),
            None => synthetic_entries(&root),
        };
        for n in [1, 4, 16] {
            if n > entries.len() {
                continue;
            }
            CollectionFile {
                version: chronomap_data::COLLECTION_VERSION,
                series: entries[..n].to_vec(),
                meta: None,
            }
            .save(root.join(format!("collection_{n}.json")))
            .expect("collection.json");
        }
        Setup {
            dir,
            root,
            available: entries.len(),
        }
    })
}

/// The entries of an existing collection, sources made absolute.
fn existing_entries(path: &Path) -> Vec<CollectionEntry> {
    let file = CollectionFile::load(path).expect("CHRONOMAP_BENCH_COLLECTION");
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    file.series
        .into_iter()
        .map(|mut e| {
            e.source = base.join(&e.source);
            e
        })
        .collect()
}

/// One world written to `root/s00`, copied file by file to `root/s01` .. `root/s15`.
fn synthetic_entries(root: &Path) -> Vec<CollectionEntry> {
    let first = root.join("s00");
    let config = SynthConfig {
        size: SCENE,
        dates_per_year: 3,
        years: vec![2016],
        ..SynthConfig::new(1)
    };
    let t = std::time::Instant::now();
    write_world(&config, &first, &mut |_, _, _| {}).expect("synthetic world");
    let bytes: u64 = std::fs::read_dir(&first)
        .expect("read folder")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    eprintln!(
        "collection bench: wrote a {SCENE} x {SCENE} world ({} MiB) in {:.1} s",
        bytes >> 20,
        t.elapsed().as_secs_f64()
    );
    let t = std::time::Instant::now();
    for i in 1..SERIES {
        copy_dir(&first, &root.join(format!("s{i:02}")));
    }
    eprintln!(
        "collection bench: copied it {} times in {:.1} s",
        SERIES - 1,
        t.elapsed().as_secs_f64()
    );
    (0..SERIES)
        .map(|i| CollectionEntry {
            name: format!("s{i:02}"),
            source: PathBuf::from(format!("s{i:02}/manifest.json")),
            tags: Default::default(),
            bands: Vec::new(),
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("folder entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// Open file descriptors of the process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// `VmHWM` and `VmRSS` of the process, MiB.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets `VmHWM` to the current resident size (Linux 4.0+); false where not allowed.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn report(n: usize, what: &str, reset: bool) {
    let (hwm, rss) = memory_mib();
    let peak = if reset { "since reset" } else { "process" };
    eprintln!(
        "collection bench: {n:>2} series, {what}: {} open fds, VmHWM {hwm:.0} MiB ({peak}), \
         VmRSS {rss:.0} MiB",
        open_fds()
    );
}

/// Opens collection `path`: [`Collection::open`], or with every series' decoded-tile cache set
/// to `CHRONOMAP_BENCH_TILE_CACHE` bytes per date when that is set (0: no cache), to see how
/// much of the memory the caches are.
fn open_collection(path: &Path) -> Collection {
    let Some(per_date) = std::env::var("CHRONOMAP_BENCH_TILE_CACHE").ok().map(|v| {
        v.parse::<usize>()
            .expect("CHRONOMAP_BENCH_TILE_CACHE: bytes per date")
    }) else {
        return Collection::open(path).expect("collection");
    };
    let (source, opened) = Collection::open_each(path).expect("collection");
    let (mut entries, mut series) = (Vec::new(), Vec::new());
    for (e, s) in opened {
        let mut s = s.expect("series");
        s.set_tile_cache(per_date);
        entries.push(e);
        series.push(std::sync::Arc::new(s));
    }
    Collection::from_series(source, entries, series).expect("collection")
}

/// `BatchSource::batch` of the prepared training batches, batch after batch through the
/// epochs (each epoch draws new windows), over collections of 1, 4 and 16 series.
#[divan::bench(args = [1, 4, 16], sample_count = 40, sample_size = 1)]
fn patches_256_t3_c4_b4(bencher: divan::Bencher, series: usize) {
    let s = setup();
    if series > s.available {
        eprintln!(
            "collection bench: skipping {series} series ({} available)",
            s.available
        );
        return;
    }
    let (_, rss0) = memory_mib();
    eprintln!(
        "collection bench: {series:>2} series, before opening: {} open fds, VmRSS {rss0:.0} MiB",
        open_fds()
    );
    let reset = reset_peak();
    let t = std::time::Instant::now();
    let collection = open_collection(&s.root.join(format!("collection_{series}.json")));
    let plan = CollectionPlan::new(DataPlan {
        windows_per_epoch: WINDOWS,
        sequence_length: Some(3),
        ..DataPlan::new(PATCH, BATCH)
    });
    let prepared = prepare_collection(&collection, &plan, None).expect("prepare");
    drop(collection);
    report(
        series,
        &format!("opened and prepared in {:.1} s", t.elapsed().as_secs_f64()),
        reset,
    );
    let train = &prepared.train;
    let per_epoch = train.num_batches();
    assert!(per_epoch > 0, "no training batch");
    let reset = reset_peak();
    for i in 0..per_epoch {
        divan::black_box(train.batch(0, i).expect("batch"));
    }
    report(
        series,
        &format!("after one epoch ({per_epoch} batches)"),
        reset,
    );
    // Batch after batch from epoch 1 on (an epoch's first batch also draws its windows).
    let next = AtomicUsize::new(per_epoch);
    let draw = |k: usize| train.batch(k / per_epoch, k % per_epoch).expect("batch");
    bencher
        .counter(ItemsCount::new(BATCH))
        .bench(|| divan::black_box(draw(next.fetch_add(1, Ordering::Relaxed))));
    // Untimed, until every series has given about 64 patches (the tile caches are full).
    let timed = next.load(Ordering::Relaxed);
    let total = timed.max(STEADY_PATCHES * series / BATCH);
    for k in timed..total {
        divan::black_box(draw(k));
    }
    report(
        series,
        &format!(
            "after {total} batches ({} patches a series)",
            total * BATCH / series
        ),
        reset,
    );
}
