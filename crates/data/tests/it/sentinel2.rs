//! Sentinel-2 L1C / L2A products as Copernicus delivers them (a `.SAFE` folder or its
//! `.zip`), built here in the real layout: GeoTIFFs written with chronomap-geo, converted to
//! lossless JPEG 2000 by GDAL (`gdal_translate -of JP2OpenJPEG`), an `MTD_MSIL2A.xml` /
//! `MTD_MSIL1C.xml` with the real element names and nesting; read into a series without
//! any preprocessing. Skipped (with a message) where gdal-bin is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use chronomap_data::products::sentinel2::{SCL_DEFAULT_INVALID, find_products};
use chronomap_data::products::{
    Sentinel2Level, Sentinel2Options, Sentinel2Product, sentinel2_manifest,
};
use chronomap_data::{
    Error, Manifest, MaskEntry, ProductProblem, QUALITY_CLEAR, QUALITY_MASKED, QUALITY_NODATA,
    SceneSeries,
};
use chronomap_geo::archive::{ZIP_DEFLATED, ZIP_STORED, zip_members};
use chronomap_geo::{GeoTransform, RasterData, RasterSpec, SampleType, Window, write_geotiff};

/// Width and height of the 10 m bands (the 20 m ones are half).
const N: usize = 32;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

macro_rules! require_gdal {
    () => {
        if !have("gdalinfo") || !have("gdal_translate") {
            eprintln!(
                "SKIPPED {}: gdal-bin (gdalinfo, gdal_translate) is not installed",
                module_path!()
            );
            return;
        }
    };
}

/// The raw value of band id `band` (`B02`, ...) of product `seed` at (row, col) of its own
/// grid: non-zero, distinct per band and product, except the last 10 m pixel, nodata (0)
/// in every band.
fn dn(seed: u16, band: &str, r: usize, c: usize, size: usize) -> u16 {
    if r == size - 1 && c == size - 1 {
        return 0;
    }
    let b: u16 = band.bytes().map(u16::from).sum();
    1000 + 300 * seed + 7 * b + 13 * r as u16 + 5 * c as u16 + ((r * c) % 11) as u16
}

/// The scene class at a 20 m pixel: every class 0..=11 occurs.
fn scl(r: usize, c: usize) -> u8 {
    ((r * 5 + c * 3 + r * c) % 12) as u8
}

/// One product to build.
struct Spec {
    level: Sentinel2Level,
    /// `YYYYMMDD`.
    date: &'static str,
    tile: &'static str,
    baseline: &'static str,
    /// BOA_ADD_OFFSET / RADIO_ADD_OFFSET per band index, when the baseline has them.
    offset: Option<i32>,
    /// An offset of band index 3 (B04) that differs from the others.
    red_offset: Option<i32>,
    seed: u16,
}

impl Spec {
    fn l2a(date: &'static str, baseline: &'static str, offset: Option<i32>, seed: u16) -> Self {
        Spec {
            level: Sentinel2Level::L2A,
            date,
            tile: "T28QCD",
            baseline,
            offset,
            red_offset: None,
            seed,
        }
    }

    fn l(&self) -> &'static str {
        match self.level {
            Sentinel2Level::L1C => "1C",
            Sentinel2Level::L2A => "2A",
        }
    }

    fn safe_name(&self) -> String {
        format!(
            "S2B_MSIL{}_{}T112349_N{}_R037_{}_{}T123456.SAFE",
            self.l(),
            self.date,
            self.baseline.replace('.', ""),
            self.tile,
            self.date
        )
    }
}

/// Writes a single-band u16/u8 GeoTIFF and converts it to a lossless JPEG 2000 at `jp2`.
fn jp2(jp2: &Path, size: usize, pixel: f64, data: RasterData<'_>, tmp: &Path) {
    std::fs::create_dir_all(jp2.parent().unwrap()).unwrap();
    let st = match data {
        RasterData::U8(_) => SampleType::U8,
        _ => SampleType::U16,
    };
    let spec = RasterSpec::new(size, size, 1, st)
        .with_geotransform(GeoTransform::north_up(300_000.0, 1_800_000.0, pixel))
        .with_epsg(32628);
    let tif = tmp.join("band.tif");
    write_geotiff(&tif, &spec, data).unwrap();
    let out = Command::new("gdal_translate")
        .args([
            "-q",
            "-of",
            "JP2OpenJPEG",
            "-co",
            "QUALITY=100",
            "-co",
            "REVERSIBLE=YES",
        ])
        .arg(&tif)
        .arg(jp2)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gdal_translate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the reader must need nothing but the .jp2
    let _ = std::fs::remove_file(format!("{}.aux.xml", jp2.display()));
}

