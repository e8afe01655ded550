//! GeoTIFF conformance with GDAL, both ways:
//! - files written by `gdal_translate` with every layout/compression/predictor/type/BigTIFF/COG
//!   option are read by chronomap with the same pixels and georeferencing as GDAL reports;
//! - files written by chronomap are read by GDAL with the same pixels, geotransform, EPSG,
//!   nodata and statistics.
//!
//! The expected pixels are the ones chronomap wrote into the uncompressed source file, and
//! GDAL's own decoding of that source (`gdal_pixels`) is checked against them first.

use std::path::Path;

use chronomap_geo::{
    GeoTiffReader, GeoTransform, Interleave, RasterData, RasterSpec, SampleType, Window,
    write_geotiff,
};

use crate::require_gdal;
use crate::util::{
    assert_window_matches, gdal_epsg, gdal_geotransform, gdal_pixels, gdalinfo, run,
};

const W: usize = 70;
const H: usize = 45;
const BANDS: usize = 3;

/// Values exercising the full range of each type (negative, large, fractional).
fn source_values(t: SampleType) -> Vec<f64> {
    (0..W * H * BANDS)
        .map(|i| {
            let smooth = (i % W) as f64 * 3.0 + (i / W) as f64 * 0.5;
            let noise = ((i * 7919) % 113) as f64;
            match t {
                SampleType::U8 => ((smooth + noise) % 256.0).floor(),
                SampleType::I8 => ((smooth + noise) % 256.0).floor() - 128.0,
                SampleType::F16 => unreachable!("Float16 sources are written by GDAL"),
                SampleType::U16 => ((smooth * 97.0 + noise) % 65536.0).floor(),
                SampleType::I16 => ((smooth * 37.0 + noise) % 60000.0 - 30000.0).floor(),
                SampleType::U32 => (smooth * 1e5 + noise).floor(),
                SampleType::I32 => (smooth * 1e5 - 1e7 + noise).floor(),
                SampleType::F32 => ((smooth - 50.0) * 0.37 + noise * 1e-3) as f32 as f64,
                SampleType::F64 => (smooth - 50.0) * 0.37 + noise * 1e-7,
            }
        })
        .collect()
}

fn write_source(path: &Path, t: SampleType, values: &[f64]) {
    let spec = RasterSpec::new(W, H, BANDS, t)
        .with_geotransform(GeoTransform::north_up(355_000.0, 1_780_000.0, 10.0))
        .with_epsg(32628)
        .with_compression(chronomap_geo::Compression::None)
        .with_strips(H);
    macro_rules! w {
        ($ty:ty, $v:ident) => {{
            let d: Vec<$ty> = values.iter().map(|&x| x as $ty).collect();
            write_geotiff(path, &spec, RasterData::$v(&d)).unwrap()
        }};
    }
    match t {
        SampleType::U8 => w!(u8, U8),
        SampleType::I8 => w!(i8, I8),
        SampleType::F16 => unreachable!("chronomap does not write Float16"),
        SampleType::U16 => w!(u16, U16),
        SampleType::I16 => w!(i16, I16),
        SampleType::U32 => w!(u32, U32),
        SampleType::I32 => w!(i32, I32),
        SampleType::F32 => w!(f32, F32),
        SampleType::F64 => w!(f64, F64),
    }
}

/// Asserts equal pixel vectors, reporting the number of differences and the first one.
fn assert_same(got: &[f64], expected: &[f64], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: lengths");
    let bad: Vec<usize> = (0..got.len())
        .filter(|&i| got[i].to_bits() != expected[i].to_bits())
        .collect();
    if let Some(&i) = bad.first() {
        panic!(
            "{what}: {} of {} pixels differ; first at index {i} (band {}, row {}, col {}): {} vs {}",
            bad.len(),
            got.len(),
            i / (W * H),
            i % (W * H) / W,
            i % W,
            got[i],
            expected[i]
        );
    }
}

