//! OSM XML (`.osm`, as written by JOSM, Overpass, osmium) with `quick-xml`.

use std::io::BufRead;
use std::path::Path;

use quick_xml::events::{BytesStart, Event};

use super::feature::{Tags, VectorData};
use super::osm_model::{OsmData, OsmRelation, OsmWay, is_multipolygon, role};
use super::read::ReadOptions;
use crate::error::{Error, Result, VectorProblem};

/// Reads an OSM XML file.
///
/// Nodes may appear in any order and after the ways that use them. Elements marked
/// `action="delete"` or `visible="false"` (JOSM files, history) are ignored.
///
/// # Errors
/// [`Error::Io`]; [`Error::Vector`] for malformed XML, invalid UTF-8, missing or invalid
/// `id`/`lat`/`lon`/`ref` attributes, and (with `options.strict`) ways referencing missing
/// nodes, relations referencing missing ways and multipolygons whose rings do not close.
pub fn read_osm_xml(path: impl AsRef<Path>, options: &ReadOptions) -> Result<VectorData> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    parse(std::io::BufReader::new(file), path, options)
}

/// Parses OSM XML held in memory (errors name the file `<memory>`).
///
/// # Errors
/// As [`read_osm_xml`].
///
/// # Examples
/// ```
/// use chronomap_geo::vector::{parse_osm_xml, Geometry, ReadOptions};
/// let xml = br#"<osm version="0.6">
///   <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/><tag k="building" v="yes"/></way>
///   <node id="1" lat="16.0" lon="-16.5"/><node id="2" lat="16.0" lon="-16.4"/>
///   <node id="3" lat="16.1" lon="-16.4"/>
/// </osm>"#;
/// let data = parse_osm_xml(xml, &ReadOptions::default())?;
/// assert_eq!(data.features.len(), 1);
/// assert!(matches!(data.features[0].geometry, Geometry::Polygon(_)));
/// # Ok::<(), chronomap_geo::Error>(())
/// ```
pub fn parse_osm_xml(bytes: &[u8], options: &ReadOptions) -> Result<VectorData> {
    parse(bytes, Path::new("<memory>"), options)
}

enum Current {
    None,
    /// Inside a deleted/invisible element: its children are ignored.
    Skip,
    Node,
    Way(i64, OsmWay, Tags),
    Relation(i64, OsmRelation),
}

