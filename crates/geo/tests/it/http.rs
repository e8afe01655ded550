//! Rasters over HTTP (range requests) against a local test server (`http_server.rs`): the
//! same pixels as the file, few requests, and a typed error naming the URL for every kind of
//! misbehaving server.

use std::path::Path;
use std::time::{Duration, Instant};

use chronomap_geo::{
    Error, GeoTiffReader, GeoTransform, HttpOptions, HttpProblem, Interleave, RasterData,
    RasterSpec, SampleType, Window, write_geotiff,
};

use crate::http_server::{Mode, Server};
use crate::require_gdal;

/// Options for tests: short backoff, explicit retries (no environment variables involved).
fn options(retries: u32, timeout_s: f64) -> HttpOptions {
    let mut o = HttpOptions::default();
    o.retries = retries;
    o.backoff = Duration::from_millis(20);
    o.timeout = Duration::from_secs_f64(timeout_s);
    o
}

/// Writes a `width` x `height` x `bands` u16 raster (tiled `tile`, deflate) named `name`.
fn raster(dir: &Path, name: &str, (width, height, bands): (usize, usize, usize), tile: usize) {
    // pseudo-random: barely compressible, so tiles are as large as their pixels
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u16> = (0..width * height * bands)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 48) as u16
        })
        .collect();
    let spec = RasterSpec::new(width, height, bands, SampleType::U16)
        .with_geotransform(GeoTransform::north_up(300_000.0, 1_800_000.0, 10.0))
        .with_epsg(32628)
        .with_nodata(0.0)
        .with_tile_size(tile);
    write_geotiff(dir.join(name), &spec, RasterData::U16(&data)).unwrap();
}

fn same_windows(local: &GeoTiffReader, remote: &GeoTiffReader, windows: &[Window]) {
    let (l, r) = (local.info(), remote.info());
    assert_eq!(
        (l.width, l.height, l.bands, l.sample_type),
        (r.width, r.height, r.bands, r.sample_type)
    );
    assert_eq!(
        (l.geotransform, l.epsg, l.nodata),
        (r.geotransform, r.epsg, r.nodata)
    );
    let bands: Vec<usize> = (0..l.bands).rev().collect();
    for w in windows {
        assert_eq!(
            local.read_window(*w, &bands).unwrap(),
            remote.read_window(*w, &bands).unwrap(),
            "window {w:?}"
        );
    }
}

fn http_error(e: Error) -> (String, HttpProblem, String) {
    let text = e.to_string();
    match e {
        Error::Http { url, problem } => (url, problem, text),
        other => panic!("expected Error::Http, got {other:?}"),
    }
}

#[test]
fn tiled_geotiff_over_http_reads_the_same_pixels() {
    let dir = tempfile::tempdir().unwrap();
    raster(dir.path(), "scene.tif", (300, 200, 3), 64);
    let server = Server::start(dir.path(), Mode::Normal);
    let local = GeoTiffReader::open(dir.path().join("scene.tif")).unwrap();
    let url = server.url("scene.tif");
    let remote = GeoTiffReader::open(&url).unwrap();
    assert_eq!(remote.path(), Path::new(&url));
    let windows = [
        Window::full(300, 200),
        Window::new(0, 0, 1, 1),
        Window::new(63, 63, 2, 2),
        Window::new(100, 37, 150, 120),
        Window::new(299, 199, 1, 1),
    ];
    same_windows(&local, &remote, &windows);
    // GDAL's /vsicurl/ prefix, and eight threads sharing one remote reader
    let vsi = GeoTiffReader::open(format!("/vsicurl/{url}")).unwrap();
    same_windows(&local, &vsi, &windows[2..4]);
    let fresh = GeoTiffReader::open(&url).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (local, fresh) = (&local, &fresh);
            s.spawn(move || {
                let w = Window::new(t * 30, t * 20, 60, 50);
                assert_eq!(
                    local.read_window(w, &[0, 2]).unwrap(),
                    fresh.read_window(w, &[0, 2]).unwrap()
                );
            });
        }
    });
}

