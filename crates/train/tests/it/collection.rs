//! Training on a collection of three tiny synthetic cities (UTM 28N, 33S, 18N): held-out
//! series never sampled (the sampler's record), held-out dates never in a training sequence,
//! the plan in the run's config, resume, and per-series scores.

use std::path::Path;

use burn::prelude::*;
use chronomap_data::{Collection, SynthConfig, synth_cities, write_collection};
use chronomap_geo::Window;
use chronomap_model::SpatioTemporalNetConfig;
use chronomap_train::*;

fn cities(dir: &Path) -> Collection {
    let base = SynthConfig {
        size: 64,
        dates_per_year: 3,
        years: vec![2016],
        ..SynthConfig::new(5)
    };
    let path = write_collection(&synth_cities(&base, 3).unwrap(), dir, &mut |_, _, _| {}).unwrap();
    Collection::open(path).unwrap()
}

fn plan() -> CollectionPlan {
    let mut data = DataPlan::new(16, 4);
    data.windows_per_epoch = 12;
    data.block = 32;
    data.validation_fraction = 0.25;
    let mut plan = CollectionPlan::new(data);
    plan.held_out_series = vec!["montreal".into()];
    plan.held_out_dates = DateHoldOut::LastOfEachYear;
    plan
}

#[test]
fn held_out_cities_and_dates_are_never_sampled_and_runs_resume() {
    let dir = tempfile::tempdir().unwrap();
    let c = cities(&dir.path().join("cities"));
    let plan = plan();
    let data = prepare_collection(&c, &plan, None).unwrap();
    assert_eq!(data.training_series(), [0, 1]);
    assert_eq!(data.parts[2].role, "held_out");
    // saint-louis has 3 dates in 2016, one held out: sequences of 2 for every series
    assert_eq!(data.sequence_length, 2);
    let allotted: usize = data.parts.iter().map(|p| p.windows_per_epoch).sum();
    assert!(allotted >= 12, "{allotted}");
    for epoch in 0..3 {
        let drawn = data.train.drawn(epoch).unwrap();
        let mut seen = [0usize; 3];
        for (s, sample) in &drawn {
            seen[*s] += 1;
            let part = &data.parts[*s];
            assert!(
                sample
                    .dates
                    .iter()
                    .all(|d| !part.held_out_dates.contains(d))
            );
            // training windows lie in training blocks only
            let w: Window = sample.window;
            for r in part.split.regions(chronomap_data::Split::Validation) {
                let overlap = w.col < r.col + r.width
                    && r.col < w.col + w.width
                    && w.row < r.row + r.height
                    && r.row < w.row + w.height;
                assert!(!overlap, "{w:?} overlaps validation block {r:?}");
            }
        }
        assert_eq!(seen[2], 0, "the held-out city was sampled");
        assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    }
    // a batch mixes cities of different CRSs; shapes are [batch, time, channels, h, w]
    let b = data.train.batch(0, 0).unwrap();
    assert_eq!(&b.shape[1..], &[2, 4, 16, 16]);

    let k = c.classes().len();
    let model = SpatioTemporalNetConfig::tiny(4, k)
        .with_hidden_channels(4)
        .with_residual(Some(true));
    let mut config = TrainConfig::staged(model, 1, 1, 1, 5e-3);
    config.patch_size = 16;
    config.batch_size = 4;
    config.dates = 2;
    config.data = Some(data.record());
    let card = data.model_card(&config);
    let run = dir.path().join("run");
    let valid = data.valid.as_ref().map(|v| v as &dyn BatchSource);
    let device = Device::flex();
    let first = Trainer::new(config.clone(), &run, card.clone())
        .fit(&data.train, valid, &device, StartMode::New)
        .unwrap();
    let TrainOutcome::Finished(summary) = first else {
        panic!("interrupted")
    };
    assert_eq!(summary.history.epochs.len(), 3);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved["data"]["plan"]["held_out_series"][0], "montreal");
    // resuming the finished run with the same plan does nothing more
    let again = Trainer::new(config.clone(), &run, card.clone())
        .fit(&data.train, valid, &device, StartMode::ResumeOrNew)
        .unwrap();
    assert!(matches!(again, TrainOutcome::Finished(_)));
    // another held-out city is another run
    let mut other = plan.clone();
    other.held_out_series = vec!["luanda".into()];
    let data2 = prepare_collection(&c, &other, None).unwrap();
    let mut config2 = config.clone();
    config2.data = Some(data2.record());
    let err = Trainer::new(config2, &run, card)
        .fit(&data2.train, None, &device, StartMode::ResumeOrNew)
        .unwrap_err();
    assert!(matches!(err, Error::ConfigMismatch { .. }), "{err}");

    // per-series scores: predicting the held-out city alone, its pooled scores are the
    // collection's scores restricted to it
    let (model, card) = load_model_dir(&summary.best_dir, &device).unwrap();
    let series = &c.series()[2];
    let run_dates = series.sequences_by_year()[0].clone();
    let pconfig = PredictConfig {
        window: 32,
        overlap: 4,
        batch_windows: 2,
        date_maps: true,
        probabilities: ProbabilityMaps::None,
        map_dates: None,
    };
    let files = predict_scene(
        &model,
        &card,
        series,
        &run_dates,
        &dir.path().join("maps/montreal"),
        &pconfig,
        None,
        &device,
        &ProgressBar::hidden(),
    )
    .unwrap();
    let whole = [Window::new(0, 0, 64, 64)];
    let mut s = SeriesScores::new("montreal", true);
    s.add_run(series, &run_dates, &files, &whole, &[], k)
        .unwrap();
    assert_eq!(s.dates.len(), run_dates.len());
    assert_eq!(s.dates[0].position, 0);
    let direct = confusion_on_date(&files[1].classes, series, run_dates[0], &whole, k).unwrap();
    let kind0 = &files[1].kind;
    let mine = if kind0 == "fused" {
        &s.dates[0].fused
    } else {
        &s.dates[0].per_date
    };
    assert_eq!(mine.counts(), direct.counts());
    let scores = CollectionScores {
        series: vec![s.clone()],
    };
    let (pd, fu) = s.pooled(|_| true).unwrap();
    let pooled = scores.pooled(&|x| x.held_out_series, &|_| true);
    assert_eq!(pooled.per_date, pd.miou);
    assert_eq!(pooled.fused, fu.miou);
    assert_eq!(scores.mean_over_series(&|_| true, &|_| true).fused, fu.miou);
    assert_eq!(
        scores.by_position(&|_| true, &|_| true).len(),
        run_dates.len()
    );
}

