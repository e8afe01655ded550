//! Patch throughput of the data pipeline: 512 x 512 patches, 3 dates, 4 bands, cut from a
//! 4096 x 4096 synthetic scene (written once to a temporary folder), read through windowed
//! GeoTIFF reads, normalized, augmented and batched on the Flex device, with 0 and 2 loader
//! workers. Also the pieces alone (read, dihedral transform) and the synthetic world writer.
//!
//! Run: `cargo bench -p chronomap-data --bench patch_sampling`.
//! Peak memory: `/usr/bin/time -v target/release/deps/patch_sampling-* --bench loader`.
//! `CHRONOMAP_BENCH_SCENE=<manifest or folder>` benchmarks an existing series instead (a real
//! Sentinel-2 stack, or a world written once by `chronomap synth --size 4096`); it needs at
//! least 3 dates and 512 x 512 pixels.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use burn::data::dataloader::DataLoaderBuilder;
use burn::prelude::Device;
use chronomap_data::{
    Dihedral, NormStats, PatchBatcher, PatchConfig, PatchDataset, SceneSeries, StatsConfig,
    SynthConfig, make_samples, random_windows, write_world,
};
use chronomap_geo::Window;
use divan::counter::ItemsCount;

const SCENE: usize = 4096;
const PATCH: usize = 512;
const DATES: [usize; 3] = [0, 1, 2];
/// Patches per measured iteration.
const N: usize = 16;

struct Scene {
    _dir: Option<tempfile::TempDir>,
    series: Arc<SceneSeries>,
    stats: NormStats,
}

fn scene() -> &'static Scene {
    static S: OnceLock<Scene> = OnceLock::new();
    S.get_or_init(|| {
        let (dir, series) = match std::env::var_os("CHRONOMAP_BENCH_SCENE") {
            Some(path) => (
                None,
                SceneSeries::open_path(path).expect("CHRONOMAP_BENCH_SCENE"),
            ),
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let config = SynthConfig {
                    size: SCENE,
                    dates_per_year: 3,
                    years: vec![2016],
                    ..SynthConfig::new(1)
                };
                let summary =
                    write_world(&config, dir.path(), &mut |_, _, _| {}).expect("synthetic scene");
                (
                    Some(dir),
                    SceneSeries::open(&summary.manifest).expect("series"),
                )
            }
        };
        let series = Arc::new(series);
        let stats = NormStats::compute(&series, &StatsConfig::default()).expect("stats");
        Scene {
            _dir: dir,
            series,
            stats,
        }
    })
}

/// Fresh random windows for every call (so the readers' tile caches do not flatter reads).
fn fresh_windows() -> Vec<Window> {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let s = scene();
    let seed = CALLS.fetch_add(1, Ordering::Relaxed);
    let full = Window::full(s.series.width(), s.series.height());
    random_windows(&[full], PATCH, N, seed).expect("windows")
}

fn dataset(seed: u64) -> PatchDataset {
    let s = scene();
    let samples = make_samples(&fresh_windows(), &[DATES.to_vec()], true, seed);
    PatchDataset::new(
        s.series.clone(),
        s.stats.clone(),
        samples,
        PatchConfig::default(),
    )
    .expect("dataset")
}

fn main() {
    divan::main();
}

/// Full pipeline through Burn's data loader (batch 4) with 0 and 2 worker threads.
#[divan::bench(args = [0, 2], sample_count = 5, sample_size = 1)]
fn loader_512_t3_c4(bencher: divan::Bencher, workers: usize) {
    bencher
        .counter(ItemsCount::new(N))
        .with_inputs(|| dataset(7))
        .bench_values(|ds| {
            let loader = DataLoaderBuilder::new(PatchBatcher)
                .batch_size(4)
                .num_workers(workers)
                .set_device(Device::flex())
                .build(ds);
            let mut n = 0;
            for batch in loader.iter() {
                n += batch.expect("batch").samples.len();
            }
            assert_eq!(n, N);
        });
}

/// Windowed reads only (3 dates x 4 bands + quality + labels of a 512 x 512 window).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn read_patch_512_t3_c4(bencher: divan::Bencher) {
    let s = scene();
    bencher
        .counter(ItemsCount::new(N))
        .with_inputs(fresh_windows)
        .bench_refs(|windows| {
            for w in windows.iter() {
                divan::black_box(s.series.read_patch(*w, &DATES).expect("patch"));
            }
        });
}

/// One item through the dataset (read, normalize, label policy, transform), no batching.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn item_512_t3_c4(bencher: divan::Bencher) {
    bencher
        .counter(ItemsCount::new(N))
        .with_inputs(|| dataset(9))
        .bench_refs(|ds| {
            for i in 0..N {
                divan::black_box(ds.item(i).expect("item"));
            }
        });
}

