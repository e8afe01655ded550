//! Collection mode: one network for many cities, scored on cities it never saw.
//!
//! `--cities N` writes (or reuses) N synthetic cities under `<out>/world` (other UTM zones
//! and both hemispheres, other sun geometry and seasons, other towns and land-cover mixes,
//! 4 to 7 acquisitions a year on their own calendars; `chronomap synth --cities N` writes the
//! same), `--data collection.json` takes real series instead. Then:
//! 1. holds out whole series (`--held-out`, default every third one starting with the
//!    third), the last acquisition of every year of every series, and a quarter of the area
//!    of each training series (validation blocks);
//! 2. trains one network on patches drawn across the training series in proportion to their
//!    labelled clear area, in the same three stages as the single-scene mode;
//! 3. predicts per-date and fused maps of every date of every year of every series (one
//!    folder per series, `maps/<series>/<year>/`);
//! 4. scores per-date vs fused mIoU per series, pooled over pixels and as a mean over series,
//!    and by date position within each year (position 0: the first date, where the ConvLSTM
//!    has no history): held-out series over their whole area, training series over their
//!    validation blocks only;
//! 5. writes `metrics.json` (everything above, timings, peak memory) and prints the tables.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use chronomap::burn::tensor::Device;
use chronomap::data::{Collection, Split, SynthConfig, synth_cities};
use chronomap::geo::Window;
use chronomap::train::{
    CollectionPlan, CollectionScores, DataPlan, DateHoldOut, DateScore, MiouPair, PredictConfig,
    Preset, ProbabilityMaps, ProgressBar, QUICKLOOK_SIDE, SeriesScores, class_map_png,
    load_model_dir, patch_size_for, predict_scene, prepare_collection, rgb_bands, rgb_png,
};
use serde_json::json;

use crate::Args;

