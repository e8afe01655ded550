//! Saint-Louis, Senegal, 2016 vs 2020: train chronomap's spatio-temporal network (per-date
//! U-Net -> Pmaps -> ConvLSTM) on a satellite image time series with OpenStreetMap labels,
//! show that the fused (ConvLSTM) maps beat the per-date maps on dates and an area the network
//! never saw, then map both years and the change between them.
//!
//! ```text
//! cargo run --release --example train_saint_louis                  # CPU preset, < 15 min on 2 cores
//! cargo run --release --example train_saint_louis -- --quick       # CI smoke run, ~1 min
//! cargo run --release --example train_saint_louis -- --device wgpu --preset paper   # GPU, 512 px patches
//! cargo run --release --example train_saint_louis -- --cities --out runs/cities   # 6 cities, 2 held out
//! ```
//!
//! `--cities N` (or `--data collection.json`) switches to the collection mode (`cities.rs`):
//! one network for several cities, scored on cities it never saw.
//!
//! Without `--data`, it writes (or reuses) the synthetic Saint-Louis world under
//! `<out>/world` (Sentinel-2-like GeoTIFFs, cloud masks, OSM extracts per year rasterized to
//! label GeoTIFFs by chronomap-geo, a manifest), then:
//! 1. holds out the last acquisition of every year (held-out *dates*) and a quarter of the area
//!    (held-out *area*, blocks of the scene no training patch touches);
//! 2. trains in stages as the talk tells it (U-Net per date, then the ConvLSTM on the frozen
//!    U-Net's Pmaps, then joint fine-tuning), checkpointing every epoch under `<out>/run`
//!    (Ctrl-C stops cleanly; running the same command again resumes);
//! 3. predicts per-date and fused maps of every date of every year over the whole scene;
//! 4. scores per-date vs fused maps on the held-out area, at held-out dates and at training
//!    dates (only pixels that are clear at that date, so both maps are scored on the same
//!    pixels), against the OSM labels;
//! 5. writes the change map between the last fused maps of the first and last year, and
//!    checks that a streaming update (stored ConvLSTM state + the last date) gives the same
//!    map as predicting the whole year at once.
//!
//! Everything lands in `--out` (default `runs/saint_louis`): `run/` (checkpoints, `best/`
//! model, `metrics.csv`, `curves.png`), `maps/<year>/<date>_{date,fused}.{tif,png}` (and, for
//! the last date of each year, an RGB composite and `_probs.tif`),
//! `change_<y0>_<y1>.{tif,png,csv}`, `stream/` (the streaming check), `metrics.json`,
//! `confusion.png` (per-date and fused maps, held-out area at held-out dates), `report.html`
//! (one self-contained page: maps by date on a slider, change map, score tables, curves,
//! confusion matrices), and a summary table on stdout. `<out>/world` holds the synthetic world.
//!
//! # Real data
//! Put your co-registered acquisitions in a manifest (see `chronomap_data::Manifest`; e.g. one
//! multi-band GeoTIFF or one file per band per date, optional cloud masks such as Sentinel-2
//! SCL resampled to 10 m) with one label raster per year, made from an OSM extract:
//!
//! ```text
//! chronomap rasterize --like S2_20160112.tif --out labels_2016.tif senegal-2016.osm.pbf
//! chronomap rasterize --like S2_20200107.tif --out labels_2020.tif senegal-latest.osm.pbf
//! cargo run --release --example train_saint_louis -- --data my_scene/manifest.json --out runs/mine
//! ```
//!
//! The same held-out dates/area protocol is applied (the last date of each year, a quarter of
//! the area); the manifest needs at least 3 dates in each year and its `classes` list. On a
//! 10980 x 10980 Sentinel-2 tile use a GPU (`--device wgpu` or a `cuda` build) and
//! `--preset paper`; prediction streams windows and never holds the tile in memory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chronomap::data::{SceneSeries, Split, SynthConfig, write_world};
use chronomap::train::{
    ConfusionMatrix, DataPlan, Interrupt, MapKind, PredictConfig, Preset, ProbabilityMaps,
    ProgressBar, QUICKLOOK_SIDE, SegmentationMetrics, StartMode, TrainConfig, TrainOutcome,
    Trainer, balanced_class_weights, change_map, change_quicklook, class_map_png,
    confusion_on_date, load_model_dir, model_card, patch_size_for, predict_scene, prepare_data,
    rgb_bands, rgb_png, update_scene,
};
use clap::Parser;
use serde_json::json;

