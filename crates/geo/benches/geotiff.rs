//! GeoTIFF reading and writing: a 2048 x 2048 x 4 u16 deflate (predictor 2, 256 tiles,
//! pixel interleave: GDAL's `-co TILED=YES -co COMPRESS=DEFLATE -co PREDICTOR=2`) scene,
//! read whole and as 512 x 512 windows. The file is written once to
//! `target/geo-bench/scene_2048x2048x4_u16_deflate.tif` so `gdal_translate` can be timed on
//! the same bytes (see docs/geodata.md). Also: writing a 4096 x 4096 u8 class map plain
//! tiled and as a Cloud-Optimized GeoTIFF (`write_class_map_4096`).

use std::path::PathBuf;
use std::sync::OnceLock;

use chronomap_geo::{
    CogOptions, GeoTiffReader, GeoTransform, Interleave, OverviewResampling, RasterData,
    RasterSpec, SampleType, Window, write_geotiff,
};
use divan::Bencher;
use divan::counter::BytesCount;

const SIZE: usize = 2048;
const BANDS: usize = 4;

fn main() {
    divan::main();
}

/// Reflectance-like values: smooth fields plus noise, so deflate sees realistic entropy.
fn scene() -> Vec<u16> {
    let mut state = 12345u64;
    (0..BANDS * SIZE * SIZE)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (b, r, c) = (i / (SIZE * SIZE), i / SIZE % SIZE, i % SIZE);
            let smooth = 800.0
                + 400.0 * ((r as f64 / 97.0).sin() + (c as f64 / 131.0).cos())
                + 150.0 * b as f64;
            (smooth + (state >> 58) as f64 * 8.0) as u16
        })
        .collect()
}

fn spec() -> RasterSpec {
    RasterSpec::new(SIZE, SIZE, BANDS, SampleType::U16)
        .with_geotransform(GeoTransform::north_up(300_000.0, 1_800_000.0, 10.0))
        .with_epsg(32628)
        .with_interleave(Interleave::Pixel)
        .with_tile_size(256)
}

fn scene_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/geo-bench");
        std::fs::create_dir_all(&dir).expect("create target/geo-bench");
        let path = dir.join("scene_2048x2048x4_u16_deflate.tif");
        if !path.exists() {
            write_geotiff(&path, &spec(), RasterData::U16(&scene()))
                .expect("write the bench scene");
        }
        path
    })
}

const BYTES: u64 = (SIZE * SIZE * BANDS * 2) as u64;

#[divan::bench(name = "read_all_2048x2048x4_u16_deflate")]
fn read_all(bencher: Bencher) {
    let reader = GeoTiffReader::open(scene_path()).unwrap();
    bencher.counter(BytesCount::new(BYTES)).bench(|| {
        reader.clear_cache();
        reader
            .read_window_u16(Window::full(SIZE, SIZE), &[0, 1, 2, 3])
            .unwrap()
    });
}

#[divan::bench(name = "read_16_windows_512_all_bands")]
fn read_windows(bencher: Bencher) {
    let reader = GeoTiffReader::open(scene_path()).unwrap();
    bencher.counter(BytesCount::new(BYTES)).bench(|| {
        reader.clear_cache();
        let mut sum = 0u64;
        for r in 0..4 {
            for c in 0..4 {
                let w = reader
                    .read_window(Window::new(c * 512, r * 512, 512, 512), &[0, 1, 2, 3])
                    .unwrap();
                sum += w.len() as u64;
            }
        }
        sum
    });
}

#[divan::bench(name = "read_one_window_512_unaligned_f32")]
fn read_one_window(bencher: Bencher) {
    let reader = GeoTiffReader::open(scene_path()).unwrap();
    bencher
        .counter(BytesCount::new((512 * 512 * BANDS * 2) as u64))
        .bench(|| {
            reader.clear_cache();
            reader
                .read_window(Window::new(700, 900, 512, 512), &[0, 1, 2, 3])
                .unwrap()
        });
}

#[divan::bench(name = "write_2048x2048x4_u16_deflate", sample_count = 10)]
fn write(bencher: Bencher) {
    let data = scene();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.tif");
    bencher
        .counter(BytesCount::new(BYTES))
        .bench(|| write_geotiff(&path, &spec(), RasterData::U16(&data)).unwrap());
}

/// `statistics` (what `chronomap info` computes) over the whole 2048 x 2048 x 4 u16 scene:
/// exact 16-bit histograms, block by block on every core.
#[divan::bench(name = "statistics_2048x2048x4_u16_deflate")]
fn statistics(bencher: Bencher) {
    let path = scene_path();
    bencher.bench(|| {
        let r = GeoTiffReader::open(path).unwrap();
        divan::black_box(r.statistics(|_, _| {}).unwrap());
    });
}

const MAP: usize = 4096;

/// A 4096 x 4096 class map: blocky fields of 6 classes, some speckle, a nodata corner.
fn class_map() -> Vec<u8> {
    let mut state = 99u64;
    (0..MAP * MAP)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (r, c) = (i / MAP, i % MAP);
            if r < 300 && c < 500 {
                255
            } else if state >> 59 == 0 {
                (state >> 32) as u8 % 6
            } else {
                ((r / 37 + c / 53 + (r * c) / 40_000) % 6) as u8
            }
        })
        .collect()
}

fn class_spec() -> RasterSpec {
    RasterSpec::new(MAP, MAP, 1, SampleType::U8)
        .with_geotransform(GeoTransform::north_up(300_000.0, 1_800_000.0, 10.0))
        .with_epsg(32628)
        .with_nodata(255.0)
        .with_palette((0..6).map(|i| [i * 40, 200 - i * 30, 90]).collect())
}

/// Writing a 4096 x 4096 u8 class map, 256 tiles, Deflate: plain tiled, and as a
/// Cloud-Optimized GeoTIFF with nearest or mode overviews (4 levels, 2048 .. 256); the COG
/// re-reads nothing (rows arrive in order) and copies the full-resolution tiles once more.
#[divan::bench(
    name = "write_class_map_4096",
    args = ["plain", "cog_nearest", "cog_mode"],
    sample_count = 10
)]
fn write_class_map(bencher: Bencher, kind: &str) {
    let data = class_map();
    let spec = match kind {
        "plain" => class_spec(),
        "cog_nearest" => class_spec().with_cog(CogOptions::new(OverviewResampling::Nearest)),
        _ => class_spec().with_cog(CogOptions::new(OverviewResampling::Mode)),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("classes.tif");
    bencher
        .counter(BytesCount::new((MAP * MAP) as u64))
        .bench(|| write_geotiff(&path, &spec, RasterData::U8(&data)).unwrap());
}
