//! The procedural landscape of the synthetic Saint-Louis world: ocean, sand spit, river with
//! an island town, mainland town on a street grid, roads and bridges, fields, scrub and
//! mangrove. One [`Landscape`] per year: the layout comes from the seed alone, and the year
//! only moves a growth parameter `gamma` in `[0, 1]` (0 = first year, 1 = last year), so the
//! same seed gives the same town in every year except where it grew or eroded.
//!
//! Every random choice is a hash of the seed and the object's indices (never a draw from a
//! sequential generator whose order could depend on `gamma`), so years stay consistent.

use crate::rng::{hash4, unit_f64};
use crate::synth::math::{CoarseField, bump, cos, noise1, noise2, radians, sin};
use crate::synth::raster::{Pt, distance_to_line, fill_polygon, stroke_line};

/// Land-cover classes of the ground truth (same ids as chronomap-geo's default class table).
pub(crate) mod class {
    pub(crate) const BACKGROUND: u8 = 0;
    pub(crate) const BUILDING: u8 = 1;
    pub(crate) const ROAD: u8 = 2;
    pub(crate) const WATER: u8 = 3;
    pub(crate) const VEGETATION: u8 = 4;
}

/// Surface materials; each has a spectrum in the radiometric model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Material {
    Ocean = 0,
    River,
    SandDry,
    SandWet,
    Soil,
    RoofMetal,
    RoofConcrete,
    RoofTile,
    Asphalt,
    Street,
    Bridge,
    Crop,
    Rice,
    Mangrove,
    Scrub,
    Trees,
}

/// Number of materials.
pub(crate) const MATERIALS: usize = 16;

impl Material {
    pub(crate) const ALL: [Material; MATERIALS] = [
        Material::Ocean,
        Material::River,
        Material::SandDry,
        Material::SandWet,
        Material::Soil,
        Material::RoofMetal,
        Material::RoofConcrete,
        Material::RoofTile,
        Material::Asphalt,
        Material::Street,
        Material::Bridge,
        Material::Crop,
        Material::Rice,
        Material::Mangrove,
        Material::Scrub,
        Material::Trees,
    ];

    /// The ground-truth class of the material.
    pub(crate) fn class(self) -> u8 {
        use Material::*;
        match self {
            Ocean | River => class::WATER,
            SandDry | SandWet | Soil => class::BACKGROUND,
            RoofMetal | RoofConcrete | RoofTile => class::BUILDING,
            Asphalt | Street | Bridge => class::ROAD,
            Crop | Rice | Mangrove | Scrub | Trees => class::VEGETATION,
        }
    }

    /// Snake-case name (used in the documentation and statistics).
    pub(crate) fn name(self) -> &'static str {
        use Material::*;
        match self {
            Ocean => "ocean",
            River => "river",
            SandDry => "sand_dry",
            SandWet => "sand_wet",
            Soil => "soil",
            RoofMetal => "roof_metal",
            RoofConcrete => "roof_concrete",
            RoofTile => "roof_tile",
            Asphalt => "asphalt",
            Street => "street",
            Bridge => "bridge",
            Crop => "crop",
            Rice => "rice",
            Mangrove => "mangrove",
            Scrub => "scrub",
            Trees => "trees",
        }
    }
}

/// Per-object parameters used by the radiometric model.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Object {
    pub(crate) material: Material,
    /// Multiplicative brightness of the object (roofs vary, fields vary).
    pub(crate) brightness: f32,
    /// Shift of the vegetation calendar in days (sowing date of a field).
    pub(crate) phase_days: f32,
}

/// An OSM tag.
pub(crate) type Tag = (&'static str, &'static str);

/// A feature written to OSM.
#[derive(Clone, Debug)]
pub(crate) enum OsmFeature {
    /// A closed way (first point not repeated).
    Area { ring: Vec<Pt>, tags: Vec<Tag> },
    /// A multipolygon relation.
    Multipolygon {
        outer: Vec<Vec<Pt>>,
        inner: Vec<Vec<Pt>>,
        tags: Vec<Tag>,
    },
    /// An open way.
    Line { points: Vec<Pt>, tags: Vec<Tag> },
}

/// One year of the world.
pub(crate) struct Landscape {
    pub(crate) width: usize,
    pub(crate) height: usize,
    /// Object id per pixel (index into `objects`), `[height, width]`.
    pub(crate) object: Vec<u32>,
    /// Ground-truth class per pixel, `[height, width]`.
    pub(crate) truth: Vec<u8>,
    /// Objects; ids `0..MATERIALS` are the plain materials (brightness 1, no phase shift).
    pub(crate) objects: Vec<Object>,
    /// What the OSM extract of this year contains.
    pub(crate) osm: Vec<OsmFeature>,
    /// Buildings on the ground / in OSM.
    pub(crate) buildings_total: usize,
    /// Buildings mapped in OSM.
    pub(crate) buildings_mapped: usize,
}

/// The seed-dependent layout, shared by all years.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    seed: u64,
    s: f64,
    coast0: f64,
    spit_w: f64,
    tip_y: f64,
    river_w: f64,
    erosion: f64,
    erosion_y: f64,
    breach_y: f64,
    island_cy: f64,
    island_cx: f64,
    island_a: f64,
    island_b: f64,
    town_cx: f64,
    town_cy: f64,
    town_rx: f64,
    town_ry: f64,
    town_theta: f64,
    town_growth: f64,
    block_u: f64,
    block_v: f64,
    road_x0: f64,
}

