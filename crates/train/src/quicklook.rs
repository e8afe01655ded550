//! PNG quicklooks of prediction outputs: class maps with a legend, change maps, RGB composites.
//! Large rasters are subsampled (nearest pixel) to at most `max_side` pixels per side while
//! being read in strips, so a 10980 x 10980 map never has to fit in memory.

use std::path::Path;

use chronomap_data::SceneSeries;
use chronomap_geo::quicklook::{
    LegendEntry, class_colors, colorize, percentile_stretch, with_legend, write_rgb_png,
};
use chronomap_geo::{ClassTable, GeoTiffReader, Window};

use crate::change::decode_change;
use crate::error::Result;
use crate::maps::ChangeReport;
use crate::metrics::IGNORE_LABEL;

/// Default longest side of quicklooks.
pub const QUICKLOOK_SIDE: usize = 1024;

/// Colours of classes by name: the colour of the class of the same name in chronomap's default
/// OSM class table (background, building, road, water, vegetation, ...), else a distinct one.
pub fn class_palette(names: &[String], num_classes: usize) -> Vec<[u8; 3]> {
    let table = ClassTable::default();
    let fallback = class_colors(&ClassTable {
        classes: Vec::new(),
        rules: Vec::new(),
    });
    (0..num_classes)
        .map(|i| {
            names
                .get(i)
                .and_then(|n| {
                    table
                        .classes
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(n))
                })
                .map(|c| c.color)
                .unwrap_or(fallback[i + 1])
        })
        .collect()
}

/// Reads band 0 of a u8 raster subsampled by `step` (strips of rows, bounded memory).
fn read_subsampled(r: &GeoTiffReader, step: usize) -> Result<(Vec<u8>, usize, usize)> {
    let (w, h) = (r.info().width, r.info().height);
    let (ow, oh) = (w.div_ceil(step), h.div_ceil(step));
    let mut out = Vec::with_capacity(ow * oh);
    for oy in 0..oh {
        let row = r.read_window_u8(Window::new(0, oy * step, w, 1), &[0])?;
        out.extend(row.iter().step_by(step));
    }
    Ok((out, ow, oh))
}

fn step_for(w: usize, h: usize, max_side: usize) -> usize {
    w.max(h).div_ceil(max_side.max(1)).max(1)
}

/// Writes a PNG of a class GeoTIFF with a legend of the classes present.
///
/// # Errors
/// Read/write errors naming the file.
pub fn class_map_png(
    tif: &Path,
    png: &Path,
    names: &[String],
    num_classes: usize,
    max_side: usize,
) -> Result<()> {
    let r = GeoTiffReader::open(tif)?;
    let step = step_for(r.info().width, r.info().height, max_side);
    let (classes, w, h) = read_subsampled(&r, step)?;
    let pal = class_palette(names, num_classes);
    let mut colors = vec![[0u8; 3]; 256];
    colors[..pal.len()].copy_from_slice(&pal);
    let rgb = colorize(&classes, &colors);
    let mut present = [false; 256];
    classes.iter().for_each(|&c| present[c as usize] = true);
    let mut entries: Vec<LegendEntry> = (0..num_classes)
        .filter(|&i| present[i])
        .map(|i| LegendEntry {
            name: names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("class {i}")),
            color: pal[i],
        })
        .collect();
    if present[IGNORE_LABEL as usize] {
        entries.push(LegendEntry {
            name: "no data".into(),
            color: [0, 0, 0],
        });
    }
    let (img, ow, oh) = with_legend(w, h, &rgb, &entries);
    write_rgb_png(png, ow, oh, &img)?;
    Ok(())
}

