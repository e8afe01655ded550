//! Features -> label raster on a reference grid: reprojection, class rules, burn order.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::line_buffer::{Metric, buffer_line};
use super::polygon_fill::{fill_polygon, line_all_touched};
use crate::class_table::{BurnAs, ClassTable};
use crate::crs::Transformer;
use crate::error::{Error, Result, VectorProblem};
use crate::grid::Grid;
use crate::reader::DEFAULT_MAX_READ_BYTES;
use crate::vector::{Feature, FeatureId, Geometry, Skipped};

/// How to rasterize.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RasterizeOptions {
    /// Burn every pixel a polygon touches (GDAL `-at`) instead of those whose centre is
    /// inside (GDAL's default). Lines then burn every pixel within half their width of the
    /// line instead of every pixel centre within it.
    pub all_touched: bool,
    /// Fail on features that cannot be burned (open ways under area rules, unreadable
    /// geometry) instead of reporting them in [`RasterizeReport::skipped`].
    pub strict: bool,
    /// Take the class from this integer property (0-255) instead of the class table's tag
    /// rules; features are then burned in file order, later ones winning.
    pub attribute: Option<String>,
}

/// What a rasterization did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RasterizeReport {
    /// Features burned, per class id (index = class id).
    pub burned_per_class: Vec<usize>,
    /// Features no rule matched.
    pub unmatched: usize,
    /// Features entirely outside the grid.
    pub outside: usize,
    /// Features left out (with the file they come from).
    pub skipped: Vec<(PathBuf, Skipped)>,
    /// OSM features burned without the nodes their file lacks (an extract cut by a bounding
    /// box), with the file they come from; see [`Trimmed`](crate::vector::Trimmed).
    pub trimmed: Vec<(PathBuf, crate::vector::Trimmed)>,
    /// Labelled pixels per class id (index = class id; index 0 counts background).
    pub pixels_per_class: Vec<u64>,
}

/// Features read from one source, in the CRS `epsg`.
#[derive(Debug, Clone, Copy)]
pub struct FeatureSource<'a> {
    /// File the features come from (for messages).
    pub path: &'a Path,
    /// The features.
    pub features: &'a [Feature],
    /// EPSG code of their coordinates.
    pub epsg: u32,
}

/// Rasterizes features (coordinates in `features_epsg`) onto `grid` with the class rules of
/// `table`: the returned `u8` labels are `[grid.height, grid.width]`, 0 where nothing is
/// burned.
///
/// # Errors
/// [`Error::MissingGeoreferencing`] when the grid has no EPSG code but the features must be
/// reprojected (features not in 4326 are then assumed to be in the grid's CRS);
/// [`Error::UnsupportedCrs`]; [`Error::InvalidSpec`] for a singular geotransform; with
/// `options.strict`, [`Error::Vector`] for features that cannot be burned.
///
/// # Examples
/// ```
/// use chronomap_geo::{rasterize, ClassTable, GeoTransform, Grid, RasterizeOptions};
/// use chronomap_geo::vector::{Feature, FeatureId, Geometry};
/// // a 20 m x 20 m building on a 10 m UTM grid
/// let grid = Grid { width: 8, height: 8, geotransform: GeoTransform::north_up(0.0, 80.0, 10.0), epsg: Some(32628) };
/// let building = Feature {
///     id: FeatureId::Way(1),
///     tags: [("building".to_string(), "yes".to_string())].into_iter().collect(),
///     geometry: Geometry::Polygon(vec![vec![(20.0, 60.0), (40.0, 60.0), (40.0, 40.0), (20.0, 40.0), (20.0, 60.0)]]),
/// };
/// let labels = rasterize(&[building], 32628, &ClassTable::default(), &grid, &RasterizeOptions::default())?;
/// assert_eq!(labels.iter().filter(|&&v| v == 1).count(), 4);
/// assert_eq!(labels[2 * 8 + 2], 1);
/// # Ok::<(), chronomap_geo::Error>(())
/// ```
pub fn rasterize(
    features: &[Feature],
    features_epsg: u32,
    table: &ClassTable,
    grid: &Grid,
    options: &RasterizeOptions,
) -> Result<Vec<u8>> {
    let source = FeatureSource {
        path: Path::new("<features>"),
        features,
        epsg: features_epsg,
    };
    Ok(rasterize_sources(&[source], table, grid, options, &mut |_, _| {})?.0)
}