/// Vertical sampling step of the long curves (coast, banks), pixels.
const CURVE_STEP: f64 = 2.0;

impl Layout {
    pub(crate) fn new(seed: u64, size: usize) -> Self {
        let s = size as f64;
        let r = |k: u64| unit_f64(hash4(seed, 0x1A70, k, 0));
        let coast0 = (0.10 + 0.05 * r(1)) * s;
        let spit_w = ((0.028 + 0.012 * r(2)) * s).max(4.0);
        let tip_y = (0.80 + 0.08 * r(3)) * s;
        let river_w = ((0.14 + 0.04 * r(4)) * s).max(10.0);
        let island_cy = (0.36 + 0.08 * r(5)) * s;
        let island_b = (0.13 + 0.03 * r(6)) * s;
        let mut l = Layout {
            seed,
            s,
            coast0,
            spit_w,
            tip_y,
            river_w,
            erosion: ((0.008 + 0.006 * r(7)) * s).max(1.5),
            erosion_y: island_cy + (0.02 + 0.06 * r(8)) * s,
            breach_y: tip_y - (0.12 + 0.06 * r(9)) * s,
            island_cy,
            island_cx: 0.0,
            island_a: ((0.022 + 0.008 * r(10)) * s).max(3.0),
            island_b,
            town_cx: 0.0,
            town_cy: island_cy + (r(11) - 0.5) * 0.06 * s,
            town_rx: (0.13 + 0.04 * r(12)) * s,
            town_ry: (0.22 + 0.06 * r(13)) * s,
            town_theta: radians(-10.0 + 20.0 * r(14)),
            town_growth: 0.25 + 0.10 * r(15),
            block_u: 9.0 + 3.0 * r(16),
            block_v: 7.0 + 3.0 * r(17),
            road_x0: 0.0,
        };
        // Island in the middle of the river, narrow enough to leave water on both sides.
        l.island_cx = l.spit_east(island_cy) + (0.42 + 0.1 * r(18)) * l.river_width(island_cy);
        let mut y = island_cy - island_b;
        while y <= island_cy + island_b {
            let room_w = l.island_cx - l.spit_east(y) - 0.25 * l.river_width(y);
            let room_e = l.bank_east(y) - l.island_cx - 0.25 * l.river_width(y);
            l.island_a = l.island_a.min(room_w).min(room_e).max(2.0);
            y += CURVE_STEP;
        }
        // Mainland town centre: east of the bank, so that its west part hugs the river.
        l.town_cx = l.bank_east(l.town_cy) + 0.75 * l.town_rx;
        l.road_x0 = l.town_cx + l.town_rx * (1.0 + l.town_growth) + 0.02 * s;
        l
    }

    fn n1(&self, key: u64, y: f64, period: f64, oct: u32) -> f64 {
        noise1(self.seed ^ key, y, period * self.s, oct)
    }

    /// Ocean shore of the spit before erosion.
    fn coast_base(&self, y: f64) -> f64 {
        self.coast0 + 0.012 * self.s * self.n1(0xC0A5, y, 0.5, 3)
    }

    /// Nominal spit width (before tapering and erosion).
    fn spit_width_nominal(&self, y: f64) -> f64 {
        self.spit_w * (1.0 + 0.25 * self.n1(0x5B17, y, 0.3, 2))
    }

    /// River-side shore of the spit (does not erode).
    fn spit_east(&self, y: f64) -> f64 {
        self.coast_base(y) + self.spit_width_nominal(y)
    }

    /// Width of the river between the spit and the mainland.
    fn river_width(&self, y: f64) -> f64 {
        self.river_w * (1.0 + 0.2 * self.n1(0x7173, y, 0.4, 2))
    }

    /// Mainland bank of the river.
    pub(crate) fn bank_east(&self, y: f64) -> f64 {
        self.spit_east(y) + self.river_width(y)
    }

    /// Ocean shore at growth `gamma`: eroded eastwards around `erosion_y`, tapered to the tip.
    fn coast(&self, y: f64, gamma: f64) -> f64 {
        let east = self.spit_east(y);
        let taper = ((self.tip_y - y) / (0.04 * self.s)).clamp(0.0, 1.0).sqrt();
        let w = self.spit_width_nominal(y) * taper;
        let eroded = east - w + gamma * self.erosion * bump(y - self.erosion_y, 0.12 * self.s);
        eroded.min(east - (0.3 * w).clamp(0.0, 3.0))
    }

    /// Boundary between ocean and river water (for their different colours).
    fn ocean_limit(&self, y: f64) -> f64 {
        self.coast_base(y) + 0.5 * self.spit_width_nominal(y)
    }

    /// `(start, end)` rows of the breach at growth `gamma`, if open.
    fn breach(&self, gamma: f64) -> Option<(f64, f64)> {
        let g = ((gamma - 0.3) / 0.7).clamp(0.0, 1.0);
        let w = g * 0.02 * self.s;
        (w >= 1.5).then(|| (self.breach_y - w / 2.0, self.breach_y + w / 2.0))
    }

    /// Half-width of the island at row `y` (0 outside it).
    fn island_half_width(&self, y: f64) -> f64 {
        let t = (y - self.island_cy) / self.island_b;
        if t.abs() >= 1.0 {
            0.0
        } else {
            self.island_a * (1.0 - t * t).sqrt().sqrt()
        }
    }

    fn curve_ys(&self, y0: f64, y1: f64) -> Vec<f64> {
        let mut ys = Vec::new();
        let mut y = y0;
        while y < y1 {
            ys.push(y);
            y += CURVE_STEP;
        }
        ys.push(y1);
        ys
    }

