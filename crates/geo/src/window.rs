//! Rectangular pixel windows.

/// A rectangle of pixels: `width x height` pixels whose top-left pixel is (`col`, `row`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Window {
    /// Column of the left-most pixel (0-based).
    pub col: usize,
    /// Row of the top pixel (0-based).
    pub row: usize,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl Window {
    /// A window from its top-left pixel and size.
    pub fn new(col: usize, row: usize, width: usize, height: usize) -> Self {
        Window {
            col,
            row,
            width,
            height,
        }
    }

    /// The whole of a `width x height` raster.
    pub fn full(width: usize, height: usize) -> Self {
        Window {
            col: 0,
            row: 0,
            width,
            height,
        }
    }

    /// Number of pixels.
    pub fn area(&self) -> usize {
        self.width * self.height
    }

    /// Whether the window is non-empty and lies inside a `width x height` raster.
    ///
    /// # Examples
    /// ```
    /// use chronomap_geo::Window;
    /// assert!(Window::new(0, 0, 16, 16).fits_in(16, 16));
    /// assert!(!Window::new(8, 0, 16, 16).fits_in(16, 16));
    /// assert!(!Window::new(0, 0, 0, 16).fits_in(16, 16));
    /// ```
    pub fn fits_in(&self, width: usize, height: usize) -> bool {
        self.width > 0
            && self.height > 0
            && self
                .col
                .checked_add(self.width)
                .is_some_and(|end| end <= width)
            && self
                .row
                .checked_add(self.height)
                .is_some_and(|end| end <= height)
    }

    /// The part of `self` that overlaps `other`, if any.
    pub fn intersection(&self, other: &Window) -> Option<Window> {
        let c0 = self.col.max(other.col);
        let r0 = self.row.max(other.row);
        let c1 = (self.col + self.width).min(other.col + other.width);
        let r1 = (self.row + self.height).min(other.row + other.height);
        (c1 > c0 && r1 > r0).then(|| Window::new(c0, r0, c1 - c0, r1 - r0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_cases() {
        let a = Window::new(0, 0, 10, 10);
        assert_eq!(
            a.intersection(&Window::new(5, 5, 10, 10)),
            Some(Window::new(5, 5, 5, 5))
        );
        assert_eq!(a.intersection(&Window::new(10, 0, 5, 5)), None);
    }

    #[test]
    fn fits_in_rejects_overflow() {
        assert!(!Window::new(usize::MAX, 0, 2, 1).fits_in(10, 10));
    }
}
