//! The per-date radiometric model of the synthetic world (documented with its constants in
//! `docs/synthetic-world.md`): the ground's reflectance (with a seasonal vegetation cycle),
//! illumination gain from the sun's elevation, blue-heavy haze, clouds whose shadows are
//! displaced along the sun azimuth, sensor noise, and UInt16 quantization (reflectance x
//! 10000, 0 = nodata).

use rayon::prelude::*;
use serde::Serialize;

use crate::date::Date;
use crate::rng::{hash4, mix64, unit_f64};
use crate::synth::landscape::{Landscape, MATERIALS, Material};
use crate::synth::math::{CoarseField, PI, asin, bump, cos, radians, sin, smoothstep};

/// Latitude of the scene centre, degrees.
pub(crate) const LATITUDE_DEG: f64 = 16.03;
/// Hour angle of the overpass (10:30 local solar time, Sentinel-2's descending node), degrees.
pub(crate) const HOUR_ANGLE_DEG: f64 = -22.5;
/// Pixel size, metres.
pub(crate) const PIXEL_M: f64 = 10.0;

/// Reflectance spectra (B2, B3, B4, B8): `[green state, dry state]` per material. Materials
/// without a seasonal cycle have the same spectrum twice.
pub(crate) const SPECTRA: [[[f32; 4]; 2]; MATERIALS] = {
    const fn same(s: [f32; 4]) -> [[f32; 4]; 2] {
        [s, s]
    }
    [
        same([0.055, 0.045, 0.025, 0.012]), // ocean
        same([0.065, 0.075, 0.065, 0.030]), // river (turbid)
        same([0.200, 0.260, 0.320, 0.380]), // dry sand
        same([0.110, 0.140, 0.170, 0.190]), // wet sand
        same([0.090, 0.125, 0.170, 0.230]), // soil
        same([0.260, 0.270, 0.275, 0.290]), // metal roof
        same([0.150, 0.165, 0.180, 0.210]), // concrete roof
        same([0.070, 0.090, 0.160, 0.230]), // tile roof
        same([0.075, 0.085, 0.095, 0.115]), // asphalt
        same([0.130, 0.155, 0.190, 0.220]), // unpaved street
        same([0.130, 0.140, 0.150, 0.170]), // bridge deck
        [[0.030, 0.070, 0.035, 0.420], [0.100, 0.135, 0.180, 0.240]], // crop
        [[0.030, 0.065, 0.035, 0.380], [0.080, 0.105, 0.130, 0.170]], // rice
        [[0.025, 0.050, 0.030, 0.300], [0.035, 0.060, 0.045, 0.220]], // mangrove
        [[0.040, 0.080, 0.050, 0.330], [0.110, 0.140, 0.185, 0.250]], // scrub
        [[0.030, 0.060, 0.040, 0.320], [0.045, 0.075, 0.070, 0.260]], // trees
    ]
};

/// Haze weight per band (B2, B3, B4, B8): strongest in blue.
pub(crate) const HAZE_BAND: [f32; 4] = [1.0, 0.78, 0.58, 0.32];
/// Path reflectance added per unit of haze optical depth (times `HAZE_BAND`).
pub(crate) const HAZE_PATH: f32 = 0.10;
/// Transmission loss per unit of haze optical depth (times `HAZE_BAND`).
pub(crate) const HAZE_LOSS: f32 = 0.30;
/// Cloud-top reflectance (B2, B3, B4, B8) before the thickness factor.
pub(crate) const CLOUD_REFLECTANCE: [f32; 4] = [0.42, 0.41, 0.40, 0.43];
/// Fraction of direct light a full shadow removes (the rest is sky light).
pub(crate) const SHADOW_DEPTH: f32 = 0.70;
/// Opacity above which the cloud mask flags a pixel as cloud (1).
pub(crate) const MASK_CLOUD_ALPHA: f32 = 0.30;
/// Shadow strength above which the cloud mask flags a pixel as shadow (2).
pub(crate) const MASK_SHADOW: f32 = 0.30;

/// Circular distance between two days of the year.
fn day_distance(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(365.0);
    d.min(365.0 - d)
}

