//! Learning-rate schedules, stepped once per optimizer iteration.
//!
//! A schedule is a pure function of the iteration index, so resuming a run only needs the
//! iteration counter stored in the checkpoint (no scheduler state to serialize).

use serde::{Deserialize, Serialize};

/// How the learning rate evolves over the iterations of one training stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The base learning rate throughout.
    Constant,
    /// Linear warm-up from `base / warmup_iters` over `warmup_iters` iterations, then cosine
    /// annealing down to `base * min_factor` at the last iteration.
    Cosine {
        /// Warm-up iterations (0: none).
        warmup_iters: usize,
        /// Final learning rate as a fraction of the base one.
        min_factor: f64,
    },
    /// Multiply by `gamma` every `step_iters` iterations.
    Step {
        /// Iterations between decays.
        step_iters: usize,
        /// Decay factor.
        gamma: f64,
    },
}

impl Default for LrSchedule {
    fn default() -> Self {
        LrSchedule::Cosine {
            warmup_iters: 20,
            min_factor: 0.05,
        }
    }
}

impl LrSchedule {
    /// Learning rate at iteration `iter` (0-based) of `total_iters`, for base rate `base`.
    ///
    /// # Examples
    /// ```
    /// use chronomap_train::LrSchedule;
    /// let s = LrSchedule::Cosine { warmup_iters: 10, min_factor: 0.1 };
    /// assert!((s.lr(1e-3, 9, 100) - 1e-3).abs() < 1e-12);   // end of warm-up
    /// assert!((s.lr(1e-3, 99, 100) - 1e-4).abs() < 1e-12);  // last iteration
    /// ```
    pub fn lr(&self, base: f64, iter: usize, total_iters: usize) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Cosine {
                warmup_iters,
                min_factor,
            } => {
                // Warm-up never takes more than half the stage.
                let warm = warmup_iters.min(total_iters / 2);
                if iter < warm {
                    return base * (iter + 1) as f64 / warm as f64;
                }
                let span = total_iters.saturating_sub(warm + 1);
                if span == 0 {
                    return base;
                }
                let t = ((iter - warm) as f64 / span as f64).min(1.0);
                let min = base * min_factor;
                min + 0.5 * (base - min) * (1.0 + (std::f64::consts::PI * t).cos())
            }
            LrSchedule::Step { step_iters, gamma } => {
                base * gamma.powi((iter / step_iters.max(1)) as i32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_is_monotone_after_warmup() {
        let s = LrSchedule::Cosine {
            warmup_iters: 5,
            min_factor: 0.0,
        };
        let lrs: Vec<f64> = (0..50).map(|i| s.lr(1.0, i, 50)).collect();
        assert!((lrs[0] - 0.2).abs() < 1e-12);
        assert!((lrs[4] - 1.0).abs() < 1e-12);
        for w in lrs[4..].windows(2) {
            assert!(w[1] <= w[0] + 1e-12);
        }
        assert!(lrs[49].abs() < 1e-12);
    }

    #[test]
    fn step_decays() {
        let s = LrSchedule::Step {
            step_iters: 10,
            gamma: 0.5,
        };
        assert_eq!(s.lr(1.0, 9, 100), 1.0);
        assert_eq!(s.lr(1.0, 10, 100), 0.5);
        assert_eq!(s.lr(1.0, 25, 100), 0.25);
    }

    #[test]
    fn tiny_stages_do_not_divide_by_zero() {
        let s = LrSchedule::default();
        for total in 1..4 {
            for i in 0..total {
                assert!(s.lr(1e-3, i, total).is_finite());
            }
        }
    }
}
