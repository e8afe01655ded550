//! GeoJSON FeatureCollections (RFC 7946, plus the legacy `crs` member naming an EPSG code),
//! parsed with `serde_json` so every problem is reported with the feature's index.

use std::path::Path;

use serde_json::Value;

use super::feature::{Feature, FeatureId, Geometry, Ring, Skipped, Tags, VectorData};
use super::read::ReadOptions;
use crate::error::{Error, Result, VectorProblem};

/// Reads a GeoJSON FeatureCollection. Coordinates are WGS 84 longitude/latitude unless a
/// legacy `"crs": {"type": "name", "properties": {"name": "EPSG:n"}}` member says otherwise
/// (`urn:ogc:def:crs:EPSG::n` and `OGC:CRS84` forms too). Properties become tags (numbers and
/// booleans as text); features without geometry and points are kept but never burned.
///
/// # Errors
/// [`Error::Io`]; [`Error::Vector`] when the text is not JSON, the root is not a
/// FeatureCollection, a geometry is malformed, the `crs` is not an EPSG code, or (strict)
/// a polygon ring does not close.
pub fn read_geojson(path: impl AsRef<Path>, options: &ReadOptions) -> Result<VectorData> {
    let path = path.as_ref();
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&text, path, options)
}

/// Parses GeoJSON held in memory (errors name the file `<memory>`).
///
/// # Errors
/// As [`read_geojson`].
///
/// # Examples
/// ```
/// use chronomap_geo::vector::{parse_geojson, ReadOptions};
/// let doc = r#"{"type": "FeatureCollection", "features": [{"type": "Feature",
///   "properties": {"class": 3},
///   "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]]}}]}"#;
/// let data = parse_geojson(doc.as_bytes(), &ReadOptions::default())?;
/// assert_eq!(data.features[0].tags["class"], "3");
/// assert_eq!(data.epsg, 4326);
/// # Ok::<(), chronomap_geo::Error>(())
/// ```
pub fn parse_geojson(text: &[u8], options: &ReadOptions) -> Result<VectorData> {
    parse(text, Path::new("<memory>"), options)
}

fn parse(text: &[u8], path: &Path, options: &ReadOptions) -> Result<VectorData> {
    let fail = |problem| Error::Vector {
        path: path.to_path_buf(),
        problem,
    };
    let bad = |detail: String| fail(VectorProblem::GeoJson { detail });
    let root: Value = serde_json::from_slice(text).map_err(|e| bad(e.to_string()))?;
    let kind = root.get("type").and_then(Value::as_str);
    if kind != Some("FeatureCollection") {
        let found = match kind {
            Some("Feature") => "Feature",
            Some("GeometryCollection") => "GeometryCollection",
            Some(
                "Point" | "MultiPoint" | "LineString" | "MultiLineString" | "Polygon"
                | "MultiPolygon",
            ) => "bare geometry",
            Some(_) => "object of unknown type",
            None if root.is_object() => "object without a type",
            None => "non-object JSON value",
        };
        return Err(fail(VectorProblem::NotFeatureCollection { found }));
    }
    let epsg = match root.pointer("/crs/properties/name").and_then(Value::as_str) {
        None => 4326,
        Some(name) => crate::crs::epsg_in_name(name).ok_or_else(|| {
            fail(VectorProblem::BadCrs {
                name: name.to_string(),
            })
        })?,
    };
    let features = root
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("FeatureCollection without a `features` array".into()))?;
    let mut out = VectorData {
        epsg,
        ..VectorData::default()
    };
    for (index, f) in features.iter().enumerate() {
        if f.get("type").and_then(Value::as_str) != Some("Feature") {
            return Err(bad(format!("feature {index} is not a Feature")));
        }
        let mut tags = Tags::new();
        if let Some(props) = f.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let text = match v {
                    Value::Null => continue,
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                tags.insert(k.clone(), text);
            }
        }
        if options.keep.as_ref().is_some_and(|keep| !keep(&tags)) {
            continue;
        }
        let Some(g) = f.get("geometry").filter(|g| !g.is_null()) else {
            continue;
        };
        let id = FeatureId::GeoJson(index);
        let mut geometries = Vec::new();
        match geometry(g, &mut geometries) {
            Ok(()) => {}
            Err(GeomError::Malformed(what)) => {
                return Err(bad(format!("feature {index}: {what}")));
            }
            Err(GeomError::Unclosed) => {
                let reason = VectorProblem::UnclosedRing {
                    what: "feature",
                    id: index as i64,
                };
                if options.strict {
                    return Err(fail(reason));
                }
                out.skipped.push(Skipped { id, reason });
                continue;
            }
        }
        for geometry in geometries {
            out.features.push(Feature {
                id,
                tags: tags.clone(),
                geometry,
            });
        }
    }
    Ok(out)
}