fn parse<R: BufRead>(input: R, path: &Path, options: &ReadOptions) -> Result<VectorData> {
    let fail = |problem| Error::Vector {
        path: path.to_path_buf(),
        problem,
    };
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut data = OsmData::default();
    let mut current = Current::None;
    let mut depth = 0usize;
    let mut saw_root = false;
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            fail(VectorProblem::Xml {
                position: reader.error_position(),
                detail: e.to_string(),
            })
        })?;
        if let Event::Start(e) | Event::Empty(e) = &event
            && !saw_root
        {
            saw_root = true;
            if e.local_name().as_ref() != "osm" && e.local_name().as_ref() != "osmChange" {
                return Err(fail(VectorProblem::Xml {
                    position,
                    detail: format!("root element is <{}>, not <osm>", e.local_name().as_ref()),
                }));
            }
        }
        match event {
            Event::Start(e) => {
                depth += 1;
                start(&e, &mut current, &mut data, position).map_err(fail)?;
            }
            Event::Empty(e) => {
                start(&e, &mut current, &mut data, position).map_err(fail)?;
                end(e.local_name().as_ref(), &mut current, &mut data, options);
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                end(e.local_name().as_ref(), &mut current, &mut data, options);
            }
            Event::Eof if depth > 0 || !saw_root => {
                return Err(fail(VectorProblem::Xml {
                    position,
                    detail: if saw_root {
                        "unexpected end of file inside an element".into()
                    } else {
                        "no <osm> element".into()
                    },
                }));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    data.assemble(options).map_err(fail)
}

/// Value of attribute `key`, unescaped; `Ok(None)` if absent.
fn attr(e: &BytesStart<'_>, key: &str, position: u64) -> Result<Option<String>, VectorProblem> {
    let xml = |detail: String| VectorProblem::Xml { position, detail };
    match e
        .try_get_attribute(key)
        .map_err(|err| xml(err.to_string()))?
    {
        None => Ok(None),
        Some(a) => a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map(|v| Some(v.into_owned()))
            .map_err(|err| xml(err.to_string())),
    }
}

/// A required numeric attribute.
fn num<T: std::str::FromStr>(
    e: &BytesStart<'_>,
    element: &'static str,
    key: &'static str,
    position: u64,
) -> Result<T, VectorProblem> {
    attr(e, key, position)?
        .and_then(|v| v.trim().parse().ok())
        .ok_or(VectorProblem::BadAttribute {
            element,
            attribute: key,
            position,
        })
}

fn deleted(e: &BytesStart<'_>, position: u64) -> Result<bool, VectorProblem> {
    Ok(attr(e, "action", position)?.as_deref() == Some("delete")
        || attr(e, "visible", position)?.as_deref() == Some("false"))
}

fn start(
    e: &BytesStart<'_>,
    current: &mut Current,
    data: &mut OsmData,
    position: u64,
) -> Result<(), VectorProblem> {
    match e.local_name().as_ref() {
        "node" => {
            let id: i64 = num(e, "node", "id", position)?;
            if deleted(e, position)? {
                *current = Current::Skip;
                return Ok(());
            }
            let lat: f64 = num(e, "node", "lat", position)?;
            let lon: f64 = num(e, "node", "lon", position)?;
            if !(lat.is_finite() && lon.is_finite()) {
                return Err(VectorProblem::BadAttribute {
                    element: "node",
                    attribute: "lat",
                    position,
                });
            }
            data.nodes.insert(id, (lon, lat));
            *current = Current::Node;
        }
        "way" => {
            let id: i64 = num(e, "way", "id", position)?;
            *current = if deleted(e, position)? {
                Current::Skip
            } else {
                Current::Way(id, OsmWay::default(), Tags::new())
            };
        }
        "relation" => {
            let id: i64 = num(e, "relation", "id", position)?;
            *current = if deleted(e, position)? {
                Current::Skip
            } else {
                Current::Relation(id, OsmRelation::default())
            };
        }
        "nd" => {
            if let Current::Way(_, way, _) = current {
                way.refs.push(num(e, "nd", "ref", position)?);
            }
        }
        "tag" => {
            let tags = match current {
                Current::Way(_, _, tags) => tags,
                Current::Relation(_, rel) => &mut rel.tags,
                _ => return Ok(()),
            };
            let k = attr(e, "k", position)?.ok_or(VectorProblem::BadAttribute {
                element: "tag",
                attribute: "k",
                position,
            })?;
            let v = attr(e, "v", position)?.unwrap_or_default();
            tags.insert(k, v);
        }
        "member" => {
            if let Current::Relation(_, rel) = current {
                let kind = attr(e, "type", position)?.unwrap_or_default();
                let id: i64 = num(e, "member", "ref", position)?;
                let r = attr(e, "role", position)?.unwrap_or_default();
                if kind == "way"
                    && let Some(r) = role(&r)
                {
                    rel.ways.push((id, r));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn end(name: &str, current: &mut Current, data: &mut OsmData, options: &ReadOptions) {
    match name {
        "node" | "way" | "relation" => {}
        _ => return,
    }
    match std::mem::replace(current, Current::None) {
        Current::Way(id, mut way, tags) => {
            if options.keeps(&tags) {
                way.tags = Some(tags);
            }
            data.ways.push((id, way));
        }
        Current::Relation(id, rel) if is_multipolygon(&rel.tags) && options.keeps(&rel.tags) => {
            data.relations.push((id, rel));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::Geometry;
    use crate::vector::{FeatureId, Trimmed};

    fn problem(xml: &[u8], strict: bool) -> VectorProblem {
        let options = ReadOptions {
            strict,
            ..ReadOptions::default()
        };
        match parse_osm_xml(xml, &options) {
            Err(Error::Vector { problem, .. }) => problem,
            other => panic!("expected a vector error, got {other:?}"),
        }
    }

    #[test]
    fn bad_input_is_typed() {
        assert!(matches!(
            problem(b"<osm><node id='1' lat='x' lon='2'/></osm>", false),
            VectorProblem::BadAttribute {
                element: "node",
                attribute: "lat",
                ..
            }
        ));
        assert!(matches!(
            problem(b"<osm><way id='1'><nd/></way></osm>", false),
            VectorProblem::BadAttribute {
                element: "nd",
                attribute: "ref",
                ..
            }
        ));
        assert!(matches!(
            problem(b"<osm><node id='1' lat='1' lon='2'></osm>", false),
            VectorProblem::Xml { .. }
        ));
        let missing = b"<osm><node id='1' lat='0' lon='0'/><node id='2' lat='0' lon='1'/>
            <way id='7'><nd ref='1'/><nd ref='2'/><nd ref='3'/><tag k='highway' v='primary'/></way></osm>";
        assert_eq!(
            problem(missing, true),
            VectorProblem::MissingNode { way: 7, node: 3 }
        );
        // lenient (the default): kept with the 2 nodes present, as GDAL's OSM driver does
        let data = parse_osm_xml(missing, &ReadOptions::default()).unwrap();
        assert_eq!(
            data.features[0].geometry,
            Geometry::LineString(vec![(0.0, 0.0), (1.0, 0.0)])
        );
        assert!(data.skipped.is_empty());
        assert_eq!(
            data.trimmed,
            vec![Trimmed {
                id: FeatureId::Way(7),
                missing_nodes: 1
            }]
        );
        // one node left: nothing to draw, skipped
        let one = b"<osm><node id='1' lat='0' lon='0'/>
            <way id='8'><nd ref='1'/><nd ref='3'/><tag k='highway' v='primary'/></way></osm>";
        let data = parse_osm_xml(one, &ReadOptions::default()).unwrap();
        assert!(data.features.is_empty() && data.skipped.len() == 1);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let mut bad = b"<osm><way id='1'><tag k='name' v='".to_vec();
        bad.extend_from_slice(&[0xff, 0xfe]);
        bad.extend_from_slice(b"'/></way></osm>");
        assert!(matches!(problem(&bad, false), VectorProblem::Xml { .. }));
    }

    #[test]
    fn multipolygon_with_hole_from_unordered_members() {
        // outer square 0..10 split into two ways (one reversed), inner square 4..6
        let xml = br#"<osm>
          <node id="1" lat="0" lon="0"/><node id="2" lat="0" lon="10"/>
          <node id="3" lat="10" lon="10"/><node id="4" lat="10" lon="0"/>
          <node id="5" lat="4" lon="4"/><node id="6" lat="4" lon="6"/>
          <node id="7" lat="6" lon="6"/><node id="8" lat="6" lon="4"/>
          <way id="100"><nd ref="1"/><nd ref="2"/><nd ref="3"/></way>
          <way id="101"><nd ref="1"/><nd ref="4"/><nd ref="3"/></way>
          <way id="102"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="8"/><nd ref="5"/></way>
          <relation id="9"><member type="way" ref="102" role="inner"/>
            <member type="way" ref="100" role="outer"/><member type="way" ref="101" role="outer"/>
            <tag k="type" v="multipolygon"/><tag k="landuse" v="forest"/></relation>
        </osm>"#;
        let data = parse_osm_xml(xml, &ReadOptions::default()).unwrap();
        assert_eq!(data.features.len(), 1);
        match &data.features[0].geometry {
            Geometry::Polygon(rings) => {
                assert_eq!(rings.len(), 2);
                assert_eq!(rings[0].len(), 5);
                assert_eq!(rings[1][0], (4.0, 4.0));
            }
            g => panic!("{g:?}"),
        }
    }
}