/// A given sequence length longer than a series' year pads that year with its last date
/// (instead of dropping the series): saint-louis has 3 dates in 2016 (2 after the held-out
/// last one) -> `[d0, d1, d1, d1]`; luanda has 6 (5 training) -> 2 sliding runs of 4. In a
/// batch, the padded steps have only ignored labels.
#[test]
fn short_years_are_padded_to_the_sequence_length() {
    let dir = tempfile::tempdir().unwrap();
    let c = cities(&dir.path().join("cities"));
    let mut plan = plan();
    plan.data.sequence_length = Some(4);
    let data = prepare_collection(&c, &plan, None).unwrap();
    assert_eq!(data.sequence_length, 4);
    let sl = &data.parts[0];
    assert_eq!(sl.role, "train");
    assert_eq!(sl.train_dates.len(), 2);
    let (a, b) = (sl.train_dates[0], sl.train_dates[1]);
    assert_eq!(sl.sequences, vec![vec![a, b, b, b]]);
    let lu = &data.parts[1];
    assert_eq!(lu.train_dates.len(), 5, "{:?}", lu.train_dates);
    assert_eq!(lu.sequences.len(), 2, "{:?}", lu.sequences);
    let hw = 16 * 16;
    let drawn = data.train.drawn(0).unwrap();
    let bs = 4;
    let mut padded_seen = false;
    for (pos, (s, sample)) in drawn.iter().enumerate() {
        if *s != 0 {
            continue;
        }
        assert_eq!(sample.dates, vec![a, b, b, b]);
        padded_seen = true;
        let batch = data.train.batch(0, pos / bs).unwrap();
        let j = pos % bs;
        let labels = &batch.labels[j * 4 * hw..(j + 1) * 4 * hw];
        assert!(labels[2 * hw..].iter().all(|&l| l == 255));
    }
    assert!(padded_seen);
}