enum GeomError {
    Malformed(&'static str),
    Unclosed,
}

fn position(v: &Value) -> Result<(f64, f64), GeomError> {
    let a = v
        .as_array()
        .filter(|a| a.len() >= 2)
        .ok_or(GeomError::Malformed("invalid position"))?;
    match (a[0].as_f64(), a[1].as_f64()) {
        (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Ok((x, y)),
        _ => Err(GeomError::Malformed("invalid position")),
    }
}

fn line(v: &Value) -> Result<Vec<(f64, f64)>, GeomError> {
    v.as_array()
        .ok_or(GeomError::Malformed("invalid line"))?
        .iter()
        .map(position)
        .collect()
}

fn polygon(v: &Value) -> Result<Vec<Ring>, GeomError> {
    let rings: Vec<Ring> = v
        .as_array()
        .ok_or(GeomError::Malformed("invalid polygon"))?
        .iter()
        .map(line)
        .collect::<Result<_, _>>()?;
    if rings.iter().any(|r| r.len() < 4 || r.first() != r.last()) {
        return Err(GeomError::Unclosed);
    }
    Ok(rings)
}

fn geometry(g: &Value, out: &mut Vec<Geometry>) -> Result<(), GeomError> {
    let kind = g
        .get("type")
        .and_then(Value::as_str)
        .ok_or(GeomError::Malformed("geometry without type"))?;
    if kind == "GeometryCollection" {
        let parts = g
            .get("geometries")
            .and_then(Value::as_array)
            .ok_or(GeomError::Malformed(
                "GeometryCollection without geometries",
            ))?;
        for p in parts {
            geometry(p, out)?;
        }
        return Ok(());
    }
    let c = g
        .get("coordinates")
        .ok_or(GeomError::Malformed("geometry without coordinates"))?;
    let list = |v: &Value| {
        v.as_array()
            .cloned()
            .ok_or(GeomError::Malformed("invalid coordinates"))
    };
    out.push(match kind {
        "Point" => Geometry::Point(position(c)?),
        "MultiPoint" => {
            for p in list(c)? {
                out.push(Geometry::Point(position(&p)?));
            }
            return Ok(());
        }
        "LineString" => Geometry::LineString(line(c)?),
        "MultiLineString" => {
            Geometry::MultiLineString(list(c)?.iter().map(line).collect::<Result<_, _>>()?)
        }
        "Polygon" => Geometry::Polygon(polygon(c)?),
        "MultiPolygon" => {
            Geometry::MultiPolygon(list(c)?.iter().map(polygon).collect::<Result<_, _>>()?)
        }
        _ => return Err(GeomError::Malformed("unknown geometry type")),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(doc: &str, strict: bool) -> VectorProblem {
        let o = ReadOptions {
            strict,
            ..ReadOptions::default()
        };
        match parse_geojson(doc.as_bytes(), &o) {
            Err(Error::Vector { problem, .. }) => problem,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn not_a_feature_collection() {
        assert_eq!(
            problem(
                r#"{"type": "Feature", "geometry": null, "properties": {}}"#,
                false
            ),
            VectorProblem::NotFeatureCollection { found: "Feature" }
        );
        assert_eq!(
            problem(r#"{"type": "Polygon", "coordinates": []}"#, false),
            VectorProblem::NotFeatureCollection {
                found: "bare geometry"
            }
        );
        assert!(matches!(
            problem("{not json", false),
            VectorProblem::GeoJson { .. }
        ));
    }

    #[test]
    fn unclosed_ring_strict_and_lenient() {
        let doc = r#"{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": null,
            "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1]]]}}]}"#;
        assert_eq!(
            problem(doc, true),
            VectorProblem::UnclosedRing {
                what: "feature",
                id: 0
            }
        );
        let data = parse_geojson(doc.as_bytes(), &ReadOptions::default()).unwrap();
        assert!(data.features.is_empty() && data.skipped.len() == 1);
    }

    #[test]
    fn crs_names() {
        assert_eq!(
            crate::crs::epsg_in_name("urn:ogc:def:crs:EPSG::32628"),
            Some(32628)
        );
        assert_eq!(crate::crs::epsg_in_name("EPSG:2154"), Some(2154));
        assert_eq!(
            crate::crs::epsg_in_name("urn:ogc:def:crs:OGC:1.3:CRS84"),
            Some(4326)
        );
        assert_eq!(crate::crs::epsg_in_name("local"), None);
    }
}
