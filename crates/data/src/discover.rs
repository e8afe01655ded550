//! Building a [`Manifest`] from the file names of a folder (see [`Manifest::discover`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chronomap_geo::GeoTiffReader;

use crate::date::Date;
use crate::error::{Error, ManifestProblem, Result};
use crate::manifest::{DateEntry, LabelEntry, MANIFEST_VERSION, Manifest, MaskEntry};

/// Sentinel-2 SCL values that are not clear ground: no data, saturated, cloud shadow, cloud
/// medium / high probability, thin cirrus.
const SCL_INVALID: [u32; 6] = [0, 1, 3, 8, 9, 10];

/// A band token such as `B02`, `B8A`, `b4` between separators: returns `B2`, `B8A`, `B4`.
fn band_token(stem: &str) -> Option<String> {
    stem.split(['_', '-', '.', ' '])
        .filter_map(|tok| {
            let t = tok.to_ascii_uppercase();
            let rest = t.strip_prefix('B')?;
            let (digits, suffix) = match rest.strip_suffix('A') {
                Some(d) => (d, "A"),
                None => (rest, ""),
            };
            if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let n: u32 = digits.parse().ok()?;
            Some(format!("B{n}{suffix}"))
        })
        .next()
}

/// Sort key of a band name: number, then the `A` suffix after it.
fn band_order(name: &str) -> (u32, bool, String) {
    let rest = name.strip_prefix('B').unwrap_or(name);
    let a = rest.ends_with('A');
    let n = rest.trim_end_matches('A').parse().unwrap_or(u32::MAX);
    (n, a, name.to_string())
}

/// A 4-digit year (1900-2199) not part of a longer digit run.
fn find_year(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let is_d = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_digit());
    (0..b.len().saturating_sub(3)).find_map(|i| {
        let ok = (0..4).all(|k| is_d(i + k)) && !(i > 0 && is_d(i - 1)) && !is_d(i + 4);
        let y: i32 = if ok {
            s.get(i..i + 4)?.parse().ok()?
        } else {
            return None;
        };
        (1900..2200).contains(&y).then_some(y)
    })
}

pub(crate) fn discover(dir: &Path) -> Result<Manifest> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let p = e.path();
        let ext = p
            .extension()
            .and_then(|x| x.to_str())
            .map(str::to_ascii_lowercase);
        if p.is_file() && matches!(ext.as_deref(), Some("tif" | "tiff")) {
            files.push(p);
        }
    }
    files.sort();
    let mut images: BTreeMap<Date, Vec<(Option<String>, PathBuf)>> = BTreeMap::new();
    let mut masks: BTreeMap<Date, (PathBuf, bool)> = BTreeMap::new();
    let mut date_labels: BTreeMap<Date, PathBuf> = BTreeMap::new();
    let mut year_labels: BTreeMap<i32, PathBuf> = BTreeMap::new();
    let mut truths: BTreeMap<i32, PathBuf> = BTreeMap::new();
    for p in files {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let stem = name
            .rsplit_once('.')
            .map_or(name.as_str(), |(s, _)| s)
            .to_ascii_lowercase();
        let rel = PathBuf::from(&name);
        let date = Date::find_in(&stem);
        if stem.contains("truth") {
            if let Some(y) = date.map(|d| d.year).or_else(|| find_year(&stem)) {
                truths.entry(y).or_insert(rel);
            }
        } else if stem.contains("label") {
            match date {
                Some(d) => {
                    date_labels.insert(d, rel);
                }
                None => {
                    if let Some(y) = find_year(&stem) {
                        year_labels.entry(y).or_insert(rel);
                    }
                }
            }
        } else if ["cloud", "mask", "fmask", "scl"]
            .iter()
            .any(|k| stem.contains(k))
        {
            if let Some(d) = date {
                masks.entry(d).or_insert((rel, stem.contains("scl")));
            }
        } else if let Some(d) = date {
            images.entry(d).or_default().push((band_token(&stem), rel));
        }
    }
    if images.is_empty() {
        return Err(Error::manifest(dir, ManifestProblem::NoDates));
    }
    // Per-band when any image file carries a band token.
    let per_band = images.values().flatten().any(|(b, _)| b.is_some());
    let bands: Vec<String> = if per_band {
        let mut names: Vec<String> = images
            .values()
            .flatten()
            .filter_map(|(b, _)| b.clone())
            .collect();
        names.sort_by_key(|n| band_order(n));
        names.dedup();
        names
    } else {
        let first = &images.values().next().expect("non-empty")[0].1;
        let reader = GeoTiffReader::open(dir.join(first))?;
        reader
            .info()
            .band_descriptions
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or(format!("band{}", i + 1))
            })
            .collect()
    };
    // Labels of dates without images are attached to their year instead.
    for (d, p) in std::mem::take(&mut date_labels) {
        if images.contains_key(&d) {
            date_labels.insert(d, p);
        } else {
            year_labels.entry(d.year).or_insert(p);
        }
    }
    let mut dates = Vec::new();
    for (d, files) in &images {
        let ds = d.to_string();
        let (image, band_files) = if per_band {
            let mut map = BTreeMap::new();
            for (b, p) in files {
                if let Some(b) = b {
                    map.entry(b.clone()).or_insert(p.clone());
                }
            }
            if let Some(missing) = bands.iter().find(|b| !map.contains_key(*b)) {
                return Err(Error::manifest(
                    dir,
                    ManifestProblem::MissingBand {
                        date: ds,
                        band: missing.clone(),
                    },
                ));
            }
            (None, Some(map))
        } else {
            (Some(files[0].1.clone()), None)
        };
        dates.push(DateEntry {
            date: ds,
            image,
            bands: band_files,
            mask: masks.get(d).map(|(p, scl)| {
                if *scl {
                    MaskEntry::Values {
                        path: p.clone(),
                        invalid: Some(SCL_INVALID.to_vec()),
                        valid: None,
                        bits: None,
                    }
                } else {
                    MaskEntry::Path(p.clone())
                }
            }),
            labels: date_labels.get(d).cloned(),
            add_offset: None,
            scale: None,
            meta: None,
        });
    }
    Ok(Manifest {
        version: MANIFEST_VERSION,
        bands,
        nodata: None,
        classes: Vec::new(),
        dates,
        labels: year_labels
            .into_iter()
            .map(|(year, path)| LabelEntry { year, path })
            .collect(),
        ground_truth: truths
            .into_iter()
            .map(|(year, path)| LabelEntry { year, path })
            .collect(),
        meta: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_tokens() {
        assert_eq!(
            band_token("t28qcd_20200115t112451_b02_10m").as_deref(),
            Some("B2")
        );
        assert_eq!(band_token("x_B8A").as_deref(), Some("B8A"));
        assert_eq!(band_token("s2_20160112").as_deref(), None);
        assert_eq!(band_token("bands_b123").as_deref(), None);
        let mut v = vec!["B8A".to_string(), "B11".into(), "B2".into(), "B8".into()];
        v.sort_by_key(|n| band_order(n));
        assert_eq!(v, ["B2", "B8", "B8A", "B11"]);
    }

    #[test]
    fn years() {
        assert_eq!(find_year("labels_2016"), Some(2016));
        assert_eq!(find_year("labels_20161"), None);
        assert_eq!(find_year("osm_1234"), None);
    }
}
