//! Segmentation metrics accumulated over a whole evaluation set.
//!
//! Everything is derived from one [`ConfusionMatrix`] that is filled pixel by pixel over every
//! patch, date or scene of the evaluation set, so the scores are *set-level* (not averages of
//! per-patch scores, which over-weight small or near-empty patches) and *macro*-averaged over
//! classes (mIoU is the mean of per-class IoUs, not the micro IoU that equals pixel accuracy).
//! Pixels whose label is [`IGNORE_LABEL`] (nodata, cloud, unlabelled) are skipped, and so are
//! predictions equal to it.

use serde::{Deserialize, Serialize};

/// Label value that losses and metrics skip (nodata, cloud, unlabelled pixels).
pub const IGNORE_LABEL: u8 = 255;

/// A `num_classes x num_classes` confusion matrix: `counts[truth][prediction]`.
///
/// Rows are the reference (label) classes, columns the predicted classes.
///
/// # Examples
/// ```
/// use chronomap_train::ConfusionMatrix;
/// let mut cm = ConfusionMatrix::new(2);
/// cm.update_u8(&[0, 0, 1, 1, 255], &[0, 1, 1, 1, 0]);
/// let m = cm.metrics();
/// assert_eq!(cm.total(), 4); // the 255 pixel is skipped
/// assert_eq!(m.overall_accuracy, Some(0.75));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    num_classes: usize,
    /// Row-major `[truth * num_classes + prediction]` counts.
    counts: Vec<u64>,
    /// Valid-label pixels whose prediction was out of range (>= `num_classes`, not 255).
    out_of_range: u64,
}

impl ConfusionMatrix {
    /// An empty matrix for `num_classes` classes.
    ///
    /// # Panics
    /// If `num_classes` is 0 or larger than 255 (class ids are stored as `u8`, 255 is the
    /// ignore label).
    pub fn new(num_classes: usize) -> Self {
        assert!(
            (1..=255).contains(&num_classes),
            "num_classes must be in 1..=255, got {num_classes}"
        );
        Self {
            num_classes,
            counts: vec![0; num_classes * num_classes],
            out_of_range: 0,
        }
    }

    /// Builds a matrix from row-major counts `counts[truth * num_classes + prediction]`.
    ///
    /// # Panics
    /// If `counts.len() != num_classes^2` or `num_classes` is not in `1..=255`.
    pub fn from_counts(num_classes: usize, counts: Vec<u64>) -> Self {
        let mut cm = Self::new(num_classes);
        assert_eq!(
            counts.len(),
            num_classes * num_classes,
            "expected {} counts for {num_classes} classes, got {}",
            num_classes * num_classes,
            counts.len()
        );
        cm.counts = counts;
        cm
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Count of pixels with reference class `truth` predicted as `prediction`.
    ///
    /// # Panics
    /// If either index is `>= num_classes`.
    pub fn get(&self, truth: usize, prediction: usize) -> u64 {
        assert!(
            truth < self.num_classes && prediction < self.num_classes,
            "class out of range"
        );
        self.counts[truth * self.num_classes + prediction]
    }

    /// Row-major counts `[truth * num_classes + prediction]`.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Rows of the matrix (`rows[truth][prediction]`), convenient for JSON.
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.num_classes)
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// Pixels counted (valid label and valid prediction).
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Valid-label pixels whose prediction was neither a class nor 255 (counted nowhere else).
    pub fn out_of_range(&self) -> u64 {
        self.out_of_range
    }

    /// Adds pixels given as `u8` labels and predictions (same length, same pixel order).
    ///
    /// Pixels whose label or prediction is [`IGNORE_LABEL`] are skipped; a label outside
    /// `0..num_classes` is skipped too (it is not a class the model knows); a prediction outside
    /// it is counted in [`out_of_range`](Self::out_of_range).
    ///
    /// # Panics
    /// If the slices have different lengths.
    pub fn update_u8(&mut self, labels: &[u8], predictions: &[u8]) {
        assert_eq!(
            labels.len(),
            predictions.len(),
            "labels ({}) and predictions ({}) differ in length",
            labels.len(),
            predictions.len()
        );
        let k = self.num_classes;
        for (&t, &p) in labels.iter().zip(predictions) {
            if t == IGNORE_LABEL || p == IGNORE_LABEL || t as usize >= k {
                continue;
            }
            if p as usize >= k {
                self.out_of_range += 1;
                continue;
            }
            self.counts[t as usize * k + p as usize] += 1;
        }
    }

    /// Adds pixels given as `i64` labels and predictions (as read back from Burn `Int`
    /// tensors); same rules as [`update_u8`](Self::update_u8), any negative value or a value
    /// `>= num_classes` in the labels is skipped.
    ///
    /// # Panics
    /// If the slices have different lengths.
    pub fn update_i64(&mut self, labels: &[i64], predictions: &[i64]) {
        assert_eq!(
            labels.len(),
            predictions.len(),
            "labels ({}) and predictions ({}) differ in length",
            labels.len(),
            predictions.len()
        );
        let k = self.num_classes as i64;
        for (&t, &p) in labels.iter().zip(predictions) {
            if t < 0 || t >= k || p == IGNORE_LABEL as i64 {
                continue;
            }
            if p < 0 || p >= k {
                self.out_of_range += 1;
                continue;
            }
            self.counts[(t * k + p) as usize] += 1;
        }
    }