/// Greenness in `[0, 1]` of a vegetation material on day `doy` (calendar shifted by
/// `phase` days); 0 for other materials.
pub(crate) fn greenness(m: Material, doy: f64, phase: f64) -> f64 {
    let d = |peak: f64| day_distance(doy, peak + phase);
    match m {
        // Rain-fed crops: green in the rainy season (peak mid-September), bare soil otherwise.
        Material::Crop => bump(d(255.0), 75.0),
        // Irrigated rice: two seasons (April, October).
        Material::Rice => bump(d(105.0), 55.0).max(bump(d(285.0), 55.0)),
        // Mangrove: evergreen with a mild cycle.
        Material::Mangrove => 0.75 + 0.25 * bump(d(260.0), 150.0),
        // Scrub and grass: green only in the rainy season.
        Material::Scrub => 0.15 + 0.80 * bump(d(245.0), 85.0),
        // Trees: mostly green.
        Material::Trees => 0.60 + 0.40 * bump(d(260.0), 120.0),
        _ => 0.0,
    }
}

/// The sun's direction as a unit vector `(east, north, up)` at the overpass on day `doy`,
/// from the solar declination of Cooper (1969), `23.44 sin(2 pi (284 + doy) / 365)` degrees.
pub(crate) fn sun_vector(doy: f64, latitude_deg: f64) -> [f64; 3] {
    let decl = radians(23.44) * sin(2.0 * PI * (284.0 + doy) / 365.0);
    let (lat, ha) = (radians(latitude_deg), radians(HOUR_ANGLE_DEG));
    let east = -cos(decl) * sin(ha);
    let north = sin(decl) * cos(lat) - cos(decl) * cos(ha) * sin(lat);
    let up = sin(decl) * sin(lat) + cos(decl) * cos(ha) * cos(lat);
    [east, north, up]
}

/// Everything that makes one acquisition look different from another.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct DateConditions {
    /// Acquisition date.
    #[serde(skip)]
    pub(crate) date: Date,
    /// Index of the date in the whole series (seeds its noise).
    #[serde(skip)]
    pub(crate) index: u64,
    /// Day of the year.
    pub(crate) day_of_year: u32,
    /// Sun elevation at the overpass, degrees.
    pub(crate) sun_elevation_deg: f64,
    /// Sun azimuth, degrees clockwise from north.
    pub(crate) sun_azimuth_deg: f64,
    /// Illumination gain applied to the ground reflectance.
    pub(crate) gain: f64,
    /// Mean haze optical depth (scene average).
    pub(crate) haze: f64,
    /// Requested cloud cover fraction.
    pub(crate) cloud_cover_target: f64,
    /// Thin-cirrus opacity (0 on most dates; not flagged by the mask).
    pub(crate) cirrus: f64,
    /// Cloud base height, metres.
    pub(crate) cloud_height_m: f64,
    /// Shadow displacement from its cloud `(columns, rows)`, pixels.
    pub(crate) shadow_offset_px: [f64; 2],
    /// Greenness of rain-fed crops, rice, mangrove, scrub (no phase shift).
    pub(crate) greenness: [f64; 4],
    /// Column at which the swath's nodata edge starts on row 0 (`None`: no edge).
    pub(crate) nodata_edge_col: Option<f64>,
    /// Shift of the site's seasons (vegetation, dust, rain) from Saint-Louis', days.
    pub(crate) season_shift_days: f64,
}

