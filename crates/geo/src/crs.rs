//! Coordinate reference systems by EPSG code, and transforms between them, in pure Rust.
//!
//! Definitions come from the EPSG table of the `crs-definitions` crate (about 6000 codes as
//! PROJ.4 strings) and are computed by `proj4rs`: UTM on WGS 84 (326xx north, 327xx south,
//! every zone), ETRS89 (4258, 258xx, 3035), NAD83 (4269, 269xx), Web Mercator (3857),
//! World Mercator (3395), Lambert-93 (2154), polar stereographic (3031, 3413, 3976), British
//! National Grid (27700, 7-parameter datum shift) and the others `proj4rs` implements.
//! Codes whose definition needs a datum grid file (`+nadgrids=` other than `@null`) or a
//! projection `proj4rs` lacks are rejected with [`Error::UnsupportedCrs`] naming the code.
//!
//! Coordinates are always `(x, y)` = `(easting, northing)` for projected CRSs and
//! `(longitude, latitude)` in degrees for geographic ones, whatever the EPSG axis order
//! (the convention of GeoTIFF, GeoJSON and OSM).

use proj4rs::Proj;

use crate::error::{Error, Result};

/// A coordinate reference system identified by its EPSG code.
#[derive(Clone)]
pub struct Crs {
    code: u32,
    name: &'static str,
    geographic: bool,
    proj: Proj,
}

impl std::fmt::Debug for Crs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crs(EPSG:{} {:?})", self.code, self.name)
    }
}

impl PartialEq for Crs {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
    }
}

/// EPSG code of WGS 84 longitude/latitude.
pub const WGS84: u32 = 4326;

impl Crs {
    /// The CRS of an EPSG code.
    ///
    /// # Errors
    /// [`Error::UnsupportedCrs`] naming the code when it is unknown or cannot be computed.
    ///
    /// # Examples
    /// ```
    /// use chronomap_geo::crs::Crs;
    /// let utm = Crs::from_epsg(32628)?;
    /// assert_eq!(utm.name(), "WGS 84 / UTM zone 28N");
    /// assert!(!utm.is_geographic());
    /// assert!(Crs::from_epsg(999_999).is_err());
    /// # Ok::<(), chronomap_geo::Error>(())
    /// ```
    pub fn from_epsg(code: u32) -> Result<Crs> {
        let unsupported = |reason| Error::UnsupportedCrs { code, reason };
        let def = u16::try_from(code)
            .ok()
            .and_then(crs_definitions::from_code)
            .ok_or_else(|| unsupported("not in the EPSG table"))?;
        let proj4 = def.proj4;
        if proj4
            .split_whitespace()
            .any(|p| p.starts_with("+nadgrids=") && p != "+nadgrids=@null")
        {
            return Err(unsupported("needs a datum grid file"));
        }
        let proj = Proj::from_proj_string(proj4)
            .map_err(|_| unsupported("projection not implemented by proj4rs"))?;
        let geographic = proj.is_latlong();
        if proj.is_geocent() {
            return Err(unsupported("geocentric CRS"));
        }
        Ok(Crs {
            code,
            name: wkt_name(def.wkt),
            geographic,
            proj,
        })
    }

    /// WGS 84 longitude/latitude (EPSG:4326).
    pub fn wgs84() -> Crs {
        static WGS84_CRS: std::sync::OnceLock<Crs> = std::sync::OnceLock::new();
        WGS84_CRS
            .get_or_init(|| {
                // the built-in table always holds 4326 and proj4rs always parses it
                Crs::from_epsg(WGS84)
                    .unwrap_or_else(|_| unreachable!("EPSG:4326 is always available"))
            })
            .clone()
    }

    /// The WGS 84 / UTM zone CRS (EPSG 326zz north of the equator, 327zz south) covering a
    /// longitude/latitude in degrees (Norway/Svalbard exceptions not applied).
    ///
    /// # Errors
    /// Never in practice (every UTM zone is in the table); typed for uniformity.
    pub fn utm_for(lon: f64, lat: f64) -> Result<Crs> {
        Crs::from_epsg(utm_epsg(lon, lat))
    }

    /// The EPSG code.
    pub fn epsg(&self) -> u32 {
        self.code
    }

    /// The EPSG name (`"WGS 84 / UTM zone 28N"`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether coordinates are longitude/latitude degrees.
    pub fn is_geographic(&self) -> bool {
        self.geographic
    }

