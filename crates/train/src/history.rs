//! Per-epoch metrics of a training run, written as CSV, JSON and a learning-curve PNG
//! (`curves.png`, drawn with `plotters`).

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::{write_atomic, write_json_atomic};
use crate::error::Result;
use crate::plot::{Canvas, LineChart, PALETTE, Series};

/// Metrics of one finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number over the whole run, from 1.
    pub epoch: usize,
    /// Training stage (`unet`, `temporal`, `joint`).
    pub stage: String,
    /// Epoch number within the stage, from 1.
    pub stage_epoch: usize,
    /// Optimizer iterations done so far over the whole run.
    pub iterations: usize,
    /// Learning rate of the last iteration of the epoch.
    pub lr: f64,
    /// Mean training loss over the epoch's batches (the stage's loss).
    pub train_loss: f64,
    /// Validation loss (fused + aux terms as in the joint stage), if validated.
    pub val_loss: Option<f64>,
    /// Validation mIoU of the per-date (U-Net) maps over all dates.
    pub val_miou_date: Option<f64>,
    /// Validation mIoU of the fused (ConvLSTM) maps over all dates.
    pub val_miou_fused: Option<f64>,
    /// Validation overall accuracy of the per-date maps.
    pub val_oa_date: Option<f64>,
    /// Validation overall accuracy of the fused maps.
    pub val_oa_fused: Option<f64>,
    /// Validation Cohen's kappa of the fused maps.
    pub val_kappa_fused: Option<f64>,
    /// Wall-clock seconds of the epoch (training + validation).
    pub seconds: f64,
}

/// The records of a run, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One record per finished epoch.
    pub epochs: Vec<EpochRecord>,
}

const CSV_HEADER: &str = "epoch,stage,stage_epoch,iterations,lr,train_loss,val_loss,val_miou_date,\
val_miou_fused,val_oa_date,val_oa_fused,val_kappa_fused,seconds";

impl History {
    /// The records as CSV (header line, then one line per epoch; undefined values empty).
    pub fn to_csv(&self) -> String {
        let mut s = String::from(CSV_HEADER);
        s.push('\n');
        let o = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        for r in &self.epochs {
            let _ = writeln!(
                s,
                "{},{},{},{},{:.3e},{:.6},{},{},{},{},{},{},{:.1}",
                r.epoch,
                r.stage,
                r.stage_epoch,
                r.iterations,
                r.lr,
                r.train_loss,
                o(r.val_loss),
                o(r.val_miou_date),
                o(r.val_miou_fused),
                o(r.val_oa_date),
                o(r.val_oa_fused),
                o(r.val_kappa_fused),
                r.seconds
            );
        }
        s
    }

    /// Draws the learning curves (1000 x 420 px): training and validation loss on the left,
    /// validation mIoU/OA (per-date and fused) on the right, against the epoch, with round
    /// axis ticks, a legend, and the boundaries of the training stages (U-Net, then the
    /// ConvLSTM on frozen Pmaps, then joint fine-tuning) as labelled dashed lines.
    ///
    /// Drawn with `plotters` and the font bundled with the crate; should that ever fail, the
    /// curves are drawn with the crate's own bitmap-font [`LineChart`] instead.
    pub fn render(&self) -> Canvas {
        crate::chart::curves(&self.epochs).unwrap_or_else(|_| self.render_plain())
    }