/// Conditions of every date of a year. `base_index` is the index of the year's first date
/// in the series; `edge` forces a nodata edge on the year's date at that position;
/// `site` gives the latitude (sun geometry) and the shift of the seasons.
pub(crate) fn year_conditions(
    seed: u64,
    year: i32,
    n: usize,
    base_index: u64,
    size: usize,
    edge: Option<usize>,
    site: &crate::synth::world::SynthSite,
) -> Vec<DateConditions> {
    let shift = site.season_shift_days;
    let mut out: Vec<DateConditions> = (0..n)
        .map(|k| {
            let r = |j: u64| unit_f64(hash4(seed, 0xDA7E ^ year as u64, k as u64, j));
            let spacing = 365.0 / n as f64;
            let start = 15.0 + site.calendar_offset_days;
            let doy = start + k as f64 * spacing + (r(0) - 0.5) * spacing.min(20.0);
            let doy = if site.calendar_offset_days == 0.0 {
                doy
            } else {
                (doy - 1.0).rem_euclid(364.0) + 1.0
            }
            .clamp(1.0, 364.0);
            let doy = doy.round();
            let date = Date::from_day_of_year(year, doy as u32).unwrap_or(Date {
                year,
                month: 1,
                day: 1,
            });
            let doy = date.day_of_year() as f64;
            let sun = sun_vector(doy, site.latitude_deg);
            let elevation = asin(sun[2]);
            let horiz = (sun[0] * sun[0] + sun[1] * sun[1]).sqrt().max(1e-12);
            // Azimuth clockwise from north, from the horizontal direction cosine.
            let az = {
                let a = asin((sun[0] / horiz).clamp(-1.0, 1.0));
                if sun[1] >= 0.0 { a } else { PI - a }
            };
            let gain = (sun[2] / 0.85).sqrt() * (1.0 + 0.04 * (2.0 * r(1) - 1.0));
            // Harmattan dust peaks in February; some haze at any time.
            let harmattan = bump(day_distance(doy, 45.0 + shift), 75.0);
            let haze = (0.08 + 0.5 * harmattan * (0.5 + r(2)) + 0.25 * r(3)).min(1.1);
            // Clouds: more in the rainy season (peak late August).
            let wet = bump(day_distance(doy, 235.0 + shift), 70.0);
            let cloud = if r(4) < 0.3 - 0.2 * wet {
                0.0
            } else {
                0.03 + 0.37 * (0.3 + 0.7 * wet) * r(5)
            };
            let cirrus = if r(6) < 0.25 { 0.06 + 0.14 * r(7) } else { 0.0 };
            let height = 1000.0 + 1500.0 * r(8);
            let reach = height / PIXEL_M / sun[2].max(0.2);
            let shadow = [sun[0] * reach, -sun[1] * reach];
            let g = |m: Material| greenness(m, doy, shift);
            DateConditions {
                date,
                index: base_index + k as u64,
                day_of_year: doy as u32,
                sun_elevation_deg: elevation * 180.0 / PI,
                sun_azimuth_deg: (az * 180.0 / PI).rem_euclid(360.0),
                gain,
                haze,
                cloud_cover_target: cloud,
                cirrus,
                cloud_height_m: height,
                shadow_offset_px: shadow,
                greenness: [
                    g(Material::Crop),
                    g(Material::Rice),
                    g(Material::Mangrove),
                    g(Material::Scrub),
                ],
                nodata_edge_col: (edge == Some(k)).then(|| (0.80 + 0.12 * r(9)) * size as f64),
                season_shift_days: shift,
            }
        })
        .collect();
    // With several dates a year, make sure the year has a clear date and a cloudy one, so
    // that some dates are easy and some need the others.
    if n >= 3 {
        let by_cloud = |v: &Vec<DateConditions>| {
            let mut idx: Vec<usize> = (0..v.len()).collect();
            idx.sort_by(|&a, &b| v[a].cloud_cover_target.total_cmp(&v[b].cloud_cover_target));
            idx
        };
        let idx = by_cloud(&out);
        out[idx[0]].cloud_cover_target = 0.0;
        let last = idx[idx.len() - 1];
        let r = unit_f64(hash4(seed, 0xC10D ^ year as u64, 0, 0));
        out[last].cloud_cover_target = out[last].cloud_cover_target.max(0.22 + 0.15 * r);
    }
    // A shifted calendar wraps into January: keep the year's dates chronological.
    out.sort_by_key(|c| c.day_of_year);
    out
}

/// One rendered date: 4 bands of UInt16 reflectance x 10000 (0 = nodata) and a cloud mask
/// (0 clear, 1 cloud, 2 cloud shadow).
pub(crate) struct Rendered {
    /// `[4, height, width]` band-major.
    pub(crate) bands: Vec<u16>,
    /// `[height, width]`.
    pub(crate) mask: Vec<u8>,
    /// Fraction of pixels flagged 1 or 2 in the mask.
    pub(crate) masked_fraction: f64,
    /// Fraction of nodata pixels.
    pub(crate) nodata_fraction: f64,
}

