//! The Burn dataset / batcher pipeline: augmentation alignment, normalization, workers.

use std::sync::Arc;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use chronomap_data::testkit::{tiny_cloud, tiny_label, tiny_nodata, tiny_series};
use chronomap_data::{
    Dihedral, IGNORE_INDEX, LabelPolicy, NormMethod, NormStats, PatchBatcher, PatchConfig,
    PatchDataset, QUALITY_CLEAR, RadiometricJitter, Sample, SceneSeries, StatsConfig, grid_windows,
    make_samples,
};
use chronomap_geo::Window;

const S: usize = 24;
const P: usize = 16;

fn setup(dates: usize) -> (tempfile::TempDir, Arc<SceneSeries>, NormStats) {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_series(dir.path(), S, dates, 0).unwrap();
    let series = Arc::new(SceneSeries::open(&m).unwrap());
    let stats = NormStats::compute(&series, &StatsConfig::default()).unwrap();
    (dir, series, stats)
}

/// Decodes the source pixel of an output pixel from band 0, whose raw value is
/// `1 + row * S + col` (see `testkit::tiny_value`).
fn source_pixel(norm: f32, stats: &NormStats) -> (usize, usize) {
    let (a, b) = stats.affine()[0];
    let raw = ((norm - b) / a).round() as usize;
    ((raw - 1) / S, (raw - 1) % S)
}

/// Every one of the 8 transforms keeps image, labels and masks aligned: the label of each
/// output pixel is the known function of the position its band-0 value encodes, and it is
/// ignored exactly where that position is cloudy or nodata on that date. The positions also
/// follow the transform's documented index mapping.
#[test]
fn augmentation_keeps_images_labels_and_masks_aligned() {
    let (_dir, series, stats) = setup(3);
    let window = Window::new(5, 3, P, P);
    let samples: Vec<Sample> = Dihedral::ALL
        .iter()
        .map(|&d| Sample {
            window,
            dates: vec![0, 1, 2],
            transform: d,
            jitter_seed: 0,
        })
        .collect();
    let ds = PatchDataset::new(
        series.clone(),
        stats.clone(),
        samples,
        PatchConfig::default(),
    )
    .unwrap();
    let plane = P * P;
    let mut items = Vec::new();
    for (k, &d) in Dihedral::ALL.iter().enumerate() {
        let item = ds.get(k).unwrap();
        assert_eq!(item.shape, [3, 4, P, P]);
        for t in 0..3 {
            for r in 0..P {
                for c in 0..P {
                    let i = r * P + c;
                    let label = item.labels[t * plane + i];
                    let (sr, sc) = d.source_of(r, c, P, P);
                    let (row, col) = (window.row + sr, window.col + sc);
                    if tiny_nodata(t, row, col) {
                        assert_eq!(label, IGNORE_INDEX);
                        // nodata pixels are zeroed after normalization
                        assert_eq!(item.image[t * 4 * plane + i], 0.0);
                        continue;
                    }
                    assert_eq!(
                        source_pixel(item.image[t * 4 * plane + i], &stats),
                        (row, col),
                        "{d:?} date {t} ({r}, {c})"
                    );
                    let expect = if tiny_cloud(t, row, col, S) {
                        IGNORE_INDEX
                    } else {
                        tiny_label(row, col, S)
                    };
                    assert_eq!(label, expect, "{d:?} date {t} ({r}, {c})");
                    assert_eq!(
                        item.quality[t * plane + i] == QUALITY_CLEAR,
                        !tiny_cloud(t, row, col, S)
                    );
                }
            }
        }
        items.push(item);
    }
    // The batch carries the same values: [batch, time, channels, h, w] and [batch, time, h, w].
    let device = Device::flex();
    let batch = PatchBatcher.batch(items.clone(), &device);
    assert_eq!(batch.images.dims(), [8, 3, 4, P, P]);
    assert_eq!(batch.labels.dims(), [8, 3, P, P]);
    assert_eq!(batch.valid.dims(), [8, 3, P, P]);
    let imgs: Vec<f32> = batch.images.to_data().try_to_vec::<f32>().unwrap();
    let labs: Vec<i64> = batch.labels.try_into_vec_as::<i64>().unwrap();
    for (k, it) in items.iter().enumerate() {
        assert_eq!(
            &imgs[k * 3 * 4 * plane..(k + 1) * 3 * 4 * plane],
            &it.image[..]
        );
        let want: Vec<i64> = it.labels.iter().map(|&l| l as i64).collect();
        assert_eq!(&labs[k * 3 * plane..(k + 1) * 3 * plane], &want[..]);
    }
}

