//! Georeferencing of JP2 files, as GDAL reads it: GMLJP2 (a GML `RectifiedGrid` in an
//! `asoc` box) first, then GeoJP2 (a degenerate GeoTIFF in a `uuid` box). Malformed
//! georeferencing boxes are ignored, as GDAL ignores them (with a warning).

use quick_xml::events::Event;

use crate::geotransform::GeoTransform;
use crate::tiff_format::geokeys::{GeoInfo, read_geo};
use crate::tiff_format::ifd::TiffFile;

/// Georeferencing read from a JP2 file.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Georef {
    pub(crate) geotransform: Option<GeoTransform>,
    pub(crate) epsg: Option<u32>,
}

/// The EPSG code of a GML `srsName`: `urn:ogc:def:crs:EPSG::32628`,
/// `urn:ogc:def:crs:EPSG:6.6:4326`, `EPSG:32628`,
/// `http://www.opengis.net/def/crs/EPSG/0/32628` or the old
/// `http://www.opengis.net/gml/srs/epsg.xml#32628`; and whether the name asks for the
/// EPSG axis order (every form but the old `epsg.xml#` one, as in GDAL).
pub(crate) fn parse_srs_name(name: &str) -> Option<(u32, bool)> {
    if name.trim().to_ascii_uppercase().ends_with("CRS84") {
        return None;
    }
    let code = crate::crs::epsg_in_name(name)?;
    let epsg_order = !name.to_ascii_lowercase().contains("epsg.xml#");
    Some((code, epsg_order))
}

fn numbers(text: &str) -> Vec<f64> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// What the first `gml:RectifiedGrid` of a GMLJP2 document says.
#[derive(Debug, Default)]
struct Grid {
    origin: Option<Vec<f64>>,
    offsets: Vec<Vec<f64>>,
    /// srsName of the origin point, the grid, an offset vector, or the envelope, in that
    /// order of preference.
    srs_point: Option<String>,
    srs_grid: Option<String>,
    srs_other: Option<String>,
}