    /// Adds another matrix's counts.
    ///
    /// # Panics
    /// If the class counts differ.
    pub fn merge(&mut self, other: &ConfusionMatrix) {
        assert_eq!(
            self.num_classes, other.num_classes,
            "cannot merge matrices of different sizes"
        );
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.out_of_range += other.out_of_range;
    }

    /// All scores derived from the matrix.
    ///
    /// Undefined values are `None` (JSON `null`) rather than 0 or NaN: the IoU/F1 of a class
    /// that appears neither in the labels nor in the predictions, and OA/kappa/mIoU of an empty
    /// matrix (every pixel ignored). mIoU and mean F1 average only the classes whose IoU is
    /// defined (present in labels or predictions).
    pub fn metrics(&self) -> SegmentationMetrics {
        let k = self.num_classes;
        let total = self.total();
        let row = |i: usize| -> u64 { self.counts[i * k..(i + 1) * k].iter().sum() };
        let col = |j: usize| -> u64 { (0..k).map(|i| self.counts[i * k + j]).sum() };
        let mut per_class = Vec::with_capacity(k);
        let mut trace = 0u64;
        for c in 0..k {
            let tp = self.counts[c * k + c];
            trace += tp;
            let support = row(c);
            let predicted = col(c);
            let fp = predicted - tp;
            let fn_ = support - tp;
            let union = tp + fp + fn_;
            per_class.push(ClassMetrics {
                class: c,
                support,
                predicted,
                iou: ratio(tp, union),
                f1: ratio(2 * tp, 2 * tp + fp + fn_),
                precision: ratio(tp, predicted),
                recall: ratio(tp, support),
            });
        }
        let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let miou = mean(per_class.iter().filter_map(|c| c.iou).collect());
        let mean_f1 = mean(per_class.iter().filter_map(|c| c.f1).collect());
        let (overall_accuracy, kappa) = if total == 0 {
            (None, None)
        } else {
            let n = total as f64;
            let po = trace as f64 / n;
            let pe: f64 = (0..k)
                .map(|c| (row(c) as f64 / n) * (col(c) as f64 / n))
                .sum();
            // Kappa is 0/0 when both maps are a single, identical class: undefined.
            let kappa = if (1.0 - pe).abs() < 1e-15 {
                None
            } else {
                Some((po - pe) / (1.0 - pe))
            };
            (Some(po), kappa)
        };
        SegmentationMetrics {
            num_pixels: total,
            overall_accuracy,
            kappa,
            miou,
            mean_f1,
            per_class,
            confusion: self.rows(),
        }
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Scores of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class id.
    pub class: usize,
    /// Reference pixels of this class (row sum).
    pub support: u64,
    /// Pixels predicted as this class (column sum).
    pub predicted: u64,
    /// Intersection over union `tp / (tp + fp + fn)`; `None` if the class is absent from both.
    pub iou: Option<f64>,
    /// F1 score `2 tp / (2 tp + fp + fn)`; `None` if the class is absent from both.
    pub f1: Option<f64>,
    /// Precision (user's accuracy) `tp / (tp + fp)`; `None` if never predicted.
    pub precision: Option<f64>,
    /// Recall (producer's accuracy) `tp / (tp + fn)`; `None` if absent from the labels.
    pub recall: Option<f64>,
}

/// Scores of a whole evaluation set, from [`ConfusionMatrix::metrics`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentationMetrics {
    /// Pixels counted (valid labels and predictions).
    pub num_pixels: u64,
    /// Overall (pixel) accuracy; `None` if no pixel was counted.
    pub overall_accuracy: Option<f64>,
    /// Cohen's kappa `(po - pe) / (1 - pe)`; `None` if no pixel was counted or `pe == 1`.
    pub kappa: Option<f64>,
    /// Macro mean IoU over classes present in labels or predictions; `None` if none is.
    pub miou: Option<f64>,
    /// Macro mean F1 over the same classes as `miou`.
    pub mean_f1: Option<f64>,
    /// Per-class scores, indexed by class id.
    pub per_class: Vec<ClassMetrics>,
    /// The confusion matrix, `confusion[truth][prediction]`.
    pub confusion: Vec<Vec<u64>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("value expected");
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    /// Hand-computed 3-class example.
    ///
    /// truth\pred  0  1  2
    ///        0   [5, 1, 0]   row 6
    ///        1   [2, 3, 1]   row 6
    ///        2   [0, 0, 4]   row 4
    /// cols        7  4  5    n = 16, trace = 12
    /// IoU0 = 5/(7+6-5) = 5/8, IoU1 = 3/(4+6-3) = 3/7, IoU2 = 4/(5+4-4) = 4/5
    /// OA = 12/16 = 0.75; pe = (6*7 + 6*4 + 4*5)/256 = 86/256
    /// kappa = (0.75 - 86/256) / (1 - 86/256) = (192-86)/(256-86) = 106/170
    #[test]
    fn three_class_hand_computed() {
        let mut labels = Vec::new();
        let mut preds = Vec::new();
        let cells = [[5u64, 1, 0], [2, 3, 1], [0, 0, 4]];
        for (t, row) in cells.iter().enumerate() {
            for (p, &n) in row.iter().enumerate() {
                for _ in 0..n {
                    labels.push(t as u8);
                    preds.push(p as u8);
                }
            }
        }
        // Ignored pixels, whatever the prediction, change nothing.
        labels.extend([255, 255, 255]);
        preds.extend([0, 1, 2]);
        let mut cm = ConfusionMatrix::new(3);
        cm.update_u8(&labels, &preds);
        assert_eq!(cm.rows(), vec![vec![5, 1, 0], vec![2, 3, 1], vec![0, 0, 4]]);
        let m = cm.metrics();
        assert_eq!(m.num_pixels, 16);
        close(m.per_class[0].iou, 5.0 / 8.0);
        close(m.per_class[1].iou, 3.0 / 7.0);
        close(m.per_class[2].iou, 4.0 / 5.0);
        close(m.miou, (5.0 / 8.0 + 3.0 / 7.0 + 4.0 / 5.0) / 3.0);
        // F1_c = 2tp / (row + col)
        close(m.per_class[0].f1, 10.0 / 13.0);
        close(m.per_class[1].f1, 6.0 / 10.0);
        close(m.per_class[2].f1, 8.0 / 9.0);
        close(m.overall_accuracy, 0.75);
        close(m.kappa, 106.0 / 170.0);
        close(m.per_class[1].precision, 3.0 / 4.0);
        close(m.per_class[1].recall, 3.0 / 6.0);
    }