    /// The learning curves drawn with [`LineChart`] (no stage lines; the fallback of
    /// [`render`](Self::render)).
    fn render_plain(&self) -> Canvas {
        let (w, h) = (960, 420);
        let mut c = Canvas::new(w, h, [255; 3]);
        let pts = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            self.epochs
                .iter()
                .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
                .collect()
        };
        let loss = LineChart {
            title: "loss".into(),
            x_label: "epoch".into(),
            series: vec![
                Series {
                    name: "train".into(),
                    color: PALETTE[0],
                    points: pts(&|r| Some(r.train_loss)),
                },
                Series {
                    name: "validation".into(),
                    color: PALETTE[1],
                    points: pts(&|r| r.val_loss),
                },
            ],
        };
        let score = LineChart {
            title: "validation scores".into(),
            x_label: "epoch".into(),
            series: vec![
                Series {
                    name: "miou per-date".into(),
                    color: PALETTE[0],
                    points: pts(&|r| r.val_miou_date),
                },
                Series {
                    name: "miou fused".into(),
                    color: PALETTE[1],
                    points: pts(&|r| r.val_miou_fused),
                },
                Series {
                    name: "oa per-date".into(),
                    color: PALETTE[2],
                    points: pts(&|r| r.val_oa_date),
                },
                Series {
                    name: "oa fused".into(),
                    color: PALETTE[3],
                    points: pts(&|r| r.val_oa_fused),
                },
            ],
        };
        let half = w as i64 / 2;
        loss.draw(&mut c, 0, 0, half, h as i64);
        score.draw(&mut c, half, 0, half, h as i64);
        c
    }

    /// Writes `metrics.csv`, `metrics.json` and `curves.png` into `dir`, each atomically.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) / [`Error::Json`](crate::Error::Json) naming the file.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join("metrics.csv"), self.to_csv().as_bytes())?;
        write_json_atomic(&dir.join("metrics.json"), self)?;
        self.render().write_png(&dir.join("curves.png"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize, loss: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            stage: "joint".into(),
            stage_epoch: epoch,
            iterations: epoch * 10,
            lr: 1e-3,
            train_loss: loss,
            val_loss: Some(loss * 1.1),
            val_miou_date: Some(0.3),
            val_miou_fused: None,
            val_oa_date: Some(0.5),
            val_oa_fused: Some(0.6),
            val_kappa_fused: Some(0.4),
            seconds: 1.0,
        }
    }

    #[test]
    fn csv_has_one_line_per_epoch_and_empty_undefined() {
        let h = History {
            epochs: vec![rec(1, 1.0), rec(2, 0.5)],
        };
        let csv = h.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
        assert!(
            lines[1].contains(",,"),
            "undefined fused mIoU is empty: {}",
            lines[1]
        );
        let dir = tempfile::tempdir().expect("tmp");
        h.write(dir.path()).expect("write");
        let back: History = crate::atomic::read_json(&dir.path().join("metrics.json")).unwrap();
        assert_eq!(back, h);
        assert!(dir.path().join("curves.png").exists());
    }

    /// Columns of the curves picture with a long dashed stage line (grey `110` pixels).
    fn stage_line_columns(h: &History) -> usize {
        let c = h.render();
        assert_eq!((c.width(), c.height()), (1000, 420));
        (0..c.width())
            .filter(|&x| {
                (0..c.height())
                    .filter(|&y| c.get(x, y) == Some([110, 110, 110]))
                    .count()
                    > 100
            })
            .count()
    }

    #[test]
    fn stage_boundaries_are_dashed_lines() {
        let mut staged = History::default();
        for (i, stage) in ["unet", "unet", "temporal", "temporal", "joint"]
            .iter()
            .enumerate()
        {
            let mut r = rec(i + 1, 1.0 / (i + 1) as f64);
            r.stage = stage.to_string();
            staged.epochs.push(r);
        }
        // Two boundaries (unet | temporal | joint), drawn on both panels.
        assert_eq!(stage_line_columns(&staged), 4);
        let one_stage = History {
            epochs: vec![rec(1, 1.0), rec(2, 0.5)],
        };
        assert_eq!(stage_line_columns(&one_stage), 0);
        // Curves are drawn in the palette's colours.
        let c = staged.render();
        let blue = c.pixels().chunks(3).filter(|p| *p == PALETTE[0]).count();
        assert!(blue > 200, "curve pixels: {blue}");
    }
}