/// Runs the collection mode (see the module docs).
pub fn run(args: &Args, mut preset: Preset, device: &Device, t0: Instant) -> anyhow::Result<()> {
    let mut timings = serde_json::Map::new();
    let mut last = Instant::now();
    let mut lap = |name: &str, timings: &mut serde_json::Map<String, serde_json::Value>| {
        let s = last.elapsed().as_secs_f64();
        timings.insert(name.into(), json!((s * 10.0).round() / 10.0));
        last = Instant::now();
    };

    // 1. The collection: real (--data) or synthetic cities (written once, then reused).
    let source = match &args.data {
        Some(p) => p.clone(),
        None => synthetic_cities(args, &preset, args.cities.unwrap_or(6))?,
    };
    let mut collection =
        Collection::open(&source).with_context(|| format!("opening {}", source.display()))?;
    let in_memory = collection.load_into_memory(3 << 30)?;
    lap("world", &mut timings);
    let names: Vec<String> = collection.names().iter().map(|s| s.to_string()).collect();
    let k = collection.classes().len();
    anyhow::ensure!(
        k >= 2,
        "{}: the series must list their classes",
        source.display()
    );
    let held_out: Vec<String> = if !args.held_out.is_empty() {
        args.held_out.clone()
    } else if names.len() >= 3 {
        names
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == 2)
            .map(|(_, n)| n.clone())
            .collect()
    } else {
        println!(
            "note: {} series: none held out (pass --held-out NAME to choose)",
            names.len()
        );
        Vec::new()
    };

    // 2. The plan: patches sized to the smallest series, one sequence length for all.
    if let Some(b) = args.batch {
        preset.batch_size = b;
    }
    if let Some(w) = args.windows_per_epoch {
        preset.windows_per_epoch = w;
    }
    let training: Vec<usize> = (0..names.len())
        .filter(|&i| !held_out.contains(&names[i]))
        .collect();
    match args.patch {
        Some(p) => preset.patch_size = p,
        None => {
            let multiple = preset.model(1, 2).size_multiple();
            let side = training
                .iter()
                .map(|&i| {
                    let s = &collection.series()[i];
                    s.width().min(s.height())
                })
                .min()
                .unwrap_or(preset.patch_size);
            let (p, note) = patch_size_for(side, side, preset.patch_size, multiple, true)
                .with_context(|| format!("sizing patches for {}", source.display()))?;
            if let Some(note) = note {
                println!("note: {note} (--patch to choose)");
            }
            preset.patch_size = p;
        }
    }
    // Sequences of the preset's length, at most the longest run of training dates within one
    // year (the last date of each year is held out) in the series that has the fewest: every
    // training series then trains on full-length runs. (The library pads shorter years when
    // asked for longer sequences; measured here, 5 padded dates instead of 3 gave later dates
    // more (+0.08 mIoU at positions 4-5) but the first three less (-0.004), and the U-Net
    // fewer samples per epoch.)
    let shortest = training
        .iter()
        .filter_map(|&i| {
            collection.series()[i]
                .sequences_by_year()
                .iter()
                .map(|g| g.len().saturating_sub(1))
                .max()
        })
        .min()
        .unwrap_or(1);
    let mut data = DataPlan::new(preset.patch_size, preset.batch_size);
    data.windows_per_epoch = preset.windows_per_epoch;
    data.sequence_length = Some(match args.seq_len {
        Some(l) => l.max(1),
        None => preset.sequence_length.min(shortest).max(1),
    });
    data.validation_fraction = 0.25;
    data.seed = args.seed;
    let mut plan = CollectionPlan::new(data);
    plan.held_out_series = held_out.clone();
    plan.held_out_dates = DateHoldOut::LastOfEachYear;
    let prepared = prepare_collection(&collection, &plan, None)?;
    for note in &prepared.notes {
        println!("note: {note}");
    }
    let residual = args.residual.unwrap_or(true);
    let model_cfg = preset
        .model(collection.bands().len(), k)
        .with_residual(residual.then_some(true))
        .with_first_date_from_unet(args.first_date_from_unet.then_some(true));
    let mut config = crate::staged_config(
        &preset,
        model_cfg,
        prepared.class_frequencies.as_deref(),
        prepared.sequence_length,
        args.seed,
    );
    config.data = Some(prepared.record());
    let card = prepared.model_card(&config);
    println!(
        "{}: {} series ({} in memory), {} bands, {} classes; sequences of {} dates, {} \
         batches/epoch, residual fusion {}",
        source.display(),
        names.len(),
        in_memory,
        collection.bands().len(),
        k,
        prepared.sequence_length,
        chronomap::train::BatchSource::num_batches(&prepared.train),
        if residual { "on" } else { "off" }
    );
    println!(
        "  {:<14} {:<10} {:>9} {:>6} {:>6} {:>8}",
        "series", "role", "size", "EPSG", "dates", "windows"
    );
    for (p, s) in prepared.parts.iter().zip(collection.series()) {
        println!(
            "  {:<14} {:<10} {:>9} {:>6} {:>6} {:>8}",
            p.name,
            p.role,
            format!("{}x{}", s.width(), s.height()),
            s.epsg()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "-".into()),
            s.len(),
            p.windows_per_epoch
        );
    }
    lap("prepare", &mut timings);

    // 3. Train.
    let run_dir = args.out.join("run");
    let valid = prepared
        .valid
        .as_ref()
        .map(|v| v as &dyn chronomap::train::BatchSource);
    let summary = crate::fit(
        config.clone(),
        &run_dir,
        card,
        &prepared.train,
        valid,
        device,
        args.fresh,
    )?;
    lap("train", &mut timings);
    let (model, card) = load_model_dir(&summary.best_dir, device)?;

    // 4. Maps of every date of every year of every series, then their scores.
    let pconfig = PredictConfig {
        window: preset.window,
        overlap: preset.window / 8,
        batch_windows: 4,
        date_maps: true,
        probabilities: ProbabilityMaps::None,
        map_dates: None,
    };
    let mut scores = CollectionScores::default();
    for (part, series) in prepared.parts.iter().zip(collection.series()) {
        let scored = matches!(part.role.as_str(), "train" | "held_out");
        let regions: Vec<Window> = if part.role == "train" {
            part.split.regions(Split::Validation)
        } else {
            vec![Window::full(series.width(), series.height())]
        };
        let mut s = SeriesScores::new(&part.name, part.role == "held_out");
        let years = series.years();
        for (yi, dates) in series.sequences_by_year().iter().enumerate() {
            let dir = args
                .out
                .join("maps")
                .join(&part.name)
                .join(years[yi].to_string());
            let pb = ProgressBar::new(0);
            pb.set_message(format!("predict {} {}", part.name, years[yi]));
            let files = predict_scene(
                &model, &card, series, dates, &dir, &pconfig, None, device, &pb,
            )?;
            pb.finish_and_clear();
            if scored {
                s.add_run(series, dates, &files, &regions, &part.held_out_dates, k)?;
            }
            // Quicklooks of the year's last date: fused and per-date classes, RGB.
            let d = *dates.last().expect("a year has dates");
            let name = series.dates()[d].date.to_string();
            for f in files.iter().filter(|f| f.date == name) {
                class_map_png(
                    &f.classes,
                    &f.classes.with_extension("png"),
                    &card.classes,
                    k,
                    QUICKLOOK_SIDE,
                )?;
            }
            rgb_png(
                series,
                d,
                rgb_bands(series.bands()),
                &dir.join(format!("{name}_rgb.png")),
                QUICKLOOK_SIDE,
            )?;
        }
        if scored {
            scores.series.push(s);
        }
    }
    lap("predict_and_score", &mut timings);

    // 5. Report.
    let all = |_: &DateScore| true;
    let held = |s: &SeriesScores| s.held_out_series;
    let trained = |s: &SeriesScores| !s.held_out_series;
    let held_pooled = scores.pooled(&held, &all);
    let held_mean = scores.mean_over_series(&held, &all);
    let held_positions = scores.by_position(&held, &all);
    let held_dates_pooled = scores.pooled(&held, &|d: &DateScore| d.held_out_date);
    let overall_gain = held_pooled.gain();
    let worst_position_gain = held_positions
        .iter()
        .filter_map(|(_, m)| m.gain())
        .min_by(f64::total_cmp);
    let total = t0.elapsed().as_secs_f64();
    let peak = peak_rss_mib();
    let report = json!({
        "mode": "collection",
        "preset": preset, "device": chronomap::describe_device(device).to_string(),
        "collection": source, "held_out_series": held_out, "model": config.model,
        "plan": config.data,
        "training": { "epochs": summary.history.epochs.len(), "iterations": summary.iterations,
                      "best": summary.best, "run": run_dir },
        "scores": scores.to_json(),
        "held_out_series_summary": {
            "pixel_pooled": held_pooled, "mean_over_series": held_mean,
            "held_out_dates_pixel_pooled": held_dates_pooled,
            "by_date_position": held_positions.iter().map(|(p, m)| json!({
                "position": p, "per_date": m.per_date, "fused": m.fused, "pixels": m.pixels,
            })).collect::<Vec<_>>(),
            "fused_gain_pooled": overall_gain,
            "smallest_fused_gain_by_position": worst_position_gain,
        },
        "seconds": timings, "total_seconds": (total * 10.0).round() / 10.0,
        "peak_rss_mib": peak,
    });
    chronomap::train::write_json_atomic(&args.out.join("metrics.json"), &report)?;
    chronomap::train::write_atomic(&args.out.join("metrics.csv"), scores.to_csv().as_bytes())?;

    let f = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    let fg = |v: Option<f64>| v.map(|v| format!("{v:+.3}")).unwrap_or_else(|| "-".into());
    println!(
        "\nmIoU per series (held-out series: whole area, all dates; training series: \
         validation blocks), pixels clear at each date"
    );
    println!(
        "  {:<14} {:<10} {:>9} {:>9} {:>8}",
        "series", "role", "per-date", "fused", "gain"
    );
    for s in &scores.series {
        let m = s.miou(all);
        println!(
            "  {:<14} {:<10} {:>9} {:>9} {:>8}",
            s.name,
            if s.held_out_series {
                "held out"
            } else {
                "training"
            },
            f(m.per_date),
            f(m.fused),
            fg(m.gain())
        );
    }
    let row = |title: &str, m: &MiouPair| {
        println!(
            "  {:<25} {:>9} {:>9} {:>8}",
            title,
            f(m.per_date),
            f(m.fused),
            fg(m.gain())
        );
    };
    println!(
        "\nheld-out series ({})        per-date     fused     gain",
        held_out.join(", ")
    );
    row("pixel-pooled", &held_pooled);
    row("mean over series", &held_mean);
    row("held-out dates, pooled", &held_dates_pooled);
    for (p, m) in &held_positions {
        row(&format!("date position {p}"), m);
    }
    row("training series, pooled", &scores.pooled(&trained, &all));
    let beats =
        overall_gain.is_some_and(|g| g >= 0.05) && worst_position_gain.is_some_and(|g| g > 0.0);
    println!(
        "fused vs per-date on held-out series: {} pooled, smallest gain by date position {} -> {}",
        fg(overall_gain),
        fg(worst_position_gain),
        if beats {
            "fused maps are better overall and at every date position"
        } else {
            "fused maps are NOT better everywhere"
        }
    );
    println!(
        "outputs in {}; total {:.0} s, peak memory {} ({})",
        args.out.display(),
        total,
        peak.map(|m| format!("{m:.0} MiB"))
            .unwrap_or_else(|| "unknown".into()),
        timings
            .iter()
            .map(|(k, v)| format!("{k} {v} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Writes `n` synthetic cities under `<out>/world` unless a complete set of the same settings
/// is there; returns its `collection.json`.
fn synthetic_cities(args: &Args, preset: &Preset, n: usize) -> anyhow::Result<PathBuf> {
    let size = args.world_size.unwrap_or(preset.world_size.min(256));
    let dir = args.out.join("world");
    let base = SynthConfig {
        size,
        ..SynthConfig::new(args.seed)
    };
    let configs = synth_cities(&base, n)?;
    let stamp = dir.join("cities.json");
    let wanted = serde_json::to_value(&configs)?;
    let existing: Option<serde_json::Value> = std::fs::read(&stamp)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let collection = dir.join("collection.json");
    if existing.as_ref() == Some(&wanted) && Collection::open(&collection).is_ok() {
        println!("reusing the {n} synthetic cities in {}", dir.display());
        return Ok(collection);
    }
    println!(
        "writing {n} synthetic cities ({size} x {size} px each) to {}",
        dir.display()
    );
    let pb = ProgressBar::new(n as u64);
    let path = chronomap::data::write_collection(&configs, &dir, &mut |done, _, name| {
        pb.set_position(done as u64);
        pb.set_message(name.to_string());
    })?;
    pb.finish_and_clear();
    chronomap::train::write_json_atomic(&stamp, &wanted)?;
    Ok(path)
}

/// Peak resident memory of this process (Linux `VmHWM`), MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
