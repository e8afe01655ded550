//! Cloud-Optimized GeoTIFFs written by chronomap ([`RasterSpec::with_cog`]) against GDAL:
//! `gdalinfo` reports `LAYOUT=COG` and the overviews `gdal_translate -of COG` would make,
//! the full resolution decodes to our pixels, and the overviews equal those of GDAL's own
//! COG driver run on a plain copy of the same raster (`RESAMPLING=NEAREST`/`MODE`
//! identical, `AVERAGE` up to float rounding). GDAL's `validate_cloud_optimized_geotiff.py`
//! also runs (with its full leader/trailer check) where a Python with `osgeo` is installed.

use std::path::Path;
use std::process::Command;

use chronomap_geo::{
    CogOptions, GeoTiffReader, GeoTiffWriter, GeoTransform, Interleave, OverviewResampling,
    RasterData, RasterSpec, SampleType, Window, write_geotiff,
};

use crate::require_gdal;
use crate::util::{gdal_pixels, run};

/// `gdal_translate -ovr level` of `path` as band-sequential f64 (GDAL decodes).
fn gdal_overview_pixels(path: &Path, level: usize, dir: &Path) -> Vec<f64> {
    let raw = dir.join(format!("ovr{level}.bin"));
    run(
        "gdal_translate",
        &[
            "-q",
            "-ovr",
            &level.to_string(),
            "-of",
            "ENVI",
            "-ot",
            "Float64",
            "-co",
            "INTERLEAVE=BSQ",
            path.to_str().unwrap(),
            raw.to_str().unwrap(),
        ],
    );
    std::fs::read(&raw)
        .unwrap()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// `gdalinfo` text.
fn gdalinfo_text(path: &Path) -> String {
    run("gdalinfo", &[path.to_str().unwrap()])
}

/// Runs GDAL's COG validator with `--full-check=yes` (block leaders and trailers, block
/// order) when a Python that imports `osgeo` is installed; returns whether it ran.
fn validate_with_gdal_script(path: &Path) -> bool {
    let script = "import sys\n\
        from osgeo_utils.samples import validate_cloud_optimized_geotiff as v\n\
        sys.exit(v.main(['v', '--full-check=yes', sys.argv[1]]))";
    for python in ["python3", "/usr/bin/python3"] {
        let probe = Command::new(python)
            .args([
                "-c",
                "import osgeo_utils.samples.validate_cloud_optimized_geotiff",
            ])
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            continue;
        }
        let out = Command::new(python)
            .args(["-c", script, path.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("is a valid cloud optimized GeoTIFF"),
            "{}: {text}{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("warnings"), "{text}");
        return true;
    }
    eprintln!("(GDAL's COG validator not run: no Python with osgeo_utils)");
    false
}

/// GDAL's own COG of `plain` (same tiling), for its overviews.
fn gdal_cog(plain: &Path, resampling: OverviewResampling, tile: usize, out: &Path) {
    run(
        "gdal_translate",
        &[
            "-q",
            "-of",
            "COG",
            "-co",
            &format!("BLOCKSIZE={tile}"),
            "-co",
            &format!("RESAMPLING={}", resampling.gdal_name()),
            "-co",
            "COMPRESS=DEFLATE",
            plain.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
}

/// The overview sizes listed by gdalinfo for band 1 (`Overviews: 150x100, 75x50`).
fn overview_line(text: &str) -> String {
    text.lines()
        .find(|l| l.trim_start().starts_with("Overviews:"))
        .map(|l| l.trim().to_string())
        .unwrap_or_default()
}

/// A 300 x 200 paletted class map (classes 0-5 in blobs and noise, nodata 255 in a
/// corner) as a COG with 64-pixel tiles: `LAYOUT=COG`, three overviews 150x100, 75x50,
/// 37x25, the colour table kept; GDAL decodes our pixels, and nearest/mode overviews are
/// identical to GDAL's COG driver's.
#[test]
fn class_map_cog_matches_gdal() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (300, 200);
    let mut state = 7u64;
    let data: Vec<u8> = (0..w * h)
        .map(|i| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let (r, c) = (i / w, i % w);
            if r < 37 && c < 51 {
                255
            } else if (state >> 60) < 3 {
                (state >> 40) as u8 % 6
            } else {
                ((r / 9 + c / 13) % 6) as u8
            }
        })
        .collect();
    let colors: Vec<[u8; 3]> = (0..6).map(|i| [i * 40, 255 - i * 40, 100]).collect();
    let base = RasterSpec::new(w, h, 1, SampleType::U8)
        .with_geotransform(GeoTransform::north_up(355_000.0, 1_780_000.0, 10.0))
        .with_epsg(32628)
        .with_nodata(255.0)
        .with_tile_size(64)
        .with_palette(colors);
    let plain = dir.path().join("plain.tif");
    write_geotiff(&plain, &base, RasterData::U8(&data)).unwrap();
    for resampling in [OverviewResampling::Nearest, OverviewResampling::Mode] {
        let what = format!("{resampling:?}");
        let cog = dir.path().join(format!("cog_{what}.tif"));
        let spec = base.clone().with_cog(CogOptions::new(resampling));
        write_geotiff(&cog, &spec, RasterData::U8(&data)).unwrap();
        let text = gdalinfo_text(&cog);
        assert!(text.contains("LAYOUT=COG"), "{what}: {text}");
        assert!(text.contains("COMPRESSION=DEFLATE"), "{text}");
        assert!(text.contains("ColorInterp=Palette"), "{text}");
        assert!(text.contains("NoData Value=255"), "{text}");
        assert!(text.contains("Block=64x64"), "{text}");
        assert_eq!(overview_line(&text), "Overviews: 150x100, 75x50, 37x25");
        assert!(text.contains("UTM zone 28N"), "{text}");
        // full resolution: GDAL and our reader (IFD 0) give our pixels
        let gdal: Vec<u8> = gdal_pixels(&cog, dir.path())
            .iter()
            .map(|&v| v as u8)
            .collect();
        assert_eq!(gdal, data, "{what}");
        let r = GeoTiffReader::open(&cog).unwrap();
        assert_eq!(r.info().overviews, 3);
        assert_eq!((r.info().width, r.info().block_width), (w, 64));
        assert_eq!(
            r.read_window_u8(Window::full(w, h), &[0]).unwrap(),
            data,
            "{what}"
        );
        // overviews: GDAL's COG driver on the plain copy
        let reference = dir.path().join(format!("gdal_{what}.tif"));
        gdal_cog(&plain, resampling, 64, &reference);
        assert_eq!(
            overview_line(&gdalinfo_text(&reference)),
            overview_line(&text)
        );
        for level in 0..3 {
            let ours = gdal_overview_pixels(&cog, level, dir.path());
            let theirs = gdal_overview_pixels(&reference, level, dir.path());
            let diff = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
            assert_eq!(ours.len(), theirs.len());
            assert_eq!(diff, 0, "{what} overview {level}: {diff} pixels differ");
        }
        if resampling == OverviewResampling::Nearest {
            // by hand: halving picks the top-left pixel of each 2 x 2 block, so level 1 of
            // 150 x 100 holds data[2r][2c]
            let ovr = gdal_overview_pixels(&cog, 0, dir.path());
            for r in 0..100 {
                for c in 0..150 {
                    assert_eq!(ovr[r * 150 + c], f64::from(data[2 * r * w + 2 * c]));
                }
            }
        }
        validate_with_gdal_script(&cog);
    }
}

/// A 301 x 203 two-band f32 probability raster (nodata -1 in a corner) as a COG with
/// average overviews, band- and pixel-interleaved: `LAYOUT=COG`, GDAL's overview sizes
/// 150x101, 75x50, 37x25 (odd sizes: fractional source windows), pixels equal to GDAL's
/// COG driver's `RESAMPLING=AVERAGE` up to float rounding, nodata kept out of the means.
#[test]
fn probability_cog_averages_like_gdal() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (301, 203);
    let mut data = vec![0f32; 2 * w * h];
    for r in 0..h {
        for c in 0..w {
            let p = 0.5 + 0.4 * ((r as f32 / 17.0).sin() * (c as f32 / 23.0).cos());
            let (p, q) = if r < 40 && c < 50 {
                (-1.0, -1.0)
            } else {
                (p, 1.0 - p)
            };
            data[r * w + c] = p;
            data[w * h + r * w + c] = q;
        }
    }
    for interleave in [Interleave::Band, Interleave::Pixel] {
        let base = RasterSpec::new(w, h, 2, SampleType::F32)
            .with_geotransform(GeoTransform::north_up(355_000.0, 1_780_000.0, 10.0))
            .with_epsg(32628)
            .with_nodata(-1.0)
            .with_tile_size(64)
            .with_interleave(interleave)
            .with_band_names(["water", "land"]);
        let plain = dir.path().join("plain_f32.tif");
        write_geotiff(&plain, &base, RasterData::F32(&data)).unwrap();
        let cog = dir.path().join("probs.tif");
        let spec = base
            .clone()
            .with_cog(CogOptions::new(OverviewResampling::Average));
        write_geotiff(&cog, &spec, RasterData::F32(&data)).unwrap();
        let text = gdalinfo_text(&cog);
        assert!(text.contains("LAYOUT=COG"), "{text}");
        assert_eq!(overview_line(&text), "Overviews: 150x101, 75x50, 37x25");
        assert!(text.contains("Description = land"), "{text}");
        let gdal = gdal_pixels(&cog, dir.path());
        assert!(
            gdal.iter().zip(&data).all(|(&a, &b)| a == f64::from(b)),
            "{interleave:?}"
        );
        let back: Vec<f32> = GeoTiffReader::open(&cog)
            .unwrap()
            .read_window_as(Window::full(w, h), &[0, 1])
            .unwrap();
        assert_eq!(back, data);
        let reference = dir.path().join("gdal_avg.tif");
        gdal_cog(&plain, OverviewResampling::Average, 64, &reference);
        assert_eq!(
            overview_line(&gdalinfo_text(&reference)),
            overview_line(&text)
        );
        for level in 0..3 {
            let ours = gdal_overview_pixels(&cog, level, dir.path());
            let theirs = gdal_overview_pixels(&reference, level, dir.path());
            assert_eq!(ours.len(), theirs.len());
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst <= 1e-6, "{interleave:?} overview {level}: {worst}");
            // the nodata corner stays nodata, and no mean includes -1
            assert_eq!(ours[0], -1.0);
            assert!(ours.iter().all(|&v| v == -1.0 || (0.0..=1.0).contains(&v)));
        }
        validate_with_gdal_script(&cog);
    }
}

