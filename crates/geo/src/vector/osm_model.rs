//! Raw OSM elements and their assembly into features: ways into lines or one-ring polygons,
//! multipolygon relations into polygons with holes (member ways joined end to end into rings,
//! holes assigned to the outer ring that contains them).

use std::collections::HashMap;

use super::feature::{Feature, FeatureId, Geometry, Ring, Skipped, Tags, VectorData};
use super::read::ReadOptions;
use crate::error::VectorProblem;

/// A way: node references, and its tags if it is a feature of its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct OsmWay {
    pub(crate) refs: Vec<i64>,
    /// `Some` when the way itself passed the tag filter.
    pub(crate) tags: Option<Tags>,
}

/// Role of a multipolygon member way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Outer,
    Inner,
}

/// A multipolygon relation that passed the tag filter.
#[derive(Debug, Clone, Default)]
pub(crate) struct OsmRelation {
    pub(crate) tags: Tags,
    /// Member ways and their roles (`""` counts as outer).
    pub(crate) ways: Vec<(i64, Role)>,
}

/// Elements collected from a file, before assembly.
#[derive(Debug, Default)]
pub(crate) struct OsmData {
    pub(crate) nodes: HashMap<i64, (f64, f64)>,
    /// Ways in file order.
    pub(crate) ways: Vec<(i64, OsmWay)>,
    /// Relations in file order.
    pub(crate) relations: Vec<(i64, OsmRelation)>,
}

impl ReadOptions {
    /// Whether an element with these tags is kept as a feature.
    pub(crate) fn keeps(&self, tags: &Tags) -> bool {
        !tags.is_empty() && self.keep.as_ref().is_none_or(|f| f(tags))
    }
}

/// Whether relation tags describe a multipolygon.
pub(crate) fn is_multipolygon(tags: &Tags) -> bool {
    tags.get("type").is_some_and(|t| t == "multipolygon")
}

/// Parses a member role.
pub(crate) fn role(s: &str) -> Option<Role> {
    match s {
        "outer" | "" => Some(Role::Outer),
        "inner" => Some(Role::Inner),
        _ => None,
    }
}

impl OsmData {
    /// Builds features; problems are errors in strict mode, [`Skipped`] entries otherwise.
    pub(crate) fn assemble(self, options: &ReadOptions) -> Result<VectorData, VectorProblem> {
        let mut out = VectorData {
            epsg: 4326,
            ..VectorData::default()
        };
        let mut skip = |id: FeatureId, reason: VectorProblem| -> Result<(), VectorProblem> {
            if options.strict {
                return Err(reason);
            }
            out.skipped.push(Skipped { id, reason });
            Ok(())
        };
        let mut features = Vec::new();
        let way_index: HashMap<i64, usize> = self
            .ways
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        for (id, way) in &self.ways {
            let Some(tags) = &way.tags else { continue };
            if way.refs.len() < 2 {
                continue;
            }
            match self.coords(*id, &way.refs) {
                Ok(coords) => {
                    let closed = way.refs.len() >= 4 && way.refs.first() == way.refs.last();
                    let geometry = if closed {
                        Geometry::Polygon(vec![coords])
                    } else {
                        Geometry::LineString(coords)
                    };
                    features.push(Feature {
                        id: FeatureId::Way(*id),
                        tags: tags.clone(),
                        geometry,
                    });
                }
                Err(reason) => skip(FeatureId::Way(*id), reason)?,
            }
        }
        for (id, rel) in &self.relations {
            match self.multipolygon(*id, rel, &way_index) {
                Ok(Some(geometry)) => features.push(Feature {
                    id: FeatureId::Relation(*id),
                    tags: rel.tags.clone(),
                    geometry,
                }),
                Ok(None) => {}
                Err(reason) => skip(FeatureId::Relation(*id), reason)?,
            }
        }
        out.features = features;
        Ok(out)
    }

    fn coords(&self, way: i64, refs: &[i64]) -> Result<Vec<(f64, f64)>, VectorProblem> {
        refs.iter()
            .map(|n| {
                self.nodes
                    .get(n)
                    .copied()
                    .ok_or(VectorProblem::MissingNode { way, node: *n })
            })
            .collect()
    }

