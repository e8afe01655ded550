//! Writing the synthetic world's features as an OpenStreetMap XML extract (API 0.6 format):
//! nodes first, then ways, then relations, each by ascending id; nodes shared by ways when
//! their coordinates coincide (street intersections).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::synth::landscape::{OsmFeature, Tag};
use crate::synth::raster::Pt;

/// Counts of what was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OsmCounts {
    pub(crate) nodes: usize,
    pub(crate) ways: usize,
    pub(crate) relations: usize,
}

/// Coordinates in 1e-7 degrees (OSM's own precision).
type Key = (i64, i64);

struct Doc {
    nodes: BTreeMap<Key, u64>,
    node_list: Vec<Key>,
    ways: String,
    relations: String,
    next_way: u64,
    next_rel: u64,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

impl Doc {
    fn node(&mut self, key: Key) -> u64 {
        if let Some(&id) = self.nodes.get(&key) {
            return id;
        }
        let id = self.node_list.len() as u64 + 1;
        self.nodes.insert(key, id);
        self.node_list.push(key);
        id
    }

    /// Node ids of a point list, without consecutive repeats.
    fn refs(&mut self, pts: &[Pt], project: &dyn Fn(Pt) -> Key) -> Vec<u64> {
        let mut ids: Vec<u64> = pts.iter().map(|&p| self.node(project(p))).collect();
        ids.dedup();
        ids
    }

    fn way(&mut self, mut refs: Vec<u64>, closed: bool, tags: &[Tag]) -> Option<u64> {
        if closed {
            while refs.len() > 1 && refs.first() == refs.last() {
                refs.pop();
            }
            if refs.len() < 3 {
                return None;
            }
            refs.push(refs[0]);
        } else if refs.len() < 2 {
            return None;
        }
        let id = self.next_way;
        self.next_way += 1;
        let _ = writeln!(self.ways, r#"  <way id="{id}" version="1">"#);
        for r in refs {
            let _ = writeln!(self.ways, r#"    <nd ref="{r}"/>"#);
        }
        for (k, v) in tags {
            let _ = writeln!(
                self.ways,
                r#"    <tag k="{}" v="{}"/>"#,
                escape(k),
                escape(v)
            );
        }
        self.ways.push_str("  </way>\n");
        Some(id)
    }
}

/// Serializes `features` as OSM XML. `project` maps a pixel-coordinate point to
/// `(longitude, latitude)` in degrees; `bounds` is `(min_lon, min_lat, max_lon, max_lat)`.
pub(crate) fn to_osm_xml(
    features: &[OsmFeature],
    project: &dyn Fn(Pt) -> (f64, f64),
    bounds: (f64, f64, f64, f64),
) -> (String, OsmCounts) {
    let key = |p: Pt| -> Key {
        let (lon, lat) = project(p);
        ((lat * 1e7).round() as i64, (lon * 1e7).round() as i64)
    };
    let mut doc = Doc {
        nodes: BTreeMap::new(),
        node_list: Vec::new(),
        ways: String::new(),
        relations: String::new(),
        next_way: 1,
        next_rel: 1,
    };
    let mut relations = 0;
    for f in features {
        match f {
            OsmFeature::Area { ring, tags } => {
                let refs = doc.refs(ring, &key);
                doc.way(refs, true, tags);
            }
            OsmFeature::Line { points, tags } => {
                let refs = doc.refs(points, &key);
                doc.way(refs, false, tags);
            }
            OsmFeature::Multipolygon { outer, inner, tags } => {
                let mut members = Vec::new();
                for (role, rings) in [("outer", outer), ("inner", inner)] {
                    for ring in rings {
                        let refs = doc.refs(ring, &key);
                        if let Some(id) = doc.way(refs, true, &[]) {
                            members.push((role, id));
                        }
                    }
                }
                if members.iter().any(|(r, _)| *r == "outer") {
                    let id = doc.next_rel;
                    doc.next_rel += 1;
                    relations += 1;
                    let _ = writeln!(doc.relations, r#"  <relation id="{id}" version="1">"#);
                    for (role, way) in members {
                        let _ = writeln!(
                            doc.relations,
                            r#"    <member type="way" ref="{way}" role="{role}"/>"#
                        );
                    }
                    for (k, v) in tags {
                        let _ = writeln!(
                            doc.relations,
                            r#"    <tag k="{}" v="{}"/>"#,
                            escape(k),
                            escape(v)
                        );
                    }
                    doc.relations.push_str("  </relation>\n");
                }
            }
        }
    }
    let mut out = String::with_capacity(doc.node_list.len() * 80 + doc.ways.len() + 256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<osm version=\"0.6\" generator=\"chronomap synth\">\n");
    let _ = writeln!(
        out,
        r#"  <bounds minlat="{:.7}" minlon="{:.7}" maxlat="{:.7}" maxlon="{:.7}"/>"#,
        bounds.1, bounds.0, bounds.3, bounds.2
    );
    for (i, &(lat, lon)) in doc.node_list.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"  <node id="{}" version="1" lat="{}" lon="{}"/>"#,
            i + 1,
            fmt_e7(lat),
            fmt_e7(lon)
        );
    }
    out.push_str(&doc.ways);
    out.push_str(&doc.relations);
    out.push_str("</osm>\n");
    let counts = OsmCounts {
        nodes: doc.node_list.len(),
        ways: (doc.next_way - 1) as usize,
        relations,
    };
    (out, counts)
}

/// Formats a coordinate in 1e-7 degrees as a decimal string (exact, no float printing).
fn fmt_e7(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:07}", a / 10_000_000, a % 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_nodes_and_closed_ways() {
        let square = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        let feats = vec![
            OsmFeature::Area {
                ring: square.clone(),
                tags: vec![("building", "yes")],
            },
            OsmFeature::Line {
                points: vec![[1.0, 1.0], [2.0, 2.0]],
                tags: vec![("highway", "residential")],
            },
            OsmFeature::Multipolygon {
                outer: vec![vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0]]],
                inner: vec![],
                tags: vec![("type", "multipolygon"), ("natural", "water")],
            },
        ];
        let (xml, n) = to_osm_xml(
            &feats,
            &|p| (p[0] * 1e-3 - 16.5, 16.0 - p[1] * 1e-3),
            (0.0, 0.0, 1.0, 1.0),
        );
        // 4 square corners + (2,2) + (4,0) + (4,4); (0,0) and (1,1) are shared.
        assert_eq!(
            n,
            OsmCounts {
                nodes: 7,
                ways: 3,
                relations: 1
            }
        );
        assert!(
            xml.contains(r#"<node id="1" version="1" lat="16.0000000" lon="-16.5000000"/>"#),
            "{xml}"
        );
        // The building way is closed: 5 refs, the first repeated.
        let way1 = &xml[xml.find(r#"<way id="1""#).unwrap()..xml.find("</way>").unwrap()];
        assert_eq!(way1.matches("<nd ref=").count(), 5);
        assert!(way1.trim_end().ends_with(r#"<tag k="building" v="yes"/>"#));
        assert_eq!(fmt_e7(-165_000_001), "-16.5000001");
    }
}
