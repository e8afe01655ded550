//! Features: a geometry in some CRS and string tags.

use std::collections::BTreeMap;

use crate::error::VectorProblem;

/// Tags (OSM `k=v`, GeoJSON properties as text).
pub type Tags = BTreeMap<String, String>;

/// A closed ring of `(x, y)` vertices, first == last.
pub type Ring = Vec<(f64, f64)>;

/// Where a feature comes from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureId {
    /// An OSM way.
    Way(i64),
    /// An OSM relation (multipolygon).
    Relation(i64),
    /// The n-th (0-based) feature of a GeoJSON FeatureCollection.
    GeoJson(usize),
}

/// Geometry of a feature, in the coordinates of its [`VectorData::epsg`] (longitude/latitude
/// degrees for OSM).
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// A polygon: an outer ring then its holes. A closed OSM way is a one-ring polygon.
    Polygon(Vec<Ring>),
    /// Several polygons.
    MultiPolygon(Vec<Vec<Ring>>),
    /// A polyline (an open OSM way).
    LineString(Vec<(f64, f64)>),
    /// Several polylines.
    MultiLineString(Vec<Vec<(f64, f64)>>),
    /// A point (not rasterized).
    Point((f64, f64)),
}

impl Geometry {
    /// Every vertex, mutable (for reprojection).
    pub fn vertices_mut(&mut self) -> Box<dyn Iterator<Item = &mut (f64, f64)> + '_> {
        match self {
            Geometry::Polygon(rings) => Box::new(rings.iter_mut().flatten()),
            Geometry::MultiPolygon(polys) => Box::new(polys.iter_mut().flatten().flatten()),
            Geometry::LineString(l) => Box::new(l.iter_mut()),
            Geometry::MultiLineString(ls) => Box::new(ls.iter_mut().flatten()),
            Geometry::Point(p) => Box::new(std::iter::once(p)),
        }
    }

    /// Every vertex.
    pub fn vertices(&self) -> Box<dyn Iterator<Item = &(f64, f64)> + '_> {
        match self {
            Geometry::Polygon(rings) => Box::new(rings.iter().flatten()),
            Geometry::MultiPolygon(polys) => Box::new(polys.iter().flatten().flatten()),
            Geometry::LineString(l) => Box::new(l.iter()),
            Geometry::MultiLineString(ls) => Box::new(ls.iter().flatten()),
            Geometry::Point(p) => Box::new(std::iter::once(p)),
        }
    }

    /// Bounding box `(min_x, min_y, max_x, max_y)`; `None` without vertices.
    pub fn bbox(&self) -> Option<(f64, f64, f64, f64)> {
        let mut it = self.vertices();
        let &(x, y) = it.next()?;
        Some(it.fold((x, y, x, y), |b, &(x, y)| {
            (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y))
        }))
    }

    /// The polygons of an areal geometry (`None` for lines and points).
    pub fn polygons(&self) -> Option<Vec<&Vec<Ring>>> {
        match self {
            Geometry::Polygon(p) => Some(vec![p]),
            Geometry::MultiPolygon(ps) => Some(ps.iter().collect()),
            _ => None,
        }
    }

    /// The polylines of the geometry: lines as they are, polygon rings as closed lines.
    pub fn lines(&self) -> Vec<&[(f64, f64)]> {
        match self {
            Geometry::Polygon(rings) => rings.iter().map(Vec::as_slice).collect(),
            Geometry::MultiPolygon(ps) => ps.iter().flatten().map(Vec::as_slice).collect(),
            Geometry::LineString(l) => vec![l.as_slice()],
            Geometry::MultiLineString(ls) => ls.iter().map(Vec::as_slice).collect(),
            Geometry::Point(_) => Vec::new(),
        }
    }
}

/// A geometry with tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// Origin (OSM id or GeoJSON index).
    pub id: FeatureId,
    /// Tags or properties.
    pub tags: Tags,
    /// The geometry.
    pub geometry: Geometry,
}

/// A feature left out of a lenient read, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// Which feature.
    pub id: FeatureId,
    /// Why (the error a strict read would have returned).
    pub reason: VectorProblem,
}

/// An OSM feature kept with some of its nodes left out: its way (or a member way of its
/// multipolygon) references nodes the file does not hold, as every extract cut by a bounding
/// box does at its edge (`osmium extract --strategy simple`, Overpass `bbox` queries). Like
/// GDAL's OSM driver, the nodes present are kept in order and the missing ones dropped; a
/// feature left with fewer than 2 nodes (a way) or 3 (a ring) is skipped instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Trimmed {
    /// Which feature.
    pub id: FeatureId,
    /// Node references left out because the file lacks those nodes.
    pub missing_nodes: usize,
}

/// The features of one vector file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VectorData {
    /// The features, in file order.
    pub features: Vec<Feature>,
    /// EPSG code of the coordinates (4326 for OSM and standard GeoJSON).
    pub epsg: u32,
    /// Features left out by a lenient read (missing member ways, too few nodes left,
    /// unclosed rings).
    pub skipped: Vec<Skipped>,
    /// OSM features kept without the nodes the file lacks (lenient reads only; a strict
    /// read fails on the first missing node instead).
    pub trimmed: Vec<Trimmed>,
}