mod cities;
mod report;

/// Train, evaluate and map Saint-Louis (synthetic by default).
#[derive(Parser, Debug)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "runs/saint_louis")]
    out: PathBuf,
    /// A manifest (or folder) of real data instead of the synthetic world.
    #[arg(long)]
    data: Option<PathBuf>,
    /// CI smoke run: tiny world, tiny network, a minute or two.
    #[arg(long)]
    quick: bool,
    /// Size preset: cpu (default), paper (GPU, 512 px patches, base 32), quick.
    #[arg(long)]
    preset: Option<String>,
    /// Backend: auto (default: a GPU if any, else the Flex CPU backend), flex, wgpu, vulkan, cuda.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Epochs of every training stage (overrides the preset).
    #[arg(long)]
    epochs: Option<usize>,
    /// Side of the synthetic world in pixels (overrides the preset).
    #[arg(long)]
    world_size: Option<usize>,
    /// Training patch side in pixels, a multiple of 16 (default: the preset's, shrunk to fit
    /// a small scene with a held-out area).
    #[arg(long)]
    patch: Option<usize>,
    /// Patches per batch (default: the preset's).
    #[arg(long)]
    batch: Option<usize>,
    /// Random training windows per epoch (default: the preset's).
    #[arg(long)]
    windows_per_epoch: Option<usize>,
    /// Dates per training sequence (default: the preset's, at most what every training year
    /// holds; in collection mode a longer one pads the shorter years).
    #[arg(long)]
    seq_len: Option<usize>,
    /// Seed of the world, the split, the sampling and the initialization.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Start training over instead of resuming or reusing the run in `<out>/run`.
    #[arg(long)]
    fresh: bool,
    /// Collection mode on N synthetic cities (1-16; `--cities` alone: 6): train on some,
    /// score per-date vs fused maps on the held-out cities. `--data collection.json` runs the
    /// same on real series.
    #[arg(long, num_args = 0..=1, default_missing_value = "6")]
    cities: Option<usize>,
    /// Collection mode: series (cities) held out of training, by name (default: every third
    /// series, starting with the third).
    #[arg(long, value_delimiter = ',')]
    held_out: Vec<String>,
    /// Residual fusion (fused logits = ConvLSTM head + the date's own logits), so the fused map
    /// starts from the per-date map at a series' first date. Off: the parity network
    /// (collection mode defaults to on, `--residual false` to turn it off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    residual: Option<bool>,
    /// At the first date of a run (no ConvLSTM history) the fused map is the per-date map.
    #[arg(long)]
    first_date_from_unet: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let t0 = Instant::now();
    let mut timings = serde_json::Map::new();
    let mut lap = {
        let mut last = Instant::now();
        move |name: &str, timings: &mut serde_json::Map<String, serde_json::Value>| {
            let s = last.elapsed().as_secs_f64();
            timings.insert(name.into(), json!((s * 10.0).round() / 10.0));
            last = Instant::now();
        }
    };
    let preset_name = args
        .preset
        .clone()
        .unwrap_or_else(|| if args.quick { "quick" } else { "cpu" }.into());
    let mut preset =
        Preset::by_name(&preset_name).with_context(|| format!("unknown preset {preset_name:?}"))?;
    if let Some(e) = args.epochs {
        (
            preset.unet_epochs,
            preset.temporal_epochs,
            preset.joint_epochs,
        ) = (e, e, e);
    }
    let device = chronomap::device_from_name(&args.device)?;
    println!(
        "device {}, preset {}",
        chronomap::describe_device(&device),
        preset.name
    );
    std::fs::create_dir_all(&args.out)?;
    if args.cities.is_some()
        || args
            .data
            .as_deref()
            .is_some_and(chronomap::data::Collection::is_collection_path)
    {
        return cities::run(&args, preset, &device, t0);
    }

    // 1. The data: a real manifest, or the synthetic world (written once, then reused).
    let manifest = match &args.data {
        Some(m) => m.clone(),
        None => synthetic_world(&args, &preset)?,
    };
    lap("world", &mut timings);
    let mut series = SceneSeries::open_path(&manifest)?;
    let _ = series.load_into_memory(3 << 30)?;
    let series = Arc::new(series);
    let k = series.classes().len();
    anyhow::ensure!(k >= 2, "{} must list its classes", manifest.display());
    let years = series.years();
    let by_year = series.sequences_by_year();
    anyhow::ensure!(
        by_year.iter().all(|d| d.len() >= 3),
        "{} needs at least 3 dates in every year (held-out date + a sequence)",
        manifest.display()
    );
    let heldout_dates: Vec<usize> = by_year
        .iter()
        .map(|d| *d.last().expect("non-empty"))
        .collect();
    let train_dates: Vec<usize> = (0..series.len())
        .filter(|d| !heldout_dates.contains(d))
        .collect();
    let date_name = |d: usize| series.dates()[d].date.to_string();

    // 2. Training data and plan. Patches are sized to the scene unless --patch says otherwise
    // (a 61 x 61 Landsat crop cannot hold the presets' 64-256 px patches).
    if let Some(b) = args.batch {
        preset.batch_size = b;
    }
    if let Some(w) = args.windows_per_epoch {
        preset.windows_per_epoch = w;
    }
    if let Some(l) = args.seq_len {
        preset.sequence_length = l;
    }
    match args.patch {
        Some(p) => preset.patch_size = p,
        None => {
            let multiple = preset.model(1, 2).size_multiple();
            let (p, note) = patch_size_for(
                series.width(),
                series.height(),
                preset.patch_size,
                multiple,
                true,
            )
            .with_context(|| format!("sizing patches for {}", manifest.display()))?;
            if let Some(note) = note {
                println!("note: {note} (--patch to choose)");
            }
            preset.patch_size = p;
        }
    }
    let shortest = by_year.iter().map(Vec::len).min().unwrap_or(1) - 1;
    let mut plan = DataPlan::new(preset.patch_size, preset.batch_size);
    plan.windows_per_epoch = preset.windows_per_epoch;
    plan.sequence_length = Some(preset.sequence_length.min(shortest));
    plan.train_dates = Some(train_dates.clone());
    plan.validation_fraction = 0.25;
    plan.block = (series.width().min(series.height()) / 4).max(preset.patch_size);
    plan.seed = args.seed;
    let data = prepare_data(series.clone(), &plan, None)?;
    for note in &data.notes {
        println!("note: {note}");
    }
    let model_cfg = preset
        .model(series.bands().len(), k)
        .with_residual(args.residual.filter(|r| *r))
        .with_first_date_from_unet(args.first_date_from_unet.then_some(true));
    let config = staged_config(
        &preset,
        model_cfg,
        data.class_frequencies.as_deref(),
        plan.sequence_length.unwrap_or(1),
        args.seed,
    );
    let card = model_card(&data, &config);
    let run_dir = args.out.join("run");
    println!(
        "{}: {}x{} px, {} dates ({} held out: {}), {} training sequences of {} dates, {} batches/epoch",
        manifest.display(),
        series.width(),
        series.height(),
        series.len(),
        heldout_dates.len(),
        heldout_dates
            .iter()
            .map(|&d| date_name(d))
            .collect::<Vec<_>>()
            .join(", "),
        data.sequences.len(),
        config.dates,
        chronomap::train::BatchSource::num_batches(&data.train)
    );
    if let Some(w) = &config.loss.class_weights {
        let pairs: Vec<String> = card
            .classes
            .iter()
            .zip(w)
            .map(|(n, w)| format!("{n} {w:.2}"))
            .collect();
        println!("class weights: {}", pairs.join(", "));
    }
    lap("prepare", &mut timings);

    // 3. Train (resumes, or reuses a finished run with the same configuration).
    let valid = data
        .valid
        .as_ref()
        .map(|v| v as &dyn chronomap::train::BatchSource);
    let summary = fit(
        config.clone(),
        &run_dir,
        card,
        &data.train,
        valid,
        &device,
        args.fresh,
    )?;
    lap("train", &mut timings);
    let (model, card) = load_model_dir(&summary.best_dir, &device)?;

    // 4. Maps of every date of every year, whole scene.
    let window = preset.window;
    let pconfig = PredictConfig {
        window,
        overlap: window / 8,
        batch_windows: 4,
        date_maps: true,
        probabilities: ProbabilityMaps::Last,
        map_dates: None,
    };
    let mut maps: Vec<(usize, MapKind, PathBuf)> = Vec::new();
    for (yi, dates) in by_year.iter().enumerate() {
        let dir = args.out.join("maps").join(years[yi].to_string());
        let pb = ProgressBar::new(0);
        pb.set_message(format!("predict {}", years[yi]));
        let files = predict_scene(
            &model, &card, &series, dates, &dir, &pconfig, None, &device, &pb,
        )?;
        pb.finish_and_clear();
        for f in files {
            let d = dates
                .iter()
                .copied()
                .find(|&d| date_name(d) == f.date)
                .expect("mapped date");
            let kind = if f.kind == "fused" {
                MapKind::Fused
            } else {
                MapKind::Date
            };
            maps.push((d, kind, f.classes));
        }
    }
    lap("predict", &mut timings);

    // 5. Scores on the held-out area: per-date vs fused, held-out vs training dates.
    let regions = data.split.regions(Split::Validation);
    let score = |dates: &[usize], kind: MapKind| -> anyhow::Result<ConfusionMatrix> {
        let mut cm = ConfusionMatrix::new(k);
        for &(d, kd, ref path) in &maps {
            if kd == kind && dates.contains(&d) {
                cm.merge(&confusion_on_date(path, &series, d, &regions, k)?);
            }
        }
        Ok(cm)
    };
    let held_date = score(&heldout_dates, MapKind::Date)?.metrics();
    let held_fused = score(&heldout_dates, MapKind::Fused)?.metrics();
    let train_date = score(&train_dates, MapKind::Date)?.metrics();
    let train_fused = score(&train_dates, MapKind::Fused)?.metrics();
    let mut per_date = Vec::new();
    for d in 0..series.len() {
        let dm = score(&[d], MapKind::Date)?.metrics();
        let fm = score(&[d], MapKind::Fused)?.metrics();
        per_date.push(json!({
            "date": date_name(d), "held_out": heldout_dates.contains(&d),
            "per_date_miou": dm.miou, "fused_miou": fm.miou,
            "per_date_oa": dm.overall_accuracy, "fused_oa": fm.overall_accuracy,
        }));
    }
    lap("evaluate", &mut timings);

    // 6. Change map between the last fused maps of the first and last years, quicklooks.
    let last_fused = |yi: usize| {
        let d = *by_year[yi].last().expect("dates");
        maps.iter()
            .find(|(dd, kd, _)| *dd == d && *kd == MapKind::Fused)
            .map(|m| m.2.clone())
            .expect("map")
    };
    let (y0, y1) = (years[0], *years.last().expect("years"));
    let stem = args.out.join(format!("change_{y0}_{y1}"));
    let change = change_map(
        &last_fused(0),
        &last_fused(years.len() - 1),
        k,
        &card.classes,
        &stem.with_extension("tif"),
        &stem.with_extension("csv"),
    )?;
    change_quicklook(&change, k, &card.classes, &stem.with_extension("png"))?;
    let rgb = rgb_bands(series.bands());
    for (yi, dates) in by_year.iter().enumerate() {
        let d = *dates.last().expect("dates");
        for (dd, _, path) in maps.iter().filter(|(dd, _, _)| *dd == d) {
            class_map_png(
                path,
                &path.with_extension("png"),
                &card.classes,
                k,
                QUICKLOOK_SIDE,
            )?;
            let _ = dd;
        }
        let dir = args.out.join("maps").join(years[yi].to_string());
        rgb_png(
            &series,
            d,
            rgb,
            &dir.join(format!("{}_rgb.png", date_name(d))),
            QUICKLOOK_SIDE,
        )?;
    }
    lap("change", &mut timings);

    // 7. Streaming update == batch: state after all but the last date of the last year, then
    //    fold in the last date, and compare with the batch map of that date.
    let last_year = by_year.last().expect("years");
    let (head, tail) = last_year.split_at(last_year.len() - 1);
    let sdir = args.out.join("stream");
    let state_dir = sdir.join("state");
    let quiet = ProgressBar::hidden();
    let head_cfg = PredictConfig {
        date_maps: false,
        probabilities: ProbabilityMaps::None,
        map_dates: Some(vec![head.len() - 1]),
        ..pconfig.clone()
    };
    predict_scene(
        &model,
        &card,
        &series,
        head,
        &sdir.join("head"),
        &head_cfg,
        Some(&state_dir),
        &device,
        &quiet,
    )?;
    let upd_cfg = PredictConfig {
        date_maps: false,
        probabilities: ProbabilityMaps::None,
        ..pconfig.clone()
    };
    let (files, _) = update_scene(
        &model,
        &card,
        &series,
        &state_dir,
        Some(tail),
        &sdir.join("update"),
        &upd_cfg,
        &device,
        &quiet,
    )?;
    let streamed = chronomap::geo::GeoTiffReader::open(&files[0].classes)?.read_all()?;
    let batch = chronomap::geo::GeoTiffReader::open(last_fused(years.len() - 1))?.read_all()?;
    let differing = streamed.iter().zip(&batch).filter(|(a, b)| a != b).count();
    lap("stream", &mut timings);

    // 8. Report.
    let total = t0.elapsed().as_secs_f64();
    let report = json!({
        "preset": preset, "device": chronomap::describe_device(&device).to_string(),
        "data": manifest, "size": [series.width(), series.height()],
        "held_out_dates": heldout_dates.iter().map(|&d| date_name(d)).collect::<Vec<_>>(),
        "held_out_area_blocks": regions.len(),
        "training": { "epochs": summary.history.epochs.len(), "iterations": summary.iterations,
                      "best": summary.best, "run": run_dir },
        "held_out_area": {
            "held_out_dates": { "per_date": held_date, "fused": held_fused },
            "training_dates": { "per_date": train_date, "fused": train_fused },
            "by_date": per_date,
        },
        "change": { "map": change.map, "table": change.table, "changed_hectares": change.changed_hectares },
        "streaming_update": { "pixels_differing_from_batch": differing, "map": files[0].classes },
        "seconds": timings, "total_seconds": (total * 10.0).round() / 10.0,
    });
    chronomap::train::write_json_atomic(&args.out.join("metrics.json"), &report)?;
    // confusion.png and report.html (self-contained, every image embedded).
    let mapped = (0..series.len())
        .map(|d| report::MappedDate {
            date: date_name(d),
            held_out: heldout_dates.contains(&d),
            maps: maps
                .iter()
                .filter(|m| m.0 == d)
                .map(|m| (m.1, m.2.clone()))
                .collect(),
        })
        .filter(|m| !m.maps.is_empty())
        .collect();
    let (_, html) = report::write(&report::Inputs {
        out: &args.out,
        data: &manifest,
        classes: &card.classes,
        held: (&held_date, &held_fused),
        train: (&train_date, &train_fused),
        by_date: &per_date,
        dates: mapped,
        change: (&change, y0, y1),
        run: &run_dir,
        notes: vec![
            format!(
                "{} x {} px, {} dates ({} held out), {} classes; {} epochs, {} iterations \
                 (preset {}, {}).",
                series.width(),
                series.height(),
                series.len(),
                heldout_dates.len(),
                k,
                summary.history.epochs.len(),
                summary.iterations,
                preset.name,
                chronomap::describe_device(&device)
            ),
            format!(
                "Scores on the held-out area ({} blocks no training patch touched), pixels \
                 clear at each date. Streaming update vs batch: {differing} pixels differ. \
                 Total {total:.0} s.",
                regions.len()
            ),
        ],
    })?;
    println!("report: {}", html.display());

    println!(
        "\nHeld-out area ({} blocks), OSM labels, pixels clear at each date",
        regions.len()
    );
    print_table("held-out dates", &card.classes, &held_date, &held_fused);
    print_table("training dates", &card.classes, &train_date, &train_fused);
    println!("\nmIoU by date (held-out area)      per-date    fused");
    for d in &per_date {
        let f = |k: &str| {
            d[k].as_f64()
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "-".into())
        };
        let tag = if d["held_out"].as_bool() == Some(true) {
            " (held out)"
        } else {
            ""
        };
        println!(
            "  {:<30} {:>8} {:>8}",
            format!("{}{tag}", d["date"].as_str().unwrap_or("")),
            f("per_date_miou"),
            f("fused_miou")
        );
    }
    let gain = held_fused.miou.unwrap_or(0.0) - held_date.miou.unwrap_or(0.0);
    println!(
        "fused vs per-date on held-out dates: mIoU {:+.3}, OA {:+.3} -> {}",
        gain,
        held_fused.overall_accuracy.unwrap_or(0.0) - held_date.overall_accuracy.unwrap_or(0.0),
        if gain > 0.0 {
            "fused maps are better"
        } else {
            "fused maps are NOT better"
        }
    );
    println!(
        "change {y0} -> {y1}: {:.1} ha changed; streaming update vs batch: {differing} pixels differ",
        change.changed_hectares
    );
    println!(
        "outputs in {}; total {:.0} s ({})",
        args.out.display(),
        total,
        timings
            .iter()
            .map(|(k, v)| format!("{k} {v} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The talk's staged plan at the preset's sizes, for `dates`-date sequences. Buildings and
/// roads are a few percent of the pixels: the loss is weighted by sqrt-balanced inverse class
/// `frequencies` so that neither the U-Net nor the ConvLSTM ignores them.
pub(crate) fn staged_config(
    preset: &Preset,
    model: chronomap::model::SpatioTemporalNetConfig,
    frequencies: Option<&[f64]>,
    dates: usize,
    seed: u64,
) -> TrainConfig {
    let mut config = TrainConfig::staged(
        model,
        preset.unet_epochs,
        preset.temporal_epochs,
        preset.joint_epochs,
        preset.lr,
    );
    config.loss.class_weights = frequencies.map(|f| balanced_class_weights(f, 0.5));
    config.patch_size = preset.patch_size;
    config.batch_size = preset.batch_size;
    config.dates = dates;
    config.seed = seed;
    config
}

/// Trains (resuming, or reusing a finished run with the same configuration); exits with 130
/// after a Ctrl-C checkpoint.
pub(crate) fn fit(
    config: TrainConfig,
    run_dir: &std::path::Path,
    card: chronomap::train::ModelCard,
    train: &dyn chronomap::train::BatchSource,
    valid: Option<&dyn chronomap::train::BatchSource>,
    device: &chronomap::burn::tensor::Device,
    fresh: bool,
) -> anyhow::Result<chronomap::train::TrainSummary> {
    let mode = if fresh {
        StartMode::Overwrite
    } else {
        StartMode::ResumeOrNew
    };
    let mut trainer = Trainer::new(config, run_dir, card)
        .with_interrupt(Interrupt::on_ctrl_c())
        .with_progress(true);
    match trainer.fit(train, valid, device, mode) {
        Ok(TrainOutcome::Finished(s)) => Ok(s),
        Ok(TrainOutcome::Interrupted { checkpoint, .. }) => {
            println!(
                "interrupted: checkpoint {}; run the same command again to resume",
                checkpoint.display()
            );
            std::process::exit(130);
        }
        Err(chronomap::train::Error::ConfigMismatch { path, .. }) => anyhow::bail!(
            "{} holds a run with other settings; pass --fresh to start over or choose another --out",
            path.display()
        ),
        Err(e) => Err(e.into()),
    }
}

/// Writes the synthetic world under `<out>/world` unless a complete one is there.
fn synthetic_world(args: &Args, preset: &Preset) -> anyhow::Result<PathBuf> {
    let size = args.world_size.unwrap_or(preset.world_size);
    let dir = args.out.join("world");
    let manifest = dir.join("manifest.json");
    let config = SynthConfig {
        size,
        ..SynthConfig::new(args.seed)
    };
    // The world is reused when a complete one (manifest written last) of the same settings is
    // there; `world.json` records the settings.
    let stamp = dir.join("world.json");
    let wanted = serde_json::to_value(&config)?;
    let existing: Option<serde_json::Value> = std::fs::read(&stamp)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if existing.as_ref() == Some(&wanted) && SceneSeries::open(&manifest).is_ok() {
        println!("reusing the synthetic world in {}", dir.display());
        return Ok(manifest);
    }
    println!(
        "writing the synthetic Saint-Louis world ({size} x {size} px) to {}",
        dir.display()
    );
    let summary = write_world(&config, &dir, &mut |_, _, _| {})?;
    chronomap::train::write_json_atomic(&stamp, &wanted)?;
    for y in &summary.years {
        println!(
            "  {}: {} buildings ({} in OSM), labels rasterized from {} -> {}",
            y.year,
            y.buildings,
            y.buildings_mapped,
            y.osm
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            y.labels
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
    }
    Ok(summary.manifest)
}

fn print_table(
    title: &str,
    names: &[String],
    per_date: &SegmentationMetrics,
    fused: &SegmentationMetrics,
) {
    let f = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    println!("\n{title:<16} {:>12} {:>12}", "per-date", "fused");
    for (a, b) in per_date.per_class.iter().zip(&fused.per_class) {
        let name = names
            .get(a.class)
            .cloned()
            .unwrap_or_else(|| format!("class {}", a.class));
        println!("  IoU {:<10} {:>12} {:>12}", name, f(a.iou), f(b.iou));
    }
    println!(
        "  {:<14} {:>12} {:>12}",
        "mIoU",
        f(per_date.miou),
        f(fused.miou)
    );
    println!(
        "  {:<14} {:>12} {:>12}",
        "OA",
        f(per_date.overall_accuracy),
        f(fused.overall_accuracy)
    );
    println!(
        "  {:<14} {:>12} {:>12}",
        "kappa",
        f(per_date.kappa),
        f(fused.kappa)
    );
    println!(
        "  {:<14} {:>12} {:>12}",
        "pixels", per_date.num_pixels, fused.num_pixels
    );
}