/// gdalinfo prints geotransforms with 15-16 significant digits.
fn assert_gt_close(ours: Option<[f64; 6]>, gdal: Option<[f64; 6]>, what: &str) {
    match (ours, gdal) {
        (Some(a), Some(b)) => {
            for i in 0..6 {
                assert!(
                    (a[i] - b[i]).abs() <= 1e-13 * b[i].abs().max(1e-3),
                    "{what}: {a:?} vs GDAL {b:?}"
                );
            }
        }
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}

fn read_f64(r: &GeoTiffReader, win: Window, bands: &[usize]) -> Vec<f64> {
    r.read_window_as::<f64>(win, bands).unwrap()
}

/// Checks chronomap's reading of `path` against `expected` pixels and gdalinfo.
/// The words of a command-line fragment (`"-co COMPRESS=JPEG -co TILED=YES"`).
fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// `gdal_translate -q OPTS input out`.
fn translate(input: &Path, opts: &[&str], out: &Path) {
    let mut args = vec!["-q"];
    args.extend(opts.iter().copied());
    args.push(input.to_str().unwrap());
    args.push(out.to_str().unwrap());
    run("gdal_translate", &args);
}

/// [`translate`], then chronomap's reader on `out` and every band of it as `f64`
/// (`[bands, H, W]`).
fn translate_and_read(
    input: &Path,
    opts: &[&str],
    out: &Path,
    what: &str,
) -> (GeoTiffReader, Vec<f64>) {
    translate(input, opts, out);
    let r = GeoTiffReader::open(out).unwrap_or_else(|e| panic!("{what}: {e:?}"));
    let bands: Vec<usize> = (0..r.info().bands).collect();
    let all = read_f64(&r, Window::full(W, H), &bands);
    (r, all)
}

fn check_against_gdal(path: &Path, expected: &[f64], what: &str) {
    let r = GeoTiffReader::open(path).unwrap_or_else(|e| panic!("{what}: {e:?}"));
    let info = gdalinfo(path, false);
    assert_eq!(
        r.info().width,
        info["size"][0].as_u64().unwrap() as usize,
        "{what}"
    );
    assert_eq!(
        r.info().height,
        info["size"][1].as_u64().unwrap() as usize,
        "{what}"
    );
    assert_gt_close(
        r.info().geotransform.map(|g| g.0),
        gdal_geotransform(&info),
        what,
    );
    assert_eq!(r.info().epsg, gdal_epsg(&info), "{what}");
    let bands: Vec<usize> = (0..r.info().bands).collect();
    let all = read_f64(&r, Window::full(W, H), &bands);
    assert_eq!(all.len(), expected.len(), "{what}");
    assert_same(&all, expected, what);
    // a window crossing tile/strip borders, bands reordered
    let win = Window::new(13, 7, 41, 29);
    let part = read_f64(&r, win, &[2, 0]);
    assert_window_matches(&part, expected, (W, H), win, &[2, 0], what);
}

/// Every GTiff layout a user's GDAL may produce, for every sample type.
#[test]
fn chronomap_reads_gdal_translate_outputs() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for t in [
        SampleType::U8,
        SampleType::U16,
        SampleType::I16,
        SampleType::U32,
        SampleType::I32,
        SampleType::F32,
        SampleType::F64,
    ] {
        let src = dir.path().join(format!("src_{t}.tif"));
        let values = source_values(t);
        write_source(&src, t, &values);
        // GDAL decodes our source to the same values (writer check, independent of our reader)
        assert_same(
            &gdal_pixels(&src, dir.path()),
            &values,
            &format!("GDAL reading chronomap's {t} source"),
        );
        let pred = if t.is_float() {
            "PREDICTOR=3"
        } else {
            "PREDICTOR=2"
        };
        let variants: Vec<Vec<&str>> = vec![
            vec![],
            vec!["-co", "COMPRESS=DEFLATE", "-co", pred],
            vec!["-co", "COMPRESS=LZW", "-co", "PREDICTOR=2"],
            vec!["-co", "COMPRESS=PACKBITS", "-co", "INTERLEAVE=BAND"],
            vec!["-co", "COMPRESS=ZSTD", "-co", pred, "-co", "TILED=YES"],
            vec![
                "-co",
                "COMPRESS=ZSTD",
                "-co",
                "ZSTD_LEVEL=19",
                "-co",
                "INTERLEAVE=BAND",
            ],
            vec![
                "-co",
                "TILED=YES",
                "-co",
                "BLOCKXSIZE=32",
                "-co",
                "BLOCKYSIZE=16",
            ],
            vec![
                "-co",
                "TILED=YES",
                "-co",
                "BLOCKXSIZE=16",
                "-co",
                "BLOCKYSIZE=32",
                "-co",
                "COMPRESS=DEFLATE",
                "-co",
                pred,
                "-co",
                "INTERLEAVE=BAND",
            ],
            vec![
                "-co",
                "TILED=YES",
                "-co",
                "COMPRESS=LZW",
                "-co",
                "INTERLEAVE=PIXEL",
                "-co",
                pred,
            ],
            vec![
                "-co",
                "BIGTIFF=YES",
                "-co",
                "TILED=YES",
                "-co",
                "BLOCKXSIZE=16",
                "-co",
                "BLOCKYSIZE=16",
                "-co",
                "COMPRESS=DEFLATE",
            ],
            vec![
                "-co",
                "BIGTIFF=YES",
                "-co",
                "INTERLEAVE=BAND",
                "-co",
                "BLOCKYSIZE=7",
            ],
            vec![
                "-co",
                "ENDIANNESS=BIG",
                "-co",
                "COMPRESS=DEFLATE",
                "-co",
                pred,
                "-co",
                "TILED=YES",
                "-co",
                "BLOCKXSIZE=16",
                "-co",
                "BLOCKYSIZE=16",
            ],
            vec!["-co", "ENDIANNESS=BIG", "-co", "INTERLEAVE=BAND"],
            vec![
                "-co",
                "COMPRESS=DEFLATE",
                "-co",
                "ZLEVEL=9",
                "-co",
                "BLOCKYSIZE=1",
            ],
            vec![
                "-of",
                "COG",
                "-co",
                "BLOCKSIZE=16",
                "-co",
                "COMPRESS=DEFLATE",
                "-co",
                pred,
                "-co",
                "OVERVIEWS=AUTO",
            ],
        ];
        for (i, opts) in variants.iter().enumerate() {
            let out = dir.path().join(format!("v{i}_{t}.tif"));
            translate(&src, opts, &out);
            check_against_gdal(&out, &values, &format!("{t} {opts:?}"));
            checked += 1;
        }
    }
    // 7 types x 15 layouts
    assert_eq!(checked, 105);
}

