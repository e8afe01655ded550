//! Lines (roads, rivers) burned with a width in metres: a pixel is burned when its centre lies
//! within half the width of the line (all-touched: when its square comes that close), and
//! every pixel the centre line crosses is burned too, so lines narrower than a pixel stay
//! connected.

use super::polygon_fill::line_all_touched;

/// Ground size of a pixel in metres along columns (`sx`) and rows (`sy`): distances are
/// measured in the frame `(col * sx, row * sy)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Metric {
    pub(crate) sx: f64,
    pub(crate) sy: f64,
}

/// Burns the polyline `points` (pixel coordinates) buffered by `half_width_m` metres.
#[allow(clippy::too_many_arguments)]
pub(crate) fn buffer_line(
    points: &[(f64, f64)],
    half_width_m: f64,
    metric: Metric,
    all_touched: bool,
    width: usize,
    height: usize,
    out: &mut [u8],
    value: u8,
) {
    line_all_touched(points, width, height, out, value, false);
    let (rx, ry) = (half_width_m / metric.sx, half_width_m / metric.sy);
    let m = |p: (f64, f64)| (p.0 * metric.sx, p.1 * metric.sy);
    for seg in points.windows(2) {
        let (a, b) = (seg[0], seg[1]);
        if !(a.0.is_finite() && a.1.is_finite() && b.0.is_finite() && b.1.is_finite()) {
            continue;
        }
        let pad = if all_touched { 1.0 } else { 0.0 };
        let c0 = (a.0.min(b.0) - rx - pad).floor().max(0.0);
        let c1 = (a.0.max(b.0) + rx + pad).ceil().min(width as f64);
        let r0 = (a.1.min(b.1) - ry - pad).floor().max(0.0);
        let r1 = (a.1.max(b.1) + ry + pad).ceil().min(height as f64);
        if c0 >= c1 || r0 >= r1 {
            continue;
        }
        let (ma, mb) = (m(a), m(b));
        for r in r0 as usize..r1 as usize {
            for c in c0 as usize..c1 as usize {
                let d = if all_touched {
                    let lo = (c as f64 * metric.sx, r as f64 * metric.sy);
                    let hi = (lo.0 + metric.sx, lo.1 + metric.sy);
                    segment_box_distance(ma, mb, lo, hi)
                } else {
                    point_segment_distance(m((c as f64 + 0.5, r as f64 + 0.5)), ma, mb)
                };
                if d <= half_width_m {
                    out[r * width + c] = value;
                }
            }
        }
    }
}

/// Euclidean distance from `p` to segment `a`-`b`.
pub(crate) fn point_segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (p.0 - a.0 - t * dx).hypot(p.1 - a.1 - t * dy)
}

/// Distance between segment `a`-`b` and the box `lo`..`hi` (0 when they intersect).
fn segment_box_distance(a: (f64, f64), b: (f64, f64), lo: (f64, f64), hi: (f64, f64)) -> f64 {
    if segment_hits_box(a, b, lo, hi) {
        return 0.0;
    }
    let point_box = |p: (f64, f64)| {
        let dx = (lo.0 - p.0).max(0.0).max(p.0 - hi.0);
        let dy = (lo.1 - p.1).max(0.0).max(p.1 - hi.1);
        dx.hypot(dy)
    };
    let corners = [lo, (hi.0, lo.1), hi, (lo.0, hi.1)];
    corners
        .iter()
        .map(|&c| point_segment_distance(c, a, b))
        .chain([point_box(a), point_box(b)])
        .fold(f64::INFINITY, f64::min)
}

/// Liang-Barsky: does segment `a`-`b` intersect the closed box?
fn segment_hits_box(a: (f64, f64), b: (f64, f64), lo: (f64, f64), hi: (f64, f64)) -> bool {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - lo.0),
        (dx, hi.0 - a.0),
        (-dy, a.1 - lo.1),
        (dy, hi.1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return false;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
            if t0 > t1 {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizontal_road_width_by_hand() {
        // a line along row centre 5.5 on 10 m pixels, 30 m wide: centres within 15 m ->
        // rows 4, 5, 6 (distances 10, 0, 10 m); rows 3 and 7 are 20 m away
        let mut out = vec![0u8; 12 * 12];
        let metric = Metric { sx: 10.0, sy: 10.0 };
        buffer_line(
            &[(2.2, 5.5), (9.0, 5.5)],
            15.0,
            metric,
            false,
            12,
            12,
            &mut out,
            2,
        );
        let rows: Vec<usize> = (0..12).filter(|r| out[r * 12 + 5] == 2).collect();
        assert_eq!(rows, vec![4, 5, 6]);
        // caps are round: column 1's centre (x 1.5) is 7 m from the end point (x 2.2),
        // column 0's (x 0.5) 17 m
        assert_eq!(out[5 * 12 + 1], 2);
        assert_eq!(out[5 * 12], 0);
    }

    #[test]
    fn thin_diagonal_line_stays_connected() {
        let mut out = vec![0u8; 10 * 10];
        let metric = Metric { sx: 10.0, sy: 10.0 };
        buffer_line(
            &[(0.2, 0.3), (9.7, 9.9)],
            0.5,
            metric,
            false,
            10,
            10,
            &mut out,
            1,
        );
        for r in 0..10 {
            assert!(out[r * 10..r * 10 + 10].contains(&1), "row {r} empty");
        }
    }

    #[test]
    fn box_distance() {
        assert_eq!(
            segment_box_distance((0.0, 0.0), (4.0, 4.0), (1.0, 1.0), (2.0, 2.0)),
            0.0
        );
        assert_eq!(
            segment_box_distance((0.0, 5.0), (4.0, 5.0), (1.0, 1.0), (2.0, 2.0)),
            3.0
        );
    }
}
