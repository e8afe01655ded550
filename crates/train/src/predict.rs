//! Whole-scene prediction and streaming updates from files: a [`SceneSeries`] in, class and
//! probability GeoTIFFs (on the series' grid, with its georeferencing) out.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use chronomap_data::{NormStats, QUALITY_NODATA, SceneSeries};
use chronomap_geo::{
    CogOptions, GeoTiffWriter, OverviewResampling, RasterSpec, SampleType, Window as PixelWindow,
};
use chronomap_model::SpatioTemporalNet;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::checkpoint::ModelCard;
use crate::error::{Error, Result};
use crate::infer::{DateSelection, MapKind, Products, RowBlock, SceneReader, run_scene};
use crate::metrics::IGNORE_LABEL;
use crate::state::{SceneState, StateMeta};
use crate::window::WindowPlan;

/// A [`SceneReader`] over some dates of a [`SceneSeries`], normalized with the model's
/// statistics exactly as training patches are (nodata pixels set to 0 after normalization).
pub struct SeriesReader<'a> {
    series: &'a SceneSeries,
    stats: &'a NormStats,
    dates: Vec<usize>,
}

impl std::fmt::Debug for SeriesReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesReader")
            .field("source", &self.series.source())
            .field("dates", &self.dates)
            .finish()
    }
}

impl<'a> SeriesReader<'a> {
    /// Reads dates `dates` (indices into the series, chronological) of `series`.
    ///
    /// # Errors
    /// [`Error::BandMismatch`] naming the series when its bands differ from the statistics'.
    pub fn new(series: &'a SceneSeries, stats: &'a NormStats, dates: Vec<usize>) -> Result<Self> {
        let names: Vec<String> = stats.bands.iter().map(|b| b.name.clone()).collect();
        if names.as_slice() != series.bands() {
            return Err(Error::BandMismatch {
                path: series.source().to_path_buf(),
                expected: names.len(),
                expected_names: names,
                found: series.bands().len(),
                found_names: series.bands().to_vec(),
            });
        }
        if let Some(&d) = dates.iter().find(|&&d| d >= series.len()) {
            return Err(Error::InvalidConfig(format!(
                "date index {d} out of range: {} has {} dates",
                series.source().display(),
                series.len()
            )));
        }
        Ok(Self {
            series,
            stats,
            dates,
        })
    }
}

impl SceneReader for SeriesReader<'_> {
    fn size(&self) -> [usize; 2] {
        [self.series.height(), self.series.width()]
    }

    fn channels(&self) -> usize {
        self.series.bands().len()
    }

    fn num_dates(&self) -> usize {
        self.dates.len()
    }

    fn read(&self, date: usize, window: PixelWindow) -> Result<(Vec<f32>, Vec<u8>)> {
        let patch = self.series.read_patch(window, &[self.dates[date]])?;
        let mut image = patch.image;
        let plane = window.area();
        self.stats.apply(&mut image, plane);
        let c = self.channels();
        for ch in 0..c {
            for (v, &q) in image[ch * plane..(ch + 1) * plane]
                .iter_mut()
                .zip(&patch.quality)
            {
                if q == QUALITY_NODATA {
                    *v = 0.0;
                }
            }
        }
        Ok((image, patch.quality))
    }
}

/// Settings of a whole-scene prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictConfig {
    /// Window side in pixels (rounded up to the model's `2^depth`).
    pub window: usize,
    /// Minimum overlap between neighbouring windows.
    pub overlap: usize,
    /// Windows run through the network together.
    pub batch_windows: usize,
    /// Write per-date (U-Net alone) maps too, not only fused ones.
    pub date_maps: bool,
    /// Which dates get probability GeoTIFFs (f32, one band per class) next to their class maps.
    pub probabilities: ProbabilityMaps,
    /// Write maps for these dates only (indices into the selected dates); `None`: all.
    pub map_dates: Option<Vec<usize>>,
}

impl Default for PredictConfig {
    fn default() -> Self {
        Self {
            window: 256,
            overlap: 32,
            batch_windows: 4,
            date_maps: true,
            probabilities: ProbabilityMaps::Last,
            map_dates: None,
        }
    }
}