/// JPEG-compressed files as GDAL writes them (abbreviated streams + `JPEGTables`): grey,
/// RGB and chroma-subsampled YCbCr, tiled and striped, pixel and band interleaved. JPEG is
/// lossy and decoders differ in their inverse DCT and chroma upsampling, so chronomap's pixels
/// are compared with GDAL's decoding of the same file (libjpeg) within a tolerance. Measured
/// (zune-jpeg 0.5 vs GDAL 3.6 / libjpeg-turbo): grey, RGB and band-interleaved files differ by
/// at most 1 level (mean 0.02); 4:2:0 YCbCr by at most 4 inside chunks and up to 11 on the
/// last row and column of a chunk, where the two upsample chroma differently (16 of 9450
/// samples above 4, mean 0.39). A wrong colour conversion, a swapped component or a shifted
/// block gives tens of levels almost everywhere.
#[test]
fn gdal_jpeg_files_decode_like_gdal() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src_u8.tif");
    let values = source_values(SampleType::U8);
    write_source(&src, SampleType::U8, &values);
    let grey = dir.path().join("grey.tif");
    translate(&src, &["-b", "1"], &grey);
    // (source, options, max |difference|, max mean |difference|); at most 0.5% of the samples
    // may differ by more than 4
    let cases: Vec<(&Path, &str, f64, f64)> = vec![
        (
            &grey,
            "-co COMPRESS=JPEG -co TILED=YES -co BLOCKXSIZE=32 -co BLOCKYSIZE=16",
            1.0,
            0.05,
        ),
        (
            &grey,
            "-co COMPRESS=JPEG -co JPEG_QUALITY=95 -co BLOCKYSIZE=8",
            1.0,
            0.05,
        ),
        (
            &src,
            "-co COMPRESS=JPEG -co PHOTOMETRIC=RGB -co TILED=YES -co BLOCKXSIZE=16 -co BLOCKYSIZE=16",
            1.0,
            0.05,
        ),
        (
            &src,
            "-co COMPRESS=JPEG -co PHOTOMETRIC=YCBCR -co TILED=YES -co BLOCKXSIZE=32 -co BLOCKYSIZE=32",
            12.0,
            1.0,
        ),
        (
            &src,
            "-co COMPRESS=JPEG -co PHOTOMETRIC=YCBCR -co BLOCKYSIZE=16",
            12.0,
            1.0,
        ),
        (
            &src,
            "-co COMPRESS=JPEG -co INTERLEAVE=BAND -co TILED=YES",
            1.0,
            0.05,
        ),
    ];
    for (i, (input, opts, max_diff, max_mean)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("jpeg{i}.tif"));
        let what = format!("JPEG {opts}");
        let (r, ours) = translate_and_read(input, &words(opts), &out, &what);
        assert_eq!(
            r.info().compression,
            chronomap_geo::Compression::Jpeg,
            "{what}"
        );
        let gdal = gdal_pixels(&out, dir.path());
        assert_eq!(ours.len(), gdal.len(), "{what}");
        let diffs: Vec<f64> = ours.iter().zip(&gdal).map(|(a, b)| (a - b).abs()).collect();
        let max = diffs.iter().cloned().fold(0.0, f64::max);
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        let at = diffs.iter().position(|&d| d == max).unwrap_or(0);
        let big = diffs.iter().filter(|&&d| d > 4.0).count();
        println!(
            "{what}: max |diff| {max} at band {} row {} col {}, {big} above 4, mean {mean:.4}",
            at / (W * H),
            at % (W * H) / W,
            at % W
        );
        assert!(
            max <= *max_diff && mean <= *max_mean && big * 200 <= diffs.len(),
            "{what}: max {max}, mean {mean}, {big} above 4"
        );
        // And it is the image: as close to the lossless source as GDAL's decoding is (the
        // source's pixel-level noise makes 4:2:0 chroma subsampling lose a lot).
        let src_vals = &values[..ours.len()];
        let to_src = |v: &[f64]| {
            v.iter()
                .zip(src_vals)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>()
                / v.len() as f64
        };
        let (err, gdal_err) = (to_src(&ours), to_src(&gdal));
        assert!(
            err <= gdal_err + 0.5,
            "{what}: mean error to the source {err}, GDAL's {gdal_err}"
        );
    }
}

