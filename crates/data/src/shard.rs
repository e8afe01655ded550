//! Splitting a list of scenes among the tasks of an array job (Slurm job arrays, Kubernetes
//! Indexed Jobs, AWS Batch array jobs).
//!
//! # The assignment
//! Scenes are sorted by name (byte order); the scene at sorted position `j` belongs to shard
//! `j mod count`. Every scene belongs to exactly one shard, shard sizes differ by at most
//! one, and the assignment depends only on the set of names and the count (not on the order
//! in which a collection lists them, nor on the machine). Adding scenes can move others to
//! another shard: outputs are idempotent (see `chronomap predict`), so re-running every shard
//! after such a change only computes what is missing.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// One shard of an array job: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This task's shard, `0..count`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Default for Shard {
    /// The whole list (shard 0 of 1).
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// Parses `I/N` (`0 <= I < N`).
    fn from_str(s: &str) -> Result<Self> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| Error::invalid_text("shard", s, "I/N, e.g. 0/4"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| Error::invalid_text("shard", s, "I/N with I a whole number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| Error::invalid_text("shard", s, "I/N with N a whole number"))?;
        Self::new(index, count)
    }
}

/// Environment variables that name a task's index in an array job, in the order
/// [`Shard::from_env`] reads them, with the variable holding the count where the scheduler
/// sets one.
pub const SHARD_ENV: [(&str, Option<&str>); 3] = [
    ("SLURM_ARRAY_TASK_ID", Some("SLURM_ARRAY_TASK_COUNT")),
    ("JOB_COMPLETION_INDEX", None),
    (
        "AWS_BATCH_JOB_ARRAY_INDEX",
        Some("AWS_BATCH_JOB_ARRAY_SIZE"),
    ),
];

impl Shard {
    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `count` is 0 or `index >= count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 {
            return Err(Error::invalid("shard count", 0.0, "at least 1"));
        }
        if index >= count {
            return Err(Error::invalid(
                "shard index",
                index as f64,
                "0 <= index < count",
            ));
        }
        Ok(Self { index, count })
    }

    /// The shard of this task from its scheduler's environment, through `get` (e.g.
    /// `|k| std::env::var(k).ok()`): `SLURM_ARRAY_TASK_ID` (minus `SLURM_ARRAY_TASK_MIN`, so
    /// arrays `--array=1-8` work) with `SLURM_ARRAY_TASK_COUNT`; `JOB_COMPLETION_INDEX`
    /// (Kubernetes Indexed Job, which sets no count); `AWS_BATCH_JOB_ARRAY_INDEX` with
    /// `AWS_BATCH_JOB_ARRAY_SIZE` when set. `count` replaces the scheduler's count (or gives the
    /// missing one: Kubernetes' `completions`). `None` when no variable is set.
    ///
    /// # Errors
    /// [`Error::InvalidText`] when a variable is not a whole number or no count is known (a
    /// Kubernetes index without `count`); [`Error::InvalidArgument`] when the index is out of
    /// range.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        count: Option<usize>,
    ) -> Result<Option<Self>> {
        let num = |name: &'static str, v: String| -> Result<usize> {
            v.trim()
                .parse()
                .map_err(|_| Error::invalid_text(name, &v, "a whole number"))
        };
        for (var, count_var) in SHARD_ENV {
            let Some(v) = get(var) else { continue };
            let mut index = num(var, v)?;
            if var == "SLURM_ARRAY_TASK_ID"
                && let Some(min) = get("SLURM_ARRAY_TASK_MIN")
            {
                let min = num("SLURM_ARRAY_TASK_MIN", min)?;
                index = index.checked_sub(min).ok_or_else(|| {
                    Error::invalid(
                        "SLURM_ARRAY_TASK_ID",
                        index as f64,
                        ">= SLURM_ARRAY_TASK_MIN",
                    )
                })?;
            }
            let env_count = count_var
                .and_then(|cv| get(cv).map(|c| num(cv, c)))
                .transpose()?;
            let Some(n) = count.or(env_count) else {
                return Err(Error::invalid_text(
                    var,
                    &index.to_string(),
                    "a shard count too (--shards N): this scheduler does not set one",
                ));
            };
            return Self::new(index, n).map(Some);
        }
        Ok(None)
    }

    /// Positions (into `names`) of the scenes of this shard, in sorted-name order.
    pub fn select<S: AsRef<str>>(&self, names: &[S]) -> Vec<usize> {
        // `str` orders by bytes; the stable sort keeps equal names in input order.
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by_key(|&i| names[i].as_ref());
        order
            .into_iter()
            .enumerate()
            .filter(|(j, _)| j % self.count == self.index)
            .map(|(_, i)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: sorted names are a, b, c, d, e -> shard 0 of 2 takes a, c, e (positions 0, 2,
    /// 4 of the sorted list), shard 1 takes b, d; the input order does not matter.
    #[test]
    fn scenes_go_round_robin_over_sorted_names() {
        let names = ["d", "a", "e", "c", "b"];
        let pick = |i, n| -> Vec<&str> {
            Shard::new(i, n)
                .unwrap()
                .select(&names)
                .into_iter()
                .map(|j| names[j])
                .collect()
        };
        assert_eq!(pick(0, 2), ["a", "c", "e"]);
        assert_eq!(pick(1, 2), ["b", "d"]);
        assert_eq!(pick(0, 1), ["a", "b", "c", "d", "e"]);
        assert_eq!(pick(3, 4), ["d"]);
        let mut all: Vec<usize> = (0..4)
            .flat_map(|i| Shard::new(i, 4).unwrap().select(&names))
            .collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "2/5".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 5 }
        );
        for bad in ["5/5", "1/0", "x/3", "3", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_the_schedulers_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(
            Shard::from_env(slurm, None).unwrap(),
            Some(Shard { index: 4, count: 8 })
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert!(Shard::from_env(k8s, None).is_err(), "no count");
        assert_eq!(
            Shard::from_env(k8s, Some(3)).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        let aws = env(&[
            ("AWS_BATCH_JOB_ARRAY_INDEX", "9"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "4"),
        ]);
        assert!(Shard::from_env(aws, None).is_err(), "index out of range");
        assert_eq!(Shard::from_env(env(&[]), Some(3)).unwrap(), None);
    }
}
