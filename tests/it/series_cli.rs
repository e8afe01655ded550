//! `chronomap series` on Landsat Collection 2 Level-2 scenes laid out as USGS delivers them,
//! and on Sentinel-2 L2A products laid out as Copernicus delivers them (`.SAFE` folders and
//! their `.zip`).

use std::path::{Path, PathBuf};
use std::process::Command;

use chronomap::data::testkit::landsat_scene;
use chronomap::geo::{GeoTransform, RasterData, RasterSpec, SampleType, write_geotiff};

use crate::cli::{chronomap, fails, ok, s};

#[test]
fn series_writes_a_manifest_from_landsat_scenes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("downloads");
    landsat_scene(&root, 8, (205, 49), "2020-01-15", (0, 0), true, "L2SP").unwrap();
    landsat_scene(&root, 7, (205, 49), "2020-01-23", (1, 0), false, "L2SP").unwrap();
    let manifest = dir.path().join("sl").join("manifest.json");
    let text = ok(&["series", s(&root), "--out", s(&manifest)]);
    eprintln!("{text}");
    assert!(text.contains("2 Landsat Collection 2 Level-2 scenes of WRS-2 path/row 205/049"));
    // clear share by hand: column 0 is fill (excluded), row 2 (cloud) and pixel (5, 5) (snow)
    // are masked: 98 of 10 x 11 = 110 pixels, 89.1 %; the same QA in both scenes
    assert_eq!(text.matches("89.1%").count(), 2, "{text}");
    assert!(text.contains("Landsat 7") && text.contains("Landsat 8"));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(
        m["bands"],
        serde_json::json!(["blue", "green", "red", "nir", "swir1", "swir2"])
    );
    assert_eq!(
        m["dates"][0]["mask"]["bits"],
        serde_json::json!([0, 1, 2, 3, 4, 5])
    );
    assert_eq!(m["dates"][1]["scale"], 2.75e-5);
    assert!(
        m["dates"][1]["bands"]["red"]
            .as_str()
            .unwrap()
            .ends_with("_SR_B3.TIF")
    );
    // scenes of two path/rows: refused, naming both
    landsat_scene(&root, 8, (205, 50), "2020-02-01", (0, 0), true, "L2SP").unwrap();
    let out = chronomap(&["series", s(&root), "--out", s(&manifest)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("205/049") && err.contains("205/050"), "{err}");
}

/// `chronomap series` on a STAC Item (earth-search's `landsat-c2-l2` shape) whose assets are
/// the local files of a Landsat scene: `nir`/`swir1`/`swir2` find STAC's `nir08`/`swir16`/
/// `swir22`, `qa_pixel` is the mask, `raster:bands` gives scale and offset.
#[test]
fn series_reads_a_stac_item_with_local_assets() {
    let dir = tempfile::tempdir().unwrap();
    let scene =
        landsat_scene(dir.path(), 8, (205, 49), "2020-01-15", (0, 0), true, "L2SP").unwrap();
    let id = scene.file_name().unwrap().to_string_lossy().into_owned();
    let rb = serde_json::json!([{ "nodata": 0, "scale": 2.75e-5, "offset": -0.2 }]);
    let mut assets = serde_json::Map::new();
    for (key, n) in [
        ("blue", 2),
        ("green", 3),
        ("red", 4),
        ("nir08", 5),
        ("swir16", 6),
        ("swir22", 7),
    ] {
        assets.insert(
            key.into(),
            serde_json::json!({ "href": format!("{id}/{id}_SR_B{n}.TIF"),
                "eo:bands": [{ "name": format!("SR_B{n}"), "common_name": key }], "raster:bands": rb }),
        );
    }
    assets.insert(
        "qa_pixel".into(),
        serde_json::json!({ "href": format!("{id}/{id}_QA_PIXEL.TIF") }),
    );
    let item = serde_json::json!({ "type": "Feature", "stac_version": "1.0.0", "id": id,
        "properties": { "datetime": "2020-01-15T11:20:00Z", "landsat:wrs_path": "205", "landsat:wrs_row": "049", "eo:cloud_cover": 12.3 },
        "geometry": null, "assets": assets });
    let json = dir.path().join("item.json");
    std::fs::write(&json, item.to_string()).unwrap();
    let manifest = dir.path().join("m.json");
    let text = ok(&["series", s(&json), "--out", s(&manifest)]);
    assert!(text.contains("1 STAC items of WRS-2 205/049"), "{text}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert!(
        m["dates"][0]["bands"]["swir1"]
            .as_str()
            .unwrap()
            .ends_with("_SR_B6.TIF")
    );
    assert_eq!(
        m["dates"][0]["mask"]["bits"],
        serde_json::json!([0, 1, 2, 3, 4, 5])
    );
    assert_eq!(m["dates"][0]["add_offset"], -0.2);
}

