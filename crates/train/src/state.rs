//! The ConvLSTM state of a whole scene, stored on disk for streaming updates.
//!
//! Layout of a state folder:
//!
//! ```text
//! state/state.json                 StateMeta: model hash + config, scene grid, window plan,
//!                                  the dates folded in so far, current generation
//! state/gen-00000002/r0003_c0007.safetensors
//!                                  per window: tensors "hidden" and "cell",
//!                                  f32 [hidden_channels, window, window], and "seen",
//!                                  u8 [height, width] (1 where a date so far had data)
//! ```
//!
//! One state per window of the [`WindowPlan`] (not one blended scene-wide state): see
//! [`run_scene`](crate::run_scene) for why this makes streaming updates exactly equal to batch
//! prediction. Disk use is `2 x hidden_channels x 4` bytes per processed window pixel (windows
//! overlap, so slightly more than the scene): about 16 GB for a 10980 x 10980 tile with 16
//! hidden channels and 512 px windows overlapping by 64.
//!
//! Updates are crash-safe: the new generation is written to a temporary folder, renamed to
//! `gen-N+1`, then `state.json` is replaced atomically to point to it, and only then is
//! `gen-N` removed. An interruption at any point leaves a consistent state (the old or the
//! new one); leftovers are cleaned up on the next open.

use std::fs;
use std::path::{Path, PathBuf};

use chronomap_model::SpatioTemporalNetConfig;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use crate::atomic::{read_json, write_atomic, write_json_atomic};
use crate::error::{Error, Result};
use crate::infer::{StoredWindow, WindowStates};
use crate::window::{Window, WindowPlan};

const META_FILE: &str = "state.json";
const STATE_FORMAT: u32 = 1;

/// What a stored scene state belongs to (`state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMeta {
    /// Format version.
    pub format: u32,
    /// Hash of the weights that produced the state ([`ModelCard::weights_hash`](crate::ModelCard)).
    pub weights_hash: String,
    /// The network configuration.
    pub model: SpatioTemporalNetConfig,
    /// Scene width in pixels.
    pub width: usize,
    /// Scene height in pixels.
    pub height: usize,
    /// Scene geotransform (GDAL order), if georeferenced.
    pub geotransform: Option<[f64; 6]>,
    /// Scene EPSG code, if known.
    pub epsg: Option<u32>,
    /// Window size of the plan.
    pub window: usize,
    /// Minimum overlap of the plan.
    pub overlap: usize,
    /// Size multiple of the plan (the model's `2^depth`).
    pub multiple: usize,
    /// Windows per batch (kept so that updates batch windows exactly as the first run did).
    pub batch_windows: usize,
    /// The dates folded into the state so far, chronological (`YYYY-MM-DD`).
    pub dates: Vec<String>,
    /// Current generation (folder `gen-NNNNNNNN`).
    pub generation: u64,
}

impl StateMeta {
    /// The window plan the state was made with.
    pub fn plan(&self) -> WindowPlan {
        WindowPlan::new(
            [self.height, self.width],
            self.window,
            self.overlap,
            self.multiple,
        )
    }
}

/// A scene state folder.
#[derive(Debug, Clone)]
pub struct SceneState {
    dir: PathBuf,
    meta: StateMeta,
}

fn gen_dir(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("gen-{generation:08}"))
}

fn window_file(window: &Window) -> String {
    format!(
        "r{:04}_c{:04}.safetensors",
        window.grid_row, window.grid_col
    )
}

impl SceneState {
    /// Opens a state folder and removes leftovers of interrupted updates.
    ///
    /// # Errors
    /// [`Error::Io`]/[`Error::Json`] for a missing or invalid `state.json`;
    /// [`Error::StateMismatch`] if its generation folder is missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        let meta: StateMeta = read_json(&dir.join(META_FILE))?;
        if meta.format != STATE_FORMAT {
            return Err(Error::StateMismatch {
                path: dir.join(META_FILE),
                problem: format!(
                    "format {} (this chronomap reads {STATE_FORMAT})",
                    meta.format
                ),
            });
        }
        let current = gen_dir(&dir, meta.generation);
        if !current.is_dir() {
            return Err(Error::StateMismatch {
                path: current,
                problem: "the generation folder named by state.json is missing".into(),
            });
        }
        cleanup(&dir, Some(&current));
        Ok(Self { dir, meta })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The metadata.
    pub fn meta(&self) -> &StateMeta {
        &self.meta
    }

