//! Training, prediction, streaming updates, evaluation and change maps on the tiny world.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use chronomap_data::SceneSeries;
use chronomap_data::testkit::tiny_world;
use chronomap_geo::GeoTiffReader;
use chronomap_model::SpatioTemporalNetConfig;
use chronomap_train::*;

fn device() -> Device {
    Device::flex()
}

/// Trains a tiny network for a few epochs on the tiny world; returns (run dir, data).
fn train_tiny(
    dir: &Path,
    epochs: (usize, usize, usize),
) -> (std::path::PathBuf, PreparedData, TrainSummary) {
    let manifest = tiny_world(&dir.join("world"), 3).expect("tiny world");
    let series = Arc::new(SceneSeries::open(&manifest).expect("open"));
    let mut plan = DataPlan::new(16, 4);
    plan.windows_per_epoch = 12;
    plan.sequence_length = Some(3);
    plan.block = 32;
    plan.validation_fraction = 0.25;
    let data = prepare_data(series.clone(), &plan, None).expect("prepare");
    let k = series.classes().len();
    let model = SpatioTemporalNetConfig::tiny(series.bands().len(), k).with_hidden_channels(4);
    let mut config = TrainConfig::staged(model, epochs.0, epochs.1, epochs.2, 5e-3);
    config.patch_size = 16;
    config.batch_size = 4;
    config.dates = 3;
    let card = model_card(&data, &config);
    let run = dir.join("run");
    let valid = data.valid.as_ref().map(|v| v as &dyn BatchSource);
    let out = Trainer::new(config, &run, card)
        .fit(&data.train, valid, &device(), StartMode::New)
        .expect("fit");
    let TrainOutcome::Finished(summary) = out else {
        panic!("interrupted")
    };
    (run, data, summary)
}

/// A few epochs of U-Net training on the tiny world lower the training loss.
#[test]
fn training_on_the_tiny_world_lowers_the_loss() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, _, s) = train_tiny(dir.path(), (4, 0, 0));
    let losses: Vec<f64> = s.history.epochs.iter().map(|e| e.train_loss).collect();
    assert!(losses[3] < losses[0] * 0.9, "losses {losses:?}");
}