/// The band files of a product: (folder under IMG_DATA, band id, resolution in m).
fn files(level: Sentinel2Level) -> Vec<(&'static str, &'static str, u32)> {
    match level {
        Sentinel2Level::L2A => vec![
            ("R10m", "B02", 10),
            ("R10m", "B03", 10),
            ("R10m", "B04", 10),
            ("R10m", "B08", 10),
            ("R10m", "TCI", 10),
            ("R20m", "B02", 20),
            ("R20m", "B05", 20),
            ("R20m", "SCL", 20),
        ],
        Sentinel2Level::L1C => vec![
            ("", "B02", 10),
            ("", "B03", 10),
            ("", "B04", 10),
            ("", "B08", 10),
            ("", "B05", 20),
        ],
    }
}

/// Builds the product `s` under `root`; returns its `.SAFE` folder.
fn product(root: &Path, s: &Spec) -> PathBuf {
    let safe = root.join(s.safe_name());
    let granule = format!("L{}_{}_A015000_{}T112345", s.l(), s.tile, s.date);
    let tmp = tempfile::tempdir().unwrap();
    let mut image_files = Vec::new();
    for (folder, band, res) in files(s.level) {
        let size = N * 10 / res as usize;
        let stem = match s.level {
            Sentinel2Level::L2A => format!("{}_{}T112349_{band}_{res}m", s.tile, s.date),
            Sentinel2Level::L1C => format!("{}_{}T112349_{band}", s.tile, s.date),
        };
        let rel = if folder.is_empty() {
            format!("GRANULE/{granule}/IMG_DATA/{stem}")
        } else {
            format!("GRANULE/{granule}/IMG_DATA/{folder}/{stem}")
        };
        let path = safe.join(format!("{rel}.jp2"));
        match band {
            "SCL" => {
                let v: Vec<u8> = (0..size * size).map(|i| scl(i / size, i % size)).collect();
                jp2(&path, size, res as f64, RasterData::U8(&v), tmp.path());
            }
            // listed, but not a band: never read (and not written)
            "TCI" => {}
            _ => {
                let v: Vec<u16> = (0..size * size)
                    .map(|i| dn(s.seed, band, i / size, i % size, size))
                    .collect();
                jp2(&path, size, res as f64, RasterData::U16(&v), tmp.path());
            }
        }
        image_files.push(format!("            <IMAGE_FILE>{rel}</IMAGE_FILE>"));
    }
    let spectral: Vec<String> = [
        "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12",
    ]
    .iter()
    .enumerate()
    .map(|(i, b)| {
        format!(
            "        <Spectral_Information bandId=\"{i}\" physicalBand=\"{b}\">\n          \
             <RESOLUTION>10</RESOLUTION>\n        </Spectral_Information>"
        )
    })
    .collect();
    let (q, off_list, off) = match s.level {
        Sentinel2Level::L2A => (
            "<QUANTIFICATION_VALUES_LIST>\n        <BOA_QUANTIFICATION_VALUE unit=\"none\">10000</BOA_QUANTIFICATION_VALUE>\n        <AOT_QUANTIFICATION_VALUE unit=\"none\">1000.0</AOT_QUANTIFICATION_VALUE>\n        <WVP_QUANTIFICATION_VALUE unit=\"cm\">1000.0</WVP_QUANTIFICATION_VALUE>\n      </QUANTIFICATION_VALUES_LIST>",
            "BOA_ADD_OFFSET_VALUES_LIST",
            "BOA_ADD_OFFSET",
        ),
        Sentinel2Level::L1C => (
            "<QUANTIFICATION_VALUE unit=\"none\">10000</QUANTIFICATION_VALUE>",
            "Radiometric_Offset_List",
            "RADIO_ADD_OFFSET",
        ),
    };
    let offsets = match s.offset {
        Some(o) => {
            let items: Vec<String> = (0..13)
                .map(|i| {
                    let v = if i == 3 { s.red_offset.unwrap_or(o) } else { o };
                    format!("        <{off} band_id=\"{i}\">{v}</{off}>")
                })
                .collect();
            format!("<{off_list}>\n{}\n      </{off_list}>", items.join("\n"))
        }
        None => String::new(),
    };
    let y = &s.date[..4];
    let (m, d) = (&s.date[4..6], &s.date[6..8]);
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-{l}_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{l}.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{y}-{m}-{d}T11:23:49.024Z</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>{y}-{m}-{d}T11:23:49.024Z</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{uri}</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-{l}</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI{l}</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <GENERATION_TIME>{y}-{m}-{d}T12:34:56.000000Z</GENERATION_TIME>
      <Datatake datatakeIdentifier="GS2B_{date}T112349_015000_N{baseline}">
        <SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <DATATAKE_SENSING_START>{y}-{m}-{d}T11:23:49.024Z</DATATAKE_SENSING_START>
        <SENSING_ORBIT_NUMBER>37</SENSING_ORBIT_NUMBER>
        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
      </Datatake>
      <Query_Options completeSingleTile="true">
        <PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT>
      </Query_Options>
      <Product_Organisation>
        <Granule_List>
          <Granule datastripIdentifier="S2B_OPER_MSI_L{l}_DS_2BPS_{date}T123456_S{date}T112345_N{baseline}" granuleIdentifier="S2B_OPER_MSI_L{l}_TL_2BPS_{date}T123456_A015000_{tile}_N{baseline}" imageFormat="JPEG2000">
{files}
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
      </Special_Values>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>
      </Special_Values>
      {q}
      {offsets}
      <Reflectance_Conversion>
        <U>1.03</U>
      </Reflectance_Conversion>
      <Spectral_Information_List>
{spectral}
      </Spectral_Information_List>
    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Coordinate_Reference_System>
      <GEO_TABLES version="1">GEO_TABLES</GEO_TABLES>
      <HORIZONTAL_CS_TYPE>GEOGRAPHIC</HORIZONTAL_CS_TYPE>
    </Coordinate_Reference_System>
  </n1:Geometric_Info>
  <n1:Quality_Indicators_Info>
    <Cloud_Coverage_Assessment>12.5</Cloud_Coverage_Assessment>
  </n1:Quality_Indicators_Info>
</n1:Level-{l}_User_Product>
"#,
        l = s.l(),
        uri = s.safe_name(),
        baseline = s.baseline,
        date = s.date,
        tile = s.tile,
        files = image_files.join("\n"),
        spectral = spectral.join("\n"),
    );
    std::fs::write(safe.join(s.level.metadata_name()), xml).unwrap();
    safe
}