/// `chronomap info` on a USGS-style `.tar` bundle lists its members with the `/vsitar/` paths
/// that open them, and `info` on such a path describes the band inside.
#[test]
fn info_lists_a_tar_bundle_and_reads_a_member() {
    let dir = tempfile::tempdir().unwrap();
    let scene =
        landsat_scene(dir.path(), 8, (205, 49), "2020-01-15", (0, 0), true, "L2SP").unwrap();
    let id = scene.file_name().unwrap().to_string_lossy().into_owned();
    let tar = dir.path().join(format!("{id}.tar"));
    let st = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&scene)
        .arg(format!("{id}_SR_B4.TIF"))
        .arg(format!("{id}_MTL.json"))
        .status();
    if !st.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED info_lists_a_tar_bundle_and_reads_a_member: no tar command");
        return;
    }
    let text = ok(&["info", s(&tar)]);
    assert!(text.contains("tar archive, 2 members"), "{text}");
    let member = text
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .last()
                .filter(|p| p.ends_with("_SR_B4.TIF"))
        })
        .unwrap()
        .to_string();
    assert!(member.starts_with("/vsitar//"), "{member}");
    let band = ok(&["info", &member, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&band).unwrap();
    assert_eq!(v["width"], 12);
    assert_eq!(v["epsg"], 32628);
}

// ---------------------------------------------------------------------------------------
// Sentinel-2: a minimal L2A product in the real layout (as crates/data/tests/it/sentinel2.rs
// builds them, cut down): GeoTIFFs converted to lossless JPEG 2000 by GDAL, and an
// `MTD_MSIL2A.xml` with the real element names and nesting.

/// Width and height of the 10 m bands (the 20 m files are half).
const S2_N: usize = 16;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

macro_rules! require_gdal {
    ($name:literal) => {
        if !have("gdal_translate") {
            eprintln!(
                "SKIPPED {}: gdal-bin (gdal_translate) is not installed",
                $name
            );
            return;
        }
    };
}

/// The scene class of the fixture's SCL at 20 m pixel (r, c): every class 0..=11 occurs.
fn s2_scl(r: usize, c: usize) -> u8 {
    ((r * 5 + c * 3 + r * c) % 12) as u8
}

/// One L2A product to build.
struct S2 {
    /// `YYYYMMDD`.
    date: &'static str,
    tile: &'static str,
    baseline: &'static str,
    /// `BOA_ADD_OFFSET` of every band, when the baseline has them (04.00 on).
    offset: Option<i32>,
    seed: u16,
}

impl S2 {
    fn safe_name(&self) -> String {
        format!(
            "S2B_MSIL2A_{}T112349_N{}_R037_{}_{}T123456.SAFE",
            self.date,
            self.baseline.replace('.', ""),
            self.tile,
            self.date
        )
    }
}

