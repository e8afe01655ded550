//! Windows over HTTP: 512 x 512 window reads from a 4096 x 4096 u16 tiled (256 x 256,
//! deflate, predictor 2) GeoTIFF, from the local file and over HTTP range requests from a
//! server on 127.0.0.1 (the test server of `tests/it/http_server.rs`, keep-alive). Each
//! iteration opens a fresh reader (nothing cached) and reads one window of 2 x 2 tiles, so
//! the HTTP figure is open (one 64 KiB request) + 4 tile requests + decoding.

use std::path::PathBuf;
use std::sync::OnceLock;

use chronomap_geo::{
    GeoTiffReader, GeoTransform, RasterData, RasterSpec, SampleType, Window, write_geotiff,
};
use divan::Bencher;

#[path = "../tests/it/http_server.rs"]
mod http_server;

const SIZE: usize = 4096;

fn main() {
    divan::main();
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    url: String,
    _server: http_server::Server,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cog_4096_u16.tif");
        let mut state = 7u64;
        let data: Vec<u16> = (0..SIZE * SIZE)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (r, c) = (i / SIZE, i % SIZE);
                let smooth = 900.0 + 300.0 * ((r as f64 / 83.0).sin() + (c as f64 / 127.0).cos());
                (smooth + (state >> 59) as f64 * 6.0) as u16
            })
            .collect();
        let spec = RasterSpec::new(SIZE, SIZE, 1, SampleType::U16)
            .with_geotransform(GeoTransform::north_up(300_000.0, 1_800_000.0, 10.0))
            .with_epsg(32628)
            .with_tile_size(256);
        write_geotiff(&path, &spec, RasterData::U16(&data)).expect("write the bench raster");
        let server = http_server::Server::start(dir.path(), http_server::Mode::Normal);
        let url = server.url("cog_4096_u16.tif");
        Fixture {
            _dir: dir,
            path,
            url,
            _server: server,
        }
    })
}

/// Windows of 2 x 2 tiles at different places, cycled through.
fn window(i: usize) -> Window {
    let k = i % 7;
    Window::new(256 * (1 + 2 * k), 256 * (13 - 2 * k), 512, 512)
}

#[divan::bench(name = "window_512_local_file")]
fn local(bencher: Bencher) {
    let f = fixture();
    let mut i = 0;
    bencher.bench_local(|| {
        i += 1;
        let r = GeoTiffReader::open(&f.path).unwrap();
        r.read_window_u16(window(i), &[0]).unwrap()
    });
}

#[divan::bench(name = "window_512_over_http")]
fn http(bencher: Bencher) {
    let f = fixture();
    let mut i = 0;
    bencher.bench_local(|| {
        i += 1;
        let r = GeoTiffReader::open(&f.url).unwrap();
        r.read_window_u16(window(i), &[0]).unwrap()
    });
}

#[divan::bench(name = "window_512_over_http_open_once")]
fn http_warm_reader(bencher: Bencher) {
    let f = fixture();
    let r = GeoTiffReader::open(&f.url).unwrap();
    let mut i = 0;
    bencher.bench_local(|| {
        i += 1;
        r.clear_cache();
        r.read_window_u16(window(i), &[0]).unwrap()
    });
}

#[divan::bench(name = "window_512_local_open_once")]
fn local_warm_reader(bencher: Bencher) {
    let f = fixture();
    let r = GeoTiffReader::open(&f.path).unwrap();
    let mut i = 0;
    bencher.bench_local(|| {
        i += 1;
        r.clear_cache();
        r.read_window_u16(window(i), &[0]).unwrap()
    });
}