/// Predicting a whole year at once, and predicting its first dates then folding in the last
/// one from the stored state, give the same fused map of the last date; errors name files.
#[test]
fn streaming_update_equals_whole_series_prediction() {
    let dir = tempfile::tempdir().expect("tmp");
    let (run, data, _) = train_tiny(dir.path(), (1, 1, 0));
    let dev = device();
    let (model, card) = load_model_dir(&run, &dev).expect("load");
    let series = &data.series;
    let year = series.dates_in_year(2020);
    let config = PredictConfig {
        window: 32,
        overlap: 8,
        batch_windows: 2,
        date_maps: true,
        probabilities: ProbabilityMaps::Last,
        map_dates: None,
    };
    let quiet = ProgressBar::hidden();
    let batch = predict_scene(
        &model,
        &card,
        series,
        &year,
        &dir.path().join("batch"),
        &config,
        None,
        &dev,
        &quiet,
    )
    .expect("batch prediction");
    // 2 kinds x 3 dates; probabilities for the last date only.
    assert_eq!(batch.len(), 6);
    assert_eq!(
        batch.iter().filter(|f| f.probabilities.is_some()).count(),
        2
    );

    let state = dir.path().join("state");
    let (head, tail) = year.split_at(year.len() - 1);
    predict_scene(
        &model,
        &card,
        series,
        head,
        &dir.path().join("head"),
        &config,
        Some(&state),
        &dev,
        &quiet,
    )
    .expect("head prediction");
    let st = SceneState::open(&state).expect("state");
    assert_eq!(st.meta().dates.len(), 2);
    let (upd, st) = update_scene(
        &model,
        &card,
        series,
        &state,
        None,
        &dir.path().join("upd"),
        &config,
        &dev,
        &quiet,
    )
    .expect("update");
    assert_eq!(
        st.meta().dates.len(),
        3,
        "the update folds in exactly the missing date"
    );
    assert_eq!(tail.len(), 1);
    for kind in ["fused", "date"] {
        let b = batch.iter().rfind(|f| f.kind == kind).expect("batch map");
        let u = upd.iter().find(|f| f.kind == kind).expect("update map");
        assert_eq!(b.date, u.date);
        let (bm, um) = (
            GeoTiffReader::open(&b.classes).unwrap().read_all().unwrap(),
            GeoTiffReader::open(&u.classes).unwrap().read_all().unwrap(),
        );
        assert_eq!(bm, um, "{kind} class maps differ");
        let (bp, up) = (
            GeoTiffReader::open(b.probabilities.as_ref().unwrap())
                .unwrap()
                .read_all()
                .unwrap(),
            GeoTiffReader::open(u.probabilities.as_ref().unwrap())
                .unwrap()
                .read_all()
                .unwrap(),
        );
        let diff = bp
            .iter()
            .zip(&up)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff <= 1e-6, "{kind} probabilities differ by {diff}");
        // The maps are on the series' grid.
        let info = GeoTiffReader::open(&b.classes).unwrap().info().clone();
        assert_eq!((info.width, info.height), (series.width(), series.height()));
        assert_eq!(info.epsg, series.epsg());
        assert_eq!(
            info.geotransform.map(|g| g.0),
            series.geotransform().map(|g| g.0)
        );
    }
    // Nothing left to fold in: a clear error naming the state.
    let again = update_scene(
        &model,
        &card,
        series,
        &state,
        None,
        &dir.path().join("upd2"),
        &config,
        &dev,
        &quiet,
    );
    assert!(
        matches!(again, Err(Error::InvalidConfig(ref m)) if m.contains("state")),
        "{again:?}"
    );

    // Change map between the two years' last fused maps, and its evaluation.
    let first = predict_scene(
        &model,
        &card,
        series,
        &series.dates_in_year(2016),
        &dir.path().join("y16"),
        &config,
        None,
        &dev,
        &quiet,
    )
    .expect("2016");
    let before = &first.iter().rfind(|f| f.kind == "fused").unwrap().classes;
    let after = &batch.iter().rfind(|f| f.kind == "fused").unwrap().classes;
    let k = card.model.num_classes;
    let report = change_map(
        before,
        after,
        k,
        &card.classes,
        &dir.path().join("c.tif"),
        &dir.path().join("c.csv"),
    )
    .expect("change");
    let total: u64 = report.table.iter().map(|r| r.pixels).sum::<u64>() + report.nodata_pixels;
    assert_eq!(total, (series.width() * series.height()) as u64);
    change_quicklook(&report, k, &card.classes, &dir.path().join("c.png")).expect("png");
    class_map_png(after, &dir.path().join("a.png"), &card.classes, k, 1024).expect("png");
    let cm = confusion_on_date(
        after,
        series,
        *year.last().unwrap(),
        &[chronomap_geo::Window::full(64, 64)],
        k,
    )
    .expect("confusion");
    assert!(cm.total() > 0);
}

/// A series whose bands do not match the model's: an error naming the manifest; a model
/// folder whose weights were swapped: an error naming the weights file.
#[test]
fn band_mismatch_and_swapped_weights_name_the_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let (run, data, _) = train_tiny(dir.path(), (1, 0, 0));
    let (_, card) = load_model_dir(&run, &device()).expect("load");
    let mut card3 = card.clone();
    card3.bands = vec!["B2".into(), "B3".into(), "B4".into()];
    card3.model.in_channels = 3;
    let err = check_series(&data.series, &card3).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::BandMismatch { .. }), "{err:?}");
    assert!(msg.contains("manifest.json") && msg.contains("B8"), "{msg}");
    // Replace best/model.bpk by last/model.bpk of another run: the hash check names the file.
    let other = tempfile::tempdir().expect("tmp");
    let (run2, _, _) = train_tiny(other.path(), (2, 0, 0));
    std::fs::copy(run2.join("last/model.bpk"), run.join("best/model.bpk")).expect("copy");
    let err = load_model_dir(&run, &device()).unwrap_err();
    assert!(err.to_string().contains("model.bpk"), "{err}");
}
