//! Polygon scan conversion with GDAL's rules (ported from the logic of GDAL's
//! `alg/llrasterize.cpp`, MIT licence), so that chronomap and `gdal_rasterize` burn the same
//! pixels:
//! - default: a pixel is burned when its centre is inside the polygon (even-odd rule over
//!   all rings, so holes stay empty); on a scanline through pixel centres the span from an
//!   entering intersection `xa` to a leaving one `xb` burns columns
//!   `floor(xa + 0.5) ..= floor(xb + 0.5) - 1`;
//! - all-touched: additionally every pixel crossed by a ring's segments (segments lying
//!   exactly on a pixel edge do not count).
//!
//! Coordinates are continuous pixel coordinates (`(0, 0)` top-left corner of the raster).

/// Burns `value` into `out` (`[height, width]`, row-major) for pixels whose centre lies in
/// the polygon formed by `rings` (outer ring and holes; each ring closed or not).
pub(crate) fn fill_polygon(
    rings: &[&[(f64, f64)]],
    width: usize,
    height: usize,
    out: &mut [u8],
    value: u8,
) {
    let (mut dminy, mut dmaxy) = (f64::INFINITY, f64::NEG_INFINITY);
    // edges (x1, y1, x2, y2) with y1 < y2, and horizontal edges drawn right to left
    let mut edges: Vec<[f64; 4]> = Vec::new();
    // horizontal edges lying exactly on a scanline through pixel centres, by row
    let mut horizontals: Vec<(i64, f64, f64)> = Vec::new();
    for ring in rings {
        let n = ring.len();
        for i in 0..n {
            let (p1, p2) = (ring[if i == 0 { n - 1 } else { i - 1 }], ring[i]);
            dminy = dminy.min(p2.1);
            dmaxy = dmaxy.max(p2.1);
            if p1.1 < p2.1 {
                edges.push([p1.0, p1.1, p2.0, p2.1]);
            } else if p1.1 > p2.1 {
                edges.push([p2.0, p2.1, p1.0, p1.1]);
            } else if p1.0 > p2.0 && (p1.1 - 0.5).fract() == 0.0 {
                // GDAL fills "bottom" horizontal segments lying exactly on a scanline
                horizontals.push(((p1.1 - 0.5) as i64, p2.0, p1.0));
            }
        }
    }
    if edges.is_empty() && horizontals.is_empty() || !(dminy.is_finite() && dmaxy.is_finite()) {
        return;
    }
    // GDAL truncates toward zero here
    let miny = (dminy.max(-1.0) as i64).max(0);
    let maxy = (dmaxy.min(height as f64) as i64).min(height as i64 - 1);
    if miny > maxy {
        return;
    }
    edges.sort_by(|a, b| a[1].total_cmp(&b[1]));
    horizontals.sort_by_key(|h| h.0);
    let mut next_h = 0;
    let maxx = width as f64 - 1.0;
    let mut next = 0;
    let mut active: Vec<usize> = Vec::new();
    let mut ints: Vec<f64> = Vec::new();
    for y in miny..=maxy {
        let dy = y as f64 + 0.5;
        while next < edges.len() && edges[next][1] <= dy {
            active.push(next);
            next += 1;
        }
        active.retain(|&i| edges[i][3] > dy);
        ints.clear();
        for &i in &active {
            let [x1, y1, x2, y2] = edges[i];
            if dy < y2 && dy >= y1 {
                ints.push((dy - y1) * (x2 - x1) / (y2 - y1) + x1);
            }
        }
        let row = &mut out[y as usize * width..(y as usize + 1) * width];
        while next_h < horizontals.len() && horizontals[next_h].0 < y {
            next_h += 1;
        }
        for &(_, hx1, hx2) in horizontals[next_h..].iter().take_while(|h| h.0 == y) {
            let (x1, x2) = ((hx1 + 0.5).floor(), (hx2 + 0.5).floor());
            if x1 <= maxx && x2 > 0.0 {
                burn_span(row, x1, x2 - 1.0, value);
            }
        }
        ints.sort_by(f64::total_cmp);
        for pair in ints.chunks_exact(2) {
            if pair[0] <= maxx && pair[1] > 0.0 {
                burn_span(
                    row,
                    (pair[0] + 0.5).floor(),
                    (pair[1] + 0.5).floor() - 1.0,
                    value,
                );
            }
        }
    }
}

/// Burns columns `x0..=x1` (clamped to the row).
fn burn_span(row: &mut [u8], x0: f64, x1: f64, value: u8) {
    let x0 = x0.max(0.0);
    let x1 = x1.min(row.len() as f64 - 1.0);
    if x1 >= x0 {
        row[x0 as usize..=x1 as usize].fill(value);
    }
}

/// Tolerance GDAL uses to decide that a segment lies on a pixel edge.
const EPS: f64 = 1e-8;

