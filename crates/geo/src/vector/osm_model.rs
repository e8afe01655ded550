//! Raw OSM elements and their assembly into features: ways into lines or one-ring polygons,
//! multipolygon relations into polygons with holes (member ways joined end to end into rings,
//! holes assigned to the outer ring that contains them).

use std::collections::HashMap;

use super::feature::{Feature, FeatureId, Geometry, Ring, Skipped, Tags, Trimmed, VectorData};
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
        let mut kept: Vec<(Feature, usize)> = Vec::new();
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
            let closed = way.refs.len() >= 4 && way.refs.first() == way.refs.last();
            let (coords, missing) = match self.coords(*id, &way.refs, options.strict) {
                Ok(c) => c,
                Err(reason) => {
                    skip(FeatureId::Way(*id), reason)?;
                    continue;
                }
            };
            let geometry = if closed {
                match close_ring(coords) {
                    Some(ring) => Geometry::Polygon(vec![ring]),
                    None => {
                        skip(FeatureId::Way(*id), too_few(*id, &way.refs, &self.nodes))?;
                        continue;
                    }
                }
            } else if coords.len() >= 2 {
                Geometry::LineString(coords)
            } else {
                skip(FeatureId::Way(*id), too_few(*id, &way.refs, &self.nodes))?;
                continue;
            };
            kept.push((
                Feature {
                    id: FeatureId::Way(*id),
                    tags: tags.clone(),
                    geometry,
                },
                missing,
            ));
        }
        for (id, rel) in &self.relations {
            match self.multipolygon(*id, rel, &way_index, options.strict) {
                Ok(Some((geometry, missing))) => kept.push((
                    Feature {
                        id: FeatureId::Relation(*id),
                        tags: rel.tags.clone(),
                        geometry,
                    },
                    missing,
                )),
                Ok(None) => {}
                Err(reason) => skip(FeatureId::Relation(*id), reason)?,
            }
        }
        // features with the number of node references their file lacks
        for (f, missing) in kept {
            if missing > 0 {
                out.trimmed.push(Trimmed {
                    id: f.id,
                    missing_nodes: missing,
                });
            }
            features.push(f);
        }
        out.features = features;
        Ok(out)
    }

    /// The coordinates of `refs` and how many of them the file lacks (left out); in strict
    /// mode the first missing node is an error.
    fn coords(
        &self,
        way: i64,
        refs: &[i64],
        strict: bool,
    ) -> Result<(Vec<(f64, f64)>, usize), VectorProblem> {
        let mut out = Vec::with_capacity(refs.len());
        let mut missing = 0;
        for n in refs {
            match self.nodes.get(n) {
                Some(&c) => out.push(c),
                None if strict => return Err(VectorProblem::MissingNode { way, node: *n }),
                None => missing += 1,
            }
        }
        Ok((out, missing))
    }

    /// Joins member ways into closed rings and groups holes with their outer ring.
    fn multipolygon(
        &self,
        id: i64,
        rel: &OsmRelation,
        way_index: &HashMap<i64, usize>,
        strict: bool,
    ) -> Result<Option<(Geometry, usize)>, VectorProblem> {
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
        // the member way holding `node`, for messages
        let way_of = |node: i64| {
            rel.ways
                .iter()
                .find(|(w, _)| {
                    way_index
                        .get(w)
                        .is_some_and(|&i| self.ways[i].1.refs.contains(&node))
                })
                .map_or(0, |(w, _)| *w)
        };
        let mut missing = 0;
        let mut to_coords = |ring: &[i64]| -> Result<Ring, VectorProblem> {
            let (coords, m) = self.coords(0, ring, strict).map_err(|e| match e {
                VectorProblem::MissingNode { node, .. } => VectorProblem::MissingNode {
                    way: way_of(node),
                    node,
                },
                other => other,
            })?;
            missing += m;
            close_ring(coords).ok_or_else(|| {
                let node = ring
                    .iter()
                    .find(|n| !self.nodes.contains_key(n))
                    .copied()
                    .unwrap_or(0);
                VectorProblem::MissingNode {
                    way: way_of(node),
                    node,
                }
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
        let geometry = if polygons.len() == 1 {
            Geometry::Polygon(polygons.remove(0))
        } else {
            Geometry::MultiPolygon(polygons)
        };
        Ok(Some((geometry, missing)))
    }
}

/// A ring from the coordinates left of a closed way: closed again if its first node was the
/// one left out; `None` with fewer than 3 distinct points.
fn close_ring(mut coords: Vec<(f64, f64)>) -> Option<Ring> {
    if coords.len() >= 2 && coords.first() != coords.last() {
        let first = coords[0];
        coords.push(first);
    }
    (coords.len() >= 4).then_some(coords)
}

/// The error for a way left with too few nodes: the first node the file lacks.
fn too_few(way: i64, refs: &[i64], nodes: &HashMap<i64, (f64, f64)>) -> VectorProblem {
    let node = refs
        .iter()
        .find(|n| !nodes.contains_key(n))
        .copied()
        .unwrap_or(0);
    VectorProblem::MissingNode { way, node }
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