    /// The island's ring.
    fn island_ring(&self) -> Vec<Pt> {
        let ys = self.curve_ys(
            self.island_cy - self.island_b,
            self.island_cy + self.island_b,
        );
        let mut ring: Vec<Pt> = ys
            .iter()
            .map(|&y| [self.island_cx + self.island_half_width(y), y])
            .collect();
        ring.extend(
            ys.iter()
                .rev()
                .map(|&y| [self.island_cx - self.island_half_width(y), y]),
        );
        dedup_ring(ring)
    }

    /// The water body (ocean + river) as one multipolygon: outer ring and inner rings (the
    /// island, and the southern part of the spit once the breach cuts it off).
    fn water(&self, gamma: f64) -> (Vec<Pt>, Vec<Vec<Pt>>) {
        let s = self.s;
        let breach = self.breach(gamma);
        let north_end = breach.map_or(self.tip_y, |b| b.0);
        let mut outer: Vec<Pt> = vec![[0.0, 0.0]];
        let ys = self.curve_ys(0.0, north_end);
        outer.extend(ys.iter().map(|&y| [self.coast(y, gamma), y]));
        outer.extend(ys.iter().rev().map(|&y| [self.spit_east(y), y]));
        outer.push([self.bank_east(0.0), 0.0]);
        outer.extend(
            self.curve_ys(0.0, s)
                .iter()
                .map(|&y| [self.bank_east(y), y]),
        );
        outer.push([0.0, s]);
        let mut inner = vec![self.island_ring()];
        if let Some((_, south_start)) = breach {
            let ys = self.curve_ys(south_start, self.tip_y);
            let mut ring: Vec<Pt> = ys.iter().map(|&y| [self.coast(y, gamma), y]).collect();
            ring.extend(ys.iter().rev().map(|&y| [self.spit_east(y), y]));
            inner.push(dedup_ring(ring));
        }
        (dedup_ring(outer), inner)
    }

    /// Whether a point is on the spit's land at growth `gamma` (with a margin in pixels).
    fn on_spit(&self, p: Pt, gamma: f64, margin: f64) -> bool {
        let y = p[1];
        if y < 0.0 || y > self.tip_y - margin {
            return false;
        }
        if let Some((a, b)) = self.breach(gamma)
            && y > a - margin
            && y < b + margin
        {
            return false;
        }
        p[0] > self.coast(y, gamma) + margin && p[0] < self.spit_east(y) - margin
    }

    fn on_island(&self, p: Pt, margin: f64) -> bool {
        (p[0] - self.island_cx).abs() < self.island_half_width(p[1]) - margin
    }

    fn on_mainland(&self, p: Pt, margin: f64) -> bool {
        p[0] > self.bank_east(p[1]) + margin
    }

    /// The main north-south road on the mainland.
    fn main_road(&self) -> Vec<Pt> {
        self.curve_ys(0.0, self.s)
            .iter()
            .step_by(4)
            .map(|&y| [self.road_x0 + 0.01 * self.s * self.n1(0x40AD, y, 0.6, 2), y])
            .chain(std::iter::once([
                self.road_x0 + 0.01 * self.s * self.n1(0x40AD, self.s, 0.6, 2),
                self.s,
            ]))
            .collect()
    }
}

/// Removes consecutive duplicate points and a closing repeat.
fn dedup_ring(mut ring: Vec<Pt>) -> Vec<Pt> {
    ring.dedup_by(|a, b| (a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9);
    while ring.len() > 1 {
        let (f, l) = (ring[0], ring[ring.len() - 1]);
        if (f[0] - l[0]).abs() < 1e-9 && (f[1] - l[1]).abs() < 1e-9 {
            ring.pop();
        } else {
            break;
        }
    }
    ring
}

/// Corners of a rectangle centred at `c`, half-sizes `hu` x `hv` along the unit axes
/// `u = (cos t, sin t)` and `v = (-sin t, cos t)`.
fn rect(c: Pt, hu: f64, hv: f64, cs: f64, sn: f64) -> Vec<Pt> {
    let (ux, uy) = (cs * hu, sn * hu);
    let (vx, vy) = (-sn * hv, cs * hv);
    vec![
        [c[0] - ux - vx, c[1] - uy - vy],
        [c[0] + ux - vx, c[1] + uy - vy],
        [c[0] + ux + vx, c[1] + uy + vy],
        [c[0] - ux + vx, c[1] - uy + vy],
    ]
}

/// A wobbly blob ring of `n` points around `c` with mean radius `r`.
fn blob(seed: u64, key: u64, c: Pt, r: f64, n: usize) -> Vec<Pt> {
    (0..n)
        .map(|i| {
            let a = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            let k = 1.0 + 0.3 * noise1(seed ^ key, i as f64, n as f64 / 3.0, 2);
            [c[0] + r * k * cos(a), c[1] + r * k * sin(a)]
        })
        .collect()
}

/// A street grid: the frame and block size, plus which cells are built / have streets.
struct Grid {
    origin: Pt,
    cs: f64,
    sn: f64,
    bu: f64,
    bv: f64,
}

impl Grid {
    fn to_world(&self, u: f64, v: f64) -> Pt {
        [
            self.origin[0] + u * self.cs - v * self.sn,
            self.origin[1] + u * self.sn + v * self.cs,
        ]
    }

    fn corners(&self, i: i64, j: i64) -> [Pt; 4] {
        let (u0, v0) = (i as f64 * self.bu, j as f64 * self.bv);
        let (u1, v1) = (u0 + self.bu, v0 + self.bv);
        [
            self.to_world(u0, v0),
            self.to_world(u1, v0),
            self.to_world(u1, v1),
            self.to_world(u0, v1),
        ]
    }
}

/// Per-cell state of a town grid.
#[derive(Clone, Copy, PartialEq)]
enum Cell {
    Empty,
    /// Streets laid, nothing built yet.
    Planned,
    /// Built; `new` when it did not exist in the first year.
    Built {
        new: bool,
    },
}

/// What a town (grid) contributes.
struct TownSpec<'a> {
    key: u64,
    grid: Grid,
    /// Cell range `[i0, i1) x [j0, j1)`.
    range: (i64, i64, i64, i64),
    cell: &'a dyn Fn(Pt, [Pt; 4]) -> Cell,
    paved: bool,
}