    /// Two classes, 2x2 textbook kappa: [[20, 5], [10, 15]], n = 50.
    /// po = 35/50 = 0.7; pe = (25*30 + 25*20)/2500 = 0.5; kappa = 0.2/0.5 = 0.4.
    #[test]
    fn textbook_kappa() {
        let cm = ConfusionMatrix::from_counts(2, vec![20, 5, 10, 15]);
        let m = cm.metrics();
        close(m.overall_accuracy, 0.7);
        close(m.kappa, 0.4);
    }

    #[test]
    fn all_ignored_gives_undefined_scores() {
        let mut cm = ConfusionMatrix::new(4);
        cm.update_u8(&[255; 10], &[1; 10]);
        cm.update_i64(&[255, 255], &[0, 3]);
        let m = cm.metrics();
        assert_eq!(m.num_pixels, 0);
        assert_eq!(m.overall_accuracy, None);
        assert_eq!(m.kappa, None);
        assert_eq!(m.miou, None);
        assert!(
            m.per_class
                .iter()
                .all(|c| c.iou.is_none() && c.f1.is_none())
        );
        // And it serializes to JSON nulls, not NaN (which JSON cannot carry).
        let json = serde_json::to_string(&m).expect("json");
        assert!(json.contains("\"kappa\":null"), "{json}");
    }

    #[test]
    fn absent_class_is_excluded_from_miou() {
        // Class 2 never occurs: mIoU averages classes 0 and 1 only.
        let cm = ConfusionMatrix::from_counts(3, vec![3, 1, 0, 0, 4, 0, 0, 0, 0]);
        let m = cm.metrics();
        assert_eq!(m.per_class[2].iou, None);
        close(m.miou, (3.0 / 4.0 + 4.0 / 5.0) / 2.0);
    }

    #[test]
    fn single_class_perfect_kappa_undefined() {
        let cm = ConfusionMatrix::from_counts(2, vec![10, 0, 0, 0]);
        let m = cm.metrics();
        close(m.overall_accuracy, 1.0);
        assert_eq!(m.kappa, None);
    }

    #[test]
    fn merge_and_i64_match_u8() {
        let labels = [0u8, 1, 2, 2, 1, 255];
        let preds = [0u8, 2, 2, 1, 1, 0];
        let mut a = ConfusionMatrix::new(3);
        a.update_u8(&labels[..3], &preds[..3]);
        let mut b = ConfusionMatrix::new(3);
        b.update_i64(
            &labels[3..].iter().map(|&v| v as i64).collect::<Vec<_>>(),
            &preds[3..].iter().map(|&v| v as i64).collect::<Vec<_>>(),
        );
        a.merge(&b);
        let mut whole = ConfusionMatrix::new(3);
        whole.update_u8(&labels, &preds);
        assert_eq!(a, whole);
    }

    #[test]
    fn out_of_range_prediction_is_reported() {
        let mut cm = ConfusionMatrix::new(2);
        cm.update_u8(&[0, 1], &[7, 1]);
        assert_eq!(cm.total(), 1);
        assert_eq!(cm.out_of_range(), 1);
    }
}
