//! Writing the synthetic Saint-Louis world to a folder: one GeoTIFF per date, a cloud mask per
//! date, an OSM XML extract per year, label rasters rasterized from that OSM by
//! chronomap-geo (the same path as real data), ground-truth rasters, and a manifest.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use chronomap_geo::crs::Crs;
use chronomap_geo::{
    ClassTable, GeoTransform, RasterData, RasterSpec, RasterizeOptions, SampleType,
    rasterize_to_geotiff, write_geotiff,
};

use crate::error::{Error, Result};
use crate::manifest::{DateEntry, LabelEntry, MANIFEST_VERSION, Manifest, MaskEntry, write_atomic};
use crate::synth::landscape::{Landscape, Material};
use crate::synth::osm::to_osm_xml;
use crate::synth::radiometry::{PIXEL_M, render, year_conditions};

/// EPSG code of the world: WGS 84 / UTM zone 28N.
pub const SYNTH_EPSG: u32 = 32628;
/// Easting / northing of the world's centre (16.03 N, 16.50 W, rounded to 10 m).
pub const SYNTH_CENTRE: (f64, f64) = (339_520.0, 1_772_830.0);
/// Band names (Sentinel-2 10 m bands).
pub const SYNTH_BANDS: [&str; 4] = ["B2", "B3", "B4", "B8"];
/// Class names, indexed by label value (chronomap-geo's default classes).
pub const SYNTH_CLASSES: [&str; 5] = ["background", "building", "road", "water", "vegetation"];

/// Options of the synthetic world (see `docs/synthetic-world.md`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SynthConfig {
    /// Seed: the same seed gives the same rasters on every machine, other seeds other towns.
    pub seed: u64,
    /// Side of the square scene in pixels of 10 m (default 1024: 10.24 km).
    pub size: usize,
    /// Acquisitions per year, spread over the seasons (default 6).
    pub dates_per_year: usize,
    /// Years (default 2016 and 2020); the town grows and the spit erodes from the first to
    /// the last.
    pub years: Vec<i32>,
    /// Deflate level of the GeoTIFFs, 1-9 (default 1: fast, about 10% larger than 6).
    pub deflate_level: u32,
    /// Where the city lies and how its year runs (default: Saint-Louis, Senegal).
    pub site: SynthSite,
}

/// Where a synthetic city lies and how its year runs: what makes cities of a collection
/// differ besides their seed (town layout, streets, land-cover mix).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthSite {
    /// Name (a real city the site borrows its place and climate from).
    pub name: String,
    /// EPSG code of the grid: the WGS 84 / UTM zone of the site (326xx north, 327xx south).
    pub epsg: u32,
    /// Easting / northing of the scene centre in that zone, metres.
    pub centre: (f64, f64),
    /// Latitude of the centre, degrees (negative south): sun elevation and azimuth.
    pub latitude_deg: f64,
    /// Shift of the seasons from Saint-Louis', days: vegetation green-up, dust and rain
    /// seasons (about 182 in the southern hemisphere).
    pub season_shift_days: f64,
    /// Shift of the acquisition calendar, days: the first acquisition of a year is near
    /// day `15 + calendar_offset_days` (wrapped into the year) instead of mid-January.
    pub calendar_offset_days: f64,
}

impl SynthSite {
    /// Saint-Louis, Senegal (UTM 28N, 16.03 N): the default world.
    pub fn saint_louis() -> Self {
        Self {
            name: "saint-louis".into(),
            epsg: SYNTH_EPSG,
            centre: SYNTH_CENTRE,
            latitude_deg: crate::synth::radiometry::LATITUDE_DEG,
            season_shift_days: 0.0,
            calendar_offset_days: 0.0,
        }
    }

    /// A site centred on `(lon, lat)` (degrees) in its UTM zone, rounded to 10 m.
    ///
    /// # Errors
    /// [`Error::Geo`] when the position cannot be projected (latitude beyond UTM's +-84).
    pub fn at(name: &str, lon: f64, lat: f64, season_shift_days: f64) -> Result<Self> {
        let epsg = chronomap_geo::crs::utm_epsg(lon, lat);
        let (x, y) = Crs::from_epsg(epsg)?.from_lonlat(lon, lat)?;
        Ok(Self {
            name: name.into(),
            epsg,
            centre: ((x / 10.0).round() * 10.0, (y / 10.0).round() * 10.0),
            latitude_deg: lat,
            season_shift_days,
            calendar_offset_days: 0.0,
        })
    }
}

impl Default for SynthSite {
    fn default() -> Self {
        Self::saint_louis()
    }
}