/// Which mapped dates also get probability GeoTIFFs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbabilityMaps {
    /// None: class maps only.
    None,
    /// The last mapped date only (the up-to-date map).
    Last,
    /// Every mapped date.
    All,
}

impl ProbabilityMaps {
    fn select(self, dates: &[usize]) -> Vec<usize> {
        match self {
            ProbabilityMaps::None => Vec::new(),
            ProbabilityMaps::Last => dates.iter().max().copied().into_iter().collect(),
            ProbabilityMaps::All => dates.to_vec(),
        }
    }
}

/// One file written by a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapFile {
    /// Per-date (`date`) or fused (`fused`) map.
    pub kind: String,
    /// The acquisition date (`YYYY-MM-DD`).
    pub date: String,
    /// Class map (u8, 255 = no prediction).
    pub classes: PathBuf,
    /// Probability map (f32, one band per class), if written.
    pub probabilities: Option<PathBuf>,
}

/// Checks that a series can go through a model.
///
/// # Errors
/// [`Error::BandMismatch`] naming the series' manifest when the band names or count differ
/// from the model card's.
pub fn check_series(series: &SceneSeries, card: &ModelCard) -> Result<()> {
    if series.bands() != card.bands.as_slice() || card.model.in_channels != series.bands().len() {
        return Err(Error::BandMismatch {
            path: series.source().to_path_buf(),
            expected: card.model.in_channels,
            expected_names: card.bands.clone(),
            found: series.bands().len(),
            found_names: series.bands().to_vec(),
        });
    }
    Ok(())
}

fn date_name(series: &SceneSeries, index: usize) -> String {
    series.dates()[index].date.to_string()
}

struct Writers {
    files: Vec<MapFile>,
    classes: Vec<GeoTiffWriter>,
    probs: Vec<Option<GeoTiffWriter>>,
}

fn spec_for(series: &SceneSeries, bands: usize, st: SampleType) -> RasterSpec {
    let mut spec = match series.grid() {
        Some(g) => RasterSpec::for_grid(&g, bands, st),
        None => RasterSpec::new(series.width(), series.height(), bands, st),
    };
    if st == SampleType::U8 {
        spec = spec.with_nodata(IGNORE_LABEL as f64);
    }
    spec
}