#[test]
fn masked_pixels_can_keep_their_labels() {
    let (_dir, series, stats) = setup(2);
    let samples = make_samples(&[Window::new(0, 0, P, P)], &[vec![0, 1]], false, 0);
    let config = PatchConfig {
        label_policy: LabelPolicy {
            ignore_masked: false,
            ignore_nodata: true,
        },
        ..PatchConfig::default()
    };
    let ds = PatchDataset::new(series, stats, samples, config).unwrap();
    let item = ds.get(0).unwrap();
    for t in 0..2 {
        for r in 0..P {
            for c in 0..P {
                let l = item.labels[t * P * P + r * P + c];
                let want = if tiny_nodata(t, r, c) {
                    IGNORE_INDEX
                } else {
                    tiny_label(r, c, S)
                };
                assert_eq!(l, want);
            }
        }
    }
}

/// With windows covering each date exactly once, the sampled statistics are those of all
/// clear pixels, computed here independently.
#[test]
fn normalization_statistics_cover_clear_pixels_only() {
    let (_dir, series, _) = setup(3);
    let config = StatsConfig {
        window: S,
        max_windows: 3,
        ..StatsConfig::default()
    };
    let stats = NormStats::compute(&series, &config).unwrap();
    let mut samples = vec![Vec::new(); 4];
    for t in 0..3 {
        let img = series.read_image(t, Window::full(S, S)).unwrap();
        for r in 0..S {
            for c in 0..S {
                if tiny_cloud(t, r, c, S) || tiny_nodata(t, r, c) {
                    continue;
                }
                for (b, s) in samples.iter_mut().enumerate() {
                    s.push(img[b * S * S + r * S + c]);
                }
            }
        }
    }
    let expect = NormStats::from_samples(series.bands(), samples, NormMethod::MeanStd, 2.0, 98.0);
    assert_eq!(stats, expect);
    // Band 0 holds 1..=S*S: the winsorized mean is near the middle.
    assert!((stats.bands[0].mean - (S * S) as f32 / 2.0).abs() < 15.0);
}

#[test]
fn loaders_with_and_without_workers_yield_the_same_items() {
    let (_dir, series, stats) = setup(3);
    let windows = grid_windows(Window::full(S, S), 8, 0).unwrap();
    let samples = make_samples(&windows, &[vec![0, 1, 2]], true, 5);
    let ds = PatchDataset::new(series, stats, samples, PatchConfig::default()).unwrap();
    let collect = |workers: usize| {
        let loader = DataLoaderBuilder::new(PatchBatcher)
            .batch_size(3)
            .num_workers(workers)
            .set_device(Device::flex())
            .build(ds.clone());
        let mut out: Vec<(Sample, Vec<f32>)> = Vec::new();
        for batch in loader.iter() {
            let batch = batch.unwrap();
            let imgs: Vec<f32> = batch.images.to_data().try_to_vec::<f32>().unwrap();
            let n = batch.samples.len();
            let per = imgs.len() / n;
            for (k, s) in batch.samples.into_iter().enumerate() {
                out.push((s, imgs[k * per..(k + 1) * per].to_vec()));
            }
        }
        out.sort_by_key(|(s, _)| (s.window.row, s.window.col));
        out
    };
    let a = collect(0);
    assert_eq!(a.len(), 9);
    assert_eq!(a, collect(2));
}