/// Parses GMLJP2: the geotransform with the origin moved from the centre of the top-left
/// pixel (GML's convention) to its corner, and the EPSG code; axes are swapped for
/// geographic EPSG CRSs named in the URN forms (latitude first), as GDAL does.
pub(crate) fn parse_gml(xml: &str) -> Option<Georef> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut grid = Grid::default();
    let mut path: Vec<String> = Vec::new();
    let mut in_grid = false;
    let mut grid_done = false;
    let mut text = String::new();
    loop {
        let event = reader.read_event().ok()?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                let srs = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == "srsName")
                    .map(|a| a.value.to_string());
                if name == "RectifiedGrid" && !grid_done {
                    in_grid = true;
                    if srs.is_some() {
                        grid.srs_grid = srs.clone();
                    }
                } else if in_grid && name == "Point" && srs.is_some() {
                    grid.srs_point = srs.clone();
                } else if srs.is_some() && grid.srs_other.is_none() {
                    grid.srs_other = srs.clone();
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                if let Some(a) = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == "srsName")
                    && grid.srs_other.is_none()
                {
                    grid.srs_other = Some(a.value.to_string());
                }
            }
            Event::Text(t) => {
                text.push_str(t.as_ref());
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                if in_grid {
                    let parent = path.last().map(String::as_str).unwrap_or("");
                    match name.as_str() {
                        "pos" | "coordinates" if parent == "Point" => {
                            grid.origin.get_or_insert_with(|| numbers(&text));
                        }
                        "offsetVector" => grid.offsets.push(numbers(&text)),
                        "RectifiedGrid" => {
                            in_grid = false;
                            grid_done = true;
                        }
                        _ => {}
                    }
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let origin = grid.origin.filter(|o| o.len() >= 2)?;
    if grid.offsets.len() < 2 || grid.offsets.iter().take(2).any(|v| v.len() < 2) {
        return None;
    }
    let srs = grid.srs_point.or(grid.srs_grid).or(grid.srs_other);
    let parsed = srs.as_deref().and_then(parse_srs_name);
    let epsg = parsed.map(|p| p.0);
    let flip =
        parsed.is_some_and(|(code, epsg_order)| epsg_order && crate::crs::is_geographic_epsg(code));
    let (mut o, mut a, mut b) = (
        [origin[0], origin[1]],
        [grid.offsets[0][0], grid.offsets[0][1]],
        [grid.offsets[1][0], grid.offsets[1][1]],
    );
    if flip {
        o.swap(0, 1);
        a.swap(0, 1);
        b.swap(0, 1);
    }
    // GDAL: X = origin + col * a + row * b, with (col, row) of pixel centres
    let mut gt = [o[0], a[0], b[0], o[1], a[1], b[1]];
    gt[0] -= 0.5 * (gt[1] + gt[2]);
    gt[3] -= 0.5 * (gt[4] + gt[5]);
    if gt.iter().any(|v| !v.is_finite()) {
        return None;
    }
    Some(Georef {
        geotransform: Some(GeoTransform(gt)),
        epsg,
    })
}

/// Parses a GeoJP2 box's degenerate GeoTIFF with the TIFF reader's GeoKey code.
pub(crate) fn parse_geojp2(tiff: Vec<u8>) -> Option<Georef> {
    let geo: GeoInfo = (|| {
        let file = TiffFile::parse(&tiff).ok()?;
        let ifd = file.read_ifd(file.first_ifd).ok()?;
        read_geo(&file, &ifd).ok()
    })()?;
    Some(Georef {
        geotransform: geo.geotransform,
        epsg: geo.epsg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srs_names() {
        assert_eq!(
            parse_srs_name("urn:ogc:def:crs:EPSG::32628"),
            Some((32628, true))
        );
        assert_eq!(
            parse_srs_name("urn:ogc:def:crs:EPSG:6.6:4326"),
            Some((4326, true))
        );
        assert_eq!(
            parse_srs_name("http://www.opengis.net/gml/srs/epsg.xml#4326"),
            Some((4326, false))
        );
        assert_eq!(
            parse_srs_name("http://www.opengis.net/def/crs/EPSG/0/3857"),
            Some((3857, true))
        );
        assert_eq!(parse_srs_name("urn:ogc:def:crs:OGC:1.3:CRS84"), None);
    }

    /// The GMLJP2 of an ESA Sentinel-2 band (EPSG:32628, 10 m): the origin is the centre of
    /// the top-left pixel, so the corner is half a pixel up and left.
    #[test]
    fn sentinel2_style_gml() {
        let xml = r#"<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml">
  <gml:featureMember><gml:FeatureCollection><gml:featureMember>
  <gml:RectifiedGridCoverage dimension="2" gml:id="RGC0001"><gml:rectifiedGridDomain>
  <gml:RectifiedGrid dimension="2">
    <gml:limits><gml:GridEnvelope><gml:low>0 0</gml:low><gml:high>10979 10979</gml:high></gml:GridEnvelope></gml:limits>
    <gml:axisName>x</gml:axisName><gml:axisName>y</gml:axisName>
    <gml:origin><gml:Point gml:id="P0001" srsName="urn:ogc:def:crs:EPSG::32628"><gml:pos>300005.0 1800015.0</gml:pos></gml:Point></gml:origin>
    <gml:offsetVector srsName="urn:ogc:def:crs:EPSG::32628">10 0</gml:offsetVector>
    <gml:offsetVector srsName="urn:ogc:def:crs:EPSG::32628">0 -10</gml:offsetVector>
  </gml:RectifiedGrid></gml:rectifiedGridDomain></gml:RectifiedGridCoverage>
  </gml:featureMember></gml:FeatureCollection></gml:featureMember>
</gml:FeatureCollection>"#;
        let g = parse_gml(xml).unwrap();
        assert_eq!(g.epsg, Some(32628));
        assert_eq!(
            g.geotransform.unwrap().0,
            [300_000.0, 10.0, 0.0, 1_800_020.0, 0.0, -10.0]
        );
    }

    #[test]
    fn geographic_urn_swaps_axes() {
        let xml = r#"<gml:RectifiedGrid xmlns:gml="http://www.opengis.net/gml" dimension="2">
    <gml:origin><gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>14.995 -17.005</gml:pos></gml:Point></gml:origin>
    <gml:offsetVector>0 0.01</gml:offsetVector>
    <gml:offsetVector>-0.01 0</gml:offsetVector>
  </gml:RectifiedGrid>"#;
        let g = parse_gml(xml).unwrap();
        assert_eq!(g.epsg, Some(4326));
        let gt = g.geotransform.unwrap().0;
        let want = [-17.01, 0.01, 0.0, 15.0, 0.0, -0.01];
        for (a, b) in gt.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{gt:?}");
        }
        assert!(parse_gml("<not-gml/>").is_none());
        assert!(parse_gml("<a><b></a>").is_none());
    }
}
