//! GeoTIFF georeferencing: ModelPixelScale/ModelTiepoint/ModelTransformation -> GDAL
//! geotransform, the GeoKey directory -> EPSG code, GDAL_NODATA and GDAL_METADATA band
//! descriptions; and the same tags for writing.

use super::ifd::{Fail, Ifd, TiffFile};
use super::tags;
use crate::error::TiffProblem;
use crate::geotransform::GeoTransform;

pub(crate) const GT_MODEL_TYPE: u16 = 1024;
pub(crate) const GT_RASTER_TYPE: u16 = 1025;
pub(crate) const GT_CITATION: u16 = 1026;
pub(crate) const GEOGRAPHIC_TYPE: u16 = 2048;
pub(crate) const GEOG_ANGULAR_UNITS: u16 = 2054;
pub(crate) const PROJECTED_CS_TYPE: u16 = 3072;
pub(crate) const PROJ_LINEAR_UNITS: u16 = 3076;

/// Georeferencing found in an IFD.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GeoInfo {
    pub(crate) geotransform: Option<GeoTransform>,
    pub(crate) epsg: Option<u32>,
    pub(crate) pixel_is_point: bool,
    pub(crate) nodata: Option<f64>,
    pub(crate) band_descriptions: Vec<(usize, String)>,
}

/// Reads the GeoTIFF and GDAL tags of `ifd`.
pub(crate) fn read_geo(file: &TiffFile<'_>, ifd: &Ifd) -> Result<GeoInfo, Fail> {
    let mut info = GeoInfo::default();
    if let Some(dir) = file.u64s(ifd, tags::GEO_KEY_DIRECTORY)? {
        let keys = parse_key_directory(&dir)?;
        let get = |id: u16| keys.iter().find(|k| k.0 == id).map(|k| k.1);
        let model_type = get(GT_MODEL_TYPE).unwrap_or(0);
        info.pixel_is_point = get(GT_RASTER_TYPE) == Some(2);
        let user_defined = |c: u64| c == 0 || c >= 32767;
        info.epsg = match (get(PROJECTED_CS_TYPE), get(GEOGRAPHIC_TYPE)) {
            (Some(p), _) if !user_defined(p) => Some(p as u32),
            (_, Some(g)) if !user_defined(g) && model_type != 1 => Some(g as u32),
            _ => None,
        };
    }
    let transformation = file.f64s(ifd, tags::MODEL_TRANSFORMATION)?;
    let scale = file.f64s(ifd, tags::MODEL_PIXEL_SCALE)?;
    let tiepoints = file.f64s(ifd, tags::MODEL_TIEPOINT)?;
    let mut gt = match (transformation, scale, tiepoints) {
        (Some(m), _, _) if m.len() >= 16 => {
            Some(GeoTransform([m[3], m[0], m[1], m[7], m[4], m[5]]))
        }
        (_, Some(s), Some(t)) if s.len() >= 2 && t.len() >= 6 => {
            // GDAL: a single tiepoint + scale; several tiepoints are GCPs (not a transform)
            let (i, j, x, y) = (t[0], t[1], t[3], t[4]);
            let (sx, sy) = (s[0], s[1]);
            Some(GeoTransform([x - i * sx, sx, 0.0, y + j * sy, 0.0, -sy]))
        }
        _ => None,
    };
    if let Some(g) = gt.as_mut() {
        if g.0.iter().any(|v| !v.is_finite()) {
            gt = None;
        } else if info.pixel_is_point {
            // GDAL (GTIFF_POINT_GEO_IGNORE=FALSE) moves the origin from the centre of the
            // top-left pixel to its corner
            let [_, dx, rx, _, ry, dy] = g.0;
            g.0[0] -= dx * 0.5 + rx * 0.5;
            g.0[3] -= ry * 0.5 + dy * 0.5;
        }
    }
    info.geotransform = gt;
    if let Some(s) = file.ascii(ifd, tags::GDAL_NODATA)? {
        info.nodata = parse_nodata(&s);
    }
    if let Some(xml) = file.ascii(ifd, tags::GDAL_METADATA)? {
        info.band_descriptions = parse_band_descriptions(&xml);
    }
    Ok(info)
}

/// GDAL writes nodata as text: `0`, `-9999`, `nan`, `-inf`, sometimes `1e+20`.
pub(crate) fn parse_nodata(s: &str) -> Option<f64> {
    let t = s.trim().trim_end_matches('\0');
    match t.to_ascii_lowercase().as_str() {
        "nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => t.parse().ok(),
    }
}

/// (key id, value) pairs of SHORT-valued keys; keys stored in other tags are skipped.
fn parse_key_directory(dir: &[u64]) -> Result<Vec<(u16, u64)>, Fail> {
    if dir.len() < 4 {
        return Err(TiffProblem::GeoKeys {
            detail: "fewer than 4 header values",
        }
        .into());
    }
    let n = dir[3] as usize;
    let body = dir
        .get(4..4 + n.saturating_mul(4).min(dir.len()))
        .unwrap_or(&[]);
    if body.len() < n * 4 {
        return Err(TiffProblem::GeoKeys {
            detail: "fewer keys than announced",
        }
        .into());
    }
    Ok(body
        .chunks_exact(4)
        .filter(|k| k[1] == 0)
        .map(|k| (k[0] as u16, k[3]))
        .collect())
}

