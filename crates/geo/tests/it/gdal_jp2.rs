//! JPEG 2000 conformance with GDAL's JP2OpenJPEG driver (libopenjp2): files written by
//! `gdal_translate -of JP2OpenJPEG` with the options Sentinel-2 products and users produce
//! (lossless 5/3 and lossy 9/7 wavelets, 15-bit `UInt16`, signed `Int16`, tiles with partial
//! edge tiles, several resolution levels, GMLJP2 or GeoJP2 georeferencing, raw `.j2k`
//! codestreams, nodata in `.aux.xml`) read by chronomap with GDAL's pixels (its own decoding,
//! `gdal_translate -of ENVI`, is the reference, bit for bit), geotransform, EPSG and nodata;
//! reduced-resolution reads match `gdal_translate -ovr`.

use std::path::Path;

use chronomap_geo::{
    Compression, Error, GeoTiffReader, GeoTransform, RasterData, RasterSpec, SampleType, Window,
    write_geotiff,
};

use crate::require_gdal;
use crate::util::{
    assert_window_matches, gdal_epsg, gdal_geotransform, gdal_pixels, gdalinfo, run,
};

const W: usize = 75;
const H: usize = 53;

/// A smooth field plus texture, like reflectance: `bands` planes of `[H, W]`, within
/// `0..max` (`min..max` when signed).
fn values(bands: usize, min: f64, max: f64) -> Vec<f64> {
    values_sized(W, H, bands, min, max)
}

fn values_sized(w: usize, h: usize, bands: usize, min: f64, max: f64) -> Vec<f64> {
    (0..w * h * bands)
        .map(|i| {
            let (b, r, c) = (i / (w * h), (i / w) % h, i % w);
            let smooth = ((c as f64 * 0.11 + b as f64).sin() + (r as f64 * 0.07).cos()) * 0.25;
            let noise = ((i * 7919) % 97) as f64 / 97.0 * 0.1;
            (min + (smooth + 0.5 + noise).clamp(0.0, 1.0) * (max - min)).floor()
        })
        .collect()
}

fn write_source(path: &Path, t: SampleType, bands: usize, v: &[f64]) {
    write_source_sized(path, (W, H), t, bands, v)
}

fn write_source_sized(path: &Path, (w, h): (usize, usize), t: SampleType, bands: usize, v: &[f64]) {
    let spec = RasterSpec::new(w, h, bands, t)
        .with_geotransform(GeoTransform::north_up(499_980.0, 1_800_000.0, 10.0))
        .with_epsg(32628)
        .with_compression(Compression::None);
    match t {
        SampleType::U8 => {
            let d: Vec<u8> = v.iter().map(|&x| x as u8).collect();
            write_geotiff(path, &spec, RasterData::U8(&d)).unwrap()
        }
        SampleType::U16 => {
            let d: Vec<u16> = v.iter().map(|&x| x as u16).collect();
            write_geotiff(path, &spec, RasterData::U16(&d)).unwrap()
        }
        SampleType::I16 => {
            let d: Vec<i16> = v.iter().map(|&x| x as i16).collect();
            write_geotiff(path, &spec, RasterData::I16(&d)).unwrap()
        }
        other => unreachable!("no {other:?} source here"),
    }
}

fn translate(input: &Path, opts: &str, out: &Path) {
    let mut args = vec!["-q"];
    args.extend(opts.split_whitespace());
    args.push(input.to_str().unwrap());
    args.push(out.to_str().unwrap());
    run("gdal_translate", &args);
}

fn first_difference(got: &[f64], expected: &[f64]) -> Option<(usize, f64, f64)> {
    got.iter()
        .zip(expected)
        .enumerate()
        .find(|(_, (a, b))| a.to_bits() != b.to_bits())
        .map(|(i, (a, b))| (i, *a, *b))
}