/// The 16 places of the offline collection: coastal cities of Africa, Europe, North and South
/// America (the talk's 16 cities span Canada, the USA, Africa, Europe and South America), as
/// `(name, lon, lat, season shift in days)`; five lie in the southern hemisphere.
pub const SYNTH_CITIES: [(&str, f64, f64, f64); 16] = [
    ("saint-louis", -16.50, 16.03, 0.0),
    ("luanda", 13.23, -8.84, 175.0),
    ("montreal", -73.57, 45.50, -70.0),
    ("lisbon", -9.14, 38.72, -110.0),
    ("recife", -34.88, -8.05, 140.0),
    ("new-orleans", -90.07, 29.95, -40.0),
    ("dakar", -17.45, 14.69, 10.0),
    ("maputo", 32.57, -25.97, 190.0),
    ("vancouver", -123.12, 49.28, -80.0),
    ("abidjan", -4.02, 5.32, -70.0),
    ("lima", -77.04, -12.05, 160.0),
    ("marseille", 5.37, 43.30, -100.0),
    ("nouakchott", -15.98, 18.08, 15.0),
    ("miami", -80.19, 25.76, -20.0),
    ("buenos-aires", -58.38, -34.60, 182.0),
    ("lagos", 3.40, 6.45, -60.0),
];

/// `n` synthetic cities (1 to 16, in [`SYNTH_CITIES`] order) for a collection: city `i` has
/// seed `seed + i` (another town, street pattern and land-cover mix), its own UTM zone, sun
/// geometry and seasons, 4 to 7 acquisitions a year and its own acquisition calendar; city 0
/// is the default Saint-Louis world of `seed`. Sizes, years and compression come from `base`.
///
/// # Errors
/// [`Error::InvalidArgument`] when `n` is 0 or above 16.
pub fn synth_cities(base: &SynthConfig, n: usize) -> Result<Vec<SynthConfig>> {
    if n == 0 || n > SYNTH_CITIES.len() {
        return Err(Error::invalid("cities", n as f64, "1 to 16"));
    }
    let mut out = Vec::with_capacity(n);
    for (i, &(name, lon, lat, shift)) in SYNTH_CITIES.iter().take(n).enumerate() {
        let mut site = if i == 0 {
            SynthSite::saint_louis()
        } else {
            SynthSite::at(name, lon, lat, shift)?
        };
        let dates_per_year = if i == 0 {
            base.dates_per_year
        } else {
            4 + (i * 7 + 3) % 4
        };
        if i > 0 {
            site.calendar_offset_days = ((i * 37) % 120) as f64;
        }
        out.push(SynthConfig {
            seed: base.seed + i as u64,
            dates_per_year,
            site,
            ..base.clone()
        });
    }
    Ok(out)
}

impl SynthConfig {
    /// The default world for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            size: 1024,
            dates_per_year: 6,
            years: vec![2016, 2020],
            deflate_level: 1,
            site: SynthSite::saint_louis(),
        }
    }

    /// The top-left corner (easting, northing) of the scene: centred on the site's centre
    /// ([`SYNTH_CENTRE`] for Saint-Louis).
    pub fn origin(&self) -> (f64, f64) {
        let half = self.size as f64 * PIXEL_M / 2.0;
        let c = self.site.centre;
        (c.0 - half, c.1 + half)
    }

    /// The geotransform of every raster: `[x0, 10, 0, y0, 0, -10]` with `(x0, y0)` =
    /// [`SynthConfig::origin`].
    pub fn geotransform(&self) -> GeoTransform {
        let (x0, y0) = self.origin();
        GeoTransform::north_up(x0, y0, PIXEL_M)
    }

    /// Number of progress steps [`write_world`] reports.
    pub fn steps(&self) -> usize {
        let years = self.sorted_years().len();
        years * (3 + self.dates_per_year) + 1
    }

    fn sorted_years(&self) -> Vec<i32> {
        let mut y = self.years.clone();
        y.sort_unstable();
        y.dedup();
        y
    }
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self::new(0)
    }
}

/// One written date.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SynthDate {
    /// Acquisition date, `YYYY-MM-DD`.
    pub date: String,
    /// The 4-band image.
    pub image: PathBuf,
    /// The cloud mask (0 clear, 1 cloud, 2 cloud shadow).
    pub mask: PathBuf,
    /// Fraction of pixels the mask flags.
    pub masked_fraction: f64,
    /// Fraction of nodata pixels (swath edge).
    pub nodata_fraction: f64,
    /// Sun elevation, degrees.
    pub sun_elevation_deg: f64,
    /// Mean haze optical depth.
    pub haze: f64,
}