/// Band descriptions from GDAL's `<GDALMetadata><Item name="DESCRIPTION" sample="N"
/// role="description">...</Item>` XML.
pub(crate) fn parse_band_descriptions(xml: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Item") {
        rest = &rest[start + 5..];
        let Some(close) = rest.find('>') else { break };
        let attrs = &rest[..close];
        let body_start = close + 1;
        let Some(end) = rest[body_start..].find("</Item>") else {
            break;
        };
        let body = &rest[body_start..body_start + end];
        rest = &rest[body_start + end..];
        let attr = |name: &str| -> Option<&str> {
            let key = format!("{name}=\"");
            let i = attrs.find(&key)? + key.len();
            let j = attrs[i..].find('"')?;
            Some(&attrs[i..i + j])
        };
        if attr("role") == Some("description")
            && let Some(sample) = attr("sample").and_then(|s| s.parse().ok())
        {
            out.push((sample, xml_unescape(body)));
        }
    }
    out
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// GeoKey directory (SHORT values) and GeoAsciiParams for writing an EPSG-coded raster.
pub(crate) fn key_directory(
    epsg: Option<u32>,
    citation: Option<&str>,
) -> (Vec<u16>, Option<String>) {
    let mut keys: Vec<[u16; 4]> = Vec::new();
    let mut ascii = None;
    let geographic = epsg.is_some_and(crate::crs::is_geographic_epsg);
    if epsg.is_some() {
        keys.push([GT_MODEL_TYPE, 0, 1, if geographic { 2 } else { 1 }]);
    }
    keys.push([GT_RASTER_TYPE, 0, 1, 1]); // PixelIsArea
    if let (Some(_), Some(c)) = (epsg, citation) {
        let text = format!("{c}|");
        keys.push([GT_CITATION, tags::GEO_ASCII_PARAMS, text.len() as u16, 0]);
        ascii = Some(text);
    }
    if let Some(code) = epsg {
        let code = u16::try_from(code).unwrap_or(32767);
        if geographic {
            keys.push([GEOGRAPHIC_TYPE, 0, 1, code]);
            keys.push([GEOG_ANGULAR_UNITS, 0, 1, 9102]); // degree
        } else {
            keys.push([PROJECTED_CS_TYPE, 0, 1, code]);
            keys.push([PROJ_LINEAR_UNITS, 0, 1, 9001]); // metre
        }
    }
    keys.sort_by_key(|k| k[0]);
    let mut dir = vec![1, 1, 0, keys.len() as u16];
    for k in keys {
        dir.extend_from_slice(&k);
    }
    (dir, ascii)
}

/// ModelPixelScale + ModelTiepoint for a north-up transform, ModelTransformation otherwise.
pub(crate) enum GeoTags {
    ScaleTiepoint { scale: [f64; 3], tiepoint: [f64; 6] },
    Transformation([f64; 16]),
}

pub(crate) fn geo_tags(gt: &GeoTransform) -> GeoTags {
    let [x0, dx, rx, y0, ry, dy] = gt.0;
    if rx == 0.0 && ry == 0.0 && dx > 0.0 && dy < 0.0 {
        GeoTags::ScaleTiepoint {
            scale: [dx, -dy, 0.0],
            tiepoint: [0.0, 0.0, 0.0, x0, y0, 0.0],
        }
    } else {
        GeoTags::Transformation([
            dx, rx, 0.0, x0, ry, dy, 0.0, y0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodata_text_forms() {
        assert_eq!(parse_nodata("0"), Some(0.0));
        assert_eq!(parse_nodata("-9999\0"), Some(-9999.0));
        assert!(parse_nodata("nan").unwrap().is_nan());
        assert_eq!(parse_nodata("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_nodata("1e+20"), Some(1e20));
        assert_eq!(parse_nodata("garbage"), None);
    }

    #[test]
    fn gdal_metadata_descriptions() {
        let xml = r#"<GDALMetadata>
  <Item name="DESCRIPTION" sample="0" role="description">B02 &amp; blue</Item>
  <Item name="STATISTICS_MAXIMUM" sample="0">5</Item>
  <Item name="DESCRIPTION" sample="2" role="description">B04</Item>
</GDALMetadata>"#;
        assert_eq!(
            parse_band_descriptions(xml),
            vec![(0, "B02 & blue".to_string()), (2, "B04".to_string())]
        );
    }

    #[test]
    fn key_directory_is_sorted_and_counted() {
        let (dir, ascii) = key_directory(Some(32628), Some("WGS 84 / UTM zone 28N"));
        assert_eq!(&dir[..4], &[1, 1, 0, 5]);
        let ids: Vec<u16> = dir[4..].chunks(4).map(|k| k[0]).collect();
        assert_eq!(ids, vec![1024, 1025, 1026, 3072, 3076]);
        assert_eq!(ascii.as_deref(), Some("WGS 84 / UTM zone 28N|"));
    }
}