    /// Projects WGS 84 longitude/latitude (degrees) into this CRS.
    ///
    /// # Errors
    /// [`Error::Transform`] for points the projection cannot represent.
    ///
    /// # Examples
    /// ```
    /// use chronomap_geo::crs::Crs;
    /// // the natural origin of UTM zone 31N: (3 E, 0 N) -> (500000, 0)
    /// let (x, y) = Crs::from_epsg(32631)?.from_lonlat(3.0, 0.0)?;
    /// assert!((x - 500_000.0).abs() < 1e-6 && y.abs() < 1e-6);
    /// # Ok::<(), chronomap_geo::Error>(())
    /// ```
    pub fn from_lonlat(&self, lon: f64, lat: f64) -> Result<(f64, f64)> {
        Transformer::new(&Crs::wgs84(), self).transform(lon, lat)
    }

    /// Unprojects a point of this CRS to WGS 84 longitude/latitude (degrees).
    ///
    /// # Errors
    /// [`Error::Transform`] for points outside the projection's domain.
    pub fn to_lonlat(&self, x: f64, y: f64) -> Result<(f64, f64)> {
        Transformer::new(self, &Crs::wgs84()).transform(x, y)
    }
}

/// Transforms points from one CRS to another (degrees for geographic CRSs).
#[derive(Debug, Clone)]
pub struct Transformer {
    from: Crs,
    to: Crs,
}

impl Transformer {
    /// A transformer from `from` to `to`.
    pub fn new(from: &Crs, to: &Crs) -> Self {
        Transformer {
            from: from.clone(),
            to: to.clone(),
        }
    }

    /// A transformer between two EPSG codes.
    ///
    /// # Errors
    /// [`Error::UnsupportedCrs`] for either code.
    pub fn from_epsg(from: u32, to: u32) -> Result<Self> {
        Ok(Transformer::new(
            &Crs::from_epsg(from)?,
            &Crs::from_epsg(to)?,
        ))
    }

    /// Whether source and target are the same CRS (transform is the identity).
    pub fn is_identity(&self) -> bool {
        self.from.code == self.to.code
    }

    /// Transforms one point.
    ///
    /// # Errors
    /// [`Error::Transform`] naming the point and both codes.
    pub fn transform(&self, x: f64, y: f64) -> Result<(f64, f64)> {
        if self.is_identity() {
            return Ok((x, y));
        }
        let fail = || Error::Transform {
            x,
            y,
            from: self.from.code,
            to: self.to.code,
        };
        let mut p = if self.from.geographic {
            (x.to_radians(), y.to_radians(), 0.0)
        } else {
            (x, y, 0.0)
        };
        proj4rs::transform::transform(&self.from.proj, &self.to.proj, &mut p)
            .map_err(|_| fail())?;
        let out = if self.to.geographic {
            (p.0.to_degrees(), p.1.to_degrees())
        } else {
            (p.0, p.1)
        };
        if out.0.is_finite() && out.1.is_finite() {
            Ok(out)
        } else {
            Err(fail())
        }
    }

    /// Transforms points in place.
    ///
    /// # Errors
    /// As [`transform`](Self::transform), at the first failing point.
    pub fn transform_all(&self, points: &mut [(f64, f64)]) -> Result<()> {
        for p in points.iter_mut() {
            *p = self.transform(p.0, p.1)?;
        }
        Ok(())
    }
}

/// WGS 84 / UTM EPSG code for a longitude/latitude in degrees (see [`Crs::utm_for`]).
///
/// # Examples
/// ```
/// // Saint-Louis, Senegal
/// assert_eq!(chronomap_geo::crs::utm_epsg(-16.5, 16.03), 32628);
/// // Antananarivo
/// assert_eq!(chronomap_geo::crs::utm_epsg(47.5, -18.9), 32738);
/// ```
pub fn utm_epsg(lon: f64, lat: f64) -> u32 {
    let lon = (lon + 180.0).rem_euclid(360.0);
    let zone = ((lon / 6.0).floor() as u32).min(59) + 1;
    if lat >= 0.0 {
        32600 + zone
    } else {
        32700 + zone
    }
}

/// Whether `code` is a geographic (longitude/latitude) CRS; `false` for unknown codes.
pub fn is_geographic_epsg(code: u32) -> bool {
    Crs::from_epsg(code).is_ok_and(|c| c.is_geographic())
        || u16::try_from(code)
            .ok()
            .and_then(crs_definitions::from_code)
            .is_some_and(|d| d.proj4.contains("+proj=longlat"))
}

/// Name of an EPSG code from the table (also for codes `proj4rs` cannot compute).
pub fn epsg_name(code: u32) -> Option<String> {
    let def = crs_definitions::from_code(u16::try_from(code).ok()?)?;
    Some(wkt_name(def.wkt).to_string())
}

