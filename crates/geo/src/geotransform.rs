//! Affine pixel <-> world transforms in GDAL's convention.

use crate::window::Window;

/// Affine transform from pixel to world coordinates, in GDAL order
/// `[x0, dx, rx, y0, ry, dy]`:
///
/// ```text
/// x = x0 + col * dx + row * rx
/// y = y0 + col * ry + row * dy
/// ```
///
/// `(col, row)` are continuous pixel coordinates: `(0, 0)` is the top-left *corner* of the
/// top-left pixel and `(0.5, 0.5)` its centre (GDAL's "pixel is area" convention). For a
/// north-up image `rx = ry = 0` and `dy < 0`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeoTransform(pub [f64; 6]);

impl GeoTransform {
    /// A north-up transform with square pixels of `pixel_size` world units whose top-left
    /// corner is at (`x0`, `y0`).
    ///
    /// # Examples
    /// ```
    /// use chronomap_geo::GeoTransform;
    /// let gt = GeoTransform::north_up(300_000.0, 1_800_000.0, 10.0);
    /// assert_eq!(gt.0, [300_000.0, 10.0, 0.0, 1_800_000.0, 0.0, -10.0]);
    /// assert_eq!(gt.pixel_to_world(1.0, 2.0), (300_010.0, 1_799_980.0));
    /// ```
    pub fn north_up(x0: f64, y0: f64, pixel_size: f64) -> Self {
        GeoTransform([x0, pixel_size, 0.0, y0, 0.0, -pixel_size])
    }

    /// World coordinates of continuous pixel coordinates (`col`, `row`).
    ///
    /// # Examples
    /// ```
    /// use chronomap_geo::GeoTransform;
    /// let gt = GeoTransform::north_up(0.0, 100.0, 2.0);
    /// // centre of pixel (0, 0)
    /// assert_eq!(gt.pixel_to_world(0.5, 0.5), (1.0, 99.0));
    /// ```
    pub fn pixel_to_world(&self, col: f64, row: f64) -> (f64, f64) {
        let [x0, dx, rx, y0, ry, dy] = self.0;
        (x0 + col * dx + row * rx, y0 + col * ry + row * dy)
    }

    /// Continuous pixel coordinates of world point (`x`, `y`); `None` when the transform is
    /// singular (zero pixel size) or not finite.
    ///
    /// # Examples
    /// ```
    /// use chronomap_geo::GeoTransform;
    /// let gt = GeoTransform::north_up(0.0, 100.0, 2.0);
    /// assert_eq!(gt.world_to_pixel(1.0, 99.0), Some((0.5, 0.5)));
    /// assert_eq!(GeoTransform([0.0; 6]).world_to_pixel(1.0, 1.0), None);
    /// ```
    pub fn world_to_pixel(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let [x0, dx, rx, y0, ry, dy] = self.0;
        let det = dx * dy - rx * ry;
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let (u, v) = (x - x0, y - y0);
        let col = (u * dy - v * rx) / det;
        let row = (v * dx - u * ry) / det;
        (col.is_finite() && row.is_finite()).then_some((col, row))
    }

    /// Whether the transform has no rotation terms (`rx == ry == 0`).
    pub fn is_north_up(&self) -> bool {
        self.0[2] == 0.0 && self.0[4] == 0.0
    }

    /// Ground size of a pixel: the lengths of its column and row edges in world units
    /// (`(|dx|, |dy|)` for a north-up transform).
    pub fn pixel_size(&self) -> (f64, f64) {
        let [_, dx, rx, _, ry, dy] = self.0;
        (dx.hypot(ry), rx.hypot(dy))
    }

    /// The transform of a sub-window: pixel (0, 0) of the result is pixel (`window.col`,
    /// `window.row`) of `self`.
    ///
    /// # Examples
    /// ```
    /// use chronomap_geo::{GeoTransform, Window};
    /// let gt = GeoTransform::north_up(0.0, 100.0, 2.0);
    /// let sub = gt.for_window(&Window::new(3, 4, 8, 8));
    /// assert_eq!(sub.pixel_to_world(0.0, 0.0), gt.pixel_to_world(3.0, 4.0));
    /// ```
    pub fn for_window(&self, window: &Window) -> GeoTransform {
        let (x, y) = self.pixel_to_world(window.col as f64, window.row as f64);
        let [_, dx, rx, _, ry, dy] = self.0;
        GeoTransform([x, dx, rx, y, ry, dy])
    }

    /// World bounding box `(min_x, min_y, max_x, max_y)` of a `width x height` raster.
    pub fn bounds(&self, width: usize, height: usize) -> (f64, f64, f64, f64) {
        let (w, h) = (width as f64, height as f64);
        let corners = [
            self.pixel_to_world(0.0, 0.0),
            self.pixel_to_world(w, 0.0),
            self.pixel_to_world(0.0, h),
            self.pixel_to_world(w, h),
        ];
        let mut b = (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        );
        for (x, y) in corners {
            b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// world_to_pixel(pixel_to_world(p)) == p for well-conditioned transforms, including
        /// rotated and south-up ones.
        #[test]
        fn pixel_world_round_trip(
            x0 in -1e7f64..1e7, y0 in -1e7f64..1e7,
            dx in 0.01f64..1000.0, dy in -1000.0f64..-0.01,
            rot in -0.3f64..0.3, flip in any::<bool>(),
            col in -1e4f64..1e5, row in -1e4f64..1e5,
        ) {
            let dy = if flip { -dy } else { dy };
            let gt = GeoTransform([x0, dx, rot * dx, y0, rot * dy.abs(), dy]);
            let (x, y) = gt.pixel_to_world(col, row);
            let (c, r) = gt.world_to_pixel(x, y).unwrap();
            // tolerance: world coordinates are ~1e7 with f64 eps 2e-16 -> ~2e-9 world units,
            // divided by a pixel size >= 0.01 -> < 1e-6 pixel
            prop_assert!((c - col).abs() < 1e-5, "col {col} -> {c}");
            prop_assert!((r - row).abs() < 1e-5, "row {row} -> {r}");
        }
    }

    #[test]
    fn rotated_inverse_by_hand() {
        // x = 10 + 2c + 1r, y = 20 + 1c - 2r; det = 2*-2 - 1*1 = -5.
        // (c, r) = (1, 1) -> (13, 19)
        let gt = GeoTransform([10.0, 2.0, 1.0, 20.0, 1.0, -2.0]);
        assert_eq!(gt.pixel_to_world(1.0, 1.0), (13.0, 19.0));
        let (c, r) = gt.world_to_pixel(13.0, 19.0).unwrap();
        assert!((c - 1.0).abs() < 1e-12 && (r - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bounds_of_north_up() {
        let gt = GeoTransform::north_up(100.0, 200.0, 10.0);
        assert_eq!(gt.bounds(3, 2), (100.0, 180.0, 130.0, 200.0));
        assert_eq!(gt.pixel_size(), (10.0, 10.0));
    }
}