/// Zips `safe` (the folder itself as the archive's top folder) with Info-ZIP's `zip`:
/// `-0` stores every member, `-9` deflates; `-fz` forces zip64 records. `None` when `zip` is
/// not installed.
fn zip_cli(safe: &Path, out: &Path, flags: &[&str]) -> Option<PathBuf> {
    if !have("zip") {
        return None;
    }
    let st = Command::new("zip")
        .args(["-q", "-r", "-X"])
        .args(flags)
        .arg(out)
        .arg(safe.file_name().unwrap())
        .current_dir(safe.parent().unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    Some(out.to_path_buf())
}

/// Zips `safe` with a writer of its own (the test's, no tool needed): every member deflated
/// when `deflate`, else stored.
fn zip_own(safe: &Path, out: &Path, deflate: bool) -> PathBuf {
    use std::io::Write;
    let top = safe.file_name().unwrap().to_string_lossy().into_owned();
    let mut files = Vec::new();
    let mut stack = vec![safe.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let (mut body, mut cd) = (Vec::new(), Vec::new());
    for f in &files {
        let rel = f
            .strip_prefix(safe)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let name = format!("{top}/{rel}");
        let data = std::fs::read(f).unwrap();
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        let stored = if deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        } else {
            data.clone()
        };
        let method: u16 = if deflate { 8 } else { 0 };
        let offset = body.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&method.to_le_bytes());
            v.extend_from_slice(&[0; 4]);
            v.extend_from_slice(&crc.sum().to_le_bytes());
            v.extend_from_slice(&(stored.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
        };
        body.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00");
        common(&mut body);
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&stored);
        cd.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00");
        common(&mut cd);
        cd.extend_from_slice(&[0; 10]);
        cd.extend_from_slice(&offset.to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
    }
    let mut out_bytes = body;
    let cd_offset = out_bytes.len() as u32;
    out_bytes.extend_from_slice(&cd);
    out_bytes.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    let n = files.len() as u16;
    out_bytes.extend_from_slice(&n.to_le_bytes());
    out_bytes.extend_from_slice(&n.to_le_bytes());
    out_bytes.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out_bytes.extend_from_slice(&cd_offset.to_le_bytes());
    out_bytes.extend_from_slice(&0u16.to_le_bytes());
    std::fs::write(out, out_bytes).unwrap();
    out.to_path_buf()
}

/// The series a manifest makes, saved in `dir` as `name`: every date's pixels and quality.
fn read_all(manifest: &Manifest, dir: &Path, name: &str) -> Vec<(Vec<f32>, Vec<u8>)> {
    let path = dir.join(name);
    manifest.save(&path).unwrap();
    let series = SceneSeries::open(&path).unwrap();
    assert_eq!((series.width(), series.height()), (N, N));
    (0..series.dates().len())
        .map(|i| series.read_date(i, Window::full(N, N)).unwrap())
        .collect()
}

/// Checks date `pixels` of product `s` against the source arrays: reflectance
/// `(DN + offset) / 10000` per band, nodata where DN is 0, masked exactly where the 20 m
/// scene class under the pixel is invalid (none for L1C).
fn check_pixels(s: &Spec, ids: &[&str], pixels: &(Vec<f32>, Vec<u8>)) {
    let (img, q) = pixels;
    let off = f64::from(s.offset.unwrap_or(0));
    for r in 0..N {
        for c in 0..N {
            let i = r * N + c;
            let nodata = r == N - 1 && c == N - 1;
            let class = u32::from(scl(r / 2, c / 2));
            let want = if nodata {
                QUALITY_NODATA
            } else if s.level == Sentinel2Level::L2A && SCL_DEFAULT_INVALID.contains(&class) {
                QUALITY_MASKED
            } else {
                QUALITY_CLEAR
            };
            assert_eq!(q[i], want, "{} ({r}, {c}) class {class}", s.date);
            if nodata {
                continue;
            }
            for (b, id) in ids.iter().enumerate() {
                let got = f64::from(img[b * N * N + i]);
                let expected = (f64::from(dn(s.seed, id, r, c, N)) + off) / 10000.0;
                assert!(
                    (got - expected).abs() < 1e-6,
                    "{} {id} ({r}, {c}): {got} vs {expected}",
                    s.date
                );
            }
        }
    }
}

fn two_products(root: &Path) -> (Spec, Spec) {
    let a = Spec::l2a("20200115", "02.13", None, 1);
    let b = Spec::l2a("20220310", "04.00", Some(-1000), 2);
    // built in reverse date order: the manifest sorts them
    product(root, &b);
    product(root, &a);
    (a, b)
}

#[test]
fn sentinel2_l2a_safe_folders_make_one_series_with_reflectance_and_scl_mask() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("downloads");
    let (a, b) = two_products(&root);
    let (manifest, products) = sentinel2_manifest(
        std::slice::from_ref(&root),
        &Sentinel2Options::default(),
        dir.path(),
    )
    .unwrap();
    assert_eq!(manifest.bands, ["blue", "green", "red", "nir"]);
    assert_eq!(manifest.nodata, Some(0.0));
    let dates: Vec<_> = manifest.dates.iter().map(|d| d.date.as_str()).collect();
    assert_eq!(dates, ["2020-01-15", "2022-03-10"]);
    let p0: &Sentinel2Product = &products[0];
    assert_eq!(p0.level, Sentinel2Level::L2A);
    assert_eq!(
        (
            p0.tile.as_str(),
            p0.spacecraft.as_str(),
            p0.product_type.as_str()
        ),
        ("T28QCD", "Sentinel-2B", "S2MSI2A")
    );
    assert_eq!(
        (
            products[0].processing_baseline.as_str(),
            products[1].processing_baseline.as_str()
        ),
        ("02.13", "04.00")
    );
    assert_eq!(p0.product_uri.as_deref(), Some(a.safe_name().as_str()));
    assert_eq!((p0.quantification, p0.cloud_cover), (10000.0, Some(12.5)));
    assert!(p0.offsets.is_empty());
    assert_eq!(products[1].offset("red"), -1000.0);
    // the finest resolution of each band: B02 from R10m (not R20m), B05 from R20m
    let blue = p0.bands["blue"].to_string_lossy().into_owned();
    assert!(
        blue.ends_with("IMG_DATA/R10m/T28QCD_20200115T112349_B02_10m.jp2"),
        "{blue}"
    );
    let re1 = p0.bands["rededge1"].to_string_lossy().into_owned();
    assert!(
        re1.ends_with("IMG_DATA/R20m/T28QCD_20200115T112349_B05_20m.jp2"),
        "{re1}"
    );
    assert_eq!(
        (p0.resolutions["blue"], p0.resolutions["rededge1"]),
        (10, 20)
    );
    assert!(!p0.bands.contains_key("cirrus") && !p0.bands.contains_key("swir16"));
    // manifest entries: relative paths, scale 1/10000, offset -1000/10000 from 04.00 on
    let d0 = &manifest.dates[0];
    let red = &d0.bands.as_ref().unwrap()["red"];
    assert!(red.is_relative(), "{red:?}");
    assert!(
        red.to_string_lossy()
            .ends_with("R10m/T28QCD_20200115T112349_B04_10m.jp2"),
        "{red:?}"
    );
    assert_eq!((d0.scale, d0.add_offset), (Some(1e-4), None));
    let d1 = &manifest.dates[1];
    assert_eq!(d1.scale, Some(1e-4));
    assert!(
        (d1.add_offset.unwrap() + 0.1).abs() < 1e-12,
        "{:?}",
        d1.add_offset
    );
    match &d0.mask {
        Some(MaskEntry::Values {
            path,
            invalid: Some(inv),
            valid: None,
            bits: None,
        }) => {
            assert!(
                path.to_string_lossy()
                    .ends_with("R20m/T28QCD_20200115T112349_SCL_20m.jp2")
            );
            assert_eq!(inv, &SCL_DEFAULT_INVALID);
        }
        other => panic!("{other:?}"),
    }
    let pixels = read_all(&manifest, dir.path(), "manifest.json");
    let ids = ["B02", "B03", "B04", "B08"];
    check_pixels(&a, &ids, &pixels[0]);
    check_pixels(&b, &ids, &pixels[1]);

    // 20 m bands and other mask classes go straight into the 10 m series
    let opts = Sentinel2Options {
        bands: vec!["red".into(), "rededge1".into()],
        scl_invalid: vec![4],
    };
    let (m, _) = sentinel2_manifest(std::slice::from_ref(&root), &opts, dir.path()).unwrap();
    let px = read_all(&m, dir.path(), "m20.json");
    let (img, q) = &px[0];
    for r in 0..N {
        for c in 0..N {
            let i = r * N + c;
            let veg = scl(r / 2, c / 2) == 4;
            if r == N - 1 && c == N - 1 {
                assert_eq!(q[i], QUALITY_NODATA);
            } else {
                assert_eq!(q[i] == QUALITY_MASKED, veg, "({r}, {c})");
            }
        }
    }
    // rededge1 at an interior 10 m pixel lies within the values of the 20 m pixels around
    let v = f64::from(img[N * N + 10 * N + 10]);
    let around: Vec<f64> = (4..=5)
        .flat_map(|r| (4..=5).map(move |c| f64::from(dn(1, "B05", r, c, N / 2)) / 1e4))
        .collect();
    let lo = around.iter().cloned().fold(f64::MAX, f64::min);
    let hi = around.iter().cloned().fold(f64::MIN, f64::max);
    assert!(v >= lo - 1e-6 && v <= hi + 1e-6, "{v} not in [{lo}, {hi}]");
}