/// Rows of tiles written bottom-up (so they reach the overviews only when `finish` reads
/// them back) give the same bytes as rows written top-down: COG output is deterministic
/// whatever the order of the windows.
#[test]
fn cog_bytes_do_not_depend_on_write_order() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (200, 150);
    let data: Vec<u16> = (0..w * h).map(|i| (i * 31 % 1000) as u16).collect();
    let spec = RasterSpec::new(w, h, 1, SampleType::U16)
        .with_tile_size(32)
        .with_cog(CogOptions::new(OverviewResampling::Average).with_min_size(16));
    let write = |name: &str, rows: &mut dyn Iterator<Item = usize>| {
        let p = dir.path().join(name);
        let mut wr = GeoTiffWriter::create(&p, spec.clone()).unwrap();
        for r in rows {
            let n = 10.min(h - r);
            wr.write_rows(r, &data[r * w..(r + n) * w]).unwrap();
        }
        wr.finish().unwrap();
        std::fs::read(p).unwrap()
    };
    let down = write("down.tif", &mut (0..h).step_by(10));
    let up = write("up.tif", &mut (0..h).step_by(10).rev());
    assert!(down == up, "bottom-up writing changed the file");
    let whole = dir.path().join("whole.tif");
    write_geotiff(&whole, &spec, RasterData::U16(&data)).unwrap();
    assert!(std::fs::read(&whole).unwrap() == down);
    let r = GeoTiffReader::open(&whole).unwrap();
    assert_eq!(r.info().overviews, 4); // 100x75, 50x37, 25x18, 12x9
    assert_eq!(r.read_window_u16(Window::full(w, h), &[0]).unwrap(), data);
}

/// Strips cannot make a COG.
#[test]
fn cog_needs_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let spec = RasterSpec::new(8, 8, 1, SampleType::U8)
        .with_strips(4)
        .with_cog(CogOptions::default());
    let e = write_geotiff(dir.path().join("s.tif"), &spec, RasterData::U8(&[0; 64])).unwrap_err();
    assert!(e.to_string().contains("tiled"), "{e}");
}