/// Int8 (`Byte` with `PIXELTYPE=SIGNEDBYTE`, SampleFormat 2) and Float16 (`Float32` with
/// `NBITS=16`, SampleFormat 3 / 16 bits) files as GDAL writes them read the values GDAL reads.
/// GDAL 3.6 (before its Int8 type, 3.7) stores the bytes of a `SIGNEDBYTE` file unchanged and
/// reports them unsigned; the file's SampleFormat says signed, so the expected values are GDAL's
/// bytes read as two's complement.
#[test]
fn gdal_int8_and_float16_files_read_like_gdal() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let u8src = dir.path().join("src_u8.tif");
    let bytes = source_values(SampleType::U8);
    write_source(&u8src, SampleType::U8, &bytes);
    let signed: Vec<f64> = bytes
        .iter()
        .map(|&v| if v >= 128.0 { v - 256.0 } else { v })
        .collect();
    let f32src = dir.path().join("src_f32.tif");
    let values = source_values(SampleType::F32);
    write_source(&f32src, SampleType::F32, &values);
    let cases: Vec<(&Path, &str, SampleType)> = vec![
        (&u8src, "-co PIXELTYPE=SIGNEDBYTE", SampleType::I8),
        (
            &u8src,
            "-co PIXELTYPE=SIGNEDBYTE -co COMPRESS=DEFLATE -co PREDICTOR=2 -co TILED=YES \
             -co BLOCKXSIZE=16 -co BLOCKYSIZE=16",
            SampleType::I8,
        ),
        (&f32src, "-co NBITS=16", SampleType::F16),
        (
            &f32src,
            "-co NBITS=16 -co COMPRESS=DEFLATE -co PREDICTOR=3 -co INTERLEAVE=BAND",
            SampleType::F16,
        ),
    ];
    for (i, (input, opts, t)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("t{i}.tif"));
        let what = format!("{t:?} {opts}");
        let (r, ours) = translate_and_read(input, &words(opts), &out, &what);
        assert_eq!(r.info().sample_type, *t, "{what}");
        let gdal = gdal_pixels(&out, dir.path());
        if *t == SampleType::I8 {
            assert_same(&gdal, &bytes, &format!("{what}: GDAL's bytes"));
            assert_same(&ours, &signed, &what);
            let typed = r.read_window_as::<i8>(Window::full(W, H), &[0]).unwrap();
            let want: Vec<i8> = signed[..W * H].iter().map(|&v| v as i8).collect();
            assert_eq!(typed, want, "{what}");
        } else {
            assert_same(&ours, &gdal, &what);
            // half precision: within one unit in the last place (2^-10 relative) of the f32
            // source (GDAL 3.6 truncates rather than rounds when it writes NBITS=16)
            for (a, b) in ours.iter().zip(&values) {
                assert!(
                    (a - b).abs() <= b.abs() * 9.8e-4 + 6.2e-5,
                    "{what}: {a} vs {b}"
                );
            }
        }
        // statistics come out as GDAL's
        let s = r.statistics(|_, _| {}).unwrap();
        let b0 = &ours[..W * H];
        let (min, max) = b0
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert_eq!((s[0].min, s[0].max), (min, max), "{what}");
    }
}

#[test]
fn cog_overviews_are_ignored_and_counted() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.tif");
    let values = source_values(SampleType::U16);
    write_source(&src, SampleType::U16, &values);
    let cog = dir.path().join("cog.tif");
    run(
        "gdal_translate",
        &[
            "-q",
            "-of",
            "COG",
            "-co",
            "BLOCKSIZE=16",
            "-co",
            "OVERVIEW_COUNT=2",
            src.to_str().unwrap(),
            cog.to_str().unwrap(),
        ],
    );
    let r = GeoTiffReader::open(&cog).unwrap();
    assert_eq!(r.info().overviews, 2);
    check_against_gdal(&cog, &values, "COG with 2 overviews");
}

/// `AREA_OR_POINT=Point` makes GDAL write `PixelIsPoint` and shift the tiepoint by half a
/// pixel; on reading GDAL shifts back. chronomap must report the same geotransform.
#[test]
fn pixel_is_point_matches_gdalinfo() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.tif");
    write_source(&src, SampleType::U8, &source_values(SampleType::U8));
    let pt = dir.path().join("point.tif");
    run(
        "gdal_translate",
        &[
            "-q",
            "-mo",
            "AREA_OR_POINT=Point",
            src.to_str().unwrap(),
            pt.to_str().unwrap(),
        ],
    );
    let r = GeoTiffReader::open(&pt).unwrap();
    assert!(r.info().pixel_is_point);
    let info = gdalinfo(&pt, false);
    assert_gt_close(
        r.info().geotransform.map(|g| g.0),
        gdal_geotransform(&info),
        "PixelIsPoint",
    );
}

