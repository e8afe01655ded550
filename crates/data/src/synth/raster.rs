//! Burning polygons and thick lines into pixel rasters (pixel-centre rule), for the ground
//! truth and material maps of the synthetic world. Coordinates are continuous pixel
//! coordinates: `(0, 0)` is the top-left corner of the raster, pixel `(c, r)` has its centre
//! at `(c + 0.5, r + 0.5)`.

/// A point `[x, y]` in pixel coordinates (x to the right, y down).
pub(crate) type Pt = [f64; 2];

/// Calls `f(col, row)` for every pixel whose centre lies inside the polygon made of `rings`
/// (even-odd rule, so inner rings are holes), clipped to `width x height`.
pub(crate) fn fill_polygon(
    rings: &[&[Pt]],
    width: usize,
    height: usize,
    mut f: impl FnMut(usize, usize),
) {
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for ring in rings {
        for p in *ring {
            y0 = y0.min(p[1]);
            y1 = y1.max(p[1]);
        }
    }
    if !y0.is_finite() {
        return;
    }
    let r0 = (y0 - 0.5).ceil().max(0.0) as usize;
    let r1 = ((y1 - 0.5).floor().min(height as f64 - 1.0)).max(-1.0);
    if r1 < 0.0 {
        return;
    }
    let r1 = r1 as usize;
    let mut xs: Vec<f64> = Vec::new();
    for row in r0..=r1 {
        let yc = row as f64 + 0.5;
        xs.clear();
        for ring in rings {
            let n = ring.len();
            for i in 0..n {
                let a = ring[i];
                let b = ring[(i + 1) % n];
                // Half-open rule on y so shared vertices count once.
                if (a[1] <= yc && b[1] > yc) || (b[1] <= yc && a[1] > yc) {
                    let t = (yc - a[1]) / (b[1] - a[1]);
                    xs.push(a[0] + t * (b[0] - a[0]));
                }
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks_exact(2) {
            // Pixels whose centre c + 0.5 is in [x_a, x_b).
            let c0 = (pair[0] - 0.5).ceil().max(0.0);
            let c1 = (pair[1] - 0.5).ceil().min(width as f64);
            let (c0, c1) = (c0 as i64, c1 as i64);
            for col in c0..c1 {
                f(col as usize, row);
            }
        }
    }
}

/// Calls `f(col, row)` for every pixel whose centre is within `width_px / 2` of the polyline
/// `line`, or whose square the centre line passes through (so that lines stay connected, as
/// chronomap-geo burns OSM lines); each pixel at most once per segment, callers paint
/// idempotently.
pub(crate) fn stroke_line(
    line: &[Pt],
    width_px: f64,
    width: usize,
    height: usize,
    mut f: impl FnMut(usize, usize),
) {
    let half = width_px / 2.0;
    for seg in line.windows(2) {
        let (a, b) = (seg[0], seg[1]);
        let c0 = ((a[0].min(b[0]) - half - 0.5).floor().max(0.0)) as usize;
        let c1 = ((a[0].max(b[0]) + half - 0.5).ceil().min(width as f64 - 1.0)).max(-1.0);
        let r0 = ((a[1].min(b[1]) - half - 0.5).floor().max(0.0)) as usize;
        let r1 = ((a[1].max(b[1]) + half - 0.5)
            .ceil()
            .min(height as f64 - 1.0))
        .max(-1.0);
        if c1 < 0.0 || r1 < 0.0 {
            continue;
        }
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len2 = dx * dx + dy * dy;
        for row in r0..=r1 as usize {
            for col in c0..=c1 as usize {
                let (px, py) = (col as f64 + 0.5, row as f64 + 0.5);
                let t = if len2 > 0.0 {
                    (((px - a[0]) * dx + (py - a[1]) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qx, qy) = (a[0] + t * dx - px, a[1] + t * dy - py);
                if qx * qx + qy * qy <= half * half || segment_hits_pixel(a, b, col, row) {
                    f(col, row);
                }
            }
        }
    }
}

/// Whether the segment `a`-`b` meets the square of pixel (`col`, `row`) (Liang-Barsky).
fn segment_hits_pixel(a: Pt, b: Pt, col: usize, row: usize) -> bool {
    let (x0, y0) = (col as f64, row as f64);
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a[0] - x0),
        (dx, x0 + 1.0 - a[0]),
        (-dy, a[1] - y0),
        (dy, y0 + 1.0 - a[1]),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return false;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    t0 <= t1
}

/// Shortest distance from `p` to the polyline `line`.
pub(crate) fn distance_to_line(p: Pt, line: &[Pt]) -> f64 {
    let mut best = f64::INFINITY;
    for seg in line.windows(2) {
        let (a, b) = (seg[0], seg[1]);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 {
            (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (qx, qy) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
        best = best.min((qx * qx + qy * qy).sqrt());
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_with_hole_covers_the_right_pixels() {
        let outer = [[1.0, 1.0], [7.0, 1.0], [7.0, 7.0], [1.0, 7.0]];
        let inner = [[3.0, 3.0], [5.0, 3.0], [5.0, 5.0], [3.0, 5.0]];
        let mut n = 0;
        fill_polygon(&[&outer, &inner], 10, 10, |c, r| {
            assert!((1..7).contains(&c) && (1..7).contains(&r));
            assert!(!((3..5).contains(&c) && (3..5).contains(&r)));
            n += 1;
        });
        // 6x6 square minus a 2x2 hole.
        assert_eq!(n, 32);
    }

    #[test]
    fn polygon_area_matches_pixel_count() {
        // A triangle of area 0.5 * 40 * 30 = 600 pixels: the pixel-centre count is within the
        // perimeter (about 120 pixels) / 2 of it.
        let tri = [[2.0, 2.0], [42.0, 2.0], [2.0, 32.0]];
        let mut n = 0;
        fill_polygon(&[&tri], 64, 64, |_, _| n += 1);
        assert!((n as i64 - 600).abs() < 60, "{n}");
    }

    #[test]
    fn thin_lines_stay_connected() {
        // A 0.2 px wide diagonal still burns every pixel its centre line crosses.
        let mut hits = Vec::new();
        stroke_line(&[[0.5, 0.5], [4.5, 2.5]], 0.2, 10, 10, |c, r| {
            hits.push((c, r))
        });
        hits.sort();
        hits.dedup();
        for (c, r) in [(0, 0), (1, 0), (1, 1), (2, 1), (3, 1), (3, 2), (4, 2)] {
            assert!(hits.contains(&(c, r)), "{c},{r} in {hits:?}");
        }
    }

    #[test]
    fn horizontal_line_of_width_one_covers_one_row() {
        let mut hits = Vec::new();
        stroke_line(&[[0.0, 5.2], [10.0, 5.2]], 1.0, 10, 10, |c, r| {
            hits.push((c, r))
        });
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|&(_, r)| r == 4 || r == 5));
    }
}