/// Bytes of a `u8` label raster on `grid`, or [`Error::GridTooLarge`] (naming `path`) when
/// that exceeds [`DEFAULT_MAX_READ_BYTES`]: a grid taken from a hostile header must not abort
/// the process.
pub(crate) fn check_label_size(grid: &Grid, path: &Path) -> Result<usize> {
    let bytes = (grid.width as u64).saturating_mul(grid.height as u64);
    if bytes > DEFAULT_MAX_READ_BYTES {
        return Err(grid_too_large(grid, path, bytes));
    }
    usize::try_from(bytes).map_err(|_| grid_too_large(grid, path, bytes))
}

fn grid_too_large(grid: &Grid, path: &Path, bytes: u64) -> Error {
    Error::GridTooLarge {
        path: path.to_path_buf(),
        width: grid.width,
        height: grid.height,
        bytes,
        limit: DEFAULT_MAX_READ_BYTES,
    }
}

/// A zeroed `[grid.height, grid.width]` label buffer; [`Error::GridTooLarge`] as
/// [`check_label_size`], or when the memory cannot be had.
fn zeroed_labels(grid: &Grid, path: &Path) -> Result<Vec<u8>> {
    let n = check_label_size(grid, path)?;
    let mut out = Vec::new();
    out.try_reserve_exact(n)
        .map_err(|_| grid_too_large(grid, path, n as u64))?;
    out.resize(n, 0);
    Ok(out)
}