/// Writes a single-band GeoTIFF and converts it to a lossless JPEG 2000 at `jp2`, or, when
/// not `real`, an empty placeholder there (the metadata reader only checks that listed
/// files exist).
fn s2_jp2(jp2: &Path, size: usize, pixel: f64, data: RasterData<'_>, real: bool) {
    std::fs::create_dir_all(jp2.parent().unwrap()).unwrap();
    if !real {
        std::fs::write(jp2, b"").unwrap();
        return;
    }
    let st = match data {
        RasterData::U8(_) => SampleType::U8,
        _ => SampleType::U16,
    };
    let spec = RasterSpec::new(size, size, 1, st)
        .with_geotransform(GeoTransform::north_up(300_000.0, 1_800_000.0, pixel))
        .with_epsg(32628);
    let tmp = tempfile::tempdir().unwrap();
    let tif = tmp.path().join("band.tif");
    write_geotiff(&tif, &spec, data).unwrap();
    let out = Command::new("gdal_translate")
        .args(["-q", "-of", "JP2OpenJPEG"])
        .args(["-co", "QUALITY=100", "-co", "REVERSIBLE=YES"])
        .arg(&tif)
        .arg(jp2)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gdal_translate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(format!("{}.aux.xml", jp2.display()));
}

/// Builds the L2A product `s` under `root` (B02, B03, B04, B08 at 10 m, B05 and SCL at
/// 20 m; real JPEG 2000 files when `real`); returns its `.SAFE` folder.
fn s2_product(root: &Path, s: &S2, real: bool) -> PathBuf {
    let safe = root.join(s.safe_name());
    let granule = format!("L2A_{}_A015000_{}T112345", s.tile, s.date);
    let mut image_files = Vec::new();
    for (folder, band, res) in [
        ("R10m", "B02", 10),
        ("R10m", "B03", 10),
        ("R10m", "B04", 10),
        ("R10m", "B08", 10),
        ("R20m", "B05", 20),
        ("R20m", "SCL", 20),
    ] {
        let size = S2_N * 10 / res;
        let rel = format!(
            "GRANULE/{granule}/IMG_DATA/{folder}/{}_{}T112349_{band}_{res}m",
            s.tile, s.date
        );
        let path = safe.join(format!("{rel}.jp2"));
        if band == "SCL" {
            let v: Vec<u8> = (0..size * size)
                .map(|i| s2_scl(i / size, i % size))
                .collect();
            s2_jp2(&path, size, res as f64, RasterData::U8(&v), real);
        } else {
            let b: u16 = band.bytes().map(u16::from).sum();
            let v: Vec<u16> = (0..size * size)
                .map(|i| {
                    1000 + 300 * s.seed + 7 * b + 13 * (i / size) as u16 + 5 * (i % size) as u16
                })
                .collect();
            s2_jp2(&path, size, res as f64, RasterData::U16(&v), real);
        }
        image_files.push(format!("            <IMAGE_FILE>{rel}</IMAGE_FILE>"));
    }
    let offsets = match s.offset {
        Some(o) => {
            let items: Vec<String> = (0..13)
                .map(|i| format!("        <BOA_ADD_OFFSET band_id=\"{i}\">{o}</BOA_ADD_OFFSET>"))
                .collect();
            format!(
                "<BOA_ADD_OFFSET_VALUES_LIST>\n{}\n      </BOA_ADD_OFFSET_VALUES_LIST>",
                items.join("\n")
            )
        }
        None => String::new(),
    };
    let (y, m, d) = (&s.date[..4], &s.date[4..6], &s.date[6..8]);
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{y}-{m}-{d}T11:23:49.024Z</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>{y}-{m}-{d}T11:23:49.024Z</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{uri}</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <Datatake datatakeIdentifier="GS2B_{date}T112349_015000_N{baseline}">
        <SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME>
      </Datatake>
      <Product_Organisation>
        <Granule_List>
          <Granule granuleIdentifier="S2B_OPER_MSI_L2A_TL_2BPS_{date}T123456_A015000_{tile}_N{baseline}" imageFormat="JPEG2000">
{files}
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <QUANTIFICATION_VALUES_LIST>
        <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
        <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>
      </QUANTIFICATION_VALUES_LIST>
      {offsets}
    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Quality_Indicators_Info>
    <Cloud_Coverage_Assessment>12.5</Cloud_Coverage_Assessment>
  </n1:Quality_Indicators_Info>
</n1:Level-2A_User_Product>
"#,
        uri = s.safe_name(),
        baseline = s.baseline,
        date = s.date,
        tile = s.tile,
        files = image_files.join("\n"),
    );
    std::fs::write(safe.join("MTD_MSIL2A.xml"), xml).unwrap();
    safe
}

