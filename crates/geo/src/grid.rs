//! A georeferenced pixel grid: what rasterization and resampling target.

use crate::geotransform::GeoTransform;
use crate::window::Window;

/// A georeferenced pixel grid: `width x height` pixels placed by `geotransform` in the CRS
/// `epsg` (`None`: unknown CRS, coordinates are taken as already in the grid's CRS).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Grid {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Pixel -> world transform.
    pub geotransform: GeoTransform,
    /// EPSG code of the world coordinates.
    pub epsg: Option<u32>,
}

impl Grid {
    /// The sub-grid covered by `window` (same CRS and pixel size).
    ///
    /// # Examples
    /// ```
    /// use chronomap_geo::{GeoTransform, Grid, Window};
    /// let g = Grid { width: 100, height: 100, geotransform: GeoTransform::north_up(0.0, 0.0, 10.0), epsg: Some(32628) };
    /// let sub = g.window(&Window::new(10, 20, 5, 5));
    /// assert_eq!(sub.geotransform.0[0], 100.0);
    /// assert_eq!(sub.geotransform.0[3], -200.0);
    /// ```
    pub fn window(&self, window: &Window) -> Grid {
        Grid {
            width: window.width,
            height: window.height,
            geotransform: self.geotransform.for_window(window),
            epsg: self.epsg,
        }
    }
}