/// Rasterizes features from several sources together (rules ordered across all of them),
/// reporting progress as `(features done, features total)`.
///
/// # Errors
/// As [`rasterize`].
pub fn rasterize_sources(
    sources: &[FeatureSource<'_>],
    table: &ClassTable,
    grid: &Grid,
    options: &RasterizeOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<u8>, RasterizeReport)> {
    let (w, h) = (grid.width, grid.height);
    let mut out = zeroed_labels(grid, Path::new(REFERENCE_GRID))?;
    let mut report = RasterizeReport {
        burned_per_class: vec![0; 256],
        ..Default::default()
    };
    let to_pixels = PixelMapper::new(grid)?;
    // (rule index or file order, source, feature, class, burn as, half width m)
    let mut jobs: Vec<(usize, usize, usize, u8, BurnAs, f64)> = Vec::new();
    let mut order = 0usize;
    for (s, src) in sources.iter().enumerate() {
        for (f, feature) in src.features.iter().enumerate() {
            order += 1;
            if let Some(attr) = &options.attribute {
                let class = feature
                    .tags
                    .get(attr)
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|v| v.fract() == 0.0 && (0.0..=255.0).contains(v));
                let Some(class) = class else {
                    let index = match feature.id {
                        FeatureId::GeoJson(i) => i,
                        _ => f,
                    };
                    return Err(Error::Vector {
                        path: src.path.to_path_buf(),
                        problem: VectorProblem::BadClassAttribute {
                            index,
                            attribute: attr.clone(),
                        },
                    });
                };
                let class = class as u8;
                let width = table
                    .class(class)
                    .and_then(|c| c.line_width_m)
                    .unwrap_or(0.0);
                let burn_as = if feature.geometry.polygons().is_some() {
                    BurnAs::Area
                } else {
                    BurnAs::Line
                };
                jobs.push((order, s, f, class, burn_as, width / 2.0));
            } else if let Some((class, rule)) = table.class_of(&feature.tags) {
                let r = &table.rules[rule];
                let hw = table.width_m(r).unwrap_or(0.0) / 2.0;
                jobs.push((rule, s, f, class, r.burn_as, hw));
            } else {
                report.unmatched += 1;
            }
        }
    }
    // stable: equal keys keep file order
    jobs.sort_by_key(|j| j.0);
    let total = jobs.len();
    for (done, &(_, s, f, class, burn_as, hw)) in jobs.iter().enumerate() {
        let src = &sources[s];
        let feature = &src.features[f];
        let skip = |report: &mut RasterizeReport, reason: VectorProblem| -> Result<()> {
            if options.strict {
                return Err(Error::Vector {
                    path: src.path.to_path_buf(),
                    problem: reason,
                });
            }
            report.skipped.push((
                src.path.to_path_buf(),
                Skipped {
                    id: feature.id,
                    reason,
                },
            ));
            Ok(())
        };
        let Some(geometry) = to_pixels.geometry(&feature.geometry, src.epsg)? else {
            report.outside += 1;
            continue;
        };
        let pad = hw / to_pixels.metric.sx.min(to_pixels.metric.sy) + 1.0;
        if !intersects(&geometry, w as f64, h as f64, pad) {
            report.outside += 1;
            continue;
        }
        match (burn_as, geometry.polygons()) {
            (BurnAs::Area, Some(polygons)) => {
                for rings in polygons {
                    let rings: Vec<&[(f64, f64)]> = rings.iter().map(Vec::as_slice).collect();
                    if options.all_touched {
                        for r in &rings {
                            line_all_touched(r, w, h, &mut out, class, true);
                        }
                    }
                    fill_polygon(&rings, w, h, &mut out, class);
                }
            }
            (BurnAs::Area, None) => {
                if matches!(geometry, Geometry::Point(_)) {
                    continue;
                }
                let what = match feature.id {
                    FeatureId::Way(_) => "way",
                    FeatureId::Relation(_) => "relation",
                    FeatureId::GeoJson(_) => "feature",
                };
                let id = match feature.id {
                    FeatureId::Way(i) | FeatureId::Relation(i) => i,
                    FeatureId::GeoJson(i) => i as i64,
                };
                skip(&mut report, VectorProblem::UnclosedRing { what, id })?;
                continue;
            }
            (BurnAs::Line, _) => {
                for line in geometry.lines() {
                    if hw > 0.0 {
                        buffer_line(
                            line,
                            hw,
                            to_pixels.metric,
                            options.all_touched,
                            w,
                            h,
                            &mut out,
                            class,
                        );
                    } else {
                        line_all_touched(line, w, h, &mut out, class, false);
                    }
                }
            }
        }
        report.burned_per_class[class as usize] += 1;
        if done % 1024 == 1023 {
            progress(done + 1, total);
        }
    }
    progress(total, total);
    let mut pixels = vec![0u64; 256];
    for &v in &out {
        pixels[v as usize] += 1;
    }
    let last = pixels.iter().rposition(|&n| n > 0).map_or(1, |i| i + 1);
    pixels.truncate(last);
    report.pixels_per_class = pixels;
    let last = report
        .burned_per_class
        .iter()
        .rposition(|&n| n > 0)
        .map_or(0, |i| i + 1);
    report.burned_per_class.truncate(last);
    Ok((out, report))
}

/// World (any supported CRS) -> grid pixel coordinates.
struct PixelMapper {
    grid: Grid,
    metric: Metric,
    /// Transformer from each source EPSG code to the grid's CRS (`None`: identity).
    transformers: RefCell<HashMap<u32, Option<Transformer>>>,
}