/// chronomap's reading of `jp2` against GDAL's: size, bands, type, geotransform, EPSG, all
/// pixels, and a window crossing tile borders with the bands reordered.
fn check(jp2: &Path, dir: &Path, t: SampleType, what: &str) -> GeoTiffReader {
    let r = GeoTiffReader::open(jp2).unwrap_or_else(|e| panic!("{what}: {e} ({e:?})"));
    let info = gdalinfo(jp2, false);
    let i = r.info();
    assert_eq!(
        i.width,
        info["size"][0].as_u64().unwrap() as usize,
        "{what}"
    );
    assert_eq!(
        i.height,
        info["size"][1].as_u64().unwrap() as usize,
        "{what}"
    );
    let gdal_bands = info["bands"].as_array().unwrap();
    assert_eq!(i.bands, gdal_bands.len(), "{what}");
    assert_eq!(i.sample_type, t, "{what}");
    assert_eq!(i.compression, Compression::Jpeg2000, "{what}");
    match (i.geotransform.map(|g| g.0), gdal_geotransform(&info)) {
        (Some(a), Some(b)) => {
            for k in 0..6 {
                assert!(
                    (a[k] - b[k]).abs() < 1e-6,
                    "{what}: geotransform {a:?} vs {b:?}"
                );
            }
        }
        (a, b) => assert_eq!(a, b, "{what}: geotransform"),
    }
    assert_eq!(i.epsg, gdal_epsg(&info), "{what}: EPSG");
    assert_eq!(
        i.nodata,
        gdal_bands[0]["noDataValue"].as_f64(),
        "{what}: nodata"
    );

    let expected = gdal_pixels(jp2, dir);
    let bands: Vec<usize> = (0..i.bands).collect();
    let all = r
        .read_window_as::<f64>(Window::full(W, H), &bands)
        .unwrap_or_else(|e| panic!("{what}: {e} ({e:?})"));
    assert_eq!(all.len(), expected.len(), "{what}");
    if let Some((k, a, b)) = first_difference(&all, &expected) {
        let n = all.iter().zip(&expected).filter(|(a, b)| a != b).count();
        panic!(
            "{what}: {n} of {} pixels differ from GDAL's; first at band {}, row {}, col {}: {a} vs {b}",
            all.len(),
            k / (W * H),
            (k / W) % H,
            k % W
        );
    }
    let win = Window::new(17, 9, 47, 38);
    let order: Vec<usize> = bands.iter().rev().copied().collect();
    let part = r.read_window_as::<f64>(win, &order).unwrap();
    assert_window_matches(&part, &expected, (W, H), win, &order, what);
    r
}

/// The lossless cases: GDAL's pixels must also equal the source's.
#[test]
fn gdal_jp2_files_read_like_gdal() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, SampleType, usize, f64, f64, &str, bool)] = &[
        // (name, type, bands, min, max, options, lossless)
        (
            "s2_like_15bit_tiled",
            SampleType::U16,
            1,
            0.0,
            20000.0,
            "-of JP2OpenJPEG -co QUALITY=100 -co REVERSIBLE=YES -co NBITS=15 \
             -co BLOCKXSIZE=32 -co BLOCKYSIZE=32 -co RESOLUTIONS=3",
            true,
        ),
        (
            "u16_three_bands_one_tile",
            SampleType::U16,
            3,
            0.0,
            65535.0,
            "-of JP2OpenJPEG -co QUALITY=100 -co REVERSIBLE=YES",
            true,
        ),
        (
            "u8_lossy_97",
            SampleType::U8,
            3,
            0.0,
            255.0,
            "-of JP2OpenJPEG -co QUALITY=20 -co BLOCKXSIZE=64 -co BLOCKYSIZE=64",
            false,
        ),
        (
            "u16_lossy_tiled",
            SampleType::U16,
            2,
            0.0,
            12000.0,
            "-of JP2OpenJPEG -co QUALITY=30 -co BLOCKXSIZE=48 -co BLOCKYSIZE=32",
            false,
        ),
        (
            "i16_signed",
            SampleType::I16,
            1,
            -3000.0,
            3000.0,
            "-of JP2OpenJPEG -co QUALITY=100 -co REVERSIBLE=YES",
            true,
        ),
        (
            "geojp2_only",
            SampleType::U16,
            1,
            0.0,
            10000.0,
            "-of JP2OpenJPEG -co QUALITY=100 -co REVERSIBLE=YES -co GMLJP2=NO -co GeoJP2=YES",
            true,
        ),
        (
            "raw_codestream",
            SampleType::U16,
            1,
            0.0,
            10000.0,
            "-of JP2OpenJPEG -co CODEC=J2K -co QUALITY=100 -co REVERSIBLE=YES",
            true,
        ),
        (
            "nodata_in_aux_xml",
            SampleType::U16,
            1,
            0.0,
            10000.0,
            "-of JP2OpenJPEG -a_nodata 0 -co QUALITY=100 -co REVERSIBLE=YES",
            true,
        ),
    ];
    for &(name, t, bands, min, max, opts, lossless) in cases {
        let src = dir.path().join(format!("{name}.tif"));
        let v = values(bands, min, max);
        write_source(&src, t, bands, &v);
        let ext = if opts.contains("CODEC=J2K") {
            "j2k"
        } else {
            "jp2"
        };
        let jp2 = dir.path().join(format!("{name}.{ext}"));
        translate(&src, opts, &jp2);
        let r = check(&jp2, dir.path(), t, name);
        if lossless {
            let all = r
                .read_window_as::<f64>(Window::full(W, H), &(0..bands).collect::<Vec<_>>())
                .unwrap();
            assert!(
                first_difference(&all, &v).is_none(),
                "{name}: lossless file differs from its source"
            );
        }
        assert_eq!(r.info().epsg, Some(32628), "{name}");
        if ext == "j2k" {
            // a raw codestream's georeferencing lives in GDAL's .aux.xml only
            let aux = dir.path().join(format!("{name}.j2k.aux.xml"));
            std::fs::remove_file(&aux).unwrap();
            let bare = GeoTiffReader::open(&jp2).unwrap();
            assert_eq!(
                bare.info().geotransform,
                None,
                "{name} without its .aux.xml"
            );
            assert_eq!(bare.info().epsg, None, "{name} without its .aux.xml");
        }
    }
}