/// One dihedral transform of a `[3, 4, 512, 512]` f32 stack.
#[divan::bench(args = [Dihedral::FlipHorizontal, Dihedral::Rot90, Dihedral::Transpose])]
fn dihedral_512_t3_c4(bencher: divan::Bencher, t: Dihedral) {
    let src: Vec<f32> = (0..3 * 4 * PATCH * PATCH).map(|i| i as f32).collect();
    let mut dst = vec![0f32; src.len()];
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        t.apply_planes(divan::black_box(&src), &mut dst, PATCH, PATCH);
    });
}

/// The default synthetic world: 1024 x 1024, 2 years x 6 dates, all files.
#[divan::bench(sample_count = 2, sample_size = 1)]
fn synth_world_1024_2x6(bencher: divan::Bencher) {
    bencher.bench(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        write_world(&SynthConfig::new(3), dir.path(), &mut |_, _, _| {}).expect("world");
    });
}

/// The default-size synthetic world held in memory ([`SceneSeries::load_into_memory`]):
/// items are copied, normalized and transformed without decoding (the small-scene path).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn item_in_memory_1024_512_t3_c4(bencher: divan::Bencher) {
    static DS: OnceLock<(tempfile::TempDir, PatchDataset)> = OnceLock::new();
    let (_, ds) = DS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = SynthConfig {
            dates_per_year: 3,
            years: vec![2016],
            ..SynthConfig::new(2)
        };
        let summary = write_world(&config, dir.path(), &mut |_, _, _| {}).expect("world");
        let mut series = SceneSeries::open(&summary.manifest).expect("series");
        assert!(series.load_into_memory(1 << 30).expect("load"));
        let stats = NormStats::compute(&series, &StatsConfig::default()).expect("stats");
        let windows = random_windows(&[Window::full(1024, 1024)], PATCH, N, 5).expect("windows");
        let samples = make_samples(&windows, &[DATES.to_vec()], true, 5);
        let ds = PatchDataset::new(Arc::new(series), stats, samples, PatchConfig::default())
            .expect("dataset");
        (dir, ds)
    });
    bencher.counter(ItemsCount::new(N)).bench(|| {
        for i in 0..N {
            divan::black_box(ds.item(i).expect("item"));
        }
    });
}

/// A 20 m band on a 10 m series, read bilinearly (Sentinel-2 `B11` beside `B4`), against the
/// same band already at 10 m: 512 x 512 windows of a 4096 x 4096 one-date series of two
/// per-band files (written once). The ratio is the cost of resampling on the fly.
struct Resampled {
    _dir: tempfile::TempDir,
    at_10m: SceneSeries,
    at_20m: SceneSeries,
}

fn resampled() -> &'static Resampled {
    use chronomap_geo::{GeoTransform, RasterData, RasterSpec, SampleType, write_geotiff};
    static S: OnceLock<Resampled> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let (x0, y0) = (300_000.0, 1_800_000.0);
        let write = |name: &str, size: usize, px: f64| {
            let spec = RasterSpec {
                deflate_level: 1,
                ..RasterSpec::new(size, size, 1, SampleType::U16)
                    .with_geotransform(GeoTransform::north_up(x0, y0, px))
                    .with_epsg(32628)
                    .with_nodata(0.0)
            };
            let data: Vec<u16> = (0..size * size)
                .map(|i| 1000 + ((i % size) * 7 + (i / size) * 3) as u16 % 3000)
                .collect();
            write_geotiff(dir.path().join(name), &spec, RasterData::U16(&data)).expect("write");
        };
        write("B04.tif", SCENE, 10.0);
        write("B11_10m.tif", SCENE, 10.0);
        write("B11_20m.tif", SCENE / 2, 20.0);
        let manifest = |b11: &str| {
            let m = dir.path().join(format!("{b11}.json"));
            let text = format!(
                r#"{{"version": 1, "bands": ["B4", "B11"], "nodata": 0, "dates": [{{"date": "2020-01-15", "bands": {{"B4": "B04.tif", "B11": "{b11}"}}}}]}}"#
            );
            std::fs::write(&m, text).expect("manifest");
            SceneSeries::open(&m).expect("series")
        };
        Resampled {
            at_10m: manifest("B11_10m.tif"),
            at_20m: manifest("B11_20m.tif"),
            _dir: dir,
        }
    })
}

#[divan::bench(args = ["B11 at 10 m", "B11 at 20 m, bilinear"], sample_count = 5, sample_size = 1)]
fn read_date_512_two_bands(bencher: divan::Bencher, which: &str) {
    let s = resampled();
    let series = if which.contains("20 m") {
        &s.at_20m
    } else {
        &s.at_10m
    };
    bencher
        .counter(ItemsCount::new(N))
        .with_inputs(fresh_resampled_windows)
        .bench_refs(|windows| {
            for w in windows.iter() {
                divan::black_box(series.read_date(0, *w).expect("read"));
            }
        });
}

fn fresh_resampled_windows() -> Vec<Window> {
    static CALLS: AtomicU64 = AtomicU64::new(1000);
    let seed = CALLS.fetch_add(1, Ordering::Relaxed);
    random_windows(&[Window::full(SCENE, SCENE)], PATCH, N, seed).expect("windows")
}