    /// Joins member ways into closed rings and groups holes with their outer ring.
    fn multipolygon(
        &self,
        id: i64,
        rel: &OsmRelation,
        way_index: &HashMap<i64, usize>,
    ) -> Result<Option<Geometry>, VectorProblem> {
        let mut outer_ways = Vec::new();
        let mut inner_ways = Vec::new();
        for &(way, role) in &rel.ways {
            let i = *way_index
                .get(&way)
                .ok_or(VectorProblem::MissingWay { relation: id, way })?;
            let refs = &self.ways[i].1.refs;
            if refs.len() < 2 {
                continue;
            }
            match role {
                Role::Outer => outer_ways.push(refs.as_slice()),
                Role::Inner => inner_ways.push(refs.as_slice()),
            }
        }
        let unclosed = || VectorProblem::UnclosedRing {
            what: "relation",
            id,
        };
        let outers = join_rings(&outer_ways).ok_or_else(unclosed)?;
        let inners = join_rings(&inner_ways).ok_or_else(unclosed)?;
        let to_coords = |ring: &[i64]| -> Result<Ring, VectorProblem> {
            ring.iter()
                .map(|n| {
                    self.nodes
                        .get(n)
                        .copied()
                        .ok_or(VectorProblem::MissingNode { way: 0, node: *n })
                })
                .collect::<Result<_, _>>()
                .map_err(|e| match e {
                    VectorProblem::MissingNode { node, .. } => {
                        // name the member way that holds the node
                        let way = rel
                            .ways
                            .iter()
                            .find(|(w, _)| {
                                way_index
                                    .get(w)
                                    .is_some_and(|&i| self.ways[i].1.refs.contains(&node))
                            })
                            .map_or(0, |(w, _)| *w);
                        VectorProblem::MissingNode { way, node }
                    }
                    other => other,
                })
        };
        let mut polygons: Vec<Vec<Ring>> = outers
            .iter()
            .map(|r| to_coords(r).map(|c| vec![c]))
            .collect::<Result<_, _>>()?;
        if polygons.is_empty() {
            return Ok(None);
        }
        for inner in &inners {
            let ring = to_coords(inner)?;
            let probe = ring[0];
            // the smallest outer ring containing the hole (outers may nest: island in a lake)
            let owner = polygons
                .iter()
                .enumerate()
                .filter(|(_, p)| point_in_ring(probe, &p[0]))
                .min_by(|a, b| ring_area(&a.1[0]).total_cmp(&ring_area(&b.1[0])))
                .map(|(i, _)| i);
            if let Some(i) = owner {
                polygons[i].push(ring);
            }
        }
        Ok(Some(if polygons.len() == 1 {
            Geometry::Polygon(polygons.remove(0))
        } else {
            Geometry::MultiPolygon(polygons)
        }))
    }
}

/// Joins node sequences end to end (reversing where needed) into closed rings; `None` if
/// some sequence cannot be closed.
pub(crate) fn join_rings(ways: &[&[i64]]) -> Option<Vec<Vec<i64>>> {
    let mut used = vec![false; ways.len()];
    let mut rings = Vec::new();
    for start in 0..ways.len() {
        if used[start] {
            continue;
        }
        used[start] = true;
        let mut ring: Vec<i64> = ways[start].to_vec();
        while ring.first() != ring.last() {
            let end = *ring.last()?;
            let next = (0..ways.len()).find(|&i| {
                !used[i] && (ways[i].first() == Some(&end) || ways[i].last() == Some(&end))
            })?;
            used[next] = true;
            if ways[next].first() == Some(&end) {
                ring.extend_from_slice(&ways[next][1..]);
            } else {
                ring.extend(ways[next].iter().rev().skip(1));
            }
        }
        if ring.len() < 4 {
            return None;
        }
        rings.push(ring);
    }
    Some(rings)
}

/// Even-odd point-in-ring test.
pub(crate) fn point_in_ring(p: (f64, f64), ring: &[(f64, f64)]) -> bool {
    let mut inside = false;
    let n = ring.len();
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        if (a.1 > p.1) != (b.1 > p.1) && p.0 < a.0 + (p.1 - a.1) * (b.0 - a.0) / (b.1 - a.1) {
            inside = !inside;
        }
    }
    inside
}

/// Absolute area of a ring (shoelace).
pub(crate) fn ring_area(ring: &[(f64, f64)]) -> f64 {
    let mut s = 0.0;
    for w in ring.windows(2) {
        s += w[0].0 * w[1].1 - w[1].0 * w[0].1;
    }
    (s / 2.0).abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_reversed_and_unordered_segments() {
        // square 1-2-3-4-1 split into three ways, one reversed, given out of order
        let a: &[i64] = &[1, 2];
        let b: &[i64] = &[4, 3, 2];
        let c: &[i64] = &[4, 1];
        let rings = join_rings(&[a, c, b]).unwrap();
        assert_eq!(rings, vec![vec![1, 2, 3, 4, 1]]);
        assert_eq!(join_rings(&[a, b]), None, "open chain");
    }

    #[test]
    fn point_in_ring_and_area() {
        let sq = vec![(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0), (0.0, 0.0)];
        assert!(point_in_ring((1.0, 1.0), &sq));
        assert!(!point_in_ring((3.0, 1.0), &sq));
        assert_eq!(ring_area(&sq), 4.0);
    }
}