/// The fixture's two products of tile T28QCD: before processing baseline 04.00 (no offset)
/// and after (offset -1000), built in reverse date order (the manifest sorts them).
fn s2_pair() -> (S2, S2) {
    (
        S2 {
            date: "20200115",
            tile: "T28QCD",
            baseline: "02.13",
            offset: None,
            seed: 1,
        },
        S2 {
            date: "20220310",
            tile: "T28QCD",
            baseline: "04.00",
            offset: Some(-1000),
            seed: 2,
        },
    )
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `chronomap series A.SAFE B.SAFE` writes the manifest (default Sentinel-2 bands, the
/// metadata's factors, the SCL mask) and prints what it found; on a folder it reports what
/// it skipped; `chronomap info` summarises a `.SAFE` and its metadata file.
#[test]
fn series_reads_sentinel2_safe_folders_and_info_summarises_them() {
    require_gdal!("series_reads_sentinel2_safe_folders_and_info_summarises_them");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("downloads");
    let (a, b) = s2_pair();
    let safe_b = s2_product(&root, &b, true);
    let safe_a = s2_product(&root, &a, true);
    // an incomplete download: a .SAFE folder without metadata
    std::fs::create_dir_all(root.join("S2A_MSIL2A_20210101T112349_N0300_R037_T28QCD_X.SAFE"))
        .unwrap();
    let manifest = dir.path().join("sl").join("m.json");
    let text = ok(&["series", s(&safe_b), s(&safe_a), "--out", s(&manifest)]);
    eprintln!("{text}");
    assert!(
        text.contains(
            "2 Sentinel-2 Level-2A (surface reflectance) products of MGRS tile T28QCD, \
             2020-01-15 to 2022-03-10"
        ),
        "{text}"
    );
    assert!(text.contains("grid: 16 x 16 px, EPSG:32628"), "{text}");
    assert!(
        text.contains("blue (B02, 10 m), green (B03, 10 m), red (B04, 10 m), nir (B08, 10 m)"),
        "{text}"
    );
    assert!(
        text.contains("SCL classes [0, 1, 3, 8, 9, 10, 11] masked"),
        "{text}"
    );
    assert!(text.contains("02.13") && text.contains("04.00") && text.contains("S2MSI2A"));
    assert!(text.contains(&a.safe_name()) && text.contains(&b.safe_name()));
    // factors from the XML: BOA_QUANTIFICATION_VALUE 10000; BOA_ADD_OFFSET absent in 02.13,
    // -1000 for every band in 04.00
    assert!(text.contains("(DN +0) / 10000 = x 1e-4 +0"), "{text}");
    assert!(text.contains("(DN -1000) / 10000 = x 1e-4 -0.1"), "{text}");
    // clear share by hand over the 8 x 8 SCL: class 0 (no data) excluded, the default
    // classes 1, 3, 8, 9, 10, 11 masked; the same SCL in both products
    let invalid = [0u8, 1, 3, 8, 9, 10, 11];
    let (mut valid, mut clear) = (0, 0);
    for r in 0..S2_N / 2 {
        for c in 0..S2_N / 2 {
            let class = s2_scl(r, c);
            if class != 0 {
                valid += 1;
                clear += usize::from(!invalid.contains(&class));
            }
        }
    }
    let share = format!("{:.1}%", 100.0 * clear as f64 / valid as f64);
    assert_eq!(text.matches(&share).count(), 2, "{share}: {text}");
    assert!(text.contains("12.5%"), "{text}");

    let m = read_json(&manifest);
    assert_eq!(
        m["bands"],
        serde_json::json!(["blue", "green", "red", "nir"])
    );
    assert_eq!(m["nodata"], 0.0);
    assert_eq!(m["dates"][0]["date"], "2020-01-15");
    assert_eq!(m["dates"][1]["date"], "2022-03-10");
    // scale = 1 / BOA_QUANTIFICATION_VALUE = 1 / 10000; add_offset = BOA_ADD_OFFSET /
    // BOA_QUANTIFICATION_VALUE = -1000 / 10000 (absent when 0)
    assert_eq!(m["dates"][0]["scale"], 1e-4);
    assert!(m["dates"][0].get("add_offset").is_none_or(|v| v.is_null()));
    assert_eq!(m["dates"][1]["scale"], 1e-4);
    assert!((m["dates"][1]["add_offset"].as_f64().unwrap() + 0.1).abs() < 1e-12);
    assert_eq!(
        m["dates"][1]["mask"]["invalid"],
        serde_json::json!([0, 1, 3, 8, 9, 10, 11])
    );
    let red = m["dates"][0]["bands"]["red"].as_str().unwrap();
    assert!(
        red.ends_with("IMG_DATA/R10m/T28QCD_20200115T112349_B04_10m.jp2"),
        "{red}"
    );
    assert!(
        m["dates"][1]["mask"]["path"]
            .as_str()
            .unwrap()
            .ends_with("R20m/T28QCD_20220310T112349_SCL_20m.jp2")
    );
    assert_eq!(m["dates"][1]["meta"]["processing_baseline"], "04.00");

    // the folder, a 20 m band and other mask classes; the metadata-less .SAFE is skipped
    let m20 = dir.path().join("sl").join("m20.json");
    let text = ok(&[
        "series",
        s(&root),
        "--out",
        s(&m20),
        "--bands",
        "red,rededge1",
        "--scl-invalid",
        "4,6",
        "--no-clear-share",
    ]);
    assert!(
        text.contains("red (B04, 10 m), rededge1 (B05, 20 m)"),
        "{text}"
    );
    assert!(text.contains("SCL classes [4, 6] masked"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("skipped ")
            && l.contains("_X.SAFE")
            && l.contains("without MTD_MSIL2A.xml")),
        "{text}"
    );
    let m = read_json(&m20);
    assert_eq!(m["bands"], serde_json::json!(["red", "rededge1"]));
    assert_eq!(m["dates"][0]["mask"]["invalid"], serde_json::json!([4, 6]));
    assert!(
        m["dates"][0]["bands"]["rededge1"]
            .as_str()
            .unwrap()
            .ends_with("R20m/T28QCD_20200115T112349_B05_20m.jp2")
    );
    // a band the product lacks: refused, naming it
    let err = fails(&[
        "series",
        s(&root),
        "--out",
        s(&m20),
        "--bands",
        "red,swir16",
    ]);
    assert!(err.contains("swir16"), "{err}");

    // info on the .SAFE and on its metadata file
    let info = ok(&["info", s(&safe_b)]);
    eprintln!("{info}");
    assert!(info.contains("Tile:        MGRS T28QCD"), "{info}");
    assert!(info.contains("Date:        2022-03-10"), "{info}");
    assert!(
        info.contains(
            "Sentinel-2 Level-2A (surface reflectance), S2MSI2A, processing baseline 04.00"
        ),
        "{info}"
    );
    assert!(
        info.contains("Reflectance: (DN + offset) / 10000"),
        "{info}"
    );
    let blue = info
        .lines()
        .find(|l| l.trim_start().starts_with("blue"))
        .unwrap();
    assert!(
        blue.contains("B02") && blue.contains("10 m") && blue.contains("offset  -1000"),
        "{blue}"
    );
    let re1 = info
        .lines()
        .find(|l| l.trim_start().starts_with("rededge1"))
        .unwrap();
    assert!(re1.contains("B05") && re1.contains("20 m"), "{re1}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["info", s(&safe_a.join("MTD_MSIL2A.xml")), "--json"])).unwrap();
    assert_eq!(
        (
            &v["tile"],
            &v["date"],
            &v["level"],
            &v["processingBaseline"]
        ),
        (
            &serde_json::json!("T28QCD"),
            &serde_json::json!("2020-01-15"),
            &serde_json::json!("Level-2A"),
            &serde_json::json!("02.13")
        )
    );
    let names: Vec<&str> = v["bands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["blue", "green", "red", "rededge1", "nir"]);
    assert_eq!(v["bands"][0]["offset"], 0.0);
    assert_eq!(v["quantification"], 10000.0);
}

/// A product's `.zip` (zipped by Info-ZIP, the `.SAFE` as its top folder): `chronomap
/// info` summarises it and `chronomap series` reads it in place (`/vsizip/` paths).
#[test]
fn info_and_series_read_a_sentinel2_zip() {
    require_gdal!("info_and_series_read_a_sentinel2_zip");
    if !have("zip") {
        eprintln!("SKIPPED info_and_series_read_a_sentinel2_zip: no zip command");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, b) = s2_pair();
    let safe = s2_product(&dir.path().join("safe"), &b, true);
    let zip = dir
        .path()
        .join(format!("{}.zip", b.safe_name().trim_end_matches(".SAFE")));
    let st = Command::new("zip")
        .args(["-q", "-r", "-X"])
        .arg(&zip)
        .arg(safe.file_name().unwrap())
        .current_dir(safe.parent().unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    let info = ok(&["info", s(&zip)]);
    assert!(info.contains("Tile:        MGRS T28QCD"), "{info}");
    assert!(info.contains("processing baseline 04.00"), "{info}");
    let v: serde_json::Value = serde_json::from_str(&ok(&["info", s(&zip), "--json"])).unwrap();
    assert_eq!(v["date"], "2022-03-10");
    assert!(v["metadata"].as_str().unwrap().starts_with("/vsizip//"));
    assert_eq!(v["bands"][0]["offset"], -1000.0);

    let manifest = dir.path().join("z.json");
    let text = ok(&["series", s(&zip), "--out", s(&manifest)]);
    assert!(
        text.contains("1 Sentinel-2 Level-2A (surface reflectance) products of MGRS tile T28QCD"),
        "{text}"
    );
    let m = read_json(&manifest);
    let red = m["dates"][0]["bands"]["red"].as_str().unwrap();
    assert!(
        red.starts_with("/vsizip//") && red.ends_with("R10m/T28QCD_20220310T112349_B04_10m.jp2"),
        "{red}"
    );
    assert!(
        m["dates"][0]["mask"]["path"]
            .as_str()
            .unwrap()
            .starts_with("/vsizip//")
    );
}

/// Products of two MGRS tiles are two series: refused, naming both tiles (the metadata is
/// read, the pixels are not: no GDAL needed).
#[test]
fn series_refuses_sentinel2_products_of_two_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("downloads");
    let (a, mut b) = s2_pair();
    b.tile = "T28QDD";
    s2_product(&root, &a, false);
    s2_product(&root, &b, false);
    let out = chronomap(&["series", s(&root), "--out", s(&dir.path().join("m.json"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("T28QCD") && err.contains("T28QDD"), "{err}");
    assert!(!dir.path().join("m.json").exists());
}

/// Landsat and Sentinel-2 sources in one call: refused, naming both families and sources.
#[test]
fn series_refuses_landsat_and_sentinel2_together() {
    let dir = tempfile::tempdir().unwrap();
    let scene =
        landsat_scene(dir.path(), 8, (205, 49), "2020-01-15", (0, 0), true, "L2SP").unwrap();
    let (a, _) = s2_pair();
    let safe = s2_product(&dir.path().join("s2"), &a, false);
    let err = fails(&[
        "series",
        s(&scene),
        s(&safe),
        "--out",
        s(&dir.path().join("m.json")),
    ]);
    eprintln!("{err}");
    assert!(
        err.contains("several product families")
            && err.contains("Landsat: ")
            && err.contains("Sentinel-2: "),
        "{err}"
    );
    assert!(err.contains(&a.safe_name()), "{err}");
    // the same mix inside one folder
    let mixed = dir.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::rename(&scene, mixed.join(scene.file_name().unwrap())).unwrap();
    std::fs::rename(&safe, mixed.join(safe.file_name().unwrap())).unwrap();
    let err = fails(&["series", s(&mixed), "--out", s(&dir.path().join("m.json"))]);
    eprintln!("{err}");
    assert!(err.contains("holds products of several families"), "{err}");
}
