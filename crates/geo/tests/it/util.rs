//! Helpers: running GDAL tools, parsing `gdalinfo -json`.

use std::path::Path;
use std::process::Command;

/// Whether the GDAL command-line tools are installed.
pub fn gdal_available() -> bool {
    Command::new("gdalinfo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Returns early from a test, printing why, when GDAL is not installed.
#[macro_export]
macro_rules! require_gdal {
    () => {
        if !$crate::util::gdal_available() {
            eprintln!(
                "SKIPPED {}: gdal-bin (gdalinfo, gdal_translate, gdal_rasterize) is not installed",
                module_path!()
            );
            return;
        }
    };
}

/// Runs a command, panicking with its stderr if it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `gdalinfo -json [-stats]` of a file.
pub fn gdalinfo(path: &Path, stats: bool) -> serde_json::Value {
    let p = path.to_str().unwrap();
    let args: Vec<&str> = if stats {
        vec!["-json", "-stats", p]
    } else {
        vec!["-json", p]
    };
    serde_json::from_str(&run("gdalinfo", &args)).unwrap()
}

/// The EPSG code of the top-level `ID["EPSG",n]` of gdalinfo's WKT.
pub fn gdal_epsg(info: &serde_json::Value) -> Option<u32> {
    let wkt = info["coordinateSystem"]["wkt"].as_str()?;
    let i = wkt.rfind("ID[\"EPSG\",")?;
    let rest = &wkt[i + 10..];
    rest[..rest.find(']')?].parse().ok()
}

/// gdalinfo's geotransform.
pub fn gdal_geotransform(info: &serde_json::Value) -> Option<[f64; 6]> {
    let v = info["geoTransform"].as_array()?;
    let mut gt = [0.0; 6];
    for (g, x) in gt.iter_mut().zip(v) {
        *g = x.as_f64()?;
    }
    Some(gt)
}

/// Band-sequential little-endian raw pixels of `path` as f64, converted by GDAL
/// (`gdal_translate -of ENVI`), so GDAL's decoding is the reference.
pub fn gdal_pixels(path: &Path, dir: &Path) -> Vec<f64> {
    let raw = dir.join("gdal_pixels.bin");
    run(
        "gdal_translate",
        &[
            "-q",
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
    let bytes = std::fs::read(&raw).unwrap();
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Asserts that `part` (`[bands.len(), window.height, window.width]`, bands in the order
/// `bands`) equals that window of `expected` (`[bands, height, width]` of a `width` x
/// `height` raster), pixel by pixel.
pub fn assert_window_matches(
    part: &[f64],
    expected: &[f64],
    (width, height): (usize, usize),
    window: chronomap_geo::Window,
    bands: &[usize],
    what: &str,
) {
    for (i, &b) in bands.iter().enumerate() {
        for row in 0..window.height {
            for col in 0..window.width {
                assert_eq!(
                    part[(i * window.height + row) * window.width + col],
                    expected[(b * height + window.row + row) * width + window.col + col],
                    "{what}: window pixel band {b} ({col}, {row})"
                );
            }
        }
    }
}