    /// Starts writing a brand-new state (e.g. at the end of a whole-series prediction) in
    /// `dir`, replacing any state there when committed.
    ///
    /// # Errors
    /// [`Error::Io`] if the folder cannot be created.
    pub fn create(dir: impl Into<PathBuf>, mut meta: StateMeta) -> Result<StateUpdate> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let previous: Option<StateMeta> = read_json(&dir.join(META_FILE)).ok();
        meta.format = STATE_FORMAT;
        meta.generation = previous.as_ref().map_or(1, |p| p.generation + 1);
        StateUpdate::new(dir, None, meta)
    }

    /// Starts an update: windows are read from the current generation and written to the
    /// next one; nothing changes on disk until [`StateUpdate::commit`].
    ///
    /// # Errors
    /// [`Error::Io`] if the temporary folder cannot be created.
    pub fn begin_update(&self) -> Result<StateUpdate> {
        let mut meta = self.meta.clone();
        meta.generation += 1;
        StateUpdate::new(
            self.dir.clone(),
            Some(gen_dir(&self.dir, self.meta.generation)),
            meta,
        )
    }
}

/// Removes `.tmp-*` folders and generations other than `keep`.
fn cleanup(dir: &Path, keep: Option<&Path>) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            let stale_gen = name.starts_with("gen-") && Some(p.as_path()) != keep;
            if (name.starts_with(".tmp-gen-") || stale_gen) && p.is_dir() {
                let _ = fs::remove_dir_all(&p);
            }
        }
    }
}

/// An update in progress: implements [`WindowStates`] for [`run_scene`](crate::run_scene).
#[derive(Debug)]
pub struct StateUpdate {
    dir: PathBuf,
    read_from: Option<PathBuf>,
    tmp: PathBuf,
    meta: StateMeta,
    written: usize,
}

impl StateUpdate {
    fn new(dir: PathBuf, read_from: Option<PathBuf>, meta: StateMeta) -> Result<Self> {
        let tmp = dir.join(format!(
            ".tmp-gen-{:08}-{}",
            meta.generation,
            std::process::id()
        ));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(Self {
            dir,
            read_from,
            tmp,
            meta,
            written: 0,
        })
    }

    /// The metadata that [`commit`](Self::commit) will write.
    pub fn meta(&self) -> &StateMeta {
        &self.meta
    }

    /// Makes the new generation current, recording `dates` as the dates folded in so far.
    ///
    /// # Errors
    /// [`Error::StateMismatch`] if not every window of the plan was stored; [`Error::Io`].
    pub fn commit(mut self, dates: Vec<String>) -> Result<SceneState> {
        let expected = self.meta.plan().len();
        if self.written != expected {
            return Err(Error::StateMismatch {
                path: self.tmp.clone(),
                problem: format!("{} of {expected} window states were written", self.written),
            });
        }
        self.meta.dates = dates;
        let dst = gen_dir(&self.dir, self.meta.generation);
        if dst.exists() {
            fs::remove_dir_all(&dst).map_err(|e| Error::io(&dst, e))?;
        }
        fs::rename(&self.tmp, &dst).map_err(|e| Error::io(&self.tmp, e))?;
        write_json_atomic(&self.dir.join(META_FILE), &self.meta)?;
        cleanup(&self.dir, Some(&dst));
        Ok(SceneState {
            dir: self.dir.clone(),
            meta: self.meta.clone(),
        })
    }

    /// Drops the update, leaving the current state untouched.
    pub fn abandon(self) {
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

/// The bytes of tensor `name` of the state file `path`, which must be `dtype` of shape `want`.
fn tensor_bytes<'a>(
    path: &Path,
    t: TensorView<'a>,
    name: &str,
    dtype: Dtype,
    want: &[usize],
) -> Result<&'a [u8]> {
    if t.dtype() != dtype || t.shape() != want {
        return Err(Error::StateMismatch {
            path: path.to_path_buf(),
            problem: format!(
                "tensor {name} is {:?} {:?}, expected {dtype:?} {want:?}",
                t.dtype(),
                t.shape()
            ),
        });
    }
    Ok(t.data())
}