/// Rotated (ModelTransformation), south-up, and geographic rasters, plus nodata: GDAL's
/// georeferencing as written by `gdal_translate -a_ullr/-a_srs/-a_nodata` or `gdal_edit`.
#[test]
fn georeferencing_variants_match_gdalinfo() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.tif");
    write_source(&src, SampleType::I16, &source_values(SampleType::I16));
    let s = src.to_str().unwrap();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "geographic",
            vec![
                "-a_srs",
                "EPSG:4326",
                "-a_ullr",
                "-16.52",
                "16.06",
                "-16.45",
                "16.01",
                "-a_nodata",
                "-32768",
            ],
        ),
        (
            "south-up",
            vec![
                "-a_srs",
                "EPSG:32728",
                "-a_ullr",
                "500000",
                "8000000",
                "500700",
                "8000450",
            ],
        ),
        (
            "lambert93",
            vec![
                "-a_srs",
                "EPSG:2154",
                "-a_ullr",
                "650000",
                "6860000",
                "650700",
                "6859550",
                "-a_nodata",
                "nan",
            ],
        ),
        (
            "web-mercator",
            vec![
                "-a_srs",
                "EPSG:3857",
                "-a_ullr",
                "-1838000",
                "1818000",
                "-1837300",
                "1817550",
                "-a_nodata",
                "0",
            ],
        ),
    ];
    for (name, opts) in cases {
        let out = dir.path().join(format!("{name}.tif"));
        translate(Path::new(s), &opts, &out);
        let r = GeoTiffReader::open(&out).unwrap();
        let info = gdalinfo(&out, false);
        assert_gt_close(
            r.info().geotransform.map(|g| g.0),
            gdal_geotransform(&info),
            name,
        );
        assert_eq!(r.info().epsg, gdal_epsg(&info), "{name}");
        let gdal_nodata = info["bands"][0]["noDataValue"].clone();
        match (r.info().nodata, gdal_nodata) {
            (None, serde_json::Value::Null) => {}
            (Some(v), serde_json::Value::String(s)) if v.is_nan() => assert_eq!(s, "NaN"),
            (Some(v), serde_json::Value::Number(n)) => assert_eq!(v, n.as_f64().unwrap(), "{name}"),
            (a, b) => panic!("{name}: nodata {a:?} vs GDAL {b:?}"),
        }
    }
    // rotated and south-up (dy > 0) transforms, set through a VRT and written by
    // gdal_translate (ModelTransformation / negative scale)
    for (name, gt) in [
        ("rotated_gdal", "355000, 9.8, 1.7, 1780000, 1.7, -9.8"),
        ("southup_gdal", "355000, 10, 0, 1779550, 0, 10"),
    ] {
        let vrt = dir.path().join(format!("{name}.vrt"));
        std::fs::write(
            &vrt,
            format!(
                r#"<VRTDataset rasterXSize="{W}" rasterYSize="{H}"><SRS>EPSG:32628</SRS><GeoTransform>{gt}</GeoTransform>
<VRTRasterBand dataType="Int16" band="1"><SimpleSource><SourceFilename relativeToVRT="0">{s}</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>"#
            ),
        )
        .unwrap();
        let out = dir.path().join(format!("{name}.tif"));
        run(
            "gdal_translate",
            &["-q", vrt.to_str().unwrap(), out.to_str().unwrap()],
        );
        let r = GeoTiffReader::open(&out).unwrap();
        let info = gdalinfo(&out, false);
        let expected: Vec<f64> = gt.split(',').map(|v| v.trim().parse().unwrap()).collect();
        assert_gt_close(
            gdal_geotransform(&info),
            Some(expected.clone().try_into().unwrap()),
            name,
        );
        assert_gt_close(
            r.info().geotransform.map(|g| g.0),
            gdal_geotransform(&info),
            name,
        );
        assert_eq!(r.info().epsg, Some(32628), "{name}");
    }
    // chronomap's own rotated transform is read back identically by GDAL
    let rot = dir.path().join("rotated.tif");
    let gt = GeoTransform([355_000.0, 9.8, 1.7, 1_780_000.0, 1.7, -9.8]);
    let spec = RasterSpec::new(8, 6, 1, SampleType::U8)
        .with_geotransform(gt)
        .with_epsg(32628);
    write_geotiff(&rot, &spec, RasterData::U8(&[1; 48])).unwrap();
    assert_gt_close(
        gdal_geotransform(&gdalinfo(&rot, false)),
        Some(gt.0),
        "rotated",
    );
    assert_eq!(
        GeoTiffReader::open(&rot).unwrap().info().geotransform,
        Some(gt)
    );
}