#[test]
fn a_small_window_costs_few_requests() {
    let dir = tempfile::tempdir().unwrap();
    // 1024 x 1024, 1 band, 256 x 256 tiles: 16 tiles of pseudo-random u16, ~128 KiB each
    // deflated (more than a 64 KiB block, so each tile read is one request of its own)
    raster(dir.path(), "big.tif", (1024, 1024, 1), 256);
    let server = Server::start(dir.path(), Mode::Normal);
    let reader = GeoTiffReader::open(server.url("big.tif")).unwrap();
    let opened = server.requests();
    // Opening: 1 request (the first 64 KiB: header, and the IFD when written first), plus at
    // most 2 blocks for an IFD and its out-of-line tag arrays (tile offsets and byte counts,
    // 128 bytes here) written elsewhere in the file.
    assert!((1..=3).contains(&opened), "{opened} requests to open");
    // A 20 x 20 window across the corner of 4 tiles: one request per tile. Each tile is
    // over a 64 KiB block, so it is one ranged GET of exactly its bytes, whatever the block
    // cache holds (a smaller tile would be at most one request for its <= 2 blocks).
    let w = Window::new(246, 246, 20, 20);
    let px = reader.read_window_u16(w, &[0]).unwrap();
    let read = server.requests() - opened;
    assert_eq!(read, 4, "{read} requests for a window touching 4 tiles");
    // the same window again: decoded tiles are cached, no request
    assert_eq!(reader.read_window_u16(w, &[0]).unwrap(), px);
    assert_eq!(server.requests() - opened, read);
    let local = GeoTiffReader::open(dir.path().join("big.tif")).unwrap();
    assert_eq!(local.read_window_u16(w, &[0]).unwrap(), px);
}

#[test]
fn misbehaving_servers_give_typed_errors_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    // 2 MiB uncompressed: over the 1 MiB a server ignoring Range may send whole
    let data: Vec<u16> = (0..1024 * 1024).map(|i| i as u16).collect();
    let spec = RasterSpec::new(1024, 1024, 1, SampleType::U16)
        .with_compression(chronomap_geo::Compression::None)
        .with_tile_size(128);
    write_geotiff(dir.path().join("big.tif"), &spec, RasterData::U16(&data)).unwrap();
    raster(dir.path(), "small.tif", (64, 48, 2), 16);

    // 404: not retried
    let s = Server::start(dir.path(), Mode::NotFound);
    let url = s.url("big.tif");
    let (u, p, text) = http_error(GeoTiffReader::open_url(&url, &options(2, 5.0)).unwrap_err());
    assert_eq!(
        (u.as_str(), &p, s.requests()),
        (url.as_str(), &HttpProblem::NotFound, 1)
    );
    assert!(text.contains(&url) && text.contains("404"), "{text}");
    // a missing file on a good server, through plain open()
    let good = Server::start(dir.path(), Mode::Normal);
    let missing = good.url("nope.tif");
    let (u, p, _) = http_error(GeoTiffReader::open(&missing).unwrap_err());
    assert_eq!((u, p), (missing, HttpProblem::NotFound));

    // 500: retried, exactly 1 + 2 retries = 3 requests
    let s = Server::start(dir.path(), Mode::Fail500);
    let url = s.url("big.tif");
    let (u, p, text) = http_error(GeoTiffReader::open_url(&url, &options(2, 5.0)).unwrap_err());
    assert_eq!(u, url);
    assert_eq!(
        p,
        HttpProblem::Status {
            code: 500,
            attempts: 3
        }
    );
    assert_eq!(s.requests(), 3);
    assert!(text.contains(&url) && text.contains("500"), "{text}");

    // a server that fails after opening: the failure comes out of a window read
    // (as many good answers as opening takes: counted on a good server)
    let counting = Server::start(dir.path(), Mode::Normal);
    GeoTiffReader::open(counting.url("big.tif")).unwrap();
    let s = Server::start(dir.path(), Mode::FailAfter(counting.requests()));
    let url = s.url("big.tif");
    let r = GeoTiffReader::open_url(&url, &options(1, 5.0)).unwrap();
    let e = r
        .read_window(Window::new(900, 900, 30, 20), &[0])
        .unwrap_err();
    let (u, p, _) = http_error(e);
    assert_eq!(
        (u, p),
        (
            url,
            HttpProblem::Status {
                code: 500,
                attempts: 2
            }
        )
    );

    // Range ignored on a file over 1 MiB: an error; on a small file: read whole
    let s = Server::start(dir.path(), Mode::IgnoreRange);
    let url = s.url("big.tif");
    let (u, p, text) = http_error(GeoTiffReader::open_url(&url, &options(2, 5.0)).unwrap_err());
    assert_eq!((u.as_str(), p), (url.as_str(), HttpProblem::RangeIgnored));
    assert!(text.contains(&url) && text.contains("range"), "{text}");
    let small = GeoTiffReader::open(s.url("small.tif")).unwrap();
    let local = GeoTiffReader::open(dir.path().join("small.tif")).unwrap();
    same_windows(
        &local,
        &small,
        &[Window::full(64, 48), Window::new(5, 7, 20, 30)],
    );

    // a server that never answers: timeout on each of 2 attempts, in about 2 x 0.4 s
    let s = Server::start(dir.path(), Mode::Stall);
    let url = s.url("big.tif");
    let t0 = Instant::now();
    let (u, p, text) = http_error(GeoTiffReader::open_url(&url, &options(1, 0.4)).unwrap_err());
    let took = t0.elapsed();
    assert_eq!(u, url);
    assert!(
        matches!(p, HttpProblem::Timeout { attempts: 2, seconds } if (seconds - 0.4).abs() < 1e-9),
        "{p:?}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(text.contains("CHRONOMAP_HTTP_TIMEOUT_S"), "{text}");

    // wrong Content-Range, a body longer or shorter than asked
    let s = Server::start(dir.path(), Mode::WrongRange);
    let url = s.url("big.tif");
    let (u, p, _) = http_error(GeoTiffReader::open_url(&url, &options(2, 5.0)).unwrap_err());
    assert!(
        matches!(p, HttpProblem::BadContentRange { .. }) && u == url,
        "{p:?}"
    );
    assert_eq!(s.requests(), 1, "a bad Content-Range is not retried");
    let s = Server::start(dir.path(), Mode::LongBody);
    let url = s.url("big.tif");
    let (_, p, _) = http_error(GeoTiffReader::open_url(&url, &options(2, 5.0)).unwrap_err());
    assert_eq!(p, HttpProblem::BodyTooLong { expected: 65_536 });
    let s = Server::start(dir.path(), Mode::ShortBody);
    let url = s.url("big.tif");
    let (_, p, _) = http_error(GeoTiffReader::open_url(&url, &options(1, 5.0)).unwrap_err());
    assert!(
        matches!(p, HttpProblem::ShortBody { expected: 65_536, got } if got <= 32_768),
        "{p:?}"
    );
    assert_eq!(s.requests(), 2, "a body cut short is retried");

    // nobody listening: connection refused, retried
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/x.tif");
    let (u, p, text) = http_error(GeoTiffReader::open_url(&url, &options(1, 5.0)).unwrap_err());
    assert!(
        matches!(p, HttpProblem::Connection { attempts: 2, .. }) && u == url,
        "{p:?}"
    );
    assert!(text.contains(&url), "{text}");

    // not a URL at all
    let (_, p, _) =
        http_error(GeoTiffReader::open_url("ftp://x/y.tif", &options(0, 1.0)).unwrap_err());
    assert!(matches!(p, HttpProblem::BadUrl { .. }), "{p:?}");
}

