//! Change maps between two class maps of the same grid (e.g. 2016 and 2020).
//!
//! Each pixel of a change map holds the code `from * K + to` of its transition (`K` classes,
//! so at most 15 classes fit in a byte), or 255 where either map is 255 (nodata). Unchanged
//! pixels have codes `c * K + c`. [`TransitionCounts`] tallies the transitions and turns them
//! into areas in hectares from the pixel area of the geotransform.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metrics::IGNORE_LABEL;

/// The byte code of the transition `from -> to` among `num_classes` classes.
///
/// # Panics
/// If a class is `>= num_classes` or `num_classes > 15`.
pub fn change_code(from: u8, to: u8, num_classes: usize) -> u8 {
    assert!(
        num_classes <= 15,
        "change maps support at most 15 classes, got {num_classes}"
    );
    assert!(
        (from as usize) < num_classes && (to as usize) < num_classes,
        "class out of range"
    );
    from * num_classes as u8 + to
}

/// The `(from, to)` classes of a change code, or `None` for 255/invalid codes.
pub fn decode_change(code: u8, num_classes: usize) -> Option<(u8, u8)> {
    let k = num_classes as u16;
    (code != IGNORE_LABEL && (code as u16) < k * k)
        .then(|| ((code as u16 / k) as u8, (code as u16 % k) as u8))
}

/// Transition counts between two class maps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionCounts {
    num_classes: usize,
    /// `counts[from * K + to]`.
    counts: Vec<u64>,
    /// Pixels where either map is nodata (255) or not a class.
    nodata: u64,
}

impl TransitionCounts {
    /// Zero counts for `num_classes` classes.
    ///
    /// # Errors
    /// [`Error::TooManyClasses`] if `num_classes > 15` or 0.
    pub fn new(num_classes: usize) -> Result<Self> {
        if num_classes == 0 || num_classes > 15 {
            return Err(Error::TooManyClasses {
                classes: num_classes,
            });
        }
        Ok(Self {
            num_classes,
            counts: vec![0; num_classes * num_classes],
            nodata: 0,
        })
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Pixels of transition `from -> to`.
    ///
    /// # Panics
    /// If a class is out of range.
    pub fn get(&self, from: usize, to: usize) -> u64 {
        self.counts[from * self.num_classes + to]
    }

    /// Pixels skipped because either map had no class there.
    pub fn nodata(&self) -> u64 {
        self.nodata
    }

    /// Computes the change codes of a block of pixels into `out` and counts them.
    ///
    /// # Panics
    /// If the three slices have different lengths.
    pub fn encode(&mut self, before: &[u8], after: &[u8], out: &mut [u8]) {
        assert!(
            before.len() == after.len() && after.len() == out.len(),
            "before ({}), after ({}) and output ({}) lengths differ",
            before.len(),
            after.len(),
            out.len()
        );
        let k = self.num_classes;
        for ((&a, &b), o) in before.iter().zip(after).zip(out.iter_mut()) {
            if (a as usize) < k && (b as usize) < k {
                let code = a as usize * k + b as usize;
                self.counts[code] += 1;
                *o = code as u8;
            } else {
                self.nodata += 1;
                *o = IGNORE_LABEL;
            }
        }
    }

    /// One row per transition that occurs (unchanged ones included), sorted by decreasing area,
    /// with areas from `pixel_area_m2` (square metres per pixel).
    pub fn area_table(&self, pixel_area_m2: f64, class_names: &[String]) -> Vec<TransitionArea> {
        let k = self.num_classes;
        let name = |c: usize| {
            class_names
                .get(c)
                .cloned()
                .unwrap_or_else(|| format!("class {c}"))
        };
        let mut rows: Vec<TransitionArea> = (0..k * k)
            .filter(|&i| self.counts[i] > 0)
            .map(|i| {
                let (from, to) = (i / k, i % k);
                TransitionArea {
                    code: i as u8,
                    from,
                    to,
                    from_name: name(from),
                    to_name: name(to),
                    changed: from != to,
                    pixels: self.counts[i],
                    hectares: self.counts[i] as f64 * pixel_area_m2 / 10_000.0,
                }
            })
            .collect();
        rows.sort_by(|a, b| b.pixels.cmp(&a.pixels).then(a.code.cmp(&b.code)));
        rows
    }
}

/// Area of one transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionArea {
    /// Change-map code `from * K + to`.
    pub code: u8,
    /// Class before.
    pub from: usize,
    /// Class after.
    pub to: usize,
    /// Name of the class before.
    pub from_name: String,
    /// Name of the class after.
    pub to_name: String,
    /// Whether the class changed.
    pub changed: bool,
    /// Pixels.
    pub pixels: u64,
    /// Area in hectares.
    pub hectares: f64,
}

/// The area table as CSV: `code,from,to,changed,pixels,hectares`.
pub fn area_table_csv(rows: &[TransitionArea]) -> String {
    let mut s = String::from("code,from,to,changed,pixels,hectares\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{:.4}",
            r.code,
            csv_field(&r.from_name),
            csv_field(&r.to_name),
            r.changed,
            r.pixels,
            r.hectares
        );
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Pixel area in square metres of a geotransform `[x0, a, b, y0, d, e]` (GDAL order):
/// `|a * e - b * d|`.
pub fn pixel_area_m2(geotransform: &[f64; 6]) -> f64 {
    (geotransform[1] * geotransform[5] - geotransform[2] * geotransform[4]).abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_areas() {
        let mut t = TransitionCounts::new(3).expect("3 classes");
        let before = [0u8, 0, 1, 2, 255, 1, 0];
        let after = [0u8, 1, 1, 0, 2, 2, 1];
        let mut out = [0u8; 7];
        t.encode(&before, &after, &mut out);
        assert_eq!(out, [0, 1, 4, 6, 255, 5, 1]);
        assert_eq!(t.get(0, 1), 2);
        assert_eq!(t.nodata(), 1);
        assert_eq!(decode_change(5, 3), Some((1, 2)));
        assert_eq!(decode_change(255, 3), None);
        // 10 m pixels = 100 m2 = 0.01 ha.
        let area = pixel_area_m2(&[500000.0, 10.0, 0.0, 1800000.0, 0.0, -10.0]);
        assert_eq!(area, 100.0);
        let names: Vec<String> = ["water", "building", "veg"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rows = t.area_table(area, &names);
        assert_eq!(rows[0].from_name, "water");
        assert_eq!(rows[0].to_name, "building");
        assert!((rows[0].hectares - 0.02).abs() < 1e-12);
        let total: f64 = rows.iter().map(|r| r.hectares).sum();
        assert!((total - 0.06).abs() < 1e-12);
        let csv = area_table_csv(&rows);
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("1,water,building,true,2,0.0200")
        );
    }

    #[test]
    fn too_many_classes() {
        assert!(matches!(
            TransitionCounts::new(16),
            Err(Error::TooManyClasses { classes: 16 })
        ));
    }
}