/// chronomap's outputs (class map u8 UTM, probability maps f32 geographic, u16 pixel
/// interleaved, BigTIFF, striped LZW) as GDAL reads them: pixels, geotransform, EPSG, nodata,
/// band descriptions and `-stats` identical to chronomap's own statistics.
#[test]
fn gdal_reads_chronomap_outputs() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let specs = [
        RasterSpec::new(W, H, 1, SampleType::U8)
            .with_geotransform(GeoTransform::north_up(355_000.0, 1_780_000.0, 10.0))
            .with_epsg(32628)
            .with_nodata(255.0),
        RasterSpec::new(W, H, BANDS, SampleType::F32)
            .with_geotransform(GeoTransform([-16.52, 1e-4, 0.0, 16.06, 0.0, -1e-4]))
            .with_epsg(4326)
            .with_band_names(["building", "road", "water"]),
        RasterSpec::new(W, H, BANDS, SampleType::U16)
            .with_geotransform(GeoTransform::north_up(500_000.0, 8_000_000.0, 20.0))
            .with_epsg(32733)
            .with_interleave(Interleave::Pixel)
            .with_nodata(0.0),
        RasterSpec::new(W, H, BANDS, SampleType::I16)
            .with_geotransform(GeoTransform::north_up(650_000.0, 6_860_000.0, 1.5))
            .with_epsg(2154)
            .with_bigtiff(true)
            .with_strips(4)
            .with_compression(chronomap_geo::Compression::Lzw),
        RasterSpec::new(W, H, BANDS, SampleType::F32)
            .with_geotransform(GeoTransform::north_up(300_000.0, 1_700_000.0, 10.0))
            .with_epsg(32628)
            .with_compression(chronomap_geo::Compression::Zstd),
    ];
    for (i, spec) in specs.iter().enumerate() {
        let path = dir.path().join(format!("ours{i}.tif"));
        let n = spec.width * spec.height * spec.bands;
        let values: Vec<f64> = source_values(spec.sample_type)[..n].to_vec();
        let values: Vec<f64> = match spec.sample_type {
            SampleType::U8 => values.iter().map(|v| (v % 200.0).floor()).collect(),
            _ => values,
        };
        macro_rules! w {
            ($ty:ty, $v:ident) => {{
                let d: Vec<$ty> = values.iter().map(|&x| x as $ty).collect();
                write_geotiff(&path, spec, RasterData::$v(&d)).unwrap()
            }};
        }
        match spec.sample_type {
            SampleType::U8 => w!(u8, U8),
            SampleType::U16 => w!(u16, U16),
            SampleType::I16 => w!(i16, I16),
            SampleType::F32 => w!(f32, F32),
            _ => unreachable!(),
        }
        let what = format!("spec {i}");
        assert_same(
            &gdal_pixels(&path, dir.path()),
            &values,
            &format!("{what}: GDAL pixels"),
        );
        let info = gdalinfo(&path, true);
        assert_gt_close(
            gdal_geotransform(&info),
            spec.geotransform.map(|g| g.0),
            &what,
        );
        assert_eq!(gdal_epsg(&info), spec.epsg, "{what}");
        assert_eq!(
            info["bands"].as_array().unwrap().len(),
            spec.bands,
            "{what}"
        );
        let ours = GeoTiffReader::open(&path)
            .unwrap()
            .statistics(|_, _| {})
            .unwrap();
        for (b, band) in info["bands"].as_array().unwrap().iter().enumerate() {
            assert_eq!(band["type"], spec.sample_type.gdal_name(), "{what}");
            if let Some(nd) = spec.nodata {
                assert_eq!(band["noDataValue"].as_f64(), Some(nd), "{what}");
            }
            if let Some(name) = spec.band_names.get(b) {
                assert_eq!(band["description"].as_str(), Some(name.as_str()), "{what}");
            }
            let (gmin, gmax, gmean, gstd) = (
                band["minimum"].as_f64().unwrap(),
                band["maximum"].as_f64().unwrap(),
                band["mean"].as_f64().unwrap(),
                band["stdDev"].as_f64().unwrap(),
            );
            // gdalinfo -json prints statistics rounded to 3 decimals
            let close = |a: f64, b: f64| (a - b).abs() <= 5.000001e-4 + 1e-12 * b.abs();
            assert!(
                close(ours[b].min, gmin) && close(ours[b].max, gmax),
                "{what} band {b} min/max {:?} vs {gmin} {gmax}",
                ours[b]
            );
            assert!(
                close(ours[b].mean, gmean),
                "{what} band {b} mean {} vs {gmean}",
                ours[b].mean
            );
            assert!(
                close(ours[b].std_dev, gstd),
                "{what} band {b} std {} vs {gstd}",
                ours[b].std_dev
            );
        }
    }
}