#[test]
fn sentinel2_zips_stored_and_deflated_read_like_the_folder() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("safe");
    let (a, b) = two_products(&root);
    let (from_folder, _) = sentinel2_manifest(
        std::slice::from_ref(&root),
        &Sentinel2Options::default(),
        dir.path(),
    )
    .unwrap();
    let want = read_all(&from_folder, dir.path(), "folder.json");
    let safe_a = root.join(a.safe_name());
    let safe_b = root.join(b.safe_name());
    let mut kinds: Vec<(&str, PathBuf, PathBuf, u16)> = Vec::new();
    for (kind, deflate) in [("own-stored", false), ("own-deflated", true)] {
        let z = dir.path().join(kind);
        std::fs::create_dir_all(&z).unwrap();
        let za = zip_own(&safe_a, &z.join("a.zip"), deflate);
        let zb = zip_own(&safe_b, &z.join("b.zip"), deflate);
        kinds.push((
            kind,
            za,
            zb,
            if deflate { ZIP_DEFLATED } else { ZIP_STORED },
        ));
    }
    for (kind, flags) in [
        ("zip-stored", &["-0"][..]),
        ("zip-deflated-zip64", &["-9", "-fz"][..]),
    ] {
        let z = dir.path().join(kind);
        std::fs::create_dir_all(&z).unwrap();
        if let (Some(za), Some(zb)) = (
            zip_cli(&safe_a, &z.join("a.zip"), flags),
            zip_cli(&safe_b, &z.join("b.zip"), flags),
        ) {
            let method = if flags[0] == "-0" {
                ZIP_STORED
            } else {
                ZIP_DEFLATED
            };
            kinds.push((kind, za, zb, method));
        } else {
            eprintln!("{kind}: the zip tool is not installed; only the test's own zips are read");
        }
    }
    for (kind, za, zb, method) in kinds {
        // the metadata (text) is deflated whenever the archive deflates at all
        let members = zip_members(&za).unwrap();
        let mtd = members
            .iter()
            .find(|m| m.name.ends_with("/MTD_MSIL2A.xml"))
            .unwrap();
        assert_eq!(mtd.method, method, "{kind}");
        let jp2: Vec<_> = members
            .iter()
            .filter(|m| m.name.ends_with(".jp2"))
            .collect();
        assert!(!jp2.is_empty());
        if method == ZIP_STORED {
            assert!(jp2.iter().all(|m| m.method == ZIP_STORED), "{kind}");
        } else {
            let n = jp2.iter().filter(|m| m.method == ZIP_DEFLATED).count();
            eprintln!("{kind}: {n} of {} .jp2 members deflated", jp2.len());
            if kind.starts_with("own") {
                assert_eq!(n, jp2.len());
            }
        }
        let folder = dir.path().join(kind);
        let (m, products) = sentinel2_manifest(
            std::slice::from_ref(&folder),
            &Sentinel2Options::default(),
            dir.path(),
        )
        .unwrap();
        assert_eq!(products[0].path, za, "{kind}");
        assert_eq!(products[1].path, zb, "{kind}");
        let red = m.dates[1].bands.as_ref().unwrap()["red"]
            .to_string_lossy()
            .into_owned();
        assert!(
            red.starts_with("/vsizip//")
                && red.ends_with(&format!(
                    "b.zip/{}/GRANULE/L2A_T28QCD_A015000_20220310T112345/IMG_DATA/R10m/T28QCD_20220310T112349_B04_10m.jp2",
                    b.safe_name()
                )),
            "{red}"
        );
        assert!(
            m.dates[0]
                .mask
                .as_ref()
                .unwrap()
                .path()
                .to_string_lossy()
                .starts_with("/vsizip//")
        );
        // identical factors and pixels
        for (x, y) in m.dates.iter().zip(&from_folder.dates) {
            assert_eq!(
                (x.scale, x.add_offset, &x.date, &x.mask.as_ref().map(|_| ())),
                (y.scale, y.add_offset, &y.date, &y.mask.as_ref().map(|_| ())),
                "{kind}"
            );
        }
        let got = read_all(&m, dir.path(), &format!("{kind}.json"));
        assert!(
            got == want,
            "{kind}: the zip's pixels differ from the folder's"
        );
        // a product opened directly from its zip
        let p = Sentinel2Product::open(&za).unwrap();
        assert_eq!(
            (p.tile.as_str(), p.date.to_string()),
            ("T28QCD", "2020-01-15".into())
        );
    }
}

