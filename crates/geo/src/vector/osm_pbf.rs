//! OSM PBF (`.osm.pbf`, Geofabrik extracts) with `osmpbf`, in three passes so that only the
//! elements the tag filter needs are held in memory: multipolygon relations, then ways (the
//! kept ones and the relations' members), then the coordinates of their nodes (plain or dense,
//! in any order).

use std::collections::{HashMap, HashSet};
use std::io::BufReader;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use osmpbf::{Element, ElementReader, RelMemberType};

use super::feature::{Tags, VectorData};
use super::osm_model::{OsmData, OsmRelation, OsmWay, is_multipolygon, role};
use super::read::ReadOptions;
use crate::error::{Error, Result, VectorProblem};

/// Reads an OSM PBF file.
///
/// Features come out ordered by way id, then by relation id.
///
/// # Errors
/// [`Error::Io`]; [`Error::Vector`] for a malformed PBF and, with `options.strict`, missing
/// nodes/ways and unclosed multipolygon rings.
pub fn read_osm_pbf(path: impl AsRef<Path>, options: &ReadOptions) -> Result<VectorData> {
    let path = path.as_ref();
    let fail = |detail: String| Error::Vector {
        path: path.to_path_buf(),
        problem: VectorProblem::Pbf { detail },
    };
    let open = || -> Result<ElementReader<BufReader<std::fs::File>>> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(ElementReader::new(BufReader::new(file)))
    };
    // osmpbf panics on some malformed inputs (unknown enum values); report them as errors
    let guarded = |f: &dyn Fn() -> Result<OsmData>| -> Result<OsmData> {
        catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "decoder panicked".into());
            Err(fail(msg))
        })
    };
    let data = guarded(&|| {
        // pass 1: multipolygon relations that pass the filter
        let mut relations: Vec<(i64, OsmRelation)> = open()?
            .par_map_reduce(
                |e| match e {
                    Element::Relation(r) => {
                        let tags: Tags = r
                            .tags()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect();
                        if !is_multipolygon(&tags) || !options.keeps(&tags) {
                            return Vec::new();
                        }
                        let ways = r
                            .members()
                            .filter(|m| m.member_type == RelMemberType::Way)
                            .filter_map(|m| {
                                role(m.role().unwrap_or("")).map(|ro| (m.member_id, ro))
                            })
                            .collect();
                        vec![(r.id(), OsmRelation { tags, ways })]
                    }
                    _ => Vec::new(),
                },
                Vec::new,
                concat,
            )
            .map_err(|e| fail(e.to_string()))?;
        relations.sort_by_key(|r| r.0);
        let members: HashSet<i64> = relations
            .iter()
            .flat_map(|(_, r)| r.ways.iter().map(|w| w.0))
            .collect();
        // pass 2: kept ways and member ways
        let mut ways: Vec<(i64, OsmWay)> = open()?
            .par_map_reduce(
                |e| match e {
                    Element::Way(w) => {
                        let tags: Tags = w
                            .tags()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect();
                        let keep = options.keeps(&tags);
                        if !keep && !members.contains(&w.id()) {
                            return Vec::new();
                        }
                        let refs = w.refs().collect();
                        vec![(
                            w.id(),
                            OsmWay {
                                refs,
                                tags: keep.then_some(tags),
                            },
                        )]
                    }
                    _ => Vec::new(),
                },
                Vec::new,
                concat,
            )
            .map_err(|e| fail(e.to_string()))?;
        ways.sort_by_key(|w| w.0);
        let needed: HashSet<i64> = ways
            .iter()
            .flat_map(|(_, w)| w.refs.iter().copied())
            .collect();
        // pass 3: coordinates of the needed nodes
        let nodes: HashMap<i64, (f64, f64)> = open()?
            .par_map_reduce(
                |e| match e {
                    Element::Node(n) if needed.contains(&n.id()) => {
                        vec![(n.id(), (n.lon(), n.lat()))]
                    }
                    Element::DenseNode(n) if needed.contains(&n.id()) => {
                        vec![(n.id(), (n.lon(), n.lat()))]
                    }
                    _ => Vec::new(),
                },
                Vec::new,
                concat,
            )
            .map_err(|e| fail(e.to_string()))?
            .into_iter()
            .collect();
        Ok(OsmData {
            nodes,
            ways,
            relations,
        })
    })?;
    data.assemble(options).map_err(|problem| Error::Vector {
        path: path.to_path_buf(),
        problem,
    })
}

fn concat<T>(mut a: Vec<T>, b: Vec<T>) -> Vec<T> {
    a.extend(b);
    a
}