impl PixelMapper {
    fn new(grid: &Grid) -> Result<Self> {
        if grid.geotransform.world_to_pixel(0.0, 0.0).is_none() {
            return Err(Error::InvalidSpec {
                problem: "the reference grid's geotransform is singular",
            });
        }
        let (px, py) = grid.geotransform.pixel_size();
        let metric = if grid.epsg.is_some_and(crate::crs::is_geographic_epsg) {
            // metres per degree at the grid's centre latitude (WGS 84 ellipsoid)
            let (_, lat) = grid
                .geotransform
                .pixel_to_world(grid.width as f64 / 2.0, grid.height as f64 / 2.0);
            let phi = lat.to_radians();
            let m_lat = 111_132.954 - 559.822 * (2.0 * phi).cos() + 1.175 * (4.0 * phi).cos();
            let m_lon = 111_412.84 * phi.cos() - 93.5 * (3.0 * phi).cos();
            Metric {
                sx: px * m_lon.abs().max(1.0),
                sy: py * m_lat,
            }
        } else {
            Metric { sx: px, sy: py }
        };
        Ok(PixelMapper {
            grid: *grid,
            metric,
            transformers: RefCell::new(HashMap::new()),
        })
    }

    /// The geometry in pixel coordinates; `None` if a vertex cannot be transformed (e.g. a
    /// point beyond the projection's domain, far from the grid).
    fn geometry(&self, g: &Geometry, epsg: u32) -> Result<Option<Geometry>> {
        if !self.transformers.borrow().contains_key(&epsg) {
            let t = match self.grid.epsg {
                Some(grid_epsg) if grid_epsg != epsg => {
                    Some(Transformer::from_epsg(epsg, grid_epsg)?)
                }
                Some(_) => None,
                // features in lon/lat cannot be placed on a grid of unknown CRS; others are
                // taken to be in the grid's CRS already
                None if epsg == crate::crs::WGS84 => {
                    return Err(Error::MissingGeoreferencing {
                        path: PathBuf::from(REFERENCE_GRID),
                        missing: "EPSG code",
                    });
                }
                None => None,
            };
            self.transformers.borrow_mut().insert(epsg, t);
        }
        let map = self.transformers.borrow();
        let transformer = map.get(&epsg).and_then(Option::as_ref);
        let mut g = g.clone();
        for v in g.vertices_mut() {
            let (x, y) = match transformer {
                Some(t) => match t.transform(v.0, v.1) {
                    Ok(p) => p,
                    Err(_) => return Ok(None),
                },
                None => *v,
            };
            match self.grid.geotransform.world_to_pixel(x, y) {
                Some(p) => *v = p,
                None => return Ok(None),
            }
        }
        Ok(Some(g))
    }
}

/// Path used in errors about a grid given in memory.
pub(crate) const REFERENCE_GRID: &str = "<reference grid>";