/// Writes a PNG of a change map: unchanged pixels in a pale version of their class colour,
/// changed pixels in the colour of the class they became, with a legend of the largest
/// transitions.
///
/// # Errors
/// Read/write errors naming the file.
pub fn change_quicklook(
    report: &ChangeReport,
    num_classes: usize,
    names: &[String],
    png: &Path,
) -> Result<()> {
    let r = GeoTiffReader::open(&report.map)?;
    let step = step_for(r.info().width, r.info().height, QUICKLOOK_SIDE);
    let (codes, w, h) = read_subsampled(&r, step)?;
    let pal = class_palette(names, num_classes);
    let pale = |c: [u8; 3]| c.map(|v| ((v as u16 + 3 * 235) / 4) as u8);
    let mut colors = vec![[0u8; 3]; 256];
    for (code, col) in colors.iter_mut().enumerate() {
        if let Some((from, to)) = decode_change(code as u8, num_classes) {
            *col = if from == to {
                pale(pal[from as usize])
            } else {
                pal[to as usize]
            };
        }
    }
    let rgb = colorize(&codes, &colors);
    let name = |i: usize| {
        names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("class {i}"))
    };
    let mut entries: Vec<LegendEntry> = report
        .table
        .iter()
        .filter(|t| t.changed)
        .take(8)
        .map(|t| LegendEntry {
            name: format!("{} -> {} {:.1} ha", name(t.from), name(t.to), t.hectares),
            color: pal[t.to],
        })
        .collect();
    entries.push(LegendEntry {
        name: "unchanged (pale)".into(),
        color: [225, 225, 225],
    });
    let (img, ow, oh) = with_legend(w, h, &rgb, &entries);
    write_rgb_png(png, ow, oh, &img)?;
    Ok(())
}

/// Writes a stretched RGB composite PNG of date `date` of a series, using bands
/// `rgb` (indices into the series' bands, e.g. B4, B3, B2).
///
/// # Errors
/// Read/write errors naming the file.
pub fn rgb_png(
    series: &SceneSeries,
    date: usize,
    rgb: [usize; 3],
    png: &Path,
    max_side: usize,
) -> Result<()> {
    let (w, h) = (series.width(), series.height());
    let step = step_for(w, h, max_side);
    let (ow, oh) = (w.div_ceil(step), h.div_ceil(step));
    let mut bands: [Vec<f32>; 3] = std::array::from_fn(|_| Vec::with_capacity(ow * oh));
    let c = series.bands().len();
    for oy in 0..oh {
        let img = series.read_image(date, Window::new(0, oy * step, w, 1))?;
        for (k, &b) in rgb.iter().enumerate() {
            let b = b.min(c - 1);
            bands[k].extend(img[b * w..(b + 1) * w].iter().step_by(step));
        }
    }
    let s: Vec<Vec<u8>> = bands
        .iter()
        .map(|b| percentile_stretch(b, None, 2.0, 98.0))
        .collect();
    let mut out = Vec::with_capacity(ow * oh * 3);
    for ((r, g), b) in s[0].iter().zip(&s[1]).zip(&s[2]) {
        out.extend_from_slice(&[*r, *g, *b]);
    }
    write_rgb_png(png, ow, oh, &out)?;
    Ok(())
}

/// Indices of the red, green and blue bands among `bands` (Sentinel-2 `B4`/`B04`, `B3`,
/// `B2`, or names containing red/green/blue), defaulting to the first three.
pub fn rgb_bands(bands: &[String]) -> [usize; 3] {
    let find = |keys: &[&str], default: usize| {
        let exact = bands
            .iter()
            .position(|b| keys.iter().any(|k| b.eq_ignore_ascii_case(k)));
        let loose = || {
            bands.iter().position(|b| {
                let b = b.to_lowercase();
                keys.iter()
                    .any(|k| k.len() > 3 && b.contains(&k.to_lowercase()))
            })
        };
        exact
            .or_else(loose)
            .unwrap_or(default.min(bands.len().saturating_sub(1)))
    };
    [
        find(&["B4", "B04", "red"], 2),
        find(&["B3", "B03", "green"], 1),
        find(&["B2", "B02", "blue"], 0),
    ]
}