/// A class raster with a colour table and its sidecars: `gdalinfo` reports the colour table
/// (palette interpretation, our colours as 8-bit entries) and the category names from the
/// `.aux.xml`; the QGIS style lists the same classes and colours.
#[test]
fn class_maps_carry_colours_and_names_gdal_reads() {
    crate::require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let tif = dir.path().join("classes.tif");
    let colors = vec![[10, 20, 30], [220, 40, 40], [0, 128, 255]];
    let spec = RasterSpec::new(16, 16, 1, SampleType::U8)
        .with_geotransform(GeoTransform::north_up(355_000.0, 1_780_000.0, 10.0))
        .with_epsg(32628)
        .with_palette(colors.clone());
    let data: Vec<u8> = (0..256).map(|i| (i % 3) as u8).collect();
    write_geotiff(&tif, &spec, RasterData::U8(&data)).unwrap();
    let names: Vec<String> = ["water", "building", "road"].map(String::from).to_vec();
    chronomap_geo::write_class_style(&tif, &names, &colors, Some(255)).unwrap();
    let out = std::process::Command::new("gdalinfo")
        .arg(&tif)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ColorInterp=Palette"), "{text}");
    assert!(
        text.contains("Color Table (RGB with 256 entries)"),
        "{text}"
    );
    assert!(
        text.contains("0: 10,20,30,255") && text.contains("1: 220,40,40,255"),
        "{text}"
    );
    assert!(text.contains("Categories:"), "{text}");
    for (i, n) in names.iter().enumerate() {
        assert!(text.contains(&format!("{i}: {n}")), "{n}: {text}");
    }
    let qml = std::fs::read_to_string(dir.path().join("classes.qml")).unwrap();
    assert!(
        qml.contains(r##"<paletteEntry value="2" color="#0080ff" label="road" alpha="255"/>"##)
    );
    // and chronomap reads its own palette file back as plain class values
    let back = GeoTiffReader::open(&tif)
        .unwrap()
        .read_window_u8(Window::full(16, 16), &[0])
        .unwrap();
    assert_eq!(back, data);
}

/// Two class maps of one CRS, overlapping and offset by whole pixels, make one VRT mosaic:
/// `gdalinfo` reports the union's size and geotransform, and `gdal_translate` of the VRT
/// gives the pixels painted by hand (later input wins except where it holds nodata 255).
#[test]
fn vrt_mosaic_opens_in_gdal_with_the_expected_pixels() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let (x0, y0) = (355_000.0, 1_780_000.0);
    let write = |name: &str, gx: f64, gy: f64, data: &[u8]| {
        let spec = RasterSpec::new(8, 6, 1, SampleType::U8)
            .with_geotransform(GeoTransform::north_up(gx, gy, 10.0))
            .with_epsg(32628)
            .with_nodata(255.0);
        let p = dir.path().join(name);
        write_geotiff(&p, &spec, RasterData::U8(data)).unwrap();
        p
    };
    let a: Vec<u8> = vec![1; 48];
    // b: class 2, with nodata in its first column
    let b: Vec<u8> = (0..48).map(|i| if i % 8 == 0 { 255 } else { 2 }).collect();
    let pa = write("a.tif", x0, y0, &a);
    let pb = write("b.tif", x0 + 40.0, y0 - 20.0, &b);
    let vrt = dir.path().join("mosaic.vrt");
    let s = chronomap_geo::write_vrt_mosaic(&[pa.clone(), pb.clone()], &vrt).unwrap();
    assert_eq!((s.width, s.height), (12, 8));
    let info = gdalinfo(&vrt, false);
    assert_eq!(info["size"], serde_json::json!([12, 8]));
    assert_eq!(gdal_epsg(&info), Some(32628));
    assert_eq!(
        gdal_geotransform(&info),
        Some([x0, 10.0, 0.0, y0, 0.0, -10.0])
    );
    let tif = dir.path().join("mosaic.tif");
    run(
        "gdal_translate",
        &["-q", vrt.to_str().unwrap(), tif.to_str().unwrap()],
    );
    let got = GeoTiffReader::open(&tif)
        .unwrap()
        .read_window_u8(Window::full(12, 8), &[0])
        .unwrap();
    let mut want = vec![255u8; 96];
    for r in 0..6 {
        for c in 0..8 {
            want[r * 12 + c] = 1;
        }
    }
    for r in 0..6 {
        for c in 0..8 {
            if b[r * 8 + c] != 255 {
                want[(r + 2) * 12 + c + 4] = 2;
            }
        }
    }
    assert_eq!(got, want);
    // the same mosaic as one COG: the VRT's pixels
    let cog = dir.path().join("mosaic_cog.tif");
    let s2 = chronomap_geo::write_cog_mosaic(&[pa.clone(), pb.clone()], &cog, None).unwrap();
    assert_eq!(s2, s);
    let text = run("gdalinfo", &[cog.to_str().unwrap()]);
    assert!(text.contains("LAYOUT=COG"), "{text}");
    let info = gdalinfo(&cog, false);
    assert_eq!(info["size"], serde_json::json!([12, 8]));
    assert_eq!(
        gdal_geotransform(&info),
        Some([x0, 10.0, 0.0, y0, 0.0, -10.0])
    );
    assert_eq!(gdal_pixels(&cog, dir.path()), gdal_pixels(&tif, dir.path()));
    // another pixel size is refused, naming the file
    let spec = RasterSpec::new(4, 3, 1, SampleType::U8)
        .with_geotransform(GeoTransform::north_up(x0, y0, 20.0))
        .with_epsg(32628);
    let pc = dir.path().join("c20.tif");
    write_geotiff(&pc, &spec, RasterData::U8(&[0; 12])).unwrap();
    let e = chronomap_geo::write_vrt_mosaic(&[pa, pc], &vrt).unwrap_err();
    assert!(
        e.to_string().contains("c20.tif") && e.to_string().contains("pixel size"),
        "{e}"
    );
}

