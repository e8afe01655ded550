//! Patch throughput of the data pipeline: 512 x 512 patches, 3 dates, 4 bands, cut from a
//! 4096 x 4096 synthetic scene (written once to a temporary folder), read through windowed
//! GeoTIFF reads, normalized, augmented and batched on the Flex device, with 0 and 2 loader
//! workers. Also the pieces alone (read, dihedral transform) and the synthetic world writer.
//!
//! Run: `cargo bench -p chronomap-data --bench patch_sampling`.
//! Peak memory: `/usr/bin/time -v target/release/deps/patch_sampling-* --bench loader`.

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
    _dir: tempfile::TempDir,
    series: Arc<SceneSeries>,
    stats: NormStats,
}

fn scene() -> &'static Scene {
    static S: OnceLock<Scene> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = SynthConfig {
            size: SCENE,
            dates_per_year: 3,
            years: vec![2016],
            ..SynthConfig::new(1)
        };
        let summary = write_world(&config, dir.path(), &mut |_, _, _| {}).expect("synthetic scene");
        let series = Arc::new(SceneSeries::open(&summary.manifest).expect("series"));
        let stats = NormStats::compute(&series, &StatsConfig::default()).expect("stats");
        Scene {
            _dir: dir,
            series,
            stats,
        }
    })
}

fn dataset(seed: u64) -> PatchDataset {
    let s = scene();
    let windows = random_windows(&[Window::full(SCENE, SCENE)], PATCH, N, seed).expect("windows");
    let samples = make_samples(&windows, &[DATES.to_vec()], true, seed);
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
    let ds = dataset(7);
    bencher.counter(ItemsCount::new(N)).bench(|| {
        let loader = DataLoaderBuilder::new(PatchBatcher)
            .batch_size(4)
            .num_workers(workers)
            .set_device(Device::flex())
            .build(ds.clone());
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
    let windows = random_windows(&[Window::full(SCENE, SCENE)], PATCH, N, 3).expect("windows");
    bencher.counter(ItemsCount::new(N)).bench(|| {
        for w in &windows {
            divan::black_box(s.series.read_patch(*w, &DATES).expect("patch"));
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