/// Resolution levels: `read_window_reduced(level)` gives `gdal_translate -ovr level-1`'s
/// pixels, for lossless and lossy files, tiled or not. GDAL lists a `.jp2`'s resolution
/// levels as overviews only down to about 128 pixels, so these files are larger.
#[test]
fn reduced_resolution_reads_match_gdal_overviews() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    for (name, opts) in [
        (
            "tiled_lossless",
            "-of JP2OpenJPEG -co QUALITY=100 -co REVERSIBLE=YES -co RESOLUTIONS=4 \
             -co BLOCKXSIZE=256 -co BLOCKYSIZE=256",
        ),
        (
            "one_tile_lossy",
            "-of JP2OpenJPEG -co QUALITY=25 -co RESOLUTIONS=3",
        ),
    ] {
        let src = dir.path().join(format!("{name}.tif"));
        let (w, h) = (1100, 700);
        write_source_sized(
            &src,
            (w, h),
            SampleType::U16,
            1,
            &values_sized(w, h, 1, 0.0, 9000.0),
        );
        let jp2 = dir.path().join(format!("{name}.jp2"));
        translate(&src, opts, &jp2);
        let r = GeoTiffReader::open(&jp2).unwrap();
        let levels = r.info().reduction_levels;
        let gdal_overviews = gdalinfo(&jp2, false)["bands"][0]["overviews"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(levels >= 2, "{name}: {levels} levels");
        assert!(
            gdal_overviews >= 2,
            "{name}: GDAL lists {gdal_overviews} overviews"
        );
        for level in 1..=gdal_overviews.min(levels) as u32 {
            let ovr = dir.path().join(format!("{name}_ovr{level}.tif"));
            translate(&jp2, &format!("-ovr {}", level - 1), &ovr);
            let info = gdalinfo(&ovr, false);
            let (w, h) = r.reduced_size(level);
            assert_eq!(
                (w, h),
                (
                    info["size"][0].as_u64().unwrap() as usize,
                    info["size"][1].as_u64().unwrap() as usize
                ),
                "{name}: size at level {level}"
            );
            let expected = gdal_pixels(&ovr, dir.path());
            let got: Vec<f64> = r
                .read_window_reduced(Window::full(w, h), &[0], level)
                .unwrap()
                .into_iter()
                .map(f64::from)
                .collect();
            if let Some((k, a, b)) = first_difference(&got, &expected) {
                panic!(
                    "{name}: level {level} pixel {k} ({}, {}): {a} vs GDAL {b}",
                    k % w,
                    k / w
                );
            }
        }
        let err = r
            .read_window_reduced(Window::full(1, 1), &[0], levels as u32 + 1)
            .unwrap_err();
        assert!(matches!(err, Error::ReductionOutOfRange { .. }), "{err:?}");
    }
}

/// A JPEG 2000 file cut short or with its tile data overwritten gives a typed error naming
/// the file, never a panic or garbage pixels silently.
#[test]
fn damaged_jp2_files_give_typed_errors() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.tif");
    write_source(&src, SampleType::U16, 1, &values(1, 0.0, 9000.0));
    let jp2 = dir.path().join("good.jp2");
    translate(
        &src,
        "-of JP2OpenJPEG -co QUALITY=100 -co REVERSIBLE=YES -co BLOCKXSIZE=32 -co BLOCKYSIZE=32",
        &jp2,
    );
    let bytes = std::fs::read(&jp2).unwrap();
    // cut at several points: inside the boxes, the main header and the tile data
    for cut in [20, 60, bytes.len() / 3, bytes.len() - 40] {
        let bad = dir.path().join(format!("cut_{cut}.jp2"));
        std::fs::write(&bad, &bytes[..cut]).unwrap();
        let result = GeoTiffReader::open(&bad).and_then(|r| {
            r.read_window_as::<u16>(Window::full(W, H), &[0])
                .map(|_| ())
        });
        match result {
            Err(e @ Error::Jp2 { .. }) => {
                assert!(format!("{e}").contains(&format!("cut_{cut}.jp2")), "{e}")
            }
            other => panic!("cut at {cut} of {}: {other:?}", bytes.len()),
        }
    }
}