/// Whether the geometry's bbox, padded by `pad` pixels, meets the raster.
fn intersects(g: &Geometry, w: f64, h: f64, pad: f64) -> bool {
    g.bbox()
        .is_some_and(|(x0, y0, x1, y1)| x1 >= -pad && y1 >= -pad && x0 <= w + pad && y0 <= h + pad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geotransform::GeoTransform;
    use proptest::prelude::*;

    fn feature(tags: &[(&str, &str)], geometry: Geometry) -> Feature {
        Feature {
            id: FeatureId::Way(1),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            geometry,
        }
    }

    fn square(x0: f64, y0: f64, s: f64) -> Vec<(f64, f64)> {
        vec![
            (x0, y0),
            (x0 + s, y0),
            (x0 + s, y0 + s),
            (x0, y0 + s),
            (x0, y0),
        ]
    }

    #[test]
    fn later_rules_win_regardless_of_feature_order() {
        let grid = Grid {
            width: 10,
            height: 10,
            geotransform: GeoTransform::north_up(0.0, 100.0, 10.0),
            epsg: Some(32628),
        };
        let building = feature(
            &[("building", "yes")],
            Geometry::Polygon(vec![square(20.0, 20.0, 40.0)]),
        );
        let forest = feature(
            &[("landuse", "forest")],
            Geometry::Polygon(vec![square(0.0, 0.0, 100.0)]),
        );
        // building listed first, forest second: the building rule is later, so it wins
        let out = rasterize(
            &[building, forest],
            32628,
            &ClassTable::default(),
            &grid,
            &RasterizeOptions::default(),
        )
        .unwrap();
        assert_eq!(out.iter().filter(|&&v| v == 1).count(), 16);
        assert_eq!(out.iter().filter(|&&v| v == 4).count(), 84);
    }

    #[test]
    fn open_way_under_area_rule_is_reported_or_fatal() {
        let grid = Grid {
            width: 4,
            height: 4,
            geotransform: GeoTransform::north_up(0.0, 40.0, 10.0),
            epsg: Some(32628),
        };
        let open = feature(
            &[("building", "yes")],
            Geometry::LineString(vec![(0.0, 0.0), (30.0, 30.0)]),
        );
        let src = [FeatureSource {
            path: Path::new("a.osm"),
            features: std::slice::from_ref(&open),
            epsg: 32628,
        }];
        let (_, report) = rasterize_sources(
            &src,
            &ClassTable::default(),
            &grid,
            &RasterizeOptions::default(),
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(report.skipped.len(), 1);
        let strict = RasterizeOptions {
            strict: true,
            ..Default::default()
        };
        assert!(matches!(
            rasterize_sources(&src, &ClassTable::default(), &grid, &strict, &mut |_, _| {}),
            Err(Error::Vector {
                problem: VectorProblem::UnclosedRing { what: "way", id: 1 },
                ..
            })
        ));
    }

    #[test]
    fn reprojects_lonlat_features() {
        // a 100 m UTM 28N grid around Saint-Louis; a lon/lat polygon covering its centre
        let (x, y) = crate::crs::Crs::from_epsg(32628)
            .unwrap()
            .from_lonlat(-16.5, 16.03)
            .unwrap();
        let grid = Grid {
            width: 20,
            height: 20,
            geotransform: GeoTransform::north_up(x - 1000.0, y + 1000.0, 100.0),
            epsg: Some(32628),
        };
        let d = 0.002; // ~ 210 m
        let poly = vec![
            (-16.5 - d, 16.03 - d),
            (-16.5 + d, 16.03 - d),
            (-16.5 + d, 16.03 + d),
            (-16.5 - d, 16.03 + d),
            (-16.5 - d, 16.03 - d),
        ];
        let f = feature(&[("natural", "water")], Geometry::Polygon(vec![poly]));
        let out = rasterize(
            &[f],
            4326,
            &ClassTable::default(),
            &grid,
            &RasterizeOptions::default(),
        )
        .unwrap();
        assert_eq!(out[10 * 20 + 10], 3);
        assert_eq!(out[0], 0);
        // ~ 427 m x 443 m -> ~19 pixels of 100 m
        let n = out.iter().filter(|&&v| v == 3).count();
        assert!((12..=30).contains(&n), "{n}");
    }

    proptest! {
        /// The burned area (pixel-centre rule) of a random quadrilateral equals its geometric
        /// area within one pixel perimeter: only pixels cut by the boundary can differ, and a
        /// boundary of length L cuts at most ~L + 4 pixels of side 1.
        #[test]
        fn burned_area_matches_geometric_area(
            cx in 10.0f64..54.0, cy in 10.0f64..54.0,
            r in prop::collection::vec(2.0f64..9.0, 4), a0 in 0.0f64..std::f64::consts::TAU,
        ) {
            let pts: Vec<(f64, f64)> = (0..4)
                .map(|i| { let a = a0 + i as f64 * std::f64::consts::FRAC_PI_2; (cx + r[i] * a.cos(), cy + r[i] * a.sin()) })
                .chain(std::iter::once((cx + r[0] * a0.cos(), cy + r[0] * a0.sin())))
                .collect();
            let area = pts.windows(2).map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1).sum::<f64>().abs() / 2.0;
            let perimeter: f64 = pts.windows(2).map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1)).sum();
            let mut out = vec![0u8; 64 * 64];
            fill_polygon(&[&pts], 64, 64, &mut out, 1);
            let burned = out.iter().filter(|&&v| v == 1).count() as f64;
            prop_assert!((burned - area).abs() <= perimeter + 4.0, "burned {burned} area {area} perimeter {perimeter}");
        }
    }
}