/// Predicts maps of dates `dates` (indices into `series`, chronological) and writes them into
/// `out_dir` as `<date>_fused.tif`, `<date>_fused_probs.tif`, `<date>_date.tif`,
/// `<date>_date_probs.tif`. With `state_out`, also stores the per-window ConvLSTM states after
/// the last date for later [`update_scene`] calls.
///
/// Every output is written through a temporary file renamed into place when complete.
///
/// # Errors
/// [`Error::BandMismatch`] naming the manifest; read/write errors naming the file.
#[allow(clippy::too_many_arguments)]
pub fn predict_scene(
    model: &SpatioTemporalNet,
    card: &ModelCard,
    series: &SceneSeries,
    dates: &[usize],
    out_dir: &Path,
    config: &PredictConfig,
    state_out: Option<&Path>,
    device: &Device,
    progress: &ProgressBar,
) -> Result<Vec<MapFile>> {
    check_series(series, card)?;
    if dates.is_empty() {
        return Err(Error::InvalidConfig("no date to predict".into()));
    }
    if dates.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::InvalidConfig(format!(
            "dates must be increasing, got {dates:?}"
        )));
    }
    let reader = SeriesReader::new(series, &card.normalization, dates.to_vec())?;
    let plan = WindowPlan::new(
        [series.height(), series.width()],
        config.window,
        config.overlap.min(config.window.saturating_sub(1)),
        model.config().size_multiple(),
    );
    let map_dates: Vec<usize> = match &config.map_dates {
        Some(m) => m.clone(),
        None => (0..dates.len()).collect(),
    };
    let products = Products {
        date: config.date_maps,
        fused: true,
        probability_dates: config.probabilities.select(&map_dates),
        dates: map_dates,
    };
    let names: Vec<String> = dates.iter().map(|&d| date_name(series, d)).collect();
    let mut state = match state_out {
        Some(dir) => Some(SceneState::create(
            dir,
            state_meta(card, series, config, &plan),
        )?),
        None => None,
    };
    let written = run_to_files(
        model,
        card,
        series,
        &reader,
        &plan,
        config,
        &products,
        &names,
        out_dir,
        state
            .as_mut()
            .map(|s| s as &mut dyn crate::infer::WindowStates),
        device,
        progress,
    );
    match (written, state) {
        (Ok(files), Some(st)) => {
            st.commit(names)?;
            Ok(files)
        }
        (Ok(files), None) => Ok(files),
        (Err(e), Some(st)) => {
            st.abandon();
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

fn state_meta(
    card: &ModelCard,
    series: &SceneSeries,
    config: &PredictConfig,
    plan: &WindowPlan,
) -> StateMeta {
    StateMeta {
        format: 1,
        weights_hash: card.weights_hash.clone(),
        model: card.model.clone(),
        width: series.width(),
        height: series.height(),
        geotransform: series.geotransform().map(|g| g.0),
        epsg: series.epsg(),
        window: config.window,
        overlap: plan.overlap(),
        multiple: plan.multiple(),
        batch_windows: config.batch_windows,
        dates: Vec::new(),
        generation: 0,
    }
}

#[allow(clippy::too_many_arguments)]
fn run_to_files(
    model: &SpatioTemporalNet,
    card: &ModelCard,
    series: &SceneSeries,
    reader: &dyn SceneReader,
    plan: &WindowPlan,
    config: &PredictConfig,
    products: &Products,
    names: &[String],
    out_dir: &Path,
    states: Option<&mut dyn crate::infer::WindowStates>,
    device: &Device,
    progress: &ProgressBar,
) -> Result<Vec<MapFile>> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let k = card.model.num_classes;
    // the class maps' colour table: the quicklooks' colours, black for 255 (no prediction)
    let mut palette = crate::quicklook::class_palette(&card.classes, k);
    palette.resize(256, [0, 0, 0]);
    let class_names: Vec<String> = (0..k)
        .map(|i| {
            card.classes
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("class {i}"))
        })
        .collect();
    let mut w = Writers {
        files: Vec::new(),
        classes: Vec::new(),
        probs: Vec::new(),
    };
    for &d in &products.dates {
        for (on, kind, tag) in [
            (products.date, MapKind::Date, "date"),
            (products.fused, MapKind::Fused, "fused"),
        ] {
            if !on {
                continue;
            }
            let _ = kind;
            let cpath = out_dir.join(format!("{}_{tag}.tif", names[d]));
            // Cloud-Optimized GeoTIFFs: mode overviews keep class values (and the palette),
            // average overviews of probabilities
            let classes = GeoTiffWriter::create(
                &cpath,
                spec_for(series, 1, SampleType::U8)
                    .with_band_names([format!("{tag} classes")])
                    .with_palette(palette.clone())
                    .with_cog(CogOptions::new(OverviewResampling::Mode)),
            )?;
            let ppath = out_dir.join(format!("{}_{tag}_probs.tif", names[d]));
            let with_probs = products.probability_dates.contains(&d);
            let probs = if with_probs {
                Some(GeoTiffWriter::create(
                    &ppath,
                    spec_for(series, k, SampleType::F32)
                        .with_band_names(card.classes.clone())
                        .with_cog(CogOptions::new(OverviewResampling::Average)),
                )?)
            } else {
                None
            };
            w.files.push(MapFile {
                kind: tag.into(),
                date: names[d].clone(),
                classes: cpath,
                probabilities: with_probs.then_some(ppath),
            });
            w.classes.push(classes);
            w.probs.push(probs);
        }
    }
    let mut sink = |block: RowBlock| -> Result<()> {
        for (i, p) in block.products.into_iter().enumerate() {
            w.classes[i].write_rows(block.row, &p.classes)?;
            if let (Some(pw), Some(probs)) = (w.probs[i].as_mut(), p.probabilities) {
                pw.write_rows(block.row, &probs)?;
            }
        }
        Ok(())
    };
    run_scene(
        model,
        reader,
        plan,
        config.batch_windows,
        products,
        states,
        device,
        progress,
        &mut sink,
    )?;
    for c in w.classes {
        c.finish()?;
    }
    for p in w.probs.into_iter().flatten() {
        p.finish()?;
    }
    // named, coloured classes in GDAL and QGIS (<map>.tif.aux.xml, <map>.qml)
    for f in &w.files {
        chronomap_geo::write_class_style(&f.classes, &class_names, &palette, Some(IGNORE_LABEL))?;
    }
    Ok(w.files)
}