struct Builder<'a> {
    layout: &'a Layout,
    gamma: f64,
    w: usize,
    h: usize,
    material: Vec<u8>,
    object: Vec<u32>,
    objects: Vec<Object>,
    osm: Vec<OsmFeature>,
    roads: Vec<(Vec<Pt>, f64)>,
    buildings_total: usize,
    buildings_mapped: usize,
}

impl Builder<'_> {
    fn new_object(&mut self, material: Material, brightness: f32, phase_days: f32) -> u32 {
        self.objects.push(Object {
            material,
            brightness,
            phase_days,
        });
        (self.objects.len() - 1) as u32
    }

    fn paint_polygon(&mut self, rings: &[&[Pt]], obj: u32) {
        let m = self.objects[obj as usize].material as u8;
        let w = self.w;
        let (mat, ob) = (&mut self.material, &mut self.object);
        fill_polygon(rings, self.w, self.h, |c, r| {
            mat[r * w + c] = m;
            ob[r * w + c] = obj;
        });
    }

    fn paint_line(&mut self, line: &[Pt], width: f64, obj: u32) {
        let m = self.objects[obj as usize].material as u8;
        let w = self.w;
        let (mat, ob) = (&mut self.material, &mut self.object);
        stroke_line(line, width, self.w, self.h, |c, r| {
            mat[r * w + c] = m;
            ob[r * w + c] = obj;
        });
    }

    /// Paints a road and adds it to OSM; buildings keep clear of roads other than streets.
    fn road(&mut self, points: Vec<Pt>, width: f64, material: Material, tags: Vec<Tag>) {
        if points.len() < 2 {
            return;
        }
        let obj = material as u32;
        self.paint_line(&points, width, obj);
        if tags
            .iter()
            .any(|&(k, v)| k == "highway" && v != "residential")
        {
            self.roads.push((points.clone(), width));
        }
        self.osm.push(OsmFeature::Line { points, tags });
    }

    fn near_road(&self, p: Pt, clearance: f64) -> bool {
        self.roads
            .iter()
            .any(|(l, w)| distance_to_line(p, l) < w / 2.0 + clearance)
    }
}