#[test]
fn sentinel2_l1c_has_toa_factors_and_no_mask() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let s = Spec {
        level: Sentinel2Level::L1C,
        date: "20230402",
        tile: "T28QCD",
        baseline: "05.09",
        offset: Some(-1000),
        red_offset: None,
        seed: 3,
    };
    let safe = product(&dir.path().join("l1c"), &s);
    let p = Sentinel2Product::open(&safe).unwrap();
    assert_eq!(
        (p.level, p.product_type.as_str()),
        (Sentinel2Level::L1C, "S2MSI1C")
    );
    assert!(p.scl.is_none());
    let blue = p.bands["blue"].to_string_lossy().into_owned();
    assert!(
        blue.ends_with("IMG_DATA/T28QCD_20230402T112349_B02.jp2"),
        "{blue}"
    );
    assert_eq!(p.resolutions["rededge1"], 20);
    let (m, _) = sentinel2_manifest(
        std::slice::from_ref(&safe),
        &Sentinel2Options::default(),
        dir.path(),
    )
    .unwrap();
    assert!(m.dates[0].mask.is_none());
    let px = read_all(&m, dir.path(), "l1c.json");
    check_pixels(&s, &["B02", "B03", "B04", "B08"], &px[0]);
    // the metadata file itself opens the product too
    let again = Sentinel2Product::open(safe.join("MTD_MSIL1C.xml")).unwrap();
    assert_eq!(again.bands, p.bands);
    // no L2A/L1C mix in one series
    let l2a = product(
        &dir.path().join("l2a"),
        &Spec::l2a("20230410", "05.09", Some(-1000), 4),
    );
    let err =
        sentinel2_manifest(&[safe, l2a], &Sentinel2Options::default(), dir.path()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Product {
                problem: ProductProblem::Unsupported { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn sentinel2_problems_are_typed_and_name_the_product() {
    require_gdal!();
    let dir = tempfile::tempdir().unwrap();
    let opts = Sentinel2Options::default();
    let md = dir.path();
    // missing metadata
    let a = product(&md.join("a"), &Spec::l2a("20200115", "02.13", None, 1));
    std::fs::remove_file(a.join("MTD_MSIL2A.xml")).unwrap();
    let err = Sentinel2Product::open(&a).unwrap_err();
    assert!(
        matches!(&err, Error::Product { problem: ProductProblem::Metadata { detail }, path }
            if detail.contains("MTD_MSIL2A.xml") && *path == a),
        "{err:?}"
    );
    // an IMAGE_FILE that does not exist
    let b = product(&md.join("b"), &Spec::l2a("20200115", "02.13", None, 1));
    let b03 = b.join(
        "GRANULE/L2A_T28QCD_A015000_20200115T112345/IMG_DATA/R10m/T28QCD_20200115T112349_B03_10m.jp2",
    );
    std::fs::remove_file(&b03).unwrap();
    let err = sentinel2_manifest(std::slice::from_ref(&b), &opts, md).unwrap_err();
    assert!(
        matches!(&err, Error::Product { problem: ProductProblem::MissingFile { file }, path }
            if *file == b03 && path.ends_with("MTD_MSIL2A.xml")),
        "{err:?}"
    );
    // ... and inside a zip
    let zb = zip_own(&b, &md.join("b.zip"), false);
    let err = Sentinel2Product::open(&zb).unwrap_err();
    assert!(
        matches!(&err, Error::Product { problem: ProductProblem::MissingFile { file }, .. }
            if file.to_string_lossy().starts_with("/vsizip//")
                && file.to_string_lossy().ends_with("_B03_10m.jp2")),
        "{err:?}"
    );
    // products of two tiles
    let c = md.join("c");
    product(&c, &Spec::l2a("20200115", "02.13", None, 1));
    let mut other = Spec::l2a("20200120", "02.13", None, 1);
    other.tile = "T28QDD";
    product(&c, &other);
    let err = sentinel2_manifest(&[c], &opts, md).unwrap_err();
    assert!(
        matches!(&err, Error::Product { problem: ProductProblem::MixedTiles { tiles }, .. }
            if tiles.len() == 2 && tiles[0].contains("T28QCD") && tiles[1].contains("T28QDD")),
        "{err:?}"
    );
    // two products of one date (another baseline, reprocessed)
    let d = md.join("d");
    product(&d, &Spec::l2a("20200115", "02.13", None, 1));
    product(&d, &Spec::l2a("20200115", "04.00", Some(-1000), 1));
    let err = sentinel2_manifest(&[d], &opts, md).unwrap_err();
    assert!(
        matches!(&err, Error::Product { problem: ProductProblem::DuplicateDate { date, .. }, .. }
            if date == "2020-01-15"),
        "{err:?}"
    );
    // chosen bands with different offsets (one add_offset per manifest date)
    let mut mixed = Spec::l2a("20220310", "04.00", Some(-1000), 2);
    mixed.red_offset = Some(-900);
    let e = product(&md.join("e"), &mixed);
    let err = sentinel2_manifest(std::slice::from_ref(&e), &opts, md).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Product {
                problem: ProductProblem::MixedScale { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let ok = Sentinel2Options {
        bands: vec!["blue".into(), "green".into()],
        ..Sentinel2Options::default()
    };
    sentinel2_manifest(std::slice::from_ref(&e), &ok, md).unwrap();
    // cirrus (B10) is an L1C band only
    let cirrus = Sentinel2Options {
        bands: vec!["cirrus".into()],
        ..Sentinel2Options::default()
    };
    let err = sentinel2_manifest(std::slice::from_ref(&e), &cirrus, md).unwrap_err();
    assert!(
        matches!(&err, Error::Product { problem: ProductProblem::UnknownBand { band, .. }, .. }
            if band == "cirrus"),
        "{err:?}"
    );
    // a path that does not exist
    assert!(matches!(
        Sentinel2Product::open(md.join("nowhere.SAFE")),
        Err(Error::Io { .. })
    ));
    // a folder holding no product
    let empty = md.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(matches!(
        find_products(&[empty]),
        Err(Error::Product {
            problem: ProductProblem::Metadata { .. },
            ..
        })
    ));

    // a corrupt deflated member: found when the series opens it, naming archive and member
    let f = product(&md.join("f"), &Spec::l2a("20200115", "02.13", None, 1));
    let zf = zip_own(&f, &md.join("f.zip"), true);
    let members = zip_members(&zf).unwrap();
    let red = members
        .iter()
        .find(|m| m.name.ends_with("_B04_10m.jp2"))
        .unwrap();
    let mut bytes = std::fs::read(&zf).unwrap();
    let at = red.header_offset as usize + 30 + red.name.len() + red.compressed_size as usize / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(&zf, &bytes).unwrap();
    let (m, _) = sentinel2_manifest(std::slice::from_ref(&zf), &opts, md).unwrap();
    m.save(md.join("corrupt.json")).unwrap();
    let err = SceneSeries::open(md.join("corrupt.json")).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Geo(chronomap_geo::Error::Archive { path, .. }) if *path == zf)
            && text.contains("_B04_10m.jp2")
            && text.contains("corrupt"),
        "{err:?}"
    );
    // a truncated zip: its directory is gone
    std::fs::write(&zf, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = Sentinel2Product::open(&zf).unwrap_err();
    assert!(
        matches!(&err, Error::Geo(chronomap_geo::Error::Archive { path, detail })
            if *path == zf && detail.contains("truncated")),
        "{err:?}"
    );
}