/// Streaming update: folds the dates of `series` that come after the stored state's last date
/// (or exactly `dates`) into the stored per-window ConvLSTM states, and writes the maps of those
/// new dates. Equal to predicting the whole series at once with [`predict_scene`].
///
/// # Errors
/// [`Error::StateMismatch`] naming the state folder when it was made by other weights, on
/// another grid or with other windows, or when a date is not after its last date;
/// [`Error::BandMismatch`] naming the manifest; read/write errors naming the file.
#[allow(clippy::too_many_arguments)]
pub fn update_scene(
    model: &SpatioTemporalNet,
    card: &ModelCard,
    series: &SceneSeries,
    state_dir: &Path,
    dates: Option<&[usize]>,
    out_dir: &Path,
    config: &PredictConfig,
    device: &Device,
    progress: &ProgressBar,
) -> Result<(Vec<MapFile>, SceneState)> {
    check_series(series, card)?;
    let state = SceneState::open(state_dir)?;
    let meta = state.meta().clone();
    let mismatch = |problem: String| Error::StateMismatch {
        path: state_dir.to_path_buf(),
        problem,
    };
    if meta.weights_hash != card.weights_hash || meta.model != card.model {
        return Err(mismatch(format!(
            "it was made by weights {} ({:?}); the model is {} ({:?})",
            meta.weights_hash, meta.model, card.weights_hash, card.model
        )));
    }
    if [meta.width, meta.height] != [series.width(), series.height()]
        || meta.epsg != series.epsg()
        || meta.geotransform != series.geotransform().map(|g| g.0)
    {
        return Err(mismatch(format!(
            "it covers a {}x{} grid ({:?}, EPSG {:?}); {} is {}x{} ({:?}, EPSG {:?})",
            meta.width,
            meta.height,
            meta.geotransform,
            meta.epsg,
            series.source().display(),
            series.width(),
            series.height(),
            series.geotransform().map(|g| g.0),
            series.epsg()
        )));
    }
    let last = meta.dates.last().cloned().unwrap_or_default();
    let new_dates: Vec<usize> = match dates {
        Some(d) => d.to_vec(),
        None => (0..series.len())
            .filter(|&i| date_name(series, i) > last)
            .collect(),
    };
    if new_dates.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "{} has no date after {last}, the last date of state {}",
            series.source().display(),
            state_dir.display()
        )));
    }
    for &d in &new_dates {
        if d >= series.len() || date_name(series, d) <= last {
            return Err(mismatch(format!(
                "date {} is not after the state's last date {last}",
                if d < series.len() {
                    date_name(series, d)
                } else {
                    format!("#{d}")
                }
            )));
        }
    }
    let full = SeriesReader::new(series, &card.normalization, (0..series.len()).collect())?;
    let reader = DateSelection::new(&full, &new_dates);
    let plan = meta.plan();
    let names: Vec<String> = new_dates.iter().map(|&d| date_name(series, d)).collect();
    let mapped: Vec<usize> = (0..new_dates.len()).collect();
    let products = Products {
        date: config.date_maps,
        fused: true,
        probability_dates: config.probabilities.select(&mapped),
        dates: mapped,
    };
    let mut cfg = config.clone();
    cfg.batch_windows = meta.batch_windows;
    let mut up = state.begin_update()?;
    let res = run_to_files(
        model,
        card,
        series,
        &reader,
        &plan,
        &cfg,
        &products,
        &names,
        out_dir,
        Some(&mut up),
        device,
        progress,
    );
    match res {
        Ok(files) => {
            let mut all = meta.dates.clone();
            all.extend(names);
            let st = up.commit(all)?;
            Ok((files, st))
        }
        Err(e) => {
            up.abandon();
            Err(e)
        }
    }
}