impl WindowStates for StateUpdate {
    fn load(&self, window: &Window) -> Result<Option<StoredWindow>> {
        let Some(from) = &self.read_from else {
            return Ok(None);
        };
        let path = from.join(window_file(window));
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::StateMismatch {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        let proc = [
            self.meta.model.hidden_channels,
            window.proc_height,
            window.proc_width,
        ];
        let read = |name: &str| -> Result<Vec<f32>> {
            let t = st.tensor(name).map_err(|e| Error::StateMismatch {
                path: path.clone(),
                problem: e.to_string(),
            })?;
            Ok(tensor_bytes(&path, t, name, Dtype::F32, &proc)?
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        // "seen" (u8 [height, width]) was added after format 1's first release: absent in
        // older states, which then count every pixel as never seen (their old behaviour).
        let seen = match st.tensor("seen") {
            Err(_) => None,
            Ok(t) => Some(
                tensor_bytes(&path, t, "seen", Dtype::U8, &[window.height, window.width])?.to_vec(),
            ),
        };
        Ok(Some(StoredWindow {
            hidden: read("hidden")?,
            cell: read("cell")?,
            seen,
        }))
    }

    fn store(&mut self, window: &Window, hidden: &[f32], cell: &[f32], seen: &[u8]) -> Result<()> {
        let path = self.tmp.join(window_file(window));
        let shape = vec![
            self.meta.model.hidden_channels,
            window.proc_height,
            window.proc_width,
        ];
        let hb: Vec<u8> = hidden.iter().flat_map(|v| v.to_le_bytes()).collect();
        let cb: Vec<u8> = cell.iter().flat_map(|v| v.to_le_bytes()).collect();
        let bad = |e: safetensors::SafeTensorError| Error::StateMismatch {
            path: path.clone(),
            problem: e.to_string(),
        };
        let views = vec![
            (
                "cell",
                TensorView::new(Dtype::F32, shape.clone(), &cb).map_err(bad)?,
            ),
            (
                "hidden",
                TensorView::new(Dtype::F32, shape, &hb).map_err(bad)?,
            ),
            (
                "seen",
                TensorView::new(Dtype::U8, vec![window.height, window.width], seen).map_err(bad)?,
            ),
        ];
        let bytes = safetensors::serialize(views, None).map_err(bad)?;
        write_atomic(&path, &bytes)?;
        self.written += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> StateMeta {
        StateMeta {
            format: STATE_FORMAT,
            weights_hash: "abc".into(),
            model: SpatioTemporalNetConfig::tiny(4, 3),
            width: 20,
            height: 12,
            geotransform: None,
            epsg: None,
            window: 8,
            overlap: 2,
            multiple: 4,
            batch_windows: 2,
            dates: vec![],
            generation: 0,
        }
    }

    #[test]
    fn create_update_commit_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let m = meta();
        let plan = m.plan();
        let mut up = SceneState::create(dir.path(), m.clone()).expect("create");
        let n = 4 * 8 * 8;
        for w in plan.windows() {
            assert!(up.load(&w).expect("load").is_none());
            let v = (w.grid_row * 10 + w.grid_col) as f32;
            let seen: Vec<u8> = (0..w.height * w.width).map(|i| (i % 2) as u8).collect();
            up.store(&w, &vec![v; n], &vec![-v; n], &seen)
                .expect("store");
        }
        let st = up.commit(vec!["2016-01-01".into()]).expect("commit");
        assert_eq!(st.meta().generation, 1);
        let st = SceneState::open(dir.path()).expect("open");
        let mut up = st.begin_update().expect("begin");
        for w in plan.windows() {
            let got = up.load(&w).expect("load").expect("some");
            let (h, c) = (&got.hidden, &got.cell);
            let v = (w.grid_row * 10 + w.grid_col) as f32;
            assert!(h.iter().all(|x| *x == v) && c.iter().all(|x| *x == -v));
            let seen: Vec<u8> = (0..w.height * w.width).map(|i| (i % 2) as u8).collect();
            assert_eq!(got.seen.as_deref(), Some(&seen[..]));
            up.store(&w, h, c, &seen).expect("store");
        }
        let st2 = up
            .commit(vec!["2016-01-01".into(), "2016-02-01".into()])
            .expect("commit");
        assert_eq!(st2.meta().generation, 2);
        // Only the current generation is left.
        let gens: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("gen-") || n.starts_with(".tmp"))
            .collect();
        assert_eq!(gens, vec!["gen-00000002".to_string()]);
    }

    #[test]
    fn incomplete_update_is_refused_and_old_state_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let m = meta();
        let plan = m.plan();
        let mut up = SceneState::create(dir.path(), m).expect("create");
        let w = plan.window(0, 0);
        up.store(
            &w,
            &vec![0.0; 4 * 8 * 8],
            &vec![0.0; 4 * 8 * 8],
            &vec![0; w.height * w.width],
        )
        .expect("store");
        assert!(matches!(
            up.commit(vec![]),
            Err(Error::StateMismatch { .. })
        ));
        assert!(
            SceneState::open(dir.path()).is_err(),
            "nothing was committed"
        );
    }
}