/// Jitter multiplies each date's raw values by a gain and adds an offset after
/// normalization: with mean/std statistics, `x' = gain * x + (gain - 1) * mean / std + offset`
/// per date and band, an exact affine map of the un-jittered values.
#[test]
fn radiometric_jitter_is_a_per_date_affine_map() {
    let (_dir, series, stats) = setup(3);
    let jitter = RadiometricJitter {
        max_gain: 0.2,
        max_band_gain: 0.05,
        max_offset: 0.3,
    };
    let sample = Sample {
        window: Window::new(0, 0, P, P),
        dates: vec![0, 1, 2],
        transform: Dihedral::Identity,
        jitter_seed: 42,
    };
    let plain = PatchDataset::new(
        series.clone(),
        stats.clone(),
        vec![sample.clone()],
        PatchConfig::default(),
    )
    .unwrap()
    .get(0)
    .unwrap();
    let config = PatchConfig {
        jitter: Some(jitter),
        ..PatchConfig::default()
    };
    let jit = PatchDataset::new(series, stats.clone(), vec![sample], config)
        .unwrap()
        .get(0)
        .unwrap();
    let draw = jitter.draw(42, 3, 4);
    let plane = P * P;
    for k in 0..12 {
        let b = stats.bands[k % 4].clone();
        let (g, o) = (draw.gain[k], draw.offset[k]);
        for i in 0..plane {
            let x = plain.image[k * plane + i];
            let t = k / 4;
            if tiny_nodata(t, i / P, i % P) {
                continue;
            }
            let want = g * x + (g - 1.0) * b.mean / b.std + o;
            assert!(
                (jit.image[k * plane + i] - want).abs() < 1e-3,
                "plane {k} pixel {i}"
            );
        }
    }
}

/// Training and validation patches come from disjoint blocks, validation windows never
/// overlap, each epoch draws new training windows, and sliding sequences have the asked
/// length.
#[test]
fn training_data_splits_by_area_and_resamples_per_epoch() {
    use chronomap_data::{DateSequences, Split, TrainingConfig, TrainingData};
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_series(dir.path(), 64, 4, 0).unwrap();
    let series = Arc::new(SceneSeries::open(&m).unwrap());
    let config = TrainingConfig {
        patch_size: 16,
        block_size: Some(16),
        validation_fraction: 0.25,
        patches_per_epoch: 30,
        sequences: DateSequences::Sliding { len: 3, stride: 1 },
        seed: 9,
        ..TrainingConfig::default()
    };
    let data = TrainingData::prepare(series, config).unwrap();
    assert_eq!(data.sequences(), [vec![0, 1, 2], vec![1, 2, 3]]);
    let train = data.train_dataset(0).unwrap();
    let valid = data.valid_dataset().unwrap();
    assert_eq!(train.len(), 60);
    assert_eq!(valid.len(), 2 * 4); // 4 validation blocks of one 16 x 16 window, 2 sequences
    for s in train.samples() {
        for v in valid.samples() {
            assert!(
                s.window.intersection(&v.window).is_none(),
                "{s:?} overlaps {v:?}"
            );
        }
        assert_eq!(
            data.split().split_at(s.window.col, s.window.row),
            Some(Split::Train)
        );
    }
    let vw: Vec<_> = valid.samples().iter().map(|s| s.window).collect();
    for (i, a) in vw.iter().enumerate() {
        for b in &vw[i + 1..] {
            assert!(a == b || a.intersection(b).is_none());
        }
    }
    let again = data.train_dataset(0).unwrap();
    assert_eq!(again.samples(), train.samples());
    let next = data.train_dataset(1).unwrap();
    assert_ne!(next.samples(), train.samples());
    assert_eq!(valid.get(0).unwrap().shape, [3, 4, 16, 16]);
}

/// A sequence padded with its last date (`[1, 2, 2]`): the padded step repeats date 2's
/// pixels but has only ignored labels; the real steps equal the unpadded sequence's.
#[test]
fn padded_steps_have_ignored_labels() {
    let (_dir, series, stats) = setup(3);
    let window = Window::new(4, 4, P, P);
    let sample = |dates: Vec<usize>| Sample {
        window,
        dates,
        transform: Dihedral::Identity,
        jitter_seed: 0,
    };
    let ds = |dates| {
        PatchDataset::new(
            series.clone(),
            stats.clone(),
            vec![sample(dates)],
            PatchConfig::default(),
        )
        .unwrap()
    };
    let (padded, short) = (
        ds(vec![1, 2, 2]).item(0).unwrap(),
        ds(vec![1, 2]).item(0).unwrap(),
    );
    let plane = P * P;
    assert_eq!(padded.labels[..2 * plane], short.labels[..]);
    assert!(
        padded.labels[2 * plane..]
            .iter()
            .all(|&l| l == IGNORE_INDEX)
    );
    // Not every label of date 2 is ignored (so the check above is not vacuous).
    assert!(short.labels[plane..].iter().any(|&l| l != IGNORE_INDEX));
    let c = padded.shape[1];
    assert_eq!(padded.image[..2 * c * plane], short.image[..]);
    assert_eq!(padded.image[2 * c * plane..], short.image[c * plane..]);
}