/// One written year.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SynthYear {
    /// The year.
    pub year: i32,
    /// The OSM XML extract.
    pub osm: PathBuf,
    /// Labels rasterized from the OSM extract.
    pub labels: PathBuf,
    /// Ground-truth classes (what is on the ground, including unmapped buildings).
    pub ground_truth: PathBuf,
    /// Buildings on the ground.
    pub buildings: usize,
    /// Buildings in the OSM extract.
    pub buildings_mapped: usize,
    /// Share of each class in the ground truth (index = class id).
    pub truth_shares: [f64; 5],
    /// Share of each class in the rasterized labels.
    pub label_shares: [f64; 5],
}

/// What [`write_world`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SynthSummary {
    /// The manifest (open it with [`crate::SceneSeries::open`]).
    pub manifest: PathBuf,
    /// The class table used to rasterize the OSM extracts.
    pub class_table: PathBuf,
    /// The dates, chronological.
    pub dates: Vec<SynthDate>,
    /// The years, ascending.
    pub years: Vec<SynthYear>,
}

/// The class table used for the synthetic labels: chronomap-geo's defaults with the road
/// widths of the synthetic world (primary 20 m, secondary 10 m, residential 10 m), so that
/// rasterized roads match the painted ones.
pub fn synth_class_table() -> ClassTable {
    let mut t = ClassTable::default();
    for r in &mut t.rules {
        if r.key == "highway" {
            let primary = r.values.iter().any(|v| v == "primary");
            r.width_m = Some(if primary { 20.0 } else { 10.0 });
        }
    }
    t
}