/// The first quoted string of a WKT definition: the CRS name.
fn wkt_name(wkt: &'static str) -> &'static str {
    let start = wkt.find('"').map_or(0, |i| i + 1);
    let end = wkt[start..].find('"').map_or(start, |i| start + i);
    &wkt[start..end]
}

/// The EPSG code a CRS name gives: the trailing number of any name mentioning EPSG
/// (`EPSG:32628`, `urn:ogc:def:crs:EPSG::32628`, `urn:ogc:def:crs:EPSG:6.6:4326`,
/// `http://www.opengis.net/def/crs/EPSG/0/32628`,
/// `http://www.opengis.net/gml/srs/epsg.xml#32628`), and 4326 for OGC's `CRS84`
/// (GeoJSON's longitude-first WGS 84). Used for GeoJSON `crs` names and GML `srsName`s.
pub(crate) fn epsg_in_name(name: &str) -> Option<u32> {
    let n = name.trim();
    let upper = n.to_ascii_uppercase();
    if upper.ends_with("CRS84") {
        return Some(4326);
    }
    if !upper.contains("EPSG") {
        return None;
    }
    let start = n.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    n[start..].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference values from GDAL 3.6.2 / PROJ 9.1.1:
    /// `printf -- "lon lat" | gdaltransform -s_srs OGC:CRS84 -t_srs EPSG:NNNN -output_xy`.
    #[test]
    fn known_points_match_proj() {
        type Case = (u32, (f64, f64), (f64, f64));
        let cases: [Case; 4] = [
            // Saint-Louis, Senegal, UTM 28N
            (
                32628,
                (-16.5, 16.03),
                (339_520.968_863_519, 1_772_833.988_189_87),
            ),
            // Web Mercator
            (
                3857,
                (-16.5, 16.03),
                (-1_836_771.598_089_01, 1_808_197.195_351_34),
            ),
            // Paris in Lambert-93
            (
                2154,
                (2.3522, 48.8566),
                (652_469.022_709_136, 6_862_035.259_420_08),
            ),
            // Cape Town, UTM 34S
            (
                32734,
                (18.4241, -33.9249),
                (261_881.598_523_995, 6_243_182.354_517_81),
            ),
        ];
        for (code, (lon, lat), (ex, ey)) in cases {
            let (x, y) = Crs::from_epsg(code).unwrap().from_lonlat(lon, lat).unwrap();
            assert!(
                (x - ex).abs() < 1e-3 && (y - ey).abs() < 1e-3,
                "EPSG:{code}: ({x}, {y})"
            );
        }
    }

    #[test]
    fn unsupported_codes_are_named() {
        match Crs::from_epsg(1) {
            Err(Error::UnsupportedCrs { code: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
        let msg = Crs::from_epsg(70_000).unwrap_err().to_string();
        assert!(msg.contains("EPSG:70000"), "{msg}");
    }

    #[test]
    fn names_and_kinds() {
        assert_eq!(Crs::wgs84().name(), "WGS 84");
        assert!(Crs::wgs84().is_geographic());
        assert!(is_geographic_epsg(4326) && is_geographic_epsg(4258) && !is_geographic_epsg(32628));
        assert_eq!(epsg_name(32738).as_deref(), Some("WGS 84 / UTM zone 38S"));
        assert_eq!(utm_epsg(179.9, 1.0), 32660);
        assert_eq!(utm_epsg(-180.0, -1.0), 32701);
    }

    proptest! {
        /// UTM <-> lon/lat round trips to the millimetre anywhere within 3 degrees of the
        /// zone's central meridian (the zone itself), both hemispheres, every zone.
        #[test]
        fn utm_round_trip_mm(zone in 1u32..=60, dlon in -3.0f64..3.0, lat in -80.0f64..84.0) {
            let lon = -183.0 + 6.0 * zone as f64 + dlon;
            let code = if lat >= 0.0 { 32600 + zone } else { 32700 + zone };
            let crs = Crs::from_epsg(code).unwrap();
            let (x, y) = crs.from_lonlat(lon, lat).unwrap();
            let (lon2, lat2) = crs.to_lonlat(x, y).unwrap();
            let (x2, y2) = crs.from_lonlat(lon2, lat2).unwrap();
            prop_assert!((x2 - x).abs() < 1e-3 && (y2 - y).abs() < 1e-3, "{code} ({lon}, {lat})");
            // 1 mm is ~1e-8 degrees
            prop_assert!((lon2 - lon).abs() < 1e-8 && (lat2 - lat).abs() < 1e-8);
        }
    }
}