/// Normal-ish deviate from 64 random bits (Irwin-Hall sum of four 16-bit uniforms, scaled to
/// unit variance).
#[inline]
fn gauss(bits: u64) -> f32 {
    let s = (bits & 0xFFFF) + ((bits >> 16) & 0xFFFF) + ((bits >> 32) & 0xFFFF) + (bits >> 48);
    // Mean 4 * 32767.5, variance 4 * 65536^2 / 12.
    (s as f32 - 131_070.0) / 37_837.2
}

/// Renders one date of a landscape.
pub(crate) fn render(land: &Landscape, c: &DateConditions, seed: u64) -> Rendered {
    let (w, h) = (land.width, land.height);
    let s = w.max(h) as f64;
    let doy = c.day_of_year as f64;
    let gain = c.gain as f32;
    // Reflectance per object on this date (brightness and seasonal state folded in).
    let refl: Vec<[f32; 4]> = land
        .objects
        .iter()
        .map(|o| {
            let g = greenness(o.material, doy, o.phase_days as f64 + c.season_shift_days) as f32;
            let [green, dry] = SPECTRA[o.material as usize];
            std::array::from_fn(|b| o.brightness * (g * green[b] + (1.0 - g) * dry[b]))
        })
        .collect();
    // Ground texture: fixed in time (the same for every date and year of a seed).
    let texture = CoarseField::fractal(seed ^ 0x7E87, w, h, 8, 0.05 * s, 2);
    let haze_field = CoarseField::fractal(seed ^ 0x4A2E ^ mix64(c.index), w, h, 16, 0.5 * s, 2);
    // Clouds: fractal field over the scene plus a margin for the shadow displacement.
    let [sx, sy] = c.shadow_offset_px;
    let margin = (sx.abs().max(sy.abs()).ceil() as usize) + 8;
    let cloud_seed = seed ^ 0xC10D ^ mix64(c.index + 1);
    let field = CoarseField::fractal(cloud_seed, w + 2 * margin, h + 2 * margin, 4, 0.22 * s, 5);
    let threshold = {
        let mut v = field.samples().to_vec();
        v.sort_by(f32::total_cmp);
        let q = (1.0 - c.cloud_cover_target).clamp(0.0, 1.0);
        v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)]
    };
    let thick = 0.92 + 0.08 * unit_f64(hash4(seed, 0xA1FA, c.index, 0)) as f32;
    let clear = c.cloud_cover_target <= 0.0;
    let alpha_at = |x: f64, y: f64| -> (f32, f32) {
        if clear {
            return (0.0, 0.0);
        }
        let f = field.at(x + margin as f64, y + margin as f64);
        let a = thick * smoothstep(threshold as f64, threshold as f64 + 0.10, f as f64) as f32;
        let core = smoothstep(threshold as f64, threshold as f64 + 0.35, f as f64) as f32;
        (a, core)
    };
    let cirrus_field = CoarseField::fractal(seed ^ 0xC122 ^ mix64(c.index), w, h, 16, 0.3 * s, 2);
    let edge = c.nodata_edge_col;
    let tan_tilt = sin(radians(12.0)) / cos(radians(12.0));

    let plane = w * h;
    let mut bands = vec![0u16; 4 * plane];
    let mut mask = vec![0u8; plane];
    let (b0, rest) = bands.split_at_mut(plane);
    let (b1, rest) = rest.split_at_mut(plane);
    let (b2, b3) = rest.split_at_mut(plane);
    b0.par_chunks_mut(w)
        .zip(b1.par_chunks_mut(w))
        .zip(b2.par_chunks_mut(w))
        .zip(b3.par_chunks_mut(w))
        .zip(mask.par_chunks_mut(w))
        .enumerate()
        .for_each(|(r, ((((o0, o1), o2), o3), m))| {
            let y = r as f64 + 0.5;
            let outs: [&mut [u16]; 4] = [o0, o1, o2, o3];
            let mut px = [0f32; 4];
            let mut rows: [Vec<u16>; 4] = std::array::from_fn(|_| vec![0u16; w]);
            for col in 0..w {
                let x = col as f64 + 0.5;
                let i = r * w + col;
                if let Some(e) = edge
                    && x > e + y * tan_tilt
                {
                    for row in rows.iter_mut() {
                        row[col] = 0;
                    }
                    m[col] = 0;
                    continue;
                }
                let base = refl[land.object[i] as usize];
                let grain =
                    unit_f64(mix64(seed ^ 0x6A1 ^ (i as u64).wrapping_mul(0x9E37_79B9))) as f32;
                let tex = 1.0 + 0.06 * texture.at(x, y) + 0.04 * (2.0 * grain - 1.0);
                let tau = (c.haze * (0.55 + 0.9 * (0.5 + 0.5 * haze_field.at(x, y) as f64))) as f32;
                let (alpha, core) = alpha_at(x, y);
                let (shadow, _) = alpha_at(x + sx, y + sy);
                let cirrus = if c.cirrus > 0.0 {
                    (c.cirrus * (0.5 + 0.5 * cirrus_field.at(x, y) as f64)) as f32
                } else {
                    0.0
                };
                let lit = 1.0 - SHADOW_DEPTH * shadow;
                let bits = mix64(hash4(seed, 0x5E25, c.index, i as u64));
                for b in 0..4 {
                    let k = HAZE_BAND[b];
                    let ground = base[b] * tex * gain * lit;
                    let mut v = ground * (1.0 - HAZE_LOSS * tau * k) + HAZE_PATH * tau * k;
                    let cloud = CLOUD_REFLECTANCE[b] * gain * (0.8 + 0.4 * core);
                    let a = alpha.max(cirrus);
                    v = (1.0 - a) * v + a * cloud;
                    let noise = gauss(mix64(bits ^ (b as u64 + 1)));
                    v += (0.003 + 0.01 * v) * noise;
                    px[b] = v;
                }
                for (row, &v) in rows.iter_mut().zip(&px) {
                    // Round half up by truncation (one instruction; `round` is a libm call).
                    row[col] = ((v * 10_000.0 + 0.5) as i32).clamp(1, 65_535) as u16;
                }
                m[col] = if alpha > MASK_CLOUD_ALPHA {
                    1
                } else if shadow > MASK_SHADOW {
                    2
                } else {
                    0
                };
            }
            for (o, row) in outs.into_iter().zip(rows) {
                o.copy_from_slice(&row);
            }
        });
    let masked = mask.iter().filter(|&&v| v != 0).count();
    let nodata = bands[..plane].iter().filter(|&&v| v == 0).count();
    Rendered {
        bands,
        mask,
        masked_fraction: masked as f64 / plane as f64,
        nodata_fraction: nodata as f64 / plane as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sun_is_higher_in_june_than_december() {
        // Hand check: Dec 21 (doy 355): decl = -23.44 deg; sin(elev) = sin(d)sin(lat) +
        // cos(d)cos(h)cos(lat) = -0.3978*0.2761 + 0.9175*0.9239*0.9611 = 0.705 (44.8 deg).
        let dec = sun_vector(355.0, LATITUDE_DEG);
        assert!((dec[2] - 0.705).abs() < 0.005, "{dec:?}");
        let jun = sun_vector(172.0, LATITUDE_DEG);
        assert!(jun[2] > 0.9);
        // Morning overpass: the sun is in the east.
        assert!(dec[0] > 0.0 && jun[0] > 0.0);
    }

    #[test]
    fn greenness_follows_the_rainy_season() {
        assert!(greenness(Material::Crop, 255.0, 0.0) > 0.99);
        assert!(greenness(Material::Crop, 60.0, 0.0) < 0.01);
        assert!(greenness(Material::Mangrove, 60.0, 0.0) >= 0.75);
        assert_eq!(greenness(Material::Soil, 255.0, 0.0), 0.0);
    }

    #[test]
    fn gauss_has_unit_variance() {
        let n = 20000;
        let (mut s, mut s2) = (0f64, 0f64);
        for i in 0..n {
            let g = gauss(mix64(i)) as f64;
            s += g;
            s2 += g * g;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