/// Splits a polyline into the runs of points where `keep` holds.
fn runs(points: &[Pt], keep: impl Fn(Pt) -> bool) -> Vec<Vec<Pt>> {
    let mut out = Vec::new();
    let mut cur: Vec<Pt> = Vec::new();
    for &p in points {
        if keep(p) {
            cur.push(p);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if cur.len() >= 2 {
        out.push(cur);
    }
    out.retain(|r| r.len() >= 2);
    out
}

impl Landscape {
    /// Builds the world of a `size x size` scene for growth `gamma` in `[0, 1]`.
    pub(crate) fn generate(seed: u64, size: usize, gamma: f64) -> Self {
        let layout = Layout::new(seed, size);
        let l = &layout;
        let (w, h) = (size, size);
        let s = size as f64;
        let mut b = Builder {
            layout: l,
            gamma,
            w,
            h,
            material: vec![Material::SandDry as u8; w * h],
            object: vec![Material::SandDry as u32; w * h],
            objects: Material::ALL
                .iter()
                .map(|&m| Object {
                    material: m,
                    brightness: 1.0,
                    phase_days: 0.0,
                })
                .collect(),
            osm: Vec::new(),
            roads: Vec::new(),
            buildings_total: 0,
            buildings_mapped: 0,
        };

        // 1. Bare land: dunes (dry sand) and darker soil on the mainland, sand elsewhere.
        let soil = CoarseField::fractal(seed ^ 0x5011, w, h, 8, 0.15 * s, 3);
        for r in 0..h {
            let y = r as f64 + 0.5;
            let bank = l.bank_east(y);
            for c in 0..w {
                let x = c as f64 + 0.5;
                if x > bank + 0.02 * s && soil.at(x, y) > -0.05 {
                    b.material[r * w + c] = Material::Soil as u8;
                    b.object[r * w + c] = Material::Soil as u32;
                }
            }
        }

        // 2. Water: one multipolygon; ocean west of the spit's middle line, river east.
        let (outer, inner) = l.water(gamma);
        {
            let mut rings: Vec<&[Pt]> = vec![&outer];
            rings.extend(inner.iter().map(|r| r.as_slice()));
            let limits: Vec<f64> = (0..h).map(|r| l.ocean_limit(r as f64 + 0.5)).collect();
            let (mat, ob) = (&mut b.material, &mut b.object);
            fill_polygon(&rings, w, h, |c, r| {
                let m = if (c as f64 + 0.5) < limits[r] {
                    Material::Ocean
                } else {
                    Material::River
                };
                mat[r * w + c] = m as u8;
                ob[r * w + c] = m as u32;
            });
        }
        b.osm.push(OsmFeature::Multipolygon {
            outer: vec![outer],
            inner,
            tags: vec![
                ("type", "multipolygon"),
                ("natural", "water"),
                ("water", "river"),
            ],
        });
        // Wet sand along every shore.
        let water = |m: u8| m == Material::Ocean as u8 || m == Material::River as u8;
        let snapshot = b.material.clone();
        for r in 0..h {
            for c in 0..w {
                let i = r * w + c;
                if water(snapshot[i]) {
                    continue;
                }
                let near = (c > 0 && water(snapshot[i - 1]))
                    || (c + 1 < w && water(snapshot[i + 1]))
                    || (r > 0 && water(snapshot[i - w]))
                    || (r + 1 < h && water(snapshot[i + w]));
                if near {
                    b.material[i] = Material::SandWet as u8;
                    b.object[i] = Material::SandWet as u32;
                }
            }
        }

        // 3. Vegetation: mangrove belt on the southern mainland bank.
        // Rows snapped to the bank's sampling rows, so the belt shares the water polygon's
        // vertices (no overlap, no gap between them).
        let snap = |y: f64| (y / CURVE_STEP).round() * CURVE_STEP;
        let ym0 = snap((0.60 + 0.05 * unit_f64(hash4(seed, 0x3A6, 0, 0))) * s);
        let ym1 = snap((0.97 * s).min(ym0 + 0.35 * s));
        if ym1 > ym0 + 4.0 {
            let ys = l.curve_ys(ym0, ym1);
            let mut ring: Vec<Pt> = ys.iter().map(|&y| [l.bank_east(y), y]).collect();
            ring.extend(ys.iter().rev().map(|&y| {
                let t = (y - ym0) / (ym1 - ym0);
                let q = 2.0 * t - 1.0;
                let width = (0.012 + 0.02 * (0.5 + 0.5 * l.n1(0x3A7, y, 0.1, 2)))
                    * s
                    * (1.0 - q * q * q * q);
                [l.bank_east(y) + width.max(0.0), y]
            }));
            let ring = dedup_ring(ring);
            let obj = b.new_object(Material::Mangrove, 1.0, 0.0);
            b.paint_polygon(&[&ring], obj);
            b.osm.push(OsmFeature::Area {
                ring,
                tags: vec![("natural", "wetland"), ("wetland", "mangrove")],
            });
        }

        // Main road first (fields and towns keep clear of it).
        let main = l.main_road();

        // Fields east of the main road: crops (mapped), irrigated rice (mapped), fallow
        // (bare soil, not mapped).
        let mut fy = 2.0;
        let mut row = 0u64;
        while fy < s - 8.0 {
            let fh = 15.0 + 20.0 * unit_f64(hash4(seed, 0xF1E1, row, 0));
            let x_start = main.iter().map(|p| p[0]).fold(f64::MIN, f64::max) + 0.015 * s;
            let mut fx = x_start + 3.0 * unit_f64(hash4(seed, 0xF1E2, row, 0));
            let mut col = 0u64;
            while fx < s - 8.0 {
                let fw = 20.0 + 30.0 * unit_f64(hash4(seed, 0xF1E3, row, col));
                let (x1, y1) = ((fx + fw).min(s - 1.0), (fy + fh).min(s - 1.0));
                let kind = unit_f64(hash4(seed, 0xF1E4, row, col));
                let ring = vec![[fx, fy], [x1, fy], [x1, y1], [fx, y1]];
                let bright = 0.9 + 0.2 * unit_f64(hash4(seed, 0xF1E5, row, col)) as f32;
                let phase = -20.0 + 40.0 * unit_f64(hash4(seed, 0xF1E6, row, col)) as f32;
                if x1 - fx > 4.0 && y1 - fy > 4.0 {
                    if kind < 0.45 {
                        let obj = b.new_object(Material::Crop, bright, phase);
                        b.paint_polygon(&[&ring], obj);
                        b.osm.push(OsmFeature::Area {
                            ring,
                            tags: vec![("landuse", "farmland")],
                        });
                    } else if kind < 0.60 {
                        let obj = b.new_object(Material::Rice, bright, phase * 0.5);
                        b.paint_polygon(&[&ring], obj);
                        b.osm.push(OsmFeature::Area {
                            ring,
                            tags: vec![("landuse", "farmland"), ("crop", "rice")],
                        });
                    } else {
                        let obj = b.new_object(Material::Soil, bright, 0.0);
                        b.paint_polygon(&[&ring], obj);
                    }
                }
                fx += fw + 1.5 + unit_f64(hash4(seed, 0xF1E7, row, col));
                col += 1;
            }
            fy += fh + 1.5 + unit_f64(hash4(seed, 0xF1E8, row, 0));
            row += 1;
        }

        // Scrub / grass patches on the mainland between the river and the main road; those
        // the growing town reaches disappear.
        let n_blobs = ((s * s) / 30_000.0).round().max(3.0) as u64;
        for k in 0..n_blobs {
            let u = |j: u64| unit_f64(hash4(seed, 0x5C0B, k, j));
            let c = [l.bank_east(u(1) * s) + (0.02 + 0.25 * u(0)) * s, u(1) * s];
            let r = (0.012 + 0.02 * u(2)) * s;
            if r < 1.5 || !l.on_mainland(c, r * 1.4) || c[0] > l.road_x0 - r * 1.4 {
                continue;
            }
            let d = town_distance(l, c);
            if d < 1.0 + gamma * l.town_growth + 0.1 {
                continue;
            }
            let ring = blob(seed, 0x5C0C ^ k, c, r, 20);
            let obj = b.new_object(
                Material::Scrub,
                0.9 + 0.2 * u(3) as f32,
                -15.0 + 30.0 * u(4) as f32,
            );
            b.paint_polygon(&[&ring], obj);
            // A few patches are missing from OSM.
            if u(5) > 0.1 {
                b.osm.push(OsmFeature::Area {
                    ring,
                    tags: vec![("natural", "scrub")],
                });
            }
        }

        // 4. Roads. Main N-S road (asphalt) and the national road east from the bridge.
        b.road(
            main.clone(),
            2.0,
            Material::Asphalt,
            vec![("highway", "primary"), ("ref", "N2")],
        );
        let by = l.island_cy + 0.02 * s * (unit_f64(hash4(seed, 0xB41D, 0, 0)) - 0.5);
        let ix = l.island_cx + l.island_half_width(by) - 1.0;
        let bank = l.bank_east(by) + 1.0;
        if l.island_half_width(by) > 1.0 {
            // Faidherbe bridge, island -> mainland.
            b.road(
                vec![[ix, by], [bank, by]],
                1.5,
                Material::Bridge,
                vec![("highway", "primary"), ("bridge", "yes"), ("layer", "1")],
            );
        }
        let main_at = |y: f64| {
            main.windows(2)
                .find(|p| p[0][1] <= y && p[1][1] >= y)
                .map_or(l.road_x0, |p| {
                    p[0][0] + (p[1][0] - p[0][0]) * (y - p[0][1]) / (p[1][1] - p[0][1]).max(1e-9)
                })
        };
        let east_y = by + 0.03 * s * l.n1(0xEA57, 0.0, 1.0, 1);
        b.road(
            vec![
                [bank, by],
                [main_at(east_y), east_y],
                [s, east_y + 0.02 * s],
            ],
            2.0,
            Material::Asphalt,
            vec![("highway", "primary")],
        );
        // Bridge island -> spit, and the road along the spit (cut where the sea took it).
        let sy = l.island_cy - (0.03 + 0.04 * unit_f64(hash4(seed, 0xB41E, 0, 0))) * s;
        if l.island_half_width(sy) > 1.0 {
            let spit_mid = 0.5 * (l.coast_base(sy) + l.spit_east(sy));
            b.road(
                vec![
                    [l.island_cx - l.island_half_width(sy) + 1.0, sy],
                    [l.spit_east(sy) - 0.5, sy],
                ],
                1.5,
                Material::Bridge,
                vec![("highway", "secondary"), ("bridge", "yes"), ("layer", "1")],
            );
            b.road(
                vec![[l.spit_east(sy) - 0.5, sy], [spit_mid, sy]],
                1.0,
                Material::Asphalt,
                vec![("highway", "secondary")],
            );
        }
        let spit_road: Vec<Pt> = l
            .curve_ys(0.0, l.tip_y - 0.05 * s)
            .iter()
            .step_by(3)
            .map(|&y| [0.5 * (l.coast_base(y) + l.spit_east(y)), y])
            .collect();
        for run in runs(&spit_road, |p| l.on_spit(p, gamma, 1.0)) {
            b.road(run, 1.0, Material::Asphalt, vec![("highway", "secondary")]);
        }
        // Island avenue.
        let avenue: Vec<Pt> = l
            .curve_ys(
                l.island_cy - l.island_b + 2.0,
                l.island_cy + l.island_b - 2.0,
            )
            .iter()
            .step_by(4)
            .map(|&y| [l.island_cx, y])
            .collect();
        for run in runs(&avenue, |p| l.on_island(p, 1.5)) {
            b.road(run, 1.0, Material::Asphalt, vec![("highway", "secondary")]);
        }

        // 5. Towns on street grids: island (old town, complete), spit (fishing quarter, eroded
        // by the sea), mainland (growing outwards).
        let island_cell = |_: Pt, corners: [Pt; 4]| {
            if corners.iter().all(|&p| l.on_island(p, 0.5)) {
                Cell::Built { new: false }
            } else {
                Cell::Empty
            }
        };
        let spit_y0 = l.island_cy - 0.10 * s;
        let spit_y1 = l.island_cy + 0.02 * s;
        let spit_cell = move |_: Pt, corners: [Pt; 4]| {
            let inside = corners
                .iter()
                .all(|&p| p[1] > spit_y0 && p[1] < spit_y1 && l.on_spit(p, gamma, 1.0));
            if inside {
                Cell::Built { new: false }
            } else {
                Cell::Empty
            }
        };
        let main_cell = move |centre: Pt, corners: [Pt; 4]| {
            if !corners
                .iter()
                .all(|&p| l.on_mainland(p, 1.0) && p[0] < l.road_x0 - 3.0)
            {
                return Cell::Empty;
            }
            let d = town_distance(l, centre);
            if d <= 1.0 {
                Cell::Built { new: false }
            } else if d <= 1.0 + gamma * l.town_growth {
                Cell::Built { new: true }
            } else if d <= 1.0 + (gamma + 0.25).min(1.0) * l.town_growth && gamma > 0.0 {
                Cell::Planned
            } else {
                Cell::Empty
            }
        };
        let towns = [
            TownSpec {
                key: 1,
                grid: Grid {
                    origin: [l.island_cx - 0.37 * l.block_u, l.island_cy - l.island_b],
                    cs: 1.0,
                    sn: 0.0,
                    bu: l.block_u * 0.8,
                    bv: l.block_v,
                },
                range: (-4, 4, 0, (2.0 * l.island_b / l.block_v).ceil() as i64 + 1),
                cell: &island_cell,
                paved: true,
            },
            TownSpec {
                key: 2,
                grid: Grid {
                    origin: [l.coast_base(spit_y0), spit_y0],
                    cs: 1.0,
                    sn: 0.0,
                    bu: (l.spit_w / 3.0).clamp(5.0, 9.0),
                    bv: l.block_v * 0.8,
                },
                range: (
                    -1,
                    6,
                    0,
                    ((spit_y1 - spit_y0) / (l.block_v * 0.8)).ceil() as i64 + 1,
                ),
                cell: &spit_cell,
                paved: false,
            },
            TownSpec {
                key: 3,
                grid: Grid {
                    origin: [l.town_cx, l.town_cy],
                    cs: cos(l.town_theta),
                    sn: sin(l.town_theta),
                    bu: l.block_u,
                    bv: l.block_v,
                },
                range: {
                    let ru =
                        (l.town_rx * (1.0 + l.town_growth) * 1.6 / l.block_u).ceil() as i64 + 2;
                    let rv =
                        (l.town_ry * (1.0 + l.town_growth) * 1.3 / l.block_v).ceil() as i64 + 2;
                    (-ru, ru, -rv, rv)
                },
                cell: &main_cell,
                paved: false,
            },
        ];
        for town in &towns {
            build_town(&mut b, town);
        }

        // 6. Truth from materials.
        let truth = b
            .material
            .iter()
            .map(|&m| Material::ALL[m as usize].class())
            .collect();
        let Builder {
            object,
            objects,
            osm,
            buildings_total,
            buildings_mapped,
            ..
        } = b;
        Landscape {
            width: w,
            height: h,
            object,
            truth,
            objects,
            osm,
            buildings_total,
            buildings_mapped,
        }
    }

    /// Share of each class in the ground truth.
    pub(crate) fn class_shares(&self) -> [f64; 5] {
        let mut n = [0usize; 5];
        for &c in &self.truth {
            n[c as usize] += 1;
        }
        let t = self.truth.len().max(1) as f64;
        n.map(|k| k as f64 / t)
    }
}

/// Elliptical distance from the mainland town centre, with a noisy edge (1 = 2016 edge).
fn town_distance(l: &Layout, p: Pt) -> f64 {
    let (dx, dy) = (
        (p[0] - l.town_cx) / l.town_rx,
        (p[1] - l.town_cy) / l.town_ry,
    );
    (dx * dx + dy * dy).sqrt() + 0.12 * noise2(l.seed ^ 0x70D1, p[0], p[1], 0.08 * l.s, 2)
}

/// Lays the streets and buildings of one town grid.
fn build_town(b: &mut Builder<'_>, t: &TownSpec<'_>) {
    let seed = b.layout.seed;
    let gamma = b.gamma;
    let (i0, i1, j0, j1) = t.range;
    let ni = (i1 - i0) as usize;
    let nj = (j1 - j0) as usize;
    let mut cells = vec![Cell::Empty; ni * nj];
    for j in j0..j1 {
        for i in i0..i1 {
            let corners = t.grid.corners(i, j);
            let centre = t
                .grid
                .to_world((i as f64 + 0.5) * t.grid.bu, (j as f64 + 0.5) * t.grid.bv);
            cells[(j - j0) as usize * ni + (i - i0) as usize] = (t.cell)(centre, corners);
        }
    }
    let at = |i: i64, j: i64| -> Cell {
        if i < i0 || i >= i1 || j < j0 || j >= j1 {
            Cell::Empty
        } else {
            cells[(j - j0) as usize * ni + (i - i0) as usize]
        }
    };
    let has_street = |c: Cell| c != Cell::Empty;
    let street_mat = if t.paved {
        Material::Asphalt
    } else {
        Material::Street
    };
    let street_tags = vec![("highway", "residential")];
    // Horizontal streets: grid line j between cells (i, j-1) and (i, j), merged into runs.
    for j in j0..=j1 {
        let mut run: Vec<Pt> = Vec::new();
        for i in i0..=i1 {
            let seg = i < i1 && (has_street(at(i, j - 1)) || has_street(at(i, j)));
            let p = t.grid.to_world(i as f64 * t.grid.bu, j as f64 * t.grid.bv);
            if seg {
                if run.is_empty() {
                    run.push(p);
                }
                run.push(
                    t.grid
                        .to_world((i + 1) as f64 * t.grid.bu, j as f64 * t.grid.bv),
                );
            } else if !run.is_empty() {
                b.road(
                    std::mem::take(&mut run),
                    1.0,
                    street_mat,
                    street_tags.clone(),
                );
            }
        }
        if !run.is_empty() {
            b.road(run, 1.0, street_mat, street_tags.clone());
        }
    }
    // Vertical streets.
    for i in i0..=i1 {
        let mut run: Vec<Pt> = Vec::new();
        for j in j0..=j1 {
            let seg = j < j1 && (has_street(at(i - 1, j)) || has_street(at(i, j)));
            let p = t.grid.to_world(i as f64 * t.grid.bu, j as f64 * t.grid.bv);
            if seg {
                if run.is_empty() {
                    run.push(p);
                }
                run.push(
                    t.grid
                        .to_world(i as f64 * t.grid.bu, (j + 1) as f64 * t.grid.bv),
                );
            } else if !run.is_empty() {
                b.road(
                    std::mem::take(&mut run),
                    1.0,
                    street_mat,
                    street_tags.clone(),
                );
            }
        }
        if !run.is_empty() {
            b.road(run, 1.0, street_mat, street_tags.clone());
        }
    }
    // Blocks: parks, squares, or parcels with buildings.
    let (cs, sn) = (t.grid.cs, t.grid.sn);
    for j in j0..j1 {
        for i in i0..i1 {
            let Cell::Built { new } = at(i, j) else {
                continue;
            };
            let key = hash4(seed, 0xB10C ^ t.key, i as u64, j as u64);
            let kind = unit_f64(key);
            let (u0, v0) = (i as f64 * t.grid.bu + 0.9, j as f64 * t.grid.bv + 0.9);
            let (du, dv) = (t.grid.bu - 1.8, t.grid.bv - 1.8);
            if du < 1.5 || dv < 1.5 {
                continue;
            }
            if kind < 0.04 {
                // Park with trees.
                let c = t.grid.to_world(u0 + du / 2.0, v0 + dv / 2.0);
                let ring = rect(c, du / 2.0, dv / 2.0, cs, sn);
                let obj = b.new_object(Material::Trees, 1.0, 0.0);
                b.paint_polygon(&[&ring], obj);
                b.osm.push(OsmFeature::Area {
                    ring,
                    tags: vec![("natural", "wood")],
                });
                continue;
            }
            if kind < 0.07 {
                continue; // open square: bare ground
            }
            // Two rows of parcels back to back (one row in shallow blocks).
            let rows = if dv >= 4.0 { 2 } else { 1 };
            let ph = dv / rows as f64;
            for pr in 0..rows {
                let mut pu = 0.0;
                let mut k = 0u64;
                while pu < du - 1.0 {
                    let hk = hash4(seed, key, pr as u64, k);
                    let pw = (2.0 + 1.6 * unit_f64(hk)).min(du - pu);
                    k += 1;
                    let u = |n: u64| unit_f64(hash4(hk, n, 0, 0));
                    let margin = 0.05 + 0.25 * u(1);
                    let (bw, bh) = (pw - 2.0 * margin, ph - 2.0 * margin - 0.2 * u(2));
                    let c = t
                        .grid
                        .to_world(u0 + pu + pw / 2.0, v0 + pr as f64 * ph + ph / 2.0);
                    pu += pw;
                    if u(3) < 0.10 || bw < 0.8 || bh < 0.8 {
                        continue; // courtyard or empty parcel
                    }
                    // Infill: some buildings of old blocks appear only in later years.
                    let appears = if new {
                        0.0
                    } else if u(4) < 0.12 {
                        u(5)
                    } else {
                        0.0
                    };
                    if appears > gamma {
                        continue;
                    }
                    if b.near_road(c, 0.5 * (bw.max(bh))) {
                        continue;
                    }
                    let roof = u(6);
                    let mat = if roof < 0.35 {
                        Material::RoofMetal
                    } else if roof < 0.8 {
                        Material::RoofConcrete
                    } else {
                        Material::RoofTile
                    };
                    let ring = rect(c, bw / 2.0, bh / 2.0, cs, sn);
                    let obj = b.new_object(mat, 0.85 + 0.3 * u(7) as f32, 0.0);
                    b.paint_polygon(&[&ring], obj);
                    b.buildings_total += 1;
                    // OSM is a little incomplete, more so for recent buildings.
                    let p_missing = if new || appears > 0.0 { 0.12 } else { 0.03 };
                    if u(8) >= p_missing {
                        b.buildings_mapped += 1;
                        b.osm.push(OsmFeature::Area {
                            ring,
                            tags: vec![("building", "yes")],
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_have_plausible_shares() {
        let land = Landscape::generate(1, 512, 0.0);
        let s = land.class_shares();
        // water 15-50%, buildings 1-20%, roads 0.5-12%, vegetation 5-50%, background rest.
        assert!((0.15..0.5).contains(&s[3]), "water {s:?}");
        assert!((0.01..0.2).contains(&s[1]), "buildings {s:?}");
        assert!((0.005..0.12).contains(&s[2]), "roads {s:?}");
        assert!((0.05..0.5).contains(&s[4]), "vegetation {s:?}");
        assert!(s[0] > 0.1, "background {s:?}");
    }

    #[test]
    fn town_grows_and_spit_erodes() {
        let a = Landscape::generate(5, 512, 0.0);
        let b = Landscape::generate(5, 512, 1.0);
        assert!(
            b.buildings_total > a.buildings_total,
            "{} {}",
            a.buildings_total,
            b.buildings_total
        );
        let water = |l: &Landscape| l.truth.iter().filter(|&&c| c == class::WATER).count();
        assert!(water(&b) > water(&a));
        // Mapped buildings are a large majority but not all.
        assert!(a.buildings_mapped < a.buildings_total);
        assert!(a.buildings_mapped as f64 > 0.9 * a.buildings_total as f64);
    }

    #[test]
    fn seeds_give_different_towns() {
        let a = Landscape::generate(1, 256, 0.0);
        let b = Landscape::generate(2, 256, 0.0);
        assert_ne!(a.truth, b.truth);
        let a2 = Landscape::generate(1, 256, 0.0);
        assert_eq!(a.truth, a2.truth);
        assert_eq!(a.object, a2.object);
    }
}
