//! JPEG 2000 decoding, side by side with GDAL on the same file and cores: a Sentinel-2-like
//! band (u16, 15 significant bits, lossless 5/3, 1024 x 1024 tiles, 5 resolution levels, as
//! ESA writes them) decoded whole, as one 1024 x 1024 window across four tiles (a training
//! patch), and at quarter resolution (resolution level 2, what a quicklook reads).
//!
//! The band is written once with `gdal_translate -of JP2OpenJPEG` to
//! `target/geo-bench/band_4096_u16_15bit_lossless.jp2` (4096 x 4096 so that a run takes
//! minutes, not an hour; a real 10980 x 10980 band is 7.2 x the pixels). Point
//! `CHRONOMAP_BENCH_JP2` at a real band (e.g. a `T28QCD_..._B04_10m.jp2`) to measure that
//! instead. The `gdal_*` benches run `gdal_translate` on the same file into a temporary
//! uncompressed GeoTIFF (process start included: `gdal_version` times that alone). Without
//! `gdal_translate` on the PATH the benches say so and do nothing.
//!
//! Run: `cargo bench -p chronomap-geo --bench jp2`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use chronomap_geo::{
    GeoTiffReader, GeoTransform, RasterData, RasterSpec, SampleType, Window, write_geotiff,
};
use divan::Bencher;

const SIZE: usize = 4096;
/// The patch window: 1024 x 1024 at (1000, 1000), so it touches four 1024-px tiles.
const WINDOW: Window = Window {
    col: 1000,
    row: 1000,
    width: 1024,
    height: 1024,
};

fn main() {
    divan::main();
}

fn have_gdal() -> bool {
    Command::new("gdal_translate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Reflectance-like 15-bit values: smooth fields, texture and noise (lossless JPEG 2000
/// sees realistic entropy).
fn band() -> Vec<u16> {
    let mut state = 99u64;
    (0..SIZE * SIZE)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (r, c) = (i / SIZE, i % SIZE);
            let smooth = 1500.0
                + 700.0 * ((r as f64 / 83.0).sin() * (c as f64 / 121.0).cos())
                + 300.0 * ((r + c) as f64 / 17.0).sin();
            ((smooth + (state >> 57) as f64 * 6.0) as u16).min(32767)
        })
        .collect()
}

/// The band to decode: `CHRONOMAP_BENCH_JP2`, or the synthetic one (written once), or
/// `None` without GDAL.
fn jp2() -> Option<&'static PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("CHRONOMAP_BENCH_JP2") {
            return Some(PathBuf::from(p));
        }
        if !have_gdal() {
            eprintln!("gdal_translate not found: the JPEG 2000 benches need it to write the band");
            return None;
        }
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/geo-bench");
        std::fs::create_dir_all(&dir).expect("create target/geo-bench");
        let path = dir.join("band_4096_u16_15bit_lossless.jp2");
        if !path.exists() {
            let tif = dir.join("band_4096_u16.tif");
            let spec = RasterSpec::new(SIZE, SIZE, 1, SampleType::U16)
                .with_geotransform(GeoTransform::north_up(300_000.0, 1_800_000.0, 10.0))
                .with_epsg(32628)
                .with_tile_size(256);
            write_geotiff(&tif, &spec, RasterData::U16(&band())).expect("write the source band");
            let tmp = dir.join("band_4096_u16_15bit_lossless.tmp.jp2");
            let ok = Command::new("gdal_translate")
                .args(["-q", "-of", "JP2OpenJPEG", "-co", "REVERSIBLE=YES", "-co"])
                .args([
                    "QUALITY=100",
                    "-co",
                    "NBITS=15",
                    "-co",
                    "BLOCKXSIZE=1024",
                    "-co",
                ])
                .args(["BLOCKYSIZE=1024", "-co", "RESOLUTIONS=5"])
                .arg(&tif)
                .arg(&tmp)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "gdal_translate could not write {}", tmp.display());
            std::fs::rename(&tmp, &path).expect("rename the band");
            let _ = std::fs::remove_file(&tif);
        }
        Some(path)
    })
    .as_ref()
}

fn size_of(path: &Path) -> (usize, usize) {
    let r = GeoTiffReader::open(path).expect("open the band");
    (r.info().width, r.info().height)
}

#[divan::bench(name = "chronomap_full_band", sample_count = 3, sample_size = 1)]
fn full(bencher: Bencher) {
    let Some(path) = jp2() else { return };
    let (w, h) = size_of(path);
    bencher.bench(|| {
        let r = GeoTiffReader::open(path).unwrap();
        divan::black_box(r.read_window_u16(Window::full(w, h), &[0]).unwrap());
    });
}

#[divan::bench(name = "chronomap_window_1024", sample_count = 5, sample_size = 1)]
fn window(bencher: Bencher) {
    let Some(path) = jp2() else { return };
    bencher.bench(|| {
        let r = GeoTiffReader::open(path).unwrap();
        divan::black_box(r.read_window_u16(WINDOW, &[0]).unwrap());
    });
}

#[divan::bench(
    name = "chronomap_quarter_resolution",
    sample_count = 5,
    sample_size = 1
)]
fn quarter(bencher: Bencher) {
    let Some(path) = jp2() else { return };
    bencher.bench(|| {
        let r = GeoTiffReader::open(path).unwrap();
        let (w, h) = r.reduced_size(2);
        divan::black_box(r.read_window_reduced(Window::full(w, h), &[0], 2).unwrap());
    });
}

fn gdal(args: &[&str]) {
    let Some(path) = jp2() else { return };
    let out = std::env::temp_dir().join(format!("chronomap-jp2-bench-{}.tif", std::process::id()));
    let ok = Command::new("gdal_translate")
        .arg("-q")
        .args(args)
        .arg(path)
        .arg(&out)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "gdal_translate {args:?} failed");
    let _ = std::fs::remove_file(&out);
}

#[divan::bench(name = "gdal_full_band", sample_count = 3, sample_size = 1)]
fn gdal_full(bencher: Bencher) {
    if jp2().is_none() {
        return;
    }
    bencher.bench(|| gdal(&[]));
}

#[divan::bench(name = "gdal_window_1024", sample_count = 5, sample_size = 1)]
fn gdal_window(bencher: Bencher) {
    if jp2().is_none() {
        return;
    }
    let win = [WINDOW.col, WINDOW.row, WINDOW.width, WINDOW.height].map(|v| v.to_string());
    bencher.bench(|| gdal(&["-srcwin", &win[0], &win[1], &win[2], &win[3]]));
}

#[divan::bench(name = "gdal_quarter_resolution", sample_count = 5, sample_size = 1)]
fn gdal_quarter(bencher: Bencher) {
    if jp2().is_none() {
        return;
    }
    bencher.bench(|| gdal(&["-outsize", "25%", "25%", "-r", "nearest"]));
}

#[divan::bench(name = "gdal_version", sample_count = 5, sample_size = 1)]
fn gdal_version(bencher: Bencher) {
    if !have_gdal() {
        return;
    }
    bencher.bench(|| {
        Command::new("gdal_translate")
            .arg("--version")
            .output()
            .unwrap()
    });
}