/// `write_cog_mosaic` of two overlapping paletted class maps with class sidecars (the
/// second on top, nodata 255 transparent): a COG (`LAYOUT=COG`, overviews, the first
/// input's colour table and category names) whose pixels equal `gdal_translate` of the VRT
/// of the same inputs, with mode overviews.
#[test]
fn cog_mosaic_equals_the_vrt_and_keeps_classes() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let (x0, y0) = (355_000.0, 1_780_000.0);
    let colors = vec![[10, 20, 30], [220, 40, 40], [0, 128, 255], [90, 200, 90]];
    let names: Vec<String> = ["water", "building", "road", "trees"]
        .map(String::from)
        .to_vec();
    let write = |name: &str, w: usize, h: usize, gx: f64, gy: f64, seed: usize| {
        let spec = RasterSpec::new(w, h, 1, SampleType::U8)
            .with_geotransform(GeoTransform::north_up(gx, gy, 10.0))
            .with_epsg(32628)
            .with_nodata(255.0)
            .with_tile_size(64)
            .with_palette(colors.clone());
        let data: Vec<u8> = (0..w * h)
            .map(|i| {
                let (r, c) = (i / w, i % w);
                if (r + c + seed).is_multiple_of(11) {
                    255
                } else {
                    ((r / 7 + c / 5 + seed) % 4) as u8
                }
            })
            .collect();
        let p = dir.path().join(name);
        write_geotiff(&p, &spec, RasterData::U8(&data)).unwrap();
        chronomap_geo::write_class_style(&p, &names, &colors, Some(255)).unwrap();
        p
    };
    let pa = write("a.tif", 300, 220, x0, y0, 0);
    // 170 px right, 90 px down: the union is 470 x 400
    let pb = write("b.tif", 300, 310, x0 + 1700.0, y0 - 900.0, 3);
    let inputs = [pa, pb];
    let vrt = dir.path().join("m.vrt");
    chronomap_geo::write_vrt_mosaic(&inputs, &vrt).unwrap();
    let cog = dir.path().join("m.tif");
    let s = chronomap_geo::write_cog_mosaic(&inputs, &cog, None).unwrap();
    assert_eq!((s.width, s.height), (470, 400));
    let text = run("gdalinfo", &[cog.to_str().unwrap()]);
    assert!(text.contains("LAYOUT=COG"), "{text}");
    assert!(text.contains("Overviews: 235x200"), "{text}");
    assert!(text.contains("ColorInterp=Palette"), "{text}");
    assert!(text.contains("3: 90,200,90,255"), "{text}");
    assert!(text.contains("NoData Value=255"), "{text}");
    for (i, n) in names.iter().enumerate() {
        assert!(text.contains(&format!("{i}: {n}")), "{n}: {text}");
    }
    assert!(dir.path().join("m.qml").exists());
    let from_vrt = dir.path().join("from_vrt.tif");
    run(
        "gdal_translate",
        &["-q", vrt.to_str().unwrap(), from_vrt.to_str().unwrap()],
    );
    let want = gdal_pixels(&from_vrt, dir.path());
    assert_eq!(gdal_pixels(&cog, dir.path()), want);
    // both inputs show: class values from each, nodata where neither covers
    assert_eq!(
        want[399 * 470],
        255.0,
        "bottom-left corner is outside both inputs"
    );
    let back = GeoTiffReader::open(&cog)
        .unwrap()
        .read_window_u8(Window::full(470, 400), &[0])
        .unwrap();
    assert!(back.iter().zip(&want).all(|(&a, &b)| f64::from(a) == b));
}