/// Writes the synthetic Saint-Louis world to `out` (created if needed), reporting progress
/// as `(steps done, steps total, what)`; returns what was written. The manifest is written
/// last, so an interrupted run never leaves a complete-looking folder.
///
/// Files: `S2_YYYYMMDD.tif` (4 bands B2, B3, B4, B8, UInt16 reflectance x 10000, nodata 0,
/// tiled 256, deflate), `S2_YYYYMMDD_cloud.tif` (u8: 0 clear, 1 cloud, 2 shadow),
/// `osm_YYYY.osm`, `labels_YYYY.tif` (u8 classes rasterized from the OSM),
/// `truth_YYYY.tif` (u8 ground-truth classes), `classes.json` (the class table),
/// `manifest.json`.
///
/// # Errors
/// [`Error::InvalidArgument`] for a size below 32, no dates or no years, a deflate level
/// outside 1-9; [`Error::Io`] / [`Error::Geo`] when files cannot be written.
///
/// # Examples
/// ```
/// use chronomap_data::{SceneSeries, SynthConfig, write_world};
/// let dir = tempfile::tempdir()?;
/// let config = SynthConfig { size: 64, dates_per_year: 2, ..SynthConfig::new(7) };
/// let summary = write_world(&config, dir.path(), &mut |_, _, _| {})?;
/// let series = SceneSeries::open(&summary.manifest)?;
/// assert_eq!((series.width(), series.len()), (64, 4));
/// assert_eq!(series.epsg(), Some(32628));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_world(
    config: &SynthConfig,
    out: &Path,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<SynthSummary> {
    if config.size < 32 {
        return Err(Error::invalid(
            "size",
            config.size as f64,
            "at least 32 pixels",
        ));
    }
    if config.dates_per_year == 0 || config.dates_per_year > 60 {
        return Err(Error::invalid(
            "dates_per_year",
            config.dates_per_year as f64,
            "1 to 60",
        ));
    }
    if config.years.is_empty() {
        return Err(Error::invalid("years", 0.0, "at least one year"));
    }
    if !(1..=9).contains(&config.deflate_level) {
        return Err(Error::invalid(
            "deflate_level",
            config.deflate_level as f64,
            "1 to 9",
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let years = config.sorted_years();
    let (first, last) = (years[0], years[years.len() - 1]);
    let size = config.size;
    let gt = config.geotransform();
    let total = config.steps();
    let mut step = 0;
    let mut tick = |what: &str, progress: &mut dyn FnMut(usize, usize, &str)| {
        step += 1;
        progress(step, total, what);
    };

    let table = synth_class_table();
    let table_path = out.join("classes.json");
    write_atomic(&table_path, table.to_json().as_bytes())?;

    let epsg = config.site.epsg;
    let utm = Crs::from_epsg(epsg)?;
    let project = |p: [f64; 2]| -> (f64, f64) {
        let (x, y) = gt.pixel_to_world(p[0], p[1]);
        utm.to_lonlat(x, y).unwrap_or((f64::NAN, f64::NAN))
    };
    let corners = [
        [0.0, 0.0],
        [size as f64, 0.0],
        [0.0, size as f64],
        [size as f64, size as f64],
    ];
    let ll: Vec<(f64, f64)> = corners.iter().map(|&c| project(c)).collect();
    let bounds = (
        ll.iter().map(|p| p.0).fold(f64::MAX, f64::min),
        ll.iter().map(|p| p.1).fold(f64::MAX, f64::min),
        ll.iter().map(|p| p.0).fold(f64::MIN, f64::max),
        ll.iter().map(|p| p.1).fold(f64::MIN, f64::max),
    );
    if ll.iter().any(|p| !p.0.is_finite() || !p.1.is_finite()) {
        return Err(Error::Geo(chronomap_geo::Error::Transform {
            x: gt.0[0],
            y: gt.0[3],
            from: epsg,
            to: chronomap_geo::crs::WGS84,
        }));
    }

    let u8_spec = |name: &str| {
        let mut s = RasterSpec::new(size, size, 1, SampleType::U8)
            .with_geotransform(gt)
            .with_epsg(epsg)
            .with_band_names([name]);
        s.deflate_level = config.deflate_level;
        s
    };
    let mut image_spec = RasterSpec::new(size, size, 4, SampleType::U16)
        .with_geotransform(gt)
        .with_epsg(epsg)
        .with_nodata(0.0)
        .with_band_names(SYNTH_BANDS);
    image_spec.deflate_level = config.deflate_level;

    let mut dates_out = Vec::new();
    let mut years_out = Vec::new();
    let mut entries = Vec::new();
    let mut labels = Vec::new();
    let mut truths = Vec::new();
    let mut date_index = 0u64;
    for &year in &years {
        let gamma = if last > first {
            (year - first) as f64 / (last - first) as f64
        } else {
            0.0
        };
        let land = Landscape::generate(config.seed, size, gamma);
        tick(&format!("landscape {year}"), progress);

        // One date of the last year (when it has 2 or more) shows a swath edge with nodata.
        let edge = (year == last && config.dates_per_year >= 2).then_some(1);
        let conditions = year_conditions(
            config.seed,
            year,
            config.dates_per_year,
            date_index,
            size,
            edge,
            &config.site,
        );
        date_index += conditions.len() as u64;

        // The vectors and labels of the year, and its dates, are independent: run them side
        // by side (each date renders in parallel too, and compresses on its own thread).
        let osm_name = format!("osm_{year}.osm");
        let truth_name = format!("truth_{year}.tif");
        let label_name = format!("labels_{year}.tif");
        let vectors = || -> Result<chronomap_geo::RasterizeReport> {
            let (xml, _) = to_osm_xml(&land.osm, &project, bounds);
            write_atomic(&out.join(&osm_name), xml.as_bytes())?;
            write_geotiff(
                out.join(&truth_name),
                &u8_spec("ground truth"),
                RasterData::U8(&land.truth),
            )?;
            Ok(rasterize_to_geotiff(
                &[out.join(&osm_name)],
                out.join(&truth_name),
                out.join(&label_name),
                &table,
                &RasterizeOptions::default(),
                &mut |_, _| {},
            )?)
        };
        let dates = || -> Result<Vec<(DateEntry, SynthDate)>> {
            conditions
                .par_iter()
                .map(|c| {
                    let r = render(&land, c, config.seed);
                    let stamp = format!("{:04}{:02}{:02}", c.date.year, c.date.month, c.date.day);
                    let image = format!("S2_{stamp}.tif");
                    let mask = format!("S2_{stamp}_cloud.tif");
                    write_geotiff(out.join(&image), &image_spec, RasterData::U16(&r.bands))?;
                    write_geotiff(
                        out.join(&mask),
                        &u8_spec("cloud mask"),
                        RasterData::U8(&r.mask),
                    )?;
                    let mut meta = serde_json::to_value(c).unwrap_or_default();
                    if let Some(m) = meta.as_object_mut() {
                        m.insert("masked_fraction".into(), json!(round6(r.masked_fraction)));
                        m.insert("nodata_fraction".into(), json!(round6(r.nodata_fraction)));
                    }
                    let entry = DateEntry {
                        date: c.date.to_string(),
                        image: Some(image.clone().into()),
                        bands: None,
                        mask: Some(MaskEntry::Path(mask.clone().into())),
                        labels: None,
                        add_offset: None,
                        scale: None,
                        meta: Some(meta),
                    };
                    let summary = SynthDate {
                        date: c.date.to_string(),
                        image: out.join(image),
                        mask: out.join(mask),
                        masked_fraction: r.masked_fraction,
                        nodata_fraction: r.nodata_fraction,
                        sun_elevation_deg: c.sun_elevation_deg,
                        haze: c.haze,
                    };
                    Ok((entry, summary))
                })
                .collect()
        };
        let (report, written) = rayon::join(vectors, dates);
        let report = report?;
        tick(&format!("OSM {year}"), progress);
        tick(&format!("labels {year}"), progress);
        for (entry, summary) in written? {
            tick(&format!("date {}", summary.date), progress);
            entries.push(entry);
            dates_out.push(summary);
        }
        let label_px: u64 = report.pixels_per_class.iter().take(5).sum();
        let label_shares: [f64; 5] = std::array::from_fn(|k| {
            report.pixels_per_class.get(k).copied().unwrap_or(0) as f64 / label_px.max(1) as f64
        });
        years_out.push(SynthYear {
            year,
            osm: out.join(&osm_name),
            labels: out.join(&label_name),
            ground_truth: out.join(&truth_name),
            buildings: land.buildings_total,
            buildings_mapped: land.buildings_mapped,
            truth_shares: land.class_shares(),
            label_shares,
        });
        labels.push(LabelEntry {
            year,
            path: label_name.into(),
        });
        truths.push(LabelEntry {
            year,
            path: truth_name.into(),
        });
    }

    let manifest = Manifest {
        version: MANIFEST_VERSION,
        bands: SYNTH_BANDS.iter().map(|s| s.to_string()).collect(),
        nodata: Some(0.0),
        classes: SYNTH_CLASSES.iter().map(|s| s.to_string()).collect(),
        dates: entries,
        labels,
        ground_truth: truths,
        meta: Some(json!({
            "generator": "chronomap synth",
            "generator_version": env!("CARGO_PKG_VERSION"),
            "seed": config.seed,
            "size": size,
            "epsg": epsg,
            "site": config.site,
            "geotransform": gt.0,
            "class_table": "classes.json",
            "materials": Material::ALL.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "mask_values": {"0": "clear", "1": "cloud", "2": "cloud shadow"},
            "years": years_out.iter().map(|y| json!({
                "year": y.year,
                "buildings": y.buildings,
                "buildings_mapped": y.buildings_mapped,
                "truth_shares": y.truth_shares.map(round6),
            })).collect::<Vec<_>>(),
        })),
    };
    let manifest_path = out.join("manifest.json");
    manifest.save(&manifest_path)?;
    tick("manifest", progress);
    Ok(SynthSummary {
        manifest: manifest_path,
        class_table: table_path,
        dates: dates_out,
        years: years_out,
    })
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Writes one world per configuration under `out/<site name>/` (as [`write_world`]) and a
/// `collection.json` naming them (tags: `epsg`, `hemisphere`, `dates_per_year`), written
/// last; returns the collection file. Progress reports `(city done, cities, name)`.
///
/// # Errors
/// As [`write_world`]; [`Error::InvalidArgument`] when `configs` is empty;
/// [`Error::Collection`] when two sites share a name.
pub fn write_collection(
    configs: &[SynthConfig],
    out: &Path,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<PathBuf> {
    if configs.is_empty() {
        return Err(Error::invalid("cities", 0.0, "at least one"));
    }
    let mut entries = Vec::with_capacity(configs.len());
    for (i, c) in configs.iter().enumerate() {
        let name = c.site.name.clone();
        let dir = out.join(&name);
        write_world(c, &dir, &mut |_, _, _| {})?;
        let mut tags = std::collections::BTreeMap::new();
        tags.insert("epsg".to_string(), c.site.epsg.to_string());
        let hemisphere = if c.site.latitude_deg < 0.0 {
            "south"
        } else {
            "north"
        };
        tags.insert("hemisphere".to_string(), hemisphere.to_string());
        tags.insert("dates_per_year".to_string(), c.dates_per_year.to_string());
        entries.push(crate::collection::CollectionEntry {
            name: name.clone(),
            source: PathBuf::from(&name).join("manifest.json"),
            tags,
            bands: Vec::new(),
        });
        progress(i + 1, configs.len(), &name);
    }
    let file = crate::collection::CollectionFile {
        version: crate::collection::COLLECTION_VERSION,
        series: entries,
        meta: Some(json!({
            "generator": "chronomap synth --cities",
            "generator_version": env!("CARGO_PKG_VERSION"),
            "cities": configs.len(),
        })),
    };
    let path = out.join("collection.json");
    file.check(&path)?;
    file.save(&path)?;
    Ok(path)
}