/// A real COG from GDAL (`gdal_translate -of COG`: IFDs first, overviews, ghost area) and a
/// JPEG 2000 file, read over HTTP: the same pixels as read from the files.
#[test]
fn gdal_cog_and_jp2_over_http_match_the_files() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u16> = (0..2 * 700 * 500)
        .map(|i| (1000 + (i % 700) * 3 + (i / 700 % 500) * 2) as u16)
        .collect();
    let spec = RasterSpec::new(700, 500, 2, SampleType::U16)
        .with_geotransform(GeoTransform::north_up(300_000.0, 1_800_000.0, 10.0))
        .with_epsg(32628)
        .with_interleave(Interleave::Pixel)
        .with_strips(16);
    let src = dir.path().join("src.tif");
    write_geotiff(&src, &spec, RasterData::U16(&data)).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let cog = dir.path().join("cog.tif");
    crate::util::run(
        "gdal_translate",
        &[
            "-q",
            "-of",
            "COG",
            "-co",
            "BLOCKSIZE=256",
            "-co",
            "COMPRESS=DEFLATE",
            &s(&src),
            &s(&cog),
        ],
    );
    let server = Server::start(dir.path(), Mode::Normal);
    let local = GeoTiffReader::open(&cog).unwrap();
    let remote = GeoTiffReader::open(server.url("cog.tif")).unwrap();
    assert!(remote.info().tiled && remote.info().overviews > 0);
    let windows = [
        Window::full(700, 500),
        Window::new(250, 250, 12, 12),
        Window::new(600, 400, 100, 100),
    ];
    same_windows(&local, &remote, &windows);
    let jp2 = dir.path().join("scene.jp2");
    let converted = std::process::Command::new("gdal_translate")
        .args([
            "-q",
            "-of",
            "JP2OpenJPEG",
            "-co",
            "QUALITY=100",
            "-co",
            "REVERSIBLE=YES",
        ])
        .args([
            "-co",
            "BLOCKXSIZE=256",
            "-co",
            "BLOCKYSIZE=256",
            &s(&src),
            &s(&jp2),
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !converted {
        eprintln!("SKIPPED the JPEG 2000 part: gdal_translate has no JP2OpenJPEG driver");
        return;
    }
    let local = GeoTiffReader::open(&jp2).unwrap();
    let remote = GeoTiffReader::open(server.url("scene.jp2")).unwrap();
    same_windows(&local, &remote, &windows);
    let level = remote.info().reduction_levels as u32;
    assert!(level >= 1);
    let (w, h) = remote.reduced_size(level);
    assert_eq!(
        local
            .read_window_reduced(Window::full(w, h), &[1], level)
            .unwrap(),
        remote
            .read_window_reduced(Window::full(w, h), &[1], level)
            .unwrap()
    );
}