/// Burns every pixel crossed by the polyline `points` (GDAL's all-touched line rule).
/// With `intersect_only`, vertical/horizontal segments lying exactly on pixel edges burn
/// nothing (GDAL does so for polygon outlines).
pub(crate) fn line_all_touched(
    points: &[(f64, f64)],
    width: usize,
    height: usize,
    out: &mut [u8],
    value: u8,
    intersect_only: bool,
) {
    let (w, h) = (width as f64, height as f64);
    let mut burn = |x: i64, y: i64| {
        if x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < height {
            out[y as usize * width + x as usize] = value;
        }
    };
    for seg in points.windows(2) {
        let ((mut x, mut y), (mut xe, mut ye)) = (seg[0], seg[1]);
        if !(x.is_finite() && y.is_finite() && xe.is_finite() && ye.is_finite()) {
            continue;
        }
        if (y < 0.0 && ye < 0.0) || (y > h && ye > h) || (x < 0.0 && xe < 0.0) || (x > w && xe > w)
        {
            continue;
        }
        if x > xe {
            std::mem::swap(&mut x, &mut xe);
            std::mem::swap(&mut y, &mut ye);
        }
        // vertical
        if x.floor() == xe.floor() || (x - xe).abs() < 0.01 {
            if intersect_only && (x - x.round()).abs() < EPS && (xe - xe.round()).abs() < EPS {
                continue;
            }
            if ye < y {
                std::mem::swap(&mut y, &mut ye);
            }
            let ix = xe.floor() as i64;
            let iy = (y.floor() as i64).max(0);
            let iye = ((ye - EPS).floor() as i64).min(height as i64 - 1);
            if ix < 0 || ix >= width as i64 {
                continue;
            }
            for yy in iy..=iye {
                burn(ix, yy);
            }
            continue;
        }
        // horizontal
        if y.floor() == ye.floor() || (y - ye).abs() < 0.01 {
            if intersect_only && (y - y.round()).abs() < EPS && (ye - ye.round()).abs() < EPS {
                continue;
            }
            let iy = y.floor() as i64;
            let ix = (x.floor() as i64).max(0);
            let ixe = ((xe - EPS).floor() as i64).min(width as i64 - 1);
            if iy < 0 || iy >= height as i64 {
                continue;
            }
            for xx in ix..=ixe {
                burn(xx, iy);
            }
            continue;
        }
        // general case, left to right
        let slope = (ye - y) / (xe - x);
        if xe > w {
            ye -= (xe - w) * slope;
            xe = w;
        }
        if x < 0.0 {
            y += (0.0 - x) * slope;
            x = 0.0;
        }
        if ye > y {
            if y < 0.0 {
                x += (0.0 - y) / slope;
                y = 0.0;
            }
            if ye >= h {
                xe += (ye - h) / slope;
            }
        } else {
            if y >= h {
                x += (h - y) / slope;
                y = h;
            }
            if ye < 0.0 {
                xe -= ye / slope;
            }
        }
        let mut guard = 0usize;
        while x >= 0.0 && x < xe && guard < 4 * (width + height) + 16 {
            guard += 1;
            let ix = x.floor() as i64;
            let iy = y.floor() as i64;
            if iy >= 0 && iy < height as i64 {
                burn(ix, iy);
            }
            let mut step_x = (x + 1.0).floor() - x;
            let mut step_y = step_x * slope;
            if (y + step_y).floor() as i64 == iy {
                x += step_x;
                y += step_y;
            } else if slope < 0.0 {
                step_y = iy as f64 - y;
                if step_y > -1e-9 {
                    step_y = -1e-9;
                }
                step_x = step_y / slope;
                x += step_x;
                y += step_y;
            } else {
                step_y = (iy + 1) as f64 - y;
                if step_y < 1e-9 {
                    step_y = 1e-9;
                }
                step_x = step_y / slope;
                x += step_x;
                y += step_y;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(rings: &[&[(f64, f64)]], w: usize, h: usize, all_touched: bool) -> Vec<u8> {
        let mut out = vec![0u8; w * h];
        if all_touched {
            for r in rings {
                line_all_touched(r, w, h, &mut out, 1, true);
            }
        }
        fill_polygon(rings, w, h, &mut out, 1);
        out
    }

    #[test]
    fn square_on_pixel_edges_burns_exactly_its_pixels() {
        // 2..5 x 1..3: centres at 2.5, 3.5, 4.5 x 1.5, 2.5 -> 3 x 2 pixels, both rules
        let sq = [(2.0, 1.0), (5.0, 1.0), (5.0, 3.0), (2.0, 3.0), (2.0, 1.0)];
        for at in [false, true] {
            let out = render(&[&sq], 8, 5, at);
            let burned: Vec<(usize, usize)> = (0..40)
                .filter(|&i| out[i] == 1)
                .map(|i| (i % 8, i / 8))
                .collect();
            assert_eq!(
                burned,
                vec![(2, 1), (3, 1), (4, 1), (2, 2), (3, 2), (4, 2)],
                "all_touched {at}"
            );
        }
    }

    #[test]
    fn hole_stays_empty() {
        let outer = [(0.0, 0.0), (6.0, 0.0), (6.0, 6.0), (0.0, 6.0), (0.0, 0.0)];
        let hole = [(2.0, 2.0), (4.0, 2.0), (4.0, 4.0), (2.0, 4.0), (2.0, 2.0)];
        let out = render(&[&outer, &hole], 6, 6, false);
        assert_eq!(out.iter().filter(|&&v| v == 1).count(), 36 - 4);
        assert_eq!(out[3 * 6 + 3], 0);
    }

    #[test]
    fn small_triangle_centre_vs_all_touched() {
        // a triangle inside pixel (1, 1) not covering its centre
        let tri = [(1.1, 1.1), (1.4, 1.1), (1.1, 1.4), (1.1, 1.1)];
        assert_eq!(render(&[&tri], 4, 4, false).iter().sum::<u8>(), 0);
        let at = render(&[&tri], 4, 4, true);
        assert_eq!(at.iter().map(|&v| v as usize).sum::<usize>(), 1);
        assert_eq!(at[5], 1);
    }

    #[test]
    fn polygon_outside_or_degenerate_is_harmless() {
        let far = [
            (-100.0, -100.0),
            (-50.0, -100.0),
            (-50.0, -50.0),
            (-100.0, -100.0),
        ];
        let nan = [(f64::NAN, 0.0), (1.0, 1.0), (0.0, 1.0)];
        assert_eq!(render(&[&far], 4, 4, true).iter().sum::<u8>(), 0);
        let _ = render(&[&nan], 4, 4, true);
        let _ = render(&[&[]], 4, 4, true);
    }
}
